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

    /// `amr`: how the user authenticated, each method at the token's `iat`
    /// (`password`, `otp`, `oauth`, `totp`, `mfa/phone`, …).
    pub fn amr(self, methods: &[&str]) -> Self {
        let at = self.claims.get("iat").cloned().unwrap_or(Value::from(now()));
        let entries: Vec<Value> = methods
            .iter()
            .map(|m| json!({ "method": m, "timestamp": at }))
            .collect();
        self.claim("amr", entries)
    }

    /// `session_id`: the Supabase session (a row of `auth.sessions`).
    pub fn session_id(self, id: Uuid) -> Self {
        self.claim("session_id", id.to_string())
    }

    /// `app_metadata` (provider, roles an admin set, …).
    pub fn app_metadata(self, metadata: Value) -> Self {
        self.claim("app_metadata", metadata)
    }

    /// `user_metadata` (what the user may edit).
    pub fn user_metadata(self, metadata: Value) -> Self {
        self.claim("user_metadata", metadata)
    }

    /// `client_id`: the OAuth client, for tokens Supabase's OAuth server issues.
    pub fn client_id(self, client_id: &str) -> Self {
        self.claim("client_id", client_id)
    }
}

/// Mints tokens that one [`SupabaseAuth`](crate::SupabaseAuth) accepts: its
/// issuer, its audience, its key. From [`hs256`] or [`es256`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (auth, mint) = axum_supabase::testing::hs256();
/// let token = mint.sign(mint.token().email("ada@example.com").aal("aal2"))?;
/// let user = auth.verify(&token).await?;
/// assert_eq!(user.email(), Some("ada@example.com"));
/// assert!(auth.verify(&mint.sign(mint.token().expires_in(-3600))?).await.is_err());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Mint {
    issuer: String,
    key: EncodingKey,
    algorithm: Algorithm,
    kid: Option<String>,
}

impl std::fmt::Debug for Mint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mint")
            .field("issuer", &self.issuer)
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Mint {
    /// A user token for this verifier ([`Token::user`] with its issuer, and
    /// its algorithm and key id): change any claim, then [`sign`](Self::sign).
    pub fn token(&self) -> Token {
        let mut token = Token::user().issuer(&self.issuer).algorithm(self.algorithm);
        if let Some(kid) = &self.kid {
            token = token.kid(kid);
        }
        token
    }

    /// Signs `token` with this verifier's key.
    pub fn sign(&self, token: Token) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&token.header, &token.claims, &self.key)
    }

    /// A fresh user's token, signed: [`token`](Self::token) then [`sign`](Self::sign).
    pub fn user(&self) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign(self.token())
    }
}

/// The project URL of the kit's verifiers: the Supabase CLI's, on loopback.
const KIT_PROJECT: &str = DEV_SUPABASE_URL;

/// A verifier for an HS256 project with a random secret made now, and the
/// [`Mint`] for its tokens: integration tests of your routes in one line.
///
/// ```
/// let (auth, mint) = axum_supabase::testing::hs256();
/// # let _ = (auth, mint);
/// ```
#[allow(
    clippy::expect_used,
    reason = "fixed settings the kit knows to be valid: a failure is a bug of the kit"
)]
pub fn hs256() -> (crate::SupabaseAuth, Mint) {
    let secret = random_hex(32);
    let auth = crate::SupabaseAuth::builder()
        .project_url(KIT_PROJECT)
        .jwt_secret(secret.clone())
        .without_jwks()
        .build()
        .expect("the test kit's HS256 settings are valid");
    let mint = Mint {
        issuer: format!("{KIT_PROJECT}/auth/v1"),
        key: EncodingKey::from_secret(secret.as_bytes()),
        algorithm: Algorithm::HS256,
        kid: None,
    };
    (auth, mint)
}

/// A verifier for an ES256 project (Supabase's asymmetric default) with a
/// key pair made now, whose public key the verifier trusts from the start:
/// preloaded, so no JWKS endpoint is ever fetched. And its [`Mint`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (auth, mint) = axum_supabase::testing::es256();
/// let user = auth.verify(&mint.user()?).await?;
/// assert_eq!(user.role().as_str(), "authenticated");
/// # Ok(()) }
/// ```
#[cfg(feature = "jwks")]
#[allow(
    clippy::expect_used,
    reason = "fixed settings and a fresh key the kit knows to be valid: a failure is a bug of the kit"
)]
pub fn es256() -> (crate::SupabaseAuth, Mint) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine as _;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("a P-256 key pair");
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("its own PKCS#8");
    // The public key: 0x04, then x and y, 32 bytes each.
    let point = pair.public_key().as_ref();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let kid = random_hex(8);
    let jwks = json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": b64(&point[1..33]), "y": b64(&point[33..65]),
    }] });
    let auth = crate::SupabaseAuth::builder()
        .project_url(KIT_PROJECT)
        .build()
        .expect("the test kit's ES256 settings are valid");
    auth.jwks()
        .expect("the JWKS is on")
        .preload(jwks.to_string().as_bytes())
        .expect("the kit's own JWK set");
    let mint = Mint {
        issuer: format!("{KIT_PROJECT}/auth/v1"),
        key: EncodingKey::from_ec_der(pkcs8.as_ref()),
        algorithm: Algorithm::ES256,
        kid: Some(kid),
    };
    (auth, mint)
}

/// `bytes` random bytes as hex.
#[allow(
    clippy::expect_used,
    reason = "the system's randomness; without it no test can run anyway"
)]
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("system randomness");
    buf.iter().map(|b| format!("{b:02x}")).collect()
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
