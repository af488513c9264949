//! The CSRF rule for cookie-authenticated requests.
//!
//! A browser attaches cookies to cross-site requests, but never an
//! `Authorization` header. So a write (`POST`, `PUT`, `PATCH`, `DELETE`)
//! authenticated by a session cookie must show where it came from: an
//! `Origin` among the allowed origins or the server's own, or
//! `Sec-Fetch-Site: same-origin`. Browsers send `Origin` on every cross-origin
//! request and on same-origin writes; a page cannot forge it.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};

/// The CSRF rule: safe methods always; writes only from an allowed or our own origin.
pub(super) fn may_write(request: &Request, allowed_origins: &[String]) -> bool {
    let headers = request.headers();
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return true;
    }
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"same-origin")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return false;
    };
    if allowed_origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
        return true;
    }
    own_origin(request).is_some_and(|own| own.eq_ignore_ascii_case(origin))
}

/// Whether the request reached us over https: its URI, or the proxy's `X-Forwarded-Proto`.
pub(super) fn is_https(request: &Request) -> bool {
    request.uri().scheme_str() == Some("https") || forwarded_proto(request.headers()) == Some("https")
}

fn forwarded_proto(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("x-forwarded-proto")?.to_str().ok()?;
    value.split(',').next().map(str::trim)
}

/// `http(s)://<Host>` as the browser would write it in `Origin`.
fn own_origin(request: &Request) -> Option<String> {
    let host = match request.headers().get(header::HOST) {
        Some(host) => host.to_str().ok()?,
        None => request.uri().authority()?.as_str(),
    };
    let scheme = if is_https(request) { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut r = Request::builder()
            .method(method)
            .uri("/api/x")
            .header(header::HOST, "api.example.com");
        for (name, value) in headers {
            r = r.header(*name, *value);
        }
        r.body(axum::body::Body::empty()).unwrap_or_default()
    }

    #[test]
    fn writes_need_an_allowed_or_own_origin() {
        let allowed = ["https://app.example.com".to_owned()];
        let may = |method: Method, headers: &[(&str, &str)]| may_write(&request(method, headers), &allowed);
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(may(method, &[]));
        }
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(!may(method.clone(), &[]), "{method}");
            assert!(
                may(method.clone(), &[("origin", "https://APP.example.com")]),
                "{method}"
            );
        }
        assert!(!may(Method::POST, &[("origin", "https://evil.example")]));
        assert!(!may(Method::POST, &[("origin", "null")]));
        assert!(!may(Method::POST, &[("sec-fetch-site", "same-site")]));
        assert!(may(Method::POST, &[("sec-fetch-site", "same-origin")]));
        // Our own origin: the Host, with the scheme the request came over.
        assert!(may(Method::POST, &[("origin", "http://api.example.com")]));
        assert!(!may(Method::POST, &[("origin", "https://api.example.com")]));
        let proxied = [
            ("origin", "https://api.example.com"),
            ("x-forwarded-proto", "https"),
        ];
        assert!(may(Method::POST, &proxied));
    }
}
