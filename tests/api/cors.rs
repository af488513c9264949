//! CORS from `CORS_ALLOWED_ORIGINS`: the browser path, preflight included.

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};

use crate::helpers::{TestApp, TestResponse};

const ORIGIN: &str = "https://app.example.com";

fn cors_app() -> TestApp {
    TestApp::with_config(|c| c.cors_allowed_origins = vec![HeaderValue::from_static(ORIGIN)])
}

async fn preflight(app: &TestApp, origin: &str) -> TestResponse {
    let request = Request::options("/api/me")
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(Body::empty())
        .unwrap();
    app.request(request).await
}

#[tokio::test]
async fn preflight_from_an_allowed_origin_allows_the_authorization_header() {
    let app = cors_app();
    let response = preflight(&app, ORIGIN).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("access-control-allow-origin"), Some(ORIGIN));
    let headers = response
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    assert!(
        response
            .header("access-control-allow-methods")
            .unwrap()
            .contains("GET")
    );
    assert!(response.header("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn actual_requests_from_an_allowed_origin_get_the_headers_even_on_401() {
    let app = cors_app();
    let token = app.valid_token();
    for auth in [Some(format!("Bearer {token}")), None] {
        let mut request = Request::get("/api/me").header("origin", ORIGIN);
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        let response = app.request(request.body(Body::empty()).unwrap()).await;
        assert_eq!(response.header("access-control-allow-origin"), Some(ORIGIN));
        // So the frontend can read the error body and the request id.
        assert!(
            response
                .header("access-control-expose-headers")
                .unwrap()
                .contains("x-request-id")
        );
    }
}

#[tokio::test]
async fn other_origins_get_no_cors_headers() {
    let app = cors_app();
    let response = preflight(&app, "https://evil.example.com").await;
    assert!(response.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn without_configuration_there_are_no_cors_headers() {
    let app = TestApp::new();
    let response = preflight(&app, ORIGIN).await;
    assert!(response.header("access-control-allow-origin").is_none());
    assert!(response.header("access-control-allow-headers").is_none());
}
