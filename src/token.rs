//! Minting Supabase-shaped access tokens: for the `mint` subcommand, dev mode's
//! `curl` line, and integration tests (ours and yours).
//!
//! ```
//! use axum_supabase_auth::token::Token;
//!
//! let token = Token::user()
//!     .email("ada@example.com")
//!     .issuer("https://test.supabase.co/auth/v1")
//!     .expires_in(300)
//!     .sign(b"a-test-secret-of-at-least-32-bytes!!")
//!     .unwrap();
//! assert_eq!(token.split('.').count(), 3);
//! ```

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::config::DEV_SUPABASE_URL;
use crate::unix_now as now;

/// A token under construction: a JOSE header and a claim set, both editable.
#[derive(Debug, Clone)]
pub struct Token {
    header: Header,
    claims: Map<String, Value>,
}

impl Token {
    /// A signed-in user, shaped like Supabase Auth's tokens: a fresh random `sub`
    /// and `session_id`, role and audience `authenticated`, `aal1` by password,
    /// the local CLI's issuer, expiring in one hour.
    pub fn user() -> Self {
        let now = now();
        let claims = json!({
            "iss": format!("{DEV_SUPABASE_URL}/auth/v1"),
            "sub": Uuid::new_v4().to_string(),
            "aud": "authenticated",
            "exp": now + 3600,
            "iat": now,
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{ "method": "password", "timestamp": now }],
            "session_id": Uuid::new_v4().to_string(),
            "is_anonymous": false,
            "app_metadata": { "provider": "email", "providers": ["email"] },
            "user_metadata": {},
        });
        let Value::Object(claims) = claims else {
            unreachable!("json! of an object is an object")
        };
        Self {
            header: Header::new(Algorithm::HS256),
            claims,
        }
    }

    /// Sets any claim to any JSON value.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets `sub`.
    pub fn subject(self, sub: Uuid) -> Self {
        self.claim("sub", sub.to_string())
    }

    /// Sets `email`.
    pub fn email(self, email: &str) -> Self {
        self.claim("email", email)
    }

    /// Sets `phone`.
    pub fn phone(self, phone: &str) -> Self {
        self.claim("phone", phone)
    }

    /// Sets `role`.
    pub fn role(self, role: impl std::fmt::Display) -> Self {
        self.claim("role", role.to_string())
    }

    /// Sets `iss`.
    pub fn issuer(self, issuer: &str) -> Self {
        self.claim("iss", issuer)
    }

    /// Sets `aud`.
    pub fn audience(self, aud: impl Into<Value>) -> Self {
        self.claim("aud", aud)
    }

    /// Sets `aal`.
    pub fn aal(self, aal: &str) -> Self {
        self.claim("aal", aal)
    }

    /// Sets `is_anonymous`.
    pub fn anonymous(self, anonymous: bool) -> Self {
        self.claim("is_anonymous", anonymous)
    }

    /// Sets `exp` to now plus `secs` (negative for an expired token).
    pub fn expires_in(self, secs: i64) -> Self {
        self.claim("exp", now() + secs)
    }

    /// Sets `nbf` to now plus `secs`.
    pub fn not_before_in(self, secs: i64) -> Self {
        self.claim("nbf", now() + secs)
    }

    /// Sets `iat` to now plus `secs`.
    pub fn issued_in(self, secs: i64) -> Self {
        self.claim("iat", now() + secs)
    }

    /// Sets the header's `kid`.
    pub fn kid(mut self, kid: &str) -> Self {
        self.header.kid = Some(kid.to_owned());
        self
    }

    /// Signs with another HMAC algorithm (HS384/HS512), for rejection tests.
    pub fn algorithm(mut self, alg: Algorithm) -> Self {
        self.header.alg = alg;
        self
    }

    /// Adds any header parameter, e.g. `crit` or `jku`, for rejection tests.
    pub fn header_param(mut self, name: &str, value: impl serde::Serialize) -> Self {
        self.header.extras.insert(name, value);
        self
    }

    /// The claims as they will be signed.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Signs with an HMAC secret (Supabase's legacy JWT secret, used as raw bytes).
    pub fn sign(&self, secret: &[u8]) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&self.header, &self.claims, &EncodingKey::from_secret(secret))
    }
}
