//! The typed user handlers take as an argument: `AuthUser` or `Option<AuthUser>`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use uuid::Uuid;

use super::{AuthError, Role, SupabaseClaims};

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
            Some(AuthState::Anonymous) => Err(AuthError::MissingCredentials {
                token_in_query: false,
            }),
            None => Err(AuthError::MissingLayer),
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
            None => Err(AuthError::MissingLayer),
        }
    }
}
