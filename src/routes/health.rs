//! Liveness and readiness probes; public, outside the auth layer.

use crate::json::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// `GET /healthz`: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process serves", body = crate::openapi::Health)))]
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the verifier has keys and the server can authenticate requests.
/// With JWKS on, not ready until the first successful fetch (or once stale beyond
/// the limit). With a database, not ready while it does not answer (the pool
/// reconnects by itself). The body shows counts, ages and errors, never key
/// material or connection strings.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready: keys loaded, and the database (when configured) answers", body = crate::openapi::Readiness),
        (status = 503, description = "Not ready; the body says what is missing", body = crate::openapi::Readiness)))]
pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let verifier = &state.verifier;
    let jwks = verifier.jwks().map(|j| j.status());
    let database = match &state.db {
        None => None,
        Some(db) => Some((db.ping().await, db.status())),
    };
    let ready =
        jwks.as_ref().is_none_or(|s| s.ready) && database.as_ref().is_none_or(|(ping, _)| ping.is_ok());
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "key_sources": verifier.key_sources(),
        "jwks": jwks,
        // The error is a fixed phrase ("database TLS handshake failed", say).
        "database": database.map(|(ping, pool)| match ping {
            Ok(()) => json!({ "reachable": true, "pool": pool }),
            Err(e) => json!({ "reachable": false, "error": e.to_string(), "pool": pool }),
        }),
    });
    (status, Json(body))
}
