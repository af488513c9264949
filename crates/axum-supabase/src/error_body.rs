//! The JSON error body every rejection is answered with by default.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `{"error": "...", "error_description": "..."}`, as in RFC 6749 §5.2 and RFC 6750.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A short machine-readable code, such as `invalid_token` or `not_found`.
    pub error: &'static str,
    /// A human-readable sentence; never contains request data.
    pub error_description: &'static str,
}

impl ErrorBody {
    /// Builds a body from a code and a description.
    pub fn new(error: &'static str, error_description: &'static str) -> Self {
        Self {
            error,
            error_description,
        }
    }
}

impl IntoResponse for ErrorBody {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}
