//! Guards: extractors that answer 403 `insufficient_scope` when the verified
//! caller does not qualify. [`RequireRole`] checks the `role` claim;
//! [`Require`] checks any rule over the whole [`AuthUser`], such as a claim set
//! by a custom access-token hook (Supabase's RBAC pattern), MFA ([`Aal2`]) or
//! a real account ([`NotAnonymous`]).
//!
//! ```
//! use axum_supabase::{AuthUser, Require, Requirement, RequireRole, Role, RoleRequirement};
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
//!     format!("published by {}", editor.user.sub())
//! }
//!
//! /// Callers whose hook-added `user_role` claim is `moderator` or `admin`.
//! struct Moderator;
//! impl Requirement for Moderator {
//!     const DESCRIPTION: &'static str = "the moderator role is required";
//!     fn allows(user: &AuthUser) -> bool {
//!         matches!(user.extra_str("user_role"), Some("moderator" | "admin"))
//!     }
//! }
//!
//! async fn hide_post(moderator: Require<Moderator>) -> String {
//!     format!("hidden by {}", moderator.user.sub())
//! }
//! ```

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::user::{AuthRejection, context};
use super::{Aal, AuthError, AuthUser, Fault, Role};

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

/// Extracts the [`AuthUser`] and checks the role rule `R`; 401 without a user,
/// 403 with the wrong role. A [`Require`] over [`ByRole<R>`].
pub type RequireRole<R> = Require<ByRole<R>>;

/// Turns a [`RoleRequirement`] into a [`Requirement`] on the caller's role.
#[derive(Debug)]
pub struct ByRole<R>(PhantomData<fn() -> R>);

impl<R: RoleRequirement> Requirement for ByRole<R> {
    const DESCRIPTION: &'static str = R::DESCRIPTION;
    fn allows(user: &AuthUser) -> bool {
        R::allows(user.role())
    }
}

/// A rule on the whole verified caller: any claim, standard or custom.
pub trait Requirement: Send + Sync + 'static {
    /// The `error_description` given when the rule fails.
    const DESCRIPTION: &'static str;
    /// Whether `user` satisfies the rule.
    fn allows(user: &AuthUser) -> bool;
}

/// Multi-factor authentication: `aal` must be `aal2`. A token without `aal`
/// counts as `aal1`. The description asks for a step-up, not a new sign-in:
/// supabase-js's `mfa.challengeAndVerify` yields an `aal2` token for the same session.
#[derive(Debug, Clone, Copy)]
pub struct Aal2;

impl Requirement for Aal2 {
    const DESCRIPTION: &'static str =
        "multi-factor authentication required: verify a second factor (aal2) and retry with the new token";
    fn allows(user: &AuthUser) -> bool {
        user.claims().aal == Some(Aal::Aal2)
    }
}

/// A real account: anonymous sign-ins carry `role: authenticated` and
/// `is_anonymous: true`, so a role check alone lets them through.
#[derive(Debug, Clone, Copy)]
pub struct NotAnonymous;

impl Requirement for NotAnonymous {
    const DESCRIPTION: &'static str = "an account is required: anonymous users cannot do this";
    fn allows(user: &AuthUser) -> bool {
        user.claims().is_anonymous != Some(true)
    }
}

/// Extracts the [`AuthUser`] and checks `R`; 401 without a user, 403 if `R` refuses.
#[derive(Debug, Clone)]
pub struct Require<R> {
    /// The verified caller, who satisfies `R`.
    pub user: AuthUser,
    _rule: PhantomData<fn() -> R>,
}

impl<R> Deref for Require<R> {
    type Target = AuthUser;
    fn deref(&self) -> &AuthUser {
        &self.user
    }
}

impl<S: Send + Sync, R: Requirement> FromRequestParts<S> for Require<R> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ctx = context(parts)?;
        let Some(user) = ctx.user.clone() else {
            return Err(AuthRejection::new(Fault::Missing, Some(&ctx.responder)));
        };
        if !R::allows(&user) {
            tracing::debug!(rule = std::any::type_name::<R>(), "guard refused the caller");
            let error = AuthError::from(Fault::InsufficientScope(R::DESCRIPTION));
            ctx.responder.count(error.fault().label());
            return Err(AuthRejection::new(error, Some(&ctx.responder)));
        }
        Ok(Self {
            user,
            _rule: PhantomData,
        })
    }
}
