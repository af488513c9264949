//! Bench-only: `GET /bench/todos-unscoped`, the `/api/todos` query on the same
//! pool with no transaction and no RLS setup, and the select policy's filter
//! written into the query for the caller in `BENCH_CALLER` (what a handler on a
//! privileged connection would do instead), so both routes answer the same
//! rows. The pool must connect as a role that may read the table directly.
//! The baseline of `scripts/db-bench.sh`.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum_supabase::db::Database;
use uuid::Uuid;

pub(crate) fn router(db: Database) -> Router {
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
    Router::new().route(
        "/bench/todos-unscoped",
        get(move || {
            let db = db.clone();
            async move {
                match axum_supabase::__private::unscoped_text_for_bench(&db, sql).await {
                    Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
                    Err(e) => e.into_response(),
                }
            }
        }),
    )
}
