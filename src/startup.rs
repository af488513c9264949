//! Building the application (`app`) and serving it with graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::{Config, MetricsEndpoint};
use crate::error::{ErrorBody, json_error_body, panic_response};
use crate::routes;
use crate::state::{AppState, StartupError};
use crate::telemetry;

/// The request id header, generated when absent and echoed on the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Bodies larger than this are refused with 413; no route reads more.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole application: routes plus the middleware stack. The one seam tests drive.
///
/// Outermost first: sensitive headers are marked before anything can log them;
/// a request id exists before the trace span opens; error bodies are made JSON
/// inside the trace so the logged status is the one sent.
///
/// Inside a Tokio runtime this also starts the background work (JWKS refresh,
/// cache sweep); outside one, it starts with the first request.
pub fn app(config: &Config) -> Result<Router, StartupError> {
    let state = AppState::new(config)?;
    state.verifier.start();
    Ok(app_with_state(state, config))
}

/// The application around a state you built (and whose key refresh you started).
pub fn app_with_state(state: AppState, config: &Config) -> Router {
    crate::metrics::handle();
    let public_metrics = config.metrics == MetricsEndpoint::Main;
    with_middleware(routes::router(state, public_metrics), config)
}

/// Wraps any router in the production middleware stack (what [`app`] does to ours).
pub fn with_middleware(router: Router, config: &Config) -> Router {
    let cors = (!config.cors_allowed_origins.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(config.cors_allowed_origins.clone()))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([REQUEST_ID])
            .max_age(Duration::from_secs(600))
    });
    let middleware = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::COOKIE,
            HeaderName::from_static("apikey"),
        ]))
        .map_request(drop_unsafe_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID, RequestIds::new()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(telemetry::make_span)
                .on_response(telemetry::on_response)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .option_layer(cors)
        .layer(from_fn_with_state(
            Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            edge,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(panic_response));
    router.layer(middleware)
}

/// The per-request bookkeeping, in one middleware because it runs on every
/// request: load shedding (beyond `MAX_IN_FLIGHT` concurrent requests, 503 at
/// once rather than an unbounded queue; `/healthz` is exempt so an orchestrator
/// does not restart a busy replica), the JSON shape for error responses made by
/// layers we don't own, and the request count by route and status.
async fn edge(
    State(permits): State<Arc<Semaphore>>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("<unmatched>", MatchedPath::as_str);
    let response = if route == "/healthz" {
        next.run(request).await
    } else if let Ok(_permit) = permits.try_acquire() {
        next.run(request).await
    } else {
        metrics::counter!("http_requests_shed_total").increment(1);
        let body = ErrorBody::new("overloaded", "too many requests in flight; retry shortly");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            body,
        )
            .into_response()
    };
    let response = json_error_body(response);
    crate::metrics::count_request(route, response.status());
    response
}

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
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.prefix);
        bytes[8..].copy_from_slice(&self.counter.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let mut buf = uuid::Uuid::encode_buffer();
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf))
            .ok()
            .map(RequestId::new)
    }
}

/// A client-sent request id is logged, so only short, plain ids are kept;
/// anything else (a token pasted there, say) is replaced by a fresh one.
fn drop_unsafe_request_id<B>(mut request: Request<B>) -> Request<B> {
    let safe = request.headers().get(&REQUEST_ID).is_none_or(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    });
    if !safe {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// Resolves on SIGTERM (what container runtimes send) or Ctrl-C.
///
/// The handlers are installed when this is called, not when the future is
/// first polled: a SIGTERM that arrives while the server is still starting
/// must shut it down gracefully, not kill it with the default action. Call it
/// inside a Tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
