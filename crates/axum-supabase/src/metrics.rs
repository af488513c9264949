//! What the library counts, through the `metrics` facade (feature `metrics`).
//!
//! No recorder is installed here: without one in the application these are
//! no-ops. Labels are fixed names, never a token, a `sub` or an email.

use std::time::Duration;

/// Records one authentication outcome (`ok`, `anonymous`, or a [`Fault`](crate::Fault) label)
/// as `auth_outcomes_total{outcome}`.
pub(crate) fn auth_outcome(outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("auth_outcomes_total", "outcome" => outcome).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = outcome;
}

/// Records how long one full verification (a cache miss) took, as the
/// histogram `auth_verify_duration_seconds`.
pub(crate) fn verify_latency(elapsed: Duration) {
    #[cfg(feature = "metrics")]
    metrics::histogram!("auth_verify_duration_seconds").record(elapsed);
    #[cfg(not(feature = "metrics"))]
    let _ = elapsed;
}
