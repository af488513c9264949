//! The token verifier: keys built once at startup, algorithms pinned to keys.
//!
//! The token's `alg` header only selects among the keys we hold; it never picks
//! how we verify. Today that is the project's HS256 secret. A second key source
//! (JWKS) slots in beside it in [`TokenVerifier::verify`] without changing
//! [`AuthUser`] or any extractor.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::claims::{ClaimRules, WireClaims, validate};
use super::{AuthError, AuthUser};
use crate::config::JwtConfig;
use crate::unix_now;

/// Verifies Supabase access tokens. Cheap to clone: the keys sit behind an `Arc`.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    hs256: DecodingKey,
    rules: ClaimRules,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("hs256", &"[redacted]")
            .field("rules", &self.inner.rules)
            .finish()
    }
}

/// The parts of the JOSE header we read. `jku`, `x5u`, `jwk` and `x5c` are
/// deliberately absent: a token never tells us where to find its key.
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

impl TokenVerifier {
    /// Builds the keys once from validated configuration.
    pub fn new(config: &JwtConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                hs256: DecodingKey::from_secret(config.secret_bytes()),
                rules: ClaimRules {
                    issuers: config.issuers.clone(),
                    audience: config.audience.clone(),
                    leeway: i64::try_from(config.leeway_secs).unwrap_or(i64::MAX),
                },
            }),
        }
    }

    /// Verifies `token` and returns the user it identifies.
    ///
    /// Async so that a key source which may fetch (JWKS) fits the same signature.
    pub async fn verify(&self, token: &str) -> Result<AuthUser, AuthError> {
        self.verify_at(token, unix_now())
    }

    /// Whether the verifier holds keys and can answer requests (for `/readyz`).
    pub fn key_sources(&self) -> Vec<&'static str> {
        vec!["hs256"]
    }

    fn verify_at(&self, token: &str, now: i64) -> Result<AuthUser, AuthError> {
        use AuthError::InvalidToken as Invalid;
        if token.starts_with("sb_publishable_") || token.starts_with("sb_secret_") {
            return Err(Invalid("this is a Supabase API key, not a user access token"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Invalid("malformed token"));
        };
        if header.is_empty() || payload.is_empty() {
            return Err(Invalid("malformed token"));
        }
        let header: JoseHeader = decode_json(header).ok_or(Invalid("malformed token header"))?;
        if header.crit.is_some() {
            return Err(Invalid("unsupported critical header parameter"));
        }
        let (key, alg) = self.key_for(&header.alg)?;
        let message = &token[..token.len() - signature.len() - 1];
        match jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg) {
            Ok(true) => {}
            Ok(false) => return Err(Invalid("invalid signature")),
            Err(_) => return Err(Invalid("malformed signature")),
        }
        let claims: WireClaims = decode_json(payload).ok_or(Invalid("malformed claims"))?;
        let v = validate(claims, &self.inner.rules, now)?;
        Ok(AuthUser {
            sub: v.sub,
            email: v.email,
            role: v.role,
            claims: Arc::new(v.claims),
        })
    }

    /// Pins the algorithm: the header may only name an algorithm we hold a key for.
    fn key_for(&self, alg: &str) -> Result<(&DecodingKey, Algorithm), AuthError> {
        match alg {
            "HS256" => Ok((&self.inner.hs256, Algorithm::HS256)),
            "none" | "None" | "NONE" => Err(AuthError::InvalidToken("unsigned tokens are not accepted")),
            "HS384" | "HS512" | "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256"
            | "ES384" | "EdDSA" => Err(AuthError::InvalidToken("algorithm not allowed")),
            _ => Err(AuthError::InvalidToken("unsupported algorithm")),
        }
    }
}

fn decode_json<T: for<'de> Deserialize<'de>>(segment: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}
