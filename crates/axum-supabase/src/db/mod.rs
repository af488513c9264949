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
mod scope;
mod session;
mod tls;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::BuildError;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

pub use config::{CONNECT_TIMEOUT, ConnectError, DEFAULT_DB_ROLES, DatabaseBuilder};
pub use error::DbError;
pub use layer::{DatabaseLayer, DatabaseService};
pub use scope::{Param, Rls, Tx};
pub use session::RequireActiveSession;
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

/// How long a failed dial answers for the next requests that find no idle
/// connection: a flood of requests against a database that is down, or whose
/// certificate fails, dials it once a second, not once a request.
const DIAL_BACKOFF: Duration = Duration::from_secs(1);

/// The last failed dial, and the warnings it gives.
struct Dial {
    start: Instant,
    /// Milliseconds since `start` of the last failed dial, plus one (0: none).
    failed_at: std::sync::atomic::AtomicU64,
    /// Whether that failure was TLS's.
    failed_tls: std::sync::atomic::AtomicBool,
    warnings: crate::throttle::Throttle,
}

impl Dial {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            failed_at: std::sync::atomic::AtomicU64::new(0),
            failed_tls: std::sync::atomic::AtomicBool::new(false),
            warnings: crate::throttle::Throttle::default(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// The error of a dial that failed less than [`DIAL_BACKOFF`] ago.
    fn recent_failure(&self) -> Option<DbError> {
        use std::sync::atomic::Ordering;
        let at = self.failed_at.load(Ordering::Acquire);
        let recent = at != 0 && u128::from(self.now().saturating_sub(at)) < DIAL_BACKOFF.as_millis();
        recent.then(|| {
            if self.failed_tls.load(Ordering::Acquire) {
                DbError::Tls
            } else {
                DbError::Unavailable
            }
        })
    }

    fn failed(&self, tls: bool) {
        use std::sync::atomic::Ordering;
        self.failed_tls.store(tls, Ordering::Release);
        self.failed_at.store(self.now(), Ordering::Release);
    }

    fn succeeded(&self) {
        use std::sync::atomic::Ordering;
        if self.failed_at.load(Ordering::Relaxed) != 0 {
            self.failed_at.store(0, Ordering::Release);
        }
    }
}

/// What readiness probes share: the last ping, and the one in flight.
#[derive(Default)]
struct Readiness {
    /// The last ping's time and outcome.
    last: std::sync::Mutex<Option<(Instant, Outcome)>>,
    /// Whether the last ping succeeded.
    last_ok: std::sync::atomic::AtomicBool,
    in_flight: std::sync::atomic::AtomicBool,
    /// Woken when a ping ends.
    done: tokio::sync::Notify,
    /// Pings sent to the database, for this repository's tests.
    pings_sent: std::sync::atomic::AtomicU64,
}

/// What a ping found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Up,
    Down,
    /// No connection: TLS failed.
    Tls,
}

impl Outcome {
    fn of(result: &Result<(), DbError>) -> Self {
        match result {
            Ok(()) => Self::Up,
            Err(DbError::Tls) => Self::Tls,
            Err(_) => Self::Down,
        }
    }

    fn answer(self) -> Result<(), DbError> {
        match self {
            Self::Up => Ok(()),
            Self::Down => Err(DbError::Unavailable),
            Self::Tls => Err(DbError::Tls),
        }
    }
}

/// Ends a ping's flight however the ping ends (its caller may go away).
struct PingFlight<'a>(&'a Readiness);

impl Drop for PingFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .store(false, std::sync::atomic::Ordering::Release);
        self.0.done.notify_waiters();
    }
}

/// How long a ping's outcome answers readiness probes.
const PING_TTL: Duration = Duration::from_secs(1);

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
                ready: Readiness {
                    last_ok: std::sync::atomic::AtomicBool::new(true),
                    ..Readiness::default()
                },
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

    /// Whether the database answers, for readiness probes: one `select 1` on a
    /// pooled connection, within the acquire timeout. A probe flood costs the
    /// pool one connection at most: an outcome answers every call for a
    /// second, one ping is in flight at a time, and while it is, callers get
    /// the outcome before it; with none to give (the first ping, or after a
    /// request's own success or failure outdated it), they wait for the ping.
    pub async fn ping(&self) -> Result<(), DbError> {
        let ready = &self.inner.ready;
        loop {
            let last = *lock(&ready.last);
            if let Some((at, outcome)) = last
                && at.elapsed() < PING_TTL
            {
                return outcome.answer();
            }
            if !ready.in_flight.swap(true, std::sync::atomic::Ordering::AcqRel) {
                let _flight = PingFlight(ready);
                let outcome = Outcome::of(&self.ping_now().await);
                *lock(&ready.last) = Some((Instant::now(), outcome));
                ready
                    .last_ok
                    .store(outcome == Outcome::Up, std::sync::atomic::Ordering::Relaxed);
                return outcome.answer();
            }
            if let Some((_, outcome)) = last {
                return outcome.answer();
            }
            // The first ping ever is out: wait for it (the guard wakes us however it ends).
            let done = ready.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if ready.in_flight.load(std::sync::atomic::Ordering::Acquire) {
                done.await;
            }
        }
    }

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

    /// How many pings reached for a connection (feature `internals`).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn pings_sent(&self) -> u64 {
        self.inner
            .ready
            .pings_sent
            .load(std::sync::atomic::Ordering::Acquire)
    }

    async fn ping_now(&self) -> Result<(), DbError> {
        self.inner
            .ready
            .pings_sent
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let conn = self.acquire().await?;
        let ping = tokio::time::timeout(self.inner.acquire_timeout, conn.batch_execute("select 1"));
        match ping.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                discard(conn);
                Err(DbError::from(e))
            }
            Err(_) => {
                discard(conn);
                Err(DbError::Unavailable)
            }
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

    pub(crate) async fn acquire(&self) -> Result<Object, DbError> {
        let dial = &self.inner.dial;
        // A dial failed just now: without an idle connection this request
        // would dial again, so it gets that answer instead.
        if let Some(error) = dial.recent_failure()
            && self.inner.pool.status().available == 0
        {
            return Err(error);
        }
        let conn = self.inner.pool.get().await;
        // A request's own success or failure outdates the readiness probe's memory.
        if conn.is_ok()
            != self
                .inner
                .ready
                .last_ok
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            *lock(&self.inner.ready.last) = None;
        }
        let e = match conn {
            Ok(conn) => {
                dial.succeeded();
                return Ok(conn);
            }
            Err(e) => e,
        };
        let tls = matches!(&e, deadpool_postgres::PoolError::Backend(pg) if tls::is_tls_failure(pg));
        if matches!(e, deadpool_postgres::PoolError::Backend(_)) {
            dial.failed(tls);
        }
        // One line a second at most, with the count of those held back.
        if let Some(held) = dial.warnings.allow() {
            match &e {
                // The driver's message names the check that failed, never a credential.
                deadpool_postgres::PoolError::Backend(pg) if tls => {
                    tracing::warn!(error = %pg, held, "{}", error::TLS_FAILED);
                }
                deadpool_postgres::PoolError::Backend(pg) => tracing::warn!(
                    sqlstate = pg.code().map(|c| c.code()),
                    held,
                    "cannot open a database connection"
                ),
                other => tracing::warn!(reason = %pool_reason(other), held, "no database connection"),
            }
        }
        Err(if tls { DbError::Tls } else { DbError::Unavailable })
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Closes a connection instead of returning it to the pool.
pub(crate) fn discard(conn: Object) {
    drop(Object::take(conn));
}

fn pool_reason(e: &deadpool_postgres::PoolError) -> &'static str {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Timeout(_) => "timed out waiting for a connection",
        PoolError::Closed => "the pool is closed",
        PoolError::Backend(_) => "cannot connect",
        _ => "the pool failed",
    }
}

/// Whether every host is this machine: loopback, `localhost` or a Unix socket.
fn is_local(pg: &tokio_postgres::Config) -> bool {
    pg.get_hosts().iter().all(|h| match h {
        tokio_postgres::config::Host::Tcp(name) => {
            name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(_) => true,
    })
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
