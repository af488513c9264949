//! The typed user handlers take as an argument: `AuthUser` or `Option<AuthUser>`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use super::{AuthError, Fault, Role, SupabaseClaims};

/// The verified caller. Only [`AuthLayer`](super::AuthLayer) creates one.
///
/// ```
/// use axum_supabase_auth::auth::AuthUser;
///
/// async fn whoami(user: AuthUser) -> String {
///     format!("{} ({})", user.sub, user.role)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The Supabase user id (`sub`).
    pub sub: Uuid,
    /// The user's email, if the token carries one.
    pub email: Option<String>,
    /// The Postgres role the token grants.
    pub role: Role,
    /// Every other Supabase claim, typed.
    pub claims: Arc<SupabaseClaims>,
}

/// A claim is present but does not have the type asked for. It names neither
/// the claim's value nor the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the claim does not have the requested type")]
pub struct ClaimTypeError;

impl AuthUser {
    /// Any top-level claim, typed by the caller: custom claims from an
    /// access-token hook (`tenant_id`, `permissions`, …) as well as standard
    /// ones. `Ok(None)` if the token does not carry it (or carries `null`).
    ///
    /// ```
    /// # fn demo(user: &axum_supabase_auth::auth::AuthUser) {
    /// let tenant: Option<u64> = user.claim("tenant_id").unwrap_or(None);
    /// # }
    /// ```
    pub fn claim<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ClaimTypeError> {
        let typed = |value: &Value| match value {
            Value::Null => Ok(None),
            value => T::deserialize(value).map(Some).map_err(|_| ClaimTypeError),
        };
        if let Some(value) = self.claims.extra.get(name) {
            return typed(value);
        }
        // A claim with a typed field: read it from the signed payload as sent.
        let all: serde_json::Map<String, Value> =
            serde_json::from_str(self.claims.payload_json()).map_err(|_| ClaimTypeError)?;
        all.get(name).map_or(Ok(None), typed)
    }

    /// A custom (non-Supabase) string claim, borrowed: the cheap form for guards.
    pub fn extra_str(&self, name: &str) -> Option<&str> {
        self.claims.extra.get(name).and_then(Value::as_str)
    }
}

/// What the layer found, stored in the request extensions for the extractors.
#[derive(Debug, Clone)]
pub(crate) enum AuthState {
    /// No credentials were sent (optional mode only).
    Anonymous,
    /// A verified user.
    User(AuthUser),
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<AuthState>() {
            Some(AuthState::User(user)) => Ok(user.clone()),
            Some(AuthState::Anonymous) => Err(Fault::Missing.into()),
            None => Err(Fault::MissingLayer.into()),
        }
    }
}

/// `Option<AuthUser>`: absent credentials give `None`. A bad token never gets
/// here: the layer has already answered 401.
impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthUser {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<AuthState>() {
            Some(AuthState::User(user)) => Ok(Some(user.clone())),
            Some(AuthState::Anonymous) => Ok(None),
            None => Err(Fault::MissingLayer.into()),
        }
    }
}
