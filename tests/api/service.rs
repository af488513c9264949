//! Server-to-server callers with Supabase secret API keys, through the real
//! binary: configuration errors, the two key names, refusals (unknown,
//! publishable, missing, from a browser, with a user token, a bad
//! Authorization), Node's own `fetch`, and the stats route under RLS.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ISSUER, random_secret};
use crate::process::Server;

/// Two keys made now, in the shape Supabase gives them (`sb_secret_` + 22 + `_` + 8).
pub fn make_key() -> String {
    let hex = random_secret();
    format!("sb_secret_{}_{}", &hex[..22], &hex[22..30])
}

struct Service {
    server: Server,
    secret: String,
    default_key: String,
    cron_key: String,
    client: reqwest::Client,
}

impl Service {
    async fn start(extra: &[(&str, &str)]) -> Self {
        let secret = random_secret();
        let (default_key, cron_key) = (make_key(), make_key());
        let keys = format!(r#"{{"default":"{default_key}","cron":"{cron_key}"}}"#);
        let mut vars = vec![
            ("SUPABASE_URL", "https://test.supabase.co"),
            ("SUPABASE_JWT_SECRET", secret.as_str()),
            ("SUPABASE_JWKS_URL", "off"),
            ("SUPABASE_SECRET_KEYS", keys.as_str()),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "trace"),
        ];
        vars.extend_from_slice(extra);
        let server = Server::start(&vars).await;
        Self {
            server,
            secret,
            default_key,
            cron_key,
            client: reqwest::Client::new(),
        }
    }

    fn user_token(&self) -> String {
        axum_supabase::testing::Token::user()
            .issuer(ISSUER)
            .sign(self.secret.as_bytes())
            .unwrap()
    }

    /// GET `path` with these headers; the status and the JSON body.
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut request = self.client.get(self.server.url(path));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

#[tokio::test]
async fn each_key_is_named_and_every_other_caller_is_refused() {
    let s = Service::start(&[]).await;
    let whoami = "/api/service/whoami";
    let (status, body) = s
        .get(whoami, &[("apikey", &s.default_key), ("user-agent", "node")])
        .await;
    assert_eq!(
        (status, body.clone()),
        (
            StatusCode::OK,
            serde_json::json!({"caller":"service","key":"default"})
        )
    );
    let (status, body) = s.get(whoami, &[("apikey", &s.cron_key)]).await;
    assert_eq!((status, body["key"].as_str()), (StatusCode::OK, Some("cron")));

    let unknown = make_key();
    let publishable = "sb_publishable_abcdefghijklmnopqrstuv_12345678";
    let token = s.user_token();
    let bearer = format!("Bearer {token}");
    let key_as_bearer = format!("Bearer {}", s.default_key);
    let refusals: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("apikey", &unknown)], "invalid secret API key"),
        (vec![("apikey", publishable)], "invalid secret API key"),
        (
            vec![],
            "this route is for servers: send a secret API key in the apikey header",
        ),
        (
            vec![("apikey", &s.default_key), ("apikey", &s.cron_key)],
            "invalid secret API key",
        ),
        // A user is not a service, with or without a key.
        (
            vec![("authorization", &bearer)],
            "this route is for servers with a secret API key; a user token is not one",
        ),
        (
            vec![("authorization", &bearer), ("apikey", &s.default_key)],
            "this route is for servers with a secret API key; a user token is not one",
        ),
        // A bad Authorization header is refused, whatever the key: no fallback.
        (
            vec![
                ("authorization", "Bearer not.a.token"),
                ("apikey", &s.default_key),
            ],
            "malformed token header",
        ),
        (
            vec![("authorization", &key_as_bearer)],
            "this is a Supabase API key, not a user access token",
        ),
        // Browser signals.
        (
            vec![("apikey", &s.default_key), ("origin", "https://app.example.com")],
            "secret API keys are for servers, not browsers",
        ),
        (
            vec![("apikey", &s.default_key), ("sec-fetch-site", "same-origin")],
            "secret API keys are for servers, not browsers",
        ),
        (
            vec![
                ("apikey", &s.default_key),
                ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"),
            ],
            "secret API keys are for servers, not browsers",
        ),
    ];
    for (headers, description) in refusals {
        let (status, body) = s.get(whoami, &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}: {body}");
        assert_eq!(body["error_description"], description, "{headers:?}");
    }
    // A key is not a user: /api/me stays 401.
    let (status, _) = s.get("/api/me", &[("apikey", &s.default_key)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Metrics: the key's name, never the key.
    let (_, metrics) = s.get("/metrics", &[]).await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        metrics.contains(r#"auth_outcomes_total{outcome="ok",caller="service",key="default"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"outcome="service_key_from_browser""#),
        "{metrics}"
    );
    // Logs at TRACE: the key names, never a key.
    let mut server = s.server;
    assert!(server.stop().await.success());
    let logs = server.stdout() + &server.stderr();
    for key in [&s.default_key, &s.cron_key, &unknown] {
        assert!(!logs.contains(key.as_str()), "a key is in the logs");
        assert!(
            !logs.contains(&key["sb_secret_".len()..]),
            "part of a key is in the logs"
        );
    }
    assert!(logs.contains(r#""key":"cron""#), "{logs}");
    assert!(!logs.contains(&token));
}

/// A secret key from a browser is refused whatever it is, but only a
/// configured one is worth a warning, and a flood gets one line a second.
#[tokio::test]
async fn a_leaked_key_is_warned_about_once_a_second_and_a_made_up_one_not_at_all() {
    let s = Service::start(&[]).await;
    let unknown = make_key();
    let started = std::time::Instant::now();
    for key in [&unknown, &s.default_key] {
        for _ in 0..100 {
            let (status, _) = s
                .get(
                    "/api/service/whoami",
                    &[("apikey", key), ("origin", "https://x.example")],
                )
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    let seconds = started.elapsed().as_secs() as usize + 1;
    let mut server = s.server;
    assert!(server.stop().await.success());
    let logs = server.stdout() + &server.stderr();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("came from a browser"))
        .collect();
    assert!(
        !warnings.is_empty() && warnings.len() <= seconds,
        "{} warnings in {seconds} s",
        warnings.len()
    );
    assert!(
        warnings.iter().all(|l| l.contains(r#""key":"default""#)),
        "{warnings:?}"
    );
}

/// Node's own `fetch` (undici: `user-agent: node`, `sec-fetch-mode: cors`)
/// from a server is a server.
#[tokio::test]
async fn nodes_own_fetch_is_a_server() {
    let s = Service::start(&[]).await;
    let script = format!(
        "fetch({url:?}, {{ headers: {{ apikey: process.env.KEY }} }})\
           .then(async r => console.log(r.status, await r.text()))",
        url = s.server.url("/api/service/whoami")
    );
    let out = Command::new("node")
        .args(["-e", &script])
        .env("KEY", &s.default_key)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("200 "),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(r#""key":"default""#), "{stdout}");
}

/// The stats route runs as `service_role` under RLS and sees every row; the
/// same counts made as the table's owner agree. Without `service_role` in
/// DB_ROLES it is 403, and no connection is taken.
#[tokio::test]
async fn stats_run_as_service_role_and_agree_with_the_owner() {
    let db = crate::pg_support::TestDb::new().await;
    let admin = db.admin().await;
    admin
        .batch_execute(
            "insert into public.todos (user_id, title, done, is_public) \
             select gen_random_uuid(), 'todo ' || g, g % 3 = 0, g % 5 = 0 from generate_series(1, 40) g; \
             insert into public.todos (user_id, title, done) \
             select '7b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d', 'mine ' || g, true from generate_series(1, 5) g",
        )
        .await
        .unwrap();
    let owner = admin
        .query_one(
            "select count(distinct user_id), count(*), count(*) filter (where done) from public.todos",
            &[],
        )
        .await
        .unwrap();
    let (users, todos, done): (i64, i64, i64) = (owner.get(0), owner.get(1), owner.get(2));
    let url = db.server_url();
    let s = Service::start(&[
        ("DATABASE_URL", url.as_str()),
        ("DB_ROLES", "anon,authenticated,service_role"),
    ])
    .await;
    let (status, body) = s
        .get("/api/service/todos/stats", &[("apikey", &s.cron_key)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        serde_json::json!({ "users": users, "todos": todos, "done": done })
    );
    // The same key on the list route runs as service_role too: every row.
    let (status, rows) = s.get("/api/todos", &[("apikey", &s.cron_key)]).await;
    assert_eq!(
        (status, rows.as_array().map(Vec::len)),
        (StatusCode::OK, Some(45))
    );
    // A user token on the stats route: 401, not the user's counts.
    let token = s.user_token();
    let (status, _) = s
        .get(
            "/api/service/todos/stats",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let denied = Service::start(&[("DATABASE_URL", url.as_str())]).await;
    let sessions = || async {
        let row = admin
            .query_one(
                "select count(*) from pg_stat_activity where usename = 'authenticator' and datname = $1",
                &[&db.name],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0)
    };
    let before = sessions().await;
    let (status, body) = denied
        .get("/api/service/todos/stats", &[("apikey", &denied.default_key)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(before, sessions().await, "no connection was taken");
}

#[tokio::test]
async fn without_a_database_the_stats_are_503() {
    let s = Service::start(&[]).await;
    let (status, body) = s
        .get("/api/service/todos/stats", &[("apikey", &s.default_key)])
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}
