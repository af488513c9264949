//! [`DatabaseBuilder`]: every database setting checked once, before the first request.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::tls::{self, TlsError, TlsSettings};
use crate::config::env::{Env, process};
use crate::config::settings::{BuildError, Origins, Reason, Setting, redacted};

/// Roles a token may never run as, whatever `DB_ROLES` says: they own the
/// schema, bypass RLS, replicate, manage keys or read the server's files.
/// The roles Supabase's own SQL creates with such rights (supabase/postgres
/// `migrations/db/init-scripts/00000000000000-initial-schema.sql` and the
/// roles of a Supabase cluster dump), and `pg_*` below. With a database at
/// hand, [`Database::check_setup`](super::Database::check_setup) also asks it.
const FORBIDDEN_ROLES: &[&str] = &[
    "postgres",
    "supabase_admin",
    "supabase_auth_admin",
    "supabase_storage_admin",
    "supabase_functions_admin",
    "supabase_realtime_admin",
    "supabase_replication_admin",
    "supabase_etl_admin",
    "supabase_read_only_user",
    "supabase_privileged_role",
    "dashboard_user",
    "pgsodium_keyholder",
    "pgsodium_keyiduser",
    "pgsodium_keymaker",
    "authenticator",
    "pgbouncer",
];

/// The roles a token may run as unless [`DatabaseBuilder::roles`] says otherwise.
pub const DEFAULT_DB_ROLES: &[&str] = &["anon", "authenticated"];

/// Settings for [`Database`](super::Database), checked by [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use axum_supabase::db::Database;
///
/// let db = Database::builder()
///     .url("postgresql://authenticator:secret@127.0.0.1:54322/postgres")
///     .pool_size(8)
///     .statement_timeout(Duration::from_secs(3))
///     .build()?;
/// assert!(!format!("{db:?}").contains("secret"));
/// # Ok::<(), axum_supabase::BuildError>(())
/// ```
#[derive(Clone)]
pub struct DatabaseBuilder {
    pub(super) url: Option<SecretString>,
    pub(super) pool_size: usize,
    pub(super) acquire_timeout: Duration,
    pub(super) statement_timeout: Duration,
    pub(super) roles: Vec<String>,
    pub(super) session_check: bool,
    pub(super) session_cache_ttl: Duration,
    origins: Origins,
}

impl fmt::Debug for DatabaseBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseBuilder")
            .field("url", &redacted(&self.url))
            .field("pool_size", &self.pool_size)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("roles", &self.roles)
            .field("session_check", &self.session_check)
            .field("session_cache_ttl", &self.session_cache_ttl)
            .finish()
    }
}

impl Default for DatabaseBuilder {
    fn default() -> Self {
        Self {
            url: None,
            pool_size: 10,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
            roles: DEFAULT_DB_ROLES.iter().map(|r| (*r).to_owned()).collect(),
            session_check: false,
            session_cache_ttl: Duration::from_secs(5),
            origins: Origins::default(),
        }
    }
}

/// `SESSION_CHECK`'s words.
const SESSION_CHECK: &[&str] = &["off", "db"];

impl DatabaseBuilder {
    /// A builder from the process environment: `DATABASE_URL`, `DB_POOL_SIZE`,
    /// `DB_ACQUIRE_TIMEOUT_MS`, `DB_STATEMENT_TIMEOUT_MS`, `DB_ROLES`,
    /// `SESSION_CHECK` (`off` or `db`) and `SESSION_CACHE_TTL_SECS`. Whether
    /// to have a database at all is the application's choice (the server's:
    /// whether `DATABASE_URL` is set).
    pub fn from_env() -> Result<Self, BuildError> {
        Self::from_lookup(process)
    }

    /// As [`from_env`](Self::from_env), reading through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let env = Env::new(&lookup);
        let mut b = Self {
            origins: Origins::env(),
            ..Self::default()
        };
        if let Some(url) = env.setting_secret(Setting::DatabaseUrl)? {
            b.url = Some(SecretString::from(url));
            b.origins.read(Setting::DatabaseUrl);
        }
        if let Some(n) = env.setting_number(Setting::PoolSize)? {
            b.pool_size = usize::try_from(n).unwrap_or(usize::MAX);
            b.origins.read(Setting::PoolSize);
        }
        for (setting, field) in [
            (Setting::AcquireTimeout, &mut b.acquire_timeout),
            (Setting::StatementTimeout, &mut b.statement_timeout),
            (Setting::SessionCacheTtl, &mut b.session_cache_ttl),
        ] {
            if let (Some(n), Some(bounds)) = (env.setting_number(setting)?, setting.bounds()) {
                *field = bounds.duration(n);
                b.origins.read(setting);
            }
        }
        if let Some(roles) = Setting::DbRoles.env_var().and_then(|var| env.var(var)) {
            b.roles = roles.split(',').map(|r| r.trim().to_owned()).collect();
            b.origins.read(Setting::DbRoles);
        }
        let check = Setting::SessionCheck
            .env_var()
            .map(|var| env.choice(var, SESSION_CHECK));
        if let Some(check) = check
            .transpose()
            .map_err(|r| BuildError::env(Setting::SessionCheck, r))?
            .flatten()
        {
            b.session_check = check == "db";
            b.origins.read(Setting::SessionCheck);
        }
        Ok(b)
    }

    /// The connection string (`postgresql://user:password@host:port/db`). Required.
    pub fn url(&mut self, url: impl Into<String>) -> &mut Self {
        self.url = Some(SecretString::from(url.into().trim().to_owned()));
        self.origins.coded(Setting::DatabaseUrl);
        self
    }

    /// Connections in the pool (default 10, 1 to 1000).
    pub fn pool_size(&mut self, n: usize) -> &mut Self {
        self.pool_size = n;
        self.origins.coded(Setting::PoolSize);
        self
    }

    /// How long a request waits for a connection before it is answered 503
    /// (default 2 s). Also bounds opening a new connection.
    pub fn acquire_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.acquire_timeout = timeout;
        self.origins.coded(Setting::AcquireTimeout);
        self
    }

    /// Postgres's `statement_timeout` inside every scoped transaction (default 5 s).
    pub fn statement_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.statement_timeout = timeout;
        self.origins.coded(Setting::StatementTimeout);
        self
    }

    /// The roles a verified token may run as (default `anon, authenticated`).
    /// A token with another role is answered 403 and never reaches the
    /// database. `service_role` bypasses RLS and is only allowed if listed.
    /// Owner and admin roles (`postgres`, `supabase_admin`, `authenticator`,
    /// `pg_*`, …) are refused here.
    pub fn roles<I, R>(&mut self, roles: I) -> &mut Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self.origins.coded(Setting::DbRoles);
        self
    }

    /// With `true`, every scoped transaction also checks that the token's
    /// `session_id` is still a row of `auth.sessions` (GoTrue deletes it at
    /// sign-out), in the same round trip as the role setup.
    pub fn session_check(&mut self, on: bool) -> &mut Self {
        self.session_check = on;
        self.origins.coded(Setting::SessionCheck);
        self
    }

    /// How long [`RequireActiveSession`](super::RequireActiveSession) trusts a
    /// session it found active (default 5 s, at most 300): the longest a
    /// signed-out session keeps working on routes that use it.
    pub fn session_cache_ttl(&mut self, ttl: Duration) -> &mut Self {
        self.session_cache_ttl = ttl;
        self.origins.coded(Setting::SessionCacheTtl);
        self
    }

    pub(super) fn invalid(&self, setting: Setting, rule: &'static str) -> BuildError {
        self.origins.error(setting, Reason::Rule(rule))
    }

    /// Checks every setting without building anything.
    pub fn check(&self) -> Result<(), BuildError> {
        let (_, tls) = self.pg_config()?;
        self.tls_config(&tls)?;
        let bounded = |setting: Setting, d: Duration| match setting.bounds() {
            Some(bounds) => bounds
                .check_duration(d)
                .map(drop)
                .map_err(|r| self.origins.error(setting, r)),
            None => Ok(()),
        };
        if let Some(bounds) = Setting::PoolSize.bounds() {
            bounds
                .check(self.pool_size as u64)
                .map_err(|r| self.origins.error(Setting::PoolSize, r))?;
        }
        bounded(Setting::AcquireTimeout, self.acquire_timeout)?;
        bounded(Setting::StatementTimeout, self.statement_timeout)?;
        bounded(Setting::SessionCacheTtl, self.session_cache_ttl)?;
        let invalid = |rule| self.origins.error(Setting::DbRoles, Reason::Rule(rule));
        if self.roles.is_empty() || self.roles.iter().any(|r| !is_role_name(r)) {
            return Err(invalid(
                "must be a comma-separated list of role names (lowercase letters, digits, _)",
            ));
        }
        if self
            .roles
            .iter()
            .any(|r| FORBIDDEN_ROLES.contains(&r.as_str()) || r.starts_with("pg_"))
        {
            return Err(invalid(
                "lists an owner or admin role (postgres, supabase_admin, authenticator, pg_*, ...); tokens may never run as one",
            ));
        }
        Ok(())
    }

    /// The parsed connection settings and their TLS half. The parser's own
    /// message is not kept: it may quote part of the string.
    pub(super) fn pg_config(&self) -> Result<(tokio_postgres::Config, TlsSettings), BuildError> {
        let url = self
            .url
            .as_ref()
            .ok_or_else(|| self.origins.error(Setting::DatabaseUrl, Reason::Missing))?;
        let (rest, tls) =
            tls::split(url.expose_secret()).map_err(|r| self.origins.error(Setting::DatabaseUrl, r))?;
        let invalid = |rule| self.origins.error(Setting::DatabaseUrl, Reason::Rule(rule));
        let mut config = tokio_postgres::Config::from_str(&rest).map_err(|_| {
            invalid("is not a postgres connection string (postgresql://user:password@host:port/database)")
        })?;
        if config.get_hosts().is_empty() {
            return Err(invalid("names no host"));
        }
        // A key=value string's own sslmode, which the driver read.
        let tls = if rest.starts_with("postgres") {
            tls
        } else {
            TlsSettings::from_driver(config.get_ssl_mode())
        };
        config.ssl_mode(tls.driver_mode());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.acquire_timeout);
        }
        // Shows who we are in pg_stat_activity.
        if config.get_application_name().is_none() {
            config.application_name("axum-supabase");
        }
        Ok((config, tls))
    }

    /// The TLS client configuration, its roots read now.
    pub(super) fn tls_config(&self, tls: &TlsSettings) -> Result<rustls::ClientConfig, BuildError> {
        tls.client_config().map_err(|e| match e {
            TlsError::Rule(reason) => self.origins.error(Setting::DatabaseUrl, reason),
            TlsError::Unreadable(path, kind) => self
                .origins
                .error(Setting::DatabaseUrl, Reason::Unreadable(kind))
                .with_file(&path),
        })
    }

    /// One connection outside the pool, with the same settings and TLS: for
    /// migrations and other one-off jobs. Drive the returned connection
    /// future (spawn it) while the client is in use, as with
    /// `tokio_postgres::connect`. A server that takes the connection but
    /// stalls its handshake is given up after [`CONNECT_TIMEOUT`].
    pub async fn connect(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            impl std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + use<>,
        ),
        ConnectError,
    > {
        self.check()?;
        let (config, tls) = self.pg_config()?;
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config(&tls)?);
        // The driver's own connect timeout covers the TCP connect, not TLS
        // or the startup exchange after it.
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(connector))
            .await
            .map_err(|_| ConnectError::TimedOut)?;
        let (client, connection) = connected.map_err(|e| {
            if tls::is_tls_failure(&e) {
                ConnectError::Tls(e)
            } else {
                ConnectError::Postgres(e)
            }
        })?;
        Ok((client, connection))
    }

    /// Checks every setting and builds the pool. Connects to nothing: the first request does.
    pub fn build(&self) -> Result<super::Database, BuildError> {
        self.check()?;
        super::Database::from_builder(self)
    }
}

/// How long [`DatabaseBuilder::connect`] waits for a connection, handshakes
/// and startup included.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why [`DatabaseBuilder::connect`] made no connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] BuildError),
    /// TLS failed: the certificate did not pass `sslmode`'s checks, or the
    /// server offers no TLS where it is required.
    #[error("database TLS handshake failed: {0}")]
    Tls(tokio_postgres::Error),
    /// The database could not be reached, or refused the connection.
    #[error("cannot connect to the database: {0}")]
    Postgres(tokio_postgres::Error),
    /// No connection within [`CONNECT_TIMEOUT`].
    #[error("cannot connect to the database: no connection within 30 s")]
    TimedOut,
}

/// Lowercase identifiers only, so no quoting rule of Postgres is involved.
fn is_role_name(r: &str) -> bool {
    let mut chars = r.chars();
    r.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The builder from `vars`, checked.
    fn from(vars: &[(&str, &str)]) -> Result<DatabaseBuilder, BuildError> {
        let b = DatabaseBuilder::from_lookup(|n| {
            vars.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned())
        })?;
        b.check()?;
        Ok(b)
    }

    const URL: (&str, &str) = ("DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:5432/db");

    #[test]
    fn no_url_is_named_as_it_was_missed() {
        assert_eq!(
            from(&[]).map_err(|e| e.to_string()).err().as_deref(),
            Some("DATABASE_URL is not set")
        );
        let coded = DatabaseBuilder::default().check().map_err(|e| e.to_string());
        assert_eq!(coded.err().as_deref(), Some("url() is not set"));
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let bad = |k: &'static str, v: &'static str| from(&[URL, (k, v)]).err().and_then(|e| e.variable());
        assert_eq!(bad("DB_POOL_SIZE", "0"), Some("DB_POOL_SIZE"));
        assert_eq!(bad("DB_POOL_SIZE", "x"), Some("DB_POOL_SIZE"));
        assert_eq!(bad("DB_ACQUIRE_TIMEOUT_MS", "0"), Some("DB_ACQUIRE_TIMEOUT_MS"));
        assert_eq!(
            bad("DB_STATEMENT_TIMEOUT_MS", "-5"),
            Some("DB_STATEMENT_TIMEOUT_MS")
        );
        assert_eq!(bad("SESSION_CHECK", "yes"), Some("SESSION_CHECK"));
        assert_eq!(
            bad("SESSION_CACHE_TTL_SECS", "301"),
            Some("SESSION_CACHE_TTL_SECS")
        );
        for roles in [
            "anon,",
            "Anon",
            "postgres",
            "anon,supabase_admin",
            "supabase_functions_admin",
            "authenticated,dashboard_user",
            "pgsodium_keymaker",
            "pg_read_server_files",
            "a b",
            "x;drop",
        ] {
            assert_eq!(bad("DB_ROLES", roles), Some("DB_ROLES"), "{roles:?} was accepted");
        }
        // A blank DB_ROLES is no DB_ROLES: the default roles.
        let blank = from(&[URL, ("DB_ROLES", " ")]).ok().map(|b| b.roles);
        assert_eq!(blank, Some(vec!["anon".to_owned(), "authenticated".to_owned()]));
        assert_eq!(bad("DB_ROLES", "authenticated,authenticator"), Some("DB_ROLES"));
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        for url in [
            "not a url hunter2",
            "postgresql://u:hunter2@",
            "mysql://u:hunter2@h/db",
        ] {
            let e = from(&[("DATABASE_URL", url)]).err();
            assert_eq!(
                e.as_ref().map(BuildError::setting),
                Some(Setting::DatabaseUrl),
                "{url}"
            );
            let text = e.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                text.starts_with("DATABASE_URL") && !text.contains("hunter2"),
                "{text}"
            );
        }
    }

    #[test]
    fn defaults_and_opt_ins() {
        let b = from(&[URL]).ok();
        let b = b
            .as_ref()
            .map(|b| (b.pool_size, b.roles.clone(), b.session_check));
        assert_eq!(
            b,
            Some((10, vec!["anon".to_owned(), "authenticated".to_owned()], false))
        );
        let b = from(&[
            URL,
            ("DB_ROLES", "authenticated, service_role"),
            ("SESSION_CHECK", "db"),
        ]);
        let b = b.ok().map(|b| (b.roles, b.session_check));
        assert_eq!(
            b,
            Some((vec!["authenticated".to_owned(), "service_role".to_owned()], true))
        );
    }

    /// The dashboard's three strings for a hosted project, as its docs give them.
    #[test]
    fn the_three_hosted_connection_strings_parse_as_supabase_means_them() {
        let parse = |url: &str| {
            let mut b = DatabaseBuilder::default();
            b.url(url);
            b.pg_config()
        };
        let ca = "sslmode=verify-full&sslrootcert=%2Fetc%2Fsupabase%2Fprod-ca-2021.crt";
        // Direct: user postgres, a password with @ / ? percent-encoded.
        let direct = parse(&format!(
            "postgresql://postgres:p%40ss%2Fw%3Frd@db.abcdefghijklmnopqrst.supabase.co:5432/postgres?{ca}"
        ));
        let (config, tls) = direct
            .as_ref()
            .map_err(ToString::to_string)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.get_user(), Some("postgres"));
        assert_eq!(config.get_password(), Some(&b"p@ss/w?rd"[..]));
        assert_eq!(
            config.get_hosts(),
            &[tokio_postgres::config::Host::Tcp(
                "db.abcdefghijklmnopqrst.supabase.co".to_owned()
            )]
        );
        assert_eq!(
            (config.get_ports(), tls.mode),
            (&[5432][..], super::super::SslMode::VerifyFull)
        );
        assert_eq!(
            tls.roots,
            super::super::tls::RootSource::File("/etc/supabase/prod-ca-2021.crt".into())
        );
        // Supavisor, session (5432) and transaction (6543) mode: the user keeps its dot.
        for port in [5432u16, 6543] {
            let pooled = parse(&format!(
                "postgres://postgres.abcdefghijklmnopqrst:secret@aws-0-eu-central-1.pooler.supabase.com:{port}/postgres?{ca}"
            ));
            let (config, tls) = pooled
                .as_ref()
                .map_err(ToString::to_string)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(config.get_user(), Some("postgres.abcdefghijklmnopqrst"));
            assert_eq!(config.get_ports(), &[port]);
            assert_eq!(config.get_dbname(), Some("postgres"));
            assert_eq!(tls.mode, super::super::SslMode::VerifyFull);
            // The driver gets its own sslmode, never the verify-* word it does not know.
            assert_eq!(config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let b = from(&[URL]).ok();
        assert!(!format!("{b:?}").contains("hunter2"));
    }
}
