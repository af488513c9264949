//! The JWKS cache: fetching, caching and refreshing the key set.
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
//! - **Untrusted material is refused**, by the policy of [`keys`](super::keys).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::time::Instant;

use super::keys::{JwksKey, parse_jwks};

mod fetch;

use crate::task::Supervised;
use fetch::{refresh_loop, same_host_redirects};

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
#[non_exhaustive]
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

/// The JWKS HTTP client could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientUnavailable;

impl From<super::keys::Malformed> for FetchError {
    fn from(_: super::keys::Malformed) -> Self {
        Self::Malformed
    }
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
    /// Fails only if the HTTP client cannot be built (TLS initialisation).
    pub(crate) fn new(config: JwksConfig) -> Result<Self, ClientUnavailable> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(same_host_redirects())
            .user_agent(concat!("axum-supabase/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| ClientUnavailable)?;
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
        if self.inner.set.load().fixed {
            return;
        }
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

    /// How long until the next background fetch: the server's `max-age`
    /// within the clocks, and never more than half of `max_stale`, so that
    /// keys which fetch fine never go stale between two fetches.
    fn refresh_interval(&self) -> Duration {
        let c = &self.inner.config;
        self.inner
            .set
            .load()
            .max_age
            .unwrap_or(c.max_refresh)
            .clamp(c.min_refresh, c.max_refresh)
            .min(c.max_stale / 2)
            .max(Duration::from_millis(50))
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
