//! Logging setup, and the request span that never carries a token.
//!
//! The span records method, matched route, request id, status, latency and the
//! verified user id. It deliberately leaves out the URI (clients put tokens in
//! `?access_token=`) and every header.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Response};
use std::time::Duration;
use tracing::{Span, field};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Builds a subscriber writing to `writer`. Tests pass a buffer to read logs back.
pub fn subscriber<W>(
    filter: EnvFilter,
    format: LogFormat,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .finish(),
        ),
        LogFormat::Pretty => Box::new(builder.finish()),
    }
}

/// Installs the global subscriber, writing to stdout.
pub fn init(filter: &str, format: LogFormat) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let filter = EnvFilter::try_new(filter)?;
    tracing::subscriber::set_global_default(subscriber(filter, format, std::io::stdout))?;
    Ok(())
}

/// The request span: no URI, no headers. `request_id` is the id the edge
/// kept or made for this request.
pub fn make_span(request: &Request, request_id: &HeaderValue) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    let request_id = request_id.to_str().unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        status = field::Empty,
        latency_ms = field::Empty,
        "user.sub" = field::Empty,
    )
}

/// Records status and latency on the span and logs the completed request.
pub fn on_response<B>(response: &Response<B>, latency: Duration, span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    span.record("status", status);
    span.record("latency_ms", latency_ms);
    tracing::info!(status, latency_ms, "request completed");
}
