//! The fuzz targets' bodies, shared by `fuzz/fuzz_targets/*.rs` (libFuzzer) and
//! the corpus replay test in `tests/api/fuzz_corpus.rs` (plain `cargo test`).
//! Each must return normally for any input; a panic is a finding.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use axum_supabase::__private::{bearer_token, jwks_kids, session_cookie_read, session_cookie_write};
use axum_supabase::{DEFAULT_MAX_TOKEN_BYTES, JwksTiming, SupabaseAuth};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// The fixed HS256 key of the verify target (fuzzing only).
pub const FUZZ_SECRET: &str = "fuzz-only-hs256-secret-not-used-anywhere-else";
/// The issuer the verify target expects.
pub const FUZZ_ISSUER: &str = "https://fuzz.supabase.co/auth/v1";
/// The fixed JWKS of the verify target: one P-256 key (a public test vector).
pub const FUZZ_JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"fuzz-ec","alg":"ES256","use":"sig","key_ops":["verify"],"ext":true,"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

/// The Authorization header parser.
pub fn authorization(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value);
    match bearer_token(&headers, DEFAULT_MAX_TOKEN_BYTES) {
        // A token is one non-empty word of visible ASCII, within the cap.
        Ok(Some(token)) => assert!(
            !token.is_empty()
                && token.len() <= DEFAULT_MAX_TOKEN_BYTES
                && token.bytes().all(|b| b.is_ascii_graphic())
        ),
        Ok(None) => assert!(data.iter().all(|b| *b == b' ' || *b == b'\t')),
        // Only two Authorization headers are a 400; here there is one.
        Err(e) => assert!(e.status().as_u16() == 401),
    }
}

/// The cookie name the session_cookie target reads.
pub const FUZZ_COOKIE: &str = "sb-fuzz-auth-token";

/// The `@supabase/ssr` cookie reader, and the writer's round trip.
///
/// Each line of the input is one `Cookie` header: the reader must return
/// (a session or nothing) for anything. Then the input, as text, is the
/// access token of a session that is written as Set-Cookie lines and read
/// back: it must come back unchanged, through one cookie or chunks.
pub fn session_cookie(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(header::COOKIE, value);
        }
    }
    if let Some((access, _)) = session_cookie_read(&headers, FUZZ_COOKIE) {
        assert!(!access.is_empty());
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.is_empty() {
        return;
    }
    let json = serde_json::json!({ "access_token": text, "refresh_token": "r", "user": { "id": text } });
    let lines = session_cookie_write(FUZZ_COOKIE, &json.to_string());
    assert!(!lines.is_empty());
    let pairs: Vec<&str> = lines
        .iter()
        .map(|l| {
            l.to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
        })
        .collect();
    assert!(
        pairs.iter().all(|p| p.len() <= FUZZ_COOKIE.len() + 4 + 3180),
        "a chunk is over 3180 bytes"
    );
    let mut back = HeaderMap::new();
    back.insert(header::COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap());
    let read = session_cookie_read(&back, FUZZ_COOKIE);
    assert_eq!(
        read,
        Some((text.to_owned(), Some("r".to_owned()))),
        "the round trip lost the session"
    );
}

/// The JWKS document parser.
pub fn jwks(data: &[u8]) {
    if let Ok(kids) = jwks_kids(data) {
        assert!(kids.iter().all(|kid| !kid.is_empty()));
    }
}

fn verifier() -> &'static (tokio::runtime::Runtime, SupabaseAuth) {
    static VERIFIER: OnceLock<(tokio::runtime::Runtime, SupabaseAuth)> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Nothing listens there: an unknown kid fails fast, then the day-long cooldown holds.
        let verifier = SupabaseAuth::builder()
            .project_url("https://fuzz.supabase.co")
            .jwt_secret(FUZZ_SECRET)
            .jwks_url("http://127.0.0.1:9/jwks.json")
            .jwks_timing({
                let mut timing = JwksTiming::default();
                timing.cooldown = Duration::from_secs(86_400);
                timing.timeout = Duration::from_millis(200);
                timing
            })
            .cache_size(0)
            .build()
            .unwrap();
        verifier.jwks().unwrap().preload(FUZZ_JWKS.as_bytes()).unwrap();
        (runtime, verifier)
    })
}

/// The whole verification path: header, key choice, signature, claims.
///
/// Whatever we accept, an independent implementation (jsonwebtoken's own
/// `decode`, with the same key and rules) must accept too: a fuzzer cannot
/// forge a signature, so an accepted input that jsonwebtoken refuses is a bug
/// in our parsing, key choice or claim checks.
pub fn verify(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let (runtime, verifier) = verifier();
    let Ok(user) = runtime.block_on(verifier.verify(token)) else {
        return;
    };
    assert_reference_agrees(token, &user);
}

/// Panics unless jsonwebtoken's own `decode`, with the fuzz key and rules,
/// accepts `token` as the same user.
pub fn assert_reference_agrees(token: &str, user: &axum_supabase::AuthUser) {
    let header = jsonwebtoken::decode_header(token).expect("an accepted token has a JOSE header");
    let key = match header.alg {
        Algorithm::HS256 => DecodingKey::from_secret(FUZZ_SECRET.as_bytes()),
        Algorithm::ES256 => {
            let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(FUZZ_JWKS).expect("the fuzz JWKS");
            DecodingKey::from_jwk(&set.keys[0]).expect("the fuzz key")
        }
        other => panic!("accepted a token signed with {other:?}"),
    };
    let mut rules = Validation::new(header.alg);
    rules.set_issuer(&[FUZZ_ISSUER]);
    rules.set_audience(&["authenticated"]);
    rules.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    rules.leeway = 30;
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &rules)
        .expect("jsonwebtoken refuses a token we accepted");
    assert_eq!(claims.claims["sub"], user.sub().to_string());
    assert_eq!(user.claims().iss, FUZZ_ISSUER);
}
