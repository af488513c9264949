//! The no-auth twin of `/api/me`, shared by the bench and the load server: the
//! same response type and size, built and serialized the same way, without the
//! auth layer. Bench-only; never mounted by the production router.

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_supabase::{Aal, Role};
use axum_supabase_auth::json::Json;
use axum_supabase_auth::routes::Me;
use uuid::Uuid;

/// The twin's one route. `with_state(())` turns its handler into a route now,
/// as `routes::router` does for `/api/me`. `serve` would do it too, but the
/// bench calls the router directly, where axum would otherwise rebuild the
/// handler and its layers on every request: work `/api/me` does not do.
pub(crate) fn router() -> Router {
    Router::new().route("/noauth", get(noauth)).with_state(())
}

/// `GET /noauth`: what `/api/me` answers, minus authentication.
async fn noauth() -> Response {
    let (role, aal) = (Role::Authenticated, Aal::Aal1);
    Json(Me {
        sub: Uuid::from_u128(0x8d6f1f5e_3b2a_4c2e_9d35_5f0f2f7b9a11),
        email: Some("ada@example.com"),
        role: &role,
        phone: None,
        aal: Some(&aal),
        is_anonymous: false,
        session_id: Some("4b293eb1-fb6d-4dc8-8fc9-2ff68cd7c609"),
        expires_at: 1_795_694_774,
    })
    .into_response()
}
