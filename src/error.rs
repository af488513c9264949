//! The one JSON error shape every failure is answered with.
//!
//! Handlers and our own middleware build [`ErrorBody`] (the library's rejection body) directly. Responses made
//! by layers we don't own (the router's 404/405, tower-http's timeout and body
//! limit) arrive without a JSON body; [`json_error_body`] gives them one, so a
//! frontend can always read `error` and `error_description`.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use axum_supabase::ErrorBody;

/// The body for a status that no handler of ours described.
pub fn body_for_status(status: StatusCode) -> ErrorBody {
    match status {
        StatusCode::NOT_FOUND => ErrorBody::new("not_found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ErrorBody::new("method_not_allowed", "method not allowed for this resource")
        }
        StatusCode::REQUEST_TIMEOUT => ErrorBody::new("request_timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ErrorBody::new("payload_too_large", "request body too large"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ErrorBody::new("request_header_fields_too_large", "request headers too large")
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            ErrorBody::new("service_unavailable", "the service is temporarily unavailable")
        }
        s if s.is_server_error() => ErrorBody::new("internal_error", "internal server error"),
        _ => ErrorBody::new("bad_request", "the request could not be processed"),
    }
}

/// Gives an error response that has no JSON body the standard shape.
///
/// Headers such as `Allow` (405) and `WWW-Authenticate` are kept.
pub fn json_error_body(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, _body) = response.into_parts();
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    (parts, body_for_status(status)).into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The body answered when a handler panics; the panic payload is never shown.
pub fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked; answered 500");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        body_for_status(StatusCode::INTERNAL_SERVER_ERROR),
    )
        .into_response()
}
