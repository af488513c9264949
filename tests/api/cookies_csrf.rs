//! Cookie sessions: the CSRF rule, sign-out, CORS with credentials, and a
//! cookie identity under Row Level Security.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::cookie_support::*;

#[tokio::test]
async fn csrf_cookie_writes_need_an_allowed_origin() {
    let t = cookie_app().await;
    let refused =
        "a cookie-authenticated write needs an Origin header from an allowed origin (CSRF protection)";
    let session = t.sign_in("ada@example.com");
    let cookie = cookie_header(&session);
    for headers in [
        vec![],
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
    ] {
        let response = t.post("/api/auth/signout", &cookie, &headers).await;
        response.assert_error(StatusCode::FORBIDDEN, "cross_site_request", refused);
        assert_eq!(response.header("www-authenticate"), None);
    }
    assert_eq!(
        t.gotrue.counters.logout.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    // Safe methods pass without an Origin.
    assert_eq!(t.get("/api/me", &cookie).await.status, StatusCode::OK);
    for headers in [
        vec![("origin", ALLOWED)],
        vec![("sec-fetch-site", "same-origin")],
        vec![("origin", "http://api.test")],
    ] {
        let session = t.sign_in("ada@example.com");
        let response = t
            .post("/api/auth/signout", &cookie_header(&session), &headers)
            .await;
        assert_eq!(
            response.status,
            StatusCode::NO_CONTENT,
            "{headers:?}: {}",
            response.text()
        );
    }
    // The same POST with a bearer header and no Origin is accepted: a browser never adds one cross-site.
    let session = t.sign_in("ada@example.com");
    let bearer = format!("Bearer {}", session["access_token"].as_str().unwrap());
    let response = t
        .post("/api/auth/signout", "", &[("authorization", &bearer)])
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn sign_out_ends_the_session_at_gotrue_and_clears_the_cookies() {
    let t = cookie_app().await;
    let session = t
        .gotrue
        .sign_in("big@example.com", json!({ "bio": "b".repeat(6000) }));
    let cookie = cookie_header(&session);
    let response = t.post("/api/auth/signout", &cookie, &[("origin", ALLOWED)]).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_no_store(&response);
    let lines = set_cookies(&response.headers);
    let cleared: Vec<&str> = lines.iter().map(|l| l.split('=').next().unwrap()).collect();
    assert!(
        cleared.contains(&NAME) && cleared.contains(&format!("{NAME}.0").as_str()),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| l.contains("Max-Age=0")), "{lines:?}");
    assert!(!t.gotrue.is_active(session["refresh_token"].as_str().unwrap()));
    // Without a session it is a 401, and GoTrue down is a 503 with the cookies kept.
    assert_eq!(
        t.post("/api/auth/signout", "", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let session = t.sign_in("ada@example.com");
    t.gotrue.set(|k| k.fail_status = Some(502));
    let response = t.sign_out("/api/auth/signout", &session).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(set_cookies(&response.headers).is_empty());
}

#[tokio::test]
async fn sign_out_after_a_refresh_ends_the_new_session() {
    let t = cookie_app().await;
    t.gotrue.set(|k| k.sign_in_expires_in = -120);
    let session = t.sign_in("ada@example.com");
    let response = t.sign_out("/api/auth/signout", &session).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT, "{}", response.text());
    assert_eq!(t.gotrue.refresh_calls(), 1);
    assert!(!t.gotrue.is_active(session["refresh_token"].as_str().unwrap()));
    assert_eq!(
        t.gotrue
            .counters
            .bad_api_key
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn cors_allows_credentials_for_the_allowed_origin_only() {
    let t = cookie_app().await;
    let preflight = axum::http::Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/me")
        .header("origin", ALLOWED)
        .header("access-control-request-method", "POST")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = t.app.request(preflight).await;
    assert_eq!(response.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(response.header("access-control-allow-credentials"), Some("true"));
    let session = t.sign_in("ada@example.com");
    let response = t
        .app
        .request(request(
            Method::GET,
            "/api/me",
            &cookie_header(&session),
            &[("origin", "https://evil.example")],
        ))
        .await;
    assert_eq!(response.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn without_session_cookies_the_cookie_is_ignored() {
    let t = cookie_app().await;
    let session = t.sign_in("ada@example.com");
    let mut config = axum_supabase_auth::config::Config::for_tests(&t.app.secret);
    config.auth.project_url(&t.url);
    let plain = crate::helpers::TestApp::from_config(config, t.app.secret.clone());
    let response = plain
        .request(request(Method::GET, "/api/me", &cookie_header(&session), &[]))
        .await;
    response.assert_no_credentials("missing bearer token");
    assert_eq!(
        plain
            .request(request(Method::POST, "/api/auth/signout", "", &[]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// One identity, two channels: a cookie session reads and writes under the
/// same Row Level Security as its Bearer token, and the CSRF rule guards the write.
#[tokio::test]
async fn a_cookie_session_runs_its_queries_under_rls_as_its_user() {
    use axum::body::Body;
    use axum::http::{Request, header};
    let db = crate::pg_support::TestDb::new().await;
    let t = cookie_app().await;
    let app = app_with_config(
        &t.url,
        &t.app.secret,
        |_| {},
        |c| {
            c.database = Some(
                axum_supabase::db::Database::builder()
                    .url(db.server_url())
                    .clone(),
            );
        },
    );
    let (ada, bob) = (t.sign_in("ada@example.com"), t.sign_in("bob@example.com"));
    let post = |session: &serde_json::Value, origin: Option<&str>| {
        let mut r = Request::post("/api/todos")
            .header(header::HOST, "api.test")
            .header(header::COOKIE, cookie_header(session))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(origin) = origin {
            r = r.header(header::ORIGIN, origin);
        }
        r.body(Body::from(
            json!({ "title": "by cookie", "is_public": false }).to_string(),
        ))
        .unwrap()
    };
    let refused = app.request(post(&ada, None)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        crate::db_support::all_rows(&db).await.is_empty(),
        "a refused write wrote nothing"
    );
    let created = app.request(post(&ada, Some(ALLOWED))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let rows = crate::db_support::all_rows(&db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].1.to_string(),
        ada["user"]["id"].as_str().unwrap(),
        "owned by the cookie's user"
    );
    let list = |session: serde_json::Value| {
        let app = &app;
        async move {
            let r = app
                .request(request(Method::GET, "/api/todos", &cookie_header(&session), &[]))
                .await;
            r.json().as_array().unwrap().len()
        }
    };
    assert_eq!(list(ada.clone()).await, 1);
    assert_eq!(list(bob).await, 0, "another user's cookie does not see the row");
    let bearer = crate::db_support::list(&app, ada["access_token"].as_str()).await;
    assert_eq!(bearer.len(), 1, "the same user by Bearer sees the same rows");
}

#[tokio::test]
async fn sign_out_scopes_are_passed_on_and_others_refused() {
    let t = cookie_app().await;
    let (one, two) = (t.sign_in("ada@example.com"), t.sign_in("ada@example.com"));
    let bad = t.sign_out("/api/auth/signout?scope=everything", &one).await;
    bad.assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "scope must be local, global or others",
    );
    assert!(t.gotrue.is_active(one["refresh_token"].as_str().unwrap()));
    // local (the default) ends this session only; global ends every session of the user.
    let local = t.sign_out("/api/auth/signout", &one).await;
    assert_eq!(local.status, StatusCode::NO_CONTENT);
    assert!(!t.gotrue.is_active(one["refresh_token"].as_str().unwrap()));
    assert!(t.gotrue.is_active(two["refresh_token"].as_str().unwrap()));
    let three = t.sign_in("ada@example.com");
    let global = t.sign_out("/api/auth/signout?scope=global", &three).await;
    assert_eq!(global.status, StatusCode::NO_CONTENT);
    assert!(!t.gotrue.is_active(two["refresh_token"].as_str().unwrap()));
}
