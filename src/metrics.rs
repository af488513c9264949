//! The Prometheus exporter: requests by route and status here; auth outcomes
//! by reason, cookie-session refreshes (GoTrue calls) by outcome, and the
//! latency of full verifications come from the library
//! through the `metrics` facade; the JWKS cache's state is read at scrape time.
//!
//! Labels are only matched routes, status codes and fixed reason names: never a
//! token, a `sub` or an email, so cardinality stays bounded and nothing leaks.

use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use metrics::Counter;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Latency buckets in seconds: HS256 verifies in microseconds, a JWKS fetch in milliseconds.
const BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process-wide recorder, installed on first use. Later calls (tests build
/// many apps in one process) share it.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let handle =
            builder.install_recorder().unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle());
        // Histogram samples pile up until drained; without this upkeep, memory
        // grows with every request between scrapes (found by scripts/soak.sh).
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".to_owned()).spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms drain only on scrape");
        }
        handle
    })
}

/// Counts finished requests by route and status (`http_requests_total`).
///
/// Handles are registered once per (route, status), on first use, with the
/// recorder current then: registering per request (a label allocation, a key
/// and a registry lookup) was about 700 instructions of every request.
#[derive(Debug, Clone, Default)]
pub struct RequestCounters {
    seen: Arc<RwLock<Vec<Seen>>>,
}

/// A registered counter: route, status, handle.
type Seen = (Box<str>, u16, Counter);

impl RequestCounters {
    /// Counts one request.
    pub fn count(&self, route: &str, status: StatusCode) {
        let code = status.as_u16();
        let read = self.seen.read().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, counter)) = read.iter().find(|(r, s, _)| *s == code && **r == *route) {
            counter.increment(1);
            return;
        }
        drop(read);
        let counter = metrics::counter!("http_requests_total", "route" => route.to_owned(), "status" => status_label(status));
        counter.increment(1);
        let mut seen = self.seen.write().unwrap_or_else(PoisonError::into_inner);
        // Routes and statuses are few; the bound only guards against a bug.
        if seen.len() < 256 {
            seen.push((route.into(), code, counter));
        }
    }
}

fn status_label(status: StatusCode) -> metrics::SharedString {
    match status.as_u16() {
        200 => "200".into(),
        204 => "204".into(),
        400 => "400".into(),
        401 => "401".into(),
        403 => "403".into(),
        404 => "404".into(),
        405 => "405".into(),
        503 => "503".into(),
        other => other.to_string().into(),
    }
}

/// `GET /metrics` in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(jwks) = state.verifier.jwks() {
        let status = jwks.status();
        metrics::gauge!("jwks_keys").set(status.keys as f64);
        metrics::gauge!("jwks_age_seconds").set(status.age_secs.map_or(-1.0, |a| a as f64));
        metrics::gauge!("jwks_ready").set(if status.ready { 1.0 } else { 0.0 });
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
}
