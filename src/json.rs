//! JSON answers written straight into a `Vec`.
//!
//! `axum::Json` serializes through a `BytesMut` writer that starts at 128
//! bytes: for the 230-byte `/api/me` answer that is a reallocation, and every
//! small write serde_json makes pays the writer's per-call overhead (about
//! 2,100 instructions per answer in `scripts/profile.sh`). Same bytes, same
//! `Content-Type`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A JSON response body, like `axum::Json` for responses.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(256);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => (
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response(),
            Err(_) => {
                tracing::error!("a response could not be serialized");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    crate::error::body_for_status(StatusCode::INTERNAL_SERVER_ERROR),
                )
                    .into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_as_axum_json() {
        let value =
            serde_json::json!({"sub": "8d6f1f5e-3b2a-4c2e-9d35-5f0f2f7b9a11", "email": "a\"b@example.com"});
        let ours = Json(&value).into_response();
        let theirs = axum::Json(&value).into_response();
        assert_eq!(
            ours.headers()[header::CONTENT_TYPE],
            theirs.headers()[header::CONTENT_TYPE]
        );
        let body = |r: Response| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .map(|rt| rt.block_on(axum::body::to_bytes(r.into_body(), 1024)))
        };
        assert_eq!(
            body(ours).ok().and_then(Result::ok),
            body(theirs).ok().and_then(Result::ok)
        );
    }
}
