//! [`SupabaseAuthBuilder`]: the verifier's settings, from code or from the
//! environment, every rule checked in one place before anything is built.

mod lookup;

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};

use super::settings::{
    BuildError, DEV_JWT_SECRET, JwksTiming, MIN_SECRET_LEN, Origins, Reason, Setting, redacted,
};
use super::urls::{check_jwks_url, parse_base_url};
use crate::cache::DEFAULT_CACHE_ENTRIES;
use crate::error::AuthError;
use crate::respond::BodyFn;
use crate::{DEFAULT_MAX_TOKEN_BYTES, REALM};

/// Where the JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JwksSource {
    /// `<project_url>/auth/v1/.well-known/jwks.json`.
    Derived,
    /// An explicit URL.
    Url(String),
    /// No JWKS: HS256 only.
    Off,
}

/// Configures and builds a [`SupabaseAuth`](crate::SupabaseAuth). Setters take
/// `&mut self`, like `std::process::Command`, so a builder can be kept and adjusted.
///
/// ```
/// use std::time::Duration;
/// use axum_supabase::SupabaseAuth;
///
/// let auth = SupabaseAuth::builder()
///     .project_url("https://abcdefgh.supabase.co")
///     .jwt_secret("a-project-secret-of-at-least-32-bytes")
///     .audiences(["authenticated"])
///     .leeway(Duration::from_secs(10))
///     .build()?;
/// # Ok::<(), axum_supabase::BuildError>(())
/// ```
#[derive(Clone)]
pub struct SupabaseAuthBuilder {
    project_url: Option<String>,
    jwt_secret: Option<SecretString>,
    jwks: JwksSource,
    jwks_max_stale: Duration,
    jwks_timing: JwksTiming,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    cache_size: usize,
    max_token_bytes: usize,
    allow_dev_secret: bool,
    realm: String,
    rejection_body: Option<BodyFn>,
    /// Named secret API keys, and the variable they came from (for errors).
    secret_keys: Vec<(String, SecretString)>,
    secret_keys_var: Option<&'static str>,
    origins: Origins,
}

impl std::fmt::Debug for SupabaseAuthBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupabaseAuthBuilder")
            .field("project_url", &self.project_url)
            .field("jwt_secret", &redacted(&self.jwt_secret))
            .field("jwks", &self.jwks)
            .field("jwks_max_stale", &self.jwks_max_stale)
            .field("jwks_timing", &self.jwks_timing)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("cache_size", &self.cache_size)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("allow_dev_secret", &self.allow_dev_secret)
            .field("realm", &self.realm)
            .field("rejection_body", &self.rejection_body.as_ref().map(|_| "custom"))
            .field(
                "secret_keys",
                &self
                    .secret_keys
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for SupabaseAuthBuilder {
    fn default() -> Self {
        Self {
            project_url: None,
            jwt_secret: None,
            jwks: JwksSource::Derived,
            jwks_max_stale: Duration::from_secs(3600),
            jwks_timing: JwksTiming::default(),
            issuers: Vec::new(),
            audiences: vec!["authenticated".to_owned()],
            leeway: Duration::from_secs(30),
            cache_size: DEFAULT_CACHE_ENTRIES,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            allow_dev_secret: false,
            realm: REALM.to_owned(),
            rejection_body: None,
            secret_keys: Vec::new(),
            secret_keys_var: None,
            origins: Origins::default(),
        }
    }
}

/// The JWKS part of a resolved configuration.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "jwks"), allow(dead_code, reason = "read by the JWKS cache"))]
pub(crate) struct JwksSettings {
    pub(crate) url: String,
    pub(crate) max_stale: Duration,
    pub(crate) timing: JwksTiming,
}

/// Everything a verifier is built from, resolved and checked.
#[cfg_attr(
    not(feature = "jwks"),
    allow(dead_code, reason = "the JWKS settings are read by its cache")
)]
pub(crate) struct Resolved {
    pub(crate) project_url: String,
    pub(crate) hs256_secret: Option<Vec<u8>>,
    pub(crate) jwks: Option<JwksSettings>,
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: i64,
    pub(crate) cache_size: usize,
    pub(crate) max_token_bytes: usize,
    pub(crate) realm: String,
    pub(crate) rejection_body: Option<BodyFn>,
    pub(crate) service_keys: Option<crate::service::ServiceKeys>,
    /// Where the settings came from, to name one in a later error.
    pub(crate) origins: Origins,
}

impl SupabaseAuthBuilder {
    /// `https://<ref>.supabase.co` (a trailing slash is tolerated). The issuer
    /// `<url>/auth/v1` and the JWKS URL are derived from it. Required.
    pub fn project_url(&mut self, url: impl Into<String>) -> &mut Self {
        self.project_url = Some(url.into());
        self.origins.coded(Setting::ProjectUrl);
        self
    }

    /// The project's legacy HS256 JWT secret, at least 32 bytes, used as raw
    /// bytes (as Supabase does). Optional when the JWKS is on.
    pub fn jwt_secret(&mut self, secret: impl Into<String>) -> &mut Self {
        self.jwt_secret = Some(SecretString::from(secret.into()));
        self.origins.coded(Setting::JwtSecret);
        self
    }

    /// Forgets the JWT secret: asymmetric (JWKS) tokens only.
    pub fn without_jwt_secret(&mut self) -> &mut Self {
        self.jwt_secret = None;
        self.origins.coded(Setting::JwtSecret);
        self
    }

    /// Where the asymmetric signing keys are published (default:
    /// `<project_url>/auth/v1/.well-known/jwks.json`); https unless the host is
    /// loopback, and no user info.
    pub fn jwks_url(&mut self, url: impl Into<String>) -> &mut Self {
        self.jwks = JwksSource::Url(url.into());
        self.origins.coded(Setting::JwksUrl);
        self
    }

    /// No JWKS: only HS256 tokens, verified with the secret.
    pub fn without_jwks(&mut self) -> &mut Self {
        self.jwks = JwksSource::Off;
        self.origins.coded(Setting::JwksUrl);
        self
    }

    /// How long the last good keys keep serving while the JWKS endpoint fails
    /// (1 s to 7 days; default one hour). After that, asymmetric tokens get 503.
    pub fn jwks_max_stale(&mut self, max_stale: Duration) -> &mut Self {
        self.jwks_max_stale = max_stale;
        self.origins.coded(Setting::JwksMaxStale);
        self
    }

    /// The JWKS cache's clocks; the defaults suit production.
    pub fn jwks_timing(&mut self, timing: JwksTiming) -> &mut Self {
        self.jwks_timing = timing;
        self
    }

    /// The accepted `iss` values, replacing the derived `<project_url>/auth/v1`
    /// (for a custom auth domain). A token must match one exactly.
    pub fn issuers<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, issuers: I) -> &mut Self {
        self.issuers = issuers.into_iter().map(Into::into).collect();
        self.origins.coded(Setting::Issuers);
        self
    }

    /// The accepted audiences (default `authenticated`); a token's `aud` must contain one.
    pub fn audiences<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, audiences: I) -> &mut Self {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self.origins.coded(Setting::Audiences);
        self
    }

    /// The clock-skew allowance for `exp`, `nbf` and `iat`, whole seconds up
    /// to 300 (default 30).
    pub fn leeway(&mut self, leeway: Duration) -> &mut Self {
        self.leeway = leeway;
        self.origins.coded(Setting::Leeway);
        self
    }

    /// The verified-token cache's capacity in entries (0 turns it off; at most 1,000,000).
    pub fn cache_size(&mut self, entries: usize) -> &mut Self {
        self.cache_size = entries;
        self.origins.coded(Setting::CacheSize);
        self
    }

    /// The longest token accepted, in bytes (default 32 KiB). Supabase copies
    /// user and app metadata into tokens, so tokens of several KiB are genuine.
    pub fn max_token_bytes(&mut self, bytes: usize) -> &mut Self {
        self.max_token_bytes = bytes;
        self
    }

    /// Accepts the Supabase CLI's well-known secret ([`DEV_JWT_SECRET`]).
    /// Anyone can mint tokens for it: call this only for a server that only
    /// your machine can reach.
    pub fn allow_local_dev_secret(&mut self, allow: bool) -> &mut Self {
        self.allow_dev_secret = allow;
        self
    }

    /// The project's secret API keys (`sb_secret_…`), each under a name
    /// (`default`, `cron`, …), for server-to-server callers: see
    /// [`ServiceCaller`](crate::ServiceCaller). Replaces any set before.
    /// Every key starts with `sb_secret_`; names are not empty; no two names
    /// share a key.
    pub fn secret_keys<I, N, K>(&mut self, keys: I) -> &mut Self
    where
        I: IntoIterator<Item = (N, K)>,
        N: Into<String>,
        K: Into<String>,
    {
        self.secret_keys = keys
            .into_iter()
            .map(|(n, k)| (n.into(), SecretString::from(k.into())))
            .collect();
        // Set in code now: no longer the environment's, so an empty list means none.
        self.secret_keys_var = None;
        self.origins.coded(Setting::SecretKeys);
        self
    }

    /// One secret API key, named `default` (as `SUPABASE_SECRET_KEY` gives it).
    pub fn secret_key(&mut self, key: impl Into<String>) -> &mut Self {
        self.secret_keys([("default", key.into())])
    }

    /// The `realm` of every `WWW-Authenticate` challenge (default `api`).
    pub fn realm(&mut self, realm: impl Into<String>) -> &mut Self {
        self.realm = realm.into();
        self
    }

    /// Your own body for rejections (401, 403, 400, 503). The status, the
    /// `WWW-Authenticate` challenge and `Retry-After` are set after your
    /// function runs, so they always follow RFC 6750 whatever it returns.
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// # let mut builder = axum_supabase::SupabaseAuth::builder();
    /// builder.rejection_body(|error| {
    ///     axum::Json(serde_json::json!({ "message": error.description() })).into_response()
    /// });
    /// ```
    pub fn rejection_body(
        &mut self,
        body: impl Fn(&AuthError) -> Response + Send + Sync + 'static,
    ) -> &mut Self {
        self.rejection_body = Some(Arc::new(body));
        self
    }

    /// Checks every rule without building anything.
    pub fn check(&self) -> Result<(), BuildError> {
        self.resolve().map(drop)
    }

    /// Whether the secret is the Supabase CLI's public one.
    pub fn uses_dev_secret(&self) -> bool {
        self.secret_bytes() == Some(DEV_JWT_SECRET.as_bytes())
    }

    /// The JWT secret's bytes, to mint test tokens with (feature `testing`).
    #[cfg(feature = "testing")]
    pub fn jwt_secret_bytes(&self) -> Option<&[u8]> {
        self.secret_bytes()
    }

    fn secret_bytes(&self) -> Option<&[u8]> {
        self.jwt_secret.as_ref().map(|s| s.expose_secret().as_bytes())
    }

    fn invalid(&self, setting: Setting, rule: &'static str) -> BuildError {
        self.origins.error(setting, Reason::Rule(rule))
    }

    fn in_bounds(&self, setting: Setting, value: u64) -> Result<u64, BuildError> {
        match setting.bounds() {
            Some(bounds) => bounds.check(value).map_err(|r| self.origins.error(setting, r)),
            None => Ok(value),
        }
    }

    pub(crate) fn resolve(&self) -> Result<Resolved, BuildError> {
        let raw = self
            .project_url
            .as_deref()
            .map(str::trim)
            .ok_or_else(|| self.origins.error(Setting::ProjectUrl, Reason::Missing))?;
        let base = parse_base_url(raw).map_err(|rule| self.invalid(Setting::ProjectUrl, rule))?;
        let secret = self.secret_bytes();
        if let Some(secret) = secret {
            if secret.len() < MIN_SECRET_LEN {
                return Err(self.invalid(Setting::JwtSecret, "must be at least 32 bytes"));
            }
            if secret == DEV_JWT_SECRET.as_bytes() && !self.allow_dev_secret {
                return Err(self.origins.error(Setting::JwtSecret, Reason::DevSecret));
            }
        }
        let jwks = self.jwks_settings(&base)?;
        if secret.is_none() && jwks.is_none() {
            return Err(self.origins.error(Setting::JwtSecret, Reason::NoKeys));
        }
        let issuers = if self.issuers.is_empty() {
            vec![format!("{base}/auth/v1")]
        } else {
            self.non_empty(&self.issuers, Setting::Issuers)?
        };
        let audiences = self.non_empty(&self.audiences, Setting::Audiences)?;
        if self.leeway.subsec_nanos() != 0 {
            return Err(self.invalid(Setting::Leeway, "must be whole seconds"));
        }
        let leeway = self.in_bounds(Setting::Leeway, self.leeway.as_secs())?;
        self.in_bounds(Setting::CacheSize, self.cache_size as u64)?;
        self.in_bounds(Setting::MaxTokenBytes, self.max_token_bytes as u64)?;
        let realm_ok = !self.realm.is_empty()
            && self.realm.len() <= 64
            && self
                .realm
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if !realm_ok {
            return Err(self.invalid(
                Setting::Realm,
                "must be 1 to 64 visible ASCII characters, without quotes or backslashes",
            ));
        }
        // `{}` read from the environment is a mistake, not "no keys".
        let service_keys = if self.secret_keys.is_empty() && self.secret_keys_var.is_none() {
            None
        } else {
            let pairs = self
                .secret_keys
                .iter()
                .map(|(n, k)| (n.as_str(), k.expose_secret()));
            Some(
                crate::service::ServiceKeys::new(pairs).map_err(|reason| match self.secret_keys_var {
                    Some(var) if self.origins.was_read(Setting::SecretKeys) => {
                        BuildError::var(Setting::SecretKeys, var, reason)
                    }
                    _ => self.origins.error(Setting::SecretKeys, reason),
                })?,
            )
        };
        Ok(Resolved {
            project_url: base,
            hs256_secret: secret.map(<[u8]>::to_vec),
            jwks,
            issuers,
            audiences,
            // At most 300 s, checked above.
            leeway: i64::try_from(leeway).unwrap_or(0),
            cache_size: self.cache_size,
            max_token_bytes: self.max_token_bytes,
            realm: self.realm.clone(),
            rejection_body: self.rejection_body.clone(),
            service_keys,
            origins: self.origins,
        })
    }

    /// The JWKS settings, checked; `None` when the JWKS is off (always,
    /// without the `jwks` feature, unless a URL was asked for).
    fn jwks_settings(&self, base: &str) -> Result<Option<JwksSettings>, BuildError> {
        let url = match &self.jwks {
            JwksSource::Off => return Ok(None),
            JwksSource::Derived if cfg!(not(feature = "jwks")) => return Ok(None),
            JwksSource::Url(_) if cfg!(not(feature = "jwks")) => {
                return Err(self.invalid(Setting::JwksUrl, "needs the `jwks` feature"));
            }
            JwksSource::Url(url) => url.trim().to_owned(),
            JwksSource::Derived => format!("{base}/auth/v1/.well-known/jwks.json"),
        };
        check_jwks_url(&url).map_err(|rule| match self.jwks {
            // The URL was made from the project's: that is the setting to change.
            JwksSource::Derived => self.invalid(
                Setting::ProjectUrl,
                "must be https for the JWKS derived from it (plain http only for a loopback host), \
                 unless the JWKS is turned off",
            ),
            _ => self.invalid(Setting::JwksUrl, rule),
        })?;
        if let Some(bounds) = Setting::JwksMaxStale.bounds() {
            bounds
                .check_duration(self.jwks_max_stale)
                .map_err(|r| self.origins.error(Setting::JwksMaxStale, r))?;
        }
        let t = self.jwks_timing;
        let sane = t.cooldown >= Duration::from_millis(50)
            && (Duration::from_millis(10)..=Duration::from_secs(60)).contains(&t.timeout)
            && t.min_refresh >= Duration::from_millis(50)
            && t.min_refresh <= t.max_refresh
            && t.max_refresh <= Duration::from_secs(86_400);
        if !sane {
            return Err(self.invalid(
                Setting::JwksTiming,
                "needs cooldown and min_refresh of at least 50 ms, min_refresh <= max_refresh <= 1 day, \
                 and a timeout from 10 ms to 60 s",
            ));
        }
        Ok(Some(JwksSettings {
            url,
            max_stale: self.jwks_max_stale,
            timing: t,
        }))
    }

    fn non_empty(&self, values: &[String], setting: Setting) -> Result<Vec<String>, BuildError> {
        let values: Vec<String> = values
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        if values.is_empty() {
            return Err(self.invalid(setting, "must list at least one value"));
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosted() -> SupabaseAuthBuilder {
        let mut b = SupabaseAuthBuilder::default();
        b.project_url("https://abc.supabase.co")
            .jwt_secret("s".repeat(32))
            .without_jwks();
        b
    }

    #[test]
    fn a_minimal_config_builds_and_derives_the_issuer() {
        let r = hosted().resolve().map_err(|e| e.to_string());
        assert_eq!(
            r.map(|r| r.issuers),
            Ok(vec!["https://abc.supabase.co/auth/v1".to_owned()])
        );
    }

    type Change = fn(&mut SupabaseAuthBuilder);

    #[test]
    fn every_rule_is_checked() {
        let refused: [(Change, Setting); 12] = [
            (
                |b| {
                    b.jwt_secret("short");
                },
                Setting::JwtSecret,
            ),
            (
                |b| {
                    b.jwt_secret(DEV_JWT_SECRET);
                },
                Setting::JwtSecret,
            ),
            (
                |b| {
                    b.leeway(Duration::from_secs(301));
                },
                Setting::Leeway,
            ),
            (
                |b| {
                    b.leeway(Duration::from_millis(1500));
                },
                Setting::Leeway,
            ),
            (
                |b| {
                    b.leeway(Duration::MAX);
                },
                Setting::Leeway,
            ),
            (
                |b| {
                    b.project_url("ftp://x");
                },
                Setting::ProjectUrl,
            ),
            (
                |b| {
                    b.project_url("https://u:p@x.co");
                },
                Setting::ProjectUrl,
            ),
            (
                |b| {
                    b.audiences([" "]);
                },
                Setting::Audiences,
            ),
            (
                |b| {
                    b.cache_size(2_000_000);
                },
                Setting::CacheSize,
            ),
            (
                |b| {
                    b.max_token_bytes(10);
                },
                Setting::MaxTokenBytes,
            ),
            (
                |b| {
                    b.realm("a\"b");
                },
                Setting::Realm,
            ),
            (
                |b| {
                    b.issuers([""]);
                },
                Setting::Issuers,
            ),
        ];
        for (i, (change, setting)) in refused.into_iter().enumerate() {
            let mut b = hosted();
            change(&mut b);
            let e = b.check().err();
            assert_eq!(e.as_ref().map(BuildError::setting), Some(setting), "case {i}");
            // Set in code: the error names the method, never a variable.
            assert_eq!(e.and_then(|e| e.variable()), None, "case {i}");
        }
        let mut b = hosted();
        b.without_jwt_secret();
        assert_eq!(b.check().map_err(|e| e.reason()), Err(Reason::NoKeys));
        let mut b = hosted();
        b.issuers(Vec::<String>::new());
        assert!(
            b.check().is_ok(),
            "no issuers given: derived from the project URL"
        );
        b.jwt_secret(DEV_JWT_SECRET).allow_local_dev_secret(true);
        assert!(b.check().is_ok());
    }

    #[cfg(feature = "jwks")]
    #[test]
    fn jwks_urls_follow_the_rules() {
        for (url, ok) in [
            ("https://x.supabase.co/auth/v1/.well-known/jwks.json", true),
            ("http://127.0.0.1:54321/auth/v1/.well-known/jwks.json", true),
            ("http://localhost/jwks.json", true),
            ("http://[::1]:9/jwks.json", true),
            ("http://example.com/jwks.json", false),
            ("https://user:pass@x.supabase.co/jwks.json", false),
            ("https://token@x.supabase.co/jwks.json", false),
            ("not a url", false),
        ] {
            let mut b = hosted();
            b.jwks_url(url);
            assert_eq!(b.check().is_ok(), ok, "{url}");
            if let Err(e) = b.check() {
                assert_eq!(e.setting(), Setting::JwksUrl);
                assert!(
                    !e.to_string().contains("pass") && !e.to_string().contains("token@"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn no_error_repeats_a_value() {
        let mut b = hosted();
        b.jwt_secret("a-very-secret-value");
        assert!(!format!("{b:?}").contains("a-very-secret-value"));
        assert!(
            !b.check()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
                .contains("a-very-secret")
        );
        let from_env = SupabaseAuthBuilder::from_lookup(|n| {
            (n == "SUPABASE_URL").then(|| "https://user:hunter2@abc.supabase.co".to_owned())
        });
        let e = from_env.and_then(|b| b.check()).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("SUPABASE_URL is invalid: must be a plain host, without user info")
        );
    }

    #[test]
    fn keys_read_from_the_environment_can_be_cleared_in_code_but_not_emptied_there() {
        let with_keys = |json: &'static str| {
            move |name: &str| match name {
                "SUPABASE_URL" => Some("https://abc.supabase.co".to_owned()),
                "SUPABASE_JWT_SECRET" => Some("s".repeat(32)),
                "SUPABASE_JWKS_URL" => Some("off".to_owned()),
                "SUPABASE_SECRET_KEYS" => Some(json.to_owned()),
                _ => None,
            }
        };
        let empty = SupabaseAuthBuilder::from_lookup(with_keys("{}")).and_then(|b| b.resolve().map(|_| ()));
        assert_eq!(
            empty.map_err(|e| e.to_string()),
            Err("SUPABASE_SECRET_KEYS is invalid: holds no key".to_owned())
        );
        let mut b = SupabaseAuthBuilder::from_lookup(with_keys(r#"{"default":"sb_secret_abc"}"#))
            .map_err(|e| e.to_string());
        let cleared = b.as_mut().map(|b| {
            b.secret_keys(Vec::<(String, String)>::new())
                .resolve()
                .map(|r| r.service_keys.is_none())
        });
        assert!(matches!(cleared, Ok(Ok(true))));
    }

    #[test]
    fn from_lookup_parses_lists_and_numbers_and_names_the_variables() {
        let vars = [
            ("SUPABASE_URL", "https://abc.supabase.co/"),
            ("SUPABASE_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("SUPABASE_JWKS_URL", "off"),
            ("JWT_AUDIENCE", "a, b"),
            ("JWT_LEEWAY_SECS", "5"),
        ];
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let r = SupabaseAuthBuilder::from_lookup(lookup).and_then(|b| b.resolve());
        let r = r
            .as_ref()
            .map(|r| (r.audiences.clone(), r.leeway, r.jwks.is_none()));
        assert_eq!(r, Ok((vec!["a".to_owned(), "b".to_owned()], 5, true)));
        let bad = |name: &'static str, value: &'static str| {
            SupabaseAuthBuilder::from_lookup(move |n| (n == name).then(|| value.to_owned()))
                .and_then(|b| b.check())
                .err()
                .map(|e| e.to_string())
        };
        let said = |s: &str| Some(s.to_owned());
        assert_eq!(
            bad("JWT_LEEWAY_SECS", "301"),
            said("JWT_LEEWAY_SECS is invalid: must be a whole number of seconds from 0 to 300")
        );
        assert_eq!(
            bad("JWKS_MAX_STALE_SECS", "0"),
            said("JWKS_MAX_STALE_SECS is invalid: must be a whole number of seconds from 1 to 604800")
        );
        assert_eq!(
            bad("JWT_CACHE_SIZE", "-1"),
            said("JWT_CACHE_SIZE is invalid: must be a whole number of entries from 0 to 1000000")
        );
        assert_eq!(
            bad("JWT_ISSUER", " , "),
            said("JWT_ISSUER is invalid: must list at least one value")
        );
        assert_eq!(bad("SUPABASE_JWT_SECRET", "x"), said("SUPABASE_URL is not set"));
    }
}
