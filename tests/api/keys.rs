//! Test-only signing keys, generated at test time with aws-lc-rs, and the JWS
//! assembly around them. Shared by the tests and the benches (`#[path]`).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use axum_supabase::testing::Token;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An HS256 JWS over any header and payload bytes, valid or not as JSON:
/// for the strict-parsing tests, which need what no JSON library writes.
pub fn hs256_raw(secret: &[u8], header: &[u8], payload: &[u8]) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, message.as_bytes());
    format!("{message}.{}", b64(tag.as_ref()))
}

/// A test-only signing key, generated fresh.
pub enum SigningKey {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

impl SigningKey {
    pub fn es256() -> Self {
        Self::Es256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }
    pub fn rs256() -> Self {
        Self::Rs256(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }
    pub fn ed25519() -> Self {
        Self::EdDsa(Ed25519KeyPair::generate().unwrap())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::Rs256(_) => "RS256",
            Self::EdDsa(_) => "EdDSA",
        }
    }

    /// The public key as Supabase publishes it.
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            Self::Es256(k) => {
                let point = k.public_key().as_ref();
                json!({"alg": "ES256", "crv": "P-256", "ext": true, "key_ops": ["verify"], "kid": kid, "kty": "EC",
                       "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Self::Rs256(k) => {
                let public = k.public_key();
                json!({"alg": "RS256", "e": b64(public.exponent().big_endian_without_leading_zero()), "ext": true,
                       "key_ops": ["verify"], "kid": kid, "kty": "RSA",
                       "n": b64(public.modulus().big_endian_without_leading_zero())})
            }
            Self::EdDsa(k) => {
                json!({"alg": "EdDSA", "crv": "Ed25519", "ext": true, "key_ops": ["verify"], "kid": kid,
                                     "kty": "OKP", "x": b64(k.public_key().as_ref())})
            }
        }
    }

    pub fn raw_sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Self::Es256(k) => k.sign(&rng, message).unwrap().as_ref().to_vec(),
            Self::Rs256(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig).unwrap();
                sig
            }
            Self::EdDsa(k) => k.sign(message).as_ref().to_vec(),
        }
    }

    /// Signs `token` with this key, header `{alg, typ, kid}`.
    pub fn sign(&self, token: &Token, kid: &str) -> String {
        self.sign_with_header(token, json!({"alg": self.alg(), "typ": "JWT", "kid": kid}))
    }

    pub fn sign_with_header(&self, token: &Token, header: Value) -> String {
        let message = signing_input(token, &header);
        let sig = self.raw_sign(message.as_bytes());
        format!("{message}.{}", b64(&sig))
    }
}

pub fn signing_input(token: &Token, header: &Value) -> String {
    let claims = Value::Object(token.claims().clone());
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}
