//! Criterion benches of the hot path: token verification (cold and cached) for
//! every algorithm, the Authorization header parse, and a full request through
//! `app()` against the same handler with no auth, by Bearer header and by an
//! `@supabase/ssr` session cookie; and the secret-key comparison.
//!
//!     cargo bench --bench verify

// Bench setup may panic: nothing here is controlled by a request or the environment.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use axum::routing::get;
use axum_supabase::__private::{bearer_token, session_cookie_read};
use axum_supabase::testing::Token;
use axum_supabase::{DEFAULT_MAX_TOKEN_BYTES, SupabaseAuth};
use axum_supabase_auth::config::Config;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tower::ServiceExt;

#[path = "../tests/api/keys.rs"]
#[allow(dead_code, unreachable_pub, clippy::unwrap_used)]
mod keys;
#[path = "../examples/support/twin.rs"]
mod twin;

use keys::SigningKey;

const SECRET: &str = "bench-secret-generated-for-benchmarks-only-0123456789";
const BASE_URL: &str = "https://bench.supabase.co";
const ISSUER: &str = "https://bench.supabase.co/auth/v1";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A Supabase-shaped token of about 900 bytes, like the peers' benchmark.
fn user() -> Token {
    Token::user()
        .issuer(ISSUER)
        .email("ada@example.com")
        .claim("phone", "")
        .claim(
            "user_metadata",
            serde_json::json!({"email": "ada@example.com", "email_verified": true, "sub": "x"}),
        )
}

/// Serves the keys' JWKS on 127.0.0.1:0 and returns its URL.
async fn jwks_server(keys: &[(&SigningKey, &str)]) -> String {
    let body =
        serde_json::json!({ "keys": keys.iter().map(|(k, kid)| k.jwk(kid)).collect::<Vec<_>>() }).to_string();
    let router = Router::new().route("/jwks.json", get(move || std::future::ready(body.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn verifier(rt: &Runtime, jwks_url: &str, cache_size: usize) -> SupabaseAuth {
    let verifier = SupabaseAuth::builder()
        .project_url(BASE_URL)
        .jwt_secret(SECRET)
        .jwks_url(jwks_url)
        .cache_size(cache_size)
        .build()
        .expect("verifier");
    rt.block_on(async { verifier.jwks().expect("jwks").refresh_now().await.expect("fetch") });
    verifier
}

fn verify(c: &mut Criterion) {
    let rt = runtime();
    let (es, rs, ed) = (SigningKey::es256(), SigningKey::rs256(), SigningKey::ed25519());
    let url = rt.block_on(jwks_server(&[(&es, "es"), (&rs, "rs"), (&ed, "ed")]));
    let tokens = [
        ("HS256", user().sign(SECRET.as_bytes()).expect("sign")),
        ("ES256", es.sign(&user(), "es")),
        ("RS256", rs.sign(&user(), "rs")),
        ("EdDSA", ed.sign(&user(), "ed")),
    ];
    let cold = verifier(&rt, &url, 0);
    let cached = verifier(&rt, &url, 1024);
    let mut group = c.benchmark_group("verify");
    for (alg, token) in &tokens {
        rt.block_on(cached.verify(token)).expect("valid");
        group.bench_function(format!("{alg}/cold"), |b| {
            b.to_async(&rt)
                .iter(|| async { cold.verify(black_box(token)).await.expect("valid") })
        });
        group.bench_function(format!("{alg}/cached"), |b| {
            b.to_async(&rt)
                .iter(|| async { cached.verify(black_box(token)).await.expect("valid") })
        });
    }
    group.finish();
}

fn header_parse(c: &mut Criterion) {
    let token = user().sign(SECRET.as_bytes()).expect("sign");
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::try_from(format!("Bearer {token}")).expect("header"),
    );
    c.bench_function("bearer_token", |b| {
        b.iter(|| bearer_token(black_box(&headers), DEFAULT_MAX_TOKEN_BYTES).map(|t| t.map(str::len)))
    });
    let mut cookies = HeaderMap::new();
    cookies.insert(
        header::COOKIE,
        HeaderValue::try_from(format!("_ga=GA1.1.123; {}; theme=dark", session_cookie(&token)))
            .expect("header"),
    );
    c.bench_function("session_cookie_read", |b| {
        b.iter(|| session_cookie_read(black_box(&cookies), "sb-bench-auth-token").map(|(a, _)| a.len()))
    });
}

/// The cookie `@supabase/ssr` stores for a session with `token`: a refresh
/// token and a typical user object, about 1.3 KB.
fn session_cookie(token: &str) -> String {
    use base64::Engine as _;
    let session = serde_json::json!({
        "access_token": token,
        "token_type": "bearer", "expires_in": 3600, "expires_at": 4_102_444_800_i64,
        "refresh_token": "bench-refresh",
        "user": {"id": "8c4ee3ad-0000-4000-8000-000000000000", "aud": "authenticated",
                 "role": "authenticated", "email": "bench@example.com",
                 "app_metadata": {"provider": "email", "providers": ["email"]},
                 "user_metadata": {"name": "Bench"}, "created_at": "2026-01-01T00:00:00Z"},
    });
    format!(
        "sb-bench-auth-token=base64-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(session.to_string())
    )
}

fn request(c: &mut Criterion) {
    let rt = runtime();
    let mut config = Config::for_tests(SECRET);
    config.auth.project_url(BASE_URL);
    let state = axum_supabase_auth::state::AppState::new(&config).expect("state");
    let router = axum_supabase_auth::routes::router(state, false).merge(twin::router());
    let app = axum_supabase_auth::startup::with_middleware(router, &config);
    let token = format!("Bearer {}", user().sign(SECRET.as_bytes()).expect("sign"));
    // The same route in cookie mode, with the session @supabase/ssr stores
    // (the token, a refresh token and a typical user object).
    let mut sessions = axum_supabase::session::SessionCookies::builder();
    sessions.api_key("sb_publishable_bench");
    config.sessions = Some(sessions);
    let state = axum_supabase_auth::state::AppState::new(&config).expect("state");
    let cookie_app = axum_supabase_auth::startup::with_middleware(
        axum_supabase_auth::routes::router(state, false),
        &config,
    );
    let cookie = session_cookie(&user().sign(SECRET.as_bytes()).expect("sign"));
    let mut group = c.benchmark_group("request");
    group.bench_function("noauth twin", |b| {
        b.to_async(&rt).iter(|| send(&app, "/noauth", None))
    });
    group.bench_function("/api/me HS256 cached", |b| {
        b.to_async(&rt)
            .iter(|| send(&app, "/api/me", Some((header::AUTHORIZATION, &token))))
    });
    group.bench_function("/api/me session cookie cached", |b| {
        b.to_async(&rt)
            .iter(|| send(&cookie_app, "/api/me", Some((header::COOKIE, &cookie))))
    });
    group.finish();
}

/// One GET of `path` through `app`, with `header` if given; it must succeed.
fn send(
    app: &Router,
    path: &'static str,
    header: Option<(header::HeaderName, &str)>,
) -> impl Future<Output = axum::response::Response> + use<> {
    let mut request = Request::get(path);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let request = request.body(Body::empty()).expect("request");
    let app = app.clone();
    async move {
        let response = app.oneshot(request).await.expect("response");
        assert!(response.status().is_success());
        response
    }
}

/// The secret-key comparison: the right key, a key wrong in its first byte
/// after the prefix, and one wrong in its last byte, against two configured
/// keys. Equal times mean no early exit tells an attacker where a guess
/// went wrong.
fn service_key(c: &mut Criterion) {
    const DEFAULT: &str = "sb_secret_Q1w2E3r4T5y6U7i8O9p0As_Df8Gh7Jk";
    const CRON: &str = "sb_secret_Zx9Cv8Bn7Mm6Ll5Kk4Jj3H_h2Gg1Ff0";
    let matcher =
        axum_supabase::__private::service_key_matcher([("default", DEFAULT), ("cron", CRON)]).expect("keys");
    let mut first = DEFAULT.as_bytes().to_vec();
    first[10] ^= 1;
    let mut last = DEFAULT.as_bytes().to_vec();
    let end = last.len() - 1;
    last[end] ^= 1;
    let mut group = c.benchmark_group("service_key");
    group.bench_function("right", |b| b.iter(|| matcher(black_box(DEFAULT.as_bytes()))));
    group.bench_function("wrong_first_byte", |b| b.iter(|| matcher(black_box(&first))));
    group.bench_function("wrong_last_byte", |b| b.iter(|| matcher(black_box(&last))));
    group.finish();
}

criterion_group!(benches, verify, header_parse, request, service_key);
criterion_main!(benches);
