//! Which keys of a JWK set we trust, and for which algorithm: the policy,
//! apart from the fetching and caching of [`cache`](super::cache).
//!
//! `oct` keys are refused (anyone can read the URL), and so are RSA keys
//! under 2048 bits, `use: enc`, `key_ops` without `verify`, and keys without
//! a `kid`. Each key is bound to exactly one algorithm.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// A body that is not a JWK set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// A verification key from the JWKS, bound to exactly one algorithm.
pub(crate) struct JwksKey {
    /// The only algorithm this key verifies.
    pub(crate) alg: Algorithm,
    /// The public key.
    pub(crate) key: DecodingKey,
}

impl std::fmt::Debug for JwksKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

/// Parses a JWK set, keeping only keys we can trust; one odd key does not spoil the rest.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<JwksKey>>, Malformed> {
    let raw: RawJwkSet = serde_json::from_slice(body).map_err(|_| Malformed)?;
    let mut keys = HashMap::with_capacity(raw.keys.len());
    for value in raw.keys {
        match trusted_key(value) {
            Ok((kid, key)) => {
                keys.insert(kid, Arc::new(key));
            }
            Err(reason) => tracing::warn!(reason, "JWKS key skipped"),
        }
    }
    Ok(keys)
}

/// The shortest RSA modulus we accept.
pub(crate) const MIN_RSA_BITS: usize = 2048;

fn trusted_key(value: serde_json::Value) -> Result<(String, JwksKey), &'static str> {
    if value.get("kty").and_then(|k| k.as_str()) == Some("oct") {
        return Err("symmetric (oct) keys are never trusted from a JWKS");
    }
    let jwk: Jwk = serde_json::from_value(value).map_err(|_| "unparseable or unsupported key")?;
    let kid = jwk
        .common
        .key_id
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or("key has no kid")?;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return Err("key is not for signatures (use)");
    }
    if jwk
        .common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return Err("key_ops does not include verify");
    }
    let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES256))
            if p.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        (AlgorithmParameters::RSA(p), None | Some(KeyAlgorithm::RS256)) => {
            if rsa_bits(&p.n).ok_or("RSA modulus is not base64url")? < MIN_RSA_BITS {
                return Err("RSA key shorter than 2048 bits");
            }
            Algorithm::RS256
        }
        (AlgorithmParameters::OctetKeyPair(p), None | Some(KeyAlgorithm::EdDSA))
            if p.curve == EllipticCurve::Ed25519 =>
        {
            Algorithm::EdDSA
        }
        _ => return Err("unsupported key type, curve or algorithm"),
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "key parameters are malformed")?;
    Ok((kid, JwksKey { alg, key }))
}

fn rsa_bits(n: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(n).ok()?;
    let start = bytes.iter().position(|b| *b != 0)?;
    let first = bytes[start];
    Some((bytes.len() - start - 1) * 8 + (8 - first.leading_zeros() as usize))
}

/// The kids [`parse_jwks`] keeps from `body`: for the fuzz target (feature `internals`).
#[cfg(feature = "internals")]
#[doc(hidden)]
pub fn jwks_kids(body: &[u8]) -> Result<Vec<String>, Malformed> {
    parse_jwks(body).map(|keys| keys.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ec() -> serde_json::Value {
        // A P-256 point (the NIST test vector's public key); only parsing is exercised here.
        json!({"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig", "key_ops": ["verify"], "ext": true,
               "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
    }

    fn parse(keys: Vec<serde_json::Value>) -> HashMap<String, Arc<JwksKey>> {
        parse_jwks(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn supabase_shaped_ec_keys_are_kept_and_bound_to_es256() {
        let keys = parse(vec![ec()]);
        assert_eq!(keys["k1"].alg, Algorithm::ES256);
    }

    #[test]
    fn untrusted_keys_are_skipped_and_the_rest_kept() {
        let mut enc = ec();
        enc["use"] = json!("enc");
        enc["kid"] = json!("enc");
        let mut sign_only = ec();
        sign_only["key_ops"] = json!(["sign"]);
        sign_only["kid"] = json!("sign");
        let mut no_kid = ec();
        no_kid.as_object_mut().map(|o| o.remove("kid"));
        let mut wrong_alg = ec();
        wrong_alg["alg"] = json!("RS256");
        wrong_alg["kid"] = json!("wrong");
        let oct = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"});
        let small_rsa = json!({"kty": "RSA", "kid": "rsa1024", "alg": "RS256", "n": URL_SAFE_NO_PAD.encode([0xffu8; 128]), "e": "AQAB"});
        let keys = parse(vec![
            ec(),
            enc,
            sign_only,
            no_kid,
            wrong_alg,
            oct,
            small_rsa,
            json!({"kty": "weird"}),
        ]);
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["k1"]);
    }

    #[test]
    fn rsa_bits_counts_the_modulus() {
        assert_eq!(rsa_bits(&URL_SAFE_NO_PAD.encode([0xffu8; 256])), Some(2048));
        assert_eq!(rsa_bits(&URL_SAFE_NO_PAD.encode([0x00, 0x7f, 0xff])), Some(15));
        let mut n = vec![0x01u8];
        n.extend([0u8; 255]);
        assert_eq!(rsa_bits(&URL_SAFE_NO_PAD.encode(n)), Some(2041));
    }

    #[test]
    fn garbage_is_malformed() {
        for body in [&b"<html>"[..], b"{}", b"{\"keys\": 3}", b"[]"] {
            assert!(matches!(parse_jwks(body), Err(Malformed)));
        }
    }
}
