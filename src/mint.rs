//! `mint`: an access token shaped as GoTrue issues them, signed with the
//! configured HS256 secret. A command of its own, so that the production
//! binary needs none of the library's test kit.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// What the token says about its user.
#[derive(Debug, Clone)]
pub struct Minted {
    /// `sub`.
    pub sub: Uuid,
    /// `email`, if any.
    pub email: Option<String>,
    /// `role`.
    pub role: String,
    /// Lifetime in seconds; negative for an expired token.
    pub ttl: i64,
    /// `aal`.
    pub aal: String,
    /// `is_anonymous`.
    pub anonymous: bool,
    /// Further claims, set last (an access-token hook's `user_role`, say).
    pub claims: Vec<(String, Value)>,
}

/// Signs `minted` for `issuer` and `audience` with `secret`, at `now`.
pub fn sign(
    minted: &Minted,
    issuer: &str,
    audience: &str,
    secret: &[u8],
    now: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut claims = Map::new();
    for (name, value) in [
        ("iss", json!(issuer)),
        ("sub", json!(minted.sub)),
        ("aud", json!(audience)),
        ("exp", json!(now.saturating_add(minted.ttl))),
        ("iat", json!(now)),
        ("role", json!(minted.role)),
        ("aal", json!(minted.aal)),
        ("amr", json!([{ "method": "password", "timestamp": now }])),
        ("session_id", json!(Uuid::new_v4())),
        ("is_anonymous", json!(minted.anonymous)),
        (
            "app_metadata",
            json!({ "provider": "email", "providers": ["email"] }),
        ),
        ("user_metadata", json!({})),
    ] {
        claims.insert(name.to_owned(), value);
    }
    if let Some(email) = &minted.email {
        claims.insert("email".to_owned(), json!(email));
    }
    for (name, value) in &minted.claims {
        claims.insert(name.clone(), value.clone());
    }
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".to_owned());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret))
}
