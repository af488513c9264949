//! The connection level: accept loop, limits against slow and abusive clients,
//! and graceful shutdown.
//!
//! axum's `serve` sets no header read timeout, so a client that trickles its
//! headers (slowloris) could hold a connection forever. This loop uses
//! hyper-util's builder with:
//! - a **header read timeout**: a client gets this long to send its headers;
//! - a **header size cap**: larger request heads are answered 431;
//! - a **connection cap**: beyond it, new connections are closed at once
//!   instead of queueing without bound.
//!
//! In-flight requests are capped separately, with 503s, by [`crate::startup`].

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Connection-level limits and the shutdown grace period.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long in-flight requests get to finish after the shutdown signal.
    pub grace: Duration,
    /// How long a client has to send a request's headers.
    pub header_read_timeout: Duration,
    /// The most concurrent connections; more are closed on accept.
    pub max_connections: usize,
    /// The largest request head (request line and headers) accepted, in bytes;
    /// larger ones are answered 431.
    pub max_header_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(8),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_header_bytes: 32 * 1024,
        }
    }
}

/// Serves `app` until `shutdown` resolves, then gives in-flight requests
/// `options.grace` to finish before returning anyway.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: &ServeOptions,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(options.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX));
    // As axum's `into_make_service` does: turn every handler that still waits for its
    // state into a route once, not on every request.
    let app = app.with_state(());
    let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(
                max = options.max_connections,
                "connection limit reached; closing a new connection"
            );
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|r: axum::http::Request<Incoming>| r.map(Body::new)),
        );
        let connection = graceful.watch(
            builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned(),
        );
        tokio::spawn(async move {
            // Errors here are the client's (reset, timeout, malformed request): not ours to log loudly.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.grace) => {
            tracing::warn!(grace_secs = options.grace.as_secs(), "grace period over; closing remaining connections");
        }
    }
    Ok(())
}
