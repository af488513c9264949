//! The vocabulary every part of the library configures itself in: the
//! settings, their bounds, and the one error a build fails with.
//!
//! A [`BuildError`] names the setting the way its user set it: the
//! environment variable when the value came from `from_env`/`from_lookup`,
//! the builder method when it came from code. It never holds a value.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The Supabase CLI's well-known local JWT secret (`supabase start`). Public
/// knowledge: refused unless [`SupabaseAuthBuilder::allow_local_dev_secret`](crate::SupabaseAuthBuilder::allow_local_dev_secret).
pub const DEV_JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";
/// The Supabase CLI's local API URL.
pub const DEV_SUPABASE_URL: &str = "http://127.0.0.1:54321";
/// The shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_LEN: usize = 32;
/// The largest clock-skew allowance accepted.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// How the JWKS cache behaves; see [`SupabaseAuthBuilder::jwks_timing`](crate::SupabaseAuthBuilder::jwks_timing).
///
/// ```
/// use std::time::Duration;
/// let mut timing = axum_supabase::JwksTiming::default();
/// timing.cooldown = Duration::from_secs(10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

/// A setting of one of the library's parts, as errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// [`SupabaseAuthBuilder::project_url`](crate::SupabaseAuthBuilder::project_url)
    ProjectUrl,
    /// [`SupabaseAuthBuilder::jwt_secret`](crate::SupabaseAuthBuilder::jwt_secret)
    JwtSecret,
    /// [`SupabaseAuthBuilder::jwks_url`](crate::SupabaseAuthBuilder::jwks_url)
    JwksUrl,
    /// [`SupabaseAuthBuilder::jwks_max_stale`](crate::SupabaseAuthBuilder::jwks_max_stale)
    JwksMaxStale,
    /// [`SupabaseAuthBuilder::jwks_timing`](crate::SupabaseAuthBuilder::jwks_timing)
    JwksTiming,
    /// [`SupabaseAuthBuilder::issuers`](crate::SupabaseAuthBuilder::issuers)
    Issuers,
    /// [`SupabaseAuthBuilder::audiences`](crate::SupabaseAuthBuilder::audiences)
    Audiences,
    /// [`SupabaseAuthBuilder::leeway`](crate::SupabaseAuthBuilder::leeway)
    Leeway,
    /// [`SupabaseAuthBuilder::cache_size`](crate::SupabaseAuthBuilder::cache_size)
    CacheSize,
    /// [`SupabaseAuthBuilder::max_token_bytes`](crate::SupabaseAuthBuilder::max_token_bytes)
    MaxTokenBytes,
    /// [`SupabaseAuthBuilder::realm`](crate::SupabaseAuthBuilder::realm)
    Realm,
    /// The database's connection string (`DatabaseBuilder::url`, feature `postgres`).
    DatabaseUrl,
    /// `DatabaseBuilder::pool_size`.
    PoolSize,
    /// `DatabaseBuilder::acquire_timeout`.
    AcquireTimeout,
    /// `DatabaseBuilder::statement_timeout`.
    StatementTimeout,
    /// `DatabaseBuilder::roles`.
    DbRoles,
    /// `DatabaseBuilder::session_check`.
    SessionCheck,
    /// `DatabaseBuilder::session_cache_ttl`.
    SessionCacheTtl,
    /// The project's publishable key (`SessionCookiesBuilder::api_key`, feature `cookies`).
    ApiKey,
    /// `SessionCookiesBuilder::cookie_name`.
    CookieName,
    /// `SessionCookiesBuilder::http_only`.
    HttpOnly,
    /// `SessionCookiesBuilder::secure`.
    Secure,
    /// `SessionCookiesBuilder::refresh_timeout`.
    RefreshTimeout,
    /// `SessionCookiesBuilder::max_refreshes`.
    MaxRefreshes,
    /// `SessionCookiesBuilder::allowed_origins`.
    AllowedOrigins,
    /// [`SupabaseAuthBuilder::secret_keys`](crate::SupabaseAuthBuilder::secret_keys)
    SecretKeys,
}

impl Setting {
    /// The builder method that sets it.
    pub fn name(self) -> &'static str {
        match self {
            Self::ProjectUrl => "project_url",
            Self::JwtSecret => "jwt_secret",
            Self::JwksUrl => "jwks_url",
            Self::JwksMaxStale => "jwks_max_stale",
            Self::JwksTiming => "jwks_timing",
            Self::Issuers => "issuers",
            Self::Audiences => "audiences",
            Self::Leeway => "leeway",
            Self::CacheSize => "cache_size",
            Self::MaxTokenBytes => "max_token_bytes",
            Self::Realm => "realm",
            Self::DatabaseUrl => "url",
            Self::PoolSize => "pool_size",
            Self::AcquireTimeout => "acquire_timeout",
            Self::StatementTimeout => "statement_timeout",
            Self::DbRoles => "roles",
            Self::SessionCheck => "session_check",
            Self::SessionCacheTtl => "session_cache_ttl",
            Self::ApiKey => "api_key",
            Self::CookieName => "cookie_name",
            Self::HttpOnly => "http_only",
            Self::Secure => "secure",
            Self::RefreshTimeout => "refresh_timeout",
            Self::MaxRefreshes => "max_refreshes",
            Self::AllowedOrigins => "allowed_origins",
            Self::SecretKeys => "secret_keys",
        }
    }

    /// The environment variable `from_env` reads it from; `None` for the
    /// settings only code can make.
    pub fn env_var(self) -> Option<&'static str> {
        Some(match self {
            Self::ProjectUrl => "SUPABASE_URL",
            Self::JwtSecret => "SUPABASE_JWT_SECRET",
            Self::JwksUrl => "SUPABASE_JWKS_URL",
            Self::JwksMaxStale => "JWKS_MAX_STALE_SECS",
            Self::Issuers => "JWT_ISSUER",
            Self::Audiences => "JWT_AUDIENCE",
            Self::Leeway => "JWT_LEEWAY_SECS",
            Self::CacheSize => "JWT_CACHE_SIZE",
            Self::DatabaseUrl => "DATABASE_URL",
            Self::PoolSize => "DB_POOL_SIZE",
            Self::AcquireTimeout => "DB_ACQUIRE_TIMEOUT_MS",
            Self::StatementTimeout => "DB_STATEMENT_TIMEOUT_MS",
            Self::DbRoles => "DB_ROLES",
            Self::SessionCheck => "SESSION_CHECK",
            Self::SessionCacheTtl => "SESSION_CACHE_TTL_SECS",
            Self::ApiKey => "SUPABASE_PUBLISHABLE_KEY",
            Self::CookieName => "AUTH_COOKIE_NAME",
            Self::HttpOnly => "COOKIE_HTTP_ONLY",
            Self::Secure => "COOKIE_SECURE",
            Self::RefreshTimeout => "SESSION_REFRESH_TIMEOUT_MS",
            Self::MaxRefreshes => "SESSION_MAX_REFRESHES",
            Self::AllowedOrigins => "CORS_ALLOWED_ORIGINS",
            Self::SecretKeys => "SUPABASE_SECRET_KEYS",
            Self::JwksTiming | Self::MaxTokenBytes | Self::Realm => return None,
        })
    }

    /// The range of a numeric setting, the one rule the builder and the
    /// environment both apply.
    pub fn bounds(self) -> Option<Bounds> {
        let b = |min, max, unit| Some(Bounds { min, max, unit });
        match self {
            Self::JwksMaxStale => b(1, 7 * 86_400, Unit::Seconds),
            Self::Leeway => b(0, MAX_LEEWAY.as_secs(), Unit::Seconds),
            Self::CacheSize => b(0, 1_000_000, Unit::Entries),
            Self::MaxTokenBytes => b(1024, 1024 * 1024, Unit::Bytes),
            Self::PoolSize => b(1, 1000, Unit::Count),
            Self::AcquireTimeout => b(1, 60_000, Unit::Milliseconds),
            Self::StatementTimeout => b(1, 3_600_000, Unit::Milliseconds),
            Self::SessionCacheTtl => b(0, 300, Unit::Seconds),
            Self::RefreshTimeout => b(100, 60_000, Unit::Milliseconds),
            Self::MaxRefreshes => b(1, 1_000_000, Unit::Count),
            _ => None,
        }
    }
}

/// What a number counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unit {
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Milliseconds,
    /// Bytes.
    Bytes,
    /// Cache entries.
    Entries,
    /// A plain count.
    Count,
}

/// An inclusive range of whole numbers in a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bounds {
    /// The smallest value accepted.
    pub min: u64,
    /// The largest value accepted.
    pub max: u64,
    /// What the numbers count.
    pub unit: Unit,
}

impl Bounds {
    /// A range of `unit`s from `min` to `max`.
    pub const fn new(min: u64, max: u64, unit: Unit) -> Self {
        Self { min, max, unit }
    }

    /// `n` if it lies within the bounds.
    pub fn check(self, n: u64) -> Result<u64, Reason> {
        if (self.min..=self.max).contains(&n) {
            Ok(n)
        } else {
            Err(Reason::OutOfRange(self))
        }
    }

    /// `d`, if it lies within the bounds of a unit of time.
    pub(crate) fn check_duration(self, d: Duration) -> Result<Duration, Reason> {
        let (min, max) = match self.unit {
            Unit::Milliseconds => (Duration::from_millis(self.min), Duration::from_millis(self.max)),
            _ => (Duration::from_secs(self.min), Duration::from_secs(self.max)),
        };
        if (min..=max).contains(&d) {
            Ok(d)
        } else {
            Err(Reason::OutOfRange(self))
        }
    }

    /// `n` units as a duration.
    #[cfg(feature = "postgres")]
    pub(crate) fn duration(self, n: u64) -> Duration {
        match self.unit {
            Unit::Milliseconds => Duration::from_millis(n),
            _ => Duration::from_secs(n),
        }
    }
}

/// Why a setting was refused, in words fixed here: never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Required, and not given.
    Missing,
    /// Not a whole number within its bounds.
    OutOfRange(Bounds),
    /// Not one of the words the setting takes.
    NotOneOf(&'static [&'static str]),
    /// Another rule, said in a fixed phrase.
    Rule(&'static str),
    /// No key to verify tokens with: no JWT secret and no JWKS.
    NoKeys,
    /// The Supabase CLI's public secret, where it was not allowed.
    DevSecret,
    /// Both the variable and its `_FILE` twin are set.
    BothSet,
    /// A file it names could not be read ([`BuildError::file`] says which).
    Unreadable(std::io::ErrorKind),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("is not set"),
            Self::OutOfRange(Bounds { min, max, unit }) => {
                let unit = match unit {
                    Unit::Seconds => " of seconds",
                    Unit::Milliseconds => " of milliseconds",
                    Unit::Bytes => " of bytes",
                    Unit::Entries => " of entries",
                    Unit::Count => "",
                };
                write!(f, "must be a whole number{unit} from {min} to {max}")
            }
            Self::NotOneOf(words) => write!(f, "must be {}", words.join(" or ")),
            Self::Rule(rule) => f.write_str(rule),
            Self::NoKeys => f.write_str("there is no key to verify tokens with"),
            Self::DevSecret => f.write_str(
                "is the Supabase CLI's well-known local secret, which anyone can sign with; \
                 it is accepted only with allow_local_dev_secret",
            ),
            Self::BothSet => f.write_str("is set twice, as the variable and as its _FILE"),
            Self::Unreadable(kind) => write!(f, "names a file that cannot be read ({kind})"),
        }
    }
}

/// Why a part of the library could not be built: the setting, where it came
/// from, and a typed reason. Its message never holds a value, so no secret
/// or password can leak through it.
///
/// ```
/// use axum_supabase::{Reason, Setting, SupabaseAuth};
///
/// let from_env = SupabaseAuth::from_lookup(|_| None).unwrap_err();
/// assert_eq!(from_env.to_string(), "SUPABASE_URL is not set");
/// let from_code = SupabaseAuth::builder().jwt_secret("short").build().unwrap_err();
/// assert_eq!((from_code.setting(), from_code.variable()), (Setting::ProjectUrl, None));
/// assert_eq!(from_code.to_string(), "project_url() is not set");
/// assert_eq!(from_code.reason(), Reason::Missing);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    setting: Setting,
    from_env: bool,
    reason: Reason,
    /// The variable, when it is not the setting's own (a `_FILE`, a legacy name).
    variable: Option<&'static str>,
    /// The file at fault: a `_FILE`'s, or a certificate file a setting names.
    file: Option<Arc<Path>>,
}

impl BuildError {
    /// An error about a value read from the environment.
    pub(crate) fn env(setting: Setting, reason: Reason) -> Self {
        Self {
            setting,
            from_env: true,
            reason,
            variable: None,
            file: None,
        }
    }

    /// An error about the variable `variable` (a `_FILE`, a legacy name).
    pub(crate) fn var(setting: Setting, variable: &'static str, reason: Reason) -> Self {
        Self {
            variable: Some(variable),
            ..Self::env(setting, reason)
        }
    }

    /// The same error, about the file at `path`.
    pub(crate) fn with_file(mut self, path: &Path) -> Self {
        self.file = Some(Arc::from(path));
        self
    }

    /// The setting at fault.
    pub fn setting(&self) -> Setting {
        self.setting
    }

    /// The environment variable it came from, when it came from one (or,
    /// for a missing setting, the variable to set). A value read from a file
    /// names the `_FILE` variable.
    pub fn variable(&self) -> Option<&'static str> {
        match self.variable {
            Some(var) => Some(var),
            None => self.from_env.then(|| self.setting.env_var()).flatten(),
        }
    }

    /// The file at fault, when one is: the file a `_FILE` variable names, or
    /// the `sslrootcert` of a connection string. A path, never its content.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// What is wrong with it.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// Whether the setting is missing rather than wrong.
    pub fn is_missing(&self) -> bool {
        self.reason == Reason::Missing
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.setting.name();
        let file = self.file.as_deref().map(Path::display);
        match (self.variable(), self.reason, file) {
            (Some(var), Reason::BothSet, _) => write!(f, "{var} and {var}_FILE are both set; set one of them"),
            (Some(var), Reason::Unreadable(kind), Some(path)) if var.ends_with("_FILE") => {
                write!(f, "{var} names {path}, which cannot be read ({kind})")
            }
            (Some(var), Reason::Unreadable(kind), Some(path)) => {
                write!(f, "{var} is invalid: the file {path} it names cannot be read ({kind})")
            }
            (None, Reason::Unreadable(kind), Some(path)) => {
                write!(f, "{name}() is invalid: the file {path} it names cannot be read ({kind})")
            }
            // A `_FILE` rule (an empty file): the path, which is no secret.
            (Some(var), Reason::Rule(rule), Some(path)) if var.ends_with("_FILE") => {
                write!(f, "{var} is invalid: {rule} ({path})")
            }
            (Some(_), Reason::NoKeys, _) => f.write_str(
                "SUPABASE_JWT_SECRET is not set and SUPABASE_JWKS_URL is off: there is no key to verify tokens with",
            ),
            (None, Reason::NoKeys, _) => f.write_str(
                "jwt_secret() is not set and the JWKS is off: there is no key to verify tokens with",
            ),
            (Some(var), Reason::Missing, _) => match self.setting {
                Setting::ApiKey => write!(
                    f,
                    "{var} is not set; cookie sessions refresh through GoTrue with the project's \
                     publishable key (or the legacy SUPABASE_ANON_KEY)"
                ),
                _ => write!(f, "{var} is not set"),
            },
            (None, Reason::Missing, _) => write!(f, "{name}() is not set"),
            (Some(var), reason, _) => write!(f, "{var} is invalid: {reason}"),
            (None, reason, _) => write!(f, "{name}() is invalid: {reason}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Where each setting of a builder came from: which were read from the
/// environment, and whether the builder itself came from it (then a missing
/// setting is named by its variable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Origins {
    from_env: bool,
    read: u64,
}

impl Origins {
    /// A builder that `from_lookup` made.
    pub(crate) fn env() -> Self {
        Self {
            from_env: true,
            read: 0,
        }
    }

    /// `setting` was read from its variable.
    pub(crate) fn read(&mut self, setting: Setting) {
        self.read |= 1 << (setting as u32);
    }

    /// Whether `setting` was read from the environment.
    pub(crate) fn was_read(&self, setting: Setting) -> bool {
        self.read & (1 << (setting as u32)) != 0
    }

    /// `setting` was set by code (after `from_lookup`, say).
    pub(crate) fn coded(&mut self, setting: Setting) {
        self.read &= !(1 << (setting as u32));
    }

    /// The error for `setting`, named as it was set.
    pub(crate) fn error(&self, setting: Setting, reason: Reason) -> BuildError {
        let read = self.read & (1 << (setting as u32)) != 0;
        let env_default = self.from_env && matches!(reason, Reason::Missing | Reason::NoKeys);
        BuildError {
            setting,
            from_env: read || env_default,
            reason,
            variable: None,
            file: None,
        }
    }
}

/// `"[redacted]"` for a secret that is set: what every `Debug` prints of one.
pub(crate) fn redacted<T>(secret: &Option<T>) -> Option<&'static str> {
    secret.as_ref().map(|_| "[redacted]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_fits_the_origin_bits_and_has_one_name() {
        let all = [
            Setting::ProjectUrl,
            Setting::JwtSecret,
            Setting::JwksUrl,
            Setting::JwksMaxStale,
            Setting::JwksTiming,
            Setting::Issuers,
            Setting::Audiences,
            Setting::Leeway,
            Setting::CacheSize,
            Setting::MaxTokenBytes,
            Setting::Realm,
            Setting::DatabaseUrl,
            Setting::PoolSize,
            Setting::AcquireTimeout,
            Setting::StatementTimeout,
            Setting::DbRoles,
            Setting::SessionCheck,
            Setting::SessionCacheTtl,
            Setting::ApiKey,
            Setting::CookieName,
            Setting::HttpOnly,
            Setting::Secure,
            Setting::RefreshTimeout,
            Setting::MaxRefreshes,
            Setting::AllowedOrigins,
            Setting::SecretKeys,
        ];
        let mut vars: Vec<_> = all.iter().filter_map(|s| s.env_var()).collect();
        let n = vars.len();
        vars.sort_unstable();
        vars.dedup();
        assert_eq!(vars.len(), n, "two settings share a variable");
        assert!(all.iter().all(|s| (*s as u32) < 64));
    }

    #[test]
    fn errors_name_the_variable_or_the_method() {
        let mut origins = Origins::env();
        origins.read(Setting::Leeway);
        let bounds = Setting::Leeway
            .bounds()
            .map(Reason::OutOfRange)
            .unwrap_or(Reason::Missing);
        assert_eq!(
            origins.error(Setting::Leeway, bounds).to_string(),
            "JWT_LEEWAY_SECS is invalid: must be a whole number of seconds from 0 to 300"
        );
        assert_eq!(
            origins.error(Setting::ProjectUrl, Reason::Missing).to_string(),
            "SUPABASE_URL is not set"
        );
        origins.coded(Setting::Leeway);
        assert_eq!(
            origins.error(Setting::Leeway, bounds).to_string(),
            "leeway() is invalid: must be a whole number of seconds from 0 to 300"
        );
        let code = Origins::default();
        assert_eq!(
            code.error(Setting::ProjectUrl, Reason::Missing).to_string(),
            "project_url() is not set"
        );
        assert_eq!(
            code.error(
                Setting::AllowedOrigins,
                Reason::Rule("must be exact origins like https://app.example.com")
            )
            .to_string(),
            "allowed_origins() is invalid: must be exact origins like https://app.example.com"
        );
    }
}
