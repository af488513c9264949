//! Slow and abusive clients, over real sockets on loopback: a header read
//! timeout against slowloris, 431 for oversized headers, a connection cap, and
//! load shedding with 503 beyond the in-flight limit.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use axum_supabase_auth::ServeOptions;
use axum_supabase_auth::startup::with_middleware;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{TestApp, status_of, status_within};

/// Starts `app` on 127.0.0.1:0 with `options`; the server stops with the test's runtime.
async fn start(app: Router, options: ServeOptions) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        async move { axum_supabase_auth::serve(listener, app, std::future::pending(), &options).await },
    );
    addr
}

/// Reads until EOF or `limit`, returning what came and whether the peer closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&buf).into_owned(), true),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (String::from_utf8_lossy(&buf).into_owned(), false),
        }
    }
}

fn app() -> Router {
    axum_supabase_auth::app(&TestApp::new().config).unwrap()
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_after_the_header_read_timeout() {
    let options = ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let addr = start(app(), options).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    // Trickle a header byte now and then, never finishing the head.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow.write_all(b"X").await.is_err() {
            break;
        }
    }
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    let held = started.elapsed();
    assert!(closed, "the slow connection must be closed");
    assert!(held < Duration::from_secs(3), "held for {held:?}");
    eprintln!("slowloris connection closed after {held:?} (header read timeout 300 ms)");
    assert_eq!(status_of(addr, "/healthz").await, 200, "others are still served");
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let options = ServeOptions {
        max_header_bytes: 16 * 1024,
        ..ServeOptions::default()
    };
    let addr = start(app(), options).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let huge = "a".repeat(40 * 1024);
    let request =
        format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {huge}\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let (response, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        response.starts_with("HTTP/1.1 431"),
        "{}",
        response.lines().next().unwrap_or("")
    );
    assert_eq!(status_of(addr, "/healthz").await, 200);
}

#[tokio::test]
async fn a_20_kb_token_passes_the_socket_and_a_bigger_header_is_431() {
    let test_app = TestApp::new();
    let addr = start(
        axum_supabase_auth::app(&test_app.config).unwrap(),
        test_app.config.serve.clone(),
    )
    .await;
    let notes: Vec<String> = (0..145).map(|i| format!("{i:04}-{}", "m".repeat(95))).collect();
    let token = test_app.sign(
        test_app
            .token()
            .claim("user_metadata", serde_json::json!({ "notes": notes })),
    );
    assert!(token.len() > 19_000, "{}", token.len());
    let send = |authorization: String| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /api/me HTTP/1.1\r\nHost: localhost\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
        );
        let _ = stream.write_all(request.as_bytes()).await;
        read_until_closed(&mut stream, Duration::from_secs(5)).await.0
    };
    let ok = send(format!("Bearer {token}")).await;
    assert!(
        ok.starts_with("HTTP/1.1 200"),
        "{}",
        ok.lines().next().unwrap_or("")
    );
    assert!(ok.contains("ada@example.com"));
    // Over the 32 KiB default header limit: 431, in the JSON error shape.
    let too_big = send(format!("Bearer {token}{}", "a".repeat(16 * 1024))).await;
    assert!(
        too_big.starts_with("HTTP/1.1 431"),
        "{}",
        too_big.lines().next().unwrap_or("")
    );
    assert!(
        too_big.contains(
            r#"{"error":"request_header_fields_too_large","error_description":"request headers too large"}"#
        ),
        "{too_big}"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let options = ServeOptions {
        max_connections: 2,
        ..ServeOptions::default()
    };
    let addr = start(app(), options).await;
    let idle_a = TcpStream::connect(addr).await.unwrap();
    let idle_b = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let (response, closed) = read_until_closed(&mut third, Duration::from_secs(3)).await;
    assert!(closed && response.is_empty(), "over the cap: {response:?}");
    drop((idle_a, idle_b));
    // The server frees a slot when it sees the close: on a busy machine, not at once.
    assert_eq!(
        status_within(addr, "/healthz", 200, Duration::from_secs(2)).await,
        200,
        "a freed slot is usable again"
    );
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_are_shed_with_503() {
    let test_app = TestApp::with_config(|c| c.max_in_flight = 2);
    let router = with_middleware(
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    "done"
                }),
            )
            .route("/healthz", get(|| async { "ok" })),
        &test_app.config,
    );
    let addr = start(router, ServeOptions::default()).await;
    let slow: Vec<_> = (0..2).map(|_| tokio::spawn(status_of(addr, "/slow"))).collect();
    tokio::time::sleep(Duration::from_millis(150)).await;

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (response, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.to_ascii_lowercase().contains("retry-after: 1"));
    assert!(response.contains(r#""error":"overloaded""#), "{response}");
    assert_eq!(status_of(addr, "/healthz").await, 200, "liveness is never shed");

    for handle in slow {
        assert_eq!(handle.await.unwrap(), 200, "the admitted requests complete");
    }
    assert_eq!(status_of(addr, "/slow").await, 200, "capacity comes back");
}
