//! Over a real TCP socket on 127.0.0.1:0: the served stack, and graceful shutdown.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use axum_supabase_auth::ServeOptions;

use crate::helpers::TestApp;

/// A server on 127.0.0.1:0 with production limits and the given grace period.
struct Running {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(app: axum::Router, grace: Duration) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = ServeOptions {
        grace,
        ..ServeOptions::default()
    };
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task =
        tokio::spawn(async move { axum_supabase_auth::serve(listener, app, shutdown, &options).await });
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

impl Running {
    /// Sends the shutdown signal.
    fn shut_down(&mut self) {
        self.stop.take().unwrap().send(()).unwrap();
    }

    /// Waits (at most 5 s) for `serve` to return.
    async fn finished(self) -> std::io::Result<()> {
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .unwrap()
            .unwrap()
    }
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
    let mut server = start(
        axum_supabase_auth::app(&app.config).unwrap(),
        Duration::from_secs(5),
    )
    .await;
    let addr = server.addr;

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

    server.shut_down();
    assert!(server.finished().await.is_ok());
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

/// A route that takes `delay`, and tells `entered` when a request has reached it.
fn slow_router(delay: Duration, entered: std::sync::Arc<tokio::sync::Notify>) -> axum::Router {
    let app = TestApp::new();
    axum_supabase_auth::startup::with_middleware(
        axum::Router::new().route(
            "/slow",
            axum::routing::get(move || async move {
                entered.notify_one();
                tokio::time::sleep(delay).await;
                "done"
            }),
        ),
        &app.config,
    )
}

#[tokio::test]
async fn in_flight_requests_finish_after_shutdown_begins() {
    let entered = std::sync::Arc::new(tokio::sync::Notify::new());
    let router = slow_router(Duration::from_millis(400), entered.clone());
    let mut server = start(router, Duration::from_secs(5)).await;
    let request = tokio::spawn(raw_get(server.addr, "/slow", None));
    entered.notified().await;
    server.shut_down();
    let (status, body) = request.await.unwrap();
    assert_eq!(status, 200);
    assert!(body.ends_with("done"));
    server.finished().await.unwrap();
}

#[tokio::test]
async fn shutdown_gives_up_on_stragglers_after_the_grace_period() {
    let entered = std::sync::Arc::new(tokio::sync::Notify::new());
    let router = slow_router(Duration::from_secs(600), entered.clone());
    let mut server = start(router, Duration::from_millis(300)).await;
    let _straggler = tokio::spawn(raw_get(server.addr, "/slow", None));
    entered.notified().await;
    let started = std::time::Instant::now();
    server.shut_down();
    server.finished().await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
}
