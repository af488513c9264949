//! The typed user handlers take as an argument: `AuthUser` or `Option<AuthUser>`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use axum::response::{IntoResponse, Response};

use crate::claims::{Role, SupabaseClaims};
use crate::error::{AuthError, Fault};
use crate::respond::Responder;

/// The verified caller. Only the verifier makes one (and, with the `testing`
/// feature, `AuthUser::for_tests`): a handler that takes it knows the
/// request carried a valid token.
///
/// ```
/// use axum_supabase::AuthUser;
///
/// async fn whoami(user: AuthUser) -> String {
///     format!("{} ({})", user.sub(), user.role())
/// }
/// ```
#[derive(Clone)]
pub struct AuthUser {
    // One allocation, shared: the cache, the layer and each extractor clone it
    // on every request, and a clone is then one reference count.
    inner: Arc<UserInner>,
}

/// The id and role, as the logs show them; the email and the claims'
/// values are personal data, and stay out of every `Debug`.
impl std::fmt::Debug for AuthUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthUser")
            .field("sub", &self.inner.sub)
            .field("role", &self.inner.role)
            .field("email", &self.inner.email.as_ref().map(|_| "[redacted]"))
            .field("claims", &self.inner.claims)
            .finish()
    }
}

struct UserInner {
    sub: Uuid,
    email: Option<String>,
    role: Role,
    claims: SupabaseClaims,
}

/// A claim is present but does not have the type asked for. It names neither
/// the claim's value nor the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the claim does not have the requested type")]
pub struct ClaimTypeError;

impl AuthUser {
    pub(crate) fn new(sub: Uuid, email: Option<String>, role: Role, claims: SupabaseClaims) -> Self {
        Self {
            inner: Arc::new(UserInner {
                sub,
                email,
                role,
                claims,
            }),
        }
    }

    /// The Supabase user id (`sub`).
    pub fn sub(&self) -> Uuid {
        self.inner.sub
    }

    /// The user's email, if the token carries one.
    pub fn email(&self) -> Option<&str> {
        self.inner.email.as_deref()
    }

    /// The Postgres role the token grants (`authenticated`, `anon`, or a custom one).
    pub fn role(&self) -> &Role {
        &self.inner.role
    }

    /// Every other claim: the Supabase ones typed, the rest in `extra`.
    pub fn claims(&self) -> &SupabaseClaims {
        &self.inner.claims
    }

    /// Any top-level claim, typed by the caller: custom claims from an
    /// access-token hook (`tenant_id`, `permissions`, …) as well as standard
    /// ones. `Ok(None)` if the token does not carry it (or carries `null`).
    ///
    /// ```
    /// # fn demo(user: &axum_supabase::AuthUser) {
    /// let tenant: Option<u64> = user.claim("tenant_id").unwrap_or(None);
    /// # }
    /// ```
    pub fn claim<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ClaimTypeError> {
        let typed = |value: &Value| match value {
            Value::Null => Ok(None),
            value => T::deserialize(value).map(Some).map_err(|_| ClaimTypeError),
        };
        if let Some(value) = self.inner.claims.extra.get(name) {
            return typed(value);
        }
        // A claim with a typed field: read it from the signed payload as sent.
        let all: serde_json::Map<String, Value> =
            serde_json::from_str(self.inner.claims.payload_json()).map_err(|_| ClaimTypeError)?;
        all.get(name).map_or(Ok(None), typed)
    }

    /// A custom (non-Supabase) string claim, borrowed: the cheap form for guards.
    pub fn extra_str(&self, name: &str) -> Option<&str> {
        self.inner.claims.extra.get(name).and_then(Value::as_str)
    }
}

/// What the layer found, stored in the request extensions for the extractors,
/// with the rejection style of the verifier they answer for.
#[derive(Debug, Clone)]
pub(crate) struct AuthContext {
    /// `None`: no credentials were sent (optional mode only).
    pub(crate) user: Option<AuthUser>,
    pub(crate) responder: Responder,
}

/// An extractor's refusal: an [`AuthError`], answered like the layer's own
/// rejections (realm, custom body). Match on [`AuthRejection::error`].
#[derive(Debug)]
pub struct AuthRejection {
    error: AuthError,
    responder: Option<Responder>,
}

impl AuthRejection {
    pub(crate) fn new(error: impl Into<AuthError>, responder: Option<&Responder>) -> Self {
        Self {
            error: error.into(),
            responder: responder.cloned(),
        }
    }

    /// Why.
    pub fn error(&self) -> &AuthError {
        &self.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self.responder {
            Some(responder) => responder.reject(self.error),
            None => self.error.into_response(),
        }
    }
}

/// The layer's finding, or the 500 of a route without the layer.
pub(crate) fn context(parts: &Parts) -> Result<&AuthContext, AuthRejection> {
    parts
        .extensions
        .get::<AuthContext>()
        .ok_or_else(|| AuthRejection::new(Fault::MissingLayer, None))
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ctx = context(parts)?;
        ctx.user
            .clone()
            .ok_or_else(|| AuthRejection::new(Fault::Missing, Some(&ctx.responder)))
    }
}

/// `Option<AuthUser>`: absent credentials give `None`. A bad token never gets
/// here: the layer has already answered 401.
impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(context(parts)?.user.clone())
    }
}
