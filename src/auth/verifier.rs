//! The token verifier: keys built once at startup, algorithms pinned to keys.
//!
//! The token's `alg` header only selects among the keys we hold; it never picks
//! how we verify:
//! - `HS256` goes to the project's legacy secret, and only to it;
//! - `ES256`, `RS256` and `EdDSA` go to the JWKS key named by `kid`, and the
//!   token's `alg` must be the one that key is bound to;
//! - anything else is refused.
//!
//! During Supabase's migration window both sources are configured at once.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::cache::TokenCache;
use super::claims::{ClaimRules, WireClaims, validate};
use super::jwks::{JwksCache, JwksKey, KeyLookup};
use super::{AuthError, AuthUser};
use crate::config::JwtConfig;
use crate::unix_now;

/// Verifies Supabase access tokens. Cheap to clone: the keys sit behind an `Arc`.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    hs256: Option<DecodingKey>,
    jwks: Option<JwksCache>,
    cache: Option<TokenCache>,
    rules: ClaimRules,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("hs256", &self.inner.hs256.as_ref().map(|_| "[redacted]"))
            .field("jwks", &self.inner.jwks)
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
    kid: Option<String>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// The key a token's header selected.
enum Selected<'a> {
    Hmac(&'a DecodingKey),
    Jwks(Arc<JwksKey>),
}

impl TokenVerifier {
    /// Builds the keys once from validated configuration. The JWKS cache, if
    /// configured, is created empty; start it with [`TokenVerifier::spawn_background`].
    pub fn new(config: &JwtConfig) -> Result<Self, reqwest::Error> {
        // Bounded to 300 s by the config, so the conversion never fails.
        let leeway = i64::try_from(config.leeway_secs).unwrap_or(i64::MAX);
        Ok(Self {
            inner: Arc::new(Inner {
                hs256: config.secret_bytes().map(DecodingKey::from_secret),
                jwks: config.jwks.clone().map(JwksCache::new).transpose()?,
                cache: (config.cache_size > 0).then(|| TokenCache::new(config.cache_size, leeway)),
                rules: ClaimRules {
                    issuers: config.issuers.clone(),
                    audience: config.audience.clone(),
                    leeway,
                },
            }),
        })
    }

    /// Starts the background work, inside a Tokio runtime: the JWKS refresh (if
    /// JWKS is configured) and the minutely sweep of expired cached tokens.
    /// Both stop when every clone of this verifier is dropped.
    pub fn spawn_background(&self) {
        if let Some(jwks) = &self.inner.jwks {
            jwks.spawn_refresh();
        }
        if self.inner.cache.is_some() {
            let weak = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    let Some(inner) = weak.upgrade() else { return };
                    if let Some(cache) = &inner.cache {
                        cache.sweep(unix_now());
                    }
                }
            });
        }
    }

    /// The verified-token cache, if enabled.
    pub fn cache(&self) -> Option<&TokenCache> {
        self.inner.cache.as_ref()
    }

    /// The JWKS cache, if configured (for `/readyz` and purges).
    pub fn jwks(&self) -> Option<&JwksCache> {
        self.inner.jwks.as_ref()
    }

    /// Verifies `token` and returns the user it identifies.
    ///
    /// Async so that a key source which may fetch (JWKS) fits the same signature.
    pub async fn verify(&self, token: &str) -> Result<AuthUser, AuthError> {
        self.verify_at(token, unix_now()).await
    }

    /// The configured key sources, for `/readyz`.
    pub fn key_sources(&self) -> Vec<&'static str> {
        let mut sources = Vec::with_capacity(2);
        if self.inner.hs256.is_some() {
            sources.push("hs256");
        }
        if self.inner.jwks.is_some() {
            sources.push("jwks");
        }
        sources
    }

    async fn verify_at(&self, token: &str, now: i64) -> Result<AuthUser, AuthError> {
        let Some(cache) = &self.inner.cache else {
            return self.verify_timed(token, now).await;
        };
        // Cached JWKS tokens must not outlive their keys: a new key set, or one
        // stale beyond max_stale, changes the generation and clears the cache.
        let generation = match &self.inner.jwks {
            None => 0,
            Some(jwks) if !jwks.is_usable() => u64::MAX,
            Some(jwks) => jwks.generation(),
        };
        if let Some(user) = cache.get(token, generation, now) {
            return Ok(user);
        }
        let user = self.verify_timed(token, now).await?;
        // The generation read before verifying: if keys changed meanwhile, the
        // entry is stale on arrival and the next lookup drops it.
        cache.insert(token, &user, generation);
        Ok(user)
    }

    async fn verify_timed(&self, token: &str, now: i64) -> Result<AuthUser, AuthError> {
        let started = std::time::Instant::now();
        let result = self.verify_uncached(token, now).await;
        crate::metrics::verify_latency(started.elapsed());
        result
    }

    /// The full check: header, key, signature, claims.
    async fn verify_uncached(&self, token: &str, now: i64) -> Result<AuthUser, AuthError> {
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
        let selected = self.key_for(&header).await?;
        let (key, alg) = match &selected {
            Selected::Hmac(key) => (*key, Algorithm::HS256),
            Selected::Jwks(jwk) => (&jwk.key, jwk.alg),
        };
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

    /// Pins the algorithm: the header may only name an algorithm we hold a key for,
    /// and a JWKS key only verifies the one algorithm it is bound to.
    async fn key_for(&self, header: &JoseHeader) -> Result<Selected<'_>, AuthError> {
        use AuthError::InvalidToken as Invalid;
        match header.alg.as_str() {
            "HS256" => self
                .inner
                .hs256
                .as_ref()
                .map(Selected::Hmac)
                .ok_or(Invalid("algorithm not allowed")),
            "ES256" | "RS256" | "EdDSA" => {
                let jwks = self.inner.jwks.as_ref().ok_or(Invalid("algorithm not allowed"))?;
                let kid = header
                    .kid
                    .as_deref()
                    .filter(|k| !k.is_empty())
                    .ok_or(Invalid("token has no kid"))?;
                match jwks.key(kid).await {
                    KeyLookup::Found(key) if header.alg.parse::<Algorithm>().ok() == Some(key.alg) => {
                        Ok(Selected::Jwks(key))
                    }
                    KeyLookup::Found(_) => Err(Invalid("algorithm does not match the key")),
                    KeyLookup::Unknown => Err(Invalid("unknown signing key")),
                    KeyLookup::Unavailable { retry_after } => Err(AuthError::KeysUnavailable {
                        retry_after_secs: retry_after.as_secs().max(1),
                    }),
                }
            }
            "none" | "None" | "NONE" => Err(Invalid("unsigned tokens are not accepted")),
            "HS384" | "HS512" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES384" => {
                Err(Invalid("algorithm not allowed"))
            }
            _ => Err(Invalid("unsupported algorithm")),
        }
    }
}

fn decode_json<T: for<'de> Deserialize<'de>>(segment: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}
