//! Supabase's access-token claims: the wire format and the typed result.
//!
//! [`WireClaims`] is what we parse the payload into, in a single pass, with
//! every claim optional so that a missing claim gets its own message.
//! [`validate`] turns it into [`SupabaseClaims`] plus the three fields of
//! [`AuthUser`](super::AuthUser), or says exactly which rule failed.
//! A claim that is present with the wrong JSON type fails the parse and the token.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::AuthError;

/// The `role` claim. Supabase's own roles are typed; roles added by a custom
/// access-token hook are kept as [`Role::Other`], never rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// A signed-in user (including anonymous sign-ins).
    Authenticated,
    /// The public `anon` role.
    Anon,
    /// The service role, which bypasses row-level security.
    ServiceRole,
    /// Any other role, e.g. one set by a custom access-token hook.
    Other(String),
}

impl Role {
    /// The role as it appears in the token.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Authenticated => "authenticated",
            Self::Anon => "anon",
            Self::ServiceRole => "service_role",
            Self::Other(s) => s,
        }
    }
}

impl From<String> for Role {
    fn from(s: String) -> Self {
        match s.as_str() {
            "authenticated" => Self::Authenticated,
            "anon" => Self::Anon,
            "service_role" => Self::ServiceRole,
            _ => Self::Other(s),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from)
    }
}

/// The authenticator assurance level (`aal`): `aal1` for one factor, `aal2` after MFA.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Aal {
    /// One factor.
    Aal1,
    /// Two factors (MFA verified).
    Aal2,
    /// A level this version does not know.
    Other(String),
}

impl Aal {
    /// The level as it appears in the token.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Aal1 => "aal1",
            Self::Aal2 => "aal2",
            Self::Other(s) => s,
        }
    }
}

impl Serialize for Aal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Aal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "aal1" => Self::Aal1,
            "aal2" => Self::Aal2,
            _ => Self::Other(s),
        })
    }
}

/// One entry of `amr` (authentication methods references). Supabase writes
/// objects `{method, timestamp}`; RFC 8176 writes plain strings. Both parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AmrEntry {
    /// How the user authenticated: `password`, `otp`, `oauth`, `totp`, …
    pub method: String,
    /// When, in seconds since the epoch, if the token says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

impl<'de> Deserialize<'de> for AmrEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Plain(String),
            Object {
                method: String,
                #[serde(default)]
                timestamp: Option<NumericDate>,
            },
        }
        Ok(match Shape::deserialize(d)? {
            Shape::Plain(method) => Self {
                method,
                timestamp: None,
            },
            Shape::Object { method, timestamp } => Self {
                method,
                timestamp: timestamp.map(|t| t.0),
            },
        })
    }
}

/// `aud`: a single string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "authenticated"`
    One(String),
    /// `"aud": ["authenticated", "other"]`
    Many(Vec<String>),
}

impl Audience {
    /// Whether `expected` is one of the audiences.
    pub fn contains(&self, expected: &str) -> bool {
        match self {
            Self::One(a) => a == expected,
            Self::Many(all) => all.iter().any(|a| a == expected),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AudVisitor;
        impl<'de> Visitor<'de> for AudVisitor {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::One(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(8));
                while let Some(a) = seq.next_element::<String>()? {
                    all.push(a);
                }
                Ok(Audience::Many(all))
            }
        }
        d.deserialize_any(AudVisitor)
    }
}

/// A JSON number of seconds since the epoch (RFC 7519 NumericDate). Integers
/// and finite fractions are accepted; fractions are truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NumericDate(i64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DateVisitor;
        impl Visitor<'_> for DateVisitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
                Ok(NumericDate(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
                i64::try_from(v)
                    .map(NumericDate)
                    .map_err(|_| E::custom("date out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
                // i64 range is ±9.2e18; real dates are ~1.7e9.
                if v.is_finite() && v.abs() < 1e18 {
                    Ok(NumericDate(v.trunc() as i64))
                } else {
                    Err(E::custom("date out of range"))
                }
            }
        }
        d.deserialize_any(DateVisitor)
    }
}

/// The payload as sent. Unknown claims are ignored; known ones must have their
/// documented type. `null` counts as absent.
#[derive(Debug, Deserialize)]
pub(crate) struct WireClaims {
    sub: Option<String>,
    aud: Option<Audience>,
    iss: Option<String>,
    exp: Option<NumericDate>,
    iat: Option<NumericDate>,
    nbf: Option<NumericDate>,
    role: Option<Role>,
    email: Option<String>,
    phone: Option<String>,
    aal: Option<Aal>,
    amr: Option<Vec<AmrEntry>>,
    session_id: Option<String>,
    is_anonymous: Option<bool>,
    app_metadata: Option<Map<String, Value>>,
    user_metadata: Option<Map<String, Value>>,
}

/// The Supabase claims of a verified token, beyond `sub`, `email` and `role`
/// (which live on [`AuthUser`](super::AuthUser)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupabaseClaims {
    /// Issuer, e.g. `https://<ref>.supabase.co/auth/v1`.
    pub iss: String,
    /// Audience(s); always contains the configured one.
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: Option<i64>,
    /// Not before, seconds since the epoch.
    pub nbf: Option<i64>,
    /// Phone number, if the user has one.
    pub phone: Option<String>,
    /// Authenticator assurance level.
    pub aal: Option<Aal>,
    /// Authentication methods used in this session.
    pub amr: Option<Vec<AmrEntry>>,
    /// The Supabase Auth session id.
    pub session_id: Option<String>,
    /// Whether this is an anonymous sign-in.
    pub is_anonymous: Option<bool>,
    /// Server-controlled metadata (`provider`, `providers`, …).
    pub app_metadata: Option<Map<String, Value>>,
    /// User-editable metadata: never trust it for authorization.
    pub user_metadata: Option<Map<String, Value>>,
}

/// The rules a token's claims are checked against.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    pub(crate) issuers: Vec<String>,
    pub(crate) audience: String,
    pub(crate) leeway: i64,
}

/// What a valid payload yields: the user's identity and the remaining claims.
pub(crate) struct Validated {
    pub(crate) sub: Uuid,
    pub(crate) email: Option<String>,
    pub(crate) role: Role,
    pub(crate) claims: SupabaseClaims,
}

/// Checks the claims at time `now` (seconds since the epoch).
pub(crate) fn validate(c: WireClaims, rules: &ClaimRules, now: i64) -> Result<Validated, AuthError> {
    use AuthError::InvalidToken as Invalid;
    if c.sub.is_none() && c.aud.is_none() && matches!(c.role, Some(Role::Anon | Role::ServiceRole)) {
        return Err(Invalid(
            "this is a Supabase API key (anon/service_role), not a user access token",
        ));
    }
    let exp = c.exp.ok_or(Invalid("missing exp claim"))?.0;
    if exp.saturating_add(rules.leeway) < now {
        return Err(Invalid("token expired"));
    }
    if c.nbf.is_some_and(|nbf| nbf.0 > now.saturating_add(rules.leeway)) {
        return Err(Invalid("token not yet valid"));
    }
    if c.iat.is_some_and(|iat| iat.0 > now.saturating_add(rules.leeway)) {
        return Err(Invalid("token issued in the future"));
    }
    let iss = c.iss.ok_or(Invalid("missing iss claim"))?;
    if !rules.issuers.contains(&iss) {
        return Err(Invalid("invalid issuer"));
    }
    let aud = c.aud.ok_or(Invalid("missing aud claim"))?;
    if !aud.contains(&rules.audience) {
        return Err(Invalid("invalid audience"));
    }
    let sub = c.sub.ok_or(Invalid("missing sub claim"))?;
    // Supabase writes the hyphenated form; other spellings of a UUID are refused.
    let sub = Some(sub.as_str())
        .filter(|s| s.len() == 36)
        .and_then(|s| Uuid::try_parse(s).ok())
        .ok_or(Invalid("sub claim is not a UUID"))?;
    let role = c.role.ok_or(Invalid("missing role claim"))?;
    Ok(Validated {
        sub,
        email: c.email,
        role,
        claims: SupabaseClaims {
            iss,
            aud,
            exp,
            iat: c.iat.map(|d| d.0),
            nbf: c.nbf.map(|d| d.0),
            phone: c.phone,
            aal: c.aal,
            amr: c.amr,
            session_id: c.session_id,
            is_anonymous: c.is_anonymous,
            app_metadata: c.app_metadata,
            user_metadata: c.user_metadata,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuers: vec!["https://x.supabase.co/auth/v1".into()],
            audience: "authenticated".into(),
            leeway: 30,
        }
    }

    fn good() -> Value {
        json!({
            "sub": "8d6f1f5e-3b2a-4c2e-9d35-5f0f2f7b9a11", "aud": "authenticated",
            "iss": "https://x.supabase.co/auth/v1", "exp": NOW + 3600, "iat": NOW, "role": "authenticated",
            "email": "a@example.com", "aal": "aal1", "amr": [{"method": "password", "timestamp": NOW}, "otp"],
            "session_id": "s", "is_anonymous": false, "app_metadata": {"provider": "email"}, "user_metadata": {}
        })
    }

    fn check(v: Value) -> Result<Validated, AuthError> {
        let wire: WireClaims =
            serde_json::from_value(v).map_err(|_| AuthError::InvalidToken("malformed claims"))?;
        validate(wire, &rules(), NOW)
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = good();
        v[key] = value;
        v
    }

    fn without(key: &str) -> Value {
        let mut v = good();
        v.as_object_mut().map(|o| o.remove(key));
        v
    }

    #[test]
    fn a_supabase_payload_validates() {
        let ok = check(good()).map_err(|e| e.to_string()).unwrap();
        assert_eq!(ok.role, Role::Authenticated);
        assert_eq!(ok.email.as_deref(), Some("a@example.com"));
        assert_eq!(ok.claims.amr.as_ref().map(Vec::len), Some(2));
        assert_eq!(ok.claims.aal, Some(Aal::Aal1));
    }

    #[test]
    fn time_rules_use_the_leeway() {
        assert!(check(with("exp", json!(NOW - 10))).is_ok());
        assert_eq!(
            check(with("exp", json!(NOW - 31))).err(),
            Some(AuthError::InvalidToken("token expired"))
        );
        assert_eq!(
            check(with("nbf", json!(NOW + 31))).err(),
            Some(AuthError::InvalidToken("token not yet valid"))
        );
        assert!(check(with("nbf", json!(NOW + 29))).is_ok());
        assert_eq!(
            check(with("iat", json!(NOW + 31))).err(),
            Some(AuthError::InvalidToken("token issued in the future"))
        );
        assert!(check(with("exp", json!((NOW + 60) as f64 + 0.5))).is_ok());
    }

    #[test]
    fn required_claims_are_required() {
        for (claim, msg) in [
            ("exp", "missing exp claim"),
            ("iss", "missing iss claim"),
            ("aud", "missing aud claim"),
            ("sub", "missing sub claim"),
            ("role", "missing role claim"),
        ] {
            assert_eq!(
                check(without(claim)).err(),
                Some(AuthError::InvalidToken(msg)),
                "{claim}"
            );
        }
    }

    #[test]
    fn wrong_types_are_rejected() {
        for (claim, value) in [
            ("exp", json!("soon")),
            ("aud", json!(7)),
            ("aud", json!(["authenticated", 7])),
            ("iss", json!(["https://x.supabase.co/auth/v1"])),
            ("role", json!(1)),
            ("email", json!(true)),
            ("is_anonymous", json!("false")),
            ("app_metadata", json!([])),
            ("amr", json!([{"timestamp": 1}])),
        ] {
            assert!(check(with(claim, value.clone())).is_err(), "{claim}: {value}");
        }
    }

    #[test]
    fn audience_and_issuer_must_match() {
        assert_eq!(
            check(with("aud", json!("anon"))).err(),
            Some(AuthError::InvalidToken("invalid audience"))
        );
        assert!(check(with("aud", json!(["x", "authenticated"]))).is_ok());
        assert_eq!(
            check(with("iss", json!("https://x.supabase.co/auth/v1/"))).err(),
            Some(AuthError::InvalidToken("invalid issuer"))
        );
        assert_eq!(
            check(with("sub", json!(""))).err(),
            Some(AuthError::InvalidToken("sub claim is not a UUID"))
        );
    }

    #[test]
    fn custom_roles_are_kept() {
        let ok = check(with("role", json!("admin")))
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(ok.role, Role::Other("admin".into()));
    }

    #[test]
    fn legacy_api_key_jwts_are_named() {
        let key = json!({"iss": "supabase", "ref": "x", "role": "service_role", "iat": NOW, "exp": NOW + 9});
        assert_eq!(
            check(key).err(),
            Some(AuthError::InvalidToken(
                "this is a Supabase API key (anon/service_role), not a user access token"
            ))
        );
    }
}
