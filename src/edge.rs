//! The per-request middleware, as two hand-written services instead of eight
//! nested layers.
//!
//! `scripts/profile.sh` found the stack of tower-http layers and an axum
//! `from_fn` costing 10,250 instructions per request (a no-auth route: 26,567
//! with it, 16,315 without), more than hyper's own request parsing. Each layer
//! added a future to poll, to move and often to box. The behaviour is kept as
//! it was, in the same order:
//!
//! [`Front`], outermost (also sees CORS preflights):
//! 1. marks `Authorization`, `Proxy-Authorization`, `Cookie` and `apikey` sensitive
//!    (and, on the way out, every `Set-Cookie`);
//! 2. keeps a short, plain client `x-request-id`, or replaces it with a fresh one
//!    (a token pasted there must never be logged), and echoes it on the response;
//! 3. runs the request inside the span of [`telemetry::make_span`] and logs the
//!    completed request with [`telemetry::on_response`].
//!
//! [`Back`], inside the optional CORS layer, so that its answers get CORS headers:
//! 4. sheds load beyond `MAX_IN_FLIGHT` with 503 at once (`/healthz` is exempt, so
//!    an orchestrator does not restart a busy replica);
//! 5. answers 408 after the request timeout;
//! 6. refuses heads over the header cap with 431, and bodies over
//!    [`BODY_LIMIT`] with 413 (by `Content-Length` at once, or while reading a
//!    body of unknown length);
//! 7. turns a handler panic into a 500 that shows nothing of the panic;
//! 8. gives error responses made by layers we don't own the JSON error shape;
//! 9. counts the request by matched route and status.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::error::{ErrorBody, json_error_body, panic_response};
use crate::metrics::RequestCounters;
use crate::telemetry;

/// The request id header, generated when absent and echoed on the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Bodies larger than this are refused with 413; no route reads more.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Request ids in UUID v4 form, without a `getrandom` system call per request:
/// a random 64-bit prefix per process and a counter. Unique, not secret.
#[derive(Debug, Clone)]
struct RequestIds {
    prefix: [u8; 8],
    counter: Arc<AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        let random = uuid::Uuid::new_v4();
        let mut prefix = [0; 8];
        prefix.copy_from_slice(&random.as_bytes()[..8]);
        Self {
            prefix,
            counter: Arc::new(AtomicU64::new(0)),
        }
    }

    fn next(&self) -> HeaderValue {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.prefix);
        bytes[8..].copy_from_slice(&self.counter.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let mut buf = uuid::Uuid::encode_buffer();
        // A hyphenated UUID is always a valid header value.
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf)).unwrap_or(HeaderValue::from_static("-"))
    }
}

/// A client-sent request id is logged, so only short, plain ids are kept.
fn is_safe_request_id(value: &HeaderValue) -> bool {
    let b = value.as_bytes();
    !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// Marks credentials sensitive, so that no `Debug` of the headers shows them.
fn mark_sensitive(headers: &mut HeaderMap) {
    for (name, value) in headers.iter_mut() {
        if name == header::AUTHORIZATION
            || name == header::PROXY_AUTHORIZATION
            || name == header::COOKIE
            || name.as_str() == "apikey"
        {
            value.set_sensitive(true);
        }
    }
}

/// Marks every `Set-Cookie` sensitive (ours are already; a handler's may not be).
fn mark_set_cookie(headers: &mut HeaderMap) {
    if let header::Entry::Occupied(mut entry) = headers.entry(header::SET_COOKIE) {
        for value in entry.iter_mut() {
            value.set_sensitive(true);
        }
    }
}

/// The outer service's layer: sensitive headers, request id, trace span.
#[derive(Debug, Clone)]
pub struct FrontLayer {
    ids: RequestIds,
}

impl FrontLayer {
    /// A layer with a fresh request-id prefix.
    pub fn new() -> Self {
        Self {
            ids: RequestIds::new(),
        }
    }
}

impl Default for FrontLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for FrontLayer {
    type Service = Front<S>;

    fn layer(&self, inner: S) -> Front<S> {
        Front {
            inner,
            ids: self.ids.clone(),
        }
    }
}

/// See the module docs, steps 1–3.
#[derive(Debug, Clone)]
pub struct Front<S> {
    inner: S,
    ids: RequestIds,
}

impl<S> Service<Request> for Front<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = FrontFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        mark_sensitive(request.headers_mut());
        let id = match request.headers().get(&REQUEST_ID) {
            Some(id) if is_safe_request_id(id) => id.clone(),
            _ => {
                let id = self.ids.next();
                request.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        let span = telemetry::make_span(&request, &id);
        let future = {
            let _entered = span.enter();
            tracing::debug!("started processing request");
            self.inner.call(request)
        };
        let completion = Completion {
            inner: future,
            started: Instant::now(),
        };
        FrontFuture {
            inner: completion.instrument(span),
            id: Some(id),
        }
    }
}

pin_project! {
    /// The future of [`Front`]: the inner future inside the request span, then
    /// the request id on the response.
    pub struct FrontFuture<F> {
        #[pin]
        inner: Instrumented<Completion<F>>,
        id: Option<HeaderValue>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for FrontFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match std::task::ready!(this.inner.poll(cx)) {
            Ok(response) => response,
            Err(never) => match never {},
        };
        if let Some(id) = this.id.take() {
            response.headers_mut().entry(REQUEST_ID).or_insert(id);
        }
        // Session cookies are credentials too: no Debug of the response shows them.
        mark_set_cookie(response.headers_mut());
        Poll::Ready(Ok(response))
    }
}

pin_project! {
    /// The inner future, then the completion log, written while the request
    /// span is still entered for the poll that completed it.
    pub struct Completion<F> {
        #[pin]
        inner: F,
        started: Instant,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Completion<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            telemetry::on_response(response, this.started.elapsed());
        }
        Poll::Ready(result)
    }
}

/// The inner service's layer: shedding, timeout, head and body limits, panics, JSON errors, counts.
#[derive(Debug, Clone)]
pub struct BackLayer {
    permits: Arc<Semaphore>,
    timeout: Duration,
    max_head: usize,
}

impl BackLayer {
    /// At most `max_in_flight` requests at once, each answered within
    /// `timeout`, and heads of at most `max_head` bytes (larger: 431).
    pub fn new(max_in_flight: usize, timeout: Duration, max_head: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            timeout,
            max_head,
        }
    }
}

impl<S> Layer<S> for BackLayer {
    type Service = Back<S>;

    /// axum applies the layer to each route, so each route gets counters of its own.
    fn layer(&self, inner: S) -> Back<S> {
        Back {
            inner,
            permits: self.permits.clone(),
            timeout: self.timeout,
            max_head: self.max_head,
            counters: RequestCounters::default(),
        }
    }
}

/// See the module docs, steps 4–9.
#[derive(Debug, Clone)]
pub struct Back<S> {
    inner: S,
    permits: Arc<Semaphore>,
    timeout: Duration,
    max_head: usize,
    counters: RequestCounters,
}

impl<S> Service<Request> for Back<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        // hyper holds heads to twice the cap (beyond that it answers a bodyless
        // 431 itself); from the cap on, the answer is ours, in JSON.
        if head_bytes(&request) > self.max_head {
            let too_large = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response();
            return BackFuture::ready(too_large, route, &self.counters);
        }
        let exempt = route.as_ref().is_some_and(|r| r.as_str() == "/healthz");
        let permit = if exempt {
            None
        } else if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            Some(permit)
        } else {
            metrics::counter!("http_requests_shed_total").increment(1);
            let body = ErrorBody::new("overloaded", "too many requests in flight; retry shortly");
            let shed = (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                body,
            )
                .into_response();
            return BackFuture::ready(shed, route, &self.counters);
        };
        let Some(request) = limit_body(request) else {
            let too_large = StatusCode::PAYLOAD_TOO_LARGE.into_response();
            return BackFuture::ready(too_large, route, &self.counters);
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => BackFuture {
                state: BackState::Running {
                    future,
                    deadline: tokio::time::sleep(self.timeout),
                    permit,
                },
                route,
                counters: self.counters.clone(),
            },
            Err(panic) => BackFuture::ready(panic_response(panic), route, &self.counters),
        }
    }
}

pin_project! {
    /// The future of [`Back`]: the handler under its deadline and panic guard,
    /// or an answer made at once; then the JSON error shape and the count.
    pub struct BackFuture<F> {
        #[pin]
        state: BackState<F>,
        route: Option<MatchedPath>,
        counters: RequestCounters,
    }
}

pin_project! {
    #[project = BackStateProj]
    enum BackState<F> {
        // The deadline is polled only while the handler is pending, so a quick
        // answer never touches the timer wheel. The permit is held until the
        // request is answered or dropped.
        Running {
            #[pin]
            future: F,
            #[pin]
            deadline: tokio::time::Sleep,
            permit: Option<OwnedSemaphorePermit>,
        },
        Ready { response: Option<Response> },
    }
}

impl<F> BackFuture<F> {
    fn ready(response: Response, route: Option<MatchedPath>, counters: &RequestCounters) -> Self {
        Self {
            state: BackState::Ready {
                response: Some(response),
            },
            route,
            counters: counters.clone(),
        }
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for BackFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.state.project() {
            BackStateProj::Running {
                future,
                deadline,
                permit,
            } => {
                let response = match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Ready(Ok(response))) => response,
                    Ok(Poll::Ready(Err(never))) => match never {},
                    Err(panic) => panic_response(panic),
                    Ok(Poll::Pending) => match deadline.poll(cx) {
                        Poll::Ready(()) => StatusCode::REQUEST_TIMEOUT.into_response(),
                        Poll::Pending => return Poll::Pending,
                    },
                };
                drop(permit.take());
                response
            }
            // Polled again after completion (a caller's bug): an empty answer, not a panic.
            BackStateProj::Ready { response } => response.take().unwrap_or_default(),
        };
        let response = json_error_body(response);
        let route = this.route.as_ref().map_or("<unmatched>", MatchedPath::as_str);
        this.counters.count(route, response.status());
        Poll::Ready(Ok(response))
    }
}

/// About how many bytes the request's head took: its target and its headers.
fn head_bytes(request: &Request) -> usize {
    let target = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    request.headers().iter().fold(target, |sum, (name, value)| {
        sum + name.as_str().len() + value.len() + 4
    })
}

/// `None` if `Content-Length` is over the limit. A body of unknown length is
/// read through a limit (the extractor then answers 413); an empty body, or
/// one whose length hyper already holds it to, is passed as it is.
fn limit_body(request: Request) -> Option<Request> {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(n) if n > BODY_LIMIT as u64 => None,
        Some(_) => Some(request),
        None if request.body().is_end_stream() => Some(request),
        None => Some(request.map(|body| Body::new(http_body_util::Limited::new(body, BODY_LIMIT)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuids_and_unique() {
        let ids = RequestIds::new();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        for id in [a, b] {
            assert!(uuid::Uuid::try_parse(id.to_str().unwrap_or("")).is_ok());
            assert!(is_safe_request_id(&id));
        }
        assert!(!is_safe_request_id(&HeaderValue::from_static("a b")));
        assert!(!is_safe_request_id(&HeaderValue::from_static("")));
    }

    #[test]
    fn credentials_are_marked_sensitive() {
        let mut headers = HeaderMap::new();
        for name in [
            "authorization",
            "proxy-authorization",
            "cookie",
            "apikey",
            "accept",
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static("x"));
        }
        mark_sensitive(&mut headers);
        let sensitive: Vec<&str> = headers
            .iter()
            .filter(|(_, v)| v.is_sensitive())
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(sensitive.len(), 4, "{sensitive:?}");
        assert!(!sensitive.contains(&"accept"));
    }
}
