//! The route table: public probes, protected `/api` routes, one optional-login route.

mod health;
mod me;

use axum::Router;
use axum::routing::get;

use crate::auth::AuthLayer;
use crate::state::AppState;

pub use me::Me;

/// All routes. Auth sits on the `/api` routes through `route_layer`, so unknown
/// paths stay 404 and a wrong method stays 405 without touching the token.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/api/me", get(me::me))
        .route("/api/admin", get(me::admin))
        .route_layer(AuthLayer::required(state.verifier.clone()));
    let optional = Router::new()
        .route("/api/greeting", get(me::greeting))
        .route_layer(AuthLayer::optional(state.verifier.clone()));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(protected)
        .merge(optional)
        .with_state(state)
}
