//! Supabase's access-token claims: the wire format and the typed result.
//!
//! [`validate`] parses the payload once, strictly (see `json.rs`), takes the
//! claims we know out of it with their documented types, and keeps every other
//! claim (a custom access-token hook's `user_role`, `tenant_id`, …) as JSON.
//! It yields [`SupabaseClaims`] plus the three fields of
//! [`AuthUser`](super::AuthUser), or says exactly which rule failed.
//! A known claim that is present with the wrong JSON type fails the token.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::json::{self, JsonError};
use super::{Fault, RequiredClaim};

/// The `role` claim. Supabase's own roles are typed; roles added by a custom
/// access-token hook are kept as [`Role::Other`], never rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
#[non_exhaustive]
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

    /// Whether any of `accepted` is one of the audiences.
    pub fn contains_any(&self, accepted: &[String]) -> bool {
        accepted.iter().any(|a| self.contains(a))
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

/// The Supabase claims of a verified token, beyond `sub`, `email` and `role`
/// (which live on [`AuthUser`](super::AuthUser)), and every claim we do not know.
///
/// Its `Debug` shows the protocol claims, the names of the others and no
/// values of them, no phone number and no payload.
#[derive(Clone, PartialEq, Serialize)]
pub struct SupabaseClaims {
    /// Issuer, e.g. `https://<ref>.supabase.co/auth/v1`.
    pub iss: String,
    /// Audience(s); always contains one of the accepted ones.
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
    /// The OAuth 2.1 client the token was issued to (Supabase's OAuth server).
    pub client_id: Option<String>,
    /// The OAuth scopes granted, space-separated (Supabase's OAuth server).
    pub scope: Option<String>,
    /// Every top-level claim not listed above, as sent: claims added by a
    /// custom access-token hook (`user_role`, `tenant_id`, …) land here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The verified payload, exactly as signed: the claim set a database
    /// session is given.
    #[serde(skip)]
    pub(crate) payload: Box<str>,
}

impl std::fmt::Debug for SupabaseClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupabaseClaims")
            .field("iss", &self.iss)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("iat", &self.iat)
            .field("nbf", &self.nbf)
            .field("phone", &self.phone.as_ref().map(|_| "[redacted]"))
            .field("aal", &self.aal)
            .field("session_id", &self.session_id)
            .field("is_anonymous", &self.is_anonymous)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A UUID in the hyphenated form Supabase writes; other spellings are refused.
pub(crate) fn hyphenated_uuid(s: &str) -> Option<Uuid> {
    Some(s)
        .filter(|s| s.len() == 36)
        .and_then(|s| Uuid::try_parse(s).ok())
}

impl SupabaseClaims {
    /// The `session_id` as a UUID, if the token names a session.
    pub fn session_uuid(&self) -> Option<Uuid> {
        self.session_id.as_deref().and_then(hyphenated_uuid)
    }

    /// Whether the OAuth `scope` claim lists `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|all| all.split(' ').any(|s| s == scope))
    }

    /// The verified payload as JSON text, every claim included.
    pub fn payload_json(&self) -> &str {
        &self.payload
    }

    /// Server-controlled metadata (`provider`, `providers`, …). Read from the
    /// payload on each call, so that cached tokens do not hold it twice.
    pub fn app_metadata(&self) -> Option<Map<String, Value>> {
        self.payload_object("app_metadata")
    }

    /// User-editable metadata: never trust it for authorization. Read from the
    /// payload on each call, like [`app_metadata`](Self::app_metadata).
    pub fn user_metadata(&self) -> Option<Map<String, Value>> {
        self.payload_object("user_metadata")
    }

    fn payload_object(&self, name: &str) -> Option<Map<String, Value>> {
        match serde_json::from_str::<Map<String, Value>>(&self.payload)
            .ok()?
            .remove(name)?
        {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }
}

/// The time rules of JWT dates: `exp`, `nbf` and `iat` checked against
/// `now` with the clock-skew `leeway`, the one place they are written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) now: i64,
    pub(crate) leeway: i64,
}

impl Clock {
    /// Whether `exp` has passed, beyond the leeway.
    pub(crate) fn is_past(self, exp: i64) -> bool {
        exp.saturating_add(self.leeway) < self.now
    }

    /// Whether `t` (an `nbf` or `iat`) is still to come, beyond the leeway.
    pub(crate) fn is_future(self, t: i64) -> bool {
        t > self.now.saturating_add(self.leeway)
    }
}

/// The rules a token's claims are checked against.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: i64,
}

/// What a valid payload yields: the user's identity and the remaining claims.
pub(crate) struct Validated {
    pub(crate) sub: Uuid,
    pub(crate) email: Option<String>,
    pub(crate) role: Role,
    pub(crate) claims: SupabaseClaims,
}

/// Takes a known claim out of the claim set; `null` counts as absent.
fn take<T: DeserializeOwned>(claims: &mut Map<String, Value>, name: &str) -> Result<Option<T>, Fault> {
    match claims.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::deserialize(value).map(Some).map_err(|_| Fault::BadClaim),
    }
}

/// Parses the decoded payload strictly and checks its claims at time `now`
/// (seconds since the epoch).
pub(crate) fn validate(payload: Vec<u8>, rules: &ClaimRules, now: i64) -> Result<Validated, Fault> {
    let mut c = json::object(&payload).map_err(|e| match e {
        JsonError::Duplicate => Fault::DuplicateMember,
        JsonError::Invalid => Fault::MalformedClaims,
    })?;
    // `object` checked the UTF-8 already; this only moves the bytes.
    let payload = String::from_utf8(payload).map_err(|_| Fault::MalformedClaims)?;
    let sub: Option<String> = take(&mut c, "sub")?;
    let aud: Option<Audience> = take(&mut c, "aud")?;
    let role: Option<Role> = take(&mut c, "role")?;
    let iss: Option<String> = take(&mut c, "iss")?;
    let exp: Option<NumericDate> = take(&mut c, "exp")?;
    let iat: Option<NumericDate> = take(&mut c, "iat")?;
    let nbf: Option<NumericDate> = take(&mut c, "nbf")?;
    let email = take(&mut c, "email")?;
    // Checked for their type, then dropped: they are often the bulk of a
    // token, and the cache would hold them twice (they stay in the payload).
    take::<Map<String, Value>>(&mut c, "app_metadata")?;
    take::<Map<String, Value>>(&mut c, "user_metadata")?;
    let claims = SupabaseClaims {
        iss: String::new(),
        aud: Audience::Many(Vec::new()),
        exp: 0,
        iat: iat.map(|d| d.0),
        nbf: nbf.map(|d| d.0),
        phone: take(&mut c, "phone")?,
        aal: take(&mut c, "aal")?,
        amr: take(&mut c, "amr")?,
        session_id: take(&mut c, "session_id")?,
        is_anonymous: take(&mut c, "is_anonymous")?,
        client_id: take(&mut c, "client_id")?,
        scope: take(&mut c, "scope")?,
        extra: c,
        payload: payload.into_boxed_str(),
    };
    if sub.is_none() && aud.is_none() && matches!(role, Some(Role::Anon | Role::ServiceRole)) {
        return Err(Fault::LegacyApiKey);
    }
    let exp = exp.ok_or(Fault::MissingClaim(RequiredClaim::Exp))?.0;
    let clock = Clock {
        now,
        leeway: rules.leeway,
    };
    if clock.is_past(exp) {
        return Err(Fault::Expired);
    }
    if claims.nbf.is_some_and(|nbf| clock.is_future(nbf)) {
        return Err(Fault::NotYetValid);
    }
    if claims.iat.is_some_and(|iat| clock.is_future(iat)) {
        return Err(Fault::IssuedInFuture);
    }
    let iss = iss.ok_or(Fault::MissingClaim(RequiredClaim::Iss))?;
    if !rules.issuers.contains(&iss) {
        return Err(Fault::WrongIssuer);
    }
    let aud = aud.ok_or(Fault::MissingClaim(RequiredClaim::Aud))?;
    if !aud.contains_any(&rules.audiences) {
        return Err(Fault::WrongAudience);
    }
    let sub = sub.ok_or(Fault::MissingClaim(RequiredClaim::Sub))?;
    // Supabase writes the hyphenated form; other spellings of a UUID are refused.
    let sub = hyphenated_uuid(&sub).ok_or(Fault::SubNotUuid)?;
    let role = role.ok_or(Fault::MissingClaim(RequiredClaim::Role))?;
    Ok(Validated {
        sub,
        email,
        role,
        claims: SupabaseClaims {
            iss,
            aud,
            exp,
            ..claims
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
            audiences: vec!["authenticated".into(), "my-oauth-api".into()],
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

    fn check(v: Value) -> Result<Validated, Fault> {
        validate(v.to_string().into_bytes(), &rules(), NOW)
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
        assert_eq!(check(with("exp", json!(NOW - 31))).err(), Some(Fault::Expired));
        assert_eq!(
            check(with("nbf", json!(NOW + 31))).err(),
            Some(Fault::NotYetValid)
        );
        assert!(check(with("nbf", json!(NOW + 29))).is_ok());
        assert_eq!(
            check(with("iat", json!(NOW + 31))).err(),
            Some(Fault::IssuedInFuture)
        );
        assert!(check(with("exp", json!((NOW + 60) as f64 + 0.5))).is_ok());
    }

    #[test]
    fn required_claims_are_required() {
        for (claim, which) in [
            ("exp", RequiredClaim::Exp),
            ("iss", RequiredClaim::Iss),
            ("aud", RequiredClaim::Aud),
            ("sub", RequiredClaim::Sub),
            ("role", RequiredClaim::Role),
        ] {
            assert_eq!(
                check(without(claim)).err(),
                Some(Fault::MissingClaim(which)),
                "{claim}"
            );
            assert_eq!(
                check(with(claim, Value::Null)).err(),
                Some(Fault::MissingClaim(which))
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
            ("client_id", json!(1)),
            ("scope", json!(["a"])),
        ] {
            assert_eq!(
                check(with(claim, value.clone())).err(),
                Some(Fault::BadClaim),
                "{claim}: {value}"
            );
        }
    }

    #[test]
    fn audience_and_issuer_must_match() {
        assert_eq!(
            check(with("aud", json!("anon"))).err(),
            Some(Fault::WrongAudience)
        );
        assert!(check(with("aud", json!(["x", "authenticated"]))).is_ok());
        assert!(
            check(with("aud", json!("my-oauth-api"))).is_ok(),
            "any accepted audience"
        );
        assert_eq!(
            check(with("iss", json!("https://x.supabase.co/auth/v1/"))).err(),
            Some(Fault::WrongIssuer)
        );
        assert_eq!(check(with("sub", json!(""))).err(), Some(Fault::SubNotUuid));
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
        assert_eq!(check(key).err(), Some(Fault::LegacyApiKey));
    }

    #[test]
    fn every_claim_is_kept() {
        let mut v = good();
        v["user_role"] = json!("moderator");
        v["tenant_id"] = json!({"id": 7});
        v["client_id"] = json!("9a1c");
        v["scope"] = json!("openid email");
        let ok = check(v.clone()).map_err(|e| e.description()).unwrap();
        assert_eq!(ok.claims.extra.len(), 2);
        assert_eq!(ok.claims.extra["user_role"], "moderator");
        assert_eq!(ok.claims.client_id.as_deref(), Some("9a1c"));
        assert!(ok.claims.has_scope("email") && !ok.claims.has_scope("mail"));
        let payload: Value = serde_json::from_str(ok.claims.payload_json()).unwrap();
        assert_eq!(payload, v, "the payload is kept whole");
        assert_eq!(
            ok.claims.app_metadata().map(|m| m["provider"].clone()),
            Some(json!("email"))
        );
        assert_eq!(ok.claims.user_metadata().map(|m| m.len()), Some(0));
    }

    #[test]
    fn strict_json_rules_apply_to_claims() {
        let text = good().to_string();
        let doubled = text.replacen(
            "\"role\":\"authenticated\"",
            "\"role\":\"authenticated\",\"role\":\"service_role\"",
            1,
        );
        assert_ne!(doubled, text);
        assert_eq!(
            validate(doubled.into_bytes(), &rules(), NOW).err(),
            Some(Fault::DuplicateMember)
        );
        let mut bad_utf8 = text.into_bytes();
        bad_utf8.insert(2, 0xff); // inside the first member name
        assert_eq!(
            validate(bad_utf8, &rules(), NOW).err(),
            Some(Fault::MalformedClaims)
        );
        assert_eq!(
            validate(b"[1]".to_vec(), &rules(), NOW).err(),
            Some(Fault::MalformedClaims)
        );
    }
}
