//! The log-leak test: everything traced at TRACE level, in both formats, while
//! valid and invalid tokens arrive every way a client might send them, must hold
//! no token, no part of one, and no secret.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use axum_supabase_auth::config::LogFormat;
use axum_supabase_auth::telemetry;
use tracing_subscriber::EnvFilter;

use crate::helpers::{TestApp, random_secret};

#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Everything traced on this thread at TRACE level, in `format`, until
    /// the guard drops.
    ///
    /// tracing caches each callsite's interest. While at most one subscriber
    /// is registered, tracing-core asks only the registering thread's own
    /// default (`Rebuilder::JustOne` in its `callsite.rs`): a test thread
    /// without a subscriber that first hits a callsite then caches "never"
    /// for everyone, and a capturing test in parallel loses those events. Two
    /// subscribers that want everything, registered for the life of the test
    /// binary, keep tracing from ever asking just one thread.
    pub(crate) fn start(format: LogFormat) -> (Self, tracing::subscriber::DefaultGuard) {
        static KEEP: std::sync::LazyLock<[tracing::Dispatch; 2]> = std::sync::LazyLock::new(|| {
            [
                tracing::Dispatch::new(tracing_subscriber::registry()),
                tracing::Dispatch::new(tracing_subscriber::registry()),
            ]
        });
        std::sync::LazyLock::force(&KEEP);
        let capture = Self::default();
        let writer = capture.clone();
        let subscriber = telemetry::subscriber(EnvFilter::new("trace"), format, move || writer.clone());
        let guard = tracing::subscriber::set_default(subscriber);
        (capture, guard)
    }
}

async fn exercise(app: &TestApp) -> Vec<String> {
    let valid = app.valid_token();
    let in_query = app.valid_token();
    let forged = app.token().sign(random_secret().as_bytes()).unwrap();
    let expired = app.sign(app.token().expires_in(-3600));
    let wrong_aud = app.sign(app.token().audience("anon"));
    let api_key = "sb_secret_abcdefghijklmnopqrstuv_0123456789".to_owned();
    let garbage = "garbage-credential-that-must-not-be-logged".to_owned();

    for token in [&valid, &forged, &expired, &wrong_aud, &api_key, &garbage] {
        app.get_bearer("/api/me", token).await;
        app.get_bearer("/api/greeting", token).await;
    }
    app.get_with_auth("/api/me", &format!("Basic {garbage}")).await;
    app.get(&format!("/api/me?access_token={in_query}")).await;
    app.get(&format!("/nope?access_token={in_query}")).await;
    for (name, value) in [
        ("cookie", format!("sb-access-token={valid}")),
        ("apikey", api_key.clone()),
        ("x-request-id", valid.clone()),
        ("proxy-authorization", format!("Bearer {valid}")),
    ] {
        let request = Request::get("/api/me")
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        app.request(request).await;
    }
    vec![valid, in_query, forged, expired, wrong_aud, api_key, garbage]
}

fn assert_no_leak(logs: &str, secret: &str, tokens: &[String]) {
    assert!(
        logs.lines().count() >= 20,
        "too few log lines to mean anything:\n{logs}"
    );
    assert!(!logs.contains(secret), "the secret is in the logs");
    assert!(
        !logs.contains("eyJ"),
        "something base64-JSON-shaped (a JWT segment) is in the logs"
    );
    for token in tokens {
        assert!(!logs.contains(token.as_str()), "a token is in the logs");
        for part in token.split('.').filter(|p| p.len() >= 8) {
            assert!(!logs.contains(part), "part of a token is in the logs");
        }
    }
}

async fn run(format: LogFormat) -> (String, TestApp, Vec<String>) {
    let (capture, _guard) = Capture::start(format);
    let app = TestApp::new();
    let tokens = exercise(&app).await;
    (capture.text(), app, tokens)
}

#[tokio::test]
async fn json_logs_hold_no_token_and_no_secret() {
    let (logs, app, tokens) = run(LogFormat::Json).await;
    assert_no_leak(&logs, &app.secret, &tokens);
    // The logs are still useful: statuses, routes and the verified user are there.
    assert!(logs.contains("\"status\":200"), "{logs}");
    assert!(logs.contains("\"status\":401"), "{logs}");
    assert!(logs.contains("\"route\":\"/api/me\""), "{logs}");
    assert!(logs.contains("\"user.sub\":"), "{logs}");
    assert!(
        logs.contains("token expired"),
        "rejection reasons are logged: {logs}"
    );
}

#[tokio::test]
async fn pretty_logs_hold_no_token_and_no_secret() {
    let (logs, app, tokens) = run(LogFormat::Pretty).await;
    assert_no_leak(&logs, &app.secret, &tokens);
    assert!(logs.contains("request completed"), "{logs}");
}

#[tokio::test]
async fn a_json_request_line_carries_request_id_route_status_latency_and_user_sub() {
    let (capture, _guard) = Capture::start(LogFormat::Json);
    let app = TestApp::new();
    let sub = uuid::Uuid::new_v4();
    let token = app.sign(app.token().subject(sub).email("private@example.com"));
    let request = Request::get("/api/me")
        .header("authorization", format!("Bearer {token}"))
        .header("x-request-id", "req-42")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.request(request).await.status, axum::http::StatusCode::OK);

    let logs = capture.text();
    let line = logs
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["message"] == "request completed")
        .expect("a request line");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().is_some());
    let span = &line["span"];
    assert_eq!(span["request_id"], "req-42");
    assert_eq!(span["route"], "/api/me");
    assert_eq!(span["method"], "GET");
    assert_eq!(span["user.sub"], sub.to_string());
    assert!(!logs.contains("private@example.com"), "the email is never logged");
    assert!(!logs.contains(&token));
}
