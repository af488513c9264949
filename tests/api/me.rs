//! `/api/me` and `/api/greeting`: what a verified caller sees.

use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestApp;

#[tokio::test]
async fn me_returns_the_callers_identity() {
    let app = TestApp::new();
    let sub = Uuid::new_v4();
    let token = app.sign(
        app.token()
            .subject(sub)
            .email("ada@example.com")
            .aal("aal2")
            .claim("session_id", "s-1"),
    );
    let response = app.get_bearer("/api/me", &token).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert_eq!(body["sub"], sub.to_string());
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["role"], "authenticated");
    assert_eq!(body["aal"], "aal2");
    assert_eq!(body["is_anonymous"], false);
    assert_eq!(body["session_id"], "s-1");
    assert!(body["expires_at"].as_i64().is_some());
}

#[tokio::test]
async fn anonymous_sign_ins_and_phone_users_are_users_too() {
    let app = TestApp::new();
    let token = app.sign(app.token().without("email").anonymous(true).phone("+15550100"));
    let body = app.get_bearer("/api/me", &token).await.json();
    assert_eq!(body["email"], json!(null));
    assert_eq!(body["phone"], "+15550100");
    assert_eq!(body["is_anonymous"], true);
}

#[tokio::test]
async fn amr_accepts_objects_and_plain_strings() {
    let app = TestApp::new();
    let token = app.sign(
        app.token()
            .claim("amr", json!([{"method": "totp", "timestamp": 1}, "pwd"])),
    );
    assert_eq!(app.get_bearer("/api/me", &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn custom_hook_claims_and_roles_are_kept() {
    let app = TestApp::new();
    let token = app.sign(app.token().role("editor").claim("user_role", "moderator"));
    let body = app.get_bearer("/api/me", &token).await.json();
    assert_eq!(body["role"], "editor");
}

#[tokio::test]
async fn optional_login_route_greets_guests_and_users_but_refuses_bad_tokens() {
    let app = TestApp::new();
    assert_eq!(app.get("/api/greeting").await.json()["message"], "hello, guest");
    let token = app.valid_token();
    assert_eq!(
        app.get_bearer("/api/greeting", &token).await.json()["message"],
        "hello, ada@example.com"
    );
    app.get_bearer("/api/greeting", &app.sign(app.token().expires_in(-3600)))
        .await
        .assert_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "token expired");
    // Credentials in another scheme are refused, not ignored: the client meant to sign in.
    app.get_with_auth("/api/greeting", "Basic abc")
        .await
        .assert_no_credentials("unsupported authorization scheme; send Authorization: Bearer <token>");
    // An empty header carries no credentials at all.
    assert_eq!(
        app.get_with_auth("/api/greeting", "").await.json()["message"],
        "hello, guest"
    );
}
