//! One integration-test binary: every test drives the real router.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod helpers;

mod binary;
mod config;
mod cors;
mod health;
mod logging;
mod me;
mod middleware;
mod rejections;
mod roles;
mod socket;
