//! Refreshing a session through GoTrue, once per refresh token.
//!
//! GoTrue rotates refresh tokens, and a token reused outside its reuse
//! interval counts as theft: the whole session is revoked. A page that loads
//! ten resources sends ten requests with the same expired cookie, so they
//! must share one call. The first request starts the call in its own task
//! (a client that goes away does not cancel it); the others wait for its
//! outcome. The outcome is kept for a short while, so that requests still
//! carrying the old cookie get the same new session, and a token that just
//! failed is not sent again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use serde_json::Value;
use tokio::sync::watch;

use crate::http::read_body;

/// How long a finished refresh (or a session found over) is remembered:
/// GoTrue's default reuse interval.
const KEEP_DONE: Duration = Duration::from_secs(10);
/// How long an outage is remembered before a refresh token is tried again;
/// also the `Retry-After` of the 503.
pub(crate) const KEEP_UNAVAILABLE: Duration = Duration::from_secs(2);
/// The most bytes read from a GoTrue answer.
const MAX_BODY: usize = 256 * 1024;
/// The error codes with which GoTrue says the session is over.
const ENDED: &[&str] = &[
    "refresh_token_not_found",
    "refresh_token_already_used",
    "session_not_found",
    "session_expired",
];

/// What a refresh came to.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// GoTrue issued a new session.
    Refreshed(Arc<NewSession>),
    /// GoTrue says the session is over: clear the cookies.
    Ended,
    /// GoTrue could not be asked (down, slow, 5xx): the session may be fine.
    Unavailable,
}

/// A session GoTrue issued: its access token, and the JSON to store.
pub(crate) struct NewSession {
    pub(crate) access_token: String,
    pub(crate) json: String,
}

struct Flight {
    outcome: watch::Receiver<Option<Outcome>>,
    /// Joined until then; replaced after.
    until: Instant,
}

/// The GoTrue endpoints and the in-flight refreshes.
pub(crate) struct Refresher {
    client: reqwest::Client,
    token_url: reqwest::Url,
    logout_url: reqwest::Url,
    api_key: HeaderValue,
    timeout: Duration,
    max_flights: usize,
    flights: Mutex<HashMap<Box<str>, Flight>>,
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

impl Refresher {
    pub(crate) fn new(
        auth_url: &str,
        api_key: HeaderValue,
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
            timeout,
            max_flights,
            flights: Mutex::new(HashMap::new()),
        })
    }

    /// The outcome of refreshing `refresh_token`, shared with every concurrent
    /// (and recent) caller holding the same token.
    pub(crate) async fn refresh(self: &Arc<Self>, refresh_token: &str) -> Outcome {
        let Some(mut outcome) = self.join_or_start(refresh_token) else {
            return Outcome::Unavailable;
        };
        match outcome.wait_for(Option::is_some).await {
            Ok(done) => done.clone().unwrap_or(Outcome::Unavailable),
            // The task ended without an answer (the runtime is shutting down).
            Err(_) => Outcome::Unavailable,
        }
    }

    /// The flight for this token, started if there is none. `None` when the
    /// map is full of live flights: answer 503 rather than grow.
    fn join_or_start(self: &Arc<Self>, refresh_token: &str) -> Option<watch::Receiver<Option<Outcome>>> {
        let now = Instant::now();
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = flights.get(refresh_token).filter(|f| f.until > now) {
            return Some(flight.outcome.clone());
        }
        if flights.len() >= self.max_flights {
            flights.retain(|_, f| f.until > now);
            if flights.len() >= self.max_flights {
                tracing::warn!("too many session refreshes in flight; answering 503");
                return None;
            }
        }
        let (tx, rx) = watch::channel(None);
        let key: Box<str> = refresh_token.into();
        flights.insert(
            key.clone(),
            Flight {
                outcome: rx.clone(),
                until: now + self.timeout + KEEP_DONE,
            },
        );
        drop(flights);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let outcome = this.call(&key).await;
            let (keep, label) = match outcome {
                Outcome::Refreshed(_) => (KEEP_DONE, "refreshed"),
                Outcome::Ended => (KEEP_DONE, "ended"),
                Outcome::Unavailable => (KEEP_UNAVAILABLE, "unavailable"),
            };
            // Once per GoTrue call, not per request: registering here costs nothing that matters.
            #[cfg(feature = "metrics")]
            metrics::counter!("auth_session_refreshes_total", "outcome" => label).increment(1);
            #[cfg(not(feature = "metrics"))]
            let _ = label;
            if let Some(flight) = this
                .flights
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_mut(&key)
            {
                flight.until = Instant::now() + keep;
            }
            tx.send_replace(Some(outcome));
        });
        Some(rx)
    }

    async fn call(&self, refresh_token: &str) -> Outcome {
        let body = serde_json::json!({ "refresh_token": refresh_token }).to_string();
        let request = self
            .client
            .post(self.token_url.clone())
            .header("apikey", self.api_key.clone())
            // The error shape auth-js asks for: {code, error_code, msg}.
            .header("x-supabase-api-version", "2024-01-01")
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        let Some((status, body)) = self.send(request).await else {
            tracing::warn!("session refresh: GoTrue did not answer in time");
            return Outcome::Unavailable;
        };
        if status.is_success() {
            return match new_session(&body) {
                Some(session) => Outcome::Refreshed(Arc::new(session)),
                None => {
                    tracing::warn!("session refresh: GoTrue's answer is not a session");
                    Outcome::Unavailable
                }
            };
        }
        let code = error_code(&body);
        if status.is_client_error() && code.is_some_and(|c| ENDED.contains(&c) || c == "invalid_grant") {
            tracing::info!(
                error_code = code.unwrap_or(""),
                "session refresh: GoTrue says the session is over"
            );
            return Outcome::Ended;
        }
        // A code we do not act on is still worth a line; only plain identifiers are logged.
        let code = code.filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        tracing::warn!(
            status = status.as_u16(),
            error_code = code.unwrap_or(""),
            "session refresh: GoTrue refused; answering 503"
        );
        Outcome::Unavailable
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
        match self.send(request).await {
            Some((status, _)) if status.is_success() => Ok(()),
            // auth-js treats these as "already signed out".
            Some((StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND, _)) => Ok(()),
            Some((status, _)) => {
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
    async fn send(&self, request: reqwest::RequestBuilder) -> Option<(StatusCode, Vec<u8>)> {
        tokio::time::timeout(self.timeout, async {
            let mut response = request.send().await.ok()?;
            let body = read_body(&mut response, MAX_BODY).await.ok()?;
            Some((response.status(), body))
        })
        .await
        .ok()
        .flatten()
    }
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
        session.insert("expires_at".into(), (crate::unix_now() + expires_in).into());
    }
    Some(NewSession {
        access_token,
        json: Value::Object(session).to_string(),
    })
}

/// `error_code` (API version 2024-01-01), or the older OAuth `error`.
fn error_code(body: &[u8]) -> Option<&str> {
    // Borrowed: the codes are plain identifiers without escapes.
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        error_code: Option<&'a str>,
        #[serde(borrow)]
        error: Option<&'a str>,
    }
    let body: Body<'_> = serde_json::from_slice(body).ok()?;
    body.error_code.or(body.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_error_shapes() {
        assert_eq!(
            error_code(
                br#"{"code":400,"error_code":"refresh_token_not_found","msg":"Invalid Refresh Token"}"#
            ),
            Some("refresh_token_not_found")
        );
        assert_eq!(
            error_code(br#"{"error":"invalid_grant","error_description":"x"}"#),
            Some("invalid_grant")
        );
        assert_eq!(error_code(b"<html>"), None);
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
    }
}
