//! Startup checks against the database itself: the roles tokens may run
//! as, the session table, and whether a `prefer` pool ends up in plain text.

use super::{Database, tls};

/// Why [`Database::check_setup`] refused, or could not tell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The database did not answer within the acquire timeout.
    #[error("the database could not be asked about its setup")]
    Unreachable,
    /// A listed role no token may run as ([`Setting::DbRoles`](crate::Setting::DbRoles)).
    #[error("lists {role}, which {why}; tokens may never run as it")]
    UnsafeRole {
        /// The role.
        role: String,
        /// What the database says of it.
        why: &'static str,
    },
    /// The session check is on, and `auth.sessions` cannot be read
    /// ([`Setting::SessionCheck`](crate::Setting::SessionCheck)).
    #[error(
        "is db, which needs GoTrue's auth.sessions table, and the connecting role cannot read one in this \
         database (a Supabase database has it; a plain one, off)"
    )]
    NoSessionTable,
}

impl Database {
    /// Asks the database whether it suits the settings, for startup (when
    /// it can tell): no role tokens may run as is a superuser, creates roles,
    /// replicates or reaches the server's files and programs, and none but
    /// `service_role` (which bypasses RLS by design, and is listed only on
    /// purpose) bypasses RLS; with the session check on, `auth.sessions` can
    /// be read. A role the database does not know is left to fail later.
    pub async fn check_setup(&self) -> Result<(), SetupError> {
        const ROLES: &str = "select r.rolname::text, r.rolsuper, r.rolbypassrls, \
             r.rolcreaterole or r.rolreplication, \
             pg_has_role(r.oid, 'pg_read_server_files', 'MEMBER') \
             or pg_has_role(r.oid, 'pg_write_server_files', 'MEMBER') \
             or pg_has_role(r.oid, 'pg_execute_server_program', 'MEMBER') \
             from pg_roles r where r.rolname = any($1)";
        self.warn_if_plain().await;
        let conn = self.acquire().await.map_err(|_| SetupError::Unreachable)?;
        let roles: Vec<&str> = self.inner.roles.iter().map(String::as_str).collect();
        let rows = tokio::time::timeout(
            self.inner.acquire_timeout,
            conn.query_typed(ROLES, &[(&roles, tokio_postgres::types::Type::TEXT_ARRAY)]),
        )
        .await
        .map_err(|_| SetupError::Unreachable)?
        .map_err(|_| SetupError::Unreachable)?;
        for row in rows {
            let unreachable = |_| SetupError::Unreachable;
            let role: String = row.try_get(0).map_err(unreachable)?;
            let flags: [bool; 4] = [
                row.try_get(1).map_err(unreachable)?,
                row.try_get(2).map_err(unreachable)?,
                row.try_get(3).map_err(unreachable)?,
                row.try_get(4).map_err(unreachable)?,
            ];
            let why = match flags {
                [true, ..] => "is a superuser in this database",
                [_, true, ..] if role != "service_role" => "bypasses row level security in this database",
                [_, _, true, _] => "can create roles or replicate in this database",
                [.., true] => "can read or write the server's files, or run its programs",
                _ => continue,
            };
            return Err(SetupError::UnsafeRole { role, why });
        }
        if self.inner.session_check {
            const SESSIONS: &str = "select case when to_regclass('auth.sessions') is null then false \
                 else has_table_privilege(to_regclass('auth.sessions'), 'select') end";
            let readable = tokio::time::timeout(self.inner.acquire_timeout, conn.query_one(SESSIONS, &[]))
                .await
                .map_err(|_| SetupError::Unreachable)?
                .and_then(|row| row.try_get::<_, bool>(0))
                .map_err(|_| SetupError::Unreachable)?;
            if !readable {
                return Err(SetupError::NoSessionTable);
            }
        }
        Ok(())
    }

    /// Under `sslmode=prefer` with a host off this machine, warns when the
    /// server offers no TLS, so that the pool talks in plain text.
    async fn warn_if_plain(&self) {
        let Some((config, connector)) = &self.inner.plain_probe else {
            return;
        };
        let probe = tokio::time::timeout(self.inner.acquire_timeout, config.connect(connector.clone()));
        // Any other failure is the pool's too, and each request says so.
        if let Ok(Err(e)) = probe.await
            && tls::is_tls_refused(&e)
        {
            tracing::warn!(
                "DATABASE_URL names a host off this machine and the connection is not encrypted: \
                 sslmode=prefer and the server offers no TLS. Set sslmode=verify-full (or require)"
            );
        }
    }
}

/// Whether every host is this machine: loopback, `localhost` or a Unix socket.
pub(super) fn is_local(pg: &tokio_postgres::Config) -> bool {
    pg.get_hosts().iter().all(|h| match h {
        tokio_postgres::config::Host::Tcp(name) => {
            name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(_) => true,
    })
}
