//! The route table: public probes, protected `/api` routes, one optional-login route.

mod health;
mod me;
mod service;
mod todos;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub use me::{Me, Moderator};
pub use todos::{NewTodo, TodoError, TodoPatch};

/// All routes. Auth sits on the `/api` routes through `route_layer`, so unknown
/// paths stay 404 and a wrong method stays 405 without touching the token.
/// `with_metrics` adds the public `/metrics` (when no separate metrics listener is set).
pub fn router(state: AppState, with_metrics: bool) -> Router {
    let protected = Router::new()
        .route("/api/me", get(me::me))
        .route("/api/admin", get(me::admin))
        .route("/api/moderation", get(me::moderation))
        .route("/api/account", get(me::account))
        .route("/api/sensitive", get(me::sensitive))
        .route_layer(state.layer());
    let optional = Router::new()
        .route("/api/greeting", get(me::greeting))
        .route_layer(state.optional_layer());
    // Reads are optional-login (anonymous runs as `anon`); writes need a token.
    let todo_reads = Router::new()
        .route("/api/todos", get(todos::list))
        .route("/api/todos/{id}", get(todos::get))
        .route_layer(state.optional_layer());
    let todo_writes = Router::new()
        .route("/api/todos", axum::routing::post(todos::create))
        .route(
            "/api/todos/{id}",
            axum::routing::patch(todos::update).delete(todos::delete),
        )
        .route_layer(state.layer());
    // Server-to-server callers send a secret key and no user token: the optional layer.
    let service_routes = Router::new()
        .route("/api/service/whoami", get(service::whoami))
        .route("/api/service/todos/stats", get(service::todo_stats))
        .route_layer(state.optional_layer());
    let mut todo_routes = todo_reads.merge(todo_writes).merge(service_routes);
    if let Some(db) = &state.db {
        todo_routes = todo_routes.layer(db.layer());
    }
    let mut protected = protected;
    if let Some(sessions) = &state.sessions {
        // Cookie mode: sign-out clears the session cookies (and the CSRF rule applies).
        protected = protected.merge(
            Router::new()
                .route("/api/auth/signout", sessions.sign_out_route())
                .route_layer(state.layer()),
        );
    }
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(protected)
        .merge(optional)
        .merge(todo_routes);
    if with_metrics {
        router = router.route("/metrics", get(crate::metrics::render));
    }
    router.with_state(state)
}

/// The metrics-only router for a separate, internal listener (`METRICS_BIND_ADDR`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(crate::metrics::render))
        .with_state(state)
}
