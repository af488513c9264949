//! The route table: public probes, protected `/api` routes, one optional-login route.

mod health;
mod me;
mod service;
mod todos;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub use me::{Me, Moderator};
pub use todos::{NewTodo, Todo, TodoError, TodoPatch};

/// All routes, each mounted from its own `#[utoipa::path]` annotation
/// (`routes!`), so that the OpenAPI document (`crate::openapi`) describes
/// exactly what is served. Auth sits on the `/api` routes through
/// `route_layer`, so unknown paths stay 404 and a wrong method stays 405
/// without touching the token. `with_metrics` adds the public `/metrics`
/// (when no separate metrics listener is set).
pub fn router(state: AppState, with_metrics: bool) -> Router {
    let (router, document) = documented(&state, with_metrics).split_for_parts();
    let cookie = state.sessions.as_ref().map(|s| s.cookie_name());
    let _ = state.openapi.set(crate::openapi::document(document, cookie));
    router.with_state(state)
}

/// The routes, with their documentation, before the state is given.
fn documented(state: &AppState, with_metrics: bool) -> OpenApiRouter<AppState> {
    let mut protected = OpenApiRouter::new()
        .routes(routes!(me::me))
        .routes(routes!(me::admin))
        .routes(routes!(me::moderation))
        .routes(routes!(me::account))
        .routes(routes!(me::sensitive));
    if state.sessions.is_some() {
        // Cookie mode: sign-out clears the session cookies (and the CSRF rule applies).
        protected = protected.routes(routes!(sign_out));
    }
    let protected = protected.route_layer(state.layer());
    let optional = OpenApiRouter::new()
        .routes(routes!(me::greeting))
        .route_layer(state.optional_layer());
    // Reads are optional-login (anonymous runs as `anon`); writes need a token.
    let todo_reads = OpenApiRouter::new()
        .routes(routes!(todos::list))
        .routes(routes!(todos::get))
        .route_layer(state.optional_layer());
    let todo_writes = OpenApiRouter::new()
        .routes(routes!(todos::create))
        .routes(routes!(todos::update))
        .routes(routes!(todos::delete))
        .route_layer(state.layer());
    // Server-to-server callers send a secret key and no user token: the optional layer.
    let service_routes = OpenApiRouter::new()
        .routes(routes!(service::whoami))
        .routes(routes!(service::todo_stats))
        .route_layer(state.optional_layer());
    let mut data_routes = todo_reads.merge(todo_writes).merge(service_routes);
    if let Some(db) = &state.db {
        data_routes = data_routes.layer(db.layer());
    }
    let mut router = OpenApiRouter::with_openapi(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(crate::openapi::serve))
        .merge(protected)
        .merge(optional)
        .merge(data_routes);
    if with_metrics {
        router = router.routes(routes!(crate::metrics::render));
    }
    router
}

/// The `scope` of a sign-out, as GoTrue's logout takes it.
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code, reason = "documentation only: the library reads the query")]
enum SignOutScope {
    Local,
    Global,
    Others,
}

/// `POST /api/auth/signout`: GoTrue's logout with the caller's token, then
/// 204 and the session cookies cleared (cookie sessions only).
#[utoipa::path(post, path = "/api/auth/signout", tag = "sessions",
    params(("scope" = inline(Option<SignOutScope>), Query, description = "Which sessions end: this one (local, the default), all the user's (global), or all but this one (others)")),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 204, description = "Signed out; the session cookies are cleared"),
        (status = 400, description = "scope is not local, global or others", body = axum_supabase::ErrorBody)))]
async fn sign_out(State(state): State<AppState>, request: Request) -> Response {
    // Mounted only when cookie sessions are on.
    match &state.sessions {
        Some(sessions) => sessions.sign_out(request).await,
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// The metrics-only router for a separate, internal listener (`METRICS_BIND_ADDR`).
pub fn metrics_router(state: AppState) -> Router {
    let (router, _) = OpenApiRouter::new()
        .routes(routes!(crate::metrics::render))
        .split_for_parts();
    router.with_state(state)
}
