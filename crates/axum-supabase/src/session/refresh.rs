//! Refreshing a session through GoTrue: one call per session at a time, and a
//! bounded number of calls whatever a client sends.
//!
//! GoTrue rotates refresh tokens, and a token reused outside its reuse
//! interval counts as theft: the whole session is revoked. A page that loads
//! ten resources sends ten requests with the same expired cookie, so they
//! share one call. The first request starts it in its own task (a client that
//! goes away does not cancel it); the others wait for its outcome.
//!
//! Flights are keyed by the session of the (signature-checked) expired access
//! token, not by the refresh token, so one genuine token paired with random
//! refresh tokens cannot start a call for each: while a session's flight is
//! out, another refresh token for it is answered 503; after GoTrue refused a
//! token, the session is not tried again for [`KEEP_DONE`]. Tokens whose key
//! has been removed from the JWKS cannot be checked, so their refreshes also
//! draw on one small global budget. A background task sweeps finished entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

use crate::http::read_body;
use crate::task::Supervised;

/// How long a finished refresh (or a session found over) is remembered:
/// the reuse interval of hosted Supabase projects.
pub(crate) const KEEP_DONE: Duration = Duration::from_secs(10);
/// How long an outage is remembered before a session is tried again; also
/// the `Retry-After` of its 503.
pub(crate) const KEEP_UNAVAILABLE: Duration = Duration::from_secs(2);
/// The `Retry-After` for a second refresh token of a session whose refresh is out.
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// The longest `Retry-After` from GoTrue that is passed on.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How often finished entries are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// The most bytes read from a GoTrue answer.
const MAX_BODY: usize = 256 * 1024;
/// GoTrue's own minimum (`internal/api/token_refresh.go`, `Validate`).
const MIN_REFRESH_TOKEN: usize = 12;
/// GoTrue's tokens are 12 characters (v1) or about 51–60 (v2); more is not one of them.
const MAX_REFRESH_TOKEN: usize = 512;
/// Refreshes of tokens whose signature could not be checked: a burst, then one a second.
const UNVERIFIED_BURST: f64 = 10.0;
const UNVERIFIED_PER_SEC: f64 = 1.0;

/// The codes with which GoTrue's refresh grant says no token of the session
/// will ever work again. From supabase/auth `internal/tokens/service.go`
/// (`RefreshTokenGrant`: banned user, session expired in all its variants,
/// a revoked token reused outside the reuse interval, an OAuth session that
/// `/token` cannot refresh) and `internal/api/apierrors/errorcode.go`.
/// `user_not_found` is what the endpoints behind `requireAuthentication`
/// (`internal/api/auth.go`) answer for a deleted user.
const SESSION_OVER: &[&str] = &[
    "session_not_found",
    "session_expired",
    "refresh_token_already_used",
    "user_banned",
    "user_not_found",
    "invalid_client",
];
/// The codes with which it says this refresh token will never work:
/// not found (a deleted user or session gives this too), not a token GoTrue
/// issued (`validation_failed`, from `token_refresh.go` and `service.go`), and
/// the OAuth `invalid_grant` of older GoTrue versions.
const TOKEN_OVER: &[&str] = &["refresh_token_not_found", "validation_failed", "invalid_grant"];

/// Whose refresh this is: the session of the expired access token (its `sub`
/// when it has no `session_id`), and whether its signature was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RefreshKey {
    pub(crate) session: Uuid,
    pub(crate) verified: bool,
}

/// What a refresh came to.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// GoTrue issued a new session.
    Refreshed(Arc<NewSession>),
    /// GoTrue says this refresh token is over: clear the cookies.
    /// `session_over`: no other token of the session works either.
    Ended { session_over: bool },
    /// GoTrue could not be asked, or asked us to wait: the session may be fine.
    Unavailable { retry_after: Duration },
}

/// A session GoTrue issued: its access token, and the JSON to store.
pub(crate) struct NewSession {
    pub(crate) access_token: String,
    pub(crate) json: String,
}

/// One session's latest refresh: in flight until `done` holds its outcome.
struct Entry {
    token: Box<str>,
    flight: u64,
    done: watch::Receiver<Option<Outcome>>,
    /// Consulted until then; swept after.
    until: Instant,
}

/// A token bucket for refreshes of unverifiable tokens.
struct Budget {
    tokens: f64,
    at: Instant,
}

impl Budget {
    fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * UNVERIFIED_PER_SEC;
        self.tokens = (self.tokens + refill).min(UNVERIFIED_BURST);
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

struct State {
    entries: HashMap<RefreshKey, Entry>,
    next_flight: u64,
    /// After a 429 from GoTrue, no session is refreshed before then.
    cooldown_until: Option<Instant>,
    unverified: Budget,
}

/// The GoTrue endpoints and the refreshes of the last few seconds.
pub(crate) struct Refresher {
    client: reqwest::Client,
    token_url: reqwest::Url,
    logout_url: reqwest::Url,
    api_key: HeaderValue,
    /// The variable to name when GoTrue's gateway refuses the key.
    api_key_var: &'static str,
    timeout: Duration,
    max_flights: usize,
    state: Mutex<State>,
    sweeper: Supervised,
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresher")
            .field("token_url", &self.token_url.as_str())
            .field("timeout", &self.timeout)
            .field("max_flights", &self.max_flights)
            .finish_non_exhaustive()
    }
}

/// Why signing out did not reach GoTrue.
#[derive(Debug)]
pub(crate) struct LogoutUnavailable;

/// What `join_or_start` decided.
enum Start {
    /// Wait for this flight's outcome.
    Join(watch::Receiver<Option<Outcome>>),
    /// Answer at once, without calling GoTrue.
    Answer(Outcome),
}

/// A GoTrue answer, read within its bounds.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// How a refused refresh is read.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    Ended {
        session_over: bool,
    },
    RateLimited(Duration),
    /// No error code at all: not GoTrue speaking (a gateway refusing our key).
    Uncoded,
    /// GoTrue could not do it now (5xx, a lock conflict, a hook timeout, …).
    Transient,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unavailable(retry_after: Duration) -> Outcome {
    Outcome::Unavailable {
        retry_after: retry_after.max(Duration::from_secs(1)),
    }
}

impl Refresher {
    pub(crate) fn new(
        auth_url: &str,
        api_key: HeaderValue,
        api_key_var: &'static str,
        timeout: Duration,
        max_flights: usize,
    ) -> Result<Self, &'static str> {
        let url = |path: &str| reqwest::Url::parse(&format!("{auth_url}{path}")).map_err(|_| "is not a URL");
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| "cannot build the HTTP client")?;
        Ok(Self {
            client,
            token_url: url("/token?grant_type=refresh_token")?,
            logout_url: url("/logout")?,
            api_key,
            api_key_var,
            timeout,
            max_flights,
            state: Mutex::new(State {
                entries: HashMap::new(),
                next_flight: 0,
                cooldown_until: None,
                unverified: Budget {
                    tokens: UNVERIFIED_BURST,
                    at: Instant::now(),
                },
            }),
            sweeper: Supervised::default(),
        })
    }

    /// The outcome of refreshing `refresh_token` for the session `key`,
    /// shared with every concurrent (and recent) caller holding the same token.
    pub(crate) async fn refresh(self: &Arc<Self>, key: RefreshKey, refresh_token: &str) -> Outcome {
        if !is_plausible(refresh_token) {
            return Outcome::Ended { session_over: false };
        }
        self.sweeper.ensure(|| sweep(Arc::downgrade(self)));
        let mut done = match self.join_or_start(key, refresh_token) {
            Start::Join(done) => done,
            Start::Answer(outcome) => return outcome,
        };
        match done.wait_for(Option::is_some).await {
            Ok(done) => done.clone().unwrap_or(unavailable(KEEP_UNAVAILABLE)),
            // The task ended without an answer (the runtime is shutting down).
            Err(_) => unavailable(KEEP_UNAVAILABLE),
        }
    }

    /// Joins this session's flight for the same token, answers from its
    /// recent outcome, or starts a flight. O(1) under the lock.
    fn join_or_start(self: &Arc<Self>, key: RefreshKey, token: &str) -> Start {
        let now = Instant::now();
        let mut state = lock(&self.state);
        if let Some(until) = state.cooldown_until.filter(|until| *until > now) {
            return Start::Answer(unavailable(until - now));
        }
        if let Some(entry) = state.entries.get(&key).filter(|e| e.until > now) {
            if *entry.token == *token {
                return Start::Join(entry.done.clone());
            }
            let remaining = entry.until - now;
            match &*entry.done.borrow() {
                None => return Start::Answer(unavailable(BUSY_RETRY)),
                Some(Outcome::Ended { session_over: true }) => {
                    return Start::Answer(Outcome::Ended { session_over: true });
                }
                // GoTrue refused another token of this session just now: wait out the interval.
                Some(Outcome::Ended { .. } | Outcome::Unavailable { .. }) => {
                    return Start::Answer(unavailable(remaining));
                }
                Some(Outcome::Refreshed(_)) => {}
            }
        }
        if !key.verified && !state.unverified.take(now) {
            return Start::Answer(unavailable(BUSY_RETRY));
        }
        if state.entries.len() >= self.max_flights && !state.entries.contains_key(&key) {
            tracing::warn!("too many session refreshes in flight; answering 503");
            return Start::Answer(unavailable(KEEP_UNAVAILABLE));
        }
        state.next_flight += 1;
        let flight = state.next_flight;
        let (tx, rx) = watch::channel(None);
        let token: Box<str> = token.into();
        state.entries.insert(
            key,
            Entry {
                token: token.clone(),
                flight,
                done: rx.clone(),
                until: later(now, self.timeout.saturating_add(KEEP_DONE)),
            },
        );
        drop(state);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let (outcome, cooldown) = this.call(&token).await;
            let (keep, label) = match &outcome {
                Outcome::Refreshed(_) => (KEEP_DONE, "refreshed"),
                Outcome::Ended { .. } => (KEEP_DONE, "ended"),
                Outcome::Unavailable { retry_after } => (*retry_after, "unavailable"),
            };
            // Once per GoTrue call, not per request: registering here costs nothing that matters.
            #[cfg(feature = "metrics")]
            metrics::counter!("auth_session_refreshes_total", "outcome" => label).increment(1);
            #[cfg(not(feature = "metrics"))]
            let _ = label;
            let now = Instant::now();
            let mut state = lock(&this.state);
            if let Some(cooldown) = cooldown {
                state.cooldown_until = Some(later(now, cooldown));
            }
            if let Some(entry) = state.entries.get_mut(&key).filter(|e| e.flight == flight) {
                entry.until = later(now, keep);
            }
            drop(state);
            tx.send_replace(Some(outcome));
        });
        Start::Join(rx)
    }

    /// The entries held, and about how many bytes they take (keys, tokens,
    /// refreshed sessions), for the repository's bound tests.
    #[cfg(feature = "internals")]
    pub(crate) fn held(&self) -> (usize, usize) {
        let state = lock(&self.state);
        let bytes = state
            .entries
            .values()
            .map(|e| {
                let session = match &*e.done.borrow() {
                    Some(Outcome::Refreshed(s)) => s.json.len() + s.access_token.len(),
                    _ => 0,
                };
                // The watch channel's shared state is about 128 bytes.
                std::mem::size_of::<(RefreshKey, Entry)>() + 128 + e.token.len() + session
            })
            .sum();
        (state.entries.len(), bytes)
    }

    /// One refresh at GoTrue, and what its answer means (plus a cooldown for
    /// every session when GoTrue's rate limit was hit).
    async fn call(&self, refresh_token: &str) -> (Outcome, Option<Duration>) {
        let body = serde_json::json!({ "refresh_token": refresh_token }).to_string();
        let request = self
            .client
            .post(self.token_url.clone())
            .header("apikey", self.api_key.clone())
            // auth-js's version: error codes in `code` (`internal/api/apiversions.go`).
            .header("x-supabase-api-version", "2024-01-01")
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        let Some(answer) = self.send(request).await else {
            tracing::warn!("session refresh: GoTrue did not answer in time");
            return (unavailable(KEEP_UNAVAILABLE), None);
        };
        if answer.status.is_success() {
            return match new_session(&answer.body) {
                Some(session) => (Outcome::Refreshed(Arc::new(session)), None),
                None => {
                    tracing::warn!("session refresh: GoTrue's answer is not a session");
                    (unavailable(KEEP_UNAVAILABLE), None)
                }
            };
        }
        let code = error_code(&answer.headers, &answer.body);
        let code = code.as_deref();
        // Only plain identifiers are logged: the body is not ours to echo.
        let logged = code
            .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .unwrap_or("");
        let status = answer.status.as_u16();
        match classify(answer.status, code, retry_after(&answer.headers)) {
            Refusal::Ended { session_over } => {
                tracing::info!(
                    status,
                    error_code = logged,
                    "session refresh: GoTrue says the session is over"
                );
                (Outcome::Ended { session_over }, None)
            }
            Refusal::RateLimited(wait) => {
                tracing::warn!(
                    status,
                    retry_after_secs = wait.as_secs(),
                    "session refresh: GoTrue's rate limit; refreshing nothing for a while"
                );
                (unavailable(wait), Some(wait))
            }
            Refusal::Uncoded => {
                tracing::error!(
                    status,
                    api_key_variable = self.api_key_var,
                    "session refresh: refused without an error code, as a gateway refuses an API key; \
                     check the API key setting"
                );
                (unavailable(KEEP_UNAVAILABLE), None)
            }
            Refusal::Transient => {
                tracing::warn!(
                    status,
                    error_code = logged,
                    "session refresh: GoTrue refused; answering 503"
                );
                (unavailable(KEEP_UNAVAILABLE), None)
            }
        }
    }

    /// Ends the session of `access_token` at GoTrue (`scope`: `local`, `global`
    /// or `others`). A session GoTrue no longer knows counts as ended.
    pub(crate) async fn logout(&self, access_token: &str, scope: &str) -> Result<(), LogoutUnavailable> {
        let mut url = self.logout_url.clone();
        url.query_pairs_mut().append_pair("scope", scope);
        let mut bearer =
            HeaderValue::try_from(format!("Bearer {access_token}")).map_err(|_| LogoutUnavailable)?;
        bearer.set_sensitive(true);
        let request = self
            .client
            .post(url)
            .header("apikey", self.api_key.clone())
            .header(header::AUTHORIZATION, bearer);
        match self.send(request).await.map(|a| a.status) {
            Some(status) if status.is_success() => Ok(()),
            // auth-js treats these as "already signed out" (GoTrueClient `_signOut`).
            Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) => Ok(()),
            Some(status) => {
                tracing::warn!(status = status.as_u16(), "sign-out: GoTrue refused");
                Err(LogoutUnavailable)
            }
            None => {
                tracing::warn!("sign-out: GoTrue did not answer in time");
                Err(LogoutUnavailable)
            }
        }
    }

    /// Sends within the timeout and reads a bounded body. Errors are not
    /// logged as they are: reqwest's carry the URL, and a log line needs nothing more.
    async fn send(&self, request: reqwest::RequestBuilder) -> Option<Answer> {
        tokio::time::timeout(self.timeout, async {
            let mut response = request.send().await.ok()?;
            let body = read_body(&mut response, MAX_BODY).await.ok()?;
            Some(Answer {
                status: response.status(),
                headers: std::mem::take(response.headers_mut()),
                body,
            })
        })
        .await
        .ok()
        .flatten()
    }
}

/// Sweeps entries past their time until the refresher is gone.
async fn sweep(refresher: Weak<Refresher>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(refresher) = refresher.upgrade() else {
            return;
        };
        let now = Instant::now();
        lock(&refresher.state).entries.retain(|_, e| e.until > now);
    }
}

fn later(now: Instant, by: Duration) -> Instant {
    now.checked_add(by).unwrap_or(now)
}

/// Whether `token` could be a GoTrue refresh token: v1 is 12 characters of
/// `[a-z0-9]`, v2 unpadded base64url (`internal/crypto/refresh_tokens.go`).
/// Anything else is refused without asking GoTrue.
fn is_plausible(token: &str) -> bool {
    (MIN_REFRESH_TOKEN..=MAX_REFRESH_TOKEN).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a refused refresh means, by GoTrue's error code and status.
fn classify(status: StatusCode, code: Option<&str>, retry_after: Option<Duration>) -> Refusal {
    if status == StatusCode::TOO_MANY_REQUESTS || code == Some("over_request_rate_limit") {
        // GoTrue sends no Retry-After (its limiter refills one every 2 s by default); a proxy may.
        return Refusal::RateLimited(retry_after.unwrap_or(KEEP_UNAVAILABLE));
    }
    let Some(code) = code else {
        // GoTrue codes every refusal of a refresh; a bare 401 or 403 is the
        // gateway in front of it refusing our API key.
        return if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            Refusal::Uncoded
        } else {
            Refusal::Transient
        };
    };
    if !status.is_client_error() {
        return Refusal::Transient;
    }
    if SESSION_OVER.contains(&code) {
        Refusal::Ended { session_over: true }
    } else if TOKEN_OVER.contains(&code) {
        Refusal::Ended { session_over: false }
    } else {
        Refusal::Transient
    }
}

/// The error code of a GoTrue answer, in GoTrue's order of precedence:
/// the `x-sb-error-code` header (set for every coded `HTTPError`), then the
/// body's string `code` (API version 2024-01-01), `error_code` (the initial
/// version), or the OAuth `error` (`internal/api/errors.go`).
fn error_code(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if let Some(code) = headers
        .get("x-sb-error-code")
        .and_then(|v| v.to_str().ok())
        .filter(|c| !c.is_empty())
    {
        return Some(code.to_owned());
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    ["code", "error_code", "error"]
        .iter()
        .find_map(|name| body.get(*name)?.as_str().filter(|c| !c.is_empty()))
        .map(str::to_owned)
}

/// A `Retry-After` in seconds, within [1 s, 60 s]. A date is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).clamp(Duration::from_secs(1), MAX_RETRY_AFTER))
}

/// GoTrue's session answer, checked, with `expires_at` filled in as auth-js does.
fn new_session(body: &[u8]) -> Option<NewSession> {
    let Ok(Value::Object(mut session)) = serde_json::from_slice(body) else {
        return None;
    };
    let access_token = session
        .get("access_token")?
        .as_str()
        .filter(|t| !t.is_empty())?
        .to_owned();
    session.get("refresh_token")?.as_str().filter(|t| !t.is_empty())?;
    if !session.get("expires_at").is_some_and(Value::is_i64) {
        let expires_in = session.get("expires_in").and_then(Value::as_i64).unwrap_or(3600);
        session.insert(
            "expires_at".into(),
            crate::unix_now().saturating_add(expires_in).into(),
        );
    }
    Some(NewSession {
        access_token,
        json: Value::Object(session).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(header: Option<&str>, body: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        if let Some(code) = header {
            headers.insert(
                "x-sb-error-code",
                HeaderValue::from_str(code).unwrap_or(HeaderValue::from_static("")),
            );
        }
        error_code(&headers, body.as_bytes())
    }

    #[test]
    fn reads_every_error_shape_in_gotrues_order() {
        let code = Some("refresh_token_not_found".to_owned());
        // API version 2024-01-01, and the initial version.
        assert_eq!(
            code_of(None, r#"{"code":"refresh_token_not_found","message":"m"}"#),
            code
        );
        assert_eq!(
            code_of(
                None,
                r#"{"code":400,"error_code":"refresh_token_not_found","msg":"m"}"#
            ),
            code
        );
        // The header wins over the body.
        assert_eq!(code_of(Some("refresh_token_not_found"), r#"{"code":"x"}"#), code);
        assert_eq!(code_of(Some("refresh_token_not_found"), "<html>"), code);
        assert_eq!(
            code_of(None, r#"{"error":"invalid_grant","error_description":"x"}"#),
            Some("invalid_grant".to_owned())
        );
        assert_eq!(code_of(None, r#"{"message":"Invalid API key"}"#), None);
        assert_eq!(code_of(None, "<html>"), None);
    }

    #[test]
    fn refusals_are_classified_by_code_then_status() {
        let bad = StatusCode::BAD_REQUEST;
        for code in SESSION_OVER {
            assert_eq!(
                classify(bad, Some(code), None),
                Refusal::Ended { session_over: true },
                "{code}"
            );
        }
        for code in TOKEN_OVER {
            assert_eq!(
                classify(bad, Some(code), None),
                Refusal::Ended { session_over: false },
                "{code}"
            );
        }
        let limited = classify(
            StatusCode::TOO_MANY_REQUESTS,
            Some("over_request_rate_limit"),
            None,
        );
        assert_eq!(limited, Refusal::RateLimited(KEEP_UNAVAILABLE));
        let told = Some(Duration::from_secs(7));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, None, told),
            Refusal::RateLimited(Duration::from_secs(7))
        );
        assert_eq!(classify(StatusCode::UNAUTHORIZED, None, None), Refusal::Uncoded);
        assert_eq!(classify(StatusCode::FORBIDDEN, None, None), Refusal::Uncoded);
        assert_eq!(
            classify(StatusCode::PAYLOAD_TOO_LARGE, None, None),
            Refusal::Transient
        );
        for (status, code) in [
            (StatusCode::CONFLICT, Some("conflict")),
            (StatusCode::GATEWAY_TIMEOUT, Some("request_timeout")),
            (StatusCode::INTERNAL_SERVER_ERROR, Some("unexpected_failure")),
            (StatusCode::BAD_GATEWAY, None),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("hook_timeout")),
            // A code that ends sessions, but on a 5xx: not GoTrue's refresh path.
            (StatusCode::INTERNAL_SERVER_ERROR, Some("session_not_found")),
        ] {
            assert_eq!(
                classify(status, code, None),
                Refusal::Transient,
                "{status} {code:?}"
            );
        }
    }

    #[test]
    fn only_token_shaped_refresh_tokens_are_sent() {
        assert!(is_plausible("abcdefgh2345"));
        assert!(is_plausible(&"A-_z".repeat(13)));
        assert!(!is_plausible("short"));
        assert!(!is_plausible(&"a".repeat(513)));
        assert!(!is_plausible("abc def ghij k"));
        assert!(!is_plausible("abcdefghijk\""));
    }

    #[test]
    fn retry_after_is_seconds_within_bounds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(5)));
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn the_unverified_budget_refills_slowly() {
        let start = Instant::now();
        let mut budget = Budget {
            tokens: UNVERIFIED_BURST,
            at: start,
        };
        let burst = (0..100).filter(|_| budget.take(start)).count();
        assert_eq!(burst, 10);
        assert!(budget.take(start + Duration::from_millis(1100)));
        assert!(!budget.take(start + Duration::from_millis(1100)));
    }

    #[test]
    fn a_session_needs_both_tokens_and_gets_expires_at() {
        assert!(new_session(br#"{"access_token":"a"}"#).is_none());
        assert!(new_session(br#"{"access_token":"","refresh_token":"r"}"#).is_none());
        assert!(new_session(b"[]").is_none());
        let session = new_session(br#"{"access_token":"a","refresh_token":"r","expires_in":60,"user":{}}"#);
        let json: Value = session
            .map(|s| serde_json::from_str(&s.json).unwrap_or_default())
            .unwrap_or_default();
        let expires_at = json["expires_at"].as_i64().unwrap_or_default();
        assert!((crate::unix_now() + 59..=crate::unix_now() + 61).contains(&expires_at));
        assert_eq!(json["user"], serde_json::json!({}));
        // An absurd lifetime from the server saturates; it never overflows.
        let huge = format!(
            r#"{{"access_token":"a","refresh_token":"r","expires_in":{}}}"#,
            i64::MAX
        );
        let session = new_session(huge.as_bytes()).map(|s| s.json);
        assert!(session.is_some_and(|json| json.contains(&i64::MAX.to_string())));
    }
}
