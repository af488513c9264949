//! An Axum API server that puts a backend behind Supabase Auth: an application
//! of the [`axum_supabase`] library.
//!
//! A frontend signs in with supabase-js and calls us with
//! `Authorization: Bearer <access token>`. The library's layer verifies the
//! token once per request and handlers take the caller as a typed argument:
//! `AuthUser`, `Option<AuthUser>` or a guard.
//!
//! - [`config`]: environment configuration, validated at startup (a thin layer
//!   over the library's builder).
//! - [`startup::app`]: the router and middleware stack; the seam tests drive.
//! - [`serve`]: the hardened accept loop.

pub mod cli;
pub mod config;
pub mod edge;
pub mod error;
pub mod json;
pub mod metrics;
pub mod migrate;
pub mod mint;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use server::{ServeOptions, serve};
pub use startup::app;

/// The README's `rust` blocks, compiled (and run, unless marked `no_run`) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
