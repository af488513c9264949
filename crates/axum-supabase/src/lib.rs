//! Verify Supabase Auth access tokens in axum, and hand every handler a typed caller.
//!
//! A frontend signs in with supabase-js and calls your API with
//! `Authorization: Bearer <access token>`. [`SupabaseAuth`] verifies the token
//! (HS256 with the project's JWT secret, or ES256/RS256/EdDSA with its JWKS),
//! its [layer](SupabaseAuth::layer) does so once per request, and handlers
//! take the caller as an argument: [`AuthUser`], `Option<AuthUser>`, or a
//! guard such as [`RequireRole`] or [`Require`]. Tokens and secrets never
//! reach a log line, an error or a response.
//!
//! # Quick start
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use axum_supabase::{AuthUser, SupabaseAuth};
//!
//! async fn me(user: AuthUser) -> String {
//!     format!("hello, {}", user.email().unwrap_or("user"))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // SUPABASE_URL, and SUPABASE_JWT_SECRET for projects on the legacy secret.
//!     let auth = SupabaseAuth::from_env()?;
//!     let app = Router::new().route("/api/me", get(me)).route_layer(auth.layer());
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! # Login optional: `Option<AuthUser>`
//!
//! Under [`SupabaseAuth::optional_layer`], no token gives `None`; a bad token is
//! still a 401, so a client with a broken session finds out.
//!
//! ```
//! use axum::{Router, routing::get};
//! use axum_supabase::{AuthUser, SupabaseAuth};
//!
//! async fn greeting(user: Option<AuthUser>) -> String {
//!     match user {
//!         Some(user) => format!("hello, {}", user.sub()),
//!         None => "hello, guest".to_owned(),
//!     }
//! }
//!
//! fn routes(auth: &SupabaseAuth) -> Router {
//!     Router::new().route("/", get(greeting)).route_layer(auth.optional_layer())
//! }
//! ```
//!
//! # A role guard
//!
//! ```
//! use axum_supabase::{RequireRole, Role, RoleRequirement};
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
//!     format!("published by {}", editor.sub()) // 403 insufficient_scope for anyone else
//! }
//! ```
//!
//! # A claim guard
//!
//! Supabase's RBAC guide adds a `user_role` claim with a custom access-token
//! hook. Every claim is kept, so a rule can read it:
//!
//! ```
//! use axum_supabase::{AuthUser, Require, Requirement};
//!
//! struct Moderator;
//! impl Requirement for Moderator {
//!     const DESCRIPTION: &'static str = "the moderator or admin user_role is required";
//!     fn allows(user: &AuthUser) -> bool {
//!         matches!(user.extra_str("user_role"), Some("moderator" | "admin"))
//!     }
//! }
//!
//! async fn hide_post(user: Require<Moderator>) -> &'static str {
//!     "hidden"
//! }
//! ```
//!
//! [`Aal2`] (MFA step-up) and [`NotAnonymous`] come ready-made.
//!
//! # Failures
//!
//! Every refusal is an [`AuthError`] carrying a typed [`Fault`]: 401 with an
//! RFC 6750 challenge for a missing or bad token (get a new one), 400 only for
//! two `Authorization` headers, 403 `insufficient_scope` from a guard, 503 with
//! `Retry-After` while JWKS keys are unavailable. The realm and the body can
//! be changed ([`SupabaseAuthBuilder::realm`],
//! [`SupabaseAuthBuilder::rejection_body`]); the status and the challenge cannot.
//!
//! # One way to configure every part
//!
//! The verifier ([`SupabaseAuth`]), the database (`db::Database`, feature
//! `postgres`) and cookie sessions (`session::SessionCookies`, feature
//! `cookies`) are configured alike, through three doors:
//!
//! - `Part::builder()` for code: setters, then `build()`;
//! - `Part::from_env()` for the process environment;
//! - `Part::from_lookup(|name| …)` for any other source (a test's map, a
//!   secret store), read exactly as `from_env` reads the environment.
//!
//! Each builder also has `from_env`/`from_lookup`, for an application that
//! reads the variables and then adjusts in code. Every rule is checked in
//! `build()` (or `check()`), and every failure is one [`BuildError`]: the
//! [`Setting`], the variable it came from when it came from the environment
//! (`SUPABASE_URL is not set`) or the method when it came from code
//! (`project_url() is not set`), and a typed [`Reason`]. No message holds a
//! value. [`Env`] is the reader every part uses; an application can read its
//! own variables with it, the same way.
//!
//! ```
//! use axum_supabase::{Setting, SupabaseAuth};
//!
//! let vars = [("SUPABASE_URL", "https://abc.supabase.co"), ("JWT_LEEWAY_SECS", "900")];
//! let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
//! let error = SupabaseAuth::from_lookup(lookup).unwrap_err();
//! assert_eq!(error.setting(), Setting::Leeway);
//! assert_eq!(error.to_string(), "JWT_LEEWAY_SECS is invalid: must be a whole number of seconds from 0 to 300");
//! ```
//!
//! # Features
//!
//! - `jwks` (default): asymmetric keys from the project's JWKS endpoint.
//! - `metrics`: counters and a histogram through the `metrics` facade; the
//!   application installs the recorder.
//! - `postgres`: the `db` module, queries under Row Level Security in the caller's
//!   role, as PostgREST runs them; and sign-out that takes effect at once.
//! - `cookies`: the `session` module, `@supabase/ssr` session cookies for
//!   server-rendered apps: read, refreshed through GoTrue once per session
//!   at a time, written back; a CSRF rule for cookie-authenticated writes.
//! - `testing`: `testing::Token` mints Supabase-shaped tokens, and
//!   `AuthUser::for_tests` makes a user for handler unit tests.
//! - `internals`: hooks for this repository's fuzz targets, benches and
//!   tests; not part of the API.
//!
//! # Side effects
//!
//! None at build time: no recorder, no thread, no environment read outside
//! the `from_env` doors. The background work (JWKS refresh, cache
//! sweep) starts on the first verification inside a Tokio runtime, or with
//! [`SupabaseAuth::start`], and stops when the last clone is dropped.
#![deny(missing_docs)]

mod bearer;
#[cfg(any(feature = "jwks", feature = "cookies"))]
mod bounded_body;
mod cache;
mod claims;
mod config;
#[cfg(feature = "postgres")]
pub mod db;
mod error;
mod error_body;
mod guard;
mod json;
#[cfg(feature = "jwks")]
mod jwks;
mod layer;
mod metrics;
#[cfg(feature = "openapi")]
pub mod openapi;
mod respond;
mod service;
#[cfg(feature = "cookies")]
pub mod session;
mod task;
mod throttle;
#[cfg(feature = "testing")]
mod token;
mod user;
mod verifier;

pub use bearer::DEFAULT_MAX_TOKEN_BYTES;
pub use cache::DEFAULT_CACHE_ENTRIES;
pub use claims::{Aal, AmrEntry, Audience, Role, SupabaseClaims};
pub use config::builder::SupabaseAuthBuilder;
pub use config::env::{Env, SECRET_VARIABLES};
pub use config::settings::{
    Bounds, BuildError, DEV_JWT_SECRET, DEV_SUPABASE_URL, JwksTiming, MAX_LEEWAY, MIN_SECRET_LEN, Reason,
    Setting, Unit,
};
pub use error::{AuthError, Code, Fault, REALM, RequiredClaim};
pub use error_body::ErrorBody;
pub use guard::{Aal2, Admin, ByRole, NotAnonymous, Require, RequireRole, Requirement, RoleRequirement};
#[cfg(feature = "jwks")]
pub use jwks::{FetchError, JwksCache, JwksStatus};
pub use layer::{AuthFuture, AuthLayer, AuthService};
pub use service::{
    APIKEY_HEADER, Caller, RequireServiceKey, SECRET_KEY_PREFIX, ServiceCaller, ServiceKeyName,
};
pub use user::{AuthRejection, AuthUser, ClaimTypeError};
pub use verifier::SupabaseAuth;

/// Test support (feature `testing`): mint Supabase-shaped tokens.
#[cfg(feature = "testing")]
pub mod testing {
    #[cfg(feature = "jwks")]
    pub use crate::token::es256;
    pub use crate::token::{Mint, Token, hs256};
}

/// Internals for this repository's fuzz targets, benches and tests (feature
/// `internals`). Not part of the API: anything here may change in any release.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod __private {
    pub use crate::bearer::bearer_token;
    #[cfg(feature = "jwks")]
    pub use crate::jwks::jwks_kids;
    #[cfg(feature = "cookies")]
    pub use crate::session::{fuzz_read as session_cookie_read, fuzz_write as session_cookie_write};

    /// The secret-key comparison alone, for the timing benchmark: `(name,
    /// key)` pairs in, a function that says whether a value is one of them.
    pub fn service_key_matcher<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<impl Fn(&[u8]) -> bool> {
        let keys = crate::service::ServiceKeys::new(pairs).ok()?;
        Some(move |value: &[u8]| keys.find(value).is_some())
    }
}

/// Seconds since the Unix epoch, as JWT dates count them.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The README's `rust` blocks, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
