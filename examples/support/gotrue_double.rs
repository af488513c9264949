//! A test double of GoTrue's (Supabase Auth's) HTTP API: the endpoints a
//! cookie session touches. It is not GoTrue and replaces it nowhere but in
//! tests: GoTrue cannot run on these machines (no Go toolchain, no image).
//!
//! It follows GoTrue's source (supabase/auth), not our reading of its docs;
//! each rule names the file it comes from:
//! - **Errors** (`internal/api/errors.go` `HandleResponseError`,
//!   `internal/api/apiversions.go`, `internal/api/apierrors/apierrors.go`):
//!   a request with `X-Supabase-Api-Version: 2024-01-01` (or a later date)
//!   gets `{"code":"<error code>","message":…}` and the version echoed on the
//!   response; without it, `{"code":<status>,"error_code":…,"msg":…}` (plus
//!   `error_id` on a 5xx). Both set `x-sb-error-code` when there is a code.
//!   OAuth errors are `{"error":…,"error_description":…}`, always 400, with
//!   no header.
//! - **Refresh** (`internal/api/token_refresh.go` `Validate`,
//!   `internal/tokens/service.go` `RefreshTokenGrant`,
//!   `internal/models/refresh_token.go`): GoTrue issues 12 characters of
//!   `[a-z2-7]` (v1); `Validate` refuses, 400 `validation_failed`, any token
//!   that is not 12 of `[a-z0-9]` (longer ones must parse as v2, which this
//!   double never issues). A refresh revokes the token and issues a child.
//!   A revoked token that is the parent of the session's active one gets the
//!   active one back, at any time; another revoked token gets a new child
//!   inside the reuse interval, and outside it the whole family is revoked and
//!   the answer is 400 `refresh_token_already_used`. Unknown tokens (a deleted
//!   session's are deleted with it) get `refresh_token_not_found`; a banned
//!   user `user_banned`.
//! - **Logout** (`internal/api/logout.go`, `internal/api/auth.go`
//!   `requireAuthentication`): `?scope=global` (the default), `local` or
//!   `others` deletes sessions and answers 204. No bearer token is 401
//!   `no_authorization`; a bad or expired one 403 `bad_jwt`; a deleted session
//!   403 `session_not_found`; another scope 400 `validation_failed`.
//! - **The gateway** in front of GoTrue checks `apikey` (GoTrue itself does
//!   not): 401 `{"message":"Invalid API key",…}` with no error code, as the
//!   hosted platform answers (reported in supabase-community/supabase-csharp#108).
//! - **Rate limits** (`internal/api/apilimiter`): 429 `over_request_rate_limit`,
//!   with no `Retry-After`; reproduced with the `refresh_error` knob.
//!
//! Knobs for tests: a delay before each token answer, a status to fail with,
//! a forced refresh error in either shape, the access tokens' lifetime, the
//! reuse interval, and call counters. Over HTTP too, for the browser check:
//! `GET /__double/stats`, `POST /__double/knobs`, `GET /__double/sleep?ms=N`.

#![allow(dead_code, reason = "each user of the double takes what it needs")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_supabase::testing::Token;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// The API version auth-js asks for, and the one GoTrue echoes (`apiversions.go`).
const API_VERSION: &str = "2024-01-01";

/// The shape an error is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Shape {
    /// As the request's `X-Supabase-Api-Version` asks (what GoTrue does).
    AsRequested,
    /// `{code: <status>, error_code, msg}`, whatever the request asked.
    Initial,
    /// `{code: "<error code>", message}`, whatever the request asked.
    Versioned,
    /// `{error, error_description}`, 400, no `x-sb-error-code`.
    OAuth,
}

/// A refresh error to answer instead of refreshing.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ForcedError {
    pub(crate) status: u16,
    /// Empty: an error without a code.
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) shape: Shape,
    /// Whether `x-sb-error-code` is sent (a proxy may strip it).
    pub(crate) header: bool,
    /// A `Retry-After` in seconds: GoTrue sends none, a proxy in front may.
    #[serde(default)]
    pub(crate) retry_after: Option<u64>,
}

/// The knobs, settable between requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct Knobs {
    /// Milliseconds to wait before answering a token request.
    pub(crate) delay_ms: u64,
    /// Answer token and logout requests with this status (e.g. 503) and
    /// GoTrue's `unexpected_failure`, if set.
    pub(crate) fail_status: Option<u16>,
    /// Answer refresh requests with this error, if set.
    pub(crate) refresh_error: Option<ForcedError>,
    /// The lifetime of access tokens issued by sign-in and sign-up.
    pub(crate) sign_in_expires_in: i64,
    /// The lifetime of access tokens issued by a refresh.
    pub(crate) refresh_expires_in: i64,
    /// GoTrue's `REFRESH_TOKEN_REUSE_INTERVAL`, in seconds: 0 by default in
    /// `internal/conf/configuration.go`, 10 on hosted projects (and here).
    pub(crate) reuse_interval_secs: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            delay_ms: 0,
            fail_status: None,
            refresh_error: None,
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

/// A row of `auth.refresh_tokens`.
struct RefreshToken {
    /// Increasing, as the table's `id`: the newest unrevoked one is the active one.
    id: u64,
    session: Uuid,
    parent: Option<String>,
    revoked: bool,
    updated_at: Instant,
}

struct User {
    json: Value,
    banned: bool,
}

#[derive(Default)]
struct Store {
    users: HashMap<Uuid, User>,
    by_email: HashMap<String, Uuid>,
    /// `auth.sessions`: session id → user id.
    sessions: HashMap<Uuid, Uuid>,
    refresh: HashMap<String, RefreshToken>,
    next_id: u64,
}

impl Store {
    /// Issues a new refresh token for `session`, child of `parent`.
    fn issue(&mut self, session: Uuid, parent: Option<&str>) -> String {
        self.next_id += 1;
        let token = new_refresh_token();
        self.refresh.insert(
            token.clone(),
            RefreshToken {
                id: self.next_id,
                session,
                parent: parent.map(str::to_owned),
                revoked: false,
                updated_at: Instant::now(),
            },
        );
        token
    }

    /// `FindCurrentlyActiveRefreshToken`: the session's newest unrevoked token.
    fn active(&self, session: Uuid) -> Option<(&String, &RefreshToken)> {
        self.refresh
            .iter()
            .filter(|(_, t)| t.session == session && !t.revoked)
            .max_by_key(|(_, t)| t.id)
    }

    /// Deletes sessions, and their refresh tokens with them (the foreign key cascades).
    fn delete_sessions(&mut self, doomed: impl Fn(&Uuid, &Uuid) -> bool) {
        self.sessions.retain(|id, user| !doomed(id, user));
        let sessions = &self.sessions;
        self.refresh.retain(|_, t| sessions.contains_key(&t.session));
    }
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

/// A GoTrue error: status, code (empty for none) and message.
type Refusal = (StatusCode, &'static str, &'static str);

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
                let json = json!({
                    "id": id, "aud": "authenticated", "role": "authenticated", "email": email,
                    "app_metadata": {"provider": "email", "providers": ["email"]},
                    "user_metadata": metadata, "created_at": "2026-01-01T00:00:00Z",
                });
                store.users.insert(id, User { json, banned: false });
                store.by_email.insert(email.to_owned(), id);
                id
            }
        };
        let session = Uuid::new_v4();
        store.sessions.insert(session, user);
        let refresh = store.issue(session, None);
        self.session_json(&store, session, &refresh, expires_in)
    }

    /// Replaces `email`'s `user_metadata`, as `updateUser({ data })` does;
    /// the next refresh carries it.
    pub(crate) fn update_metadata(&self, email: &str, metadata: Value) {
        let mut store = lock(&self.store);
        if let Some(id) = store.by_email.get(email).copied()
            && let Some(user) = store.users.get_mut(&id)
        {
            user.json["user_metadata"] = metadata;
        }
    }

    /// Bans `email`'s user, as an admin would.
    pub(crate) fn ban(&self, email: &str) {
        let mut store = lock(&self.store);
        if let Some(id) = store.by_email.get(email).copied()
            && let Some(user) = store.users.get_mut(&id)
        {
            user.banned = true;
        }
    }

    /// Whether the session of this refresh token still exists and the token
    /// is not in a revoked family.
    pub(crate) fn is_active(&self, refresh_token: &str) -> bool {
        let store = lock(&self.store);
        store
            .refresh
            .get(refresh_token)
            .is_some_and(|t| store.sessions.contains_key(&t.session) && store.active(t.session).is_some())
    }

    fn session_json(&self, store: &Store, session: Uuid, refresh: &str, expires_in: i64) -> SessionJson {
        let user_id = store.sessions.get(&session).copied().unwrap_or_default();
        let user = store.users.get(&user_id).map_or(Value::Null, |u| u.json.clone());
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
        json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": expires_in,
            "expires_at": unix_now() + expires_in,
            "refresh_token": refresh,
            "user": user,
        })
    }

    /// `RefreshTokenGrantParams.Validate`, then `Service.RefreshTokenGrant` for v1 tokens.
    fn refresh(&self, presented: &str) -> Result<SessionJson, Refusal> {
        const NOT_VALID: Refusal = (
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Refresh token is not valid",
        );
        // 12 characters are a v1 token; longer ones would have to parse as v2,
        // which this double never issues (and random strings never are).
        if presented.len() != 12
            || !presented
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(NOT_VALID);
        }
        let knobs = lock(&self.knobs).clone();
        let mut store = lock(&self.store);
        let Some(token) = store.refresh.get(presented) else {
            return Err((
                StatusCode::BAD_REQUEST,
                "refresh_token_not_found",
                "Invalid Refresh Token: Refresh Token Not Found",
            ));
        };
        let (session, revoked, updated_at) = (token.session, token.revoked, token.updated_at);
        let user = store.sessions.get(&session).and_then(|u| store.users.get(u));
        if user.is_some_and(|u| u.banned) {
            return Err((
                StatusCode::BAD_REQUEST,
                "user_banned",
                "Invalid Refresh Token: User Banned",
            ));
        }
        let next = if revoked {
            let active = store
                .active(session)
                .map(|(token, row)| (token.clone(), row.parent.clone()));
            match active {
                // The parent of the active token gets the active token, at any time.
                Some((active, Some(parent))) if parent == presented => active,
                _ if updated_at.elapsed() < Duration::from_secs(knobs.reuse_interval_secs) => {
                    store.issue(session, Some(presented))
                }
                _ => {
                    // Reuse outside the interval: the whole family is revoked.
                    for t in store.refresh.values_mut().filter(|t| t.session == session) {
                        t.revoked = true;
                    }
                    return Err((
                        StatusCode::BAD_REQUEST,
                        "refresh_token_already_used",
                        "Invalid Refresh Token: Already Used",
                    ));
                }
            }
        } else {
            if let Some(old) = store.refresh.get_mut(presented) {
                old.revoked = true;
                old.updated_at = Instant::now();
            }
            store.issue(session, Some(presented))
        };
        Ok(self.session_json(&store, session, &next, knobs.refresh_expires_in))
    }

    /// `requireAuthentication`: the session and user of a valid, unexpired access token.
    fn caller(&self, headers: &HeaderMap) -> Result<(Option<Uuid>, Uuid), Refusal> {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return Err((
                StatusCode::UNAUTHORIZED,
                "no_authorization",
                "This endpoint requires a valid Bearer token",
            ));
        };
        const BAD_JWT: Refusal = (
            StatusCode::FORBIDDEN,
            "bad_jwt",
            "invalid JWT: unable to parse or verify signature",
        );
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&["authenticated"]);
        validation.leeway = 0;
        let key = jsonwebtoken::DecodingKey::from_secret(&self.secret);
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|_| BAD_JWT)?
            .claims;
        let user: Uuid = claims["sub"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or(BAD_JWT)?;
        let session: Option<Uuid> = claims["session_id"].as_str().and_then(|s| s.parse().ok());
        let store = lock(&self.store);
        match store.users.get(&user) {
            None => {
                return Err((
                    StatusCode::FORBIDDEN,
                    "user_not_found",
                    "User from sub claim in JWT does not exist",
                ));
            }
            Some(u) if u.banned => return Err((StatusCode::FORBIDDEN, "user_banned", "User is banned")),
            Some(_) => {}
        }
        if session.is_some_and(|s| !store.sessions.contains_key(&s)) {
            return Err((
                StatusCode::FORBIDDEN,
                "session_not_found",
                "Session from session_id claim in JWT does not exist",
            ));
        }
        Ok((session, user))
    }

    fn logout(&self, headers: &HeaderMap, scope: &str) -> Result<(), Refusal> {
        let (session, user) = self.caller(headers)?;
        let mut store = lock(&self.store);
        // Without a session_id claim, every scope falls back to global.
        match (scope, session) {
            ("global" | "", _) | (_, None) => store.delete_sessions(|_, u| *u == user),
            ("local", Some(session)) => store.delete_sessions(|id, _| *id == session),
            ("others", Some(session)) => store.delete_sessions(|id, u| *u == user && *id != session),
            _ => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "validation_failed",
                    "Unsupported logout scope",
                ));
            }
        }
        Ok(())
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

/// `crypto.SecureAlphanumeric(12)`: 12 characters of lowercase base32.
fn new_refresh_token() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    Uuid::new_v4().as_bytes()[..12]
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect()
}

/// Whether the request asked for API version 2024-01-01 or later
/// (`DetermineClosestAPIVersion`: a `YYYY-MM-DD` date; anything else is the initial version).
fn asks_versioned(headers: &HeaderMap) -> bool {
    headers
        .get("x-supabase-api-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.len() == 10 && v.as_bytes()[4] == b'-' && v.as_bytes()[7] == b'-' && v >= API_VERSION
        })
}

/// `HandleResponseError` for an `HTTPError`, in the shape the request asked for.
fn gotrue_error(request: &HeaderMap, status: StatusCode, code: &str, msg: &str) -> Response {
    let shape = if asks_versioned(request) {
        Shape::Versioned
    } else {
        Shape::Initial
    };
    write_error(shape, true, status, code, msg)
}

fn write_error(shape: Shape, header: bool, status: StatusCode, code: &str, msg: &str) -> Response {
    // An empty code is filled in after the header is decided (`errors.go`).
    let filled = match code {
        "" if status.is_server_error() => "unexpected_failure",
        "" => "unknown",
        code => code,
    };
    let (status, body, versioned) = match shape {
        Shape::OAuth => (
            StatusCode::BAD_REQUEST,
            json!({"error": code, "error_description": msg}),
            false,
        ),
        Shape::Versioned | Shape::AsRequested => (status, json!({"code": filled, "message": msg}), true),
        Shape::Initial => {
            let mut body = json!({"code": status.as_u16(), "error_code": filled, "msg": msg});
            if status.is_server_error() {
                body["error_id"] = json!(Uuid::new_v4());
            }
            (status, body, false)
        }
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    if versioned {
        headers.insert("x-supabase-api-version", HeaderValue::from_static(API_VERSION));
    }
    if header
        && shape != Shape::OAuth
        && !code.is_empty()
        && let Ok(code) = HeaderValue::from_str(code)
    {
        headers.insert("x-sb-error-code", code);
    }
    response
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

/// The gateway's key check, and the knobs every token and logout answer goes through.
async fn gate(gotrue: &GoTrue, headers: &HeaderMap) -> Result<(), Response> {
    if headers.get("apikey").and_then(|v| v.to_str().ok()) != Some(gotrue.api_key.as_str()) {
        gotrue.counters.bad_api_key.fetch_add(1, Ordering::SeqCst);
        let body = json!({
            "message": "Invalid API key",
            "hint": "Double check your Supabase `anon` or `service_role` API key."
        });
        return Err((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    }
    let knobs = lock(&gotrue.knobs).clone();
    if knobs.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.delay_ms)).await;
    }
    match knobs.fail_status.and_then(|s| StatusCode::from_u16(s).ok()) {
        Some(status) => Err(gotrue_error(
            headers,
            status,
            "unexpected_failure",
            "failure knob",
        )),
        None => Ok(()),
    }
}

/// A query parameter's value (the double's parameters need no decoding).
fn param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// `retrieveRequestParams`: the JSON body, or 400 `bad_json`.
fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|_| {
        Box::new(gotrue_error(
            headers,
            StatusCode::BAD_REQUEST,
            "bad_json",
            "Could not parse request body as JSON",
        ))
    })
}

async fn token(State(gotrue): Shared, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let grant = param(&uri, "grant_type").unwrap_or("");
    if grant == "refresh_token" {
        gotrue.counters.refresh.fetch_add(1, Ordering::SeqCst);
    }
    if let Err(response) = gate(&gotrue, &headers).await {
        return response;
    }
    let body = match json_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    match grant {
        "refresh_token" => {
            let forced = lock(&gotrue.knobs).refresh_error.clone();
            if let Some(e) = forced {
                let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let shape = match e.shape {
                    Shape::AsRequested if asks_versioned(&headers) => Shape::Versioned,
                    Shape::AsRequested => Shape::Initial,
                    other => other,
                };
                let mut response = write_error(shape, e.header, status, &e.code, &e.message);
                if let Some(secs) = e.retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                return response;
            }
            let presented = body["refresh_token"].as_str().unwrap_or("");
            match gotrue.refresh(presented) {
                Ok(session) => Json(session).into_response(),
                Err((status, code, msg)) => gotrue_error(&headers, status, code, msg),
            }
        }
        "password" => {
            gotrue.counters.sign_in.fetch_add(1, Ordering::SeqCst);
            match body["email"].as_str() {
                Some(email) => Json(gotrue.sign_in(email, json!({}))).into_response(),
                None => gotrue_error(
                    &headers,
                    StatusCode::BAD_REQUEST,
                    "validation_failed",
                    "email required",
                ),
            }
        }
        _ => gotrue_error(
            &headers,
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
            "unsupported_grant_type",
        ),
    }
}

async fn signup(State(gotrue): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = gate(&gotrue, &headers).await {
        return response;
    }
    let body = match json_body(&headers, &body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    gotrue.counters.sign_in.fetch_add(1, Ordering::SeqCst);
    match body["email"].as_str() {
        Some(email) => {
            let metadata = body.get("data").cloned().unwrap_or_else(|| json!({}));
            Json(gotrue.sign_in(email, metadata)).into_response()
        }
        None => gotrue_error(
            &headers,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "email required",
        ),
    }
}

async fn logout(State(gotrue): Shared, uri: Uri, headers: HeaderMap) -> Response {
    gotrue.counters.logout.fetch_add(1, Ordering::SeqCst);
    if let Err(response) = gate(&gotrue, &headers).await {
        return response;
    }
    match gotrue.logout(&headers, param(&uri, "scope").unwrap_or("")) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err((status, code, msg)) => gotrue_error(&headers, status, code, msg),
    }
}

async fn user(State(gotrue): Shared, headers: HeaderMap) -> Response {
    if let Err(response) = gate(&gotrue, &headers).await {
        return response;
    }
    match gotrue.caller(&headers) {
        Ok((_, user)) => {
            let user = lock(&gotrue.store).users.get(&user).map(|u| u.json.clone());
            Json(user).into_response()
        }
        Err((status, code, msg)) => gotrue_error(&headers, status, code, msg),
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
