//! Configuration, read once from the environment and validated before binding.
//!
//! Every failure names the variable and what is wrong with it, and never
//! contains the secret's value. `Debug` redacts the secret.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::http::{HeaderValue, Uri};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{DEFAULT_CACHE_ENTRIES, DEFAULT_MAX_TOKEN_BYTES, JwksConfig};
use crate::server::ServeOptions;

/// The default cap on requests handled at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// The Supabase CLI's well-known local JWT secret (`supabase start`).
pub const DEV_JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";
/// The Supabase CLI's local API URL.
pub const DEV_SUPABASE_URL: &str = "http://127.0.0.1:54321";
/// The shortest HS256 secret we accept (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_LEN: usize = 32;
/// The largest clock-skew allowance we accept.
pub const MAX_LEEWAY_SECS: u64 = 300;
/// The smallest `MAX_HEADER_BYTES`: hyper's own floor for its read buffer.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;
/// The largest `MAX_HEADER_BYTES`.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// Everything the server needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub bind_addr: SocketAddr,
    /// How tokens are verified.
    pub jwt: JwtConfig,
    /// Browser origins allowed by CORS; empty means no CORS headers at all.
    pub cors_allowed_origins: Vec<HeaderValue>,
    /// The tracing filter (`RUST_LOG`).
    pub log_filter: String,
    /// JSON or human-readable logs.
    pub log_format: LogFormat,
    /// How long a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// Connection limits and the shutdown grace period.
    pub serve: ServeOptions,
    /// The most requests handled at once; more are answered 503 at once.
    pub max_in_flight: usize,
    /// Where `/metrics` is served.
    pub metrics: MetricsEndpoint,
    /// Started with `--dev`: local defaults, loud warnings.
    pub dev_mode: bool,
}

/// Where `/metrics` is served (`METRICS_BIND_ADDR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsEndpoint {
    /// On the main listener, public like the API (the default).
    Main,
    /// On its own listener, e.g. `127.0.0.1:9090`, kept off the public port.
    Separate(SocketAddr),
    /// Not served.
    Off,
}

/// Token verification settings.
#[derive(Clone)]
pub struct JwtConfig {
    secret: Option<SecretString>,
    /// The JWKS key source for asymmetric tokens; `None` when off.
    pub jwks: Option<JwksConfig>,
    /// Accepted `iss` values; a token must match one exactly.
    pub issuers: Vec<String>,
    /// The accepted audiences: a token's `aud` must contain at least one.
    pub audiences: Vec<String>,
    /// Clock-skew allowance for `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: u64,
    /// Capacity of the verified-token cache, in entries; 0 turns it off.
    pub cache_size: usize,
    /// The longest token accepted, in bytes (the server ties it to `MAX_HEADER_BYTES`).
    pub max_token_bytes: usize,
}

impl JwtConfig {
    /// Builds an HS256-only config accepting one audience; the secret must
    /// already be validated by the caller.
    pub fn new(
        secret: impl Into<String>,
        issuers: Vec<String>,
        audience: impl Into<String>,
        leeway_secs: u64,
    ) -> Self {
        Self {
            secret: Some(SecretString::from(secret.into())),
            jwks: None,
            issuers,
            audiences: vec![audience.into()],
            leeway_secs,
            cache_size: DEFAULT_CACHE_ENTRIES,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// Replaces the HS256 secret (`None`: JWKS only).
    pub fn with_secret(mut self, secret: Option<String>) -> Self {
        self.secret = secret.map(SecretString::from);
        self
    }

    /// The raw HS256 key bytes, if a secret is configured. Supabase uses the
    /// secret's text as the key, not base64-decoded.
    pub fn secret_bytes(&self) -> Option<&[u8]> {
        self.secret.as_ref().map(|s| s.expose_secret().as_bytes())
    }

    /// Whether the secret is the Supabase CLI's public one.
    pub fn uses_dev_secret(&self) -> bool {
        self.secret_bytes() == Some(DEV_JWT_SECRET.as_bytes())
    }
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("jwks", &self.jwks)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway_secs", &self.leeway_secs)
            .field("cache_size", &self.cache_size)
            .field("max_token_bytes", &self.max_token_bytes)
            .finish()
    }
}

/// The log output format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// A configuration problem found at startup. The message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// Neither key source is configured.
    #[error(
        "SUPABASE_JWT_SECRET is not set and SUPABASE_JWKS_URL is off: there is no key to verify tokens with"
    )]
    NoKeys,
    /// A variable is set to something unusable.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// What is wrong; never the value of a secret.
        reason: String,
    },
}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

impl Config {
    /// Reads the process environment. `dev` fills in the Supabase CLI's local defaults.
    pub fn from_env(dev: bool) -> Result<Self, ConfigError> {
        Self::from_lookup(dev, |name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests never touch the process environment.
    pub fn from_lookup(dev: bool, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let url = match get("SUPABASE_URL") {
            Some(u) => u,
            None if dev => DEV_SUPABASE_URL.to_owned(),
            None => return Err(ConfigError::Missing("SUPABASE_URL")),
        };
        let url = parse_base_url(url.trim()).map_err(|reason| invalid("SUPABASE_URL", reason))?;
        let jwks = jwks_config(get("SUPABASE_JWKS_URL"), get("JWKS_MAX_STALE_SECS"), &url, dev)?;
        let secret = match get("SUPABASE_JWT_SECRET") {
            Some(s) => Some(s),
            None if dev => Some(DEV_JWT_SECRET.to_owned()),
            None if jwks.is_some() => None,
            None => return Err(ConfigError::NoKeys),
        };
        if let Some(secret) = &secret
            && secret.len() < MIN_SECRET_LEN
        {
            return Err(invalid(
                "SUPABASE_JWT_SECRET",
                format!("must be at least {MIN_SECRET_LEN} bytes, got {}", secret.len()),
            ));
        }
        let issuers = match get("JWT_ISSUER") {
            Some(list) => parse_list("JWT_ISSUER", &list)?,
            None => vec![format!("{url}/auth/v1")],
        };
        let audiences = match get("JWT_AUDIENCE") {
            Some(list) => parse_list("JWT_AUDIENCE", &list)?,
            None => vec!["authenticated".to_owned()],
        };
        let leeway_secs = match get("JWT_LEEWAY_SECS") {
            None => 30,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|l| *l <= MAX_LEEWAY_SECS)
                .ok_or_else(|| {
                    invalid(
                        "JWT_LEEWAY_SECS",
                        format!("must be a whole number from 0 to {MAX_LEEWAY_SECS}"),
                    )
                })?,
        };
        let bind_addr = bind_addr(get("BIND_ADDR"), get("PORT"), dev)?;
        let mut jwt = JwtConfig::new(String::new(), issuers, "", leeway_secs).with_secret(secret);
        jwt.audiences = audiences;
        jwt.jwks = jwks;
        if let Some(v) = get("JWT_CACHE_SIZE") {
            jwt.cache_size = v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= 1_000_000)
                .ok_or_else(|| {
                    invalid(
                        "JWT_CACHE_SIZE",
                        "must be a whole number of entries from 0 (off) to 1000000",
                    )
                })?;
        }
        if jwt.uses_dev_secret() && !bind_addr.ip().is_loopback() {
            return Err(invalid(
                "SUPABASE_JWT_SECRET",
                format!(
                    "is the Supabase CLI's well-known local secret; refusing to listen on non-loopback address {bind_addr}"
                ),
            ));
        }
        let cors_allowed_origins = match get("CORS_ALLOWED_ORIGINS") {
            None => Vec::new(),
            Some(list) => parse_origins(&list)?,
        };
        let log_filter = get("RUST_LOG").unwrap_or_else(|| "info".to_owned());
        tracing_subscriber::EnvFilter::try_new(&log_filter)
            .map_err(|e| invalid("RUST_LOG", e.to_string()))?;
        let log_format = match get("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(invalid("LOG_FORMAT", "must be json or pretty")),
        };
        let count = |var: &'static str, default: usize| match get(var) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| invalid(var, "must be a whole number from 1 to 1000000")),
        };
        let max_header_bytes = match get("MAX_HEADER_BYTES") {
            None => ServeOptions::default().max_header_bytes,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(n))
                .ok_or_else(|| {
                    invalid(
                        "MAX_HEADER_BYTES",
                        format!(
                            "must be a whole number of bytes from {MIN_HEADER_BYTES} to {MAX_HEADER_BYTES}"
                        ),
                    )
                })?,
        };
        // A token can be no longer than the header that carries it.
        jwt.max_token_bytes = max_header_bytes;
        let serve = ServeOptions {
            max_connections: count("MAX_CONNECTIONS", 4096)?,
            max_header_bytes,
            ..ServeOptions::default()
        };
        let max_in_flight = count("MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)?;
        let metrics = match get("METRICS_BIND_ADDR").as_deref().map(str::trim) {
            None => MetricsEndpoint::Main,
            Some("off") => MetricsEndpoint::Off,
            Some(addr) => MetricsEndpoint::Separate(addr.parse().map_err(|_| {
                invalid(
                    "METRICS_BIND_ADDR",
                    format!("{addr:?} is not an address like 127.0.0.1:9090, or off"),
                )
            })?),
        };
        Ok(Self {
            bind_addr,
            jwt,
            cors_allowed_origins,
            log_filter,
            log_format,
            request_timeout: Duration::from_secs(15),
            serve,
            max_in_flight,
            metrics,
            dev_mode: dev,
        })
    }

    /// A config for tests: the given secret, issuer `https://test.supabase.co/auth/v1`, loopback.
    pub fn for_tests(secret: &str) -> Self {
        Self {
            bind_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            jwt: JwtConfig::new(
                secret,
                vec!["https://test.supabase.co/auth/v1".to_owned()],
                "authenticated",
                30,
            ),
            cors_allowed_origins: Vec::new(),
            log_filter: "info".to_owned(),
            log_format: LogFormat::Pretty,
            request_timeout: Duration::from_secs(15),
            serve: ServeOptions::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            metrics: MetricsEndpoint::Main,
            dev_mode: false,
        }
    }
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

/// `SUPABASE_JWKS_URL`: default `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`
/// (off in dev mode unless set), `off` to disable; https unless the host is loopback.
fn jwks_config(
    url: Option<String>,
    max_stale: Option<String>,
    base: &str,
    dev: bool,
) -> Result<Option<JwksConfig>, ConfigError> {
    let url = match url.as_deref().map(str::trim) {
        Some("off") => return Ok(None),
        Some(u) => u.to_owned(),
        None if dev => return Ok(None),
        None => format!("{base}/auth/v1/.well-known/jwks.json"),
    };
    let parsed = reqwest::Url::parse(&url)
        .map_err(|_| invalid("SUPABASE_JWKS_URL", format!("{url:?} is not a URL")))?;
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Err(invalid("SUPABASE_JWKS_URL", format!("{url:?} has no host")));
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(invalid(
                "SUPABASE_JWKS_URL",
                format!("{url:?} must use https (plain http is allowed only for a loopback host)"),
            ));
        }
    }
    let mut config = JwksConfig::new(url);
    if let Some(v) = max_stale {
        config.max_stale = v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| (60..=7 * 86_400).contains(s))
            .map(Duration::from_secs)
            .ok_or_else(|| {
                invalid(
                    "JWKS_MAX_STALE_SECS",
                    "must be a whole number of seconds from 60 to 604800",
                )
            })?;
    }
    Ok(Some(config))
}

/// A comma-separated list of at least one non-empty value.
fn parse_list(var: &'static str, list: &str) -> Result<Vec<String>, ConfigError> {
    let values: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if values.is_empty() {
        return Err(invalid(var, "must list at least one value"));
    }
    Ok(values)
}

fn parse_origins(list: &str) -> Result<Vec<HeaderValue>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|origin| {
            let ok = origin != "*"
                && (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && origin
                    .parse::<Uri>()
                    .is_ok_and(|u| u.path() == "/" && u.authority().is_some());
            if !ok {
                return Err(invalid(
                    "CORS_ALLOWED_ORIGINS",
                    format!("{origin:?} is not an exact origin like https://app.example.com"),
                ));
            }
            HeaderValue::from_str(origin)
                .map_err(|_| invalid("CORS_ALLOWED_ORIGINS", format!("{origin:?} is not valid")))
        })
        .collect()
}

/// The listen address from `BIND_ADDR`/`PORT` alone, as `serve` computes it
/// (for the `healthcheck` subcommand, which needs nothing else).
pub fn bind_addr_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<SocketAddr, ConfigError> {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    bind_addr(get("BIND_ADDR"), get("PORT"), false)
}

fn bind_addr(bind: Option<String>, port: Option<String>, dev: bool) -> Result<SocketAddr, ConfigError> {
    let addr = match (bind, port) {
        (Some(b), _) => b.trim().parse::<SocketAddr>().map_err(|_| {
            invalid(
                "BIND_ADDR",
                format!("{b:?} is not an address like 127.0.0.1:3000"),
            )
        })?,
        // Dev mode stays on loopback whatever PORT says.
        (None, Some(p)) => {
            let port = p
                .trim()
                .parse::<u16>()
                .map_err(|_| invalid("PORT", format!("{p:?} is not a port number")))?;
            let ip = if dev {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            };
            SocketAddr::new(ip, port)
        }
        (None, None) => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3000),
    };
    if dev && !addr.ip().is_loopback() {
        return Err(invalid(
            "BIND_ADDR",
            format!("dev mode only listens on loopback, not {addr}"),
        ));
    }
    Ok(addr)
}
