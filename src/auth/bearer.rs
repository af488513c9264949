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
    // Byte-wise on purpose: this runs on every request, and char-pattern
    // searches over a 1 KiB token cost more than the cached verification.
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let bytes = value.as_bytes();
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !blank(b)).map_or(start, |i| i + 1);
    let value = &bytes[start..end];
    let (scheme, rest) = value.split_at(value.len().min(6));
    // The scheme is `Bearer`, any case, then at least one space (RFC 9110 §11.1).
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first().is_some_and(|b| *b != b' ') {
        return Err(AuthError::InvalidRequest("authorization scheme must be Bearer"));
    }
    let token = &rest[rest.iter().position(|b| *b != b' ').unwrap_or(rest.len())..];
    if token.is_empty() {
        return Err(AuthError::InvalidRequest("empty bearer token"));
    }
    // A fold, not `all`/`find`: without the early exit LLVM vectorises the
    // scan: 8x faster on a Supabase-sized token (benches/verify.rs).
    if !token.iter().fold(true, |ok, b| ok & b.is_ascii_graphic()) {
        let bad = token.iter().find(|b| !b.is_ascii_graphic());
        return Err(AuthError::InvalidRequest(if bad.is_some_and(blank) {
            "malformed bearer token"
        } else {
            "Authorization header is not visible ASCII"
        }));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::InvalidToken("token too large"));
    }
    // Visible ASCII is valid UTF-8, so this cannot fail.
    std::str::from_utf8(token)
        .map(Some)
        .map_err(|_| AuthError::InvalidRequest("Authorization header is not visible ASCII"))
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
    fn rejects_bytes_outside_visible_ascii() {
        let mut map = HeaderMap::new();
        map.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer ab\xffcd").unwrap(),
        );
        assert_eq!(
            bearer_token(&map),
            Err(AuthError::InvalidRequest(
                "Authorization header is not visible ASCII"
            ))
        );
        map.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearerx abc").unwrap(),
        );
        assert_eq!(
            bearer_token(&map),
            Err(AuthError::InvalidRequest("authorization scheme must be Bearer"))
        );
    }

    #[test]
    fn names_the_first_bad_byte_anywhere_in_a_long_token() {
        // Long enough that the whole-token scan runs in vector-width chunks.
        let body = "a".repeat(1000);
        for (at, bad, message) in [
            (0, b'\t', "malformed bearer token"),
            (517, b' ', "malformed bearer token"),
            (3, b'\x80', "Authorization header is not visible ASCII"),
            (999, b'\xff', "Authorization header is not visible ASCII"),
        ] {
            let mut token = body.clone().into_bytes();
            token[at] = bad;
            // The first bad byte decides, even with one of the other kind after it.
            if at < 900 {
                token[900] = if bad.is_ascii() { b'\xff' } else { b' ' };
            }
            let mut map = HeaderMap::new();
            let value = [b"Bearer ".as_slice(), &token].concat();
            map.insert(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(&value).unwrap_or_else(|_| unreachable!()),
            );
            assert_eq!(
                bearer_token(&map),
                Err(AuthError::InvalidRequest(message)),
                "{at}"
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
