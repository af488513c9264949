//! `/api/service/*`: routes for server-to-server callers with a Supabase
//! secret API key in the `apikey` header (a cron job, a queue worker, an Edge
//! Function). A user token is not a service: those get 401.

use axum::response::{IntoResponse, Response};
use axum_supabase::ServiceCaller;
use axum_supabase::db::{DbError, Rls};
use serde_json::json;

use crate::json::Json;

/// `GET /api/service/whoami`: which configured key called.
#[utoipa::path(get, path = "/api/service/whoami", tag = "service",
    security(("apiKey" = [])),
    responses((status = 200, description = "The name of the key that called", body = crate::openapi::Whoami)))]
pub(super) async fn whoami(service: ServiceCaller) -> Json<serde_json::Value> {
    Json(json!({ "caller": "service", "key": service.key() }))
}

/// Over every row, which only `service_role` (which bypasses RLS) can see.
const STATS: &str = "select json_build_object('users', count(distinct user_id), 'todos', count(*), \
     'done', count(*) filter (where done))::text from public.todos";

/// `GET /api/service/todos/stats`: counts over all todos, as `service_role`
/// (403 unless `DB_ROLES` lists it; 503 without a database).
#[utoipa::path(get, path = "/api/service/todos/stats", tag = "service",
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "Counts over every row (service_role bypasses RLS)", body = crate::openapi::TodoStats),
        (status = 403, description = "DB_ROLES does not list service_role", body = axum_supabase::ErrorBody)))]
pub(super) async fn todo_stats(_service: ServiceCaller, rls: Rls) -> Result<Response, DbError> {
    let rows = rls.query(STATS, &[]).await?;
    let body: String = rows.first().ok_or(DbError::RowCount)?.try_get(0)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}
