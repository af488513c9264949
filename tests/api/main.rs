//! One integration-test binary: every test drives the real router.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod helpers;
mod jwks_support;
mod keys;

mod binary;
mod cache;
mod config;
mod conformance;
mod connections;
mod cookie_support;
mod cookies;
mod cookies_csrf;
mod cookies_gotrue;
mod cookies_jar;
mod cookies_node;
mod cors;
mod fuzz_corpus;
#[path = "../../examples/support/gotrue_double.rs"]
mod gotrue_double;
mod health;
mod jwks;
mod limits;
pub(crate) mod logging;
mod me;
mod middleware;
mod openapi;
pub(crate) mod ops;
mod process;
mod props;
mod readme;
mod rejections;
mod roles;
mod service;
mod socket;

mod db;
mod db_bouncer;
mod db_scope;
mod db_support;
mod db_tls;
mod pg_support;
mod tls_support;
