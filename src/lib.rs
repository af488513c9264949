//! An Axum API server that puts a backend behind Supabase Auth.
//!
//! A frontend signs in with supabase-js and calls us with
//! `Authorization: Bearer <access token>`. [`auth::AuthLayer`] verifies the token
//! once per request and handlers take the caller as a typed argument:
//! [`auth::AuthUser`], `Option<AuthUser>` or [`auth::RequireRole`].
//!
//! - [`config`]: environment configuration, validated at startup.
//! - [`startup::app`]: the router and middleware stack; the seam tests drive.
//! - [`token::Token`]: mints Supabase-shaped tokens for tests and local use.

pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod token;

pub use server::{ServeOptions, serve};
pub use startup::app;

/// Seconds since the Unix epoch, as JWT dates count them.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
