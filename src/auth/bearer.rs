//! Reading the bearer token out of the `Authorization` header, and nowhere else.
//!
//! The rules: exactly one `Authorization` header; the scheme `Bearer` in any
//! case (RFC 9110 §11.1); one or more spaces, never tabs, between scheme and
//! token; surrounding whitespace ignored; the token itself a single word.
//! Query strings, `apikey` and cookies are never consulted.

use axum::http::{HeaderMap, header};

use super::AuthError;

/// The longest token we will try to verify. Supabase tokens are 1–3 KiB, even
/// with generous metadata; anything far larger is refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Returns the bearer token, `None` if no `Authorization` header was sent, or
/// an `invalid_request` error if the header is malformed.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::InvalidRequest("Authorization header is not visible ASCII"))?
        .trim_matches([' ', '\t']);
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::InvalidRequest("authorization scheme must be Bearer"));
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(AuthError::InvalidRequest("empty bearer token"));
    }
    if token.contains([' ', '\t']) {
        return Err(AuthError::InvalidRequest("malformed bearer token"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::InvalidToken("token too large"));
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn accepts_bearer_in_any_case_with_spaces() {
        for v in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "Bearer    abc",
            "  Bearer abc  ",
        ] {
            assert_eq!(bearer_token(&with(&[v])), Ok(Some("abc")), "{v:?}");
        }
    }

    #[test]
    fn no_header_is_none() {
        assert_eq!(bearer_token(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn rejects_tab_separator_other_schemes_and_empty_tokens() {
        for v in [
            "Bearer\tabc",
            "Basic abc",
            "Token abc",
            "Bearer",
            "Bearer   ",
            "abc",
            "Bearer a b",
        ] {
            assert!(
                matches!(bearer_token(&with(&[v])), Err(AuthError::InvalidRequest(_))),
                "{v:?}"
            );
        }
    }

    #[test]
    fn rejects_two_headers() {
        assert_eq!(
            bearer_token(&with(&["Bearer a", "Bearer a"])),
            Err(AuthError::InvalidRequest("more than one Authorization header"))
        );
    }

    #[test]
    fn rejects_oversized_tokens() {
        let mut map = HeaderMap::new();
        let value = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        map.insert(
            header::AUTHORIZATION,
            HeaderValue::try_from(value).unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(
            bearer_token(&map),
            Err(AuthError::InvalidToken("token too large"))
        );
    }
}
