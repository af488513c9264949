//! Postgres over TLS with libpq's `sslmode`: a throwaway server with
//! `ssl=on` and a certificate for `localhost` signed by a CA made at test
//! time, and the plain shared server for the cases without TLS.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum_supabase::db::Database;
use axum_supabase::db::tokio_postgres::Client;

use crate::db_support::*;
use crate::helpers::TestApp;
use crate::pg_support::{Bouncer, Server, TestDb, connect};
use crate::tls_support::{Pki, root, tls_server, url};

fn app_with_url(url: String) -> TestApp {
    TestApp::with_config(|c| {
        let mut b = Database::builder();
        b.url(url);
        b.pool_size(3).acquire_timeout(Duration::from_secs(3));
        c.database = Some(b);
    })
}

/// (TLS, plain) connections `authenticator` has open to database `db`.
async fn sessions(admin: &Client, db: &str) -> (i64, i64) {
    let row = admin
        .query_one(
            "select count(*) filter (where s.ssl), count(*) filter (where not s.ssl) \
             from pg_stat_activity a join pg_stat_ssl s using (pid) \
             where a.usename = 'authenticator' and a.datname = $1",
            &[&db],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn admin_of(server: &Server, db: &str) -> Client {
    connect(&server.admin_url(db)).await
}

/// A 503 that names the TLS failure, on a todo route and on /readyz.
async fn assert_tls_refused(app: &TestApp) {
    let u = user(app);
    let r = call(app, Method::GET, "/api/todos", Some(&u.token), None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(
        r.json()["error_description"],
        "database TLS handshake failed",
        "{}",
        r.text()
    );
    assert!(r.headers.contains_key("retry-after"));
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.json()["database"]["error"],
        "database TLS handshake failed",
        "{}",
        ready.text()
    );
}

#[tokio::test]
async fn verify_full_with_the_right_ca_serves_every_pool_connection_over_tls() {
    let tls = tls_server().await;
    let query = format!("sslmode=verify-full&{}", root(&tls.pki.ca));
    let app = app_with_url(url(&tls.server, "localhost", "postgres", &query));
    let (a, b) = (user(&app), user(&app));
    let id = create(&app, &a, "over tls", false).await;
    // RLS as ever: the other user does not see it.
    assert!(ids(&list(&app, Some(&b.token)).await).iter().all(|i| *i != id));
    assert!(ids(&list(&app, Some(&a.token)).await).contains(&id));
    // Three at once: the pool opens more than one connection.
    let (x, y, z) = tokio::join!(
        list(&app, Some(&a.token)),
        list(&app, Some(&b.token)),
        list(&app, None)
    );
    assert!(!x.is_empty() && y.iter().all(|r| r["id"] != id) && z.iter().all(|r| r["id"] != id));
    let admin = admin_of(&tls.server, "postgres").await;
    let (secure, plain) = sessions(&admin, "postgres").await;
    assert!(secure >= 1 && plain == 0, "tls {secure}, plain {plain}");
    assert_eq!(app.get("/readyz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn another_ca_gets_no_connection() {
    let tls = tls_server().await;
    let query = format!("sslmode=verify-full&{}", root(&tls.pki.other_ca));
    let app = app_with_url(url(&tls.server, "localhost", "postgres", &query));
    assert_tls_refused(&app).await;
}

#[tokio::test]
async fn a_name_mismatch_fails_verify_full_and_passes_verify_ca() {
    let tls = tls_server().await;
    // The certificate names localhost, not 127.0.0.1.
    let full = format!("sslmode=verify-full&{}", root(&tls.pki.ca));
    assert_tls_refused(&app_with_url(url(&tls.server, "127.0.0.1", "postgres", &full))).await;
    let ca = format!("sslmode=verify-ca&{}", root(&tls.pki.ca));
    let app = app_with_url(url(&tls.server, "127.0.0.1", "postgres", &ca));
    let u = user(&app);
    create(&app, &u, "verify-ca", false).await;
    // verify-ca still checks the chain: another CA is refused.
    let other = format!("sslmode=verify-ca&{}", root(&tls.pki.other_ca));
    assert_tls_refused(&app_with_url(url(&tls.server, "127.0.0.1", "postgres", &other))).await;
}

#[tokio::test]
async fn require_without_a_root_encrypts_without_checking_as_libpq_does() {
    let tls = tls_server().await;
    let app = app_with_url(url(&tls.server, "127.0.0.1", "postgres", "sslmode=require"));
    let u = user(&app);
    create(&app, &u, "require", false).await;
}

#[tokio::test]
async fn require_against_a_server_without_tls_makes_no_plaintext_session() {
    let db = TestDb::new().await;
    let app = app_with_url(format!("{}?sslmode=require", db.server_url()));
    assert_tls_refused(&app).await;
    let admin = db.admin().await;
    assert_eq!(
        sessions(&admin, &db.name).await,
        (0, 0),
        "no session of authenticator at all"
    );
}

#[tokio::test]
async fn prefer_against_a_server_without_tls_is_plain() {
    let db = TestDb::new().await;
    let app = app_with_url(format!("{}?sslmode=prefer", db.server_url()));
    let u = user(&app);
    create(&app, &u, "prefer", false).await;
    let admin = db.admin().await;
    let (secure, plain) = sessions(&admin, &db.name).await;
    assert!(secure == 0 && plain >= 1, "tls {secure}, plain {plain}");
}

/// Through PgBouncer in transaction mode (as through Supavisor on 6543)
/// with client TLS required by the pooler: verify-full to the pooler, and
/// transactions from many clients sharing two server connections.
#[tokio::test]
async fn the_transaction_mode_pooler_works_with_client_tls() {
    let db = TestDb::new().await;
    let pki = Pki::new(&["localhost"]);
    let extra = format!(
        "client_tls_sslmode = require\nclient_tls_cert_file = {}\nclient_tls_key_file = {}\n",
        pki.server_cert.display(),
        pki.server_key.display()
    );
    let bouncer = Bouncer::start_with(&db.server, 2, &extra).unwrap();
    let query = format!("sslmode=verify-full&{}", root(&pki.ca));
    let through = url(&db.server, "localhost", &db.name, &query)
        .replace(&format!(":{}/", db.server.port), &format!(":{}/", bouncer.port));
    let app = TestApp::with_config(|c| {
        let mut b = Database::builder();
        b.url(through);
        b.pool_size(6).acquire_timeout(Duration::from_secs(20));
        c.database = Some(b);
    });
    let users: Vec<User> = (0..6).map(|_| user(&app)).collect();
    let mut ids_by_user = Vec::new();
    for (i, u) in users.iter().enumerate() {
        ids_by_user.push(create(&app, u, &format!("pooled {i}"), false).await);
    }
    let router = app.router();
    let mut tasks = tokio::task::JoinSet::new();
    for (u, id) in users.iter().zip(&ids_by_user) {
        for _ in 0..5 {
            let (router, token, id) = (router.clone(), u.token.clone(), *id);
            tasks.spawn(async move {
                let r = send_to(&router, Method::GET, "/api/todos", Some(&token), None).await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.text());
                // Only the caller's own row: no other session's role or claims leaked in.
                assert_eq!(ids(r.json().as_array().unwrap()), vec![id]);
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    // A plain client is refused by the pooler: the app's connections were TLS.
    let plain = app_with_url(format!("{}?sslmode=disable", bouncer.server_url(&db)));
    let u = user(&plain);
    let r = call(&plain, Method::GET, "/api/todos", Some(&u.token), None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
}

/// A flood of anonymous requests against a database whose TLS fails dials
/// it about once a second, and logs about one line a second, not one each.
#[tokio::test]
async fn a_failing_database_is_dialled_and_logged_once_a_second_not_once_a_request() {
    use axum_supabase_auth::config::LogFormat;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A server that answers every SSLRequest with 'N', as one without TLS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dials = Arc::new(AtomicUsize::new(0));
    let counted = dials.clone();
    let server = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = [0u8; 8];
                if socket.read_exact(&mut request).await.is_ok() {
                    let _ = socket.write_all(b"N").await;
                }
            });
        }
    });

    let (capture, _guard) = crate::logging::Capture::start(LogFormat::Json);
    let app = app_with_url(format!(
        "postgresql://authenticator@127.0.0.1:{port}/postgres?sslmode=require"
    ));
    let started = std::time::Instant::now();
    for _ in 0..200 {
        let r = call(&app, Method::GET, "/api/todos", None, None).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
        assert_eq!(r.json()["error_description"], "database TLS handshake failed");
    }
    let seconds = started.elapsed().as_secs() as usize + 1;
    let dialled = dials.load(Ordering::SeqCst);
    assert!(
        dialled >= 1 && dialled <= seconds,
        "{dialled} dials in {seconds} s"
    );
    let warnings = capture
        .text()
        .lines()
        .filter(|l| l.contains("\"WARN\"") && l.contains("database TLS handshake failed"))
        .count();
    assert!(
        warnings >= 1 && warnings <= seconds,
        "{warnings} warnings in {seconds} s"
    );
    server.abort();
}
