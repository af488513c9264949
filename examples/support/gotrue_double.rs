//! A test double of GoTrue's (Supabase Auth's) HTTP API: the few endpoints a
//! cookie session touches, following GoTrue's documented contract. It is not
//! GoTrue and replaces it nowhere but in tests: GoTrue cannot run on these
//! machines (no Go toolchain, no container with its image).
//!
//! - `POST /auth/v1/signup` and `POST /auth/v1/token?grant_type=password`
//!   sign a user in (any password; sign-up stores `data` as `user_metadata`).
//! - `POST /auth/v1/token?grant_type=refresh_token` rotates: each refresh
//!   issues a new refresh token and revokes the old one. A revoked token
//!   presented again inside the reuse interval gets the session's current
//!   token; outside it, the session is revoked and the answer is 400
//!   `refresh_token_already_used`. Unknown tokens get 400 `refresh_token_not_found`,
//!   and tokens of a signed-out session 400 `session_not_found`, in GoTrue's
//!   `{code, error_code, msg}` shape.
//! - `POST /auth/v1/logout?scope=local|global|others` with the access token: 204.
//! - `GET /auth/v1/user` with the access token: the user.
//! - Every endpoint wants the project's `apikey` header, as the API gateway does.
//!
//! Knobs for tests: a delay before each token answer, a status to fail with,
//! the access tokens' lifetime, and call counters. Over HTTP too, for the
//! browser check: `GET /__double/stats`, `POST /__double/knobs`,
//! `GET /__double/sleep?ms=N`.

#![allow(dead_code, reason = "each user of the double takes what it needs")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_supabase::testing::Token;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// The knobs, settable between requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct Knobs {
    /// Milliseconds to wait before answering a token request.
    pub(crate) delay_ms: u64,
    /// Answer token and logout requests with this status (e.g. 503), if set.
    pub(crate) fail_status: Option<u16>,
    /// The lifetime of access tokens issued by sign-in and sign-up.
    pub(crate) sign_in_expires_in: i64,
    /// The lifetime of access tokens issued by a refresh.
    pub(crate) refresh_expires_in: i64,
    /// GoTrue's `REFRESH_TOKEN_REUSE_INTERVAL`, in seconds.
    pub(crate) reuse_interval_secs: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            delay_ms: 0,
            fail_status: None,
            sign_in_expires_in: 3600,
            refresh_expires_in: 3600,
            reuse_interval_secs: 10,
        }
    }
}

/// Call counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// `grant_type=refresh_token` requests, whatever their answer.
    pub(crate) refresh: AtomicU64,
    /// Sign-ins and sign-ups.
    pub(crate) sign_in: AtomicU64,
    /// Logouts.
    pub(crate) logout: AtomicU64,
    /// Requests refused for a missing or wrong `apikey`.
    pub(crate) bad_api_key: AtomicU64,
}

struct RefreshToken {
    session: Uuid,
    revoked_at: Option<Instant>,
}

struct Session {
    user: Uuid,
    active: bool,
    /// The session's one unrevoked refresh token.
    current: String,
}

#[derive(Default)]
struct Store {
    users: HashMap<Uuid, Value>,
    by_email: HashMap<String, Uuid>,
    sessions: HashMap<Uuid, Session>,
    refresh: HashMap<String, RefreshToken>,
}

/// The double's state: share it with the test that drives it.
pub(crate) struct GoTrue {
    secret: Vec<u8>,
    api_key: String,
    issuer: Mutex<String>,
    /// The knobs.
    pub(crate) knobs: Mutex<Knobs>,
    /// The counters.
    pub(crate) counters: Counters,
    store: Mutex<Store>,
}

/// A session as GoTrue returns it.
pub(crate) type SessionJson = Value;

impl GoTrue {
    /// A double that signs with `secret` and wants `api_key`. The issuer is set by [`GoTrue::serve`].
    pub(crate) fn new(secret: &[u8], api_key: &str) -> Arc<Self> {
        Arc::new(Self {
            secret: secret.to_vec(),
            api_key: api_key.to_owned(),
            issuer: Mutex::new(String::new()),
            knobs: Mutex::new(Knobs::default()),
            counters: Counters::default(),
            store: Mutex::new(Store::default()),
        })
    }

    /// Serves the double on `listener`; its project URL is `http://<addr>`.
    pub(crate) async fn serve(
        self: &Arc<Self>,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<String> {
        let url = format!("http://{}", listener.local_addr()?);
        *lock(&self.issuer) = format!("{url}/auth/v1");
        let app = router(Arc::clone(self));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }

    /// Changes the knobs.
    pub(crate) fn set(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut lock(&self.knobs));
    }

    /// How many refresh requests arrived.
    pub(crate) fn refresh_calls(&self) -> u64 {
        self.counters.refresh.load(Ordering::SeqCst)
    }

    /// Signs `email` in (creating the user with `metadata`) and returns the session.
    pub(crate) fn sign_in(&self, email: &str, metadata: Value) -> SessionJson {
        let expires_in = lock(&self.knobs).sign_in_expires_in;
        let mut store = lock(&self.store);
        let user = match store.by_email.get(email) {
            Some(id) => *id,
            None => {
                let id = Uuid::new_v4();
                let user = json!({
                    "id": id, "aud": "authenticated", "role": "authenticated", "email": email,
                    "app_metadata": {"provider": "email", "providers": ["email"]},
                    "user_metadata": metadata, "created_at": "2026-01-01T00:00:00Z",
                });
                store.users.insert(id, user);
                store.by_email.insert(email.to_owned(), id);
                id
            }
        };
        let session = Uuid::new_v4();
        let refresh = new_refresh_token();
        store.sessions.insert(
            session,
            Session {
                user,
                active: true,
                current: refresh.clone(),
            },
        );
        store.refresh.insert(
            refresh.clone(),
            RefreshToken {
                session,
                revoked_at: None,
            },
        );
        self.session_json(&store, session, &refresh, expires_in)
    }

    /// Whether the session of this refresh token is still active.
    pub(crate) fn is_active(&self, refresh_token: &str) -> bool {
        let store = lock(&self.store);
        store
            .refresh
            .get(refresh_token)
            .and_then(|t| store.sessions.get(&t.session))
            .is_some_and(|s| s.active)
    }

    fn session_json(&self, store: &Store, session: Uuid, refresh: &str, expires_in: i64) -> SessionJson {
        let user_id = store.sessions.get(&session).map(|s| s.user).unwrap_or_default();
        let user = store.users.get(&user_id).cloned().unwrap_or(Value::Null);
        let issuer = lock(&self.issuer).clone();
        let mut token = Token::user()
            .subject(user_id)
            .issuer(&issuer)
            .expires_in(expires_in)
            .claim("session_id", session.to_string())
            .claim("user_metadata", user["user_metadata"].clone());
        if let Some(email) = user["email"].as_str() {
            token = token.email(email);
        }
        let access_token = token.sign(&self.secret).unwrap_or_default();
        let now = unix_now();
        json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": expires_in,
            "expires_at": now + expires_in,
            "refresh_token": refresh,
            "user": user,
        })
    }

    /// GoTrue's refresh grant, with rotation and the reuse interval.
    /// Refused: GoTrue's status, `error_code` and `msg`.
    fn refresh(&self, presented: &str) -> Result<SessionJson, (u16, &'static str, &'static str)> {
        let knobs = lock(&self.knobs).clone();
        let mut store = lock(&self.store);
        let Some(token) = store.refresh.get(presented) else {
            return Err((
                400,
                "refresh_token_not_found",
                "Invalid Refresh Token: Refresh Token Not Found",
            ));
        };
        let (session_id, revoked_at) = (token.session, token.revoked_at);
        let Some(session) = store.sessions.get(&session_id).filter(|s| s.active) else {
            return Err((
                400,
                "session_not_found",
                "Session from session_id claim in JWT does not exist",
            ));
        };
        let next = match revoked_at {
            None => {
                let next = new_refresh_token();
                store.refresh.insert(
                    next.clone(),
                    RefreshToken {
                        session: session_id,
                        revoked_at: None,
                    },
                );
                if let Some(old) = store.refresh.get_mut(presented) {
                    old.revoked_at = Some(Instant::now());
                }
                if let Some(session) = store.sessions.get_mut(&session_id) {
                    session.current = next.clone();
                }
                next
            }
            Some(at) if at.elapsed() < Duration::from_secs(knobs.reuse_interval_secs) => {
                session.current.clone()
            }
            Some(_) => {
                if let Some(session) = store.sessions.get_mut(&session_id) {
                    session.active = false;
                }
                return Err((
                    400,
                    "refresh_token_already_used",
                    "Invalid Refresh Token: Already Used",
                ));
            }
        };
        Ok(self.session_json(&store, session_id, &next, knobs.refresh_expires_in))
    }

    /// The session and user of a verified access token.
    fn caller(&self, headers: &HeaderMap) -> Option<(Uuid, Uuid)> {
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&["authenticated"]);
        validation.validate_exp = false;
        let key = jsonwebtoken::DecodingKey::from_secret(&self.secret);
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .ok()?
            .claims;
        let session = claims["session_id"].as_str()?.parse().ok()?;
        let user = claims["sub"].as_str()?.parse().ok()?;
        Some((session, user))
    }

    fn logout(&self, headers: &HeaderMap, scope: &str) -> StatusCode {
        let Some((session, user)) = self.caller(headers) else {
            return StatusCode::UNAUTHORIZED;
        };
        let mut store = lock(&self.store);
        for (id, s) in &mut store.sessions {
            let hit = match scope {
                "global" => s.user == user,
                "others" => s.user == user && *id != session,
                _ => *id == session,
            };
            if hit {
                s.active = false;
            }
        }
        StatusCode::NO_CONTENT
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

fn new_refresh_token() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn gotrue_error(status: u16, code: &str, msg: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"code": status.as_u16(), "error_code": code, "msg": msg});
    (status, Json(body)).into_response()
}

type Shared = State<Arc<GoTrue>>;

fn router(gotrue: Arc<GoTrue>) -> Router {
    Router::new()
        .route("/auth/v1/token", post(token))
        .route("/auth/v1/signup", post(signup))
        .route("/auth/v1/logout", post(logout))
        .route("/auth/v1/user", get(user))
        .route("/__double/stats", get(stats))
        .route("/__double/knobs", post(knobs))
        .route("/__double/sleep", get(sleep))
        .layer(axum::middleware::from_fn(cors))
        .with_state(gotrue)
}

/// Open CORS, as the Supabase API gateway answers browsers.
async fn cors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "apikey, authorization, content-type, x-client-info, x-supabase-api-version",
        ),
    );
    response
}

/// The gateway's check, and the knobs every token answer goes through.
async fn gate(gotrue: &GoTrue, headers: &HeaderMap) -> Result<(), Response> {
    if headers.get("apikey").and_then(|v| v.to_str().ok()) != Some(gotrue.api_key.as_str()) {
        gotrue.counters.bad_api_key.fetch_add(1, Ordering::SeqCst);
        return Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Invalid API key"})),
        )
            .into_response());
    }
    let knobs = lock(&gotrue.knobs).clone();
    if knobs.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.delay_ms)).await;
    }
    match knobs.fail_status {
        Some(status) => Err(gotrue_error(status, "unexpected_failure", "failure knob")),
        None => Ok(()),
    }
}

/// A query parameter's value (the double's parameters need no decoding).
fn param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

async fn token(State(gotrue): Shared, uri: Uri, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let grant = param(&uri, "grant_type").unwrap_or("");
    if grant == "refresh_token" {
        gotrue.counters.refresh.fetch_add(1, Ordering::SeqCst);
    }
    if let Err(response) = gate(&gotrue, &headers).await {
        return response;
    }
    match grant {
        "refresh_token" => match body["refresh_token"].as_str() {
            Some(presented) => match gotrue.refresh(presented) {
                Ok(session) => Json(session).into_response(),
                Err((status, code, msg)) => gotrue_error(status, code, msg),
            },
            None => gotrue_error(400, "validation_failed", "refresh_token required"),
        },
        "password" => {
            gotrue.counters.sign_in.fetch_add(1, Ordering::SeqCst);
            match body["email"].as_str() {
                Some(email) => Json(gotrue.sign_in(email, json!({}))).into_response(),
                None => gotrue_error(400, "validation_failed", "email required"),
            }
        }
        _ => gotrue_error(400, "validation_failed", "unsupported grant_type"),
    }
}

async fn signup(State(gotrue): Shared, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Err(response) = gate(&gotrue, &headers).await {
        return response;
    }
    gotrue.counters.sign_in.fetch_add(1, Ordering::SeqCst);
    match body["email"].as_str() {
        Some(email) => {
            let metadata = body.get("data").cloned().unwrap_or_else(|| json!({}));
            Json(gotrue.sign_in(email, metadata)).into_response()
        }
        None => gotrue_error(400, "validation_failed", "email required"),
    }
}

async fn logout(State(gotrue): Shared, uri: Uri, headers: HeaderMap) -> Response {
    gotrue.counters.logout.fetch_add(1, Ordering::SeqCst);
    if let Err(response) = gate(&gotrue, &headers).await {
        return response;
    }
    gotrue
        .logout(&headers, param(&uri, "scope").unwrap_or("global"))
        .into_response()
}

async fn user(State(gotrue): Shared, headers: HeaderMap) -> Response {
    let Some((_, user)) = gotrue.caller(&headers) else {
        return gotrue_error(401, "bad_jwt", "invalid JWT");
    };
    let user = lock(&gotrue.store).users.get(&user).cloned();
    match user {
        Some(user) => Json(user).into_response(),
        None => gotrue_error(404, "user_not_found", "User not found"),
    }
}

async fn stats(State(gotrue): Shared) -> Json<Value> {
    let c = &gotrue.counters;
    Json(json!({
        "refresh": c.refresh.load(Ordering::SeqCst),
        "sign_in": c.sign_in.load(Ordering::SeqCst),
        "logout": c.logout.load(Ordering::SeqCst),
        "bad_api_key": c.bad_api_key.load(Ordering::SeqCst),
    }))
}

async fn knobs(State(gotrue): Shared, Json(knobs): Json<Knobs>) -> StatusCode {
    *lock(&gotrue.knobs) = knobs;
    StatusCode::NO_CONTENT
}

async fn sleep(uri: Uri) -> StatusCode {
    let ms = param(&uri, "ms").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
    StatusCode::NO_CONTENT
}
