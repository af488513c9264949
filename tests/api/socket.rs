//! Over a real TCP socket on 127.0.0.1:0: the served stack, and graceful shutdown.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use axum_supabase_auth::ServeOptions;

use crate::helpers::TestApp;

/// Serves on `listener` with production limits and the given grace period.
async fn serve_with(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let options = ServeOptions {
        grace,
        ..ServeOptions::default()
    };
    axum_supabase_auth::serve(listener, app, shutdown, &options).await
}

async fn raw_get(addr: std::net::SocketAddr, path: &str, authorization: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    (status, response)
}

#[tokio::test]
async fn serves_over_tcp_and_shuts_down_gracefully() {
    let app = TestApp::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let router = axum_supabase_auth::app(&app.config).unwrap();
    let server = tokio::spawn(serve_with(
        listener,
        router,
        async move {
            let _ = stop_rx.await;
        },
        Duration::from_secs(5),
    ));

    let token = app.valid_token();
    let (status, body) = raw_get(addr, "/api/me", Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"email\":\"ada@example.com\""), "{body}");

    let (status, response) = raw_get(addr, "/api/me", None).await;
    assert_eq!(status, 401);
    assert!(
        response
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer realm=\"api\"")
    );

    let (status, _) = raw_get(addr, "/api/me", Some("Bearer not.a.token")).await;
    assert_eq!(status, 401);

    let (status, _) = raw_get(addr, "/healthz", None).await;
    assert_eq!(status, 200);

    stop_tx.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok());
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

fn slow_router(delay: Duration) -> axum::Router {
    let app = TestApp::new();
    axum_supabase_auth::startup::with_middleware(
        axum::Router::new().route(
            "/slow",
            axum::routing::get(move || async move {
                tokio::time::sleep(delay).await;
                "done"
            }),
        ),
        &app.config,
    )
}

#[tokio::test]
async fn in_flight_requests_finish_after_shutdown_begins() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        listener,
        slow_router(Duration::from_millis(400)),
        async move {
            let _ = stop_rx.await;
        },
        Duration::from_secs(5),
    ));
    let request = tokio::spawn(raw_get(addr, "/slow", None));
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop_tx.send(()).unwrap();
    let (status, body) = request.await.unwrap();
    assert_eq!(status, 200);
    assert!(body.ends_with("done"));
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn shutdown_gives_up_on_stragglers_after_the_grace_period() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        listener,
        slow_router(Duration::from_secs(600)),
        async move {
            let _ = stop_rx.await;
        },
        Duration::from_millis(300),
    ));
    let _straggler = tokio::spawn(raw_get(addr, "/slow", None));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
}
