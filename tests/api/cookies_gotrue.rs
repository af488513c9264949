//! Cookie sessions against GoTrue as its source says it answers: every error
//! shape and code, sessions ended elsewhere, bounds on what one token can
//! start, keys rotated away, and two replicas refreshing one cookie.

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::cookie_support::*;
use crate::gotrue_double::{ForcedError, Shape};
use crate::helpers::TestResponse;

/// The claims of a token, unverified (the test reads what it minted).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn forced(status: u16, code: &str, shape: Shape, header: bool) -> ForcedError {
    ForcedError {
        status,
        code: code.to_owned(),
        message: "from the table".to_owned(),
        shape,
        header,
        retry_after: None,
    }
}

/// An expired cookie sent once, with GoTrue answering its refresh with `error`.
async fn refresh_refused(error: ForcedError) -> (TestResponse, Jar) {
    let t = cookie_app().await;
    t.gotrue.set(|k| {
        k.sign_in_expires_in = -120;
        k.refresh_error = Some(error);
    });
    let cookie = cookie_header(&t.sign_in("ada@example.com"));
    let response = t.get("/api/me", &cookie).await;
    assert_eq!(t.gotrue.refresh_calls(), 1);
    let mut jar = Jar::from_header(&cookie);
    jar.apply(&response);
    (response, jar)
}

fn assert_ended(response: &TestResponse, jar: &Jar, case: &str) {
    assert_eq!(
        response.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {}",
        response.text()
    );
    response.assert_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "session ended");
    assert!(jar.session_names().is_empty(), "{case}: the jar keeps {jar:?}");
}

fn assert_kept(response: &TestResponse, jar: &Jar, retry_after: &str, case: &str) {
    assert_eq!(
        response.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{case}: {}",
        response.text()
    );
    assert_eq!(response.header("retry-after"), Some(retry_after), "{case}");
    assert!(set_cookies(&response.headers).is_empty(), "{case}");
    assert!(jar.session().is_some(), "{case}");
}

/// Every code with which GoTrue's refresh grant says the token can never work
/// again (`internal/tokens/service.go`, `token_refresh.go`), in both body
/// shapes, with and without `x-sb-error-code`: 401 and every cookie cleared.
/// Busy, limited, failing or gateway answers: 503, cookies kept.
#[tokio::test]
async fn every_refresh_error_gotrue_writes_is_read_as_it_means() {
    let ended = [
        "refresh_token_not_found",
        "refresh_token_already_used",
        "session_not_found",
        "session_expired",
        "user_banned",
        "user_not_found",
        "validation_failed",
    ];
    for code in ended {
        for shape in [Shape::Versioned, Shape::Initial] {
            for header in [true, false] {
                let (response, jar) = refresh_refused(forced(400, code, shape, header)).await;
                assert_ended(&response, &jar, &format!("{code} {shape:?} header={header}"));
            }
        }
    }
    for code in ["invalid_grant", "invalid_client"] {
        let (response, jar) = refresh_refused(forced(400, code, Shape::OAuth, false)).await;
        assert_ended(&response, &jar, code);
    }
    // GoTrue's rate limit: 429, no Retry-After of its own; a proxy's is passed on.
    for shape in [Shape::Versioned, Shape::Initial] {
        for header in [true, false] {
            let error = forced(429, "over_request_rate_limit", shape, header);
            let (response, jar) = refresh_refused(error).await;
            assert_kept(
                &response,
                &jar,
                "2",
                &format!("rate limit {shape:?} header={header}"),
            );
        }
    }
    let mut proxied = forced(429, "", Shape::Initial, false);
    proxied.retry_after = Some(7);
    let (response, jar) = refresh_refused(proxied).await;
    assert_kept(&response, &jar, "7", "a proxy's 429");
    for (status, code) in [
        (409, "conflict"),
        (500, "unexpected_failure"),
        (504, "request_timeout"),
        (502, ""),
        (422, "hook_timeout"),
    ] {
        for shape in [Shape::Versioned, Shape::Initial] {
            let (response, jar) = refresh_refused(forced(status, code, shape, true)).await;
            assert_kept(&response, &jar, "2", &format!("{status} {code:?} {shape:?}"));
        }
    }
}

/// The gateway refusing our API key is our configuration, not the user's
/// session: 503, cookies kept, and one error line naming the variable.
#[tokio::test]
async fn a_refused_api_key_is_503_and_an_error_naming_the_variable() {
    use axum_supabase_auth::config::LogFormat;
    let (capture, _guard) = crate::logging::Capture::start(LogFormat::Json);
    let t = cookie_app_with(|s| {
        s.api_key("sb_publishable_not-the-projects-key");
    })
    .await;
    t.gotrue.set(|k| k.sign_in_expires_in = -120);
    let cookie = cookie_header(&t.sign_in("ada@example.com"));
    let response = t.get("/api/me", &cookie).await;
    let mut jar = Jar::from_header(&cookie);
    jar.apply(&response);
    assert_kept(&response, &jar, "2", "gateway 401");
    assert_eq!(
        t.gotrue
            .counters
            .bad_api_key
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let logs = capture.text();
    let errors: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(r#""level":"ERROR""#))
        .collect();
    assert_eq!(errors.len(), 1, "{logs}");
    assert!(errors[0].contains("SUPABASE_PUBLISHABLE_KEY"), "{logs}");
    assert!(!logs.contains("not-the-projects-key"), "{logs}");
}

/// Signed out on another device, then refreshed here: GoTrue deleted the
/// session and its tokens, so the refresh is `refresh_token_not_found`.
#[tokio::test]
async fn a_sign_out_on_another_device_ends_the_session_here() {
    let t = cookie_app().await;
    t.gotrue.set(|k| k.sign_in_expires_in = -120);
    let here = t.sign_in("ada@example.com");
    t.gotrue.set(|k| k.sign_in_expires_in = 3600);
    let elsewhere = t.sign_in("ada@example.com");
    let signed_out = t.sign_out("/api/auth/signout?scope=global", &elsewhere).await;
    assert_eq!(signed_out.status, StatusCode::NO_CONTENT, "{}", signed_out.text());
    let cookie = cookie_header(&here);
    let response = t.get("/api/me", &cookie).await;
    let mut jar = Jar::from_header(&cookie);
    jar.apply(&response);
    assert_ended(&response, &jar, "signed out elsewhere");
}

#[tokio::test]
async fn a_banned_user_is_signed_out_at_the_next_refresh() {
    let t = cookie_app().await;
    t.gotrue.set(|k| k.sign_in_expires_in = -120);
    let session = t.sign_in("mallory@example.com");
    t.gotrue.ban("mallory@example.com");
    let cookie = cookie_header(&session);
    let response = t.get("/api/me", &cookie).await;
    let mut jar = Jar::from_header(&cookie);
    jar.apply(&response);
    assert_ended(&response, &jar, "banned");
}

/// A refresh token GoTrue could never have issued is refused here: shorter
/// than GoTrue's minimum of 12 characters, longer than 512, or not of its alphabet.
#[tokio::test]
async fn refresh_tokens_gotrue_never_issues_are_refused_without_asking_it() {
    let t = cookie_app().await;
    t.gotrue.set(|k| k.sign_in_expires_in = -120);
    for bad in ["short".to_owned(), "x".repeat(513), "has spaces in it".to_owned()] {
        let mut session = t.sign_in("ada@example.com");
        session["refresh_token"] = json!(bad);
        let cookie = cookie_header(&session);
        let response = t.get("/api/me", &cookie).await;
        let mut jar = Jar::from_header(&cookie);
        jar.apply(&response);
        assert_ended(&response, &jar, &bad[..5]);
    }
    assert_eq!(t.gotrue.refresh_calls(), 0);
}

/// One genuine expired access token, sent with 1,000 different refresh
/// tokens by 8 concurrent clients: flights are per session, so GoTrue sees
/// at most 5 calls, and the refresher holds under 1 MiB.
#[tokio::test]
async fn one_expired_token_with_a_thousand_refresh_tokens_makes_at_most_five_calls() {
    let t = cookie_app().await;
    t.gotrue.set(|k| {
        k.sign_in_expires_in = -120;
        k.delay_ms = 20;
    });
    let access = t.sign_in("victim@example.com")["access_token"].clone();
    let clients = (0..8).map(|client| {
        let router = t.app.router();
        let access = access.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..125 {
                // GoTrue-shaped tokens: 12 characters (v1) or 60 of base64url (v2).
                let random = uuid::Uuid::new_v4().simple().to_string();
                let refresh = if i % 2 == 0 {
                    random[..12].to_owned()
                } else {
                    format!("{random}{}", &uuid::Uuid::new_v4().simple().to_string()[..28])
                };
                let cookie = cookie_header(&json!({"access_token": access, "refresh_token": refresh}));
                let request = request(Method::GET, "/api/me", &cookie, &[]);
                let response = tower::ServiceExt::oneshot(router.clone(), request).await.unwrap();
                statuses.push((client, response.status()));
            }
            statuses
        })
    });
    let mut statuses = Vec::new();
    for client in clients.collect::<Vec<_>>() {
        statuses.extend(client.await.unwrap());
    }
    assert_eq!(statuses.len(), 1000);
    assert!(
        statuses
            .iter()
            .all(|(_, s)| matches!(*s, StatusCode::UNAUTHORIZED | StatusCode::SERVICE_UNAVAILABLE)),
        "{statuses:?}"
    );
    let calls = t.gotrue.refresh_calls();
    let (entries, bytes) = t.state.sessions.as_ref().unwrap().refresh_memory();
    eprintln!("1000 refresh tokens for one session: {calls} GoTrue calls, {entries} entries, {bytes} bytes");
    assert!(calls <= 5, "{calls} GoTrue calls");
    assert!(bytes < 1024 * 1024, "{bytes} bytes held");
}

/// Supabase rotated its signing key and the old one left the JWKS: a cookie
/// whose expired token it signed is refreshed on expiry alone, as
/// `@supabase/ssr` does, and what GoTrue returns is verified as usual.
#[tokio::test]
async fn an_expired_token_whose_key_left_the_jwks_is_refreshed() {
    use crate::jwks_support::{JwksServer, SigningKey, wait_for};
    let (old_key, new_key) = (SigningKey::es256(), SigningKey::es256());
    let jwks = JwksServer::start(vec![new_key.jwk("current")]).await;
    let secret = crate::helpers::random_secret();
    let gotrue = GoTrue::new(secret.as_bytes(), API_KEY);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = gotrue.serve(listener).await.unwrap();
    let (app, state) = app_and_state(&url, &secret, |_| {}, |c| jwks.config().apply(&mut c.auth));
    wait_for(|| state.verifier.jwks().unwrap().status().ready, "the JWKS").await;
    gotrue.set(|k| k.sign_in_expires_in = -120);
    let session = gotrue.sign_in("ada@example.com", json!({}));
    let old = claims(session["access_token"].as_str().unwrap());
    let issuer = format!("{url}/auth/v1");
    let token = |expires_in: i64, issuer: &str| {
        let token = axum_supabase::testing::Token::user()
            .subject(old["sub"].as_str().unwrap().parse::<uuid::Uuid>().unwrap())
            .issuer(issuer)
            .email("ada@example.com")
            .claim("session_id", old["session_id"].clone())
            .expires_in(expires_in);
        old_key.sign(&token, "retired")
    };
    let send = |access: String| {
        let cookie =
            cookie_header(&json!({"access_token": access, "refresh_token": session["refresh_token"]}));
        app.request(request(Method::GET, "/api/me", &cookie, &[]))
    };
    // Not expired: the key is simply unknown, and nothing is refreshed.
    let live = send(token(600, &issuer)).await;
    assert_eq!(live.status, StatusCode::UNAUTHORIZED);
    // Expired, but for another issuer: not ours to refresh.
    let foreign = send(token(-120, "https://elsewhere.supabase.co/auth/v1")).await;
    assert_eq!(foreign.status, StatusCode::UNAUTHORIZED);
    assert_eq!(gotrue.refresh_calls(), 0);
    let response = send(token(-120, &issuer)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["email"], "ada@example.com");
    let refreshed = session_from(&set_cookies(&response.headers)).expect("a refreshed session");
    assert_ne!(refreshed["refresh_token"], session["refresh_token"]);
    assert_eq!(gotrue.refresh_calls(), 1);
}

/// Two server processes behind one load balancer get the same expired cookie
/// at once, ten requests each: GoTrue hands the second the first's new token
/// (the parent of the active token gets the active token), so every request
/// is the same user, with at most one GoTrue call per replica.
#[tokio::test]
async fn two_replicas_refreshing_one_cookie_at_once_serve_the_same_user() {
    use crate::process::Server;
    let secret = crate::helpers::random_secret();
    let gotrue = GoTrue::new(secret.as_bytes(), API_KEY);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = gotrue.serve(listener).await.unwrap();
    let vars = [
        ("SUPABASE_URL", url.as_str()),
        ("SUPABASE_JWT_SECRET", secret.as_str()),
        ("SUPABASE_JWKS_URL", "off"),
        ("SESSION_COOKIES", "on"),
        ("SUPABASE_PUBLISHABLE_KEY", API_KEY),
        ("RUST_LOG", "warn"),
    ];
    let replicas = [Server::start(&vars).await, Server::start(&vars).await];
    gotrue.set(|k| {
        k.sign_in_expires_in = -120;
        // Long enough that both replicas' calls overlap.
        k.delay_ms = 200;
    });
    let cookie = cookie_header(&gotrue.sign_in("ada@example.com", json!({})));
    let client = reqwest::Client::new();
    let requests: Vec<_> = (0..20)
        .map(|i| {
            let request = client
                .get(replicas[i % 2].url("/api/me"))
                .header("cookie", &cookie)
                .send();
            tokio::spawn(async move {
                let response = request.await.unwrap();
                let status = response.status();
                let body = response.bytes().await.unwrap();
                (status, serde_json::from_slice::<Value>(&body).unwrap_or_default())
            })
        })
        .collect();
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        assert_eq!(body["email"], "ada@example.com");
    }
    let calls = gotrue.refresh_calls();
    assert!((1..=2).contains(&calls), "{calls} GoTrue calls");
    for mut replica in replicas {
        assert!(replica.stop().await.success(), "{}", replica.stderr());
    }
}
