//! HTTP helpers for the database tests: an app on a test database, users
//! with tokens, JSON requests.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, header};
use axum_supabase::db::Database;
use axum_supabase::testing::Token;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{ISSUER, TestApp, TestResponse};
use crate::pg_support::TestDb;

/// A signed-in user of a test app.
pub struct User {
    pub id: Uuid,
    pub session: Uuid,
    pub token: String,
}

pub fn user(app: &TestApp) -> User {
    user_with(app, |t| t)
}

pub fn user_with(app: &TestApp, change: impl FnOnce(Token) -> Token) -> User {
    let (id, session) = (Uuid::new_v4(), Uuid::new_v4());
    let token = change(
        Token::user()
            .issuer(ISSUER)
            .subject(id)
            .email(&format!("{}@example.com", id.simple()))
            .claim("session_id", session.to_string()),
    );
    User {
        id,
        session,
        token: app.sign(token),
    }
}

/// The server app on `db`, connecting as `authenticator` with `pool` connections.
pub fn app_on(
    db: &TestDb,
    pool: usize,
    change: impl FnOnce(&mut axum_supabase::db::DatabaseBuilder),
) -> TestApp {
    TestApp::with_config(|c| {
        let mut b = Database::builder();
        b.url(db.server_url());
        b.pool_size(pool).acquire_timeout(Duration::from_secs(2));
        change(&mut b);
        c.database = Some(b);
    })
}

/// Sends one request through `router` (an app's, or a library-only one).
pub async fn send_to(
    router: &axum::Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> TestResponse {
    use tower::ServiceExt;
    let r = router
        .clone()
        .oneshot(request(method, path, token, body))
        .await
        .unwrap();
    TestResponse::from(r).await
}

pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> TestResponse {
    app.request(request(method, path, token, body)).await
}

pub fn request(method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    match body {
        Some(b) => r
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => r.body(Body::empty()).unwrap(),
    }
}

/// Creates a todo as `user` and returns its id.
pub async fn create(app: &TestApp, user: &User, title: &str, public: bool) -> i64 {
    let r = call(
        app,
        Method::POST,
        "/api/todos",
        Some(&user.token),
        Some(serde_json::json!({ "title": title, "is_public": public })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

pub async fn list(app: &TestApp, token: Option<&str>) -> Vec<Value> {
    let r = call(app, Method::GET, "/api/todos", token, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().as_array().unwrap().clone()
}

pub fn ids(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

/// Every todo as the superuser sees it: (id, user_id, title, done, is_public).
pub async fn all_rows(db: &TestDb) -> Vec<(i64, Uuid, String, bool, bool)> {
    let admin = db.admin().await;
    admin
        .query(
            "select id, user_id, title, done, is_public from public.todos order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

/// Connections of this test's database that sit inside a transaction.
pub async fn open_transactions(db: &TestDb) -> i64 {
    let admin = db.admin().await;
    admin
        .query_one(
            "select count(*) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid() \
             and (state like 'idle in transaction%' or (state = 'active' and backend_type = 'client backend'))",
            &[&db.name],
        )
        .await
        .unwrap()
        .get(0)
}

/// Gives `user` a live `auth.sessions` row, as GoTrue does at sign-in.
pub async fn add_session(admin: &axum_supabase::db::tokio_postgres::Client, user: &User) {
    admin
        .execute(
            "insert into auth.sessions (id, user_id) values ($1, $2)",
            &[&user.session, &user.id],
        )
        .await
        .unwrap();
}

/// Waits up to 5 s for the database's open transactions to end, and returns
/// how many are still open (0 once they have).
pub async fn settled_open_transactions(db: &TestDb) -> i64 {
    let mut open = -1;
    for _ in 0..100 {
        open = open_transactions(db).await;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    open
}
