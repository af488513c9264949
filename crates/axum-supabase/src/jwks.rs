//! The JWKS key source: Supabase's asymmetric signing keys (ES256, RS256, EdDSA).
//!
//! Guarantees:
//! - **Reads never lock and never wait on the network** when the `kid` is known:
//!   the key set sits in an [`ArcSwap`].
//! - **An unknown `kid` refetches at most once per cooldown.** Concurrent callers
//!   share the one in-flight fetch; kids still unknown after it are answered at
//!   once until the cooldown ends. A flood of random kids cannot flood Supabase.
//! - **Background refresh** follows `Cache-Control: max-age`, clamped to
//!   [60 s, 600 s], with `If-None-Match` when the server sent an `ETag`. A key
//!   removed from the JWKS stops being trusted within one refresh.
//! - **Outages keep serving** with the last good keys, with a warning giving their
//!   age, for up to `max_stale`; after that, asymmetric tokens fail closed (503).
//! - **Untrusted material is refused**: `oct` keys (anyone can read the URL), RSA
//!   under 2048 bits, `use: enc`, `key_ops` without `verify`, keys without `kid`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::time::Instant;

use crate::http::{BodyError, read_body};
use crate::task::Supervised;

/// How the JWKS is fetched and cached: made and checked by the builder.
#[derive(Debug, Clone)]
pub(crate) struct JwksConfig {
    /// `https://<ref>.supabase.co/auth/v1/.well-known/jwks.json` (http only for loopback).
    pub url: String,
    /// The least time between two fetches triggered by unknown kids.
    pub cooldown: Duration,
    /// How long the last good keys keep serving while the endpoint fails.
    pub max_stale: Duration,
    /// The shortest background refresh interval, whatever `max-age` says.
    pub min_refresh: Duration,
    /// The longest background refresh interval (Supabase asks for ≤ 10 minutes).
    pub max_refresh: Duration,
    /// The whole-request timeout of one fetch.
    pub timeout: Duration,
    /// The largest response body accepted.
    pub max_body: usize,
}

/// A verification key from the JWKS, bound to exactly one algorithm.
pub(crate) struct JwksKey {
    /// The only algorithm this key verifies.
    pub(crate) alg: Algorithm,
    /// The public key.
    pub(crate) key: DecodingKey,
}

impl std::fmt::Debug for JwksKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The result of looking a `kid` up.
#[derive(Debug)]
pub(crate) enum KeyLookup {
    /// The key, from a set fresh enough to trust.
    Found(Arc<JwksKey>),
    /// The set is usable but has no such kid, even after the refetch allowed.
    Unknown,
    /// No usable set: never fetched, or stale beyond `max_stale`.
    Unavailable {
        /// A hint for the client's `Retry-After`.
        retry_after: Duration,
    },
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<JwksKey>>,
    fetched_at: Option<Instant>,
    etag: Option<String>,
    max_age: Option<Duration>,
    /// A hash of the body the keys came from: an unchanged body is not a key change.
    body_hash: u64,
    /// Installed by [`JwksCache::preload`]: never stale, never refetched.
    fixed: bool,
}

#[derive(Default)]
struct Health {
    /// The last fetch triggered by an unknown kid; the cooldown counts from it.
    /// Scheduled refreshes and purges do not count against it.
    last_on_demand: Option<Instant>,
    last_error: Option<String>,
}

/// A snapshot for `/readyz` and logs. Holds no key material.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JwksStatus {
    /// Whether the set can be used (fetched, and not stale beyond the limit).
    pub ready: bool,
    /// How many keys the set holds.
    pub keys: usize,
    /// Seconds since the last successful fetch.
    pub age_secs: Option<u64>,
    /// The last fetch error, if the last attempt failed.
    pub last_error: Option<String>,
    /// How many HTTP fetches were made.
    pub fetches: u64,
}

/// Why a fetch failed. The messages name no key material.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Network failure or timeout. The reason is a fixed phrase, never the
    /// HTTP client's own text, since `/readyz` may show it.
    #[error("request failed: {0}")]
    Http(&'static str),
    /// A status other than 200/304 (a cross-host redirect ends here too).
    #[error("unexpected status {0}")]
    Status(u16),
    /// The body exceeded the size cap.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not a JWK set.
    #[error("response is not a JWK set")]
    Malformed,
}

/// The cached JWKS. Cheap to clone.
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

struct Inner {
    config: JwksConfig,
    client: reqwest::Client,
    set: ArcSwap<KeySet>,
    /// Single flight: held for the duration of one fetch.
    fetch_lock: tokio::sync::Mutex<()>,
    health: Mutex<Health>,
    /// Fetches started, for `/readyz`; also each fetch's number.
    fetches: AtomicU64,
    /// Fetches finished (either way): a waiter that sees this move knows a fetch
    /// ran while it queued, and uses that result instead of fetching again.
    completed: AtomicU64,
    /// The number of the latest fetch that succeeded.
    last_ok: AtomicU64,
    /// The background refresh, kept running on whichever runtime uses the cache.
    refresher: Supervised,
    /// Bumped whenever the key set is replaced, so caches keyed on it can drop entries.
    generation: AtomicU64,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.inner.config.url)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// Builds the cache and its HTTP client. Fetches nothing yet; see [`JwksCache::ensure_refresh`].
    pub(crate) fn new(config: JwksConfig) -> Result<Self, crate::BuildError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(same_host_redirects())
            .user_agent(concat!("axum-supabase/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| crate::BuildError::HttpClient)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                client,
                set: ArcSwap::from_pointee(KeySet::default()),
                fetch_lock: tokio::sync::Mutex::new(()),
                health: Mutex::new(Health::default()),
                fetches: AtomicU64::new(0),
                completed: AtomicU64::new(0),
                last_ok: AtomicU64::new(0),
                refresher: Supervised::default(),
                generation: AtomicU64::new(0),
            }),
        })
    }

    /// Looks `kid` up; an unknown kid may trigger one rate-limited refetch.
    pub(crate) async fn key(&self, kid: &str) -> KeyLookup {
        if let Some(found) = self.usable_key(kid) {
            return KeyLookup::Found(found);
        }
        self.refetch_if_allowed().await;
        if let Some(found) = self.usable_key(kid) {
            return KeyLookup::Found(found);
        }
        if self.is_usable() {
            KeyLookup::Unknown
        } else {
            KeyLookup::Unavailable {
                retry_after: self.retry_after(),
            }
        }
    }

    /// Fetches now, whatever the cooldown (SIGHUP, the purge Supabase asks for),
    /// and returns once a fetch that started after this call has succeeded,
    /// or with that fetch's error. A fetch already in flight may carry keys
    /// revoked since, so it does not count. Still single-flight: callers
    /// arriving during one fetch share the next.
    pub async fn refresh_now(&self) -> Result<(), FetchError> {
        let started_before = self.inner.fetches.load(Ordering::Acquire);
        let _flight = self.inner.fetch_lock.lock().await;
        if self.inner.last_ok.load(Ordering::Acquire) > started_before {
            return Ok(()); // one started after the call, and succeeded, while we queued
        }
        self.fetch().await
    }

    /// Installs a JWK set for good: it never goes stale, the URL is never
    /// fetched again, and an unknown kid is refused at once. For static key
    /// configurations, tests and fuzzing. Returns how many keys were kept.
    pub fn preload(&self, body: &[u8]) -> Result<usize, FetchError> {
        let keys = parse_jwks(body)?;
        let count = keys.len();
        self.inner.set.store(Arc::new(KeySet {
            keys,
            fetched_at: Some(Instant::now()),
            etag: None,
            max_age: None,
            body_hash: 0,
            fixed: true,
        }));
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        Ok(count)
    }

    /// Keeps the background refresher running on the current runtime: an
    /// immediate first fetch (retried with backoff until it succeeds), then
    /// one per clamped `max-age`. It stops when every clone of this cache is
    /// dropped, or once the keys are preloaded; a runtime that ends takes it
    /// along, and the next call inside another starts it again. Outside a
    /// runtime this does nothing. One atomic load when it runs.
    pub(crate) fn ensure_refresh(&self) {
        self.inner
            .refresher
            .ensure(|| refresh_loop(Arc::downgrade(&self.inner)));
    }

    /// How long the last good keys keep serving while fetches fail.
    pub fn max_stale(&self) -> Duration {
        self.inner.config.max_stale
    }

    /// Where the keys are fetched from.
    pub fn url(&self) -> &str {
        &self.inner.config.url
    }

    /// The current state, for `/readyz`.
    pub fn status(&self) -> JwksStatus {
        let set = self.inner.set.load();
        let last_error = self.health().last_error.clone();
        JwksStatus {
            ready: self.is_fresh(&set),
            keys: set.keys.len(),
            age_secs: set.fetched_at.map(|t| t.elapsed().as_secs()),
            last_error,
            fetches: self.inner.fetches.load(Ordering::Acquire),
        }
    }

    /// Changes whenever a fetched key set differs from the one before (rotation,
    /// revocation); a refresh that returns the same keys leaves it as it is.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// [`generation`](Self::generation), for this repository's tests (feature `internals`).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn key_generation(&self) -> u64 {
        self.generation()
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        // A poisoned lock only means a panic elsewhere; the data is still plain.
        self.inner
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the set can be used: fetched, and not stale beyond `max_stale`.
    pub(crate) fn is_usable(&self) -> bool {
        self.is_fresh(&self.inner.set.load())
    }

    fn is_fresh(&self, set: &KeySet) -> bool {
        set.fixed
            || set
                .fetched_at
                .is_some_and(|t| t.elapsed() <= self.inner.config.max_stale)
    }

    fn usable_key(&self, kid: &str) -> Option<Arc<JwksKey>> {
        let set = self.inner.set.load();
        if self.is_fresh(&set) {
            set.keys.get(kid).cloned()
        } else {
            None
        }
    }

    fn refresh_interval(&self) -> Duration {
        let c = &self.inner.config;
        self.inner
            .set
            .load()
            .max_age
            .unwrap_or(c.max_refresh)
            .clamp(c.min_refresh, c.max_refresh)
    }

    fn retry_after(&self) -> Duration {
        let cooldown = self.inner.config.cooldown;
        let waited = self.health().last_on_demand.map_or(cooldown, |t| t.elapsed());
        cooldown.saturating_sub(waited).max(Duration::from_secs(1))
    }

    fn in_cooldown(&self) -> bool {
        let cooldown = self.inner.config.cooldown;
        self.health()
            .last_on_demand
            .is_some_and(|t| t.elapsed() < cooldown)
    }

    /// At most one on-demand fetch per cooldown. Callers arriving while any fetch
    /// is in flight wait for it and use its result instead of fetching again.
    async fn refetch_if_allowed(&self) {
        if self.inner.set.load().fixed {
            return;
        }
        let seen = self.inner.completed.load(Ordering::Acquire);
        let in_flight = self.inner.fetch_lock.try_lock().is_err();
        if !in_flight && self.in_cooldown() {
            return; // answered at once until the cooldown ends
        }
        let _flight = self.inner.fetch_lock.lock().await;
        if self.inner.completed.load(Ordering::Acquire) != seen || self.in_cooldown() {
            return; // a fetch finished while we waited: use its result
        }
        self.health().last_on_demand = Some(Instant::now());
        let _ = self.fetch().await;
    }

    /// One HTTP fetch. Callers hold `fetch_lock`. Preloaded keys are kept as they are.
    async fn fetch(&self) -> Result<(), FetchError> {
        if self.inner.set.load().fixed {
            return Ok(());
        }
        let started = Instant::now();
        let number = self.inner.fetches.fetch_add(1, Ordering::AcqRel) + 1;
        let url = &self.inner.config.url;
        let result = self.fetch_inner().await;
        self.inner.completed.fetch_add(1, Ordering::AcqRel);
        let duration_ms = started.elapsed().as_millis();
        match result {
            Ok((status, keys)) => {
                self.inner.last_ok.fetch_max(number, Ordering::AcqRel);
                self.health().last_error = None;
                tracing::info!(%url, status, keys, duration_ms, "JWKS fetched");
                Ok(())
            }
            Err(e) => {
                let age = self.inner.set.load().fetched_at.map(|t| t.elapsed().as_secs());
                match age {
                    Some(age_secs) => tracing::warn!(
                        %url, error = %e, duration_ms, age_secs,
                        max_stale_secs = self.inner.config.max_stale.as_secs(),
                        "JWKS fetch failed; serving the last good keys"
                    ),
                    None => tracing::warn!(%url, error = %e, duration_ms, "JWKS fetch failed; no keys yet"),
                }
                self.health().last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    async fn fetch_inner(&self) -> Result<(u16, usize), FetchError> {
        let config = &self.inner.config;
        let current = self.inner.set.load_full();
        let mut request = self
            .inner
            .client
            .get(&config.url)
            .header(header::ACCEPT, "application/json");
        if let Some(etag) = &current.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| FetchError::Http(http_reason(&e)))?;
        let status = response.status();
        let max_age = max_age(response.headers());
        if status == StatusCode::NOT_MODIFIED && current.fetched_at.is_some() {
            let renewed = KeySet {
                keys: current.keys.clone(),
                fetched_at: Some(Instant::now()),
                etag: current.etag.clone(),
                max_age,
                body_hash: current.body_hash,
                fixed: false,
            };
            self.inner.set.store(Arc::new(renewed));
            return Ok((status.as_u16(), current.keys.len()));
        }
        if status != StatusCode::OK {
            return Err(FetchError::Status(status.as_u16()));
        }
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_body(&mut response, config.max_body)
            .await
            .map_err(|e| match e {
                BodyError::Http(e) => FetchError::Http(http_reason(&e)),
                BodyError::TooLarge => FetchError::TooLarge(config.max_body),
            })?;
        let body_hash = {
            let mut h = std::hash::DefaultHasher::new();
            body.hash(&mut h);
            h.finish()
        };
        let unchanged = current.fetched_at.is_some() && current.body_hash == body_hash;
        let keys = if unchanged {
            current.keys.clone()
        } else {
            parse_jwks(&body)?
        };
        let count = keys.len();
        let fetched_at = Some(Instant::now());
        self.inner.set.store(Arc::new(KeySet {
            keys,
            fetched_at,
            etag,
            max_age,
            body_hash,
            fixed: false,
        }));
        if !unchanged {
            self.inner.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok((status.as_u16(), count))
    }
}

/// The background refresh: fetches until the cache is gone or its keys are preloaded.
async fn refresh_loop(weak: Weak<Inner>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let cache = JwksCache { inner };
        if cache.inner.set.load().fixed {
            return;
        }
        let delay = {
            let _flight = cache.inner.fetch_lock.lock().await;
            match cache.fetch().await {
                Ok(()) => {
                    backoff = Duration::from_secs(1);
                    cache.refresh_interval()
                }
                Err(_) => {
                    let delay = backoff.min(cache.inner.config.cooldown);
                    backoff = (backoff * 2).min(cache.inner.config.cooldown);
                    delay
                }
            }
        };
        drop(cache);
        tokio::time::sleep(delay).await;
    }
}

/// Follows redirects only to the same host and scheme, at most three.
/// A fixed phrase for a client error: reqwest's own text can carry addresses
/// and resolver details that a readiness probe should not publish.
fn http_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the response body could not be read"
    } else {
        "HTTP error"
    }
}

fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        let same = attempt.url().host_str() == first.host_str() && attempt.url().scheme() == first.scheme();
        if same && attempt.previous().len() <= 3 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::CACHE_CONTROL)?.to_str().ok()?;
    value
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|n| n.trim_matches('"').parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

/// Parses a JWK set, keeping only keys we can trust; one odd key does not spoil the rest.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<JwksKey>>, FetchError> {
    let raw: RawJwkSet = serde_json::from_slice(body).map_err(|_| FetchError::Malformed)?;
    let mut keys = HashMap::with_capacity(raw.keys.len());
    for value in raw.keys {
        match trusted_key(value) {
            Ok((kid, key)) => {
                keys.insert(kid, Arc::new(key));
            }
            Err(reason) => tracing::warn!(reason, "JWKS key skipped"),
        }
    }
    Ok(keys)
}

/// The shortest RSA modulus we accept.
pub(crate) const MIN_RSA_BITS: usize = 2048;

fn trusted_key(value: serde_json::Value) -> Result<(String, JwksKey), &'static str> {
    if value.get("kty").and_then(|k| k.as_str()) == Some("oct") {
        return Err("symmetric (oct) keys are never trusted from a JWKS");
    }
    let jwk: Jwk = serde_json::from_value(value).map_err(|_| "unparseable or unsupported key")?;
    let kid = jwk
        .common
        .key_id
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or("key has no kid")?;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return Err("key is not for signatures (use)");
    }
    if jwk
        .common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return Err("key_ops does not include verify");
    }
    let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES256))
            if p.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        (AlgorithmParameters::RSA(p), None | Some(KeyAlgorithm::RS256)) => {
            if rsa_bits(&p.n).ok_or("RSA modulus is not base64url")? < MIN_RSA_BITS {
                return Err("RSA key shorter than 2048 bits");
            }
            Algorithm::RS256
        }
        (AlgorithmParameters::OctetKeyPair(p), None | Some(KeyAlgorithm::EdDSA))
            if p.curve == EllipticCurve::Ed25519 =>
        {
            Algorithm::EdDSA
        }
        _ => return Err("unsupported key type, curve or algorithm"),
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "key parameters are malformed")?;
    Ok((kid, JwksKey { alg, key }))
}

fn rsa_bits(n: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(n).ok()?;
    let start = bytes.iter().position(|b| *b != 0)?;
    let first = bytes[start];
    Some((bytes.len() - start - 1) * 8 + (8 - first.leading_zeros() as usize))
}

/// The kids [`parse_jwks`] keeps from `body`: for the fuzz target (feature `internals`).
#[cfg(feature = "internals")]
#[doc(hidden)]
pub fn jwks_kids(body: &[u8]) -> Result<Vec<String>, FetchError> {
    parse_jwks(body).map(|keys| keys.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ec() -> serde_json::Value {
        // A P-256 point (the NIST test vector's public key); only parsing is exercised here.
        json!({"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig", "key_ops": ["verify"], "ext": true,
               "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
    }

    fn parse(keys: Vec<serde_json::Value>) -> HashMap<String, Arc<JwksKey>> {
        parse_jwks(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn supabase_shaped_ec_keys_are_kept_and_bound_to_es256() {
        let keys = parse(vec![ec()]);
        assert_eq!(keys["k1"].alg, Algorithm::ES256);
    }

    #[test]
    fn untrusted_keys_are_skipped_and_the_rest_kept() {
        let mut enc = ec();
        enc["use"] = json!("enc");
        enc["kid"] = json!("enc");
        let mut sign_only = ec();
        sign_only["key_ops"] = json!(["sign"]);
        sign_only["kid"] = json!("sign");
        let mut no_kid = ec();
        no_kid.as_object_mut().map(|o| o.remove("kid"));
        let mut wrong_alg = ec();
        wrong_alg["alg"] = json!("RS256");
        wrong_alg["kid"] = json!("wrong");
        let oct = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"});
        let small_rsa = json!({"kty": "RSA", "kid": "rsa1024", "alg": "RS256", "n": URL_SAFE_NO_PAD.encode([0xffu8; 128]), "e": "AQAB"});
        let keys = parse(vec![
            ec(),
            enc,
            sign_only,
            no_kid,
            wrong_alg,
            oct,
            small_rsa,
            json!({"kty": "weird"}),
        ]);
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["k1"]);
    }

    #[test]
    fn rsa_bits_counts_the_modulus() {
        assert_eq!(rsa_bits(&URL_SAFE_NO_PAD.encode([0xffu8; 256])), Some(2048));
        assert_eq!(rsa_bits(&URL_SAFE_NO_PAD.encode([0x00, 0x7f, 0xff])), Some(15));
        let mut n = vec![0x01u8];
        n.extend([0u8; 255]);
        assert_eq!(rsa_bits(&URL_SAFE_NO_PAD.encode(n)), Some(2041));
    }

    #[test]
    fn garbage_is_malformed() {
        for body in [&b"<html>"[..], b"{}", b"{\"keys\": 3}", b"[]"] {
            assert!(matches!(parse_jwks(body), Err(FetchError::Malformed)));
        }
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, "public, max-age=600".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::from_secs(600)));
        h.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&h), None);
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_kids_wait_out_the_cooldown_without_network() {
        // Nothing listens on port 9 of loopback: every fetch fails fast.
        let config = JwksConfig {
            url: "http://127.0.0.1:9/jwks.json".into(),
            cooldown: Duration::from_secs(30),
            max_stale: Duration::from_secs(3600),
            min_refresh: Duration::from_secs(60),
            max_refresh: Duration::from_secs(600),
            timeout: Duration::from_secs(5),
            max_body: 256 * 1024,
        };
        let cache = JwksCache::new(config).unwrap();
        assert!(matches!(cache.key("a").await, KeyLookup::Unavailable { .. }));
        assert_eq!(cache.status().fetches, 1);
        for kid in ["b", "c", "d"] {
            assert!(matches!(cache.key(kid).await, KeyLookup::Unavailable { .. }));
        }
        assert_eq!(
            cache.status().fetches,
            1,
            "inside the cooldown nothing is fetched"
        );
        tokio::time::advance(Duration::from_secs(31)).await;
        cache.key("e").await;
        assert_eq!(cache.status().fetches, 2);
    }
}
