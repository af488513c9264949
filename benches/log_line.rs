//! Criterion bench of what the access log adds to a request: the request
//! span (made, `user.sub` recorded, entered twice, closed) and the request
//! line, at `warn` (no line) and at `info` in JSON and pretty, written to a
//! sink. `scripts/load.sh` with `LOGS=1` measures the whole server.
//!
//!     cargo bench --bench log_line

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use axum_supabase_auth::config::LogFormat;
use axum_supabase_auth::telemetry;
use criterion::{Criterion, criterion_group, criterion_main};
use tracing_subscriber::EnvFilter;

/// What the edge and the auth layer do with tracing for one request.
fn one_request() {
    let span = tracing::info_span!(
        "request",
        request_id = "2b8c7d1e-4f0a-4c3b-9e5d-6a7f8b9c0d1e",
        method = "GET",
        route = "/api/me",
        "user.sub" = tracing::field::Empty,
    );
    {
        let _entered = span.enter();
        let current = tracing::Span::current();
        if !current.is_disabled() {
            current.record("user.sub", "8d6f1f5e-3b2a-4c2e-9d35-5f0f2f7b9a11");
        }
    }
    let _entered = span.enter();
    tracing::info!(
        status = 200u16,
        latency_ms = black_box(0.173),
        "request completed"
    );
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_line");
    for (name, filter, format) in [
        ("warn", "warn", LogFormat::Json),
        ("info_json", "info", LogFormat::Json),
        ("info_pretty", "info", LogFormat::Pretty),
    ] {
        let subscriber = telemetry::subscriber(EnvFilter::new(filter), format, std::io::sink);
        tracing::subscriber::with_default(subscriber, || {
            group.bench_function(name, |b| b.iter(one_request));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
