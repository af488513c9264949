//! Postgres under Row Level Security, with the caller's identity, as PostgREST
//! does it (feature `postgres`).
//!
//! A handler takes [`Rls`] and runs its queries in
//! [`Rls::run`]: one transaction per request, whose first statement sets
//! `role` and `request.jwt.claims` (and `request.method`, `request.path`,
//! `statement_timeout`) with `set_config(…, true)`. Supabase's `auth.uid()`,
//! `auth.role()`, `auth.email()` and `auth.jwt()` read those settings, so the
//! table's policies decide what the caller sees, exactly as they do for the
//! same token through PostgREST. The settings are transaction-local: nothing
//! survives the commit, and a connection whose state is unknown (a dropped
//! request, a panic, a failed rollback) is closed instead of being pooled.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use axum_supabase::SupabaseAuth;
//! use axum_supabase::db::{Database, DbError, Rls};
//!
//! async fn count_todos(rls: Rls) -> Result<String, DbError> {
//!     rls.run(async |tx| {
//!         // No `where user_id = …`: the table's policies filter the rows.
//!         let row = tx.query_one("select count(*) from todos", &[]).await?;
//!         Ok(row.try_get::<_, i64>(0)?.to_string())
//!     })
//!     .await
//! }
//!
//! # fn app(auth: SupabaseAuth) -> Result<Router, Box<dyn std::error::Error>> {
//! let db = Database::from_env()?; // "DATABASE_URL is not set" when it is not
//! let app = Router::new()
//!     .route("/todos/count", get(count_todos))
//!     .route_layer(auth.optional_layer()) // anonymous callers run as `anon`
//!     .layer(db.layer());
//! # Ok(app) }
//! ```
//!
//! Statements go through the extended protocol with unnamed statements
//! ([`tokio_postgres::Client::query_typed`]), so no prepared statement
//! outlives a transaction: the pool works through Supavisor's or PgBouncer's
//! transaction mode.

/// The rule for a live Supabase session, given the SQL for its id: a row of
/// `auth.sessions` whose `not_after` is unset or ahead. One text for the
/// scoped check and for [`RequireActiveSession`].
macro_rules! session_active {
    ($id:literal) => {
        concat!(
            "exists(select 1 from auth.sessions s where s.id = ",
            $id,
            " and (s.not_after is null or s.not_after > now()))"
        )
    };
}
use session_active;

mod config;
mod error;
mod layer;
mod ready;
mod scope;
mod session;
mod setup;
mod tls;

pub(crate) use ready::discard;
use ready::{Dial, Readiness};
use setup::is_local;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::BuildError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

pub use config::{CONNECT_TIMEOUT, ConnectError, DEFAULT_DB_ROLES, DatabaseBuilder};
pub use error::DbError;
pub use layer::{DatabaseLayer, DatabaseService};
pub use scope::{Param, Rls, Tx};
pub use session::RequireActiveSession;
pub use setup::SetupError;
pub use tls::SslMode;
/// The driver, for its `Row`, `types::Type` and `types::ToSql`.
pub use tokio_postgres;

/// The connection pool and the rules of the RLS scope. Cheap to clone.
///
/// Handlers find it in the request extensions: add it with
/// [`layer`](Self::layer).
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    roles: Box<[String]>,
    session_check: bool,
    statement_timeout_ms: String,
    acquire_timeout: Duration,
    /// session id → (checked at, active): [`RequireActiveSession`]'s memory.
    sessions: quick_cache::sync::Cache<Uuid, (Instant, bool)>,
    session_ttl: Duration,
    /// `user@host:port/database`, for `Debug`; never the password.
    target: String,
    ready: Readiness,
    dial: Dial,
    /// Under `sslmode=prefer` with a host off this machine: the same
    /// connection with TLS required, to learn at startup whether the pool
    /// ends up in plain text.
    plain_probe: Option<(tokio_postgres::Config, MakeRustlsConnect)>,
}

/// Pool occupancy, for readiness and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PoolStatus {
    /// The pool's limit.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Open connections not in use.
    pub idle: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("target", &self.inner.target)
            .field("roles", &self.inner.roles)
            .field("session_check", &self.inner.session_check)
            .field("pool", &self.status())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// A builder with the defaults; see [`DatabaseBuilder`]. Its `url` is required.
    pub fn builder() -> DatabaseBuilder {
        DatabaseBuilder::default()
    }

    /// Built from the process environment: [`DatabaseBuilder::from_env`], then `build`.
    pub fn from_env() -> Result<Self, BuildError> {
        DatabaseBuilder::from_env()?.build()
    }

    /// Built from variables read through `lookup`, as [`from_env`](Self::from_env) reads them.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        DatabaseBuilder::from_lookup(lookup)?.build()
    }

    pub(super) fn from_builder(b: &DatabaseBuilder) -> Result<Self, BuildError> {
        let (pg, tls) = b.pg_config()?;
        let connector = MakeRustlsConnect::new(b.tls_config(&tls)?);
        let target = format!("{} sslmode={}", describe(&pg), tls.mode.as_str());
        let plain_probe = (tls.mode == SslMode::Prefer && !is_local(&pg)).then(|| {
            let mut required = pg.clone();
            required.ssl_mode(tokio_postgres::config::SslMode::Require);
            (required, connector.clone())
        });
        let manager = Manager::from_config(
            pg,
            connector,
            ManagerConfig {
                // A broken connection shows as closed; one we are unsure of
                // never comes back to the pool (see `Tx`'s drop).
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(b.pool_size)
            .wait_timeout(Some(b.acquire_timeout))
            .create_timeout(Some(b.acquire_timeout))
            .recycle_timeout(Some(b.acquire_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|_| b.invalid(crate::Setting::PoolSize, "the pool could not be built"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                roles: b.roles.clone().into_boxed_slice(),
                session_check: b.session_check,
                statement_timeout_ms: b.statement_timeout.as_millis().to_string(),
                acquire_timeout: b.acquire_timeout,
                sessions: quick_cache::sync::Cache::new(10_000),
                session_ttl: b.session_cache_ttl,
                target,
                plain_probe,
                dial: Dial::new(),
                ready: Readiness::new(),
            }),
        })
    }

    /// The layer that puts this database in every request's extensions, where
    /// [`Rls`] and [`RequireActiveSession`] find it.
    pub fn layer(&self) -> DatabaseLayer {
        DatabaseLayer::new(self.clone())
    }

    /// The roles a token may run as.
    pub fn roles(&self) -> &[String] {
        &self.inner.roles
    }

    /// Whether scoped transactions check `auth.sessions`.
    pub fn session_check(&self) -> bool {
        self.inner.session_check
    }

    /// Pool occupancy now.
    pub fn status(&self) -> PoolStatus {
        let s = self.inner.pool.status();
        PoolStatus {
            max_size: s.max_size,
            size: s.size,
            idle: s.available,
            waiting: s.waiting,
        }
    }

    /// The database [`layer`](Self::layer) put in the request, or 503.
    pub(crate) fn from_parts(parts: &axum::http::request::Parts) -> Result<Self, DbError> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(DbError::NotConfigured)
    }

    pub(crate) fn allows(&self, role: &str) -> bool {
        self.inner.roles.iter().any(|r| r == role)
    }
}

fn describe(pg: &tokio_postgres::Config) -> String {
    let host = pg.get_hosts().first().map_or_else(String::new, |h| match h {
        tokio_postgres::config::Host::Tcp(name) => name.clone(),
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
    });
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        pg.get_user().unwrap_or(""),
        pg.get_dbname().unwrap_or("")
    )
}
