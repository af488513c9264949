//! Bench-only: `GET /bench/todos-unscoped`, the `/api/todos` query with no
//! transaction and no RLS setup, and the select policy's filter written into
//! the query for the caller in `BENCH_CALLER` (what a handler on a privileged
//! connection would do instead), so both routes answer the same rows. It has
//! a pool of its own, of the same size on the same `DATABASE_URL`, whose role
//! must be able to read the table directly: the library offers no way around
//! its RLS scope, so the baseline of `scripts/db-bench.sh` brings its own.

use std::str::FromStr;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, tokio_postgres};
use uuid::Uuid;

pub(crate) fn router(url: &str, pool_size: usize) -> Result<Router, Box<dyn std::error::Error>> {
    let caller = std::env::var("BENCH_CALLER")
        .ok()
        .and_then(|c| Uuid::parse_str(&c).ok())
        .unwrap_or_default();
    let sql: &'static str = Box::leak(
        format!(
            "select coalesce(json_agg(t order by t.id), '[]')::text from (select \
             id, user_id, title, done, is_public, created_at from public.todos \
             where is_public or user_id = '{caller}'::uuid) t"
        )
        .into_boxed_str(),
    );
    let config = tokio_postgres::Config::from_str(url)?;
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager).max_size(pool_size).build()?;
    Ok(Router::new().route(
        "/bench/todos-unscoped",
        get(move || {
            let pool = pool.clone();
            async move {
                let text = async {
                    let conn = pool.get().await.ok()?;
                    // Unnamed, as the scoped route sends it: one round trip, not a prepare first.
                    let rows = conn.query_typed(sql, &[]).await.ok()?;
                    rows.first()?.try_get::<_, String>(0).ok()
                };
                match text.await {
                    Some(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
                    None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                }
            }
        }),
    ))
}
