//! The scoped transaction through PgBouncer in transaction mode, as through
//! Supavisor on port 6543: server connections are shared between client
//! sessions between transactions, so nothing (role, claims, a prepared
//! statement) may outlive one.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::db_support::*;
use crate::helpers::TestApp;
use crate::pg_support::{Bouncer, TestDb};

fn app_through(bouncer: &Bouncer, db: &TestDb, pool: usize, session_check: bool) -> TestApp {
    TestApp::with_config(|c| {
        let mut b = axum_supabase::db::Database::builder();
        b.url(bouncer.server_url(db));
        b.pool_size(pool)
            .acquire_timeout(Duration::from_secs(20))
            .session_check(session_check);
        c.database = Some(b);
    })
}

#[tokio::test]
async fn isolation_holds_through_a_transaction_mode_pooler() {
    let db = TestDb::new().await;
    // Six client connections share two server connections.
    let bouncer = Bouncer::start(&db.server, 2).unwrap();
    let app = app_through(&bouncer, &db, 6, true);
    let admin = db.admin().await;
    let mut users = Vec::new();
    for i in 0..20 {
        let u = user(&app);
        add_session(&admin, &u).await;
        let id = create(&app, &u, &format!("todo {i}"), i % 10 == 0).await;
        users.push((u, id));
    }
    let public: Vec<i64> = users
        .iter()
        .filter(|(_, id)| (id - 1) % 10 == 0)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(ids(&list(&app, None).await), public);
    let router = app.router();
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..10 {
        for (u, id) in &users {
            let (router, token, id, public) = (router.clone(), u.token.clone(), *id, public.clone());
            tasks.spawn(async move {
                let (method, path, body) = match round % 3 {
                    0 => (
                        Method::PATCH,
                        format!("/api/todos/{id}"),
                        Some(json!({ "done": true })),
                    ),
                    1 => (Method::GET, format!("/api/todos/{id}"), None),
                    _ => (Method::GET, "/api/todos".to_owned(), None),
                };
                let r = send_to(&router, method, &path, Some(&token), body).await;
                assert_eq!(r.status, 200, "{}", r.text());
                let body = r.json();
                let mut expected: Vec<i64> = match body.as_array() {
                    Some(_) => public.clone(),
                    None => vec![],
                };
                if !expected.contains(&id) {
                    expected.push(id);
                }
                expected.sort();
                let rows = body.as_array().cloned().unwrap_or_else(|| vec![body.clone()]);
                assert_eq!(ids(&rows), expected, "a response showed another user's rows");
            });
        }
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
    // No prepared statement was left on the shared server connections.
    let shared = crate::pg_support::connect(&bouncer.server_url(&db)).await;
    for _ in 0..6 {
        let rows = shared
            .simple_query("select count(*) from pg_prepared_statements")
            .await
            .unwrap();
        let count = rows.iter().find_map(|m| match m {
            axum_supabase::db::tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        });
        assert_eq!(count.as_deref(), Some("0"));
    }
    // Signing out works through the pooler too.
    let (a, a_id) = &users[1];
    admin
        .execute("delete from auth.sessions where id = $1", &[&a.session])
        .await
        .unwrap();
    let r = call(
        &app,
        Method::GET,
        &format!("/api/todos/{a_id}"),
        Some(&a.token),
        None,
    )
    .await;
    r.assert_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "session ended");
    let (b, _) = &users[2];
    let r = call(
        &app,
        Method::POST,
        "/api/todos",
        Some(&b.token),
        Some(json!({ "title": "" })),
    )
    .await;
    assert_eq!(
        r.status, 422,
        "a failed statement is rolled back and the pooler stays usable"
    );
    assert_eq!(list(&app, Some(&b.token)).await.len(), public.len() + 1);
    assert_eq!(open_transactions(&db).await, 0);
}

#[tokio::test]
async fn migrate_runs_through_the_pooler_and_is_idempotent() {
    let db = TestDb::new().await;
    let bouncer = Bouncer::start(&db.server, 1).unwrap();
    let url = format!(
        "postgresql://{}:{}@127.0.0.1:{}/{}",
        db.server.admin_user,
        db.server.admin_password.clone().unwrap_or_default(),
        bouncer.port,
        db.name
    );
    let mut settings = axum_supabase::db::Database::builder();
    settings.url(url);
    let client = axum_supabase_auth::migrate::connect(&settings).await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    // The template has them all already.
    let applied = axum_supabase_auth::migrate::migrate(&client, &dir).await.unwrap();
    assert!(applied.is_empty(), "{applied:?}");
}
