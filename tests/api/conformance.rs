//! RFC 8725 explicit typing and strict JOSE parsing, large genuine tokens,
//! every claim kept, and the claim guards: status, challenge and body each.

use axum::http::StatusCode;
use axum_supabase_auth::config::Config;
use axum_supabase_auth::startup::app_with_state;
use axum_supabase_auth::state::AppState;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse, random_secret};
use crate::keys::hs256_raw;

const INVALID_TOKEN: &str = "invalid_token";

fn claims_json(app: &TestApp) -> String {
    Value::Object(app.token().claims().clone()).to_string()
}

async fn me(app: &TestApp, token: &str) -> TestResponse {
    app.get_bearer("/api/me", token).await
}

#[tokio::test]
async fn typ_must_be_an_access_token_type() {
    let app = TestApp::new();
    for typ in ["JWT", "jwt", "at+jwt", "application/at+JWT"] {
        let header = json!({"alg": "HS256", "typ": typ}).to_string();
        let token = hs256_raw(
            app.secret.as_bytes(),
            header.as_bytes(),
            claims_json(&app).as_bytes(),
        );
        assert_eq!(me(&app, &token).await.status, StatusCode::OK, "{typ}");
    }
    let no_typ = hs256_raw(
        app.secret.as_bytes(),
        br#"{"alg":"HS256"}"#,
        claims_json(&app).as_bytes(),
    );
    assert_eq!(me(&app, &no_typ).await.status, StatusCode::OK, "typ is optional");
    for typ in [
        json!("dpop+jwt"),
        json!("JWS"),
        json!("secevent+jwt"),
        json!(1),
        json!(null),
    ] {
        let header = json!({"alg": "HS256", "typ": typ}).to_string();
        let token = hs256_raw(
            app.secret.as_bytes(),
            header.as_bytes(),
            claims_json(&app).as_bytes(),
        );
        me(&app, &token).await.assert_bearer_error(
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
            "unexpected token type",
        );
    }
}

#[tokio::test]
async fn duplicate_members_are_refused_in_the_header_and_the_claims() {
    let app = TestApp::new();
    let secret = app.secret.as_bytes();
    let claims = claims_json(&app);
    // "Last wins" would verify this with HS256 and then read alg as none.
    let smuggled = hs256_raw(
        secret,
        br#"{"alg":"HS256","typ":"JWT","alg":"none"}"#,
        claims.as_bytes(),
    );
    let twice = claims.replacen('{', r#"{"role":"service_role","#, 1);
    let nested = claims.replacen('{', r#"{"custom":[{"a":1,"a":2}],"#, 1);
    for token in [
        smuggled,
        hs256_raw(secret, br#"{"alg":"HS256","typ":"JWT"}"#, twice.as_bytes()),
        hs256_raw(secret, br#"{"alg":"HS256","typ":"JWT"}"#, nested.as_bytes()),
    ] {
        me(&app, &token).await.assert_bearer_error(
            StatusCode::UNAUTHORIZED,
            INVALID_TOKEN,
            "duplicate JSON member in the token",
        );
    }
}

#[tokio::test]
async fn header_and_payload_must_be_strict_utf8_json_in_full() {
    let app = TestApp::new();
    let secret = app.secret.as_bytes();
    let claims = claims_json(&app);
    let bad_header = b"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"x-ignored\":\"\xff\xfe\"}";
    let token = hs256_raw(secret, bad_header, claims.as_bytes());
    me(&app, &token).await.assert_bearer_error(
        StatusCode::UNAUTHORIZED,
        INVALID_TOKEN,
        "malformed token header",
    );
    let surrogate = br#"{"alg":"HS256","x":"\udc00"}"#;
    let token = hs256_raw(secret, surrogate, claims.as_bytes());
    me(&app, &token).await.assert_bearer_error(
        StatusCode::UNAUTHORIZED,
        INVALID_TOKEN,
        "malformed token header",
    );
    let mut bad_claims = claims.clone().into_bytes();
    bad_claims.splice(1..1, b"\"note\":\"\xc3\x28\",".iter().copied());
    let token = hs256_raw(secret, br#"{"alg":"HS256"}"#, &bad_claims);
    me(&app, &token)
        .await
        .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID_TOKEN, "malformed claims");
    let trailing = hs256_raw(secret, br#"{"alg":"HS256"} x"#, claims.as_bytes());
    me(&app, &trailing).await.assert_bearer_error(
        StatusCode::UNAUTHORIZED,
        INVALID_TOKEN,
        "malformed token header",
    );
}

#[tokio::test]
async fn nesting_beyond_the_json_depth_limit_is_a_clean_401() {
    let app = TestApp::new();
    let secret = app.secret.as_bytes();
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let header = format!(r#"{{"alg":"HS256","x-ignored":{}}}"#, deep(5000));
    let token = hs256_raw(secret, header.as_bytes(), claims_json(&app).as_bytes());
    me(&app, &token).await.assert_bearer_error(
        StatusCode::UNAUTHORIZED,
        INVALID_TOKEN,
        "malformed token header",
    );
    let claims = claims_json(&app).replacen('{', &format!(r#"{{"deep":{},"#, deep(5000)), 1);
    let token = hs256_raw(secret, br#"{"alg":"HS256"}"#, claims.as_bytes());
    me(&app, &token)
        .await
        .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID_TOKEN, "malformed claims");
    // Within the limit, an unknown nested claim is fine and kept.
    let claims = claims_json(&app).replacen('{', &format!(r#"{{"deep":{},"#, deep(100)), 1);
    let token = hs256_raw(secret, br#"{"alg":"HS256"}"#, claims.as_bytes());
    assert_eq!(me(&app, &token).await.status, StatusCode::OK);
}

/// A Supabase-shaped token whose `user_metadata` holds `bytes` of text.
fn with_metadata(app: &TestApp, bytes: usize) -> String {
    let notes: Vec<String> = (0..bytes / 100)
        .map(|i| format!("{i:04}-{}", "m".repeat(95)))
        .collect();
    app.sign(
        app.token()
            .claim("user_metadata", json!({"full_name": "Ada", "notes": notes})),
    )
}

#[tokio::test]
async fn a_genuine_20_kb_token_is_accepted_and_not_cached() {
    let secret = random_secret();
    let config = Config::for_tests(&secret);
    let state = AppState::new(&config).unwrap();
    let app = TestApp::from_router(config.clone(), secret, app_with_state(state.clone(), &config));
    let token = with_metadata(&app, 14_500);
    assert!((19_000..24_000).contains(&token.len()), "{}", token.len());
    for _ in 0..3 {
        let response = me(&app, &token).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    }
    assert_eq!(
        state.verifier.cached_tokens(),
        0,
        "tokens over 4 KiB are verified every time, never cached"
    );
    me(&app, &app.valid_token()).await;
    assert_eq!(state.verifier.cached_tokens(), 1, "while a normal token is");
}

#[tokio::test]
async fn a_token_over_the_cap_is_401_too_large() {
    let app = TestApp::with_config(|c| {
        c.auth.max_token_bytes(8 * 1024);
    });
    let token = with_metadata(&app, 9000);
    let response = me(&app, &token).await;
    response.assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID_TOKEN, "token too large");
    assert!(!response.text().contains(&token[..40]));
}

#[tokio::test]
async fn custom_and_oauth_claims_are_kept() {
    let app = TestApp::new();
    let token = app.sign(
        app.token()
            .claim("user_role", "moderator")
            .claim("tenant_id", 42)
            .claim("client_id", "c1")
            .claim("scope", "openid email"),
    );
    let response = app.get_bearer("/api/moderation", &token).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["user_role"], "moderator");
}

#[tokio::test]
async fn the_claim_guard_follows_the_rbac_user_role() {
    let app = TestApp::new();
    for role in ["moderator", "admin"] {
        let token = app.sign(app.token().claim("user_role", role));
        assert_eq!(
            app.get_bearer("/api/moderation", &token).await.status,
            StatusCode::OK
        );
    }
    for token in [
        app.sign(app.token().claim("user_role", "user")),
        app.sign(app.token().claim("user_role", json!(["admin"]))),
        app.valid_token(),
        // The Postgres role is not the RBAC claim.
        app.sign(app.token().role("admin")),
    ] {
        app.get_bearer("/api/moderation", &token)
            .await
            .assert_bearer_error(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "the moderator or admin user_role is required",
            );
    }
    app.get("/api/moderation")
        .await
        .assert_no_credentials("missing bearer token");
}

#[tokio::test]
async fn mfa_step_up_requires_aal2() {
    let app = TestApp::new();
    let step_up =
        "multi-factor authentication required: verify a second factor (aal2) and retry with the new token";
    for token in [
        app.valid_token(),
        app.sign(app.token().without("aal")),
        app.sign(app.token().aal("aal3")),
    ] {
        app.get_bearer("/api/sensitive", &token)
            .await
            .assert_bearer_error(StatusCode::FORBIDDEN, "insufficient_scope", step_up);
    }
    let mfa = app.sign(app.token().aal("aal2"));
    assert_eq!(
        app.get_bearer("/api/sensitive", &mfa).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn anonymous_sign_ins_are_not_accounts() {
    let app = TestApp::new();
    let anonymous = app.sign(app.token().anonymous(true));
    assert_eq!(
        me(&app, &anonymous).await.status,
        StatusCode::OK,
        "a role check lets them in"
    );
    app.get_bearer("/api/account", &anonymous)
        .await
        .assert_bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "an account is required: anonymous users cannot do this",
        );
    for token in [app.valid_token(), app.sign(app.token().without("is_anonymous"))] {
        assert_eq!(
            app.get_bearer("/api/account", &token).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn any_of_several_audiences_is_accepted() {
    let app = TestApp::with_config(|c| {
        c.auth.audiences(["authenticated", "my-oauth-api"]);
    });
    for aud in [
        json!("my-oauth-api"),
        json!(["x", "my-oauth-api"]),
        json!("authenticated"),
    ] {
        assert_eq!(
            me(&app, &app.sign(app.token().audience(aud.clone())))
                .await
                .status,
            StatusCode::OK,
            "{aud}"
        );
    }
    me(&app, &app.sign(app.token().audience("other")))
        .await
        .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID_TOKEN, "invalid audience");
}

#[tokio::test]
async fn handlers_read_any_claim_typed() {
    let app = TestApp::new();
    let verifier = app.config.auth.build().unwrap();
    let token = app.sign(
        app.token()
            .claim("tenant_id", 42)
            .claim("permissions", json!(["todos.read"]))
            .claim("client_id", "c1")
            .claim("scope", "openid email")
            .claim("org", Value::Null),
    );
    let user = verifier.verify(&token).await.unwrap();
    assert_eq!(user.claim::<u64>("tenant_id"), Ok(Some(42)));
    assert_eq!(
        user.claim::<Vec<String>>("permissions"),
        Ok(Some(vec!["todos.read".to_owned()]))
    );
    assert_eq!(
        user.claim::<String>("email"),
        Ok(Some("ada@example.com".to_owned())),
        "known claims too"
    );
    assert_eq!(user.claim::<u64>("org"), Ok(None), "null is absent");
    assert_eq!(user.claim::<u64>("nothing"), Ok(None));
    assert!(user.claim::<u64>("permissions").is_err());
    assert_eq!(user.claims().client_id.as_deref(), Some("c1"));
    assert!(user.claims().has_scope("email"));
    let payload: Value = serde_json::from_str(user.claims().payload_json()).unwrap();
    assert_eq!(payload["tenant_id"], 42);
    assert_eq!(
        payload["sub"],
        user.sub().to_string(),
        "the whole payload, as signed"
    );
}
