//! Cookie-session scaffolding: the app in cookie mode against the GoTrue test
//! double, cookies built as `@supabase/ssr` writes them, and `Set-Cookie` read back.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, header};
use axum_supabase::session::SessionCookies;
use axum_supabase_auth::config::Config;
use axum_supabase_auth::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

pub(crate) use crate::gotrue_double::GoTrue;
use crate::helpers::{TestApp, TestResponse, random_secret};

pub const API_KEY: &str = "sb_publishable_test-double-key";
pub const ALLOWED: &str = "http://app.test";
/// `sb-<first label of 127.0.0.1>-auth-token`.
pub const NAME: &str = "sb-127-auth-token";

pub struct CookieApp {
    pub app: TestApp,
    pub gotrue: Arc<GoTrue>,
    pub url: String,
    pub state: AppState,
}

/// The app with `SESSION_COOKIES=on` semantics, its project URL the double's.
pub async fn cookie_app() -> CookieApp {
    cookie_app_with(|_| {}).await
}

pub async fn cookie_app_with(
    change: impl FnOnce(&mut axum_supabase::session::SessionCookiesBuilder),
) -> CookieApp {
    cookie_app_configured(change, |_| {}).await
}

/// [`cookie_app_with`], with a last change to the whole configuration.
pub async fn cookie_app_configured(
    change: impl FnOnce(&mut axum_supabase::session::SessionCookiesBuilder),
    last: impl FnOnce(&mut Config),
) -> CookieApp {
    let secret = random_secret();
    let gotrue = GoTrue::new(secret.as_bytes(), API_KEY);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = gotrue.serve(listener).await.unwrap();
    let (app, state) = app_and_state(&url, &secret, change, last);
    CookieApp {
        app,
        gotrue,
        url,
        state,
    }
}

/// The app for a project at `url` (which may be a double, or nothing at all).
pub fn app_for(
    url: &str,
    secret: &str,
    change: impl FnOnce(&mut axum_supabase::session::SessionCookiesBuilder),
) -> TestApp {
    app_with_config(url, secret, change, |_| {})
}

/// [`app_for`], with a last change to the whole configuration (a database, say).
pub fn app_with_config(
    url: &str,
    secret: &str,
    change: impl FnOnce(&mut axum_supabase::session::SessionCookiesBuilder),
    last: impl FnOnce(&mut Config),
) -> TestApp {
    app_and_state(url, secret, change, last).0
}

/// [`app_with_config`], and the state it serves, to look inside.
pub fn app_and_state(
    url: &str,
    secret: &str,
    change: impl FnOnce(&mut axum_supabase::session::SessionCookiesBuilder),
    last: impl FnOnce(&mut Config),
) -> (TestApp, AppState) {
    let mut config = Config::for_tests(secret);
    config.auth.project_url(url);
    config.cors_allowed_origins = vec![ALLOWED.parse().unwrap()];
    let mut sessions = SessionCookies::builder();
    sessions.api_key(API_KEY).allowed_origins([ALLOWED]);
    change(&mut sessions);
    config.sessions = Some(sessions);
    last(&mut config);
    let state = AppState::new(&config).unwrap();
    state.verifier.start();
    let router = axum_supabase_auth::startup::app_with_state(state.clone(), &config);
    (TestApp::from_router(config, secret.to_owned(), router), state)
}

/// The `Cookie` header `@supabase/ssr` sends for `session`: one cookie, or
/// chunks of 3180 characters.
pub fn cookie_header(session: &Value) -> String {
    let value = format!("base64-{}", URL_SAFE_NO_PAD.encode(session.to_string()));
    if value.len() <= 3180 {
        return format!("{NAME}={value}");
    }
    let chunks: Vec<String> = value
        .as_bytes()
        .chunks(3180)
        .enumerate()
        .map(|(i, c)| format!("{NAME}.{i}={}", std::str::from_utf8(c).unwrap()))
        .collect();
    chunks.join("; ")
}

pub fn request(method: Method, path: &str, cookie: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "api.test");
    if !cookie.is_empty() {
        builder = builder.header(header::COOKIE, cookie);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

impl CookieApp {
    /// A new signed-in session at the double.
    pub fn sign_in(&self, email: &str) -> Value {
        self.gotrue.sign_in(email, serde_json::json!({}))
    }

    pub async fn get(&self, path: &str, cookie: &str) -> TestResponse {
        self.app.request(request(Method::GET, path, cookie, &[])).await
    }

    pub async fn post(&self, path: &str, cookie: &str, headers: &[(&str, &str)]) -> TestResponse {
        self.app
            .request(request(Method::POST, path, cookie, headers))
            .await
    }

    /// A sign-out POST (`path` may carry `?scope=`) with `session`'s cookie, from the allowed origin.
    pub async fn sign_out(&self, path: &str, session: &Value) -> TestResponse {
        self.post(path, &cookie_header(session), &[("origin", ALLOWED)])
            .await
    }
}

/// Every `Set-Cookie` line.
pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The session the `Set-Cookie` lines store, joined and decoded as a browser
/// would after applying them (deletions drop cookies).
pub fn session_from(set_cookies: &[String]) -> Option<Value> {
    let mut whole = None;
    let mut chunks: Vec<(usize, String)> = Vec::new();
    for line in set_cookies {
        let pair = line.split(';').next().unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        if value.is_empty() {
            continue;
        }
        if name == NAME {
            whole = Some(value.to_owned());
        } else if let Some(i) = name.strip_prefix(&format!("{NAME}.")) {
            chunks.push((i.parse().unwrap(), value.to_owned()));
        }
    }
    chunks.sort();
    let value =
        whole.or_else(|| (!chunks.is_empty()).then(|| chunks.into_iter().map(|(_, v)| v).collect()))?;
    let json = URL_SAFE_NO_PAD.decode(value.strip_prefix("base64-")?).ok()?;
    serde_json::from_slice(&json).ok()
}

/// The headers `@supabase/ssr` sends with every response that sets session cookies.
pub fn assert_no_store(response: &TestResponse) {
    assert_eq!(
        response.header("cache-control"),
        Some("private, no-cache, no-store, must-revalidate, max-age=0")
    );
    assert_eq!(response.header("expires"), Some("0"));
    assert_eq!(response.header("pragma"), Some("no-cache"));
}

/// A browser's cookie jar: the cookies a request sent, then every
/// `Set-Cookie` applied in order (an empty value or `Max-Age=0` deletes).
#[derive(Debug, Clone, Default)]
pub struct Jar(std::collections::BTreeMap<String, String>);

impl Jar {
    /// The jar that sent `cookie` (a `Cookie` header's value).
    pub fn from_header(cookie: &str) -> Self {
        Self(
            cookie
                .split("; ")
                .filter_map(|pair| pair.split_once('='))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// Applies the response's `Set-Cookie` lines in order.
    pub fn apply(&mut self, response: &TestResponse) -> &mut Self {
        for line in set_cookies(&response.headers) {
            let mut parts = line.split(';').map(str::trim);
            let (name, value) = parts.next().unwrap().split_once('=').unwrap();
            let deleted = value.is_empty() || parts.any(|p| p.eq_ignore_ascii_case("max-age=0"));
            if deleted {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
        self
    }

    /// The names of the session family held.
    pub fn session_names(&self) -> Vec<&str> {
        self.0
            .keys()
            .map(String::as_str)
            .filter(|n| *n == NAME || n.strip_prefix(NAME).is_some_and(|rest| rest.starts_with('.')))
            .collect()
    }

    /// The session the jar holds, read as `@supabase/ssr` reads it: the whole
    /// cookie, or else the chunks `.0`, `.1`, … up to the first gap.
    pub fn session(&self) -> Option<Value> {
        let value = match self.0.get(NAME) {
            Some(whole) => whole.clone(),
            None => (0..)
                .map_while(|i| self.0.get(&format!("{NAME}.{i}")))
                .map(String::as_str)
                .collect::<String>(),
        };
        let json = URL_SAFE_NO_PAD.decode(value.strip_prefix("base64-")?).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// The `Cookie` header this jar sends.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}
