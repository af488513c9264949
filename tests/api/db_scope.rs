//! The scoped transaction itself: what it sets, and that nothing outlives it
//! (pool reuse, clients that leave, signed-out sessions, outages).

use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use axum_supabase::db::{Database, DbError, RequireActiveSession, Rls};
use serde_json::{Value, json};

use crate::db_support::*;
use crate::helpers::{TestApp, TestResponse};
use crate::pg_support::{Cluster, TestDb, prepare};

/// What the transaction sees of itself.
async fn whoami(rls: Rls) -> Result<axum::Json<Value>, DbError> {
    rls.run(async |tx| {
        let r = tx
            .query_one(
                "select current_user::text, auth.uid()::text, auth.role(), auth.email(), auth.jwt()::text, \
                 current_setting('request.method'), current_setting('request.path'), \
                 current_setting('transaction_read_only'), current_setting('transaction_isolation'), \
                 current_setting('statement_timeout')",
                &[],
            )
            .await?;
        let text = |i: usize| r.try_get::<_, Option<String>>(i).map(Value::from);
        Ok(axum::Json(json!({
            "current_user": text(0)?, "uid": text(1)?, "role": text(2)?, "email": text(3)?,
            "jwt": serde_json::from_str::<Value>(&r.try_get::<_, String>(4)?).unwrap_or_default(),
            "method": text(5)?, "path": text(6)?, "read_only": text(7)?, "isolation": text(8)?,
            "statement_timeout": text(9)?,
        })))
    })
    .await
}

/// Writes a row, then sleeps: a transaction a client can walk away from.
async fn write_then_sleep(rls: Rls) -> Result<(), DbError> {
    rls.run(async |tx| {
        tx.query("insert into public.todos (title) values ('left behind')", &[])
            .await?;
        tx.query("select pg_sleep(30)", &[]).await?;
        Ok(())
    })
    .await
}

/// Writes a row, then panics with the transaction open.
async fn write_then_panic(rls: Rls) -> Result<(), DbError> {
    rls.run(async |tx| {
        tx.query(
            "insert into public.todos (title) values ('written before a panic')",
            &[],
        )
        .await?;
        panic!("a handler bug, mid-transaction");
    })
    .await
}

async fn hold(rls: Rls) -> Result<(), DbError> {
    rls.run(async |tx| tx.query("select pg_sleep(3)", &[]).await.map(drop))
        .await
}

async fn active(user: RequireActiveSession) -> String {
    user.sub().to_string()
}

/// A library-only app: the auth layer (optional), the database layer, and the routes above.
fn scope_app(
    app: &TestApp,
    db: &TestDb,
    pool: usize,
    change: impl FnOnce(&mut axum_supabase::db::DatabaseBuilder),
) -> Router {
    let auth = app.config.auth.build().unwrap();
    let mut b = Database::builder();
    b.url(db.server_url());
    b.pool_size(pool).acquire_timeout(Duration::from_millis(500));
    change(&mut b);
    let database = b.build().unwrap();
    Router::new()
        .route("/whoami", get(whoami).post(whoami))
        .route("/sleep", post(write_then_sleep))
        .route("/hold", get(hold))
        .route("/panic", post(write_then_panic))
        .route("/active", get(active))
        .route("/debug", get(async |rls: Rls| format!("{rls:?}")))
        .route_layer(auth.optional_layer())
        .layer(database.layer())
}

async fn send(router: &Router, method: Method, path: &str, token: Option<&str>) -> TestResponse {
    send_to(router, method, path, token, None).await
}

#[tokio::test]
async fn the_scope_sets_what_postgrest_sets() {
    let db = TestDb::new().await;
    let app = TestApp::new();
    let router = scope_app(&app, &db, 1, |_| {});
    let u = user_with(&app, |t| t.claim("tenant", "acme"));
    let r = send(&router, Method::GET, "/whoami", Some(&u.token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = r.json();
    assert_eq!(seen["current_user"], "authenticated");
    assert_eq!(seen["uid"], u.id.to_string());
    assert_eq!(seen["role"], "authenticated");
    assert_eq!(seen["email"], format!("{}@example.com", u.id.simple()));
    assert_eq!(
        (seen["method"].as_str(), seen["path"].as_str()),
        (Some("GET"), Some("/whoami"))
    );
    assert_eq!(
        (seen["read_only"].as_str(), seen["isolation"].as_str()),
        (Some("on"), Some("read committed"))
    );
    assert_eq!(seen["statement_timeout"], "5s");
    // Every claim of the verified payload, as signed.
    let payload = u.token.split('.').nth(1).unwrap();
    let payload: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    assert_eq!(seen["jwt"], payload);
    assert_eq!(seen["jwt"]["tenant"], "acme");

    let r = send(&router, Method::POST, "/whoami", Some(&u.token)).await;
    assert_eq!(r.json()["read_only"], "off");

    // The same connection, next request, no token: anon, and nothing of the user left.
    let r = send(&router, Method::GET, "/whoami", None).await;
    let seen = r.json();
    assert_eq!(seen["current_user"], "anon");
    assert_eq!(seen["uid"], Value::Null);
    assert_eq!(seen["jwt"], json!({ "role": "anon" }));
    // Outside any scope the connection is `authenticator` again, whose own
    // grants allow reading auth.sessions; as `authenticated` this would fail.
    add_session(&db.admin().await, &u).await;
    let r = send(&router, Method::GET, "/active", Some(&u.token)).await;
    assert_eq!((r.status, r.text()), (StatusCode::OK, u.id.to_string()));
}

#[tokio::test]
async fn fifty_users_twenty_requests_each_over_three_connections() {
    let db = TestDb::new().await;
    let app = app_on(&db, 3, |b| {
        b.acquire_timeout(Duration::from_secs(20));
    });
    let mut users = Vec::new();
    for i in 0..50 {
        let u = user(&app);
        let id = create(&app, &u, &format!("todo of user {i}"), false).await;
        users.push((u.token, id));
    }
    let router = app.router();
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..20 {
        for (token, id) in &users {
            let (router, token, id) = (router.clone(), token.clone(), *id);
            let method = if round % 5 == 4 {
                Method::PATCH
            } else {
                Method::GET
            };
            tasks.spawn(async move {
                let (path, body) = match method {
                    Method::PATCH => (
                        format!("/api/todos/{id}"),
                        Some(json!({ "done": round % 2 == 0 })),
                    ),
                    _ => ("/api/todos".to_owned(), None),
                };
                let r = send_to(&router, method, &path, Some(&token), body).await;
                assert_eq!(r.status, 200, "{}", r.text());
                let body = r.json();
                let rows = body.as_array().cloned().unwrap_or_else(|| vec![body.clone()]);
                assert_eq!(ids(&rows), [id], "a response showed another user's rows");
            });
        }
    }
    let mut done = 0;
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
        done += 1;
    }
    assert_eq!(done, 1000);
    assert_eq!(open_transactions(&db).await, 0);
}

#[tokio::test]
async fn a_client_that_leaves_mid_transaction_leaves_nothing_behind() {
    let db = TestDb::new().await;
    let app = TestApp::new();
    let router = scope_app(&app, &db, 1, |_| {});
    let u = user(&app);
    let (r2, token) = (router.clone(), u.token.clone());
    let request = tokio::spawn(async move { send(&r2, Method::POST, "/sleep", Some(&token)).await });
    // Wait until the write is in and the sleep has begun, then leave.
    let admin = db.admin().await;
    for _ in 0..100 {
        let n: i64 = admin
            .query_one(
                "select count(*) from pg_stat_activity where query like 'select pg_sleep(30)%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    request.abort();
    let open = settled_open_transactions(&db).await;
    assert_eq!(open, 0, "the abandoned transaction is still open");
    assert!(
        all_rows(&db).await.is_empty(),
        "the abandoned write was committed"
    );
    // The pool's one connection was closed, not reused; a new one serves.
    let r = send(&router, Method::GET, "/whoami", Some(&u.token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn signed_out_sessions_are_refused_before_their_token_expires() {
    let db = TestDb::new().await;
    let app = app_on(&db, 2, |b| {
        b.session_check(true);
    });
    let admin = db.admin().await;
    let add = async |u: &User, not_after: &str| {
        admin
            .batch_execute(&format!(
                "insert into auth.sessions (id, user_id, not_after) values ('{}', '{}', {not_after})",
                u.session, u.id
            ))
            .await
            .unwrap();
    };
    let (a, b, c) = (user(&app), user(&app), user(&app));
    add(&a, "null").await;
    add(&b, "now() - interval '1 minute'").await;
    add(&c, "now() + interval '1 hour'").await;
    assert_eq!(list(&app, Some(&a.token)).await.len(), 0);
    assert_eq!(list(&app, Some(&c.token)).await.len(), 0);
    let ended =
        |r: TestResponse| r.assert_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "session ended");
    ended(call(&app, Method::GET, "/api/todos", Some(&b.token), None).await);
    // Sign-out: GoTrue deletes the row; the unexpired token stops working at once.
    admin
        .execute("delete from auth.sessions where id = $1", &[&a.session])
        .await
        .unwrap();
    ended(call(&app, Method::GET, "/api/todos", Some(&a.token), None).await);
    ended(
        call(
            &app,
            Method::POST,
            "/api/todos",
            Some(&a.token),
            Some(json!({ "title": "after sign-out" })),
        )
        .await,
    );
    let no_session = user_with(&app, |t| t.without("session_id"));
    ended(call(&app, Method::GET, "/api/todos", Some(&no_session.token), None).await);
    // Anonymous requests have no session to check.
    assert!(list(&app, None).await.is_empty());
    assert!(all_rows(&db).await.is_empty());
    assert_eq!(open_transactions(&db).await, 0);
}

#[tokio::test]
async fn require_active_session_trusts_an_answer_for_its_ttl_only() {
    let db = TestDb::new().await;
    let app = TestApp::new();
    let cached = scope_app(&app, &db, 1, |_| {});
    let uncached = scope_app(&app, &db, 1, |b| {
        b.session_cache_ttl(Duration::ZERO);
    });
    let u = user(&app);
    let admin = db.admin().await;
    let r = send(&uncached, Method::GET, "/active", Some(&u.token)).await;
    r.assert_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "session ended");
    add_session(&admin, &u).await;
    for router in [&cached, &uncached] {
        assert_eq!(
            send(router, Method::GET, "/active", Some(&u.token)).await.status,
            200
        );
    }
    admin
        .execute("delete from auth.sessions where id = $1", &[&u.session])
        .await
        .unwrap();
    let r = send(&uncached, Method::GET, "/active", Some(&u.token)).await;
    r.assert_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "session ended");
    // Within the 5 s default the cached answer stands: the documented bound.
    assert_eq!(
        send(&cached, Method::GET, "/active", Some(&u.token)).await.status,
        200
    );
    let r = send(&cached, Method::GET, "/active", None).await;
    r.assert_no_credentials("missing bearer token");
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_quickly_instead_of_hanging() {
    let db = TestDb::new().await;
    let app = TestApp::new();
    let router = scope_app(&app, &db, 1, |_| {});
    let u = user(&app);
    let (r2, token) = (router.clone(), u.token.clone());
    let holder = tokio::spawn(async move { send(&r2, Method::GET, "/hold", Some(&token)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = tokio::time::timeout(
        Duration::from_secs(2),
        send(&router, Method::GET, "/whoami", Some(&u.token)),
    )
    .await
    .expect("a request for a connection hung");
    r.assert_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database is unavailable; retry shortly",
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(holder.await.unwrap().status, 200);
}

#[tokio::test]
async fn a_database_restart_is_503_then_recovers_without_a_server_restart() {
    // Commits reach the WAL before they are acknowledged, so the crash loses none.
    let cluster = Cluster::start(&["synchronous_commit=on"]).unwrap();
    let db = TestDb::create_on(cluster.server.clone(), false).await;
    prepare(&db.server, &db.name).await;
    let app = app_on(&db, 2, |_| {});
    let u = user(&app);
    create(&app, &u, "before", false).await;
    assert_eq!(app.get("/readyz").await.status, 200);

    cluster.pg_ctl_stop();
    let r = call(&app, Method::GET, "/api/todos", Some(&u.token), None).await;
    r.assert_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database is unavailable; retry shortly",
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    // Readiness keeps a ping's answer for a second: it follows within that.
    let ready = readiness_within(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        (ready.status, ready.json()["database"]["reachable"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!(false))
    );
    assert_eq!(
        app.get_bearer("/api/me", &u.token).await.status,
        200,
        "/api/me needs no database"
    );

    cluster.pg_ctl_start().unwrap();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        status = call(&app, Method::GET, "/api/todos", Some(&u.token), None)
            .await
            .status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "no recovery after the database came back");
    assert_eq!(list(&app, Some(&u.token)).await.len(), 1);
    assert_eq!(readiness_within(&app, StatusCode::OK).await.status, 200);
    cluster.stop();
}

/// `/readyz` once it answers `want`, polled for at most 3 s.
async fn readiness_within(app: &TestApp, want: StatusCode) -> crate::helpers::TestResponse {
    let mut ready = app.get("/readyz").await;
    for _ in 0..30 {
        if ready.status == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        ready = app.get("/readyz").await;
    }
    ready
}

#[tokio::test]
async fn a_handler_that_panics_mid_transaction_commits_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::new();
    let router = scope_app(&app, &db, 1, |_| {});
    let u = user(&app);
    let (r2, token) = (router.clone(), u.token.clone());
    let outcome = tokio::spawn(async move { send(&r2, Method::POST, "/panic", Some(&token)).await }).await;
    assert!(outcome.is_err_and(|e| e.is_panic()));
    let open = settled_open_transactions(&db).await;
    assert_eq!(open, 0, "the panicked transaction is still open");
    assert!(
        all_rows(&db).await.is_empty(),
        "the write before the panic was committed"
    );
    let r = send(&router, Method::GET, "/whoami", Some(&u.token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The session check is bounded as the scoped transaction is: with
/// `auth.sessions` locked by someone else, it gives up at the statement
/// timeout (503 `database_timeout`) instead of waiting for the lock.
#[tokio::test]
async fn the_session_check_has_the_statement_timeout() {
    let db = TestDb::new().await;
    let app = TestApp::new();
    let router = scope_app(&app, &db, 1, |b| {
        b.session_cache_ttl(Duration::ZERO)
            .statement_timeout(Duration::from_millis(200));
    });
    let u = user(&app);
    let admin = db.admin().await;
    add_session(&admin, &u).await;
    admin
        .batch_execute("begin; lock table auth.sessions in access exclusive mode")
        .await
        .unwrap();
    let answered = tokio::time::timeout(
        Duration::from_secs(5),
        send(&router, Method::GET, "/active", Some(&u.token)),
    )
    .await;
    admin.batch_execute("rollback").await.unwrap();
    let r = answered.expect("the session check waited for the lock");
    r.assert_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_timeout",
        "the database took too long; retry shortly",
    );
    // The connection it used was not pooled again in an unknown state.
    assert_eq!(
        send(&router, Method::GET, "/active", Some(&u.token)).await.status,
        200
    );
}

/// `Rls` and `Tx` in a `Debug` (a panic message, an error chain) show the role
/// and the caller's id, never the email or the claims they carry.
#[tokio::test]
async fn the_scope_shows_no_claims_in_debug() {
    let db = TestDb::new().await;
    let app = TestApp::new();
    let router = scope_app(&app, &db, 1, |_| {});
    let u = user_with(&app, |t| t.claim("tenant", "acme-secret-tenant"));
    let r = send(&router, Method::GET, "/debug", Some(&u.token)).await;
    assert_eq!(r.status, 200);
    let debug = r.text();
    assert!(
        debug.contains("authenticated") && debug.contains(&u.id.to_string()),
        "{debug}"
    );
    for private in ["@example.com", "acme-secret-tenant", "eyJ"] {
        assert!(!debug.contains(private), "{private} in {debug}");
    }
}
