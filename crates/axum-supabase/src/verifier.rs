//! The token verifier: keys built once at startup, algorithms pinned to keys.
//!
//! The token's `alg` header only selects among the keys we hold; it never picks
//! how we verify:
//! - `HS256` goes to the project's legacy secret, and only to it;
//! - `ES256`, `RS256` and `EdDSA` go to the JWKS key named by `kid`, and the
//!   token's `alg` must be the one that key is bound to;
//! - anything else is refused.
//!
//! During Supabase's migration window both sources are configured at once.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::cache::TokenCache;

use axum::response::Response;

use super::claims::{ClaimRules, validate};
use super::json::{self, JsonError};
#[cfg(feature = "jwks")]
use super::jwks::{JwksCache, JwksKey, KeyLookup};
use super::{AuthError, AuthUser, Fault};
use crate::config::builder::{Resolved, SupabaseAuthBuilder};
use crate::config::env::process;
use crate::config::settings::BuildError;
#[cfg(feature = "jwks")]
use crate::config::settings::{Reason, Setting};
use crate::respond::Responder;
use crate::task::Supervised;
use crate::unix_now;

/// Verifies Supabase access tokens, and makes the layers that do it per
/// request. Cheap to clone: everything sits behind one `Arc`.
///
/// Made only by [`SupabaseAuth::builder`] or [`SupabaseAuth::from_env`].
#[derive(Clone)]
pub struct SupabaseAuth {
    inner: Arc<Inner>,
}

struct Inner {
    project_url: String,
    hs256: Option<DecodingKey>,
    #[cfg(feature = "jwks")]
    jwks: Option<JwksCache>,
    cache: Option<TokenCache>,
    rules: ClaimRules,
    max_token_len: usize,
    responder: Responder,
    /// The cache sweep, kept running on whichever runtime uses the verifier.
    sweeper: Supervised,
}

impl std::fmt::Debug for SupabaseAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("SupabaseAuth");
        d.field("hs256", &self.inner.hs256.as_ref().map(|_| "[redacted]"));
        #[cfg(feature = "jwks")]
        d.field("jwks", &self.inner.jwks);
        d.field("rules", &self.inner.rules).finish_non_exhaustive()
    }
}

/// The parts of the JOSE header we act on. `jku`, `x5u`, `jwk` and `x5c` are
/// deliberately ignored: a token never tells us where to find its key.
struct JoseHeader {
    alg: String,
    #[cfg_attr(
        not(feature = "jwks"),
        allow(dead_code, reason = "only JWKS keys are found by kid")
    )]
    kid: Option<String>,
}

impl JoseHeader {
    /// Parses the decoded header strictly: a JSON object with a string `alg`,
    /// a string `kid` if any, an access-token `typ` if any, and no `crit`.
    fn parse(bytes: &[u8]) -> Result<Self, Fault> {
        let mut header = json::object(bytes).map_err(|e| match e {
            JsonError::Duplicate => Fault::DuplicateMember,
            JsonError::Invalid => Fault::MalformedHeader,
        })?;
        let Some(Value::String(alg)) = header.remove("alg") else {
            return Err(Fault::MalformedHeader);
        };
        let kid = match header.remove("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid),
            Some(_) => return Err(Fault::MalformedHeader),
        };
        match header.get("typ") {
            None => {}
            Some(Value::String(typ)) if is_access_token_type(typ) => {}
            Some(_) => return Err(Fault::UnexpectedType),
        }
        if header.contains_key("crit") {
            return Err(Fault::CriticalHeader);
        }
        Ok(Self { alg, kid })
    }
}

/// RFC 8725 §3.11 explicit typing: `JWT` (what GoTrue writes) or RFC 9068's
/// `at+jwt`, in any case, with or without the `application/` prefix that
/// RFC 7515 §4.1.9 lets a producer omit.
fn is_access_token_type(typ: &str) -> bool {
    let bytes = typ.as_bytes();
    let bare = match bytes.len().checked_sub(12) {
        Some(_) if bytes[..12].eq_ignore_ascii_case(b"application/") => &bytes[12..],
        _ => bytes,
    };
    bare.eq_ignore_ascii_case(b"jwt") || bare.eq_ignore_ascii_case(b"at+jwt")
}

/// The key a token's header selected.
enum Selected<'a> {
    Hmac(&'a DecodingKey),
    #[cfg(feature = "jwks")]
    Jwks(Arc<JwksKey>),
}

impl SupabaseAuth {
    /// A builder with the defaults; see [`SupabaseAuthBuilder`].
    pub fn builder() -> SupabaseAuthBuilder {
        SupabaseAuthBuilder::default()
    }

    /// Built from the process environment: [`SupabaseAuthBuilder::from_env`], then `build`.
    pub fn from_env() -> Result<Self, BuildError> {
        Self::from_lookup(process)
    }

    /// Built from variables read through `lookup`, as [`from_env`](Self::from_env) reads them.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        SupabaseAuthBuilder::from_lookup(lookup)?.build()
    }

    fn from_resolved(r: Resolved) -> Result<Self, BuildError> {
        #[cfg(feature = "jwks")]
        let jwks = match r.jwks {
            None => None,
            Some(j) => Some(
                JwksCache::new(crate::jwks::JwksConfig {
                    url: j.url,
                    cooldown: j.timing.cooldown,
                    max_stale: j.max_stale,
                    min_refresh: j.timing.min_refresh,
                    max_refresh: j.timing.max_refresh,
                    timeout: j.timing.timeout,
                    max_body: 256 * 1024,
                })
                .map_err(|_| {
                    r.origins
                        .error(Setting::JwksUrl, Reason::Rule("cannot build its HTTPS client"))
                })?,
            ),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                project_url: r.project_url,
                hs256: r.hs256_secret.as_deref().map(DecodingKey::from_secret),
                #[cfg(feature = "jwks")]
                jwks,
                cache: (r.cache_size > 0).then(|| TokenCache::new(r.cache_size, r.leeway)),
                rules: ClaimRules {
                    issuers: r.issuers,
                    audiences: r.audiences,
                    leeway: r.leeway,
                },
                max_token_len: r.max_token_bytes,
                responder: Responder::new(r.realm, r.rejection_body, r.service_keys),
                sweeper: Supervised::default(),
            }),
        })
    }

    /// Starts the background work now rather than on first use: the first JWKS
    /// fetch (retried with backoff) and its refreshes, and the minutely sweep
    /// of expired cached tokens. Both stop when the last clone of this
    /// verifier is dropped. Without a Tokio runtime this does nothing, and the
    /// work starts with the first verification inside one. If the runtime
    /// they run on ends (a `block_on` at startup, one `#[tokio::test]` of
    /// many), the next verification starts them again where it runs.
    pub fn start(&self) {
        #[cfg(feature = "jwks")]
        if let Some(jwks) = &self.inner.jwks {
            jwks.ensure_refresh();
        }
        if self.inner.cache.is_some() {
            self.inner.sweeper.ensure(|| sweep(Arc::downgrade(&self.inner)));
        }
    }

    /// The verified-token cache's capacity in entries (0: off).
    pub fn cache_capacity(&self) -> usize {
        self.inner.cache.as_ref().map_or(0, TokenCache::capacity)
    }

    /// How many verified tokens the cache holds now.
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.as_ref().map_or(0, TokenCache::len)
    }

    /// The JWKS key source, if configured: its status (for readiness probes)
    /// and an immediate refetch (the purge Supabase asks backends to offer).
    #[cfg(feature = "jwks")]
    pub fn jwks(&self) -> Option<&JwksCache> {
        self.inner.jwks.as_ref()
    }

    /// The project URL, without a trailing slash (`https://<ref>.supabase.co`).
    pub fn project_url(&self) -> &str {
        &self.inner.project_url
    }

    /// The accepted issuers.
    pub fn issuers(&self) -> &[String] {
        &self.inner.rules.issuers
    }

    /// The accepted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.inner.rules.audiences
    }

    /// The clock-skew allowance, in seconds.
    pub fn leeway_secs(&self) -> i64 {
        self.inner.rules.leeway
    }

    /// The rejection style the layer and the extractors answer in.
    pub(crate) fn responder(&self) -> &Responder {
        &self.inner.responder
    }

    /// The response for a refused request: the configured body, then the
    /// status, challenge and `Retry-After` that RFC 6750 asks for.
    pub fn reject(&self, error: AuthError) -> Response {
        self.inner.responder.reject(error)
    }

    /// Verifies `token` and returns the user it identifies.
    ///
    /// Async so that a key source which may fetch (JWKS) fits the same signature.
    pub async fn verify(&self, token: &str) -> Result<AuthUser, AuthError> {
        self.verify_at(token, unix_now()).await
    }

    /// The longest token accepted; longer ones fail with [`Fault::TooLarge`].
    pub fn max_token_len(&self) -> usize {
        self.inner.max_token_len
    }

    /// The configured key sources, for `/readyz`.
    pub fn key_sources(&self) -> Vec<&'static str> {
        let mut sources = Vec::with_capacity(2);
        if self.inner.hs256.is_some() {
            sources.push("hs256");
        }
        #[cfg(feature = "jwks")]
        if self.inner.jwks.is_some() {
            sources.push("jwks");
        }
        sources
    }

    /// The names of the configured secret API keys (never the keys), for a
    /// startup line.
    pub fn service_key_names(&self) -> Vec<&str> {
        self.inner
            .responder
            .service_keys()
            .map(|keys| keys.names().collect())
            .unwrap_or_default()
    }

    /// The synchronous part of a verification: the size cap, and a cache hit.
    /// `Ok(None)` means a full verification is needed.
    pub(crate) fn check_cached(&self, token: &[u8], now: i64) -> Result<Option<AuthUser>, AuthError> {
        self.start();
        if token.len() > self.inner.max_token_len {
            return Err(Fault::TooLarge.into());
        }
        let Some(cache) = &self.inner.cache else {
            return Ok(None);
        };
        Ok(cache.get(token, self.key_generation(), now))
    }

    /// Cached JWKS tokens must not outlive their keys: a new key set, or one
    /// stale beyond max_stale, changes the generation and clears the cache.
    fn key_generation(&self) -> u64 {
        #[cfg(feature = "jwks")]
        if let Some(jwks) = &self.inner.jwks {
            return if jwks.is_usable() {
                jwks.generation()
            } else {
                u64::MAX
            };
        }
        0
    }

    async fn verify_at(&self, token: &str, now: i64) -> Result<AuthUser, AuthError> {
        if let Some(user) = self.check_cached(token.as_bytes(), now)? {
            return Ok(user);
        }
        self.verify_miss(token, now).await
    }

    /// A full verification, remembered in the cache when it succeeds.
    pub(crate) async fn verify_miss(&self, token: &str, now: i64) -> Result<AuthUser, AuthError> {
        // The generation read before verifying: if keys changed meanwhile, the
        // entry is stale on arrival and the next lookup drops it.
        let generation = self.key_generation();
        let user = self.verify_timed(token, now).await?;
        if let Some(cache) = &self.inner.cache {
            cache.insert(token.as_bytes(), &user, generation);
        }
        Ok(user)
    }

    async fn verify_timed(&self, token: &str, now: i64) -> Result<AuthUser, AuthError> {
        let started = std::time::Instant::now();
        let result = self.verify_uncached(token, now).await;
        self.inner.responder.metrics().verify_latency(started.elapsed());
        result
    }

    /// The full check: header, key, signature, claims.
    async fn verify_uncached(&self, token: &str, now: i64) -> Result<AuthUser, AuthError> {
        if token.starts_with("sb_publishable_") || token.starts_with("sb_secret_") {
            return Err(Fault::ApiKey.into());
        }
        let payload = self.signed_payload(token).await?;
        let v = validate(payload, &self.inner.rules, now)?;
        Ok(AuthUser::new(v.sub, v.email, v.role, v.claims))
    }

    /// The decoded payload of a token whose signature checks out with one of our keys.
    async fn signed_payload(&self, token: &str) -> Result<Vec<u8>, Fault> {
        let (header, payload, signature) = segments(token)?;
        let header = JoseHeader::parse(&decode(header).ok_or(Fault::MalformedHeader)?)?;
        let selected = self.key_for(&header).await?;
        let (key, alg) = match &selected {
            Selected::Hmac(key) => (*key, Algorithm::HS256),
            #[cfg(feature = "jwks")]
            Selected::Jwks(jwk) => (&jwk.key, jwk.alg),
        };
        let message = &token[..token.len() - signature.len() - 1];
        match jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg) {
            Ok(true) => {}
            Ok(false) => return Err(Fault::BadSignature),
            Err(_) => return Err(Fault::MalformedSignature),
        }
        decode(payload).ok_or(Fault::MalformedClaims)
    }

    /// Whose session an expired cookie token belongs to, so that its refresh
    /// can be bounded per session, and whether that is proven. `None`: not
    /// one to refresh.
    ///
    /// A token signed by one of our keys proves its `session_id` (without
    /// one, it gives its `sub`, unproven). A token whose key has since left
    /// the JWKS cannot be checked; `@supabase/ssr` refreshes it on expiry
    /// alone, and so do we, if it names our issuer, a UUID session and
    /// subject, and has expired: unproven, its refresh draws on a global
    /// budget, and what GoTrue returns is verified as usual.
    #[cfg(feature = "cookies")]
    pub(crate) async fn expired_session(&self, token: &str, now: i64) -> Option<(uuid::Uuid, bool)> {
        #[derive(serde::Deserialize)]
        struct Identity {
            sub: Option<String>,
            session_id: Option<String>,
            exp: Option<f64>,
            iss: Option<String>,
        }
        let uuid = |s: Option<&str>| s.and_then(crate::claims::hyphenated_uuid);
        let (payload, verified) = match self.signed_payload(token).await {
            Ok(payload) => (payload, true),
            Err(Fault::UnknownKey) => (decode(segments(token).ok()?.1)?, false),
            Err(_) => return None,
        };
        let id: Identity = serde_json::from_slice(&payload).ok()?;
        let session = uuid(id.session_id.as_deref());
        if verified {
            return match session {
                Some(session) => Some((session, true)),
                None => Some((uuid(id.sub.as_deref())?, false)),
            };
        }
        let expired = id.exp.is_some_and(|exp| exp < now as f64);
        let ours = id.iss.is_some_and(|iss| self.inner.rules.issuers.contains(&iss));
        (expired && ours && uuid(id.sub.as_deref()).is_some()).then_some((session?, false))
    }

    /// Pins the algorithm: the header may only name an algorithm we hold a key for,
    /// and a JWKS key only verifies the one algorithm it is bound to.
    async fn key_for(&self, header: &JoseHeader) -> Result<Selected<'_>, Fault> {
        match header.alg.as_str() {
            "HS256" => self
                .inner
                .hs256
                .as_ref()
                .map(Selected::Hmac)
                .ok_or(Fault::AlgorithmNotAllowed),
            #[cfg(feature = "jwks")]
            "ES256" | "RS256" | "EdDSA" => {
                let jwks = self.inner.jwks.as_ref().ok_or(Fault::AlgorithmNotAllowed)?;
                let kid = header
                    .kid
                    .as_deref()
                    .filter(|k| !k.is_empty())
                    .ok_or(Fault::MissingKid)?;
                match jwks.key(kid).await {
                    KeyLookup::Found(key) if header.alg.parse::<Algorithm>().ok() == Some(key.alg) => {
                        Ok(Selected::Jwks(key))
                    }
                    KeyLookup::Found(_) => Err(Fault::AlgorithmMismatch),
                    KeyLookup::Unknown => Err(Fault::UnknownKey),
                    KeyLookup::Unavailable { retry_after } => Err(Fault::KeysUnavailable {
                        retry_after_secs: retry_after.as_secs().max(1),
                    }),
                }
            }
            "none" | "None" | "NONE" => Err(Fault::Unsigned),
            #[cfg(not(feature = "jwks"))]
            "ES256" | "RS256" | "EdDSA" => Err(Fault::AlgorithmNotAllowed),
            "HS384" | "HS512" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES384" => {
                Err(Fault::AlgorithmNotAllowed)
            }
            _ => Err(Fault::UnsupportedAlgorithm),
        }
    }
}

impl SupabaseAuthBuilder {
    /// Checks every rule and builds the verifier: keys, cache and (with JWKS)
    /// the HTTP client. It needs no runtime: background work (the JWKS
    /// refresh, the cache sweep) starts on first use inside a Tokio runtime,
    /// or at once with [`SupabaseAuth::start`].
    pub fn build(&self) -> Result<SupabaseAuth, BuildError> {
        SupabaseAuth::from_resolved(self.resolve()?)
    }
}

/// Drops expired tokens from the cache every minute, until the verifier is gone.
async fn sweep(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if let Some(cache) = &inner.cache {
            cache.sweep(unix_now());
        }
    }
}

/// The three segments of a compact JWS, none of the first two empty.
fn segments(token: &str) -> Result<(&str, &str, &str), Fault> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(signature), None) if !header.is_empty() && !payload.is_empty() => {
            Ok((header, payload, signature))
        }
        _ => Err(Fault::Malformed),
    }
}

fn decode(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_types() {
        for typ in [
            "JWT",
            "jwt",
            "at+jwt",
            "AT+JWT",
            "application/jwt",
            "Application/At+JWT",
        ] {
            assert!(is_access_token_type(typ), "{typ}");
        }
        for typ in [
            "",
            "JWS",
            "dpop+jwt",
            "secevent+jwt",
            "application/",
            "application/dpop+jwt",
            "jwt ",
            "x/jwt",
        ] {
            assert!(!is_access_token_type(typ), "{typ}");
        }
    }

    #[test]
    fn headers_are_parsed_strictly() {
        let parse = |json: &str| JoseHeader::parse(json.as_bytes()).map(|h| (h.alg, h.kid));
        assert_eq!(
            parse(r#"{"alg":"HS256","typ":"JWT"}"#),
            Ok(("HS256".into(), None))
        );
        assert_eq!(
            parse(r#"{"alg":"ES256","kid":"k"}"#),
            Ok(("ES256".into(), Some("k".into())))
        );
        assert_eq!(
            parse(r#"{"alg":"HS256","typ":7}"#).err(),
            Some(Fault::UnexpectedType)
        );
        assert_eq!(
            parse(r#"{"alg":"HS256","typ":null}"#).err(),
            Some(Fault::UnexpectedType)
        );
        assert_eq!(
            parse(r#"{"alg":"HS256","typ":"dpop+jwt"}"#).err(),
            Some(Fault::UnexpectedType)
        );
        assert_eq!(
            parse(r#"{"alg":"HS256","crit":["b64"]}"#).err(),
            Some(Fault::CriticalHeader)
        );
        assert_eq!(
            parse(r#"{"alg":"HS256","alg":"none"}"#).err(),
            Some(Fault::DuplicateMember)
        );
        assert_eq!(parse(r#"{"alg":7}"#).err(), Some(Fault::MalformedHeader));
        assert_eq!(
            parse(r#"{"alg":"HS256","kid":1}"#).err(),
            Some(Fault::MalformedHeader)
        );
        assert_eq!(parse(r#"{"typ":"JWT"}"#).err(), Some(Fault::MalformedHeader));
    }
}
