//! [`DbError`]: what a scoped transaction can fail with, and the answer to each.
//!
//! No response and no log line carries the database's own message: its
//! `DETAIL` quotes row values, which may be anyone's data. The log gets the
//! SQLSTATE and the constraint name; the client gets a fixed sentence.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio_postgres::error::SqlState;

use crate::{AuthRejection, ErrorBody};

/// The fixed phrase of a TLS failure, in the 503 body and readiness.
pub(super) const TLS_FAILED: &str = "database TLS handshake failed";

/// Seconds a client is told to wait after a 503 from the database.
const RETRY_AFTER_SECS: u32 = 1;

/// A scoped transaction's failure. Answer it with `?`: it is an
/// [`IntoResponse`] with the right status and one of our JSON bodies.
#[non_exhaustive]
pub enum DbError {
    /// No [`Database`](super::Database) in the request extensions: the
    /// server runs without `DATABASE_URL` (503).
    NotConfigured,
    /// No connection within the acquire timeout, or the database is down or
    /// went away (503 with `Retry-After`).
    Unavailable,
    /// A connection could not be made because TLS failed: the server's
    /// certificate did not pass `sslmode`'s checks, or it offers no TLS
    /// where TLS is required (503 with `Retry-After`). Never a downgrade.
    Tls,
    /// The caller may not use the database: no token where `anon` is not
    /// allowed (401), a role outside the allowed list (403), a session that
    /// ended (401), or a route without the auth layer (500).
    Auth(AuthRejection),
    /// Postgres refused a statement. The status follows its SQLSTATE.
    Query(tokio_postgres::Error),
    /// A statement of the transaction had failed, so it was rolled back
    /// rather than committed (500).
    Aborted,
    /// `query_one` or `query_opt` got more rows (or fewer) than it allows (500).
    RowCount,
}

impl DbError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotConfigured | Self::Unavailable | Self::Tls => StatusCode::SERVICE_UNAVAILABLE,
            Self::Auth(rejection) => rejection.error().status(),
            Self::Query(e) => classify(e).0,
            Self::Aborted | Self::RowCount => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The SQLSTATE Postgres answered with, if it answered.
    pub fn sqlstate(&self) -> Option<&SqlState> {
        match self {
            Self::Query(e) => e.code(),
            _ => None,
        }
    }

    /// The name of the constraint that failed, if one did.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Self::Query(e) => e.as_db_error().and_then(|d| d.constraint()),
            _ => None,
        }
    }

    fn body(&self) -> ErrorBody {
        match self {
            Self::NotConfigured => ErrorBody::new(
                "database_not_configured",
                "this server has no database configured (DATABASE_URL is not set)",
            ),
            Self::Unavailable => ErrorBody::new(
                "database_unavailable",
                "the database is unavailable; retry shortly",
            ),
            Self::Tls => ErrorBody::new("database_unavailable", TLS_FAILED),
            Self::Auth(rejection) => rejection.error().default_body(),
            Self::Query(e) => classify(e).1,
            Self::Aborted | Self::RowCount => ErrorBody::new("internal_error", "internal server error"),
        }
    }

    /// Whether the connection may be in an unknown state after this error.
    pub(super) fn connection_lost(e: &tokio_postgres::Error) -> bool {
        e.is_closed() || e.as_db_error().is_none()
    }
}

/// The connection broke, timed out or could not be made.
fn is_io(e: &tokio_postgres::Error) -> bool {
    use std::error::Error as _;
    e.is_closed()
        || e.source().is_some_and(|s| s.is::<std::io::Error>())
        || e.to_string().starts_with("timeout")
}

/// The status and body for a Postgres error, by SQLSTATE class, as PostgREST
/// maps them (`Error.hs`), with fixed descriptions.
fn classify(e: &tokio_postgres::Error) -> (StatusCode, ErrorBody) {
    let Some(code) = e.code() else {
        return if is_io(e) {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody::new(
                    "database_unavailable",
                    "the database is unavailable; retry shortly",
                ),
            )
        } else {
            // A value that would not convert: the handler's mistake.
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorBody::new("internal_error", "internal server error"),
            )
        };
    };
    let s = code.code();
    let invalid = |d| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorBody::new("invalid_data", d),
        )
    };
    match s {
        "23514" => invalid("a value breaks a rule of the table (a check constraint)"),
        "23502" => invalid("a required value is missing"),
        "22001" => invalid("a value is too long"),
        "22021" | "22P05" => invalid("text may not contain NUL characters"),
        "23505" => (
            StatusCode::CONFLICT,
            ErrorBody::new("conflict", "the row already exists"),
        ),
        "23503" => (
            StatusCode::CONFLICT,
            ErrorBody::new("conflict", "the row refers to, or is referred to by, another row"),
        ),
        "42501" => (
            StatusCode::FORBIDDEN,
            ErrorBody::new("forbidden", "row level security or a grant does not allow this"),
        ),
        "57014" => (
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorBody::new("database_timeout", "the database took too long; retry shortly"),
        ),
        "40001" | "40P01" => (
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorBody::new("database_busy", "the database could not finish this now; retry"),
        ),
        _ if s.starts_with("22") => (
            StatusCode::BAD_REQUEST,
            ErrorBody::new("bad_request", "a value has the wrong form for the database"),
        ),
        _ if s.starts_with("08") || s.starts_with("53") || s.starts_with("57P") => (
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorBody::new(
                "database_unavailable",
                "the database is unavailable; retry shortly",
            ),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorBody::new("internal_error", "internal server error"),
        ),
    }
}

impl From<AuthRejection> for DbError {
    fn from(rejection: AuthRejection) -> Self {
        Self::Auth(rejection)
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Query(e)
    }
}

/// Names the kind and the SQLSTATE, never the server's message or detail.
impl fmt::Debug for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotConfigured => f.write_str("DbError::NotConfigured"),
            Self::Unavailable => f.write_str("DbError::Unavailable"),
            Self::Tls => f.write_str("DbError::Tls"),
            Self::Auth(r) => write!(f, "DbError::Auth({:?})", r.error().fault()),
            Self::Query(e) => write!(
                f,
                "DbError::Query {{ sqlstate: {:?}, constraint: {:?} }}",
                e.code().map(SqlState::code),
                self.constraint()
            ),
            Self::Aborted => f.write_str("DbError::Aborted"),
            Self::RowCount => f.write_str("DbError::RowCount"),
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.body().error_description)
    }
}

impl std::error::Error for DbError {}

impl IntoResponse for DbError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Auth(rejection) = self {
            return rejection.into_response();
        }
        let mut response = (status, self.body()).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE && !matches!(self, Self::NotConfigured) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}
