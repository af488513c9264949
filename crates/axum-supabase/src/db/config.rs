//! [`DatabaseBuilder`]: every database setting checked once, before the first request.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Roles a token may never run as, whatever `DB_ROLES` says: they own the
/// schema, bypass RLS, replicate, manage keys or read the server's files.
/// The roles Supabase's own SQL creates with such rights (supabase/postgres
/// `migrations/db/init-scripts/00000000000000-initial-schema.sql` and the
/// roles of a Supabase cluster dump), and `pg_*` below. With a database at
/// hand, [`Database::check_roles`](super::Database::check_roles) also asks it.
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

/// A database setting, for errors that name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DbSetting {
    /// The connection string.
    Url,
    /// [`DatabaseBuilder::pool_size`]
    PoolSize,
    /// [`DatabaseBuilder::acquire_timeout`]
    AcquireTimeout,
    /// [`DatabaseBuilder::statement_timeout`]
    StatementTimeout,
    /// [`DatabaseBuilder::roles`]
    Roles,
    /// [`DatabaseBuilder::session_check`]
    SessionCheck,
    /// [`DatabaseBuilder::session_cache_ttl`]
    SessionCacheTtl,
}

impl DbSetting {
    /// The environment variable [`DatabaseBuilder::from_lookup`] reads it from.
    pub fn env_var(self) -> &'static str {
        match self {
            Self::Url => "DATABASE_URL",
            Self::PoolSize => "DB_POOL_SIZE",
            Self::AcquireTimeout => "DB_ACQUIRE_TIMEOUT_MS",
            Self::StatementTimeout => "DB_STATEMENT_TIMEOUT_MS",
            Self::Roles => "DB_ROLES",
            Self::SessionCheck => "SESSION_CHECK",
            Self::SessionCacheTtl => "SESSION_CACHE_TTL_SECS",
        }
    }
}

/// Why the database settings were refused. The message never holds the
/// connection string, so no password can leak through it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", .setting.env_var())]
pub struct DbBuildError {
    setting: DbSetting,
    reason: &'static str,
}

impl DbBuildError {
    pub(super) fn new(setting: DbSetting, reason: &'static str) -> Self {
        Self { setting, reason }
    }

    /// The setting at fault.
    pub fn setting(&self) -> DbSetting {
        self.setting
    }

    /// What is wrong with it, without its value.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// Settings for [`Database`](super::Database), checked by [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use axum_supabase::db::Database;
///
/// let db = Database::builder("postgresql://authenticator:secret@127.0.0.1:54322/postgres")
///     .pool_size(8)
///     .statement_timeout(Duration::from_secs(3))
///     .build()?;
/// assert!(!format!("{db:?}").contains("secret"));
/// # Ok::<(), axum_supabase::db::DbBuildError>(())
/// ```
#[derive(Clone)]
pub struct DatabaseBuilder {
    pub(super) url: SecretString,
    pub(super) pool_size: usize,
    pub(super) acquire_timeout: Duration,
    pub(super) statement_timeout: Duration,
    pub(super) roles: Vec<String>,
    pub(super) session_check: bool,
    pub(super) session_cache_ttl: Duration,
}

impl fmt::Debug for DatabaseBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseBuilder")
            .field("url", &"[redacted]")
            .field("pool_size", &self.pool_size)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("roles", &self.roles)
            .field("session_check", &self.session_check)
            .field("session_cache_ttl", &self.session_cache_ttl)
            .finish()
    }
}

impl DatabaseBuilder {
    pub(super) fn new(url: &str) -> Self {
        Self {
            url: SecretString::from(url.trim().to_owned()),
            pool_size: 10,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
            roles: DEFAULT_DB_ROLES.iter().map(|r| (*r).to_owned()).collect(),
            session_check: false,
            session_cache_ttl: Duration::from_secs(5),
        }
    }

    /// Reads `DATABASE_URL` and the `DB_*`/`SESSION_*` variables through
    /// `lookup`. `Ok(None)` when `DATABASE_URL` is unset: no database.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, DbBuildError> {
        let get = |s: DbSetting| crate::config::lookup_var(&lookup, s.env_var());
        let Some(url) = get(DbSetting::Url) else {
            return Ok(None);
        };
        let mut b = Self::new(&url);
        let number = |s: DbSetting, why: &'static str| -> Result<Option<u64>, DbBuildError> {
            get(s)
                .map(|v| v.parse::<u64>().map_err(|_| DbBuildError::new(s, why)))
                .transpose()
        };
        if let Some(n) = number(DbSetting::PoolSize, "must be a whole number from 1 to 1000")? {
            b.pool_size = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(ms) = number(DbSetting::AcquireTimeout, "must be milliseconds from 1 to 60000")? {
            b.acquire_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number(
            DbSetting::StatementTimeout,
            "must be milliseconds from 1 to 3600000",
        )? {
            b.statement_timeout = Duration::from_millis(ms);
        }
        if let Some(secs) = number(DbSetting::SessionCacheTtl, "must be seconds from 0 to 300")? {
            b.session_cache_ttl = Duration::from_secs(secs);
        }
        if let Some(list) = get(DbSetting::Roles) {
            b.roles = list.split(',').map(|r| r.trim().to_owned()).collect();
        }
        b.session_check = match get(DbSetting::SessionCheck).as_deref() {
            None | Some("off") => false,
            Some("db") => true,
            Some(_) => return Err(DbBuildError::new(DbSetting::SessionCheck, "must be off or db")),
        };
        b.check()?;
        Ok(Some(b))
    }

    /// Connections in the pool (default 10, 1 to 1000).
    pub fn pool_size(&mut self, n: usize) -> &mut Self {
        self.pool_size = n;
        self
    }

    /// How long a request waits for a connection before it is answered 503
    /// (default 2 s). Also bounds opening a new connection.
    pub fn acquire_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Postgres's `statement_timeout` inside every scoped transaction (default 5 s).
    pub fn statement_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.statement_timeout = timeout;
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
        self
    }

    /// With `true`, every scoped transaction also checks that the token's
    /// `session_id` is still a row of `auth.sessions` (GoTrue deletes it at
    /// sign-out), in the same round trip as the role setup.
    pub fn session_check(&mut self, on: bool) -> &mut Self {
        self.session_check = on;
        self
    }

    /// How long [`RequireActiveSession`](super::RequireActiveSession) trusts a
    /// session it found active (default 5 s, at most 300): the longest a
    /// signed-out session keeps working on routes that use it.
    pub fn session_cache_ttl(&mut self, ttl: Duration) -> &mut Self {
        self.session_cache_ttl = ttl;
        self
    }

    /// Checks every setting without building anything.
    pub fn check(&self) -> Result<(), DbBuildError> {
        self.pg_config()?;
        let err = DbBuildError::new;
        if !(1..=1000).contains(&self.pool_size) {
            return Err(err(DbSetting::PoolSize, "must be a whole number from 1 to 1000"));
        }
        if !(Duration::from_millis(1)..=Duration::from_secs(60)).contains(&self.acquire_timeout) {
            return Err(err(
                DbSetting::AcquireTimeout,
                "must be milliseconds from 1 to 60000",
            ));
        }
        if !(Duration::from_millis(1)..=Duration::from_secs(3600)).contains(&self.statement_timeout) {
            return Err(err(
                DbSetting::StatementTimeout,
                "must be milliseconds from 1 to 3600000",
            ));
        }
        if self.session_cache_ttl > Duration::from_secs(300) {
            return Err(err(DbSetting::SessionCacheTtl, "must be seconds from 0 to 300"));
        }
        if self.roles.is_empty() || self.roles.iter().any(|r| !is_role_name(r)) {
            return Err(err(
                DbSetting::Roles,
                "must be a comma-separated list of role names (lowercase letters, digits, _)",
            ));
        }
        if self
            .roles
            .iter()
            .any(|r| FORBIDDEN_ROLES.contains(&r.as_str()) || r.starts_with("pg_"))
        {
            return Err(err(
                DbSetting::Roles,
                "lists an owner or admin role (postgres, supabase_admin, authenticator, pg_*, ...); tokens may never run as one",
            ));
        }
        Ok(())
    }

    /// The parsed connection settings. The parser's own message is not kept:
    /// it may quote part of the string.
    pub(super) fn pg_config(&self) -> Result<tokio_postgres::Config, DbBuildError> {
        let mut config = tokio_postgres::Config::from_str(self.url.expose_secret()).map_err(|_| {
            DbBuildError::new(
                DbSetting::Url,
                "is not a postgres connection string (postgresql://user:password@host:port/database)",
            )
        })?;
        if config.get_hosts().is_empty() {
            return Err(DbBuildError::new(DbSetting::Url, "names no host"));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.acquire_timeout);
        }
        // Shows who we are in pg_stat_activity.
        if config.get_application_name().is_none() {
            config.application_name("axum-supabase");
        }
        Ok(config)
    }

    /// Builds the pool. Connects to nothing: the first request does.
    pub fn build(&self) -> Result<super::Database, DbBuildError> {
        self.check()?;
        super::Database::from_builder(self)
    }
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

    fn from(vars: &[(&str, &str)]) -> Result<Option<DatabaseBuilder>, DbBuildError> {
        DatabaseBuilder::from_lookup(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned()))
    }

    const URL: (&str, &str) = ("DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:5432/db");

    #[test]
    fn no_url_means_no_database() {
        assert_eq!(
            from(&[("DB_POOL_SIZE", "nonsense")]).map(|b| b.is_none()),
            Ok(true)
        );
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let bad =
            |k: &'static str, v: &'static str| from(&[URL, (k, v)]).err().map(|e| e.setting().env_var());
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
        let blank = from(&[URL, ("DB_ROLES", " ")]).ok().flatten().map(|b| b.roles);
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
                e.as_ref().map(DbBuildError::setting),
                Some(DbSetting::Url),
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
        let b = from(&[URL]).ok().flatten();
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
        let b = b.ok().flatten().map(|b| (b.roles, b.session_check));
        assert_eq!(
            b,
            Some((vec!["authenticated".to_owned(), "service_role".to_owned()], true))
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let b = from(&[URL]).ok().flatten();
        assert!(!format!("{b:?}").contains("hunter2"));
    }
}
