//! The verified-token cache, observed through the real router.

use std::time::Duration;

use axum::http::StatusCode;
use axum_supabase_auth::config::Config;
use axum_supabase_auth::startup::app_with_state;
use axum_supabase_auth::state::AppState;

use crate::helpers::{TestApp, random_secret};
use crate::jwks_support::{JwksApp, JwksServer, SigningKey, user};

fn cached_app(change: impl FnOnce(&mut Config)) -> (TestApp, AppState) {
    let secret = random_secret();
    let mut config = Config::for_tests(&secret);
    change(&mut config);
    let state = AppState::new(&config).unwrap();
    let router = app_with_state(state.clone(), &config);
    (TestApp::from_router(config, secret, router), state)
}

fn cached(state: &AppState) -> usize {
    state.verifier.cached_tokens()
}

#[tokio::test]
async fn a_repeated_token_is_cached_once() {
    let (app, state) = cached_app(|_| {});
    let token = app.valid_token();
    for _ in 0..3 {
        assert_eq!(
            app.get_bearer("/api/me", &token).await.json()["email"],
            "ada@example.com"
        );
    }
    assert_eq!(cached(&state), 1);
}

#[tokio::test]
async fn invalid_tokens_are_never_cached() {
    let (app, state) = cached_app(|_| {});
    let forged = app.token().sign(random_secret().as_bytes()).unwrap();
    for token in [
        forged,
        app.sign(app.token().expires_in(-600)),
        app.sign(app.token().audience("x")),
        "x.y.z".into(),
    ] {
        for _ in 0..2 {
            assert_eq!(
                app.get_bearer("/api/me", &token).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
    }
    assert_eq!(cached(&state), 0);
}

#[tokio::test]
async fn an_expired_token_is_never_served_from_the_cache() {
    let (app, state) = cached_app(|c| {
        c.auth.leeway(Duration::ZERO);
    });
    let token = app.sign(app.token().expires_in(1));
    assert_eq!(app.get_bearer("/api/me", &token).await.status, StatusCode::OK);
    assert_eq!(cached(&state), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.get_bearer("/api/me", &token).await.assert_bearer_error(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "token expired",
    );
    assert_eq!(cached(&state), 0);
}

#[tokio::test]
async fn a_flood_of_distinct_valid_tokens_stays_within_capacity() {
    let (app, state) = cached_app(|c| {
        c.auth.cache_size(100);
    });
    for _ in 0..1000 {
        assert_eq!(
            app.get_bearer("/api/me", &app.valid_token()).await.status,
            StatusCode::OK
        );
    }
    assert!(cached(&state) <= 100, "{}", cached(&state));
}

#[tokio::test]
async fn the_cache_can_be_turned_off() {
    let (app, state) = cached_app(|c| {
        c.auth.cache_size(0);
    });
    assert_eq!(
        app.get_bearer("/api/me", &app.valid_token()).await.status,
        StatusCode::OK
    );
    assert_eq!(state.verifier.cache_capacity(), 0);
    assert_eq!(state.verifier.cached_tokens(), 0);
}

#[tokio::test]
async fn a_key_set_change_drops_cached_jwks_tokens_and_a_same_body_refresh_does_not() {
    let (old, new) = (SigningKey::es256(), SigningKey::es256());
    let server = JwksServer::start(vec![old.jwk("old"), new.jwk("new")]).await;
    let app = JwksApp::new(server.config(), false);
    app.ready().await;
    let token = old.sign(&user(), "old");
    assert_eq!(app.app.get_bearer("/api/me", &token).await.status, StatusCode::OK);
    let cached = || app.state.verifier.cached_tokens();
    assert_eq!(cached(), 1);

    let jwks = app.state.verifier.jwks().unwrap();
    jwks.refresh_now().await.unwrap();
    assert_eq!(app.app.get_bearer("/api/me", &token).await.status, StatusCode::OK);
    assert_eq!(cached(), 1, "the same keys again are not a change");

    server.set_keys(vec![new.jwk("new")]);
    jwks.refresh_now().await.unwrap();
    app.app.get_bearer("/api/me", &token).await.assert_bearer_error(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "unknown signing key",
    );
    assert_eq!(cached(), 0, "cleared when the keys changed");
}
