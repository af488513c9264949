//! Test scaffolding: a `TestApp` around `app()`, responses with typed helpers,
//! and tokens minted at test time with a per-app random secret.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum_supabase::testing::Token;
use axum_supabase_auth::config::Config;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const ISSUER: &str = "https://test.supabase.co/auth/v1";

/// A random HS256 secret, made fresh for each test app.
pub fn random_secret() -> String {
    format!(
        "test-secret-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub struct TestApp {
    pub config: Config,
    pub secret: String,
    router: Router,
}

impl TestApp {
    pub fn new() -> Self {
        Self::with_config(|_| {})
    }

    pub fn with_config(change: impl FnOnce(&mut Config)) -> Self {
        let secret = random_secret();
        let mut config = Config::for_tests(&secret);
        change(&mut config);
        Self::from_config(config, secret)
    }

    pub fn from_config(config: Config, secret: String) -> Self {
        let router = axum_supabase_auth::app(&config).unwrap();
        Self::from_router(config, secret, router)
    }

    pub fn from_router(config: Config, secret: String, router: Router) -> Self {
        Self {
            config,
            secret,
            router,
        }
    }

    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// A Supabase-shaped user token for this app's issuer, not yet signed.
    pub fn token(&self) -> Token {
        Token::user().issuer(ISSUER).email("ada@example.com")
    }

    /// Signs with this app's secret.
    pub fn sign(&self, token: Token) -> String {
        token.sign(self.secret.as_bytes()).unwrap()
    }

    /// A valid, signed token.
    pub fn valid_token(&self) -> String {
        self.sign(self.token())
    }

    pub async fn request(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.unwrap();
        TestResponse::from(response).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    pub async fn get_with_auth(&self, path: &str, authorization: &str) -> TestResponse {
        self.request(
            Request::get(path)
                .header(header::AUTHORIZATION, authorization)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> TestResponse {
        self.get_with_auth(path, &format!("Bearer {token}")).await
    }
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub async fn from(response: axum::response::Response) -> Self {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes().to_vec();
        Self {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the standard JSON error shape, with its status and challenge.
    pub fn assert_error(&self, status: StatusCode, error: &str, description: &str) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        assert_eq!(body["error"], error, "body: {body}");
        assert_eq!(body["error_description"], description, "body: {body}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "body: {body}");
    }

    /// Asserts an RFC 6750 rejection: status, `WWW-Authenticate` and body agree.
    pub fn assert_bearer_error(&self, status: StatusCode, code: &str, description: &str) {
        self.assert_error(status, code, description);
        let expected = format!("Bearer realm=\"api\", error=\"{code}\", error_description=\"{description}\"");
        assert_eq!(self.header("www-authenticate"), Some(expected.as_str()));
    }

    /// Asserts the bare 401 challenge sent when no credentials came.
    pub fn assert_no_credentials(&self, description: &str) {
        self.assert_error(StatusCode::UNAUTHORIZED, "unauthorized", description);
        assert_eq!(self.header("www-authenticate"), Some("Bearer realm=\"api\""));
    }
}

/// One `GET` over a fresh TCP connection: the status, or 0 if the connection was
/// refused, closed before an answer, or gave none within 5 s.
pub async fn status_of(addr: impl tokio::net::ToSocketAddrs, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read).await;
    String::from_utf8_lossy(&response)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Polls `status_of` every 20 ms until it is `want` or `within` has passed; returns the last status.
pub async fn status_within(
    addr: impl tokio::net::ToSocketAddrs + Copy,
    path: &str,
    want: u16,
    within: std::time::Duration,
) -> u16 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let status = status_of(addr, path).await;
        if status == want || tokio::time::Instant::now() >= deadline {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
