//! Role guards: extractors that answer 403 `insufficient_scope` when the
//! verified caller's role does not qualify.
//!
//! ```
//! use axum_supabase_auth::auth::{RequireRole, Role, RoleRequirement};
//!
//! /// Callers whose custom access-token hook set `role: "editor"`.
//! struct Editor;
//! impl RoleRequirement for Editor {
//!     const DESCRIPTION: &'static str = "the editor role is required";
//!     fn allows(role: &Role) -> bool {
//!         role.as_str() == "editor"
//!     }
//! }
//!
//! async fn publish(editor: RequireRole<Editor>) -> String {
//!     format!("published by {}", editor.user.sub)
//! }
//! ```

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{AuthError, AuthUser, Role};

/// A rule on the caller's role.
pub trait RoleRequirement: Send + Sync + 'static {
    /// The `error_description` given when the rule fails.
    const DESCRIPTION: &'static str;
    /// Whether `role` satisfies the rule.
    fn allows(role: &Role) -> bool;
}

/// Callers with the custom role `admin`, as set by a Supabase custom access-token hook.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl RoleRequirement for Admin {
    const DESCRIPTION: &'static str = "the admin role is required";
    fn allows(role: &Role) -> bool {
        role.as_str() == "admin"
    }
}

/// Extracts the [`AuthUser`] and checks `R`; 401 without a user, 403 with the wrong role.
#[derive(Debug, Clone)]
pub struct RequireRole<R> {
    /// The verified caller, whose role satisfies `R`.
    pub user: AuthUser,
    _rule: PhantomData<fn() -> R>,
}

impl<R> Deref for RequireRole<R> {
    type Target = AuthUser;
    fn deref(&self) -> &AuthUser {
        &self.user
    }
}

impl<S: Send + Sync, R: RoleRequirement> FromRequestParts<S> for RequireRole<R> {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        if !R::allows(&user.role) {
            tracing::debug!(role = %user.role, "role guard refused the caller");
            crate::metrics::auth_outcome("insufficient_scope");
            return Err(AuthError::InsufficientScope(R::DESCRIPTION));
        }
        Ok(Self {
            user,
            _rule: PhantomData,
        })
    }
}
