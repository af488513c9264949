//! Liveness and readiness probes; public, outside the auth layer.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::state::AppState;

/// `GET /healthz`: the process is up and serving.
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the verifier has keys and the server can authenticate requests.
pub(super) async fn readyz(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "status": "ready", "key_sources": state.verifier.key_sources() }))
}
