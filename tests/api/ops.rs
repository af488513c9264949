//! Operations: metrics, the healthcheck subcommand, the startup line.

use std::process::Stdio;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum_supabase_auth::config::MetricsEndpoint;
use axum_supabase_auth::routes::metrics_router;
use axum_supabase_auth::state::AppState;
use tokio::io::{AsyncBufReadExt, BufReader};
use tower::ServiceExt;

use crate::helpers::{TestApp, TestResponse, status_of, status_within};

/// Runs `requests` with a recorder of this test's own, so the counts read back
/// are this test's alone, whatever other tests running in parallel record in
/// the process-wide one. A current-thread runtime keeps every task of the
/// requests on this thread, where the local recorder applies.
pub(crate) fn with_own_recorder(requests: impl std::future::Future<Output = ()>) -> String {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || runtime.block_on(requests));
    handle.render()
}

/// The value of one sample line, `name{labels} value`, if present.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_requests_and_auth_outcomes_without_identities() {
    let app = TestApp::new();
    let sub = uuid::Uuid::new_v4();
    let token = app.sign(app.token().subject(sub).email("metrics@example.com"));
    let text = with_own_recorder(async {
        assert_eq!(app.get_bearer("/api/me", &token).await.status, StatusCode::OK);
        assert_eq!(app.get_bearer("/api/me", &token).await.status, StatusCode::OK);
        app.get_bearer("/api/me", &app.sign(app.token().expires_in(-3600)))
            .await;
        app.get_bearer("/api/me", &app.sign(app.token().audience("x")))
            .await;
        app.get("/api/me").await;
        app.get_bearer("/api/admin", &token).await;
    });
    for (series, count) in [
        (r#"http_requests_total{route="/api/me",status="200"}"#, 2.0),
        (r#"http_requests_total{route="/api/me",status="401"}"#, 3.0),
        (r#"http_requests_total{route="/api/admin",status="403"}"#, 1.0),
        (r#"auth_outcomes_total{outcome="ok"}"#, 3.0),
        (r#"auth_outcomes_total{outcome="expired"}"#, 1.0),
        (r#"auth_outcomes_total{outcome="wrong_audience"}"#, 1.0),
        (r#"auth_outcomes_total{outcome="missing"}"#, 1.0),
        (r#"auth_outcomes_total{outcome="insufficient_scope"}"#, 1.0),
        // Full verifications only: the second /api/me and /api/admin were cache hits.
        ("auth_verify_duration_seconds_count", 3.0),
    ] {
        assert_eq!(sample(&text, series), Some(count), "{series} in:\n{text}");
    }
    assert!(
        !text.contains(&sub.to_string()) && !text.contains("metrics@example.com") && !text.contains("eyJ")
    );
}

#[tokio::test]
async fn metrics_are_served_in_the_prometheus_text_format() {
    let app = TestApp::new();
    app.get_bearer("/api/me", &app.valid_token()).await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.header("content-type").unwrap().starts_with("text/plain"));
    assert!(
        response.text().contains("http_requests_total{"),
        "{}",
        response.text()
    );
}

#[tokio::test]
async fn a_separate_metrics_listener_keeps_metrics_off_the_public_port() {
    let app = TestApp::with_config(|c| c.metrics = MetricsEndpoint::Separate("127.0.0.1:0".parse().unwrap()));
    app.get("/metrics")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found", "no such resource");
    let state = AppState::new(&app.config).unwrap();
    let response = metrics_router(state)
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(TestResponse::from(response).await.status, StatusCode::OK);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn healthcheck_subcommand_and_startup_line() {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("asa-ops-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = env!("CARGO_BIN_EXE_axum-supabase-auth");
    let secret = crate::helpers::random_secret();
    let mut server = tokio::process::Command::new(binary)
        .arg("serve")
        .env_clear()
        .env("SUPABASE_JWT_SECRET", &secret)
        .env("SUPABASE_URL", "https://test.supabase.co")
        .env("SUPABASE_JWKS_URL", "off")
        .env("BIND_ADDR", &bind)
        .env("LOG_FORMAT", "json")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let startup: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(startup["message"], "starting");
    assert_eq!(startup["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(startup["addr"], bind);
    assert!(startup["audiences"].as_str().unwrap().contains("authenticated"));
    assert_eq!(startup["leeway_secs"], 30);
    assert!(startup["key_sources"].as_str().unwrap().contains("hs256"));
    assert!(
        startup["issuers"]
            .as_str()
            .unwrap()
            .contains("https://test.supabase.co/auth/v1")
    );
    assert!(!first.contains(&secret));

    // The server is another process, so blocking this test's thread is harmless.
    let healthy = healthcheck(&bind, &dir);
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    assert!(
        healthcheck(&format!("0.0.0.0:{port}"), &dir).status.success(),
        "0.0.0.0 is checked over loopback"
    );

    server.kill().await.unwrap();
    server.wait().await.unwrap();
    let down = healthcheck(&bind, &dir);
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).starts_with("unhealthy:"));
    std::fs::remove_dir_all(&dir).ok();
}

fn healthcheck(bind: &str, dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_axum-supabase-auth"))
        .arg("healthcheck")
        .env_clear()
        .env("BIND_ADDR", bind)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A connection the server has answered once and keeps open: it holds one of the
/// `MAX_CONNECTIONS` slots. Retried while the slots of closed probes are being released.
async fn kept_alive(addr: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for _ in 0..100 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        if head.starts_with(b"HTTP/1.1 200") {
            return stream;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no kept-alive connection to {addr}");
}

#[tokio::test]
async fn the_metrics_listener_is_served_and_stopped_like_the_api() {
    let (bind, metrics) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let dir = std::env::temp_dir().join(format!("asa-metrics-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_axum-supabase-auth"))
        .arg("serve")
        .env_clear()
        .env("SUPABASE_JWT_SECRET", crate::helpers::random_secret())
        .env("SUPABASE_URL", "https://test.supabase.co")
        .env("SUPABASE_JWKS_URL", "off")
        .env("BIND_ADDR", &bind)
        .env("METRICS_BIND_ADDR", &metrics)
        .env("MAX_CONNECTIONS", "2")
        .env("RUST_LOG", "warn")
        .current_dir(&dir)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    assert_eq!(
        status_within(metrics.as_str(), "/metrics", 200, Duration::from_secs(10)).await,
        200,
        "the metrics listener answers /metrics"
    );
    assert_eq!(
        status_of(&bind, "/metrics").await,
        404,
        "and the main port does not"
    );
    // The error shape of our middleware: the metrics listener has it too.
    assert_eq!(status_of(&metrics, "/nope").await, 404);
    // And the connection cap: two kept-alive connections fill it, a third is closed on accept.
    // Each has been answered once, so it is known to hold its slot: a bare connect could be
    // refused itself while the slot of the probe before it is still being released.
    let idle = (kept_alive(&metrics).await, kept_alive(&metrics).await);
    assert_eq!(status_of(&metrics, "/metrics").await, 0, "over MAX_CONNECTIONS");
    drop(idle);
    assert_eq!(
        status_within(metrics.as_str(), "/metrics", 200, Duration::from_secs(2)).await,
        200,
        "served again once the idle connections are gone"
    );
    let pid = server.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "both listeners stop gracefully on SIGTERM: {status:?}"
    );
    assert_eq!(
        status_of(&metrics, "/metrics").await,
        0,
        "the metrics port is closed"
    );
    std::fs::remove_dir_all(&dir).ok();
}
