//! What the library counts, through the `metrics` facade (feature `metrics`).
//!
//! No recorder is installed here: without one in the application these are
//! no-ops. Labels are fixed names, never a token, a `sub` or an email.
//!
//! Each verifier registers its handles once, on first use, with the recorder
//! current at that time: registering per request (a key, a label vector and a
//! registry lookup each time) cost about 500 instructions per count.

use std::time::Duration;

/// The verifier's metric handles (`auth_outcomes_total{outcome}` and the
/// `auth_verify_duration_seconds` histogram of full verifications).
#[derive(Debug, Default)]
pub(crate) struct AuthMetrics {
    #[cfg(feature = "metrics")]
    outcomes: std::sync::RwLock<Vec<(&'static str, metrics::Counter)>>,
    #[cfg(feature = "metrics")]
    latency: std::sync::OnceLock<metrics::Histogram>,
    #[cfg(feature = "metrics")]
    services: std::sync::RwLock<Vec<(std::sync::Arc<str>, metrics::Counter)>>,
}

impl AuthMetrics {
    /// Records one authentication outcome: `ok`, `anonymous`, or a [`Fault`](crate::Fault) label.
    pub(crate) fn outcome(&self, outcome: &'static str) {
        #[cfg(feature = "metrics")]
        {
            let read = self
                .outcomes
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((_, counter)) = read.iter().find(|(name, _)| *name == outcome) {
                counter.increment(1);
                return;
            }
            drop(read);
            let counter = metrics::counter!("auth_outcomes_total", "outcome" => outcome);
            counter.increment(1);
            self.outcomes
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((outcome, counter));
        }
        #[cfg(not(feature = "metrics"))]
        let _ = outcome;
    }

    /// Records one admitted service call: `auth_outcomes_total{outcome="ok",
    /// caller="service", key="<name>"}`. The name is one the application
    /// configured, so the label set stays small.
    pub(crate) fn service_call(&self, key: &std::sync::Arc<str>) {
        #[cfg(feature = "metrics")]
        {
            let read = self
                .services
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((_, counter)) = read.iter().find(|(name, _)| name == key) {
                counter.increment(1);
                return;
            }
            drop(read);
            let counter = metrics::counter!(
                "auth_outcomes_total",
                "outcome" => "ok",
                "caller" => "service",
                "key" => key.to_string()
            );
            counter.increment(1);
            self.services
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((key.clone(), counter));
        }
        #[cfg(not(feature = "metrics"))]
        let _ = key;
    }

    /// Records how long one full verification (a cache miss) took.
    pub(crate) fn verify_latency(&self, elapsed: Duration) {
        #[cfg(feature = "metrics")]
        self.latency
            .get_or_init(|| metrics::histogram!("auth_verify_duration_seconds"))
            .record(elapsed);
        #[cfg(not(feature = "metrics"))]
        let _ = elapsed;
    }
}
