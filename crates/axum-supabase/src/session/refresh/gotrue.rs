//! The calls to GoTrue (`POST /token?grant_type=refresh_token` and
//! `POST /logout`), and what their answers mean: read as GoTrue's source
//! writes them (supabase/auth `internal/api/errors.go`, `apiversions.go`,
//! `token_refresh.go`, `internal/tokens/service.go`).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use super::{KEEP_UNAVAILABLE, Outcome, Refresher, unavailable};
use crate::bounded_body::read_body;

/// The longest `Retry-After` from GoTrue that is passed on.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The most bytes read from a GoTrue answer.
/// (A session bigger than a cookie can carry is of no use.)
const MAX_BODY: usize = super::super::codec::MAX_VALUE_BYTES;
/// GoTrue's own minimum (`internal/api/token_refresh.go`, `Validate`).
const MIN_REFRESH_TOKEN: usize = 12;
/// GoTrue's tokens are 12 characters (v1) or about 51–60 (v2); more is not one of them.
const MAX_REFRESH_TOKEN: usize = 512;
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

/// A session GoTrue issued: its access token, and the JSON to store.
pub(crate) struct NewSession {
    pub(crate) access_token: String,
    pub(crate) json: String,
}

/// Why signing out did not reach GoTrue.
#[derive(Debug)]
pub(crate) struct LogoutUnavailable;

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

impl Refresher {
    /// One refresh at GoTrue, and what its answer means (plus a cooldown for
    /// every session when GoTrue's rate limit was hit).
    pub(super) async fn call(&self, refresh_token: &str) -> (Outcome, Option<Duration>) {
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

/// Whether `token` could be a GoTrue refresh token: v1 is 12 characters of
/// `[a-z0-9]`, v2 unpadded base64url (`internal/crypto/refresh_tokens.go`).
/// Anything else is refused without asking GoTrue.
pub(super) fn is_plausible(token: &str) -> bool {
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
