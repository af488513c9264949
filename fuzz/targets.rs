//! The fuzz targets' bodies, shared by `fuzz/fuzz_targets/*.rs` (libFuzzer) and
//! the corpus replay test in `tests/api/fuzz_corpus.rs` (plain `cargo test`).
//! Each must return normally for any input; a panic is a finding.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use axum_supabase_auth::auth::{
    DEFAULT_MAX_TOKEN_BYTES, JwksConfig, TokenVerifier, bearer_token, parse_jwks,
};
use axum_supabase_auth::config::JwtConfig;

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

/// The JWKS document parser.
pub fn jwks(data: &[u8]) {
    if let Ok(keys) = parse_jwks(data) {
        assert!(keys.keys().all(|kid| !kid.is_empty()));
    }
}

fn verifier() -> &'static (tokio::runtime::Runtime, TokenVerifier) {
    static VERIFIER: OnceLock<(tokio::runtime::Runtime, TokenVerifier)> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut config = JwtConfig::new(FUZZ_SECRET, vec![FUZZ_ISSUER.to_owned()], "authenticated", 30);
        // Nothing listens there: an unknown kid fails fast, then the day-long cooldown holds.
        let mut jwks = JwksConfig::new("http://127.0.0.1:9/jwks.json");
        jwks.cooldown = Duration::from_secs(86_400);
        jwks.timeout = Duration::from_millis(200);
        config.jwks = Some(jwks);
        config.cache_size = 0;
        let verifier = TokenVerifier::new(&config).unwrap();
        verifier.jwks().unwrap().preload(FUZZ_JWKS.as_bytes()).unwrap();
        (runtime, verifier)
    })
}

/// The whole verification path: header, key choice, signature, claims.
pub fn verify(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let (runtime, verifier) = verifier();
    if let Ok(user) = runtime.block_on(verifier.verify(token)) {
        assert!(!user.sub.is_nil() || user.claims.exp > 0);
    }
}
