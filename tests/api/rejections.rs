//! The rejection matrix: each row asserts status, `WWW-Authenticate` and body,
//! and that the response never echoes the token.

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::helpers::{TestApp, TestResponse, random_secret};

const INVALID_TOKEN: &str = "invalid_token";
const BAD_CLAIM: &str = "a claim has an invalid type or value";

async fn bearer(app: &TestApp, token: &str) -> TestResponse {
    let response = app.get_bearer("/api/me", token).await;
    assert_never_echoed(&response, token);
    response
}

fn assert_never_echoed(response: &TestResponse, token: &str) {
    let everything = format!("{:?}{}", response.headers, response.text());
    for part in token.split('.').filter(|p| p.len() >= 8) {
        assert!(!everything.contains(part), "response echoes part of the token");
    }
}

async fn rejected_token(app: &TestApp, token: &str, description: &str) {
    bearer(app, token)
        .await
        .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID_TOKEN, description);
}

#[tokio::test]
async fn missing_header_is_a_bare_401() {
    TestApp::new()
        .get("/api/me")
        .await
        .assert_no_credentials("missing bearer token");
}

#[tokio::test]
async fn no_usable_credentials_get_a_bare_401() {
    let app = TestApp::new();
    let token = app.valid_token();
    for (value, description) in [
        ("".to_owned(), "missing bearer token"),
        ("   ".to_owned(), "missing bearer token"),
        (format!("Basic {token}"), UNSUPPORTED),
        (format!("Digest {token}"), UNSUPPORTED),
        (format!("Token {token}"), UNSUPPORTED),
        (format!("Bearr {token}"), UNSUPPORTED),
        (format!("Bearerx {token}"), UNSUPPORTED),
        (token.clone(), UNSUPPORTED),
    ] {
        let response = app.get_with_auth("/api/me", &value).await;
        assert_never_echoed(&response, &token);
        response.assert_no_credentials(description);
    }
}

const UNSUPPORTED: &str = "unsupported authorization scheme; send Authorization: Bearer <token>";

#[tokio::test]
async fn unusable_bearer_credentials_are_401_invalid_token() {
    let app = TestApp::new();
    let token = app.valid_token();
    let other = app.valid_token();
    for (value, description) in [
        ("Bearer".to_owned(), "empty bearer token"),
        ("Bearer    ".to_owned(), "empty bearer token"),
        (format!("Bearer\t{token}"), "malformed bearer token"),
        (format!("Bearer {token} extra"), "malformed bearer token"),
        (format!("Bearer Bearer {token}"), "malformed bearer token"),
        (
            format!("Bearer {token}, Bearer {other}"),
            "malformed bearer token",
        ),
        (format!("Bearer {token},{other}"), "malformed token"),
        (format!("Bearer {token}\t{other}"), "malformed bearer token"),
    ] {
        let response = app.get_with_auth("/api/me", &value).await;
        assert_never_echoed(&response, &token);
        response.assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID_TOKEN, description);
    }
    let non_ascii = [b"Bearer ".as_slice(), token.as_bytes(), "\u{e9}".as_bytes()].concat();
    let request = Request::get("/api/me")
        .header(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(&non_ascii).unwrap(),
        )
        .body(Body::empty())
        .unwrap();
    let response = app.request(request).await;
    assert_never_echoed(&response, &token);
    response.assert_bearer_error(
        StatusCode::UNAUTHORIZED,
        INVALID_TOKEN,
        "bearer token is not visible ASCII",
    );
}

#[tokio::test]
async fn scheme_is_case_insensitive_and_spaces_are_tolerated() {
    let app = TestApp::new();
    let token = app.valid_token();
    for value in [
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("Bearer    {token}"),
        format!("  Bearer {token}  "),
    ] {
        let response = app.get_with_auth("/api/me", &value).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    }
}

#[tokio::test]
async fn two_authorization_headers_are_the_only_400() {
    let app = TestApp::new();
    let token = app.valid_token();
    let request = Request::get("/api/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.request(request).await.assert_bearer_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "more than one Authorization header",
    );
}

#[tokio::test]
async fn garbage_is_rejected() {
    let app = TestApp::new();
    rejected_token(&app, "not-a-jwt", "malformed token").await;
    rejected_token(&app, "a.b.c.d", "malformed token").await;
    rejected_token(&app, "~~~.~~~.~~~", "malformed token header").await;
    rejected_token(&app, "%%%.%%%.%%%", "malformed token header").await;
    let valid = app.valid_token();
    let mut parts: Vec<&str> = valid.split('.').collect();
    parts[2] = "~~not-base64~~";
    rejected_token(&app, &parts.join("."), "malformed signature").await;
    let header_only = format!("{}..", parts[0]);
    rejected_token(&app, &header_only, "malformed token").await;
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_rejected() {
    let app = TestApp::new();
    let forged = app.token().sign(random_secret().as_bytes()).unwrap();
    rejected_token(&app, &forged, "invalid signature").await;
}

#[tokio::test]
async fn a_tampered_payload_is_rejected() {
    let app = TestApp::new();
    let valid = app.valid_token();
    let parts: Vec<&str> = valid.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!("service_role");
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    rejected_token(
        &app,
        &format!("{}.{payload}.{}", parts[0], parts[2]),
        "invalid signature",
    )
    .await;
}

#[tokio::test]
async fn expiry_honours_the_leeway() {
    let app = TestApp::new();
    rejected_token(&app, &app.sign(app.token().expires_in(-120)), "token expired").await;
    let within_leeway = app.sign(app.token().expires_in(-10));
    assert_eq!(bearer(&app, &within_leeway).await.status, StatusCode::OK);
}

#[tokio::test]
async fn not_before_and_issued_at_in_the_future_are_rejected() {
    let app = TestApp::new();
    rejected_token(
        &app,
        &app.sign(app.token().not_before_in(120)),
        "token not yet valid",
    )
    .await;
    rejected_token(
        &app,
        &app.sign(app.token().issued_in(120)),
        "token issued in the future",
    )
    .await;
    let slight_skew = app.sign(app.token().not_before_in(5).issued_in(5));
    assert_eq!(bearer(&app, &slight_skew).await.status, StatusCode::OK);
}

#[tokio::test]
async fn audience_must_contain_ours() {
    let app = TestApp::new();
    rejected_token(&app, &app.sign(app.token().audience("anon")), "invalid audience").await;
    rejected_token(&app, &app.sign(app.token().without("aud")), "missing aud claim").await;
    rejected_token(&app, &app.sign(app.token().audience(42)), BAD_CLAIM).await;
    rejected_token(&app, &app.sign(app.token().audience(json!(["x", 1]))), BAD_CLAIM).await;
    let many = app.sign(app.token().audience(json!(["other", "authenticated"])));
    assert_eq!(bearer(&app, &many).await.status, StatusCode::OK);
}

#[tokio::test]
async fn issuer_must_match_exactly() {
    let app = TestApp::new();
    for iss in [
        "https://evil.supabase.co/auth/v1",
        "https://test.supabase.co/auth/v1/",
        "https://test.supabase.co",
    ] {
        rejected_token(&app, &app.sign(app.token().issuer(iss)), "invalid issuer").await;
    }
    rejected_token(&app, &app.sign(app.token().without("iss")), "missing iss claim").await;
}

#[tokio::test]
async fn sub_must_be_a_uuid() {
    let app = TestApp::new();
    rejected_token(&app, &app.sign(app.token().without("sub")), "missing sub claim").await;
    for sub in ["", "user-1", "8d6f1f5e3b2a4c2e9d355f0f2f7b9a11"] {
        rejected_token(
            &app,
            &app.sign(app.token().claim("sub", sub)),
            "sub claim is not a UUID",
        )
        .await;
    }
    rejected_token(&app, &app.sign(app.token().claim("sub", 7)), BAD_CLAIM).await;
}

#[tokio::test]
async fn exp_and_role_are_required_and_typed() {
    let app = TestApp::new();
    rejected_token(&app, &app.sign(app.token().without("exp")), "missing exp claim").await;
    rejected_token(&app, &app.sign(app.token().claim("exp", "tomorrow")), BAD_CLAIM).await;
    rejected_token(&app, &app.sign(app.token().without("role")), "missing role claim").await;
    rejected_token(
        &app,
        &app.sign(app.token().claim("role", json!(["admin"]))),
        BAD_CLAIM,
    )
    .await;
}

#[tokio::test]
async fn optional_claims_must_have_their_documented_types() {
    let app = TestApp::new();
    for (claim, value) in [
        ("email", json!(5)),
        ("phone", json!({})),
        ("iat", json!("now")),
        ("nbf", json!(true)),
        ("is_anonymous", json!("no")),
        ("aal", json!(1)),
        ("amr", json!("password")),
        ("session_id", json!(12)),
        ("app_metadata", json!("admin")),
        ("user_metadata", json!([1])),
    ] {
        rejected_token(&app, &app.sign(app.token().claim(claim, value)), BAD_CLAIM).await;
    }
}

fn unsigned(app: &TestApp, alg: &str, signature: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let claims = URL_SAFE_NO_PAD.encode(serde_json::Value::Object(app.token().claims().clone()).to_string());
    format!("{header}.{claims}.{signature}")
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let app = TestApp::new();
    for alg in ["none", "None", "NONE"] {
        rejected_token(&app, &unsigned(&app, alg, ""), "unsigned tokens are not accepted").await;
        rejected_token(
            &app,
            &unsigned(&app, alg, "c2ln"),
            "unsigned tokens are not accepted",
        )
        .await;
    }
    rejected_token(&app, &unsigned(&app, "HS1", "c2ln"), "unsupported algorithm").await;
}

#[tokio::test]
async fn other_hmac_algorithms_are_not_allowed_even_with_the_right_secret() {
    let app = TestApp::new();
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        rejected_token(
            &app,
            &app.sign(app.token().algorithm(alg)),
            "algorithm not allowed",
        )
        .await;
    }
}

#[tokio::test]
async fn unknown_crit_header_is_rejected() {
    let app = TestApp::new();
    let token = app.sign(app.token().header_param("crit", ["exp"]).header_param("exp", 1));
    rejected_token(&app, &token, "unsupported critical header parameter").await;
}

#[tokio::test]
async fn a_kid_header_on_hs256_still_verifies_with_the_secret() {
    let app = TestApp::new();
    let token = app.sign(app.token().kid("a1b2c3"));
    assert_eq!(bearer(&app, &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn key_location_headers_are_never_followed() {
    let app = TestApp::new();
    let attacker = random_secret();
    let token = app
        .token()
        .header_param("jku", "https://evil.example/jwks.json")
        .header_param("x5u", "https://evil.example/cert.pem")
        .header_param(
            "jwk",
            json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(&attacker)}),
        )
        .sign(attacker.as_bytes())
        .unwrap();
    rejected_token(&app, &token, "invalid signature").await;
}

#[tokio::test]
async fn tokens_anywhere_but_the_header_never_authenticate() {
    let app = TestApp::new();
    let token = app.valid_token();
    let in_query = app.get(&format!("/api/me?access_token={token}")).await;
    assert_never_echoed(&in_query, &token);
    in_query.assert_no_credentials(
        "tokens in the query string are not accepted; send Authorization: Bearer <token>",
    );

    for (name, value) in [
        ("apikey", token.clone()),
        ("cookie", format!("sb-access-token={token}")),
        ("x-access-token", token.clone()),
    ] {
        let request = Request::get("/api/me")
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        let response = app.request(request).await;
        assert_never_echoed(&response, &token);
        response.assert_no_credentials("missing bearer token");
    }
}

#[tokio::test]
async fn legacy_api_key_jwts_are_not_user_tokens() {
    let app = TestApp::new();
    for role in ["anon", "service_role"] {
        let key = app
            .token()
            .without("sub")
            .without("aud")
            .without("email")
            .claim("iss", "supabase")
            .role(role);
        rejected_token(
            &app,
            &app.sign(key),
            "this is a Supabase API key (anon/service_role), not a user access token",
        )
        .await;
    }
}

#[tokio::test]
async fn new_style_api_keys_get_a_clear_message() {
    let app = TestApp::new();
    for key in [
        "sb_publishable_4bcd3f0000000000000000_abcdef",
        "sb_secret_00000000000000000000000_abcdef",
    ] {
        rejected_token(&app, key, "this is a Supabase API key, not a user access token").await;
    }
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_decoding() {
    let app = TestApp::with_config(|c| {
        c.auth.max_token_bytes(16 * 1024);
    });
    let huge = format!("{}.{}.{}", "a".repeat(9000), "b".repeat(9000), "c");
    app.get_bearer("/api/me", &huge).await.assert_bearer_error(
        StatusCode::UNAUTHORIZED,
        INVALID_TOKEN,
        "token too large",
    );
}
