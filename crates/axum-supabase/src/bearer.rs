//! Reading the bearer token out of the `Authorization` header, and nowhere else.
//!
//! The rules (RFC 6750 §2.1 and §3, RFC 9110 §11):
//! - no header, or an empty one: no credentials (`Ok(None)`);
//! - two or more headers: 400 `invalid_request`;
//! - a scheme other than `Bearer` (any case): 401 with a bare challenge;
//! - `Bearer` followed by anything but one or more spaces and a single word
//!   of visible ASCII: 401 `invalid_token`. Surrounding whitespace is ignored.
//!
//! Query strings, `apikey` and cookies are never consulted.

use axum::http::{HeaderMap, header};

use super::{AuthError, Fault};

/// The default cap on a token's length: the default header limit. Supabase
/// copies `user_metadata` and `app_metadata` into its tokens, so a token with a
/// few kilobytes of metadata is genuine.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 32 * 1024;

/// Returns the bearer token, `None` if no credentials were sent, or the fault.
/// Tokens longer than `max_len` are refused before any other work.
#[cfg_attr(
    not(feature = "internals"),
    allow(
        unreachable_pub,
        dead_code,
        reason = "re-exported for the fuzz targets with `internals`; sign-out uses it with `cookies`"
    )
)]
pub fn bearer_token(headers: &HeaderMap, max_len: usize) -> Result<Option<&str>, AuthError> {
    // Visible ASCII is valid UTF-8, so the conversion cannot fail.
    bearer_bytes(headers, max_len)?
        .map(std::str::from_utf8)
        .transpose()
        .map_err(|_| Fault::NotVisibleAscii.into())
}

/// [`bearer_token`] without the UTF-8 conversion: the token's bytes, all
/// visible ASCII. The layer looks these up in the cache as they are.
pub(crate) fn bearer_bytes(headers: &HeaderMap, max_len: usize) -> Result<Option<&[u8]>, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Fault::MultipleAuthorization.into());
    }
    // Byte-wise on purpose: this runs on every request, and char-pattern
    // searches over a 1 KiB token cost more than the cached verification.
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let bytes = value.as_bytes();
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !blank(b)).map_or(start, |i| i + 1);
    let value = &bytes[start..end];
    if value.is_empty() {
        return Ok(None);
    }
    let (scheme, rest) = value.split_at(value.len().min(6));
    // `Bearerx abc` is another scheme; `Bearer\tabc` is Bearer with a bad separator.
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first().is_some_and(|b| !blank(b)) {
        return Err(Fault::UnsupportedScheme.into());
    }
    if rest.first() == Some(&b'\t') {
        return Err(Fault::MalformedCredentials.into());
    }
    let token = &rest[rest.iter().position(|b| *b != b' ').unwrap_or(rest.len())..];
    if token.is_empty() {
        return Err(Fault::EmptyToken.into());
    }
    if token.len() > max_len {
        return Err(Fault::TooLarge.into());
    }
    // A fold, not `all`/`find`: without the early exit LLVM vectorises the
    // scan: 8x faster on a Supabase-sized token (benches/verify.rs). A precise
    // RFC 6750 b64token test here did not vectorise and cost 3% of a request
    // (scripts/profile.sh); other visible characters fail at the verifier
    // instead, as "malformed token", 401 invalid_token all the same.
    if !token.iter().fold(true, |ok, b| ok & b.is_ascii_graphic()) {
        let bad = token.iter().find(|b| !b.is_ascii_graphic());
        let fault = if bad.is_some_and(blank) {
            Fault::MalformedCredentials
        } else {
            Fault::NotVisibleAscii
        };
        return Err(fault.into());
    }
    Ok(Some(token))
}

/// RFC 6750 §2.1 `b64token`: `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`
/// and trailing `=`. A comma, a quote or a second scheme word is not a token.
#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const CAP: usize = DEFAULT_MAX_TOKEN_BYTES;

    fn with(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_static(v));
        }
        map
    }

    fn fault(map: &HeaderMap) -> Option<Fault> {
        bearer_token(map, CAP).err().map(|e| e.fault())
    }

    #[test]
    fn accepts_bearer_in_any_case_with_spaces() {
        for v in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "Bearer    abc",
            "  Bearer abc  ",
            "\tBearer a.b-c_d~e+f/g==\t",
        ] {
            let token = bearer_token(&with(&[v]), CAP).map(|t| t.map(str::to_owned));
            assert_eq!(
                token,
                Ok(Some(v.trim().split(' ').next_back().unwrap_or("").to_owned())),
                "{v:?}"
            );
        }
    }

    #[test]
    fn no_header_or_an_empty_one_is_none() {
        assert_eq!(bearer_token(&HeaderMap::new(), CAP), Ok(None));
        assert_eq!(bearer_token(&with(&[""]), CAP), Ok(None));
        assert_eq!(bearer_token(&with(&["   \t "]), CAP), Ok(None));
    }

    #[test]
    fn other_schemes_are_unsupported() {
        for v in [
            "Basic abc",
            "Digest abc",
            "Token abc",
            "abc",
            "Bearerx abc",
            "Bear abc",
            "Bearer-abc",
        ] {
            assert_eq!(fault(&with(&[v])), Some(Fault::UnsupportedScheme), "{v:?}");
        }
    }

    #[test]
    fn unusable_bearer_credentials_are_invalid_tokens() {
        for (v, expected) in [
            ("Bearer", Fault::EmptyToken),
            ("Bearer   ", Fault::EmptyToken),
            ("Bearer\tabc", Fault::MalformedCredentials),
            ("Bearer a b", Fault::MalformedCredentials),
            ("Bearer Bearer abc", Fault::MalformedCredentials),
            ("Bearer a, Bearer b", Fault::MalformedCredentials),
            ("Bearer a\tb", Fault::MalformedCredentials),
        ] {
            assert_eq!(fault(&with(&[v])), Some(expected), "{v:?}");
        }
    }

    #[test]
    fn rejects_bytes_outside_visible_ascii() {
        let mut map = HeaderMap::new();
        map.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer ab\xffcd").unwrap(),
        );
        assert_eq!(fault(&map), Some(Fault::NotVisibleAscii));
        map.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"B\xe9arer abc").unwrap(),
        );
        assert_eq!(fault(&map), Some(Fault::UnsupportedScheme));
    }

    #[test]
    fn names_the_first_bad_byte_anywhere_in_a_long_token() {
        // Long enough that the whole-token scan runs in vector-width chunks.
        let body = "a".repeat(1000);
        for (at, bad, expected) in [
            (0, b'\t', Fault::MalformedCredentials),
            (517, b' ', Fault::MalformedCredentials),
            (3, b'\x80', Fault::NotVisibleAscii),
            (999, b'\xff', Fault::NotVisibleAscii),
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
            assert_eq!(fault(&map), Some(expected), "{at}");
        }
    }

    #[test]
    fn rejects_two_headers() {
        assert_eq!(
            fault(&with(&["Bearer a", "Bearer a"])),
            Some(Fault::MultipleAuthorization)
        );
        assert_eq!(Fault::MultipleAuthorization.status().as_u16(), 400);
    }

    #[test]
    fn the_cap_is_the_callers() {
        let mut map = HeaderMap::new();
        let value = format!("Bearer {}", "a".repeat(CAP + 1));
        map.insert(
            header::AUTHORIZATION,
            HeaderValue::try_from(value).unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(fault(&map), Some(Fault::TooLarge));
        assert_eq!(
            bearer_token(&map, CAP + 1).map(|t| t.map(str::len)),
            Ok(Some(CAP + 1))
        );
    }
}
