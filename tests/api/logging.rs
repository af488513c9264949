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
    let expired = app.sign(app.token().expires_in(-3600));
    let refused = Request::get("/api/me")
        .header("authorization", format!("Bearer {expired}"))
        .header("x-request-id", "req-43")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.request(refused).await.status,
        axum::http::StatusCode::UNAUTHORIZED
    );

    let logs = capture.text();
    let lines: Vec<(String, serde_json::Value)> = logs
        .lines()
        .map(|l| {
            (
                l.to_owned(),
                serde_json::from_str::<serde_json::Value>(l).unwrap(),
            )
        })
        .filter(|(_, v)| v["message"] == "request completed")
        .collect();
    assert_eq!(lines.len(), 2, "{logs}");
    let (text, line) = &lines[0];
    // One flat object, each field once: no `span`, no `spans`.
    assert!(
        line.get("span").is_none() && line.get("spans").is_none(),
        "{text}"
    );
    for field in ["request_id", "latency_ms", "status", "route", "user.sub"] {
        assert_eq!(
            text.matches(&format!("\"{field}\":")).count(),
            1,
            "{field} in {text}"
        );
    }
    assert_eq!(line["level"], "INFO");
    assert!(line["timestamp"].is_string());
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().is_some());
    assert_eq!(line["request_id"], "req-42");
    assert_eq!(line["route"], "/api/me");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["user.sub"], sub.to_string());
    assert!(line.get("fault").is_none());
    // A refusal names its reason, the library's fault label, and no user.
    let (text, refused) = &lines[1];
    assert_eq!(
        (refused["status"].as_u64(), refused["fault"].as_str()),
        (Some(401), Some("expired")),
        "{text}"
    );
    assert!(refused.get("user.sub").is_none(), "{text}");
    // Other lines logged inside a request carry its fields too: the reason
    // the verifier logged for the expired token is one.
    let inside: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] != "request completed" && v["request_id"] == "req-43")
        .collect();
    assert!(!inside.is_empty(), "{logs}");
    for line in &inside {
        assert_eq!(
            (line["route"].as_str(), line["method"].as_str()),
            (Some("/api/me"), Some("GET")),
            "{line}"
        );
    }
    assert!(!logs.contains("private@example.com"), "the email is never logged");
    assert!(!logs.contains(&token));
    assert!(!logs.contains(&expired));
}

/// The real binary at its container defaults (`LOG_FORMAT=json`, `info`):
/// every answered request is one line, written by a background thread, and
/// SIGTERM writes out every queued line before the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_request_is_a_line_after_sigterm() {
    use crate::process::Server;
    let secret = crate::helpers::random_secret();
    let vars = [
        ("SUPABASE_URL", "https://test.supabase.co"),
        ("SUPABASE_JWT_SECRET", secret.as_str()),
        ("SUPABASE_JWKS_URL", "off"),
        ("LOG_FORMAT", "json"),
    ];
    let mut server = Server::start(&vars).await;
    let client = reqwest::Client::new();
    let url = server.url("/healthz");
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, answered) = (client.clone(), url.clone(), answered.clone());
            tokio::spawn(async move {
                for _ in 0..500 {
                    if client
                        .get(&url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                    {
                        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    assert!(server.stop().await.success(), "{}", server.stderr());
    let answered = answered.load(std::sync::atomic::Ordering::SeqCst);
    let stdout = server.stdout();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &serde_json::Value| v["message"] == "request completed" && v["route"] == "/healthz")
        .collect();
    // The startup probe of Server::start is a /healthz request of its own.
    assert_eq!(answered, 4000);
    assert_eq!(lines.len(), answered + 1, "lines lost");
}

/// A server that stops on an error at startup still writes every line it
/// logged first: the writer thread drains before the process exits.
#[tokio::test]
async fn a_failed_start_writes_out_its_lines_before_exiting() {
    use crate::process::Server;
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = held.local_addr().unwrap().to_string();
    let secret = crate::helpers::random_secret();
    let mut server = Server::spawn(&[
        ("SUPABASE_URL", "https://test.supabase.co"),
        ("SUPABASE_JWT_SECRET", secret.as_str()),
        ("SUPABASE_JWKS_URL", "off"),
        ("LOG_FORMAT", "json"),
        // Unreachable: the startup check logs a warning and goes on.
        (
            "DATABASE_URL",
            "postgresql://authenticator:hunter2-db@127.0.0.1:9/postgres",
        ),
        ("BIND_ADDR", bind.as_str()),
    ]);
    assert_eq!(server.exited().await.code(), Some(1), "{}", server.stderr());
    let stdout = server.stdout();
    let messages: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter_map(|v| v["message"].as_str().map(str::to_owned))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("DB_ROLES and SESSION_CHECK not checked")),
        "{stdout}"
    );
    assert_eq!(
        messages.last().map(String::as_str),
        Some("cannot bind"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");
    drop(held);
}
