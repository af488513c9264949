//! `/api/todos`: the demo resource under Row Level Security.
//!
//! Every statement runs in the caller's [`Rls`] scope: as `authenticated`
//! with the token's claims, as `anon` without a token, or on the read routes
//! as `service_role` with a secret key where `DB_ROLES` lists it. The handlers have
//! no ownership filter; the table's policies (`migrations/`) decide which
//! rows exist for the caller. Postgres builds the JSON (as PostgREST does),
//! so a row goes out as Postgres wrote it.

use axum::extract::Path;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_supabase::ErrorBody;
use axum_supabase::db::tokio_postgres::Row;
use axum_supabase::db::tokio_postgres::types::Type;
use axum_supabase::db::{DbError, Rls};
use serde::Deserialize;

/// A statement with the row's columns, in contract order, between two halves;
/// built at compile time.
macro_rules! with_columns {
    ($head:literal, $tail:literal) => {
        concat!($head, "id, user_id, title, done, is_public, created_at", $tail)
    };
}

const LIST: &str = with_columns!(
    "select coalesce(json_agg(t order by t.id), '[]')::text from (select ",
    " from public.todos) t"
);
const GET: &str = with_columns!(
    "select row_to_json(t)::text from (select ",
    " from public.todos where id = $1) t"
);
const CREATE: &str = with_columns!(
    "with t as (insert into public.todos (title, is_public) values ($1, coalesce($2, false)) returning ",
    ") select row_to_json(t)::text from t"
);
const UPDATE: &str = with_columns!(
    "with t as (update public.todos set title = coalesce($2, title), done = coalesce($3, done), \
     is_public = coalesce($4, is_public) where id = $1 returning ",
    ") select row_to_json(t)::text from t"
);
const DELETE: &str = "delete from public.todos where id = $1 returning id";

/// `POST /api/todos` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTodo {
    /// 1 to 200 characters, no NUL.
    #[schema(min_length = 1, max_length = 200, pattern = "^[^\\x00]*$")]
    title: String,
    /// Whether every caller may read it (default false). Not `null`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool)]
    is_public: Option<bool>,
}

/// `PATCH /api/todos/{id}` body: at least one of the three fields, none `null`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct TodoPatch {
    /// 1 to 200 characters, no NUL.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = "^[^\\x00]*$")]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool)]
    done: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool)]
    is_public: Option<bool>,
}

/// A field that may be left out but, when given, is not `null`: the
/// document says so, and `null` is refused as a wrong type (422).
fn present<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A todo, as every todo route answers it.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code, reason = "documentation only: Postgres writes the JSON")]
pub struct Todo {
    id: i64,
    user_id: uuid::Uuid,
    title: String,
    done: bool,
    is_public: bool,
    /// RFC 3339, as Postgres writes a `timestamptz` in JSON.
    #[schema(format = DateTime)]
    created_at: String,
}

/// A todo route's failure.
#[derive(Debug)]
pub enum TodoError {
    /// From the scoped transaction.
    Db(DbError),
    /// The caller's input: a status and a fixed body.
    Input(StatusCode, ErrorBody),
    /// No such row for this caller.
    NotFound,
}

impl From<DbError> for TodoError {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

impl IntoResponse for TodoError {
    fn into_response(self) -> Response {
        match self {
            Self::Db(e) => e.into_response(),
            Self::Input(status, body) => (status, body).into_response(),
            Self::NotFound => {
                (StatusCode::NOT_FOUND, ErrorBody::new("not_found", "no such todo")).into_response()
            }
        }
    }
}

type Result<T, E = TodoError> = std::result::Result<T, E>;

/// `GET /api/todos`: every row the caller may see, by id.
#[utoipa::path(get, path = "/api/todos", tag = "todos",
    security((), ("bearerAuth" = []), ("cookieAuth" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "Every row the table's RLS policies show the caller, by id", body = Vec<Todo>),
        (status = 403, description = "The caller's role (service_role for a secret key) is not in DB_ROLES", body = ErrorBody)))]
pub(super) async fn list(rls: Rls) -> Result<Response> {
    let rows = rls.query(LIST, &[]).await?;
    json(StatusCode::OK, rows.into_iter().next())
}

/// `GET /api/todos/{id}`.
#[utoipa::path(get, path = "/api/todos/{id}", tag = "todos",
    params(("id" = i64, Path, description = "The todo's id")),
    security((), ("bearerAuth" = []), ("cookieAuth" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "The row", body = Todo),
        (status = 403, description = "The caller's role (service_role for a secret key) is not in DB_ROLES", body = ErrorBody),
        (status = 404, description = "No such row for this caller", body = ErrorBody)))]
pub(super) async fn get(id: Result<Path<i64>, PathRejection>, rls: Rls) -> Result<Response> {
    let id = todo_id(id)?;
    let row = rls.query_opt(GET, &[(&id, Type::INT8)]).await?;
    json(StatusCode::OK, row)
}

/// `POST /api/todos`: 201 and the new row. `user_id` is `auth.uid()` by default,
/// and the insert policy refuses any other.
#[utoipa::path(post, path = "/api/todos", tag = "todos",
    request_body = NewTodo,
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 201, description = "The new row", body = Todo),
        (status = 403, description = "Row level security or a grant refuses the insert", body = ErrorBody),
        (status = 409, description = "The row conflicts with another", body = ErrorBody)))]
pub(super) async fn create(
    rls: Rls,
    body: Result<axum::Json<JsonObject>, JsonRejection>,
) -> Result<Response> {
    let new: NewTodo = fields(body)?;
    no_nul(Some(&new.title))?;
    let params = [(&new.title as _, Type::TEXT), (&new.is_public as _, Type::BOOL)];
    let row = rls.query_opt(CREATE, &params).await?;
    json(StatusCode::CREATED, row)
}

/// `PATCH /api/todos/{id}`: change any of `title`, `done`, `is_public`.
#[utoipa::path(patch, path = "/api/todos/{id}", tag = "todos",
    params(("id" = i64, Path, description = "The todo's id")),
    request_body = TodoPatch,
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The changed row", body = Todo),
        (status = 403, description = "Row level security or a grant refuses the change", body = ErrorBody),
        (status = 404, description = "No such row for this caller", body = ErrorBody),
        (status = 409, description = "The row conflicts with another", body = ErrorBody)))]
pub(super) async fn update(
    id: Result<Path<i64>, PathRejection>,
    rls: Rls,
    body: Result<axum::Json<JsonObject>, JsonRejection>,
) -> Result<Response> {
    let id = todo_id(id)?;
    let patch: TodoPatch = fields(body)?;
    if patch.title.is_none() && patch.done.is_none() && patch.is_public.is_none() {
        return Err(invalid("give at least one of title, done, is_public"));
    }
    no_nul(patch.title.as_ref())?;
    let params = [
        (&id as _, Type::INT8),
        (&patch.title as _, Type::TEXT),
        (&patch.done as _, Type::BOOL),
        (&patch.is_public as _, Type::BOOL),
    ];
    let row = rls.query_opt(UPDATE, &params).await?;
    json(StatusCode::OK, row)
}

/// `DELETE /api/todos/{id}`: 204, or 404 if the caller cannot see or delete it.
#[utoipa::path(delete, path = "/api/todos/{id}", tag = "todos",
    params(("id" = i64, Path, description = "The todo's id")),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such row for this caller, or not the caller's to delete", body = ErrorBody),
        (status = 409, description = "Another row refers to it", body = ErrorBody)))]
pub(super) async fn delete(id: Result<Path<i64>, PathRejection>, rls: Rls) -> Result<StatusCode> {
    let id = todo_id(id)?;
    let row = rls.query_opt(DELETE, &[(&id, Type::INT8)]).await?;
    row.map(|_| StatusCode::NO_CONTENT).ok_or(TodoError::NotFound)
}

/// A row's JSON text as the body, or 404 for no row.
fn json(status: StatusCode, row: Option<Row>) -> Result<Response> {
    let row = row.ok_or(TodoError::NotFound)?;
    let text: String = row.try_get(0).map_err(DbError::from)?;
    Ok((
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        text,
    )
        .into_response())
}

fn todo_id(id: Result<Path<i64>, PathRejection>) -> Result<i64> {
    id.map(|Path(id)| id).map_err(|_| {
        TodoError::Input(
            StatusCode::BAD_REQUEST,
            ErrorBody::new("invalid_id", "the todo id must be an integer"),
        )
    })
}

fn invalid(description: &'static str) -> TodoError {
    TodoError::Input(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorBody::new("invalid_body", description),
    )
}

/// A JSON object, before its fields are read: a body of another JSON type
/// (an array, say, which serde would read as the fields in order) is a 422.
type JsonObject = serde_json::Map<String, serde_json::Value>;

/// The body's fields as `T`, or the error for a body that is not them.
fn fields<T: serde::de::DeserializeOwned>(
    body: std::result::Result<axum::Json<JsonObject>, JsonRejection>,
) -> Result<T> {
    let axum::Json(object) = body.map_err(bad_body)?;
    serde_json::from_value(serde_json::Value::Object(object)).map_err(|_| {
        invalid("the body must be a JSON object with the documented fields and types, and no others")
    })
}

fn bad_body(rejection: JsonRejection) -> TodoError {
    match rejection {
        JsonRejection::JsonDataError(_) => {
            invalid("the body must be a JSON object with the documented fields and types, and no others")
        }
        // A body of unknown length that outgrew the limit while being read.
        too_large if too_large.status() == StatusCode::PAYLOAD_TOO_LARGE => TodoError::Input(
            StatusCode::PAYLOAD_TOO_LARGE,
            crate::error::body_for_status(StatusCode::PAYLOAD_TOO_LARGE),
        ),
        JsonRejection::MissingJsonContentType(_) => TodoError::Input(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorBody::new("unsupported_media_type", "send Content-Type: application/json"),
        ),
        _ => TodoError::Input(
            StatusCode::BAD_REQUEST,
            ErrorBody::new("invalid_json", "the body is not valid JSON"),
        ),
    }
}

/// Postgres text cannot hold NUL: say so instead of letting the driver fail.
fn no_nul(title: Option<&String>) -> Result<()> {
    match title {
        Some(t) if t.contains('\0') => Err(invalid("the title may not contain NUL characters")),
        _ => Ok(()),
    }
}
