//! [`Rls`] and [`Tx`]: one transaction per request, in the caller's role.
//!
//! The first statement of a transaction is sent together with `BEGIN` and
//! the PostgREST-style setup, in one pipelined write: a read costs no extra
//! round trip for the setup. A read-write transaction waits for the setup to
//! succeed before its first statement is sent, so that no write can ever run
//! outside the scope; a read's result is thrown away unless the setup
//! succeeded.

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use deadpool_postgres::Object;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use super::{Database, DbError, discard};
use crate::{AuthRejection, AuthUser, Fault};

/// One statement parameter with its Postgres type. Giving the type lets the
/// statement go out unprepared, in the same round trip as its execution.
pub type Param<'a> = (&'a (dyn ToSql + Sync), Type);

const BEGIN_READ_ONLY: &str = "begin isolation level read committed read only";
const BEGIN_READ_WRITE: &str = "begin isolation level read committed read write";
/// What an anonymous request's `request.jwt.claims` holds, as with PostgREST.
const ANON_CLAIMS: &str = r#"{"role":"anon"}"#;
/// What a service caller's `request.jwt.claims` holds: what Supabase's
/// gateway puts in the JWT it makes from a secret key.
const SERVICE_CLAIMS: &str = r#"{"role":"service_role"}"#;
/// The role a service caller runs as.
const SERVICE_ROLE: &str = "service_role";

macro_rules! setup_sql {
    ($($extra:expr),*) => {
        concat!(
            "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true), ",
            "set_config('request.method', $3, true), set_config('request.path', $4, true), ",
            "set_config('statement_timeout', $5, true)",
            $($extra),*
        )
    };
}
const SETUP: &str = setup_sql!();
// Privileges on auth.sessions are checked as the connecting role: the
// planner sees the table before `role` changes.
const SETUP_WITH_SESSION: &str = setup_sql!(", ", super::session_active!("$6"));

/// The caller's database scope: an extractor that admits the request (its
/// role is allowed, or it is anonymous and `anon` is) and runs its queries in
/// one transaction as that role, with its claims.
///
/// It needs [`Database::layer`] (without it: 503) and the auth layer, whose
/// optional form makes anonymous requests run as `anon` (without either: 500).
pub struct Rls {
    db: Database,
    user: Option<AuthUser>,
    /// A server-to-server caller (a secret API key): runs as `service_role`.
    service: Option<crate::ServiceCaller>,
    responder: crate::respond::Responder,
    read_only: bool,
    method: Method,
    path: String,
}

/// The role and the request, never the caller's claims.
impl std::fmt::Debug for Rls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rls")
            .field("role", &self.role())
            .field("sub", &self.user.as_ref().map(AuthUser::sub))
            .field(
                "service_key",
                &self.service.as_ref().map(crate::ServiceCaller::key),
            )
            .field("read_only", &self.read_only)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Rls {
    type Rejection = DbError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let db = Database::from_parts(parts)?;
        let ctx = crate::user::context(parts)?.clone();
        // No user, and a secret key: a service caller, or a refusal (never `anon`).
        let service = match &ctx.user {
            None if is_secret_key(parts) => Some(crate::service::authenticate(parts, &ctx)?),
            _ => None,
        };
        let role = match (&ctx.user, &service) {
            (Some(user), _) => user.role().as_str(),
            (None, Some(_)) => SERVICE_ROLE,
            (None, None) => "anon",
        };
        if !db.allows(role) {
            let fault = match (&ctx.user, &service) {
                (None, None) => Fault::Missing,
                (None, Some(_)) => {
                    Fault::InsufficientScope("service_role may not use the database here (DB_ROLES)")
                }
                (Some(_), _) => Fault::InsufficientScope("this token's role may not use the database"),
            };
            return Err(AuthRejection::new(fault, Some(&ctx.responder)).into());
        }
        Ok(Self {
            read_only: matches!(parts.method, Method::GET | Method::HEAD),
            user: ctx.user.clone(),
            service,
            responder: ctx.responder.clone(),
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            db,
        })
    }
}

/// Whether the request carries a secret API key in `apikey`.
fn is_secret_key(parts: &Parts) -> bool {
    parts
        .headers
        .get(crate::APIKEY_HEADER)
        .is_some_and(|v| v.as_bytes().starts_with(crate::SECRET_KEY_PREFIX.as_bytes()))
}

impl Rls {
    /// The signed-in caller, or `None` for an anonymous one (who runs as
    /// `anon`) or a service (who runs as `service_role`).
    pub fn user(&self) -> Option<&AuthUser> {
        self.user.as_ref()
    }

    /// The server-to-server caller, when a secret API key came instead of a
    /// user token: it runs as `service_role`, which bypasses RLS.
    pub fn service(&self) -> Option<&crate::ServiceCaller> {
        self.service.as_ref()
    }

    /// The role the transaction runs as.
    pub fn role(&self) -> &str {
        match (&self.user, &self.service) {
            (Some(user), _) => user.role().as_str(),
            (None, Some(_)) => SERVICE_ROLE,
            (None, None) => "anon",
        }
    }

    /// Runs `f` in the scoped transaction: it commits when `f` returns `Ok`
    /// and rolls back when it returns `Err`. If the request is dropped (the
    /// client went away) or `f` panics, the connection is closed, which ends
    /// the transaction on the server, and is never pooled again.
    pub async fn run<T, E, F>(self, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut Tx) -> Result<T, E>,
        E: From<DbError>,
    {
        let mut tx = self.begin().await?;
        match f(&mut tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(e) => {
                tx.rollback().await;
                Err(e)
            }
        }
    }

    /// One statement in its own scoped transaction, committed: the common
    /// read. For a read (GET, HEAD), `BEGIN`, the setup, the statement and
    /// `COMMIT` go out in one write, one round trip in all; for a write, the
    /// statement and `COMMIT` go out together once the setup has succeeded.
    /// A failed statement is rolled back.
    pub async fn query(self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        let mut tx = self.begin().await?;
        let rows = tx.query_then(sql, params, true).await;
        match rows {
            Ok(rows) if tx.committed => Ok(rows),
            // COMMIT did not answer: the connection is gone, and so is the transaction.
            Ok(_) => {
                tx.rollback().await;
                Err(DbError::Unavailable)
            }
            Err(e) => {
                tx.rollback().await;
                Err(e)
            }
        }
    }

    /// [`query`](Self::query) for a statement that returns at most one row.
    pub async fn query_opt(self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, DbError> {
        at_most_one(self.query(sql, params).await?)
    }

    /// The transaction, for callers that commit themselves. Nothing is sent
    /// until its first statement. Dropped without [`Tx::commit`], it is rolled
    /// back (its connection closed).
    pub async fn begin(self) -> Result<Tx, DbError> {
        let conn = self.db.acquire().await?;
        Ok(Tx {
            conn: Some(conn),
            setup: Some(self),
            open: false,
            aborted: false,
            committed: false,
        })
    }
}

/// The request's transaction. Statements take typed parameters
/// ([`Param`]) and run unprepared, so no prepared statement is left on a
/// pooled server connection.
pub struct Tx {
    conn: Option<Object>,
    /// The scope, until the first statement sends it.
    setup: Option<Rls>,
    /// `BEGIN` was sent and neither `COMMIT` nor `ROLLBACK` finished.
    open: bool,
    /// A statement failed, so Postgres will only roll back.
    aborted: bool,
    /// A pipelined `COMMIT` succeeded after statements that all succeeded.
    committed: bool,
}

/// The transaction's state and its scope's role, never the caller's claims.
impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("scope", &self.setup)
            .field("open", &self.open)
            .field("aborted", &self.aborted)
            .field("committed", &self.committed)
            .finish_non_exhaustive()
    }
}

impl Tx {
    /// Runs a statement and returns its rows.
    pub async fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        self.query_then(sql, params, false).await
    }

    async fn query_then(&mut self, sql: &str, params: &[Param<'_>], last: bool) -> Result<Vec<Row>, DbError> {
        let result = self.statement(sql, params, last).await;
        if let Err(e) = &result {
            self.failed(e);
        }
        result
    }

    /// Runs a statement that returns exactly one row.
    pub async fn query_one(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Row, DbError> {
        let mut rows = self.query(sql, params).await?;
        match (rows.pop(), rows.is_empty()) {
            (Some(row), true) => Ok(row),
            _ => Err(DbError::RowCount),
        }
    }

    /// Runs a statement that returns at most one row.
    pub async fn query_opt(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, DbError> {
        at_most_one(self.query(sql, params).await?)
    }

    /// Commits. A transaction in which a statement failed is rolled back
    /// instead, and answered [`DbError::Aborted`].
    pub async fn commit(mut self) -> Result<(), DbError> {
        if self.aborted {
            let _ = self.end("rollback").await;
            return Err(DbError::Aborted);
        }
        self.end("commit").await
    }

    /// Rolls back. If even that fails, the connection is closed.
    pub async fn rollback(mut self) {
        let _ = self.end("rollback").await;
    }

    async fn end(&mut self, sql: &'static str) -> Result<(), DbError> {
        if !self.open {
            return Ok(());
        }
        let Some(conn) = self.conn.as_ref() else {
            return Err(DbError::Aborted);
        };
        let result = conn.batch_execute(sql).await;
        self.open = false;
        result.map_err(|e| {
            // Whatever happened, the connection's state is not known now.
            if let Some(conn) = self.conn.take() {
                discard(conn);
            }
            let e = DbError::from(e);
            log(&e);
            e
        })
    }

    async fn statement(&mut self, sql: &str, params: &[Param<'_>], last: bool) -> Result<Vec<Row>, DbError> {
        let setup = self.setup.take();
        let Some(conn) = self.conn.as_ref() else {
            return Err(DbError::Aborted);
        };
        let Some(scope) = setup else {
            return Ok(conn.query_typed(sql, params).await?);
        };
        self.open = true;
        let claims = match (&scope.user, &scope.service) {
            (Some(user), _) => user.claims().payload_json(),
            (None, Some(_)) => SERVICE_CLAIMS,
            (None, None) => ANON_CLAIMS,
        };
        let role = scope.role();
        let method = scope.method.as_str();
        let timeout = scope.db.inner.statement_timeout_ms.as_str();
        let session: Option<Uuid> = scope.user.as_ref().and_then(|u| u.claims().session_uuid());
        let check = scope.db.session_check() && scope.user.is_some();
        let setup_params: [Param<'_>; 6] = [
            (&role, Type::TEXT),
            (&claims, Type::TEXT),
            (&method, Type::TEXT),
            (&scope.path, Type::TEXT),
            (&timeout, Type::TEXT),
            (&session, Type::UUID),
        ];
        let (setup_sql, n) = if check {
            (SETUP_WITH_SESSION, 6)
        } else {
            (SETUP, 5)
        };
        let begin = conn.batch_execute(if scope.read_only {
            BEGIN_READ_ONLY
        } else {
            BEGIN_READ_WRITE
        });
        let set = conn.query_typed(setup_sql, &setup_params[..n]);
        // After a failed statement COMMIT only rolls back; either way it ends the transaction.
        let commit = async {
            match last {
                true => Some(conn.batch_execute("commit").await),
                false => None,
            }
        };
        // `biased`: polled in this order, so sent in this order, in one write.
        if scope.read_only {
            let (began, set, rows, ended) = tokio::join!(
                biased;
                begin,
                set,
                conn.query_typed(sql, params),
                commit,
            );
            let result = began.map_err(DbError::from).and_then(|()| {
                admit(&scope, check, set?)?;
                Ok(rows?)
            });
            self.ended(ended);
            result
        } else {
            let (began, set) = tokio::join!(biased; begin, set);
            began?;
            admit(&scope, check, set?)?;
            // Only now may a write go out: it runs inside the scope or not at all.
            let (rows, ended) = tokio::join!(biased; conn.query_typed(sql, params), commit);
            self.ended(ended);
            Ok(rows?)
        }
    }

    /// Records how a pipelined `COMMIT` went: ended, or the connection is unknown.
    fn ended(&mut self, ended: Option<Result<(), tokio_postgres::Error>>) {
        match ended {
            None => {}
            Some(Ok(())) => {
                self.open = false;
                self.committed = !self.aborted;
            }
            Some(Err(e)) => {
                self.open = false;
                if let Some(conn) = self.conn.take() {
                    discard(conn);
                }
                log(&DbError::from(e));
            }
        }
    }

    fn failed(&mut self, e: &DbError) {
        self.aborted = true;
        log(e);
        if let DbError::Query(pg) = e
            && DbError::connection_lost(pg)
            && let Some(conn) = self.conn.take()
        {
            discard(conn);
            self.open = false;
        }
    }
}

/// The one row of a statement that returns at most one, or none.
fn at_most_one(mut rows: Vec<Row>) -> Result<Option<Row>, DbError> {
    match rows.len() {
        0 | 1 => Ok(rows.pop()),
        _ => Err(DbError::RowCount),
    }
}

/// Lets the transaction go on if the session check (when on) found the session.
fn admit(scope: &Rls, check: bool, rows: Vec<Row>) -> Result<(), DbError> {
    let active = !check || rows.first().and_then(|r| r.try_get::<_, bool>(5).ok()) == Some(true);
    if active {
        Ok(())
    } else {
        Err(AuthRejection::new(Fault::SessionEnded, Some(&scope.responder)).into())
    }
}

fn log(e: &DbError) {
    if e.status().is_server_error() {
        tracing::warn!(error = ?e, "database statement failed");
    } else {
        tracing::debug!(error = ?e, "database statement refused");
    }
}

/// A transaction still open is ended by closing its connection: the server
/// rolls it back, and the pool never sees the connection again. A statement
/// still running is cancelled too: Postgres would otherwise only notice the
/// closed socket once the statement finished.
impl Drop for Tx {
    fn drop(&mut self) {
        if self.open
            && let Some(conn) = self.conn.take()
        {
            let cancel = conn.cancel_token();
            discard(conn);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = cancel.cancel_query(tokio_postgres::NoTls).await;
                });
            }
        }
    }
}
