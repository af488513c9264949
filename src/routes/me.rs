//! `/api/*`: the example routes, one per way of taking the caller.

use axum::response::{IntoResponse, Response};

use crate::json::Json;
use serde::Serialize;
use uuid::Uuid;

use axum_supabase::{
    Aal, Aal2, Admin, AuthUser, ErrorBody, NotAnonymous, Require, RequireRole, Requirement, Role,
};

/// The caller's identity, as `/api/me` returns it. It borrows from the user,
/// so answering copies no claim (two allocations fewer per request).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me<'a> {
    /// Supabase user id.
    pub sub: Uuid,
    /// Email, if any.
    pub email: Option<&'a str>,
    /// Postgres role.
    #[schema(value_type = String)]
    pub role: &'a Role,
    /// Phone, if any.
    pub phone: Option<&'a str>,
    /// Assurance level (`aal1`, `aal2`).
    #[schema(value_type = Option<String>)]
    pub aal: Option<&'a Aal>,
    /// Whether the user signed in anonymously.
    pub is_anonymous: bool,
    /// Session id.
    pub session_id: Option<&'a str>,
    /// When the token expires, seconds since the epoch.
    pub expires_at: i64,
}

/// `GET /api/me`: who the token says you are.
#[utoipa::path(get, path = "/api/me", tag = "identity", security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses((status = 200, description = "The caller's identity", body = Me)))]
pub(super) async fn me(user: AuthUser) -> Response {
    let c = user.claims();
    Json(Me {
        sub: user.sub(),
        email: user.email(),
        role: user.role(),
        phone: c.phone.as_deref(),
        aal: c.aal.as_ref(),
        is_anonymous: c.is_anonymous.unwrap_or(false),
        session_id: c.session_id.as_deref(),
        expires_at: c.exp,
    })
    .into_response()
}

/// `GET /api/greeting`: login optional; a bad token is still refused.
#[utoipa::path(get, path = "/api/greeting", tag = "identity",
    security((), ("bearerAuth" = []), ("cookieAuth" = [])),
    responses((status = 200, description = "A greeting, to a user or a guest", body = crate::openapi::Greeting)))]
pub(super) async fn greeting(user: Option<AuthUser>) -> Json<serde_json::Value> {
    let greeting = match user {
        Some(user) => format!("hello, {}", user.email().unwrap_or("user")),
        None => "hello, guest".to_owned(),
    };
    Json(serde_json::json!({ "message": greeting }))
}

/// `GET /api/admin`: only for the custom role `admin` (403 otherwise).
#[utoipa::path(get, path = "/api/admin", tag = "guards", security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The caller has the role admin", body = crate::openapi::OkSub),
        (status = 403, description = "Another role", body = ErrorBody, headers(("WWW-Authenticate" = String, description = "Bearer error=\"insufficient_scope\"")))))]
pub(super) async fn admin(admin: RequireRole<Admin>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true, "sub": admin.sub() }))
}

/// The Supabase RBAC pattern: a custom access-token hook adds a `user_role`
/// claim, and this rule admits `moderator` and `admin`.
#[derive(Debug)]
pub struct Moderator;

impl Requirement for Moderator {
    const DESCRIPTION: &'static str = "the moderator or admin user_role is required";
    fn allows(user: &AuthUser) -> bool {
        matches!(user.extra_str("user_role"), Some("moderator" | "admin"))
    }
}

/// `GET /api/moderation`: only when the `user_role` claim is `moderator` or `admin` (403 otherwise).
#[utoipa::path(get, path = "/api/moderation", tag = "guards", security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The caller's user_role is moderator or admin", body = crate::openapi::OkModerator),
        (status = 403, description = "Another user_role", body = ErrorBody, headers(("WWW-Authenticate" = String, description = "Bearer error=\"insufficient_scope\"")))))]
pub(super) async fn moderation(user: Require<Moderator>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true, "sub": user.sub(), "user_role": user.extra_str("user_role") }))
}

/// `GET /api/account`: signed-in users with a real account; anonymous sign-ins get 403.
#[utoipa::path(get, path = "/api/account", tag = "guards", security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "Not an anonymous sign-in", body = crate::openapi::OkSub),
        (status = 403, description = "An anonymous sign-in", body = ErrorBody, headers(("WWW-Authenticate" = String, description = "Bearer error=\"insufficient_scope\"")))))]
pub(super) async fn account(user: Require<NotAnonymous>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true, "sub": user.sub() }))
}

/// `GET /api/sensitive`: only after MFA (`aal2`); an `aal1` session gets 403 and is told to step up.
#[utoipa::path(get, path = "/api/sensitive", tag = "guards", security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The session passed MFA (aal2)", body = crate::openapi::OkSub),
        (status = 403, description = "aal1: step up with MFA", body = ErrorBody, headers(("WWW-Authenticate" = String, description = "Bearer error=\"insufficient_scope\"")))))]
pub(super) async fn sensitive(user: Require<Aal2>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true, "sub": user.sub() }))
}
