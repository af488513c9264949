//! How a verifier answers the requests it refuses: its realm, its body
//! function and its counters, shared by the layer and every extractor, so
//! that a guard's 403 looks like the layer's 401.

use std::sync::Arc;

use axum::response::Response;

use crate::error::AuthError;
use crate::metrics::AuthMetrics;

/// A custom rejection body: see [`SupabaseAuthBuilder::rejection_body`](crate::SupabaseAuthBuilder::rejection_body).
pub(crate) type BodyFn = Arc<dyn Fn(&AuthError) -> Response + Send + Sync>;

/// A verifier's rejection style. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Responder {
    inner: Arc<Inner>,
}

struct Inner {
    realm: String,
    body: Option<BodyFn>,
    metrics: AuthMetrics,
    /// The secret API keys service callers may present; here because every
    /// extractor already holds the responder, so a route that takes no
    /// service extractor pays nothing for them.
    service_keys: Option<crate::service::ServiceKeys>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("realm", &self.inner.realm)
            .field("body", &self.inner.body.as_ref().map(|_| "custom"))
            .finish_non_exhaustive()
    }
}

impl Responder {
    pub(crate) fn new(
        realm: String,
        body: Option<BodyFn>,
        service_keys: Option<crate::service::ServiceKeys>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                realm,
                body,
                metrics: AuthMetrics::default(),
                service_keys,
            }),
        }
    }

    /// The configured secret API keys, if any.
    pub(crate) fn service_keys(&self) -> Option<&crate::service::ServiceKeys> {
        self.inner.service_keys.as_ref()
    }

    /// The response for a refused request: the configured body, then the
    /// status, challenge and `Retry-After` that RFC 6750 asks for.
    pub(crate) fn reject(&self, error: AuthError) -> Response {
        error.respond(&self.inner.realm, self.inner.body.as_deref())
    }

    /// Counts one outcome (`auth_outcomes_total`, feature `metrics`).
    pub(crate) fn count(&self, outcome: &'static str) {
        self.inner.metrics.outcome(outcome);
    }

    /// The verifier's metric handles.
    pub(crate) fn metrics(&self) -> &AuthMetrics {
        &self.inner.metrics
    }
}
