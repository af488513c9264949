//! Fetching the JWKS: one HTTP request under the cache's single flight, its
//! answer read within bounds and installed, and the background refresh.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use tokio::time::Instant;

use super::{FetchError, Inner, JwksCache, KeySet};
use crate::bounded_body::{BodyError, read_body};
use crate::jwks::keys::parse_jwks;

impl JwksCache {
    /// One HTTP fetch. Callers hold `fetch_lock`. Preloaded keys are kept as they are.
    pub(super) async fn fetch(&self) -> Result<(), FetchError> {
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
            self.install(&current, renewed);
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
        let installed = self.install(
            &current,
            KeySet {
                keys,
                fetched_at,
                etag,
                max_age,
                body_hash,
                fixed: false,
            },
        );
        if installed && !unchanged {
            self.inner.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok((status.as_u16(), count))
    }

    /// Replaces `current` with `set`, unless something else replaced it while
    /// the fetch was out (a preload, which must stay). Whether it did.
    fn install(&self, current: &Arc<KeySet>, set: KeySet) -> bool {
        let before = self.inner.set.compare_and_swap(current, Arc::new(set));
        Arc::ptr_eq(&before, current)
    }
}

/// The background refresh: fetches until the cache is gone or its keys are preloaded.
pub(super) async fn refresh_loop(weak: Weak<Inner>) {
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

pub(super) fn same_host_redirects() -> reqwest::redirect::Policy {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, "public, max-age=600".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::from_secs(600)));
        h.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&h), None);
    }
}
