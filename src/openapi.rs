//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the
//! handlers' own `#[utoipa::path]` annotations. utoipa-axum mounts every
//! route from its annotation (`routes!`), so a route cannot be served
//! without being documented; `tests/api/openapi.rs` checks both ways.
//!
//! The document is made once, when the router is built, and served as the
//! same bytes every time: no request pays for it.
//!
//! Responses every operation of a kind can give are added here rather than
//! on each handler: 401 (with `WWW-Authenticate`) and 400 on the routes that
//! take a token, 401 on the key routes, the body and id errors where there
//! is a body or an id, the CSRF 403 on cookie-authenticated writes, and 431
//! (a head over the cap) and 503 (shed, a dependency down; `Retry-After`)
//! everywhere. 405 belongs to no operation: it is the answer of a method a
//! path does not document.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum_supabase::ErrorBody;
use axum_supabase::openapi::{SECURITY_SCHEMES, SecuritySchemes};
use serde_json::{Map, Value, json};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::state::AppState;

/// The document's fixed parts; the paths come from the router.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "axum-supabase-auth",
        description = "An API behind Supabase Auth: Bearer access tokens (supabase-js), @supabase/ssr session cookies, and Supabase secret API keys for servers. Every refusal is an ErrorBody; 401 means get a new token.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "identity", description = "Who the caller is"),
        (name = "guards", description = "One route per kind of guard"),
        (name = "todos", description = "The demo resource under Row Level Security"),
        (name = "service", description = "Server-to-server callers with a secret API key"),
        (name = "sessions", description = "Cookie sessions (SESSION_COOKIES=on)"),
        (name = "operations", description = "Probes, metrics and this document")
    )
)]
pub struct ApiDoc;

/// `{"message": …}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct Greeting {
    message: String,
}

/// `{"ok": true, "sub": …}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct OkSub {
    ok: bool,
    sub: uuid::Uuid,
}

/// `{"ok": true, "sub": …, "user_role": …}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct OkModerator {
    ok: bool,
    sub: uuid::Uuid,
    user_role: Option<String>,
}

/// `{"caller": "service", "key": <name>}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct Whoami {
    /// Always `service`.
    caller: String,
    /// The configured name of the key that called.
    key: String,
}

/// Counts over every todo.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct TodoStats {
    users: i64,
    todos: i64,
    done: i64,
}

/// `{"status": "ok"}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct Health {
    status: String,
}

/// What `/readyz` reports.
#[derive(Debug, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct Readiness {
    /// `ready` or `not_ready`.
    status: String,
    /// `hs256`, `jwks`.
    key_sources: Vec<String>,
    /// The JWKS cache: counts, ages, the last error; `null` when off.
    #[schema(value_type = Option<Object>)]
    jwks: Option<()>,
    /// The database: reachable, the last error, the pool; `null` without one.
    #[schema(value_type = Option<Object>)]
    database: Option<()>,
}

/// `GET /openapi.json`: this document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn serve(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.openapi.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body)
}

/// The finished document's bytes: the security schemes (with `cookieAuth`
/// only when session cookies are on, named `cookie`), and the responses
/// every operation of a kind gives.
pub fn document(mut openapi: utoipa::openapi::OpenApi, cookie: Option<&str>) -> Bytes {
    match cookie {
        Some(name) => SecuritySchemes::with_cookie(name).modify(&mut openapi),
        None => SECURITY_SCHEMES.modify(&mut openapi),
    }
    let mut doc = serde_json::to_value(&openapi).unwrap_or(Value::Null);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                if let Some(operation) = operation.as_object_mut() {
                    complete(path, method, operation, cookie.is_some());
                }
            }
        }
    }
    Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    })
}

fn with_header(mut response: Value, name: &str, description: &str) -> Value {
    response["headers"] = json!({ name: { "description": description, "schema": { "type": "string" } } });
    response
}

/// Adds the responses shared by operations of its kind, and drops
/// `cookieAuth` where cookie sessions are off.
fn complete(path: &str, method: &str, operation: &mut Map<String, Value>, cookies: bool) {
    let mut schemes: Vec<String> = Vec::new();
    if let Some(security) = operation.get_mut("security").and_then(Value::as_array_mut) {
        if !cookies {
            security.retain(|r| r.get(axum_supabase::openapi::COOKIE_AUTH).is_none());
        }
        schemes = security
            .iter()
            .filter_map(Value::as_object)
            .flat_map(|r| r.keys().cloned())
            .collect();
    }
    let takes = |scheme: &str| schemes.iter().any(|s| s == scheme);
    let body = operation.contains_key("requestBody");
    let write = matches!(method, "post" | "put" | "patch" | "delete");
    let responses = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else { return };
    let mut add = |status: &str, response: Value| {
        responses.entry(status.to_owned()).or_insert(response);
    };
    let mut malformed: Vec<&str> = Vec::new();
    if takes(axum_supabase::openapi::BEARER_AUTH) {
        add(
            "401",
            with_header(
                error("No credential where one is needed, or a bad, expired or refused one: get a new token"),
                "WWW-Authenticate",
                "Bearer realm=\"api\", with error and error_description when a token was sent",
            ),
        );
        malformed.push("two Authorization headers");
    } else if takes(axum_supabase::openapi::API_KEY) {
        add(
            "401",
            with_header(
                error("No secret API key, an unknown one, a user token, or a key from a browser"),
                "WWW-Authenticate",
                "Bearer realm=\"api\", with error and error_description",
            ),
        );
    }
    if takes(axum_supabase::openapi::COOKIE_AUTH) && write {
        add(
            "403",
            error("A cookie-authenticated write without an Origin from an allowed origin (CSRF)"),
        );
    }
    if path.contains("{id}") {
        malformed.push("an id that is not an integer");
    }
    if body {
        malformed.push("a body that is not JSON");
        add("413", error("The body is over 64 KiB"));
        add(
            "415",
            error("The body is not sent as Content-Type: application/json"),
        );
        add(
            "422",
            error("The body's fields or values are not the documented ones"),
        );
    }
    if !malformed.is_empty() {
        add(
            "400",
            error(&format!("A malformed request: {}", malformed.join(", "))),
        );
    }
    add(
        "431",
        error(
            "The request head is over MAX_HEADER_BYTES (a cookie jar grown too large, say); beyond twice the cap the server's HTTP layer answers 431 with no body",
        ),
    );
    add(
        "503",
        with_header(
            error("Overloaded, or a dependency (signing keys, the database, GoTrue) is unavailable; retry"),
            "Retry-After",
            "Seconds to wait before retrying",
        ),
    );
}
