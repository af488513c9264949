//! JWKS test scaffolding: a real JWKS server on 127.0.0.1:0 with a fetch counter
//! and controls to rotate, remove and break keys.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_supabase::testing::Token;
use axum_supabase::{JwksTiming, SupabaseAuthBuilder};
use axum_supabase_auth::config::Config;
use axum_supabase_auth::state::AppState;
use serde_json::{Value, json};

pub use crate::keys::{SigningKey, b64, signing_input};

use crate::helpers::{ISSUER, TestApp};

/// How the test JWKS endpoint behaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Down,
    Garbage,
    Slow(Duration),
    Huge,
    RedirectTo(String),
}

struct ServerState {
    keys: Mutex<Vec<Value>>,
    mode: Mutex<Mode>,
    cache_control: Mutex<Option<String>>,
    etag: Mutex<Option<String>>,
    hits: AtomicUsize,
    not_modified: AtomicUsize,
}

pub struct JwksServer {
    pub url: String,
    pub port: u16,
    state: Arc<ServerState>,
}

async fn serve_jwks(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    // The keys as they are when the request arrives: a slow answer carries
    // those, even if they change while it is on its way.
    let keys = state.keys.lock().unwrap().clone();
    state.hits.fetch_add(1, Ordering::SeqCst);
    let mode = state.mode.lock().unwrap().clone();
    match mode {
        Mode::Down => return (StatusCode::INTERNAL_SERVER_ERROR, "upstream down").into_response(),
        Mode::Garbage => return (StatusCode::OK, "<html>not json</html>").into_response(),
        Mode::Huge => {
            let pad = "x".repeat(300 * 1024);
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                format!("{{\"keys\":[],\"pad\":\"{pad}\"}}"),
            )
                .into_response();
        }
        Mode::RedirectTo(location) => {
            return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
        }
        Mode::Slow(d) => tokio::time::sleep(d).await,
        Mode::Normal => {}
    }
    let etag = state.etag.lock().unwrap().clone();
    if let Some(etag) = &etag
        && headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str())
    {
        state.not_modified.fetch_add(1, Ordering::SeqCst);
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let body = json!({ "keys": keys }).to_string();
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(cc) = state.cache_control.lock().unwrap().clone() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, cc.parse().unwrap());
    }
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag.parse().unwrap());
    }
    response
}

impl JwksServer {
    pub async fn start(keys: Vec<Value>) -> Self {
        let state = Arc::new(ServerState {
            keys: Mutex::new(keys),
            mode: Mutex::new(Mode::Normal),
            cache_control: Mutex::new(Some("public, max-age=600".to_owned())),
            etag: Mutex::new(None),
            hits: AtomicUsize::new(0),
            not_modified: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/auth/v1/.well-known/jwks.json", get(serve_jwks))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            url: format!("http://127.0.0.1:{port}/auth/v1/.well-known/jwks.json"),
            port,
            state,
        }
    }

    pub fn set_keys(&self, keys: Vec<Value>) {
        *self.state.keys.lock().unwrap() = keys;
    }
    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }
    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.state.cache_control.lock().unwrap() = value.map(str::to_owned);
    }
    pub fn set_etag(&self, value: Option<&str>) {
        *self.state.etag.lock().unwrap() = value.map(str::to_owned);
    }
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }
    pub fn not_modified(&self) -> usize {
        self.state.not_modified.load(Ordering::SeqCst)
    }

    /// Test-speed cache settings: the production rules with shorter clocks.
    pub fn config(&self) -> JwksConfig {
        let timing = JwksTiming::default();
        JwksConfig {
            url: self.url.clone(),
            cooldown: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
            min_refresh: timing.min_refresh,
            max_refresh: timing.max_refresh,
            max_stale: Duration::from_secs(3600),
        }
    }
}

/// The JWKS settings a test changes, applied through the library's builder.
#[derive(Debug, Clone)]
pub struct JwksConfig {
    pub url: String,
    pub cooldown: Duration,
    pub timeout: Duration,
    pub min_refresh: Duration,
    pub max_refresh: Duration,
    pub max_stale: Duration,
}

impl JwksConfig {
    pub fn apply(&self, builder: &mut SupabaseAuthBuilder) {
        builder
            .jwks_url(&self.url)
            .jwks_max_stale(self.max_stale)
            .jwks_timing(self.timing());
    }

    fn timing(&self) -> JwksTiming {
        let mut timing = JwksTiming::default();
        timing.cooldown = self.cooldown;
        timing.min_refresh = self.min_refresh;
        timing.max_refresh = self.max_refresh;
        timing.timeout = self.timeout;
        timing
    }
}

/// An app verifying through `jwks` (and the HS256 secret when `with_secret`).
pub struct JwksApp {
    pub app: TestApp,
    pub state: AppState,
}

impl JwksApp {
    pub fn new(jwks: JwksConfig, with_secret: bool) -> Self {
        let secret = crate::helpers::random_secret();
        let mut config = Config::for_tests(&secret);
        if !with_secret {
            config.auth.without_jwt_secret();
        }
        jwks.apply(&mut config.auth);
        let state = AppState::new(&config).unwrap();
        state.verifier.start();
        let router = axum_supabase_auth::startup::app_with_state(state.clone(), &config);
        Self {
            app: TestApp::from_router(config, secret, router),
            state,
        }
    }

    pub fn fetches(&self) -> u64 {
        self.state.verifier.jwks().unwrap().status().fetches
    }

    /// Waits (bounded) until the JWKS has been fetched successfully once.
    pub async fn ready(&self) {
        wait_for(
            || self.state.verifier.jwks().unwrap().status().ready,
            "first JWKS fetch",
        )
        .await;
    }
}

/// Polls `condition` every 10 ms for at most 10 s.
pub async fn wait_for(mut condition: impl FnMut() -> bool, what: &str) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A user token for the test issuer.
pub fn user() -> Token {
    Token::user().issuer(ISSUER).email("ada@example.com")
}
