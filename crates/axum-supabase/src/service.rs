//! Server-to-server callers: Supabase secret API keys (`sb_secret_…`).
//!
//! A cron job, a queue worker, an Edge Function or another backend calls
//! with the project's secret key in the `apikey` header, as it calls
//! Supabase's own gateway. [`ServiceCaller`] admits such a request and names
//! the key it used; [`Caller`] admits a user or a service on one route;
//! [`RequireServiceKey`] admits one named key only.
//!
//! The rules, as Supabase's gateway and `@supabase/server` apply them:
//! - the presented key is compared with every configured key in constant
//!   time (an HMAC of both sides under a per-process random key, compared
//!   whole, every key every time);
//! - a request with a valid user token is a user, never a service, and a bad
//!   `Authorization` header is refused by the auth layer before any key is
//!   looked at: it never falls back to the key;
//! - a secret key from something that looks like a browser (an `Origin` or
//!   `Sec-Fetch-Site` header, or a `User-Agent` starting `Mozilla/`) is
//!   refused: it has leaked. Node's own `fetch` sends `user-agent: node` and
//!   `sec-fetch-mode: cors`, and passes;
//! - logs and metrics carry the key's name, never the key.
//!
//! Service routes sit behind [`SupabaseAuth::optional_layer`](crate::SupabaseAuth::optional_layer):
//! a service sends no user token.
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use axum_supabase::{Caller, RequireServiceKey, ServiceCaller, ServiceKeyName, SupabaseAuth};
//!
//! async fn whoami(service: ServiceCaller) -> String {
//!     format!("called with the {} key", service.key())
//! }
//!
//! async fn either(caller: Caller) -> &'static str {
//!     match caller {
//!         Caller::User(_) => "a user",
//!         Caller::Service(_) => "a service",
//!         _ => "someone else",
//!     }
//! }
//!
//! /// The key named `cron` in `SUPABASE_SECRET_KEYS`.
//! struct Cron;
//! impl ServiceKeyName for Cron {
//!     const NAME: &'static str = "cron";
//! }
//!
//! async fn nightly(_: RequireServiceKey<Cron>) -> &'static str {
//!     "done"
//! }
//!
//! # fn app() -> Result<Router, axum_supabase::BuildError> {
//! let auth = SupabaseAuth::builder()
//!     .project_url("https://abcdefghijklmnop.supabase.co")
//!     .secret_keys([("default", "sb_secret_aaaaaaaaaaaaaaaaaaaaaa_bbbbbbbb"), ("cron", "sb_secret_cccccccccccccccccccccc_dddddddd")])
//!     .build()?;
//! let app = Router::new()
//!     .route("/internal/whoami", get(whoami))
//!     .route("/internal/either", get(either))
//!     .route("/internal/nightly", get(nightly))
//!     .route_layer(auth.optional_layer());
//! # Ok(app) }
//! # app().unwrap();
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use aws_lc_rs::{constant_time, hmac, rand};
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::config::settings::Reason;
use crate::user::{AuthContext, context};
use crate::{AuthRejection, AuthUser, Fault};

/// The prefix of every Supabase secret API key.
pub const SECRET_KEY_PREFIX: &str = "sb_secret_";

/// The request header that carries an API key, as Supabase's gateway reads it.
pub const APIKEY_HEADER: &str = "apikey";

/// The configured secret keys, each kept only as its HMAC under a key made
/// for this process: the keys themselves are not held.
pub(crate) struct ServiceKeys {
    mac: hmac::Key,
    keys: Vec<(Arc<str>, hmac::Tag)>,
    /// "A configured key came from a browser": one line a second at most.
    leak_warnings: crate::throttle::Throttle,
}

impl std::fmt::Debug for ServiceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.names().collect();
        f.debug_struct("ServiceKeys")
            .field("names", &names)
            .finish_non_exhaustive()
    }
}

impl ServiceKeys {
    /// Checks `(name, key)` pairs by the rules of `SUPABASE_SECRET_KEYS`.
    pub(crate) fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, Reason> {
        let mac = hmac::Key::generate(hmac::HMAC_SHA256, &rand::SystemRandom::new())
            .map_err(|_| Reason::Rule("could not be protected: the system has no randomness"))?;
        let mut keys: Vec<(Arc<str>, hmac::Tag)> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (name, key) in pairs {
            if name.trim().is_empty() {
                return Err(Reason::Rule("has a key with an empty name"));
            }
            if !key.starts_with(SECRET_KEY_PREFIX) || key.len() == SECRET_KEY_PREFIX.len() {
                return Err(Reason::Rule("has a key that does not start with sb_secret_"));
            }
            if !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Reason::Rule(
                    "has a key with spaces or bytes outside visible ASCII",
                ));
            }
            if seen.contains(&key) {
                return Err(Reason::Rule("gives two names the same key"));
            }
            if keys.iter().any(|(n, _)| &**n == name) {
                return Err(Reason::Rule("names two keys alike"));
            }
            seen.push(key);
            keys.push((Arc::from(name), hmac::sign(&mac, key.as_bytes())));
        }
        if keys.is_empty() {
            return Err(Reason::Rule("holds no key"));
        }
        Ok(Self {
            mac,
            keys,
            leak_warnings: crate::throttle::Throttle::default(),
        })
    }

    /// The name of the key `presented` is, if any. Every key is compared,
    /// whole, whatever matched: the time taken does not depend on where a
    /// wrong key differs, nor on which key matched.
    pub(crate) fn find(&self, presented: &[u8]) -> Option<&Arc<str>> {
        let tag = hmac::sign(&self.mac, presented);
        let mut found = None;
        for (name, key) in &self.keys {
            let equal = constant_time::verify_slices_are_equal(tag.as_ref(), key.as_ref()).is_ok();
            if equal {
                found = Some(name);
            }
        }
        found
    }

    /// The names, in the order given.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(n, _)| &**n)
    }
}

/// Whether the request looks like it comes from a browser, as Supabase's
/// gateway judges a secret key's caller: an `Origin` or `Sec-Fetch-Site`
/// header (browsers send them, servers do not), or a browser's `User-Agent`.
/// Not `Sec-Fetch-Mode`: Node's `fetch` sends it from servers.
fn from_browser(headers: &HeaderMap) -> bool {
    headers.contains_key("origin")
        || headers.contains_key("sec-fetch-site")
        || headers
            .get("user-agent")
            .is_some_and(|ua| ua.as_bytes().starts_with(b"Mozilla/"))
}

/// A server-to-server caller: the request carried one of the configured
/// secret keys in its `apikey` header, and no user token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCaller {
    key: Arc<str>,
}

impl ServiceCaller {
    /// The name of the key it used (`default` for `SUPABASE_SECRET_KEY`).
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Admits `parts` as a service, by the rules of this module, once per
/// request: the caller is kept in the extensions for the next extractor
/// (`ServiceCaller` then `Rls` on one handler check and count once).
pub(crate) fn authenticate(parts: &mut Parts, ctx: &AuthContext) -> Result<ServiceCaller, AuthRejection> {
    if let Some(caller) = parts.extensions.get::<ServiceCaller>() {
        return Ok(caller.clone());
    }
    let caller = check(parts, ctx)?;
    parts.extensions.insert(caller.clone());
    Ok(caller)
}

fn check(parts: &Parts, ctx: &AuthContext) -> Result<ServiceCaller, AuthRejection> {
    let refuse = |fault| {
        ctx.responder.count(Fault::label(fault));
        AuthRejection::new(fault, Some(&ctx.responder))
    };
    if ctx.user.is_some() {
        return Err(refuse(Fault::NotAService));
    }
    let mut values = parts.headers.get_all(APIKEY_HEADER).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        let fault = if parts.headers.contains_key(APIKEY_HEADER) {
            Fault::ServiceKeyInvalid
        } else {
            Fault::ServiceKeyMissing
        };
        return Err(refuse(fault));
    };
    let value = value.as_bytes();
    let keys = ctx.responder.service_keys();
    if value.starts_with(SECRET_KEY_PREFIX.as_bytes()) && from_browser(&parts.headers) {
        // Refused whatever the key. Only a configured key has leaked: anyone
        // can send a made-up one, so that is no news for the operator.
        if let Some(keys) = keys
            && let Some(name) = keys.find(value)
            && let Some(held) = keys.leak_warnings.allow()
        {
            tracing::warn!(
                key = &**name,
                held,
                "a configured secret API key came from a browser: it has leaked, rotate it"
            );
        }
        return Err(refuse(Fault::ServiceKeyFromBrowser));
    }
    let found = keys.and_then(|keys| keys.find(value));
    match found {
        Some(key) => {
            tracing::debug!(key = &**key, "service caller");
            ctx.responder.metrics().service_call(key);
            Ok(ServiceCaller { key: key.clone() })
        }
        None => Err(refuse(Fault::ServiceKeyInvalid)),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ServiceCaller {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ctx = context(parts)?.clone();
        authenticate(parts, &ctx)
    }
}

/// A user or a service, on a route that serves both.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Caller {
    /// A verified user token.
    User(AuthUser),
    /// A configured secret key, and no user token.
    Service(ServiceCaller),
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ctx = context(parts)?.clone();
        if let Some(user) = ctx.user {
            return Ok(Self::User(user));
        }
        if !parts.headers.contains_key(APIKEY_HEADER) {
            return Err(AuthRejection::new(Fault::Missing, Some(&ctx.responder)));
        }
        authenticate(parts, &ctx).map(Self::Service)
    }
}

/// The name of one secret key, for [`RequireServiceKey`].
pub trait ServiceKeyName {
    /// The key's name in `SUPABASE_SECRET_KEYS`.
    const NAME: &'static str;
}

/// A service caller with one named key; another configured key is 403.
pub struct RequireServiceKey<N: ServiceKeyName> {
    /// The caller.
    pub caller: ServiceCaller,
    name: PhantomData<N>,
}

impl<N: ServiceKeyName> std::fmt::Debug for RequireServiceKey<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireServiceKey")
            .field("caller", &self.caller)
            .finish()
    }
}

impl<S: Send + Sync, N: ServiceKeyName> FromRequestParts<S> for RequireServiceKey<N> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ctx = context(parts)?.clone();
        let caller = authenticate(parts, &ctx)?;
        if caller.key() != N::NAME {
            let fault = Fault::InsufficientScope("this route takes another secret API key");
            ctx.responder.count(fault.label());
            return Err(AuthRejection::new(fault, Some(&ctx.responder)));
        }
        Ok(Self {
            caller,
            name: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sb_secret_aaaaaaaaaaaaaaaaaaaaaa_aaaaaaaa";
    const B: &str = "sb_secret_bbbbbbbbbbbbbbbbbbbbbb_bbbbbbbb";

    #[test]
    fn keys_are_found_by_value_and_named() {
        let keys = ServiceKeys::new([("default", A), ("cron", B)]).ok();
        let find = |k: &str| {
            keys.as_ref()
                .and_then(|keys| keys.find(k.as_bytes()))
                .map(|n| n.to_string())
        };
        assert_eq!(find(A).as_deref(), Some("default"));
        assert_eq!(find(B).as_deref(), Some("cron"));
        assert_eq!(find(&A[..A.len() - 1]), None);
        assert_eq!(find(&format!("{A}x")), None);
        assert_eq!(find(""), None);
        assert!(!format!("{keys:?}").contains("sb_secret_a"));
    }

    #[test]
    fn bad_key_sets_are_refused_without_their_values() {
        let rule = |pairs: &[(&str, &str)]| ServiceKeys::new(pairs.iter().copied()).err();
        assert!(rule(&[]).is_some());
        assert!(rule(&[("", A)]).is_some());
        assert!(rule(&[("x", "sb_publishable_abc")]).is_some());
        assert!(rule(&[("x", "sb_secret_")]).is_some());
        assert!(rule(&[("x", "sb_secret_a b")]).is_some());
        assert!(rule(&[("x", A), ("y", A)]).is_some());
        assert!(rule(&[("x", A), ("x", B)]).is_some());
        for reason in [rule(&[("x", A), ("y", A)]), rule(&[("x", "sb_publishable_abc")])] {
            assert!(
                !reason
                    .map(|r| r.to_string())
                    .unwrap_or_default()
                    .contains("sb_secret_a")
            );
        }
    }

    #[test]
    fn browsers_are_told_apart_from_servers() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, axum::http::HeaderValue::from_static(v));
            }
            h
        };
        // Node 20's fetch (undici): user-agent node, sec-fetch-mode cors, no Origin.
        assert!(!from_browser(&headers(&[
            ("user-agent", "node"),
            ("sec-fetch-mode", "cors"),
            ("accept", "*/*"),
            ("accept-language", "*"),
        ])));
        assert!(!from_browser(&headers(&[("user-agent", "curl/8.5.0")])));
        assert!(from_browser(&headers(&[(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64)"
        )])));
        assert!(from_browser(&headers(&[("origin", "https://app.example.com")])));
        assert!(from_browser(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("user-agent", "node")
        ])));
    }
}
