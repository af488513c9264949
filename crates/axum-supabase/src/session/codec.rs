//! The `@supabase/ssr` cookie format, read and written exactly as version 0.12 does.
//!
//! - One cookie `<name>` holding `base64-` + unpadded base64url of the session
//!   JSON, or raw (URL-encoded) JSON from older clients.
//! - When `encodeURIComponent(value)` is longer than [`CHUNK_SIZE`], the value
//!   is split over `<name>.0`, `<name>.1`, …. A reader takes `<name>` if it is
//!   present, otherwise it joins chunks up to the first gap.
//!
//! Anything that does not decode is treated as no session, never as an error,
//! as `@supabase/ssr` does.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use cookie::{Cookie, SameSite};
use serde::Deserialize;

/// `@supabase/ssr`'s `MAX_CHUNK_SIZE`.
pub(crate) const CHUNK_SIZE: usize = 3180;
/// The most chunks read. 32 × 3180 bytes holds a session far larger than any
/// header limit lets through.
pub(crate) const MAX_CHUNKS: usize = 32;
/// The most bytes of joined cookie value decoded.
pub(crate) const MAX_VALUE_BYTES: usize = MAX_CHUNKS * CHUNK_SIZE;
/// The most stale cookies deleted in one response.
const MAX_DELETIONS: usize = MAX_CHUNKS + 8;
/// `@supabase/ssr`'s `DEFAULT_COOKIE_OPTIONS.maxAge`: 400 days, the most a browser keeps.
pub(crate) const MAX_AGE_SECS: i64 = 400 * 24 * 60 * 60;

const PREFIX: &str = "base64-";

/// base64url that accepts the value with or without padding, like
/// `stringFromBase64URL`.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The session fields the server acts on. The rest of the JSON (`user`,
/// `expires_in`, provider tokens) is the browser's business.
#[derive(Deserialize)]
pub(crate) struct StoredSession {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) refresh_token: Option<String>,
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredSession([redacted])")
    }
}

/// The session cookies of one request: the session, if one decodes, and the
/// names of every cookie of the family that was sent (to delete stale ones).
#[derive(Debug, Default)]
pub(crate) struct Jar {
    pub(crate) session: Option<StoredSession>,
    pub(crate) names: Vec<String>,
}

/// Reads `name` (and its chunks) from every `Cookie` header.
pub(crate) fn read(headers: &HeaderMap, name: &str) -> Jar {
    // Values borrow from the headers: only a percent-encoded (legacy) value is copied.
    let mut whole: Option<Cow<'_, str>> = None;
    let mut chunks: [Option<Cow<'_, str>>; MAX_CHUNKS] = std::array::from_fn(|_| None);
    let mut beyond_cap = false;
    let mut names = Vec::new();
    for value in headers.get_all(header::COOKIE) {
        // A header with bytes outside visible ASCII holds no cookie we wrote.
        let Ok(value) = value.to_str() else { continue };
        for cookie in Cookie::split_parse(value).flatten() {
            let (Some(cookie_name), Some(raw)) = (cookie.name_raw(), cookie.value_raw()) else {
                continue;
            };
            let slot = match chunk_index(cookie_name, name) {
                Some(Part::Whole) => &mut whole,
                Some(Part::Chunk(i)) if i < MAX_CHUNKS => &mut chunks[i],
                Some(Part::Chunk(i)) => {
                    beyond_cap |= i == MAX_CHUNKS;
                    remember(&mut names, cookie_name);
                    continue;
                }
                None => continue,
            };
            remember(&mut names, cookie_name);
            // The first of two same-named cookies wins, as in `@supabase/ssr`.
            if slot.is_none() && !raw.is_empty() {
                *slot = percent_decoded(raw);
            }
        }
    }
    let joined = match whole {
        Some(value) => Some(value),
        None => join(&chunks, beyond_cap).map(Cow::Owned),
    };
    Jar {
        session: joined.as_deref().and_then(decode),
        names,
    }
}

/// The value as `decodeURIComponent` would give it (the `cookie` package's
/// parse); `None` if it does not decode to UTF-8.
fn percent_decoded(raw: &str) -> Option<Cow<'_, str>> {
    // Quoted values are unquoted, as the cookie package does.
    let raw = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    if !raw.contains('%') {
        return Some(Cow::Borrowed(raw));
    }
    percent_encoding::percent_decode_str(raw).decode_utf8().ok()
}

fn remember(names: &mut Vec<String>, name: &str) {
    if names.len() < MAX_DELETIONS && !names.iter().any(|n| n == name) {
        names.push(name.to_owned());
    }
}

/// Chunks 0, 1, … up to the first gap; `None` if there are none or too many.
fn join(chunks: &[Option<Cow<'_, str>>], beyond_cap: bool) -> Option<String> {
    let count = chunks.iter().take_while(|c| c.is_some()).count();
    if count == 0 || (count == MAX_CHUNKS && beyond_cap) {
        return None;
    }
    let mut joined = String::new();
    for chunk in chunks[..count].iter().flatten() {
        if joined.len() + chunk.len() > MAX_VALUE_BYTES {
            return None;
        }
        joined.push_str(chunk);
    }
    Some(joined)
}

/// Whether a `Set-Cookie` line sets (or deletes) `name` or one of its chunks.
pub(crate) fn is_family(set_cookie: &[u8], name: &str) -> bool {
    let Ok(line) = std::str::from_utf8(set_cookie) else {
        return false;
    };
    line.split_once('=')
        .is_some_and(|(cookie_name, _)| chunk_index(cookie_name.trim(), name).is_some())
}

enum Part {
    Whole,
    Chunk(usize),
}

/// `name` itself, or `name.N` with N as `@supabase/ssr` writes it (`0|[1-9][0-9]*`).
fn chunk_index(cookie_name: &str, name: &str) -> Option<Part> {
    let rest = cookie_name.strip_prefix(name)?;
    if rest.is_empty() {
        return Some(Part::Whole);
    }
    let digits = rest.strip_prefix('.')?;
    let canonical = digits == "0" || (!digits.starts_with('0') && !digits.is_empty());
    if !canonical || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Part::Chunk)
}

/// The session in a joined cookie value, if it is one.
pub(crate) fn decode(value: &str) -> Option<StoredSession> {
    if value.len() > MAX_VALUE_BYTES {
        return None;
    }
    let json: Cow<'_, [u8]> = match value.strip_prefix(PREFIX) {
        Some(encoded) => Cow::Owned(LENIENT.decode(encoded).ok()?),
        None => Cow::Borrowed(value.as_bytes()),
    };
    let session: StoredSession = serde_json::from_slice(&json).ok()?;
    (!session.access_token.is_empty()).then_some(session)
}

/// How cookies are written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteOptions {
    pub(crate) http_only: bool,
    pub(crate) secure: bool,
}

/// The `Set-Cookie` values that store `session_json` under `name`, and delete
/// every cookie of the family in `present` that the new value does not use.
pub(crate) fn write(
    name: &str,
    session_json: &str,
    present: &[String],
    options: WriteOptions,
) -> Vec<HeaderValue> {
    let value = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(session_json));
    // base64url and the prefix are unreserved: encodeURIComponent leaves them as they are.
    let parts: Vec<(String, &str)> = if value.len() <= CHUNK_SIZE {
        vec![(name.to_owned(), value.as_str())]
    } else {
        value
            .as_bytes()
            .chunks(CHUNK_SIZE)
            .enumerate()
            // ASCII, so every byte boundary is a char boundary.
            .map(|(i, chunk)| {
                (
                    format!("{name}.{i}"),
                    std::str::from_utf8(chunk).unwrap_or_default(),
                )
            })
            .collect()
    };
    let mut out: Vec<HeaderValue> = present
        .iter()
        .filter(|old| !parts.iter().any(|(new, _)| new == *old))
        .filter_map(|old| set_cookie(old, "", 0, options))
        .collect();
    out.extend(
        parts
            .iter()
            .filter_map(|(n, v)| set_cookie(n, v, MAX_AGE_SECS, options)),
    );
    out
}

/// The `Set-Cookie` values that delete the session: every cookie of the family
/// that was sent, and `name` itself.
pub(crate) fn clear(name: &str, present: &[String], options: WriteOptions) -> Vec<HeaderValue> {
    let mut names: Vec<&str> = present.iter().map(String::as_str).collect();
    if !names.contains(&name) {
        names.insert(0, name);
    }
    names
        .iter()
        .filter_map(|n| set_cookie(n, "", 0, options))
        .collect()
}

fn set_cookie(name: &str, value: &str, max_age: i64, options: WriteOptions) -> Option<HeaderValue> {
    let mut cookie = Cookie::new(name, value);
    cookie.set_path("/");
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(cookie::time::Duration::seconds(max_age));
    cookie.set_http_only(options.http_only);
    cookie.set_secure(options.secure);
    let mut value = HeaderValue::try_from(cookie.to_string()).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "sb-abc-auth-token";
    const OPTIONS: WriteOptions = WriteOptions {
        http_only: false,
        secure: false,
    };

    fn headers(cookies: &[String]) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            header::COOKIE,
            HeaderValue::try_from(cookies.join("; ")).unwrap_or_else(|_| unreachable!()),
        );
        map
    }

    fn pairs(set_cookies: &[HeaderValue]) -> Vec<String> {
        set_cookies
            .iter()
            .map(|v| {
                let s = v.to_str().unwrap_or_default();
                s.split(';').next().unwrap_or_default().to_owned()
            })
            .collect()
    }

    fn json(access: &str, pad: usize) -> String {
        format!(
            r#"{{"access_token":"{access}","refresh_token":"r1","expires_at":1,"expires_in":3600,"token_type":"bearer","user":{{"pad":"{}"}}}}"#,
            "x".repeat(pad)
        )
    }

    #[test]
    fn round_trips_one_cookie_and_chunks() {
        for pad in [10, 2000, 20_000] {
            let written = write(NAME, &json("at", pad), &[], OPTIONS);
            let jar = read(&headers(&pairs(&written)), NAME);
            let session = jar.session.unwrap_or_else(|| panic!("pad {pad}"));
            assert_eq!(session.access_token, "at");
            assert_eq!(session.refresh_token.as_deref(), Some("r1"));
            assert_eq!(written.len() > 1, pad > 2000, "pad {pad}");
        }
    }

    #[test]
    fn writes_the_options_of_supabase_ssr() {
        let written = write(NAME, &json("at", 1), &[], OPTIONS);
        let line = written[0].to_str().unwrap_or_default();
        assert!(line.starts_with("sb-abc-auth-token=base64-"), "{line}");
        for part in ["Path=/", "SameSite=Lax", "Max-Age=34560000"] {
            assert!(line.contains(part), "{line}");
        }
        assert!(!line.contains("HttpOnly") && !line.contains("Secure"), "{line}");
        let strict = write(
            NAME,
            "{}",
            &[],
            WriteOptions {
                http_only: true,
                secure: true,
            },
        );
        let line = strict[0].to_str().unwrap_or_default();
        assert!(line.contains("HttpOnly") && line.contains("Secure"), "{line}");
    }

    #[test]
    fn deletes_stale_chunks_and_the_whole_cookie() {
        let present = vec![NAME.to_owned(), format!("{NAME}.0"), format!("{NAME}.7")];
        let small = pairs(&write(NAME, &json("at", 1), &present, OPTIONS));
        assert_eq!(small[..2], [format!("{NAME}.0="), format!("{NAME}.7=")]);
        assert!(small[2].starts_with(&format!("{NAME}=base64-")));
        let large = pairs(&write(NAME, &json("at", 9000), &present, OPTIONS));
        assert_eq!(large[..2], [format!("{NAME}="), format!("{NAME}.7=")]);
        let cleared = clear(NAME, &[format!("{NAME}.1")], OPTIONS);
        assert_eq!(pairs(&cleared), [format!("{NAME}="), format!("{NAME}.1=")]);
        assert!(cleared[0].to_str().unwrap_or_default().contains("Max-Age=0"));
    }

    #[test]
    fn reads_legacy_url_encoded_json() {
        let raw = "%7B%22access_token%22%3A%22at%22%7D";
        let jar = read(&headers(&[format!("{NAME}={raw}")]), NAME);
        assert_eq!(jar.session.map(|s| s.access_token).as_deref(), Some("at"));
    }

    #[test]
    fn values_are_unquoted_and_percent_decoded_like_the_cookie_package() {
        let encoded = URL_SAFE_NO_PAD.encode(json("quoted", 1));
        let jar = read(&headers(&[format!("{NAME}=\"base64-{encoded}\"")]), NAME);
        assert_eq!(jar.session.map(|s| s.access_token).as_deref(), Some("quoted"));
        // %2D is "-": a percent-encoded base64 value decodes like the plain one.
        let jar = read(&headers(&[format!("{NAME}=base64%2D{encoded}")]), NAME);
        assert_eq!(jar.session.map(|s| s.access_token).as_deref(), Some("quoted"));
        // Invalid UTF-8 once decoded is no value.
        assert!(
            read(&headers(&[format!("{NAME}=%FF%FE")]), NAME)
                .session
                .is_none()
        );
        assert_eq!(percent_decoded("a%20b").as_deref(), Some("a b"));
        assert!(matches!(percent_decoded("plain"), Some(Cow::Borrowed("plain"))));
    }

    #[test]
    fn the_whole_cookie_wins_and_chunks_stop_at_a_gap() {
        let whole = format!("{NAME}=base64-{}", URL_SAFE_NO_PAD.encode(json("whole", 1)));
        let encoded = format!("base64-{}", URL_SAFE_NO_PAD.encode(json("chunked", 1)));
        let (a, b) = encoded.split_at(10);
        let chunked = [format!("{NAME}.0={a}"), format!("{NAME}.1={b}")];
        let both = [chunked[0].clone(), whole, chunked[1].clone()];
        assert_eq!(
            read(&headers(&both), NAME)
                .session
                .map(|s| s.access_token)
                .as_deref(),
            Some("whole")
        );
        assert_eq!(
            read(&headers(&chunked), NAME)
                .session
                .map(|s| s.access_token)
                .as_deref(),
            Some("chunked")
        );
        let gap = [chunked[0].clone(), format!("{NAME}.2={b}")];
        assert!(read(&headers(&gap), NAME).session.is_none());
    }

    #[test]
    fn garbage_is_no_session() {
        for value in [
            "base64-!!!!",
            "base64-",
            "base64-e30",
            "not json",
            "%E0%A4%A",
            "{\"access_token\":\"\"}",
            "{\"access_token\":7}",
        ] {
            assert!(
                read(&headers(&[format!("{NAME}={value}")]), NAME)
                    .session
                    .is_none(),
                "{value}"
            );
        }
        // Other names of the family, and look-alikes, are not chunks.
        for name in [
            format!("{NAME}.01"),
            format!("{NAME}.-1"),
            format!("{NAME}x"),
            format!("{NAME}.0.0"),
        ] {
            let jar = read(&headers(&[format!("{name}=base64-e30")]), NAME);
            assert!(jar.names.is_empty(), "{name}");
        }
    }

    #[test]
    fn hundreds_of_chunks_are_capped() {
        let cookies: Vec<String> = (0..400).map(|i| format!("{NAME}.{i}=aaaa")).collect();
        let jar = read(&headers(&cookies), NAME);
        assert!(jar.session.is_none());
        assert_eq!(jar.names.len(), MAX_DELETIONS);
    }

    #[test]
    fn chunk_indexes_are_canonical() {
        assert!(matches!(chunk_index("n", "n"), Some(Part::Whole)));
        assert!(matches!(chunk_index("n.0", "n"), Some(Part::Chunk(0))));
        assert!(matches!(chunk_index("n.31", "n"), Some(Part::Chunk(31))));
        for bad in ["n.", "n.00", "n.1a", "n.9999999", "m.1", "n1"] {
            assert!(chunk_index(bad, "n").is_none(), "{bad}");
        }
    }
}
