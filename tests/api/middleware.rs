//! The middleware stack: request ids, body limit, timeout, panics.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum_supabase_auth::startup::with_middleware;
use tower::ServiceExt;

use crate::helpers::{TestApp, TestResponse};

#[tokio::test]
async fn a_request_id_is_generated_when_absent() {
    let response = TestApp::new().get("/healthz").await;
    let id = response.header("x-request-id").unwrap();
    assert!(uuid::Uuid::try_parse(id).is_ok(), "{id}");
}

#[tokio::test]
async fn a_plain_request_id_is_propagated() {
    let app = TestApp::new();
    let request = Request::get("/healthz")
        .header("x-request-id", "req-123.abc")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.request(request).await.header("x-request-id"),
        Some("req-123.abc")
    );
}

#[tokio::test]
async fn a_token_sent_as_request_id_is_replaced_not_echoed() {
    let app = TestApp::new();
    let token = app.valid_token();
    let request = Request::get("/healthz")
        .header("x-request-id", &token)
        .body(Body::empty())
        .unwrap();
    let response = app.request(request).await;
    let id = response.header("x-request-id").unwrap();
    assert_ne!(id, token);
    assert!(uuid::Uuid::try_parse(id).is_ok());
}

#[tokio::test]
async fn oversized_bodies_are_413_json() {
    let app = TestApp::new();
    let body = vec![b'x'; 65 * 1024];
    let request = Request::post("/api/me")
        .header("content-length", body.len())
        .body(Body::from(body))
        .unwrap();
    app.request(request).await.assert_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "request body too large",
    );
}

async fn send(router: &Router, request: Request<Body>) -> TestResponse {
    TestResponse::from(router.clone().oneshot(request).await.unwrap()).await
}

#[tokio::test(start_paused = true)]
async fn slow_requests_time_out_with_408_json() {
    let app = TestApp::with_config(|c| c.request_timeout = Duration::from_millis(50));
    let router = with_middleware(
        Router::new().route(
            "/slow",
            get(|| async { tokio::time::sleep(Duration::from_secs(60)).await }),
        ),
        &app.config,
    );
    send(&router, Request::get("/slow").body(Body::empty()).unwrap())
        .await
        .assert_error(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request took too long",
        );
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_json_and_the_server_goes_on() {
    let app = TestApp::new();
    #[allow(clippy::panic)]
    async fn boom() -> &'static str {
        panic!("handler bug")
    }
    let router = with_middleware(
        Router::new()
            .route("/boom", post(boom))
            .route("/ok", get(|| async { "ok" })),
        &app.config,
    );
    let response = send(&router, Request::post("/boom").body(Body::empty()).unwrap()).await;
    response.assert_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "internal server error",
    );
    assert!(!response.text().contains("handler bug"));
    assert_eq!(
        send(&router, Request::get("/ok").body(Body::empty()).unwrap())
            .await
            .status,
        StatusCode::OK
    );
}
