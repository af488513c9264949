//! Logging: the subscriber, its lean JSON lines, the writer off the request
//! path, and the request span that never carries a token.
//!
//! The span records method, matched route, request id and the verified user
//! id. It deliberately leaves out the URI (clients put tokens in
//! `?access_token=`) and every header.
//!
//! In JSON each line is one object with each field once: `timestamp`,
//! `level`, `message`, the event's fields, then the fields of the spans it
//! happened in (`request_id`, `method`, `route`, `user.sub`), then `target`.
//!
//! Lines are written in batches by a background thread, so no worker thread
//! makes a system call per request. Its buffer is bounded and lossless: when
//! it is full, a request waits for room rather than drop a line. [`LogGuard`]
//! writes out every queued line when it drops: keep it until the process ends.

mod json;
mod writer;

use std::fmt;
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Response};
use tracing::{Span, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::config::LogFormat;

/// Bytes of lines held for the writer thread before a request waits for
/// room (some 8,000 request lines): a burst fits, and a stuck stdout holds
/// the server back rather than let it grow.
const BUFFERED_BYTES: usize = 2 * 1024 * 1024;

/// Builds a subscriber writing to `writer`. Tests pass a buffer to read logs back.
pub fn subscriber<W>(filter: EnvFilter, format: LogFormat, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Json => Box::new(
            tracing_subscriber::registry()
                .with(filter)
                .with(json::JsonLayer::new(writer)),
        ),
        LogFormat::Pretty => Box::new(
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(writer)
                .finish(),
        ),
    }
}

/// Keeps the log writer's thread; dropped, it writes out every queued line.
#[must_use = "dropping the guard flushes and stops the log writer"]
pub struct LogGuard {
    _flush: writer::Flush,
}

impl fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogGuard")
    }
}

/// Installs the global subscriber, writing to stdout from a background
/// thread. Keep the guard until the process ends.
pub fn init(filter: &str, format: LogFormat) -> Result<LogGuard, Box<dyn std::error::Error + Send + Sync>> {
    // Each message says what failed: only the first is about RUST_LOG.
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("RUST_LOG is invalid: {e}"))?;
    let (writer, flush) = writer::spawn(std::io::stdout(), BUFFERED_BYTES)
        .map_err(|e| format!("cannot start the log writer thread: {e}"))?;
    tracing::subscriber::set_global_default(subscriber(filter, format, writer))
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    Ok(LogGuard { _flush: flush })
}

/// The request span: no URI, no headers. `request_id` is the id the edge
/// kept or made for this request; the auth layer records `user.sub`.
pub fn make_span(request: &Request, request_id: &HeaderValue) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    let request_id = request_id.to_str().unwrap_or("");
    tracing::info_span!(
        "request",
        request_id,
        method = request.method().as_str(),
        route,
        "user.sub" = tracing::field::Empty,
    )
}

/// Logs the completed request: its status and latency, and the reason when
/// authentication refused it (the library's fault label).
pub fn on_response<B>(response: &Response<B>, latency: Duration) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    match response.extensions().get::<axum_supabase::Fault>() {
        Some(fault) => tracing::info!(status, latency_ms, fault = fault.label(), "request completed"),
        None => tracing::info!(status, latency_ms, "request completed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_is_one_object_with_each_field_once() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = subscriber(EnvFilter::new("info"), LogFormat::Json, move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = "r-1",
                route = "/x",
                "user.sub" = tracing::field::Empty
            );
            let _entered = span.enter();
            span.record("user.sub", "8d6f1f5e-3b2a-4c2e-9d35-5f0f2f7b9a11");
            tracing::info!(
                status = 200u16,
                latency_ms = 0.5,
                note = "a \"quoted\" word",
                "request completed"
            );
        });
        let text =
            String::from_utf8(buffer.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_default();
        assert_eq!(line["message"], "request completed", "{text}");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["status"], 200);
        assert_eq!(line["request_id"], "r-1");
        assert_eq!(line["user.sub"], "8d6f1f5e-3b2a-4c2e-9d35-5f0f2f7b9a11");
        assert_eq!(line["note"], "a \"quoted\" word");
        assert!(line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(text.matches("request_id").count(), 1, "{text}");
        assert!(
            line.get("span").is_none() && line.get("spans").is_none(),
            "{text}"
        );
    }

    #[test]
    fn every_kind_of_field_is_valid_json_with_its_value() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = subscriber(EnvFilter::new("info"), LogFormat::Json, move || writer.clone());
        let error = std::io::Error::other("disk \"full\"\n");
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                text = "tab\there, é, \u{1}",
                negative = -42i64,
                big = u64::MAX,
                yes = true,
                nan = f64::NAN,
                debug = ?vec!["a\"b"],
                error = &error as &(dyn std::error::Error + 'static),
                "a \\ message"
            );
        });
        let text =
            String::from_utf8(buffer.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_default();
        assert_eq!(line["message"], "a \\ message", "{text}");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["text"], "tab\there, é, \u{1}");
        assert_eq!(line["negative"], -42);
        assert_eq!(line["big"], u64::MAX);
        assert_eq!(line["yes"], true);
        assert!(line["nan"].is_null());
        assert_eq!(line["debug"], "[\"a\\\"b\"]");
        assert_eq!(line["error"], "disk \"full\"\n");
        // RFC 3339, UTC, microseconds: `2026-12-07T16:10:06.123456Z`.
        let timestamp = line["timestamp"].as_str().unwrap_or_default();
        assert_eq!(timestamp.len(), 27, "{timestamp}");
        assert_eq!(
            (&timestamp[10..11], &timestamp[19..20], &timestamp[26..]),
            ("T", ".", "Z")
        );
        assert!(
            timestamp[20..26].bytes().all(|b| b.is_ascii_digit()),
            "{timestamp}"
        );
    }
}
