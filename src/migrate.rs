//! `migrate` and `db-bootstrap-local`: the app's own schema, and a plain
//! Postgres made to look like Supabase's for it.
//!
//! `migrate` applies `migrations/NNNN_name.sql` in order, each in its own
//! transaction, under a transaction-level advisory lock (so two replicas
//! starting at once apply each file once, also through a transaction-mode
//! pooler), and records it in `api_migrations.applied`. It touches nothing of
//! Supabase's: on a database without the `anon`/`authenticated` roles and
//! `auth.uid()` it stops and names the bootstrap.

use std::path::{Path, PathBuf};

use axum_supabase::db::tokio_postgres::{self, Client, types::Type};
use axum_supabase::db::{ConnectError, DatabaseBuilder};

/// The local bootstrap, compiled in so the binary alone can run it.
pub const LOCAL_BOOTSTRAP_SQL: &str = include_str!("../db/local-bootstrap.sql");

/// The advisory lock every migration transaction takes first.
const LOCK: i64 = 0x0073_7570_616d_6967; // "supamig"

const TRACKING: &str = "create schema if not exists api_migrations; \
    create table if not exists api_migrations.applied (\
      version bigint primary key, name text not null, applied_at timestamptz not null default now())";

/// Why a migration run stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database could not be reached or refused a statement.
    #[error("{}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    /// No connection: a setting, TLS, or the database itself.
    #[error("{0}")]
    Connect(#[from] ConnectError),
    /// A file of the migrations folder could not be read or is misnamed.
    #[error("{0}")]
    Files(String),
    /// Neither Supabase's auth objects nor the local bootstrap are there.
    #[error(
        "this database has no Supabase roles and auth functions (anon, authenticated, auth.uid()). \
         On a Supabase database they exist already; on a plain Postgres run \
         `axum-supabase-auth db-bootstrap-local` (db/local-bootstrap.sql) first"
    )]
    NotSupabase,
}

/// The server's message and SQLSTATE (this is the operator's terminal, and
/// the statements are the operator's own), or the connection problem.
fn describe(e: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    match (e.as_db_error(), e.source()) {
        (Some(db), _) => format!("the database refused it ({}): {}", db.code().code(), db.message()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

/// One migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The number before the first `_`.
    pub version: i64,
    /// The file name.
    pub name: String,
    /// Where it was read from.
    pub path: PathBuf,
}

/// The `NNNN_name.sql` files of `dir`, in version order.
pub fn migrations(dir: &Path) -> Result<Vec<Migration>, MigrateError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| MigrateError::Files(format!("cannot read {}: {e}", dir.display())))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| MigrateError::Files(format!("cannot read {}: {e}", dir.display())))?
            .path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if !name.ends_with(".sql") {
            continue;
        }
        let version = name
            .split_once('_')
            .and_then(|(v, _)| v.parse::<i64>().ok())
            .ok_or_else(|| MigrateError::Files(format!("{name}: migration files are named NNNN_name.sql")))?;
        found.push(Migration { version, name, path });
    }
    found.sort_by_key(|m| m.version);
    if let Some(w) = found.windows(2).find(|w| w[0].version == w[1].version) {
        return Err(MigrateError::Files(format!(
            "{} and {} have the same version",
            w[0].name, w[1].name
        )));
    }
    Ok(found)
}

/// Connects as the pool does (the same TLS) with the settings of `db`,
/// and drives the connection.
pub async fn connect(db: &DatabaseBuilder) -> Result<Client, MigrateError> {
    let (client, connection) = db.connect().await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(
                sqlstate = e.code().map(|c| c.code()),
                "migration connection ended"
            );
        }
    });
    Ok(client)
}

/// Applies every migration of `dir` not yet applied. Returns the names applied now.
pub async fn migrate(client: &Client, dir: &Path) -> Result<Vec<String>, MigrateError> {
    let ready = client
        .query_typed(
            "select to_regrole('anon') is not null and to_regrole('authenticated') is not null \
             and to_regprocedure('auth.uid()') is not null",
            &[],
        )
        .await?;
    if ready.first().and_then(|r| r.try_get::<_, bool>(0).ok()) != Some(true) {
        return Err(MigrateError::NotSupabase);
    }
    let files = migrations(dir)?;
    let mut applied = Vec::new();
    for m in files {
        let sql = std::fs::read_to_string(&m.path)
            .map_err(|e| MigrateError::Files(format!("cannot read {}: {e}", m.path.display())))?;
        client.batch_execute("begin").await?;
        let result = apply(client, &m, &sql).await;
        match result {
            Ok(true) => {
                client.batch_execute("commit").await?;
                applied.push(m.name);
            }
            Ok(false) => client.batch_execute("commit").await?,
            Err(e) => {
                let _ = client.batch_execute("rollback").await;
                return Err(e);
            }
        }
    }
    Ok(applied)
}

/// Inside the open transaction: false if `m` was applied already.
async fn apply(client: &Client, m: &Migration, sql: &str) -> Result<bool, MigrateError> {
    client
        .query_typed("select pg_advisory_xact_lock($1)", &[(&LOCK, Type::INT8)])
        .await?;
    client.batch_execute(TRACKING).await?;
    let done = client
        .query_typed(
            "select 1 from api_migrations.applied where version = $1",
            &[(&m.version, Type::INT8)],
        )
        .await?;
    if !done.is_empty() {
        return Ok(false);
    }
    client.batch_execute(sql).await?;
    client
        .query_typed(
            "insert into api_migrations.applied (version, name) values ($1, $2)",
            &[(&m.version, Type::INT8), (&m.name, Type::TEXT)],
        )
        .await?;
    Ok(true)
}

/// Runs [`LOCAL_BOOTSTRAP_SQL`] in one transaction. It refuses (and changes
/// nothing) where `auth.users` exists.
pub async fn bootstrap_local(client: &Client) -> Result<(), MigrateError> {
    client.batch_execute("begin").await?;
    match client.batch_execute(LOCAL_BOOTSTRAP_SQL).await {
        Ok(()) => Ok(client.batch_execute("commit").await?),
        Err(e) => {
            let _ = client.batch_execute("rollback").await;
            Err(e.into())
        }
    }
}
