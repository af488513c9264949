//! The OpenAPI document cannot drift from the router.
//!
//! Every route is mounted through `utoipa_axum::routes!` from its own
//! annotation, so serving and documenting are one act; these tests hold the
//! rest: no route is mounted any other way, every documented operation is
//! served, no undocumented method is served on a documented path, and the
//! document is the same bytes every time, with `cookieAuth` exactly when
//! cookie sessions are on.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;

use crate::helpers::TestApp;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    serde_json::from_slice(&r.body).unwrap()
}

/// An app with cookie sessions on (the most routes).
fn with_cookies() -> TestApp {
    let secret = crate::helpers::random_secret();
    crate::cookie_support::app_for("https://test.supabase.co", &secret, |_| {})
}

/// (method, path) of every documented operation.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| METHODS.contains(&m.as_str()))
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect()
}

/// The router's own 404 (no route) or 405 (no such method): the error codes
/// our fallback answers with, which no handler uses.
fn is_unrouted(r: &crate::helpers::TestResponse) -> bool {
    let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status == StatusCode::NOT_FOUND && body["error_description"] == "no such resource")
        || r.status == StatusCode::METHOD_NOT_ALLOWED
}

/// With a valid token: on a protected path the caller authenticates before
/// the method is looked at.
async fn call(app: &TestApp, method: &str, path: &str) -> crate::helpers::TestResponse {
    let request = Request::builder()
        .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
        .uri(path.replace("{id}", "1"))
        .header("authorization", format!("Bearer {}", app.valid_token()))
        .body(Body::empty())
        .unwrap();
    app.request(request).await
}

#[tokio::test]
async fn every_documented_operation_is_served_and_no_other_method() {
    let app = with_cookies();
    let doc = document(&app).await;
    let documented = operations(&doc);
    assert!(documented.len() >= 17, "{documented:?}");
    for path in documented.iter().map(|(_, p)| p).collect::<BTreeSet<_>>() {
        for method in METHODS {
            let r = call(&app, method, path).await;
            let is_documented = documented.contains(&(method.to_owned(), path.clone()));
            assert_eq!(
                !is_unrouted(&r),
                is_documented,
                "{method} {path}: {} {}",
                r.status,
                r.text()
            );
        }
    }
}

/// No route reaches the router except through `routes!`: a `.route(` (or a
/// nested or service route) in the server's sources would be served without
/// documentation.
#[test]
fn no_route_is_mounted_without_its_annotation() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
                    if code.contains(call) {
                        offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes mounted outside routes!():\n{}",
        offenders.join("\n")
    );
}

#[tokio::test]
async fn the_document_is_fixed_bytes_with_cookie_auth_only_when_cookies_are_on() {
    let plain = TestApp::new();
    let first = plain.get("/openapi.json").await.body;
    assert_eq!(
        plain.get("/openapi.json").await.body,
        first,
        "built once, served as it is"
    );
    let doc: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.contains_key("bearerAuth") && schemes.contains_key("apiKey"));
    assert!(!schemes.contains_key("cookieAuth"));
    assert!(!String::from_utf8_lossy(&first).contains("cookieAuth"));
    // No sign-out route without cookie sessions.
    assert!(doc["paths"].get("/api/auth/signout").is_none());

    let cookies = with_cookies();
    let doc = document(&cookies).await;
    let cookie = &doc["components"]["securitySchemes"]["cookieAuth"];
    assert_eq!(
        (cookie["type"].as_str(), cookie["in"].as_str()),
        (Some("apiKey"), Some("cookie"))
    );
    assert!(
        cookie["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("sb-") && n.ends_with("-auth-token"))
    );
    // Each operation lists the schemes it takes; an optional-login route lists "none" too.
    let security = |method: &str, path: &str| doc["paths"][path][method]["security"].clone();
    assert_eq!(
        security("get", "/api/me"),
        serde_json::json!([{ "bearerAuth": [] }, { "cookieAuth": [] }])
    );
    assert_eq!(
        security("get", "/api/greeting"),
        serde_json::json!([{}, { "bearerAuth": [] }, { "cookieAuth": [] }])
    );
    assert_eq!(
        security("get", "/api/service/whoami"),
        serde_json::json!([{ "apiKey": [] }])
    );
    // Errors: the shared schema, and the challenge header on 401.
    let unauthorized = &doc["paths"]["/api/me"]["get"]["responses"]["401"];
    assert_eq!(
        unauthorized["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert!(unauthorized["headers"].get("WWW-Authenticate").is_some());
    let key_refused = &doc["paths"]["/api/service/whoami"]["get"]["responses"]["401"];
    assert!(key_refused["headers"].get("WWW-Authenticate").is_some());
    // A head over the cap and an overload can meet any operation.
    for (method, path) in operations(&doc) {
        let responses = &doc["paths"][&path][&method]["responses"];
        assert!(
            responses.get("431").is_some() && responses.get("503").is_some(),
            "{method} {path}"
        );
    }
    // The read routes under RLS: a role DB_ROLES does not list.
    assert!(
        doc["paths"]["/api/todos"]["get"]["responses"]
            .get("403")
            .is_some()
    );
    assert!(
        doc["paths"]["/api/me"]["get"]["responses"]["503"]["headers"]
            .get("Retry-After")
            .is_some()
    );
    // The real limits.
    let title = &doc["components"]["schemas"]["NewTodo"]["properties"]["title"];
    assert_eq!(
        (title["minLength"].as_u64(), title["maxLength"].as_u64()),
        (Some(1), Some(200))
    );
    let id = &doc["paths"]["/api/todos/{id}"]["get"]["parameters"][0]["schema"];
    assert_eq!(
        (id["type"].as_str(), id["format"].as_str()),
        (Some("integer"), Some("int64"))
    );
}
