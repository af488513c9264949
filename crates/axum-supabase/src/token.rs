//! Minting Supabase-shaped access tokens for tests (feature `testing`), and
//! an [`AuthUser`] for handler unit tests.
//!
//! ```
//! use axum_supabase::testing::Token;
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

use crate::config::settings::DEV_SUPABASE_URL;
use crate::unix_now as now;
use crate::{AuthUser, Role};

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

impl AuthUser {
    /// A user for handler unit tests, with Supabase's usual claims
    /// (`aal1`, not anonymous, expiring in an hour). Never a verified one.
    pub fn for_tests(sub: Uuid, email: Option<&str>, role: Role) -> Self {
        let now = now();
        let mut claims = Token::user().claims().clone();
        claims.insert("sub".to_owned(), sub.to_string().into());
        claims.insert("role".to_owned(), role.as_str().into());
        if let Some(email) = email {
            claims.insert("email".to_owned(), email.into());
        }
        let payload = Value::Object(claims).to_string().into_bytes();
        let rules = crate::claims::ClaimRules {
            issuers: vec![format!("{DEV_SUPABASE_URL}/auth/v1")],
            audiences: vec!["authenticated".to_owned()],
            leeway: 0,
        };
        match crate::claims::validate(payload, &rules, now) {
            Ok(v) => Self::new(v.sub, v.email, v.role, v.claims),
            Err(fault) => unreachable!("Token::user() claims are valid: {fault}"),
        }
    }
}
