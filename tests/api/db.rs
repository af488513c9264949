//! `/api/todos` over HTTP on a real Postgres: isolation comes from the
//! table's policies, run in the caller's role with the caller's claims.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::db_support::*;
use crate::helpers::TestApp;
use crate::pg_support::TestDb;

#[tokio::test]
async fn users_see_and_change_only_their_own_rows_and_public_ones() {
    let db = TestDb::new().await;
    let app = app_on(&db, 3, |_| {});
    let (a, b) = (user(&app), user(&app));
    let a_private = create(&app, &a, "a private", false).await;
    let a_public = create(&app, &a, "a public", true).await;
    let b_private = create(&app, &b, "b private", false).await;

    assert_eq!(ids(&list(&app, Some(&a.token)).await), [a_private, a_public]);
    assert_eq!(ids(&list(&app, Some(&b.token)).await), [a_public, b_private]);
    assert_eq!(ids(&list(&app, None).await), [a_public]);

    // B cannot read, change or delete A's private row: it does not exist for B.
    let path = format!("/api/todos/{a_private}");
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({ "title": "stolen", "done": true }))),
        (Method::DELETE, None),
    ] {
        let r = call(&app, method.clone(), &path, Some(&b.token), body).await;
        r.assert_error(StatusCode::NOT_FOUND, "not_found", "no such todo");
    }
    // Nor A's public one, except to read it.
    let r = call(
        &app,
        Method::GET,
        &format!("/api/todos/{a_public}"),
        Some(&b.token),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(
        &app,
        Method::DELETE,
        &format!("/api/todos/{a_public}"),
        Some(&b.token),
        None,
    )
    .await;
    assert_eq!(r.status, 404);

    let rows = all_rows(&db).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[0].1, rows[0].2.as_str(), rows[0].3),
        (a.id, "a private", false)
    );

    // The owner can.
    let r = call(
        &app,
        Method::PATCH,
        &path,
        Some(&a.token),
        Some(json!({ "done": true })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let row = r.json();
    assert_eq!(
        (row["done"].as_bool(), row["title"].as_str()),
        (Some(true), Some("a private"))
    );
    assert_eq!(row["user_id"], a.id.to_string());
    let text = r.text();
    let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
    let order = ["id", "user_id", "title", "done", "is_public", "created_at"].map(at);
    assert!(order.is_sorted() && row.as_object().unwrap().len() == 6, "{text}");
    let r = call(&app, Method::DELETE, &path, Some(&a.token), None).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::NO_CONTENT, 0));
    let r = call(&app, Method::GET, &path, Some(&a.token), None).await;
    assert_eq!(r.status, 404);
    assert_eq!(all_rows(&db).await.len(), 2);
}

#[tokio::test]
async fn anonymous_callers_read_public_rows_and_cannot_write() {
    let db = TestDb::new().await;
    let app = app_on(&db, 2, |_| {});
    let a = user(&app);
    let public = create(&app, &a, "hello", true).await;
    create(&app, &a, "secret", false).await;
    let rows = list(&app, None).await;
    assert_eq!(ids(&rows), [public]);
    assert_eq!(rows[0]["title"], "hello");
    let path = format!("/api/todos/{public}");
    for (method, path, body) in [
        (Method::POST, "/api/todos", Some(json!({ "title": "anon" }))),
        (Method::PATCH, path.as_str(), Some(json!({ "done": true }))),
        (Method::DELETE, path.as_str(), None),
    ] {
        let r = call(&app, method, path, None, body).await;
        r.assert_no_credentials("missing bearer token");
    }
    assert_eq!(all_rows(&db).await.len(), 2);
}

#[tokio::test]
async fn tokens_with_other_roles_are_403_and_never_reach_the_database() {
    let db = TestDb::new().await;
    let app = app_on(&db, 2, |_| {});
    let owner = user(&app);
    create(&app, &owner, "keep me", true).await;
    let admin = db.admin().await;
    for role in [
        "postgres",
        "supabase_admin",
        "service_role",
        "authenticator",
        "pg_read_server_files",
        "",
        "ANON",
        "authenticated; drop table todos",
    ] {
        let u = user_with(&app, |t| t.role(role));
        for (method, body) in [(Method::GET, None), (Method::POST, Some(json!({ "title": "x" })))] {
            let r = call(&app, method, "/api/todos", Some(&u.token), body).await;
            r.assert_bearer_error(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "this token's role may not use the database",
            );
        }
    }
    // Statistics are flushed lazily; a second look after a pause must agree.
    let before = transactions(&admin, &db.name).await;
    let u = user_with(&app, |t| t.role("service_role"));
    call(&app, Method::GET, "/api/todos", Some(&u.token), None).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        transactions(&admin, &db.name).await,
        before,
        "a refused request ran a transaction"
    );
    let rows = all_rows(&db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2, "keep me");
}

#[tokio::test]
async fn service_role_is_opt_in() {
    let db = TestDb::new().await;
    let app = app_on(&db, 2, |b| {
        b.roles(["anon", "authenticated", "service_role"]);
    });
    let a = user(&app);
    create(&app, &a, "private", false).await;
    let service = user_with(&app, |t| t.role("service_role"));
    // service_role bypasses RLS, as it does through PostgREST.
    assert_eq!(list(&app, Some(&service.token)).await.len(), 1);
}

#[tokio::test]
async fn hostile_text_in_titles_and_claims_round_trips_verbatim() {
    let db = TestDb::new().await;
    let app = app_on(&db, 2, |_| {});
    let u = user_with(&app, |t| {
        t.email("o'brien\"; drop table todos; --@example.com")
            .claim("note", "'); drop table todos; -- \\ \" 🦀 \u{202e}")
    });
    let titles = [
        "'); drop table todos; --",
        "\"quoted\" and 'single' and `back`",
        "back\\slash \\x00 \\u0000",
        "🦀 emoji, ✓ marks, 中文, \u{1F600}",
        "$1 $$ %s {} ${x}",
    ];
    for title in titles {
        let id = create(&app, &u, title, false).await;
        let r = call(
            &app,
            Method::GET,
            &format!("/api/todos/{id}"),
            Some(&u.token),
            None,
        )
        .await;
        assert_eq!(r.json()["title"], title);
    }
    let stored: Vec<String> = all_rows(&db).await.into_iter().map(|r| r.2).collect();
    assert_eq!(stored, titles);
    // A NUL cannot be stored: 422, in a title or in the claims.
    let r = call(
        &app,
        Method::POST,
        "/api/todos",
        Some(&u.token),
        Some(json!({ "title": "a\u{0}b" })),
    )
    .await;
    r.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        "the title may not contain NUL characters",
    );
    let nul = user_with(&app, |t| t.claim("note", "a\u{0}b"));
    let r = call(&app, Method::GET, "/api/todos", Some(&nul.token), None).await;
    r.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_data",
        "text may not contain NUL characters",
    );
    assert_eq!(all_rows(&db).await.len(), titles.len());
}

#[tokio::test]
async fn bad_bodies_and_ids_get_clear_errors() {
    let db = TestDb::new().await;
    let app = app_on(&db, 2, |_| {});
    let u = user(&app);
    let id = create(&app, &u, "ok", false).await;
    let fields = "the body must be a JSON object with the documented fields and types, and no others";
    for body in [
        json!({}),
        json!({ "title": 5 }),
        json!({ "title": "x", "is_public": "yes" }),
        json!({ "title": "x", "user_id": u.id }),
        json!(["title"]),
    ] {
        let r = call(&app, Method::POST, "/api/todos", Some(&u.token), Some(body)).await;
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", fields);
    }
    let check = "a value breaks a rule of the table (a check constraint)";
    for title in [String::new(), "x".repeat(201)] {
        let r = call(
            &app,
            Method::POST,
            "/api/todos",
            Some(&u.token),
            Some(json!({ "title": title })),
        )
        .await;
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_data", check);
    }
    let r = call(
        &app,
        Method::POST,
        "/api/todos",
        Some(&u.token),
        Some(json!({ "title": "é".repeat(200) })),
    )
    .await;
    assert_eq!(r.status, 201, "200 characters are allowed, whatever their bytes");
    let path = format!("/api/todos/{id}");
    let r = call(&app, Method::PATCH, &path, Some(&u.token), Some(json!({}))).await;
    r.assert_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        "give at least one of title, done, is_public",
    );
    let r = call(
        &app,
        Method::PATCH,
        &path,
        Some(&u.token),
        Some(json!({ "done": "yes" })),
    )
    .await;
    r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", fields);
    let r = call(
        &app,
        Method::PATCH,
        &path,
        Some(&u.token),
        Some(json!({ "title": "" })),
    )
    .await;
    r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_data", check);
    for bad in ["abc", "1.5", "99999999999999999999", "-"] {
        let r = call(
            &app,
            Method::GET,
            &format!("/api/todos/{bad}"),
            Some(&u.token),
            None,
        )
        .await;
        r.assert_error(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            "the todo id must be an integer",
        );
    }
    let r = app
        .request(
            axum::http::Request::post("/api/todos")
                .header("authorization", format!("Bearer {}", u.token))
                .header("content-type", "application/json")
                .body(axum::body::Body::from("{\"title\":"))
                .unwrap(),
        )
        .await;
    r.assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_json",
        "the body is not valid JSON",
    );
    assert_eq!(all_rows(&db).await.len(), 2);
}

#[tokio::test]
async fn isolation_comes_from_the_policies_alone() {
    let db = TestDb::new().await;
    let app = app_on(&db, 2, |_| {});
    let a = user(&app);
    let id = create(&app, &a, "mine", false).await;
    assert_eq!(list(&app, Some(&a.token)).await.len(), 1);
    db.admin()
        .await
        .batch_execute("drop policy todos_select on public.todos")
        .await
        .unwrap();
    // No select policy: RLS denies every row, even to its owner.
    assert!(list(&app, Some(&a.token)).await.is_empty());
    let r = call(
        &app,
        Method::GET,
        &format!("/api/todos/{id}"),
        Some(&a.token),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn without_a_database_the_todo_routes_are_503_and_the_rest_works() {
    let app = TestApp::new();
    let token = app.valid_token();
    let r = call(&app, Method::GET, "/api/todos", Some(&token), None).await;
    r.assert_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_not_configured",
        "this server has no database configured (DATABASE_URL is not set)",
    );
    assert_eq!(app.get_bearer("/api/me", &token).await.status, 200);
    let r = app.get("/readyz").await;
    assert_eq!(
        (r.status, r.json()["database"].clone()),
        (StatusCode::OK, serde_json::Value::Null)
    );
}

/// Transactions this database has counted (statistics are flushed lazily).
async fn transactions(admin: &axum_supabase::db::tokio_postgres::Client, name: &str) -> i64 {
    admin
        .batch_execute("select pg_stat_clear_snapshot()")
        .await
        .unwrap();
    let row = admin
        .query_one(
            "select xact_commit + xact_rollback from pg_stat_database where datname = $1",
            &[&name],
        )
        .await
        .unwrap();
    row.get::<_, i64>(0)
}

#[tokio::test]
async fn database_logs_hold_no_token_no_password_and_no_row_data() {
    use axum_supabase_auth::config::LogFormat;
    let (capture, _guard) = crate::logging::Capture::start(LogFormat::Json);

    let db = TestDb::new().await;
    let app = app_on(&db, 2, |b| {
        b.session_check(true);
    });
    let u = user(&app);
    add_session(&db.admin().await, &u).await;
    let marker = "row-data-marker-7f3a";
    for body in [
        json!({ "title": format!("{marker}{}", "x".repeat(200)) }), // check violation: DETAIL quotes the row
        json!({ "title": marker }),
    ] {
        call(&app, Method::POST, "/api/todos", Some(&u.token), Some(body)).await;
    }
    call(&app, Method::GET, "/api/todos", Some(&u.token), None).await;
    // A database that is not there, reached with a password.
    let password = "db-password-that-must-not-be-logged";
    let down = TestApp::with_config(|c| {
        let mut b = axum_supabase::db::Database::builder();
        b.url(format!(
            "postgresql://authenticator:{password}@127.0.0.1:9/postgres"
        ));
        b.acquire_timeout(std::time::Duration::from_millis(300));
        c.database = Some(b);
    });
    let r = call(&down, Method::GET, "/api/todos", None, None).await;
    assert_eq!(r.status, 503);
    assert_eq!(down.get("/readyz").await.status, 503);
    assert!(!format!("{:?}", down.config).contains(password));

    let logs = capture.text();
    assert!(
        logs.contains("database statement refused") && logs.contains("23514"),
        "{logs}"
    );
    assert!(
        logs.contains("no database connection") || logs.contains("cannot open a database connection"),
        "{logs}"
    );
    for secret in [
        marker,
        password,
        crate::pg_support::AUTHENTICATOR_PASSWORD,
        u.token.as_str(),
        "eyJ",
    ] {
        assert!(!logs.contains(secret), "{secret:?} is in the logs");
    }
}

/// The p99 of `latencies`.
fn p99(mut latencies: Vec<std::time::Duration>) -> std::time::Duration {
    latencies.sort();
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
}

/// 200 `/api/todos` reads from 8 concurrent clients, and their latencies.
async fn todo_reads(router: &axum::Router, token: &str) -> Vec<std::time::Duration> {
    let clients = (0..8).map(|_| {
        let (router, token) = (router.clone(), token.to_owned());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            for _ in 0..25 {
                let started = std::time::Instant::now();
                let r = send_to(&router, Method::GET, "/api/todos", Some(&token), None).await;
                assert_eq!(r.status, 200, "{}", r.text());
                latencies.push(started.elapsed());
            }
            latencies
        })
    });
    let mut all = Vec::new();
    for client in clients.collect::<Vec<_>>() {
        all.extend(client.await.unwrap());
    }
    all
}

/// `/readyz` is public: a flood of probes must not take the pool from real
/// requests. 500 concurrent probes send one ping (the answer is kept for a
/// second, one ping at a time), and `/api/todos`, on a pool of ONE connection,
/// keeps its p99 within 2x (plus 20 ms of scheduler noise) of its p99 beside
/// 500 `/healthz` calls, which cost the same CPU and touch no database.
/// Uncached, 500 pings would queue every read behind them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_readiness_probes_takes_one_connection_at_most() {
    use axum_supabase_auth::state::AppState;
    let db = TestDb::new().await;
    let secret = crate::helpers::random_secret();
    let mut config = axum_supabase_auth::config::Config::for_tests(&secret);
    let mut b = axum_supabase::db::Database::builder();
    b.url(db.server_url());
    b.pool_size(1);
    config.database = Some(b);
    let state = AppState::new(&config).unwrap();
    let router = axum_supabase_auth::startup::app_with_state(state.clone(), &config);
    let app = TestApp::from_router(config, secret, router.clone());
    let u = user(&app);
    create(&app, &u, "one", true).await;
    let pool = state.db.as_ref().unwrap();
    // The same reads beside a flood of `path`, and the pings it cost.
    let beside = |path: &'static str| {
        let (router, token) = (router.clone(), u.token.clone());
        async move {
            let before = pool.pings_sent();
            let flood: Vec<_> = (0..500)
                .map(|_| {
                    let router = router.clone();
                    tokio::spawn(async move { send_to(&router, Method::GET, path, None, None).await.status })
                })
                .collect();
            let latency = p99(todo_reads(&router, &token).await);
            for call in flood {
                assert_eq!(call.await.unwrap(), 200, "{path}");
            }
            (latency, pool.pings_sent() - before)
        }
    };
    let quiet = p99(todo_reads(&router, &u.token).await);
    let (control, _) = beside("/healthz").await;
    let (flooded, pings) = beside("/readyz").await;
    eprintln!(
        "/api/todos p99: {quiet:?} quiet, {control:?} beside 500 /healthz, {flooded:?} beside 500 /readyz; {pings} pings"
    );
    assert!(pings <= 2, "{pings} pings for 500 probes");
    assert!(
        flooded <= control * 2 + std::time::Duration::from_millis(20),
        "p99 {flooded:?} beside the probes, {control:?} beside /healthz"
    );
}

/// Asked at startup, the database says which listed roles are superusers or
/// bypass RLS: the server refuses them (exit 2, before binding), all but
/// `service_role`, which bypasses RLS by design and may be listed on purpose.
#[tokio::test]
async fn startup_refuses_db_roles_the_database_calls_superuser_or_bypassrls() {
    let db = TestDb::new().await;
    let admin = db.admin().await;
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let (boss, sneaky, maker) = (
        format!("boss_{suffix}"),
        format!("sneaky_{suffix}"),
        format!("maker_{suffix}"),
    );
    admin
        .batch_execute(&format!(
            "create role {boss} superuser nologin; create role {sneaky} bypassrls nologin; \
             create role {maker} createrole nologin"
        ))
        .await
        .unwrap();
    let secret = crate::helpers::random_secret();
    let url = db.server_url();
    let vars = |roles: &str| {
        vec![
            ("SUPABASE_URL".to_owned(), "https://test.supabase.co".to_owned()),
            ("SUPABASE_JWT_SECRET".to_owned(), secret.clone()),
            ("SUPABASE_JWKS_URL".to_owned(), "off".to_owned()),
            ("DATABASE_URL".to_owned(), url.clone()),
            ("DB_ROLES".to_owned(), roles.to_owned()),
        ]
    };
    for (role, why) in [
        (&boss, "is a superuser in this database"),
        (&sneaky, "bypasses row level security in this database"),
        (&maker, "can create roles or replicate in this database"),
    ] {
        let vars = vars(&format!("authenticated,{role}"));
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let output = crate::binary::run(&["serve"], &vars);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(
            stderr,
            format!("error: DB_ROLES is invalid: lists {role}, which {why}; tokens may never run as it\n")
        );
        assert!(!stderr.contains(crate::pg_support::AUTHENTICATOR_PASSWORD));
    }
    let vars = vars("anon,authenticated,service_role");
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server = crate::process::Server::start(&vars).await;
    assert!(server.stop().await.success());
    admin
        .batch_execute(&format!(
            "drop role {boss}; drop role {sneaky}; drop role {maker}"
        ))
        .await
        .unwrap();
}

/// A body over 64 KiB is 413 whatever its framing: with a `Content-Length`
/// the edge refuses it at once; without one (chunked), while it is read.
#[tokio::test]
async fn an_oversized_body_of_unknown_length_is_413_not_400() {
    let db = TestDb::new().await;
    let app = app_on(&db, 1, |_| {});
    let u = user(&app);
    let id = create(&app, &u, "one", false).await;
    let big = serde_json::to_vec(&json!({ "title": "t".repeat(70 * 1024) })).unwrap();
    for (method, path) in [
        (Method::POST, "/api/todos".to_owned()),
        (Method::PATCH, format!("/api/todos/{id}")),
    ] {
        for framed in [true, false] {
            let mut request = axum::http::Request::builder()
                .method(method.clone())
                .uri(&path)
                .header("authorization", format!("Bearer {}", u.token))
                .header("content-type", "application/json");
            if framed {
                request = request.header("content-length", big.len());
            }
            let r = app
                .request(request.body(axum::body::Body::from(big.clone())).unwrap())
                .await;
            r.assert_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body too large",
            );
        }
    }
}

/// `SESSION_CHECK=db` on a database without GoTrue's `auth.sessions` (a
/// plain Postgres, as the dev database is) would make every authenticated
/// scoped request a misleading 403: startup refuses it instead.
#[tokio::test]
async fn session_check_without_auth_sessions_refuses_startup() {
    let db = TestDb::new().await;
    db.admin()
        .await
        .batch_execute("drop table auth.sessions")
        .await
        .unwrap();
    let secret = crate::helpers::random_secret();
    let url = db.server_url();
    let vars = [
        ("SUPABASE_URL", "https://test.supabase.co"),
        ("SUPABASE_JWT_SECRET", secret.as_str()),
        ("SUPABASE_JWKS_URL", "off"),
        ("DATABASE_URL", url.as_str()),
        ("SESSION_CHECK", "db"),
    ];
    let output = crate::binary::run(&["serve"], &vars);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .starts_with("error: SESSION_CHECK is invalid: is db, which needs GoTrue's auth.sessions table"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
