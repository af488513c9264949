//! Per-request authentication and authorization failures, spoken as RFC 6750.
//!
//! Every description is a `&'static str` chosen here, so no part of a token,
//! header or claim value can ever reach a response or a log line through it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ErrorBody;

/// The `realm` we announce in every `WWW-Authenticate` challenge.
pub const REALM: &str = "api";

/// Why a request was not let through to its handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all: 401 with a bare challenge (RFC 6750 §3.1).
    #[error("missing bearer token")]
    MissingCredentials {
        /// A token was sent where we never look (`?access_token=`), so say where it belongs.
        token_in_query: bool,
    },
    /// The header is malformed: 400 `invalid_request`.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The token is bad, expired or unverifiable: 401 `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// A verified caller lacks the role a route needs: 403 `insufficient_scope`.
    #[error("insufficient scope: {0}")]
    InsufficientScope(&'static str),
    /// The token needs JWKS keys we do not have (never fetched, or stale beyond
    /// the limit): 503 with `Retry-After`, since the token itself may be fine.
    #[error("signing keys unavailable")]
    KeysUnavailable {
        /// Seconds the client should wait before retrying.
        retry_after_secs: u64,
    },
    /// `AuthUser` was extracted on a route that has no `AuthLayer`: a programmer error.
    #[error("AuthUser extracted on a route without AuthLayer")]
    MissingLayer,
}

impl AuthError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingCredentials { .. } | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::KeysUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 error code, if the challenge carries one.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::MissingCredentials { .. } | Self::MissingLayer | Self::KeysUnavailable { .. } => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope(_) => Some("insufficient_scope"),
        }
    }

    /// A short description that is safe to show the client and to log.
    pub fn description(&self) -> &'static str {
        match self {
            Self::MissingCredentials {
                token_in_query: false,
            } => "missing bearer token",
            Self::MissingCredentials { token_in_query: true } => {
                "tokens in the query string are not accepted; send Authorization: Bearer <token>"
            }
            Self::InvalidRequest(d) | Self::InvalidToken(d) | Self::InsufficientScope(d) => d,
            Self::KeysUnavailable { .. } => "signing keys are not available yet; retry shortly",
            Self::MissingLayer => "internal server error",
        }
    }

    /// A fixed, low-cardinality name for metrics (`auth_outcomes_total{outcome}`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingCredentials { .. } => "missing",
            Self::InvalidRequest(_) => "invalid_request",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::KeysUnavailable { .. } => "keys_unavailable",
            Self::MissingLayer => "missing_layer",
            Self::InvalidToken(d) => match *d {
                "token expired" => "expired",
                "token not yet valid" | "token issued in the future" => "not_yet_valid",
                "invalid signature" | "malformed signature" => "bad_signature",
                "invalid audience" | "missing aud claim" => "wrong_audience",
                "invalid issuer" | "missing iss claim" => "wrong_issuer",
                "unknown signing key" | "token has no kid" => "unknown_key",
                "algorithm not allowed"
                | "unsupported algorithm"
                | "unsigned tokens are not accepted"
                | "algorithm does not match the key" => "bad_algorithm",
                d if d.contains("API key") => "api_key",
                _ => "malformed",
            },
        }
    }

    fn challenge(&self) -> Option<String> {
        if matches!(self, Self::MissingLayer | Self::KeysUnavailable { .. }) {
            return None;
        }
        Some(match self.code() {
            None => format!("Bearer realm=\"{REALM}\""),
            Some(code) => format!(
                "Bearer realm=\"{REALM}\", error=\"{code}\", error_description=\"{}\"",
                self.description()
            ),
        })
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        if matches!(self, Self::MissingLayer) {
            tracing::error!("AuthUser extracted on a route without AuthLayer; failing closed");
        }
        let code = self.code().unwrap_or(match self {
            Self::MissingLayer => "internal_error",
            Self::KeysUnavailable { .. } => "temporarily_unavailable",
            _ => "unauthorized",
        });
        let mut response = (self.status(), ErrorBody::new(code, self.description())).into_response();
        if let Self::KeysUnavailable { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if let Some(value) = self.challenge().and_then(|c| HeaderValue::try_from(c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credentials_challenge_has_no_error_code() {
        let err = AuthError::MissingCredentials {
            token_in_query: false,
        };
        assert_eq!(err.challenge().as_deref(), Some("Bearer realm=\"api\""));
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn invalid_token_challenge_names_the_error() {
        let err = AuthError::InvalidToken("token expired");
        assert_eq!(
            err.challenge().as_deref(),
            Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token expired\"")
        );
    }

    #[test]
    fn missing_layer_is_a_500_without_challenge() {
        assert_eq!(
            AuthError::MissingLayer.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert!(AuthError::MissingLayer.challenge().is_none());
    }
}
