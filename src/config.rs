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
use axum_supabase::{
    Bounds, BuildError, DEV_JWT_SECRET, DEV_SUPABASE_URL, Env, Reason, SupabaseAuth, SupabaseAuthBuilder,
    Unit,
};
use secrecy::SecretString;

use crate::server::{DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, ServeOptions};

/// The default cap on requests handled at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// `MAX_HEADER_BYTES`: from hyper's own floor for its read buffer, to 1 MiB.
pub const HEADER_BYTES: Bounds = Bounds::new(8 * 1024, 1024 * 1024, Unit::Bytes);
/// `MAX_CONNECTIONS` and `MAX_IN_FLIGHT`.
const COUNT: Bounds = Bounds::new(1, 1_000_000, Unit::Count);
/// `HEADER_TIMEOUT_SECS`.
const HEADER_TIMEOUT: Bounds = Bounds::new(1, 60, Unit::Seconds);
/// `IDLE_TIMEOUT_SECS`.
const IDLE_TIMEOUT: Bounds = Bounds::new(1, 3600, Unit::Seconds);

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

/// A configuration problem found at startup. The message names the variable
/// and never holds a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A setting of one of the library's parts.
    #[error(transparent)]
    Library(#[from] BuildError),
    /// One of the server's own variables.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// What is wrong; never the value.
        reason: String,
    },
}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

/// A server variable's reason, said with the variable.
fn named(var: &'static str) -> impl Fn(Reason) -> ConfigError {
    move |reason| invalid(var, reason.to_string())
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
        let env = Env::new(&lookup);
        // A dev default stands in for a variable the user left unset; the
        // secret's stays out when it is given as a file.
        let with_dev = |name: &str| {
            env.var(name).or_else(|| {
                let default = if dev { dev_default(name) } else { None }?;
                let from_file =
                    name == "SUPABASE_JWT_SECRET" && env.var("SUPABASE_JWT_SECRET_FILE").is_some();
                (!from_file).then_some(default)
            })
        };
        let mut auth = SupabaseAuthBuilder::from_lookup(with_dev)?;
        let jwt_secret = match env.secret("SUPABASE_JWT_SECRET")? {
            Some(secret) => Some(secret),
            None if dev => dev_default("SUPABASE_JWT_SECRET"),
            None => None,
        }
        .map(SecretString::from);
        let bind_addr = bind_addr(env.var("BIND_ADDR"), env.var("PORT"), dev)?;
        let max_header_bytes = env
            .number("MAX_HEADER_BYTES", HEADER_BYTES)
            .map_err(named("MAX_HEADER_BYTES"))?
            .map_or(ServeOptions::default().max_header_bytes, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            });
        // A token can be no longer than the header that carries it. The CLI's
        // public secret is only for a server that only this machine reaches.
        auth.max_token_bytes(max_header_bytes)
            .allow_local_dev_secret(bind_addr.ip().is_loopback());
        auth.check().map_err(|e| match e.reason() {
            Reason::DevSecret => invalid(
                "SUPABASE_JWT_SECRET",
                format!(
                    "is the Supabase CLI's well-known local secret; refusing to listen on non-loopback address {bind_addr}"
                ),
            ),
            _ => e.into(),
        })?;
        let cors_allowed_origins = match env.var("CORS_ALLOWED_ORIGINS") {
            None => Vec::new(),
            Some(list) => parse_origins(&list)?,
        };
        let log_filter = env.var("RUST_LOG").unwrap_or_else(|| "info".to_owned());
        tracing_subscriber::EnvFilter::try_new(&log_filter).map_err(|_| {
            invalid(
                "RUST_LOG",
                "is not a tracing filter (e.g. info, or info,tower_http=debug)",
            )
        })?;
        let log_format = match env
            .choice("LOG_FORMAT", &["pretty", "json"])
            .map_err(named("LOG_FORMAT"))?
        {
            Some("json") => LogFormat::Json,
            _ => LogFormat::Pretty,
        };
        let count = |var: &'static str, default: usize| {
            env.number(var, COUNT)
                .map_err(named(var))
                .map(|n| n.map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX)))
        };
        let secs = |var: &'static str, bounds: Bounds, default: Duration| {
            env.number(var, bounds)
                .map_err(named(var))
                .map(|n| n.map_or(default, Duration::from_secs))
        };
        let serve = ServeOptions {
            max_connections: count("MAX_CONNECTIONS", 4096)?,
            max_header_bytes,
            header_read_timeout: secs("HEADER_TIMEOUT_SECS", HEADER_TIMEOUT, DEFAULT_HEADER_TIMEOUT)?,
            idle_timeout: secs("IDLE_TIMEOUT_SECS", IDLE_TIMEOUT, DEFAULT_IDLE_TIMEOUT)?,
            ..ServeOptions::default()
        };
        let max_in_flight = count("MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)?;
        let metrics = match env.var("METRICS_BIND_ADDR").as_deref() {
            None => MetricsEndpoint::Main,
            Some("off") => MetricsEndpoint::Off,
            Some(addr) => MetricsEndpoint::Separate(addr.parse().map_err(|_| {
                invalid(
                    "METRICS_BIND_ADDR",
                    "is not an address like 127.0.0.1:9090, or off",
                )
            })?),
        };
        // A database when DATABASE_URL is set; its rules are checked now.
        let database = match env.secret("DATABASE_URL")? {
            None => None,
            Some(_) => {
                let db = DatabaseBuilder::from_lookup(&lookup)?;
                db.check()?;
                Some(db)
            }
        };
        let sessions = match env.flag("SESSION_COOKIES").map_err(named("SESSION_COOKIES"))? {
            Some(true) => {
                let sessions = SessionCookiesBuilder::from_lookup(&lookup)?;
                sessions.check()?;
                Some(sessions)
            }
            _ => None,
        };
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
    const RULE: &str = "must list exact origins like https://app.example.com: a scheme and a host, \
                        no path, no user info, no *";
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|origin| {
            let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && origin.parse::<Uri>().is_ok_and(|u| {
                    u.path() == "/" && u.authority().is_some_and(|a| !a.as_str().contains('@'))
                });
            let origin = HeaderValue::from_str(origin).ok().filter(|_| ok);
            origin.ok_or_else(|| invalid("CORS_ALLOWED_ORIGINS", RULE))
        })
        .collect()
}

/// The listen address from `BIND_ADDR`/`PORT` alone, as `serve` computes it
/// (for the `healthcheck` subcommand, which needs nothing else).
pub fn bind_addr_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<SocketAddr, ConfigError> {
    let env = Env::new(&lookup);
    bind_addr(env.var("BIND_ADDR"), env.var("PORT"), false)
}

fn bind_addr(bind: Option<String>, port: Option<String>, dev: bool) -> Result<SocketAddr, ConfigError> {
    let addr = match (bind, port) {
        (Some(b), _) => b
            .trim()
            .parse::<SocketAddr>()
            .map_err(|_| invalid("BIND_ADDR", "is not an address like 127.0.0.1:3000"))?,
        // Dev mode stays on loopback whatever PORT says.
        (None, Some(p)) => {
            let port = p
                .trim()
                .parse::<u16>()
                .map_err(|_| invalid("PORT", "is not a port number"))?;
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
