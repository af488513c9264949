//! Configuration, read once from the environment and validated before binding.
//!
//! The token rules are the library's: this is a thin layer over
//! [`SupabaseAuthBuilder::from_lookup`] that adds dev-mode defaults and the
//! server's own variables. Every failure names the variable and what is wrong
//! with it, and never contains the secret's value.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::http::{HeaderValue, Uri};
use axum_supabase::db::DatabaseBuilder;
use axum_supabase::session::SessionCookiesBuilder;
use axum_supabase::{BuildError, DEV_JWT_SECRET, DEV_SUPABASE_URL, SupabaseAuth, SupabaseAuthBuilder};
use secrecy::SecretString;

use crate::server::{DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, ServeOptions};

/// The default cap on requests handled at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// The smallest `MAX_HEADER_BYTES`: hyper's own floor for its read buffer.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;
/// The largest `MAX_HEADER_BYTES`.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// Everything the server needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub bind_addr: SocketAddr,
    /// How tokens are verified: built into the verifier by [`crate::app`].
    pub auth: SupabaseAuthBuilder,
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
    /// The database for the RLS-scoped routes (`DATABASE_URL`); `None`: those routes answer 503.
    pub database: Option<DatabaseBuilder>,
    /// `@supabase/ssr` cookie sessions (`SESSION_COOKIES=on`); `None`: bearer tokens only.
    pub sessions: Option<SessionCookiesBuilder>,
    /// The HS256 secret, for `mint` and the dev-mode hint (the verifier holds its own copy).
    pub jwt_secret: Option<SecretString>,
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
    /// A variable another setting needs is unset; `reason` says which and why.
    #[error("{var} {reason}")]
    Needed {
        /// The variable's name.
        var: &'static str,
        /// Starts with "is not set".
        reason: &'static str,
    },
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

/// The library's error, said with the variable the setting came from.
impl From<BuildError> for ConfigError {
    fn from(e: BuildError) -> Self {
        let var = e.setting().and_then(|s| s.env_var()).unwrap_or("SUPABASE_URL");
        match e {
            BuildError::Missing(_) => Self::Missing(var),
            BuildError::NoKeys => Self::NoKeys,
            other => invalid(var, other.reason()),
        }
    }
}

/// The dev-mode defaults: the Supabase CLI's URL and secret, and no JWKS
/// unless asked for (the CLI serves an empty one by default).
fn dev_default(name: &str) -> Option<String> {
    match name {
        "SUPABASE_URL" => Some(DEV_SUPABASE_URL.to_owned()),
        "SUPABASE_JWT_SECRET" => Some(DEV_JWT_SECRET.to_owned()),
        "SUPABASE_JWKS_URL" => Some("off".to_owned()),
        _ => None,
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
        let auth_var = |name: &str| get(name).or_else(|| if dev { dev_default(name) } else { None });
        let mut auth = SupabaseAuthBuilder::from_lookup(auth_var)?;
        let jwt_secret = auth_var("SUPABASE_JWT_SECRET").map(|s| SecretString::from(s.trim().to_owned()));
        let bind_addr = bind_addr(get("BIND_ADDR"), get("PORT"), dev)?;
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
        // A token can be no longer than the header that carries it. The CLI's
        // public secret is only for a server that only this machine reaches.
        auth.max_token_bytes(max_header_bytes)
            .allow_local_dev_secret(bind_addr.ip().is_loopback());
        auth.check().map_err(|e| match e {
            BuildError::DevSecret => invalid(
                "SUPABASE_JWT_SECRET",
                format!(
                    "is the Supabase CLI's well-known local secret; refusing to listen on non-loopback address {bind_addr}"
                ),
            ),
            other => other.into(),
        })?;
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
        let secs = |var: &'static str, default: Duration, max: u64| match get(var) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .map(Duration::from_secs)
                .ok_or_else(|| invalid(var, format!("must be a whole number of seconds from 1 to {max}"))),
        };
        let serve = ServeOptions {
            max_connections: count("MAX_CONNECTIONS", 4096)?,
            max_header_bytes,
            header_read_timeout: secs("HEADER_TIMEOUT_SECS", DEFAULT_HEADER_TIMEOUT, 60)?,
            idle_timeout: secs("IDLE_TIMEOUT_SECS", DEFAULT_IDLE_TIMEOUT, 3600)?,
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
        let database =
            DatabaseBuilder::from_lookup(get).map_err(|e| invalid(e.setting().env_var(), e.reason()))?;
        let mut sessions = SessionCookiesBuilder::from_lookup(get).map_err(|e| {
            let var = e.setting().env_var();
            if e.is_missing() {
                ConfigError::Needed {
                    var,
                    reason: e.reason(),
                }
            } else {
                invalid(var, e.reason())
            }
        })?;
        if let Some(sessions) = &mut sessions {
            // The CSRF rule trusts the origins CORS lets in.
            sessions.allowed_origins(cors_allowed_origins.iter().filter_map(|o| o.to_str().ok()));
            sessions
                .check()
                .map_err(|e| invalid(e.setting().env_var(), e.reason()))?;
        }
        Ok(Self {
            bind_addr,
            auth,
            database,
            sessions,
            cors_allowed_origins,
            log_filter,
            log_format,
            request_timeout: Duration::from_secs(15),
            serve,
            max_in_flight,
            metrics,
            dev_mode: dev,
            jwt_secret,
        })
    }

    /// A config for tests: the given secret, issuer `https://test.supabase.co/auth/v1`,
    /// no JWKS, loopback.
    pub fn for_tests(secret: &str) -> Self {
        let mut auth = SupabaseAuth::builder();
        auth.project_url("https://test.supabase.co")
            .jwt_secret(secret)
            .without_jwks();
        Self {
            bind_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            auth,
            cors_allowed_origins: Vec::new(),
            log_filter: "info".to_owned(),
            log_format: LogFormat::Pretty,
            request_timeout: Duration::from_secs(15),
            serve: ServeOptions::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            metrics: MetricsEndpoint::Main,
            dev_mode: false,
            database: None,
            sessions: None,
            jwt_secret: Some(SecretString::from(secret.to_owned())),
        }
    }
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
