//! Building a [`SupabaseAuth`]: every rule is checked once, in
//! [`SupabaseAuthBuilder::build`], and a value that exists is valid.
//!
//! [`SupabaseAuthBuilder::from_env`] reads the same variables the server
//! documents; it is the only place this crate reads the environment.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Uri;
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};

use crate::cache::DEFAULT_CACHE_ENTRIES;
use crate::error::AuthError;
use crate::verifier::SupabaseAuth;
use crate::{DEFAULT_MAX_TOKEN_BYTES, REALM};

/// The Supabase CLI's well-known local JWT secret (`supabase start`). Public
/// knowledge: refused unless [`SupabaseAuthBuilder::allow_local_dev_secret`].
pub const DEV_JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";
/// The Supabase CLI's local API URL.
pub const DEV_SUPABASE_URL: &str = "http://127.0.0.1:54321";
/// The shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_LEN: usize = 32;
/// The largest clock-skew allowance accepted.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// The largest verified-token cache accepted, in entries.
pub(crate) const MAX_CACHE_ENTRIES: usize = 1_000_000;
/// The smallest token cap accepted.
pub(crate) const MIN_MAX_TOKEN_BYTES: usize = 1024;

/// A setting of the builder, as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// [`SupabaseAuthBuilder::project_url`]
    ProjectUrl,
    /// [`SupabaseAuthBuilder::jwt_secret`]
    JwtSecret,
    /// [`SupabaseAuthBuilder::jwks_url`]
    JwksUrl,
    /// [`SupabaseAuthBuilder::jwks_max_stale`]
    JwksMaxStale,
    /// [`SupabaseAuthBuilder::jwks_timing`]
    JwksTiming,
    /// [`SupabaseAuthBuilder::issuers`]
    Issuer,
    /// [`SupabaseAuthBuilder::audiences`]
    Audience,
    /// [`SupabaseAuthBuilder::leeway`]
    Leeway,
    /// [`SupabaseAuthBuilder::cache_size`]
    CacheSize,
    /// [`SupabaseAuthBuilder::max_token_bytes`]
    MaxTokenBytes,
    /// [`SupabaseAuthBuilder::realm`]
    Realm,
}

impl Setting {
    /// The builder method's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ProjectUrl => "project_url",
            Self::JwtSecret => "jwt_secret",
            Self::JwksUrl => "jwks_url",
            Self::JwksMaxStale => "jwks_max_stale",
            Self::JwksTiming => "jwks_timing",
            Self::Issuer => "issuers",
            Self::Audience => "audiences",
            Self::Leeway => "leeway",
            Self::CacheSize => "cache_size",
            Self::MaxTokenBytes => "max_token_bytes",
            Self::Realm => "realm",
        }
    }

    /// The environment variable [`SupabaseAuthBuilder::from_env`] reads it from, if any.
    pub fn env_var(self) -> Option<&'static str> {
        Some(match self {
            Self::ProjectUrl => "SUPABASE_URL",
            Self::JwtSecret => "SUPABASE_JWT_SECRET",
            Self::JwksUrl => "SUPABASE_JWKS_URL",
            Self::JwksMaxStale => "JWKS_MAX_STALE_SECS",
            Self::Issuer => "JWT_ISSUER",
            Self::Audience => "JWT_AUDIENCE",
            Self::Leeway => "JWT_LEEWAY_SECS",
            Self::CacheSize => "JWT_CACHE_SIZE",
            Self::JwksTiming | Self::MaxTokenBytes | Self::Realm => return None,
        })
    }
}

/// Why a verifier could not be built. Messages never contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A required setting was not given.
    #[error("{} is not set", .0.name())]
    Missing(Setting),
    /// Neither a JWT secret nor a JWKS URL: nothing to verify with.
    #[error("there is no key to verify tokens with: set a JWT secret, a JWKS URL, or both")]
    NoKeys,
    /// A setting has an unusable value.
    #[error("{} is invalid: {reason}", setting.name())]
    Invalid {
        /// Which setting.
        setting: Setting,
        /// What is wrong; never the value of a secret.
        reason: String,
    },
    /// The Supabase CLI's public secret, without [`SupabaseAuthBuilder::allow_local_dev_secret`].
    #[error(
        "the JWT secret is the Supabase CLI's well-known local secret, and allow_local_dev_secret() was not called"
    )]
    DevSecret,
    /// The HTTP client for the JWKS could not be built (TLS initialisation).
    #[error("cannot build the JWKS HTTP client")]
    HttpClient,
}

impl BuildError {
    /// The setting the error is about, if it is about one.
    pub fn setting(&self) -> Option<Setting> {
        match self {
            Self::Missing(s) | Self::Invalid { setting: s, .. } => Some(*s),
            Self::DevSecret => Some(Setting::JwtSecret),
            Self::HttpClient => Some(Setting::JwksUrl),
            Self::NoKeys => None,
        }
    }

    /// The reason alone, without the setting's name (for callers that name it
    /// their own way, such as the variable it came from).
    pub fn reason(&self) -> String {
        match self {
            Self::Invalid { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}

fn invalid(setting: Setting, reason: impl Into<String>) -> BuildError {
    BuildError::Invalid {
        setting,
        reason: reason.into(),
    }
}

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

/// How the JWKS cache behaves; see [`SupabaseAuthBuilder::jwks_timing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksTiming {
    /// The least time between two fetches triggered by unknown kids.
    pub cooldown: Duration,
    /// The shortest background refresh interval, whatever `max-age` says.
    pub min_refresh: Duration,
    /// The longest background refresh interval (Supabase asks for at most 10 minutes).
    pub max_refresh: Duration,
    /// The whole-request timeout of one fetch.
    pub timeout: Duration,
}

impl Default for JwksTiming {
    fn default() -> Self {
        Self {
            cooldown: Duration::from_secs(30),
            min_refresh: Duration::from_secs(60),
            max_refresh: Duration::from_secs(600),
            timeout: Duration::from_secs(5),
        }
    }
}

/// A custom rejection body: see [`SupabaseAuthBuilder::rejection_body`].
pub(crate) type BodyFn = Arc<dyn Fn(&AuthError) -> Response + Send + Sync>;

/// Configures and builds a [`SupabaseAuth`]. Setters take `&mut self`, like
/// `std::process::Command`, so a builder can be kept and adjusted.
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
}

impl std::fmt::Debug for SupabaseAuthBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupabaseAuthBuilder")
            .field("project_url", &self.project_url)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "[redacted]"))
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
        }
    }
}

/// Everything `build` needs, resolved and checked.
pub(crate) struct Resolved {
    pub(crate) project_url: String,
    pub(crate) hs256_secret: Option<Vec<u8>>,
    #[cfg(feature = "jwks")]
    pub(crate) jwks: Option<crate::jwks::JwksConfig>,
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: i64,
    pub(crate) cache_size: usize,
    pub(crate) max_token_bytes: usize,
    pub(crate) realm: String,
    pub(crate) rejection_body: Option<BodyFn>,
}

impl SupabaseAuthBuilder {
    /// `https://<ref>.supabase.co` (a trailing slash is tolerated). The issuer
    /// `<url>/auth/v1` and the JWKS URL are derived from it. Required.
    pub fn project_url(&mut self, url: impl Into<String>) -> &mut Self {
        self.project_url = Some(url.into());
        self
    }

    /// The project's legacy HS256 JWT secret, at least 32 bytes, used as raw
    /// bytes (as Supabase does). Optional when the JWKS is on.
    pub fn jwt_secret(&mut self, secret: impl Into<String>) -> &mut Self {
        self.jwt_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// Forgets the JWT secret: asymmetric (JWKS) tokens only.
    pub fn without_jwt_secret(&mut self) -> &mut Self {
        self.jwt_secret = None;
        self
    }

    /// Where the asymmetric signing keys are published (default:
    /// `<project_url>/auth/v1/.well-known/jwks.json`); https unless the host is
    /// loopback, and no user info.
    pub fn jwks_url(&mut self, url: impl Into<String>) -> &mut Self {
        self.jwks = JwksSource::Url(url.into());
        self
    }

    /// No JWKS: only HS256 tokens, verified with the secret.
    pub fn without_jwks(&mut self) -> &mut Self {
        self.jwks = JwksSource::Off;
        self
    }

    /// How long the last good keys keep serving while the JWKS endpoint fails
    /// (1 s to 7 days; default one hour). After that, asymmetric tokens get 503.
    pub fn jwks_max_stale(&mut self, max_stale: Duration) -> &mut Self {
        self.jwks_max_stale = max_stale;
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
        self
    }

    /// The accepted audiences (default `authenticated`); a token's `aud` must contain one.
    pub fn audiences<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, audiences: I) -> &mut Self {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// The clock-skew allowance for `exp`, `nbf` and `iat`, whole seconds up
    /// to 300 (default 30).
    pub fn leeway(&mut self, leeway: Duration) -> &mut Self {
        self.leeway = leeway;
        self
    }

    /// The verified-token cache's capacity in entries (0 turns it off; at most 1,000,000).
    pub fn cache_size(&mut self, entries: usize) -> &mut Self {
        self.cache_size = entries;
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

    /// Checks every rule and builds the verifier: keys, cache and (with JWKS)
    /// the HTTP client. It needs no runtime: background work (the JWKS
    /// refresh, the cache sweep) starts on first use inside a Tokio runtime,
    /// or at once with [`SupabaseAuth::start`].
    pub fn build(&self) -> Result<SupabaseAuth, BuildError> {
        SupabaseAuth::from_resolved(self.resolve()?)
    }

    /// Whether the secret is the Supabase CLI's public one.
    pub fn uses_dev_secret(&self) -> bool {
        self.secret_bytes() == Some(DEV_JWT_SECRET.as_bytes())
    }

    /// The JWT secret's bytes, to mint test tokens with.
    #[cfg(feature = "testing")]
    pub fn jwt_secret_bytes(&self) -> Option<&[u8]> {
        self.secret_bytes()
    }

    fn secret_bytes(&self) -> Option<&[u8]> {
        self.jwt_secret.as_ref().map(|s| s.expose_secret().as_bytes())
    }

    fn resolve(&self) -> Result<Resolved, BuildError> {
        let raw = self
            .project_url
            .as_deref()
            .map(str::trim)
            .ok_or(BuildError::Missing(Setting::ProjectUrl))?;
        let base = parse_base_url(raw).map_err(|reason| invalid(Setting::ProjectUrl, reason))?;
        let secret = self.secret_bytes();
        if let Some(secret) = secret {
            if secret.len() < MIN_SECRET_LEN {
                return Err(invalid(
                    Setting::JwtSecret,
                    format!("must be at least {MIN_SECRET_LEN} bytes, got {}", secret.len()),
                ));
            }
            if secret == DEV_JWT_SECRET.as_bytes() && !self.allow_dev_secret {
                return Err(BuildError::DevSecret);
            }
        }
        #[cfg(feature = "jwks")]
        let jwks = self.jwks_config(&base)?;
        #[cfg(feature = "jwks")]
        let has_jwks = jwks.is_some();
        #[cfg(not(feature = "jwks"))]
        let has_jwks = self.jwks_config()?;
        if secret.is_none() && !has_jwks {
            return Err(BuildError::NoKeys);
        }
        let issuers = if self.issuers.is_empty() {
            vec![format!("{base}/auth/v1")]
        } else {
            non_empty(&self.issuers, Setting::Issuer)?
        };
        let audiences = non_empty(&self.audiences, Setting::Audience)?;
        if self.leeway > MAX_LEEWAY || self.leeway.subsec_nanos() != 0 {
            return Err(invalid(
                Setting::Leeway,
                format!("must be a whole number from 0 to {}", MAX_LEEWAY.as_secs()),
            ));
        }
        if self.cache_size > MAX_CACHE_ENTRIES {
            return Err(cache_size_invalid());
        }
        if !(MIN_MAX_TOKEN_BYTES..=1024 * 1024).contains(&self.max_token_bytes) {
            return Err(invalid(
                Setting::MaxTokenBytes,
                format!("must be from {MIN_MAX_TOKEN_BYTES} to 1048576 bytes"),
            ));
        }
        let realm_ok = !self.realm.is_empty()
            && self.realm.len() <= 64
            && self
                .realm
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if !realm_ok {
            return Err(invalid(
                Setting::Realm,
                "must be 1 to 64 visible ASCII characters, without quotes or backslashes",
            ));
        }
        Ok(Resolved {
            project_url: base.clone(),
            hs256_secret: secret.map(<[u8]>::to_vec),
            #[cfg(feature = "jwks")]
            jwks,
            issuers,
            audiences,
            // At most 300 s, checked above.
            leeway: i64::try_from(self.leeway.as_secs()).unwrap_or(0),
            cache_size: self.cache_size,
            max_token_bytes: self.max_token_bytes,
            realm: self.realm.clone(),
            rejection_body: self.rejection_body.clone(),
        })
    }

    #[cfg(feature = "jwks")]
    fn jwks_config(&self, base: &str) -> Result<Option<crate::jwks::JwksConfig>, BuildError> {
        let url = match &self.jwks {
            JwksSource::Off => return Ok(None),
            JwksSource::Url(url) => url.trim().to_owned(),
            JwksSource::Derived => format!("{base}/auth/v1/.well-known/jwks.json"),
        };
        check_jwks_url(&url)?;
        if !(Duration::from_secs(1)..=Duration::from_secs(7 * 86_400)).contains(&self.jwks_max_stale) {
            return Err(invalid(Setting::JwksMaxStale, "must be from 1 second to 7 days"));
        }
        let t = self.jwks_timing;
        let sane = t.cooldown >= Duration::from_millis(50)
            && (Duration::from_millis(10)..=Duration::from_secs(60)).contains(&t.timeout)
            && t.min_refresh >= Duration::from_millis(50)
            && t.min_refresh <= t.max_refresh
            && t.max_refresh <= Duration::from_secs(86_400);
        if !sane {
            return Err(invalid(
                Setting::JwksTiming,
                "needs cooldown and min_refresh of at least 50 ms, min_refresh <= max_refresh <= 1 day, \
                 and a timeout from 10 ms to 60 s",
            ));
        }
        Ok(Some(crate::jwks::JwksConfig {
            url,
            cooldown: t.cooldown,
            max_stale: self.jwks_max_stale,
            min_refresh: t.min_refresh,
            max_refresh: t.max_refresh,
            timeout: t.timeout,
            max_body: 256 * 1024,
        }))
    }

    /// Without the feature the derived JWKS is simply off; an explicit URL is an error.
    #[cfg(not(feature = "jwks"))]
    fn jwks_config(&self) -> Result<bool, BuildError> {
        match &self.jwks {
            JwksSource::Off | JwksSource::Derived => Ok(false),
            JwksSource::Url(_) => Err(invalid(Setting::JwksUrl, "needs the `jwks` feature")),
        }
    }
}

fn non_empty(values: &[String], setting: Setting) -> Result<Vec<String>, BuildError> {
    let values: Vec<String> = values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    if values.is_empty() {
        return Err(invalid(setting, "must list at least one value"));
    }
    Ok(values)
}

/// `https://<ref>.supabase.co` (a trailing slash tolerated) → the same, without the slash.
fn parse_base_url(raw: &str) -> Result<String, String> {
    let uri: Uri = raw.parse().map_err(|_| format!("{raw:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("{raw:?} must start with https:// (or http:// for local)")),
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("{raw:?} has no host"));
    };
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err(format!("{raw:?} must be a plain host, without user info"));
    }
    if uri.query().is_some() {
        return Err(format!("{raw:?} must not have a query string"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// https unless the host is loopback; a host; no user info.
#[cfg(feature = "jwks")]
fn check_jwks_url(url: &str) -> Result<(), BuildError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|_| invalid(Setting::JwksUrl, format!("{url:?} is not a URL")))?;
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Err(invalid(Setting::JwksUrl, format!("{url:?} has no host")));
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Said without the URL: the user info may be a credential.
        return Err(invalid(
            Setting::JwksUrl,
            "must be a plain URL, without user info",
        ));
    }
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(invalid(
            Setting::JwksUrl,
            format!("{url:?} must use https (plain http is allowed only for a loopback host)"),
        )),
    }
}

impl SupabaseAuthBuilder {
    /// A builder from the process environment: `SUPABASE_URL`,
    /// `SUPABASE_JWT_SECRET`, `SUPABASE_JWKS_URL` (`off` disables),
    /// `JWKS_MAX_STALE_SECS`, `JWT_ISSUER` and `JWT_AUDIENCE` (comma-separated
    /// lists), `JWT_LEEWAY_SECS` and `JWT_CACHE_SIZE`. Unset or blank
    /// variables keep the defaults. Values are parsed here; the rules are
    /// checked by [`build`](Self::build).
    pub fn from_env() -> Result<Self, BuildError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), reading through `lookup`, so that
    /// tests and applications with their own sources never touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let get = |s: Setting| s.env_var().and_then(|name| lookup_var(&lookup, name));
        let mut b = Self::default();
        if let Some(url) = get(Setting::ProjectUrl) {
            b.project_url(url);
        }
        if let Some(secret) = get(Setting::JwtSecret) {
            b.jwt_secret(secret);
        }
        match get(Setting::JwksUrl).as_deref() {
            Some("off") => {
                b.without_jwks();
            }
            Some(url) => {
                b.jwks_url(url);
            }
            None => {}
        }
        if let Some(v) = get(Setting::JwksMaxStale) {
            // The builder's rule, from 1 s: one minimum for both doors.
            let secs = whole(&v, 1, 7 * 86_400, Setting::JwksMaxStale, "of seconds ")?;
            b.jwks_max_stale(Duration::from_secs(secs));
        }
        if let Some(list) = get(Setting::Issuer) {
            b.issuers(split(&list, Setting::Issuer)?);
        }
        if let Some(list) = get(Setting::Audience) {
            b.audiences(split(&list, Setting::Audience)?);
        }
        if let Some(v) = get(Setting::Leeway) {
            b.leeway(Duration::from_secs(whole(
                &v,
                0,
                MAX_LEEWAY.as_secs(),
                Setting::Leeway,
                "",
            )?));
        }
        if let Some(v) = get(Setting::CacheSize) {
            let entries = v
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_CACHE_ENTRIES)
                .ok_or_else(cache_size_invalid)?;
            b.cache_size(entries);
        }
        Ok(b)
    }
}

/// The cache-size rule's error, for the builder and the environment alike.
fn cache_size_invalid() -> BuildError {
    invalid(
        Setting::CacheSize,
        format!("must be a whole number of entries from 0 (off) to {MAX_CACHE_ENTRIES}"),
    )
}

fn whole(v: &str, min: u64, max: u64, setting: Setting, unit: &str) -> Result<u64, BuildError> {
    v.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            invalid(
                setting,
                format!("must be a whole number {unit}from {min} to {max}"),
            )
        })
}

fn split(list: &str, setting: Setting) -> Result<Vec<String>, BuildError> {
    non_empty(&list.split(',').map(str::to_owned).collect::<Vec<_>>(), setting)
}

/// The variable `name` through `lookup`, trimmed; `None` when it is unset or
/// blank. Every `from_lookup` reads its variables so.
pub(crate) fn lookup_var(lookup: impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the resolved settings have no JWKS (always, without the feature).
    fn jwks_off(r: &Resolved) -> bool {
        #[cfg(feature = "jwks")]
        return r.jwks.is_none();
        #[cfg(not(feature = "jwks"))]
        {
            let _ = r;
            true
        }
    }

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
                Setting::Audience,
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
                Setting::Issuer,
            ),
        ];
        for (i, (change, setting)) in refused.into_iter().enumerate() {
            let mut b = hosted();
            change(&mut b);
            assert_eq!(
                b.check().err().and_then(|e| e.setting()),
                Some(setting),
                "case {i}"
            );
        }
        let mut b = hosted();
        b.without_jwt_secret();
        assert_eq!(b.check(), Err(BuildError::NoKeys));
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
            ("http://example.com/jwks.json", false),
            ("https://user:pass@x.supabase.co/jwks.json", false),
            ("https://token@x.supabase.co/jwks.json", false),
            ("not a url", false),
        ] {
            let mut b = hosted();
            b.jwks_url(url);
            assert_eq!(b.check().is_ok(), ok, "{url}");
            if let Err(e) = b.check() {
                assert!(
                    !e.to_string().contains("pass") && !e.to_string().contains("token@"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn the_secret_never_appears_in_debug_or_errors() {
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
    }

    #[test]
    fn from_lookup_parses_lists_and_numbers() {
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
        let b = SupabaseAuthBuilder::from_lookup(lookup).map_err(|e| e.to_string());
        let r = b.and_then(|b| b.resolve().map_err(|e| e.to_string()));
        let r = r.as_ref().map(|r| (r.audiences.clone(), r.leeway, jwks_off(r)));
        assert_eq!(r, Ok((vec!["a".to_owned(), "b".to_owned()], 5, true)));
        let bad = |name: &'static str, value: &'static str| {
            SupabaseAuthBuilder::from_lookup(move |n| (n == name).then(|| value.to_owned()))
                .err()
                .and_then(|e| e.setting())
        };
        assert_eq!(bad("JWT_LEEWAY_SECS", "301"), Some(Setting::Leeway));
        assert_eq!(bad("JWKS_MAX_STALE_SECS", "0"), Some(Setting::JwksMaxStale));
        // One rule for the builder and the environment: what one accepts, so does the other.
        let five = SupabaseAuthBuilder::from_lookup(|n| (n == "JWKS_MAX_STALE_SECS").then(|| "5".to_owned()));
        assert!(five.is_ok());
        let mut b = hosted();
        b.jwks_url("https://abc.supabase.co/jwks.json")
            .jwks_max_stale(Duration::from_secs(5));
        assert!(b.check().is_ok());
        b.jwks_max_stale(Duration::from_millis(999));
        assert_eq!(
            b.check().err().and_then(|e| e.setting()),
            Some(Setting::JwksMaxStale)
        );
        assert_eq!(bad("JWT_CACHE_SIZE", "-1"), Some(Setting::CacheSize));
        assert_eq!(bad("JWT_ISSUER", " , "), Some(Setting::Issuer));
    }
}
