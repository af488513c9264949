//! The URL rules of the verifier's settings, said without the URL: it may
//! carry a password.

use axum::http::Uri;

/// `https://<ref>.supabase.co` (a trailing slash tolerated) → the same,
/// without the slash. The rules are said without the value: a URL may carry
/// a password.
pub(super) fn parse_base_url(raw: &str) -> Result<String, &'static str> {
    let uri: Uri = raw.parse().map_err(|_| "is not a URL")?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("must start with https:// (or http:// for local)"),
    }
    let Some(authority) = uri.authority() else {
        return Err("has no host");
    };
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err("must be a plain host, without user info");
    }
    if uri.query().is_some() {
        return Err("must not have a query string");
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// https unless the host is loopback; a host; no user info.
pub(super) fn check_jwks_url(url: &str) -> Result<(), &'static str> {
    let uri: Uri = url.parse().map_err(|_| "is not a URL")?;
    let Some(authority) = uri.authority() else {
        return Err("has no host");
    };
    if authority.as_str().contains('@') {
        return Err("must be a plain URL, without user info");
    }
    let host = authority.host();
    if host.is_empty() {
        return Err("has no host");
    }
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => Err("must use https (plain http is allowed only for a loopback host)"),
    }
}
