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
//! hyper's own header timer starts only once the first bytes arrive, and
//! hyper-util's protocol detection has none (hyper issues #3756, #3962), so a
//! socket that sends nothing, or only the HTTP/2 preface, would hold a slot
//! forever. Each connection therefore has a watchdog of its own:
//! - no complete request head within the header timeout: closed;
//! - no request in flight for the idle timeout after the last answer:
//!   HTTP/1 keep-alive is closed, HTTP/2 gets a GOAWAY.
//!
//! In-flight requests are capped separately, with 503s, by [`crate::startup`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use hyper_util::service::TowerToHyperService;
use pin_project_lite::pin_project;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// Connection-level limits and the shutdown grace period.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long in-flight requests get to finish after the shutdown signal.
    pub grace: Duration,
    /// How long a client has to send a request's headers, counted from the
    /// connection's start for its first request.
    pub header_read_timeout: Duration,
    /// How long a connection may sit with no request in flight after its
    /// last answer before it is closed (HTTP/1) or sent a GOAWAY (HTTP/2).
    pub idle_timeout: Duration,
    /// The most concurrent connections; more are closed on accept.
    pub max_connections: usize,
    /// The largest request head (request line and headers) accepted, in bytes;
    /// larger ones are answered 431.
    pub max_header_bytes: usize,
}

/// The default header read timeout.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The default idle timeout: a load balancer in front should close idle
/// connections first (AWS's default is 60 s), so set this above its own.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(8),
            header_read_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
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
        // Twice the cap: heads between the two get our JSON 431 (crate::edge).
        .max_buf_size(options.max_header_bytes.saturating_mul(2).max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(options.max_header_bytes.saturating_mul(2)).unwrap_or(u32::MAX));
    // As axum's `into_make_service` does: turn every handler that still waits for its
    // state into a route once, not on every request.
    let app = app.with_state(());
    let max = options.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let connections = Arc::new(Semaphore::new(max));
    let (stop, stopping) = watch::channel(false);
    let (mut refused, mut last_warning) = (0u64, None);
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
            metrics::counter!("http_connections_closed_total", "reason" => "over_limit").increment(1);
            // One line a second at most, whatever the flood.
            refused += 1;
            if last_warning.is_none_or(|at: Instant| at.elapsed() >= Duration::from_secs(1)) {
                tracing::warn!(
                    max = options.max_connections,
                    refused,
                    "connection limit reached; closing new connections"
                );
                last_warning = Some(Instant::now());
                refused = 0;
            }
            drop(stream);
            continue;
        };
        let activity = Arc::new(Activity::new());
        let service = Tracked {
            inner: TowerToHyperService::new(
                app.clone()
                    .map_request(|r: axum::http::Request<Incoming>| r.map(Body::new)),
            ),
            activity: Arc::clone(&activity),
        };
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let (limits, stopping) = (Limits::from(options), stopping.clone());
        tokio::spawn(async move {
            watch_over(connection, &activity, limits, stopping).await;
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    let _ = stop.send(true);
    // Every connection holds a permit until it has closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    tokio::select! {
        _ = connections.acquire_many(all) => {}
        () = tokio::time::sleep(options.grace) => {
            tracing::warn!(grace_secs = options.grace.as_secs(), "grace period over; closing remaining connections");
        }
    }
    Ok(())
}

/// The clocks a connection's watchdog keeps.
#[derive(Debug, Clone, Copy)]
struct Limits {
    header: Duration,
    idle: Duration,
}

impl From<&ServeOptions> for Limits {
    fn from(o: &ServeOptions) -> Self {
        Self {
            header: o.header_read_timeout,
            idle: o.idle_timeout,
        }
    }
}

/// What a connection is doing, shared by its watchdog and its requests.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    /// Requests received so far.
    received: AtomicU64,
    /// Requests not yet answered.
    in_flight: AtomicUsize,
    /// When the last answer was made, in milliseconds since `opened`.
    last_answer_ms: AtomicU64,
}

/// What the watchdog decides.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// No request head within the header timeout: close it.
    Silent,
    /// Idle since its last answer for the idle timeout: wind it down.
    Idle,
    /// Look again then.
    CheckAt(Instant),
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            received: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            last_answer_ms: AtomicU64::new(0),
        }
    }

    fn verdict(&self, now: Instant, limits: Limits) -> Verdict {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // The request timeout bounds a request; look again after it.
            return Verdict::CheckAt(now + limits.idle);
        }
        if self.received.load(Ordering::Acquire) == 0 {
            let deadline = self.opened + limits.header;
            return if now >= deadline {
                Verdict::Silent
            } else {
                Verdict::CheckAt(deadline)
            };
        }
        let idle_since = self.opened + Duration::from_millis(self.last_answer_ms.load(Ordering::Acquire));
        let deadline = idle_since + limits.idle;
        if now >= deadline {
            Verdict::Idle
        } else {
            Verdict::CheckAt(deadline)
        }
    }
}

/// Drives `connection` until it ends, closing it when its watchdog or the
/// shutdown says so.
async fn watch_over<C>(
    connection: C,
    activity: &Activity,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    tokio::pin!(connection);
    // The first look comes at whichever clock runs out first.
    let mut check = activity.opened + limits.header.min(limits.idle);
    // Set once the connection is asked to wind down: it must be gone by then.
    let mut gone_by: Option<Instant> = None;
    loop {
        tokio::select! {
            ended = connection.as_mut() => {
                // Errors here are the client's (reset, timeout, malformed request): not ours to log loudly.
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stopping.wait_for(|stop| *stop), if gone_by.is_none() => {
                connection.as_mut().graceful_shutdown();
                // The serve loop's grace period bounds this one.
                gone_by = Some(Instant::now() + Duration::from_secs(86_400));
            }
            () = tokio::time::sleep_until(check), if gone_by.is_none() => {
                match activity.verdict(Instant::now(), limits) {
                    Verdict::Silent => {
                        metrics::counter!("http_connections_closed_total", "reason" => "silent").increment(1);
                        return;
                    }
                    Verdict::Idle => {
                        metrics::counter!("http_connections_closed_total", "reason" => "idle").increment(1);
                        connection.as_mut().graceful_shutdown();
                        gone_by = Some(Instant::now() + limits.header);
                    }
                    Verdict::CheckAt(at) => check = at,
                }
            }
            () = tokio::time::sleep_until(gone_by.unwrap_or_else(Instant::now)), if gone_by.is_some() => {
                // A request that slipped in before the GOAWAY or the close gets its time.
                if activity.in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                gone_by = Some(Instant::now() + limits.header);
            }
        }
    }
}

/// The hyper service with the connection's activity counted around each request.
#[derive(Debug, Clone)]
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, R> hyper::service::Service<R> for Tracked<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn call(&self, request: R) -> Self::Future {
        self.activity.received.fetch_add(1, Ordering::AcqRel);
        self.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        TrackedFuture {
            inner: self.inner.call(request),
            _answering: Answering(Arc::clone(&self.activity)),
        }
    }
}

/// Marks the request answered when its future completes or is dropped.
#[derive(Debug)]
struct Answering(Arc<Activity>);

impl Drop for Answering {
    fn drop(&mut self) {
        let elapsed = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_answer_ms.store(elapsed, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project! {
    /// The future of [`Tracked`].
    struct TrackedFuture<F> {
        #[pin]
        inner: F,
        _answering: Answering,
    }
}

impl<F: Future> Future for TrackedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    #[test]
    fn the_watchdog_closes_silent_and_idle_connections_only() {
        let activity = Activity::new();
        let t0 = activity.opened;
        let at = |secs| t0 + Duration::from_secs(secs);
        assert_eq!(activity.verdict(at(3), LIMITS), Verdict::CheckAt(at(10)));
        assert_eq!(activity.verdict(at(10), LIMITS), Verdict::Silent);
        activity.received.fetch_add(1, Ordering::AcqRel);
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        assert_eq!(activity.verdict(at(10), LIMITS), Verdict::CheckAt(at(70)));
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
        activity.last_answer_ms.store(12_000, Ordering::Release);
        assert_eq!(activity.verdict(at(13), LIMITS), Verdict::CheckAt(at(72)));
        assert_eq!(activity.verdict(at(72), LIMITS), Verdict::Idle);
    }
}
