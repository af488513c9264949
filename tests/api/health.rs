//! Probes, 404/405 shapes and where the auth layer does not reach.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_and_readyz_are_public() {
    let app = TestApp::new();
    let health = app.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "ready");
}

#[tokio::test]
async fn probes_ignore_even_a_bad_token() {
    let app = TestApp::new();
    assert_eq!(app.get_bearer("/healthz", "garbage").await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_are_404_json_even_under_api() {
    let app = TestApp::new();
    for path in ["/nope", "/api/nope", "/api/me/extra"] {
        let response = app.get(path).await;
        response.assert_error(StatusCode::NOT_FOUND, "not_found", "no such resource");
        assert!(response.header("www-authenticate").is_none());
    }
}

#[tokio::test]
async fn wrong_method_is_405_json_with_allow() {
    let app = TestApp::new();
    let response = app
        .request(Request::post("/healthz").body(Body::empty()).unwrap())
        .await;
    response.assert_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed for this resource",
    );
    assert_eq!(response.header("allow"), Some("GET,HEAD"));

    // On a protected path the caller authenticates first, then learns the method is wrong.
    let token = app.valid_token();
    let request = Request::delete("/api/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.request(request).await;
    response.assert_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed for this resource",
    );
}
