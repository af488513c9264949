//! `/api/*`: the example routes, one per way of taking the caller.

use axum::Json;
use serde::Serialize;
use uuid::Uuid;

use crate::auth::{Aal, Admin, AuthUser, RequireRole, Role};

/// The caller's identity, as `/api/me` returns it.
#[derive(Debug, Serialize)]
pub struct Me {
    /// Supabase user id.
    pub sub: Uuid,
    /// Email, if any.
    pub email: Option<String>,
    /// Postgres role.
    pub role: Role,
    /// Phone, if any.
    pub phone: Option<String>,
    /// Assurance level.
    pub aal: Option<Aal>,
    /// Whether the user signed in anonymously.
    pub is_anonymous: bool,
    /// Session id.
    pub session_id: Option<String>,
    /// When the token expires, seconds since the epoch.
    pub expires_at: i64,
}

/// `GET /api/me`: who the token says you are.
pub(super) async fn me(user: AuthUser) -> Json<Me> {
    let c = &user.claims;
    Json(Me {
        phone: c.phone.clone(),
        aal: c.aal.clone(),
        is_anonymous: c.is_anonymous.unwrap_or(false),
        session_id: c.session_id.clone(),
        expires_at: c.exp,
        sub: user.sub,
        email: user.email,
        role: user.role,
    })
}

/// `GET /api/greeting`: login optional; a bad token is still refused.
pub(super) async fn greeting(user: Option<AuthUser>) -> Json<serde_json::Value> {
    let greeting = match user {
        Some(user) => format!("hello, {}", user.email.as_deref().unwrap_or("user")),
        None => "hello, guest".to_owned(),
    };
    Json(serde_json::json!({ "message": greeting }))
}

/// `GET /api/admin`: only for the custom role `admin` (403 otherwise).
pub(super) async fn admin(admin: RequireRole<Admin>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true, "sub": admin.sub }))
}
