//! The library on its own, as a user's axum app sees it: the builder, the
//! layer, the extractors and custom rejections. No server in here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_supabase::{AuthUser, Fault, Require, Requirement, SupabaseAuth};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "front-door-test-secret-of-32-bytes-or-more";

fn token(claims: Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

fn user_claims() -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({
        "sub": "8d6f1f5e-3b2a-4c2e-9d35-5f0f2f7b9a11", "aud": "authenticated", "role": "authenticated",
        "iss": "https://front.supabase.co/auth/v1", "exp": now + 600, "iat": now, "email": "ada@example.com",
    })
}

struct Nobody;
impl Requirement for Nobody {
    const DESCRIPTION: &'static str = "nobody may";
    fn allows(_: &AuthUser) -> bool {
        false
    }
}

/// A description with the characters a quoted-string must escape.
struct Quoted;
impl Requirement for Quoted {
    const DESCRIPTION: &'static str = "say \"please\" \\ first";
    fn allows(_: &AuthUser) -> bool {
        false
    }
}

fn app(auth: &SupabaseAuth) -> Router {
    Router::new()
        .route(
            "/me",
            get(|user: AuthUser| async move { user.email().unwrap_or("").to_owned() }),
        )
        .route("/nobody", get(|_: Require<Nobody>| async { "never" }))
        .route("/quoted", get(|_: Require<Quoted>| async { "never" }))
        .route_layer(auth.layer())
}

async fn call(
    app: &Router,
    path: &str,
    bearer: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut request = Request::get(path);
    if let Some(t) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes().to_vec(),
    )
}

fn builder() -> axum_supabase::SupabaseAuthBuilder {
    let mut b = SupabaseAuth::builder();
    b.project_url("https://front.supabase.co")
        .jwt_secret(SECRET)
        .without_jwks();
    b
}

#[tokio::test]
async fn three_lines_verify_a_supabase_token() {
    let auth = builder().build().unwrap();
    let app = app(&auth);
    let (status, _, body) = call(&app, "/me", Some(&token(user_claims()))).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, b"ada@example.com".as_slice())
    );
    let (status, headers, body) = call(&app, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"api\"");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        json!({"error": "unauthorized", "error_description": "missing bearer token"})
    );
}

#[tokio::test]
async fn a_custom_realm_and_body_never_change_the_status_or_the_challenge() {
    let mut b = builder();
    b.realm("my-app").rejection_body(|error| {
        // A body function that tries to answer 200 and to set its own challenge.
        let mut response =
            axum::Json(json!({ "message": error.description(), "reason": error.fault().label() }))
                .into_response();
        *response.status_mut() = StatusCode::OK;
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Basic".parse().unwrap());
        response
    });
    let auth = b.build().unwrap();
    let app = app(&auth);
    let mut expired = user_claims();
    expired["exp"] = json!(1_000_000);
    let (status, headers, body) = call(&app, "/me", Some(&token(expired))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        "Bearer realm=\"my-app\", error=\"invalid_token\", error_description=\"token expired\""
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, json!({"message": "token expired", "reason": "expired"}));

    // A guard's refusal, made by the extractor, answers in the same style.
    let (status, headers, body) = call(&app, "/nobody", Some(&token(user_claims()))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=\"my-app\", error=\"insufficient_scope\"")
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["message"],
        "nobody may"
    );
}

#[tokio::test]
async fn the_reason_is_typed_for_callers() {
    let auth = builder().build().unwrap();
    let mut expired = user_claims();
    expired["exp"] = json!(1_000_000);
    let error = auth.verify(&token(expired)).await.unwrap_err();
    assert_eq!(
        error.fault(),
        Fault::Expired,
        "a client would refresh the session"
    );
    let response: Response = auth.reject(error);
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_extractor_without_the_layer_fails_closed() {
    let app = Router::new().route("/me", get(|user: AuthUser| async move { user.sub().to_string() }));
    let (status, headers, _) = call(&app, "/me", Some(&token(user_claims()))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(headers.get(header::WWW_AUTHENTICATE).is_none());
}

/// Outside any Tokio runtime, build() and start() neither panic nor leave
/// anything behind: a runtime entered afterwards sees no fetch until the
/// verifier is started there, and then it fetches.
#[cfg(feature = "jwks")]
#[test]
fn building_needs_no_runtime_and_starts_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    // A JWKS host that counts connections (and answers none).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let mut b = builder();
    b.jwks_url(format!("http://127.0.0.1:{port}/auth/v1/.well-known/jwks.json"));
    let auth = b.build().unwrap();
    auth.start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(connections.load(Ordering::SeqCst), 0, "fetched before start");
        assert_eq!(auth.jwks().unwrap().status().fetches, 0);
        auth.start();
        for _ in 0..100 {
            if connections.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            connections.load(Ordering::SeqCst) > 0,
            "start() in a runtime fetched nothing"
        );
    });
}

/// A verified user's `Debug` (in a panic message, a `dbg!`, an error chain)
/// shows its id and role, never its email, phone or claim values.
#[tokio::test]
async fn debug_output_shows_no_personal_data() {
    let auth = builder().build().unwrap();
    let mut claims = user_claims();
    claims["phone"] = json!("+15550100999");
    claims["tenant_secret"] = json!("hook-value-1234");
    claims["user_metadata"] = json!({ "name": "Ada Lovelace" });
    let user = auth.verify(&token(claims)).await.unwrap();
    let debug = format!("{user:?}");
    for private in [
        "ada@example.com",
        "+15550100999",
        "hook-value-1234",
        "Ada Lovelace",
    ] {
        assert!(!debug.contains(private), "{private} in {debug}");
    }
    assert!(
        debug.contains("8d6f1f5e-3b2a-4c2e-9d35-5f0f2f7b9a11") && debug.contains("tenant_secret"),
        "{debug}"
    );
}

/// A guard's description with `"` or `\` still gives a valid challenge header.
#[tokio::test]
async fn a_description_with_quotes_keeps_its_challenge() {
    let app = app(&builder().build().unwrap());
    let (status, headers, body) = call(&app, "/quoted", Some(&token(user_claims()))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok()),
        Some(
            r#"Bearer realm="api", error="insufficient_scope", error_description="say \"please\" \\ first""#
        )
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error_description"], r#"say "please" \ first"#);
}
