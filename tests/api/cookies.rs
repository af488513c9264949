//! Cookie sessions: `@supabase/ssr` cookies read, refreshed through the GoTrue
//! test double once per refresh token, written back; failures; logs and metrics.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::cookie_support::*;

#[tokio::test]
async fn a_session_cookie_is_the_user_without_any_refresh() {
    let t = cookie_app().await;
    let session = t.sign_in("ada@example.com");
    let response = t.get("/api/me", &cookie_header(&session)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["email"], "ada@example.com");
    assert!(set_cookies(&response.headers).is_empty());
    // Shared caches may store answers to requests with cookies: this one is private.
    assert_eq!(response.header("cache-control"), Some("private"));
    assert_eq!(response.header("vary"), Some("Cookie"));
    assert_eq!(t.gotrue.refresh_calls(), 0);
    // The same cached token again (the layer's fast path), and by Bearer: no cache policy is added.
    assert_eq!(
        t.get("/api/me", &cookie_header(&session))
            .await
            .header("cache-control"),
        Some("private")
    );
    let bearer = t
        .app
        .get_bearer("/api/me", session["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        (bearer.status, bearer.header("cache-control")),
        (StatusCode::OK, None)
    );
    // The optional-login route sees the same user.
    let greeting = t.get("/api/greeting", &cookie_header(&session)).await;
    assert_eq!(greeting.json()["message"], "hello, ada@example.com");
}

#[tokio::test]
async fn a_chunked_session_with_large_metadata_is_read() {
    let t = cookie_app().await;
    let session = t
        .gotrue
        .sign_in("big@example.com", json!({ "bio": "b".repeat(6000) }));
    let cookie = cookie_header(&session);
    assert!(cookie.contains(&format!("{NAME}.2=")), "expected 3+ chunks");
    let response = t.get("/api/me", &cookie).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["email"], "big@example.com");
}

#[tokio::test]
async fn an_authorization_header_decides_alone() {
    let t = cookie_app().await;
    let session = t.sign_in("ada@example.com");
    let good_cookie = cookie_header(&session);
    let bad_bearer = [("authorization", "Bearer not-a-token")];
    let response = t
        .app
        .request(request(Method::GET, "/api/me", &good_cookie, &bad_bearer))
        .await;
    response.assert_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "malformed token");
    let bearer = format!("Bearer {}", session["access_token"].as_str().unwrap());
    let garbage_cookie = format!("{NAME}=base64-!!!");
    let response = t
        .app
        .request(request(
            Method::GET,
            "/api/me",
            &garbage_cookie,
            &[("authorization", &bearer)],
        ))
        .await;
    assert_eq!(response.status, StatusCode::OK);
}

#[tokio::test]
async fn twenty_concurrent_requests_with_one_expired_cookie_share_one_refresh() {
    let t = cookie_app().await;
    t.gotrue.set(|k| {
        k.sign_in_expires_in = -120;
        k.delay_ms = 300;
    });
    let old = t.sign_in("ada@example.com");
    let cookie = cookie_header(&old);
    let requests = (0..20).map(|_| {
        let router = t.app.router();
        let request = request(Method::GET, "/api/me", &cookie, &[]);
        tokio::spawn(async move {
            let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
            crate::helpers::TestResponse::from(response).await
        })
    });
    let responses: Vec<_> = futures_join(requests).await;
    assert_eq!(t.gotrue.refresh_calls(), 1, "one refresh call for 20 requests");
    let mut sessions = Vec::new();
    for response in &responses {
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_eq!(response.json()["email"], "ada@example.com");
        assert_no_store(response);
        sessions.push(session_from(&set_cookies(&response.headers)).expect("a new session cookie"));
    }
    let first = &sessions[0];
    assert_ne!(first["refresh_token"], old["refresh_token"]);
    assert_ne!(first["access_token"], old["access_token"]);
    assert!(
        sessions.iter().all(|s| s == first),
        "all 20 got the same new session"
    );
    // The new cookie is the user, with no further refresh.
    let again = t.get("/api/me", &cookie_header(first)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(set_cookies(&again.headers).is_empty());
    assert_eq!(t.gotrue.refresh_calls(), 1);
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_token_within_the_90_second_margin_is_refreshed_and_written_back() {
    let t = cookie_app().await;
    t.gotrue.set(|k| k.sign_in_expires_in = 60);
    let old = t.sign_in("ada@example.com");
    let response = t.get("/api/me", &cookie_header(&old)).await;
    assert_eq!(response.status, StatusCode::OK);
    let lines = set_cookies(&response.headers);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.starts_with(&format!("{NAME}=base64-")), "{line}");
    for part in ["Path=/", "SameSite=Lax", "Max-Age=34560000"] {
        assert!(line.contains(part), "{line}");
    }
    assert!(!line.contains("HttpOnly") && !line.contains("Secure"), "{line}");
    assert_no_store(&response);
    let new = session_from(&lines).unwrap();
    assert!(new["expires_at"].as_i64().unwrap() > old["expires_at"].as_i64().unwrap());
    assert_eq!(new["user"]["email"], "ada@example.com");
    assert_eq!(new["token_type"], "bearer");
}

#[tokio::test]
async fn secure_over_https_and_http_only_when_configured() {
    let t = cookie_app_with(|s| {
        s.http_only(true);
    })
    .await;
    t.gotrue.set(|k| k.sign_in_expires_in = 10);
    let old = t.sign_in("ada@example.com");
    let proxied = [("x-forwarded-proto", "https")];
    let response = t
        .app
        .request(request(Method::GET, "/api/me", &cookie_header(&old), &proxied))
        .await;
    let lines = set_cookies(&response.headers);
    assert!(
        lines[0].contains("HttpOnly") && lines[0].contains("Secure"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_grown_session_deletes_the_single_cookie_and_a_shrunk_one_its_chunks() {
    let t = cookie_app().await;
    t.gotrue.set(|k| k.sign_in_expires_in = 10);
    // A chunked cookie whose refresh is small: the stale chunks are deleted.
    let old = t.gotrue.sign_in("ada@example.com", json!({}));
    let mut bloated = old.clone();
    bloated["padding"] = json!("p".repeat(5000));
    let response = t.get("/api/me", &cookie_header(&bloated)).await;
    let lines = set_cookies(&response.headers);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{NAME}.0=;")) && l.contains("Max-Age=0")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{NAME}.1=;"))),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{NAME}=base64-"))),
        "{lines:?}"
    );
    assert!(session_from(&lines).is_some());
}

#[tokio::test]
async fn a_session_gotrue_calls_over_clears_the_cookies_with_401() {
    let t = cookie_app().await;
    t.gotrue.set(|k| {
        k.sign_in_expires_in = -120;
        k.refresh_expires_in = 60;
        k.reuse_interval_secs = 0;
    });
    let session = t.sign_in("ada@example.com");
    // One server refreshes twice (GoTrue rotates the token each time); a
    // second server, which has seen neither, presents the first token: it is
    // no longer the parent of the active one, and outside the reuse interval,
    // so it is "already used", and GoTrue revokes the whole family.
    let refreshed = t.get("/api/me", &cookie_header(&session)).await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let second = session_from(&set_cookies(&refreshed.headers)).unwrap();
    let refreshed = t.get("/api/me", &cookie_header(&second)).await;
    assert_eq!(refreshed.status, StatusCode::OK);
    assert_eq!(t.gotrue.refresh_calls(), 2);
    let t2 = app_for(&t.url, &t.app.secret, |_| {});
    let response = t2
        .request(request(Method::GET, "/api/me", &cookie_header(&session), &[]))
        .await;
    response.assert_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "session ended");
    let lines = set_cookies(&response.headers);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("{NAME}=;")) && lines[0].contains("Max-Age=0"),
        "{lines:?}"
    );
    assert_no_store(&response);
    assert!(
        !t.gotrue.is_active(session["refresh_token"].as_str().unwrap()),
        "reuse revoked the session"
    );
    // A token that just failed is not sent again.
    let calls = t.gotrue.refresh_calls();
    let again = t2
        .request(request(Method::GET, "/api/me", &cookie_header(&session), &[]))
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(t.gotrue.refresh_calls(), calls);
}

#[tokio::test]
async fn unknown_refresh_tokens_end_the_session() {
    let t = cookie_app().await;
    t.gotrue.set(|k| k.sign_in_expires_in = -120);
    let mut session = t.sign_in("ada@example.com");
    session["refresh_token"] = json!("unknown-token");
    let response = t.get("/api/me", &cookie_header(&session)).await;
    response.assert_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "session ended");
    assert!(set_cookies(&response.headers)[0].contains("Max-Age=0"));
}

#[tokio::test]
async fn gotrue_failing_is_503_with_retry_after_and_the_cookies_untouched() {
    let t = cookie_app().await;
    t.gotrue.set(|k| {
        k.sign_in_expires_in = -120;
        k.fail_status = Some(503);
    });
    let session = t.sign_in("ada@example.com");
    let response = t.get("/api/me", &cookie_header(&session)).await;
    response.assert_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the session could not be refreshed right now; retry shortly",
    );
    assert_eq!(response.header("retry-after"), Some("2"));
    assert_eq!(response.header("www-authenticate"), None);
    assert!(set_cookies(&response.headers).is_empty());
    // Within the retry interval the same token is not sent again; after it, it is.
    let _ = t.get("/api/me", &cookie_header(&session)).await;
    assert_eq!(t.gotrue.refresh_calls(), 1);
    t.gotrue.set(|k| k.fail_status = None);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = t.get("/api/me", &cookie_header(&session)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(t.gotrue.refresh_calls(), 2);
    assert!(session_from(&set_cookies(&response.headers)).is_some());
}

#[tokio::test]
async fn gotrue_slow_or_unreachable_is_503() {
    let t = cookie_app_with(|s| {
        s.refresh_timeout(Duration::from_millis(200));
    })
    .await;
    t.gotrue.set(|k| {
        k.sign_in_expires_in = -120;
        k.delay_ms = 2000;
    });
    let session = t.sign_in("ada@example.com");
    let response = t.get("/api/me", &cookie_header(&session)).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    // Nothing listens on the project URL at all.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let app = app_for(&closed, &t.app.secret, |_| {});
    let token = t.app.sign(
        t.app
            .token()
            .issuer(&format!("{closed}/auth/v1"))
            .expires_in(-120),
    );
    let cookie = cookie_header(&json!({"access_token": token, "refresh_token": "abcdefgh2345"}));
    let response = app.request(request(Method::GET, "/api/me", &cookie, &[])).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.header("retry-after"), Some("2"));
}

#[tokio::test]
async fn a_still_valid_token_is_served_when_its_refresh_fails() {
    let t = cookie_app().await;
    t.gotrue.set(|k| {
        k.sign_in_expires_in = 30;
        k.fail_status = Some(500);
    });
    let session = t.sign_in("ada@example.com");
    let response = t.get("/api/me", &cookie_header(&session)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(set_cookies(&response.headers).is_empty());
    assert_eq!(t.gotrue.refresh_calls(), 1);
}

#[tokio::test]
async fn an_expired_cookie_without_a_refresh_token_is_401_expired() {
    let t = cookie_app().await;
    let token = t.app.sign(
        t.app
            .token()
            .issuer(&format!("{}/auth/v1", t.url))
            .expires_in(-120),
    );
    let response = t
        .get("/api/me", &cookie_header(&json!({ "access_token": token })))
        .await;
    response.assert_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "token expired");
    assert_eq!(t.gotrue.refresh_calls(), 0);
}

#[tokio::test]
async fn a_forged_cookie_is_401_and_never_refreshed() {
    let t = cookie_app().await;
    let forged = t
        .app
        .token()
        .issuer(&format!("{}/auth/v1", t.url))
        .expires_in(-120)
        .sign(b"another-secret-of-enough-length-32b")
        .unwrap();
    let cookie = cookie_header(&json!({ "access_token": forged, "refresh_token": "r" }));
    let response = t.get("/api/me", &cookie).await;
    response.assert_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "invalid signature");
    assert_eq!(t.gotrue.refresh_calls(), 0);
}

#[tokio::test]
async fn garbage_oversized_and_endless_cookies_are_a_clean_401() {
    // Heads up to the largest cap, so that the cookie reader's own bounds are what is tested.
    let t = cookie_app_configured(|_| {}, |c| c.serve.max_header_bytes = 1024 * 1024).await;
    let many: Vec<String> = (0..300).map(|i| format!("{NAME}.{i}=YWFh")).collect();
    let huge_chunks: Vec<String> = (0..40)
        .map(|i| format!("{NAME}.{i}={}", "A".repeat(3180)))
        .collect();
    for cookie in [
        format!("{NAME}=base64-%%%"),
        format!("{NAME}=base64-{}", "A".repeat(200_000)),
        format!("{NAME}={{\"access_token\":"),
        format!("{NAME}=base64-e30"),
        format!("{NAME}.0=base64-; {NAME}.1=garbage"),
        many.join("; "),
        huge_chunks.join("; "),
        format!("{NAME}=\u{e9}t\u{e9}"),
        "a=b; ; ;=; sb-127-auth-token".to_owned(),
    ] {
        let response = t.app.request(request(Method::GET, "/api/me", &cookie, &[])).await;
        response.assert_no_credentials("missing bearer token");
        assert!(set_cookies(&response.headers).is_empty());
        let optional = t
            .app
            .request(crate::cookie_support::request(
                Method::GET,
                "/api/greeting",
                &cookie,
                &[],
            ))
            .await;
        assert_eq!(optional.status, StatusCode::OK, "{cookie:.40}");
    }
    assert_eq!(t.gotrue.refresh_calls(), 0);
}

#[tokio::test]
async fn without_a_session_cookie_the_bearer_only_answers_stand() {
    let t = cookie_app().await;
    let session = t.sign_in("ada@example.com");
    let token = session["access_token"].as_str().unwrap();
    // A token in the query still gets the hint it gets without cookie mode.
    let in_query = t.get(&format!("/api/me?access_token={token}"), "").await;
    in_query.assert_no_credentials(
        "tokens in the query string are not accepted; send Authorization: Bearer <token>",
    );
    assert!(!in_query.text().contains(token));
    let optional = t.get("/api/greeting", "").await;
    assert_eq!(optional.status, StatusCode::OK);
    // No cookie authenticated it: no private-cache marking.
    assert_eq!(optional.header("cache-control"), None);
    assert!(
        optional
            .headers
            .get_all("vary")
            .iter()
            .all(|v| !v.as_bytes().eq_ignore_ascii_case(b"cookie")),
        "{:?}",
        optional.headers
    );
}

/// The log-leak test for the cookie path: every outcome, a refresh included,
/// traced at TRACE level (our logs, reqwest's and hyper's), holds no cookie,
/// no token, no refresh token and no API key.
#[tokio::test]
async fn the_cookie_path_logs_no_cookie_token_or_api_key() {
    use axum_supabase_auth::config::LogFormat;
    let (capture, _guard) = crate::logging::Capture::start(LogFormat::Json);

    let t = cookie_app().await;
    let mut secrets = vec![API_KEY.to_owned(), t.app.secret.clone()];
    let mut remember = |session: &serde_json::Value, cookie: &str| {
        for field in ["access_token", "refresh_token"] {
            secrets.extend(session[field].as_str().map(str::to_owned));
        }
        secrets.extend(
            cookie
                .split(['=', ';'])
                .filter(|p| p.len() >= 16)
                .map(str::to_owned),
        );
    };
    let fresh = t.sign_in("ada@example.com");
    let cookie = cookie_header(&fresh);
    remember(&fresh, &cookie);
    assert_eq!(t.get("/api/me", &cookie).await.status, StatusCode::OK);
    t.gotrue.set(|k| k.sign_in_expires_in = -120);
    let expired = t.sign_in("ada@example.com");
    let cookie = cookie_header(&expired);
    remember(&expired, &cookie);
    let refreshed = t.get("/api/me", &cookie).await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let lines = set_cookies(&refreshed.headers);
    let new = session_from(&lines).unwrap();
    remember(&new, &lines.join("; "));
    let signed_out = t
        .post("/api/auth/signout", &cookie_header(&new), &[("origin", ALLOWED)])
        .await;
    assert_eq!(signed_out.status, StatusCode::NO_CONTENT);
    let cross_site = t
        .post(
            "/api/auth/signout",
            &cookie,
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    let mut unknown = t.sign_in("ada@example.com");
    unknown["refresh_token"] = json!("unknown-refresh-token-value");
    let cookie = cookie_header(&unknown);
    remember(&unknown, &cookie);
    assert_eq!(t.get("/api/me", &cookie).await.status, StatusCode::UNAUTHORIZED);
    t.gotrue.set(|k| k.fail_status = Some(503));
    let down = t.sign_in("ada@example.com");
    let cookie = cookie_header(&down);
    remember(&down, &cookie);
    assert_eq!(
        t.get("/api/me", &cookie).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let logs = capture.text();
    assert!(
        logs.lines().count() >= 20,
        "too few log lines to mean anything:\n{logs}"
    );
    assert!(logs.contains("GoTrue says the session is over"), "{logs}");
    assert!(logs.contains("GoTrue refused; answering 503"), "{logs}");
    assert!(!logs.contains("base64-"), "a cookie value is in the logs");
    assert!(!logs.contains("eyJ"), "something JWT-shaped is in the logs");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a credential is in the logs: {secret:.6}…"
        );
    }
}

/// GoTrue calls are counted by outcome, once per call; CSRF refusals are an auth outcome.
#[test]
fn refreshes_and_csrf_refusals_are_counted_without_identities() {
    use crate::ops::with_own_recorder;
    let mut seen = Vec::new();
    let text = with_own_recorder(async {
        let t = cookie_app().await;
        t.gotrue.set(|k| k.sign_in_expires_in = -120);
        let expired = t.sign_in("metrics@example.com");
        for _ in 0..3 {
            assert_eq!(
                t.get("/api/me", &cookie_header(&expired)).await.status,
                StatusCode::OK
            );
        }
        let mut unknown = t.sign_in("metrics@example.com");
        unknown["refresh_token"] = json!("unknown-token");
        assert_eq!(
            t.get("/api/me", &cookie_header(&unknown)).await.status,
            StatusCode::UNAUTHORIZED
        );
        t.gotrue.set(|k| k.fail_status = Some(503));
        let down = t.sign_in("metrics@example.com");
        assert_eq!(
            t.get("/api/me", &cookie_header(&down)).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let fresh = t.gotrue.sign_in("metrics@example.com", json!({}));
        let cross = t.post("/api/auth/signout", &cookie_header(&fresh), &[]).await;
        assert_eq!(cross.status, StatusCode::FORBIDDEN);
        seen.extend([expired, unknown, down, fresh]);
    });
    for (series, count) in [
        (r#"auth_session_refreshes_total{outcome="refreshed"}"#, 1.0),
        (r#"auth_session_refreshes_total{outcome="ended"}"#, 1.0),
        (r#"auth_session_refreshes_total{outcome="unavailable"}"#, 1.0),
        (r#"auth_outcomes_total{outcome="cross_site"}"#, 1.0),
        (r#"auth_outcomes_total{outcome="session_ended"}"#, 1.0),
        (r#"auth_outcomes_total{outcome="refresh_unavailable"}"#, 1.0),
    ] {
        assert_eq!(
            crate::ops::sample(&text, series),
            Some(count),
            "{series} in:\n{text}"
        );
    }
    assert!(!text.contains("metrics@example.com") && !text.contains("eyJ") && !text.contains("base64-"));
    for session in &seen {
        assert!(!text.contains(session["refresh_token"].as_str().unwrap()));
    }
}
