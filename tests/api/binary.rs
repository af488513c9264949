//! The real binary: exit code 2 and one clear line on bad configuration, and `mint`.

use std::process::{Command, Output};

use axum::http::StatusCode;
use axum_supabase::DEV_JWT_SECRET;
use axum_supabase_auth::config::Config;

use crate::helpers::{TestApp, random_secret};

/// Runs the binary with only `vars` in its environment, from an empty directory
/// (so no `.env` is picked up).
pub(crate) fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let dir = std::env::temp_dir().join(format!("asa-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_axum-supabase-auth"))
        .args(args)
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(&dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `serve` with `vars` exits 2 with `error: <var> is invalid: <reason>…`, and
/// prints nothing of the values planted with "hunter2".
fn assert_serve_refuses(vars: &[(&str, &str)], var: &str, reason: &str) {
    let output = run(&["serve"], vars);
    assert_eq!(output.status.code(), Some(2), "{var}");
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!("error: {var} is invalid: {reason}")),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn missing_secret_exits_2_naming_the_variable() {
    let output = run(
        &["serve"],
        &[
            ("SUPABASE_URL", "https://abc.supabase.co"),
            ("SUPABASE_JWKS_URL", "off"),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: SUPABASE_JWT_SECRET is not set and SUPABASE_JWKS_URL is off: there is no key to verify tokens with\n"
    );
    let output = run(&["serve"], &[("SUPABASE_JWT_SECRET", "x".repeat(40).as_str())]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stderr(&output), "error: SUPABASE_URL is not set\n");
}

#[test]
fn a_short_secret_exits_2_without_printing_it() {
    let output = run(
        &[],
        &[
            ("SUPABASE_JWT_SECRET", "tiny-secret-xyz"),
            ("SUPABASE_URL", "https://abc.supabase.co"),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("SUPABASE_JWT_SECRET"));
    assert!(!err.contains("tiny-secret-xyz"));
    assert!(output.stdout.is_empty());
}

#[test]
fn the_dev_secret_on_all_interfaces_exits_2() {
    let output = run(
        &["serve"],
        &[
            ("SUPABASE_JWT_SECRET", DEV_JWT_SECRET),
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("BIND_ADDR", "0.0.0.0:0"),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("well-known local secret"), "{err}");
    assert!(!err.contains(DEV_JWT_SECRET));
    let output = run(&["serve", "--dev"], &[("BIND_ADDR", "0.0.0.0:0")]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn mint_prints_a_token_the_server_accepts() {
    let secret = random_secret();
    let output = run(
        &[
            "mint",
            "--email",
            "cli@example.com",
            "--role",
            "admin",
            "--ttl",
            "120",
        ],
        &[
            ("SUPABASE_JWT_SECRET", &secret),
            ("SUPABASE_URL", "https://test.supabase.co"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let app = TestApp::from_config(Config::for_tests(&secret), secret);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = rt.block_on(app.get_bearer("/api/admin", &token));
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}

#[test]
fn mint_dev_tokens_match_dev_mode() {
    let output = run(&["mint", "--dev", "--anonymous"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let config = Config::from_lookup(true, |_| None).unwrap();
    let app = TestApp::from_config(config, DEV_JWT_SECRET.to_owned());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = rt.block_on(app.get_bearer("/api/me", &token)).json();
    assert_eq!(body["is_anonymous"], true);
}

#[test]
fn bad_database_settings_exit_2_naming_the_variable_and_never_the_password() {
    let url = "postgresql://authenticator:hunter2-db-password@127.0.0.1:5432/postgres";
    let secret = "x".repeat(40);
    let base = [
        ("SUPABASE_URL", "https://abc.supabase.co"),
        ("SUPABASE_JWKS_URL", "off"),
        ("SUPABASE_JWT_SECRET", secret.as_str()),
    ];
    for (var, value, reason) in [
        (
            "DATABASE_URL",
            "mysql://root:hunter2-db-password@db/app",
            "is not a postgres connection string",
        ),
        ("DB_POOL_SIZE", "0", "must be a whole number from 1 to 1000"),
        (
            "DB_ROLES",
            "authenticated,postgres",
            "lists an owner or admin role",
        ),
        ("SESSION_CHECK", "sometimes", "must be off or db"),
    ] {
        let mut vars = base.to_vec();
        if var != "DATABASE_URL" {
            vars.push(("DATABASE_URL", url));
        }
        vars.push((var, value));
        assert_serve_refuses(&vars, var, reason);
    }
    let output = run(&["migrate"], &base);
    assert_eq!(
        (output.status.code(), stderr(&output)),
        (Some(2), "error: DATABASE_URL is not set\n".to_owned())
    );
}

#[tokio::test]
async fn migrate_refuses_a_plain_postgres_and_names_the_bootstrap() {
    let db = crate::pg_support::TestDb::create_on(crate::pg_support::shared().await.clone(), false).await;
    let url = db.server.admin_url(&db.name);
    let output = run(&["migrate"], &[("DATABASE_URL", url.as_str())]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("run `axum-supabase-auth db-bootstrap-local`"),
        "{}",
        stderr(&output)
    );
    for (args, expect) in [
        (
            &["db-bootstrap-local"][..],
            "db-bootstrap-local: roles and auth functions are in place\n",
        ),
        (
            &["db-bootstrap-local"][..],
            "db-bootstrap-local: roles and auth functions are in place\n",
        ),
        (
            &[
                "migrate",
                "--dir",
                concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"),
            ][..],
            "migrate: applied 0001_todos.sql\n",
        ),
        (
            &[
                "migrate",
                "--dir",
                concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"),
            ][..],
            "migrate: up to date\n",
        ),
    ] {
        let output = run(args, &[("DATABASE_URL", url.as_str())]);
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            expect,
            "{}",
            stderr(&output)
        );
    }
    // Where auth.users exists (a Supabase database), the bootstrap refuses and changes nothing.
    let admin = db.admin().await;
    admin
        .batch_execute("create table auth.users (id uuid primary key)")
        .await
        .unwrap();
    admin.batch_execute("drop function auth.email()").await.unwrap();
    let output = run(&["db-bootstrap-local"], &[("DATABASE_URL", url.as_str())]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("auth.users exists"),
        "{}",
        stderr(&output)
    );
    let email: Option<String> = admin
        .query_one("select to_regprocedure('auth.email()')::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(email, None, "the refused bootstrap changed the database");
}

#[test]
fn bad_cookie_session_settings_exit_2_naming_the_variable_and_never_the_key() {
    let secret = "x".repeat(40);
    let base = [
        ("SUPABASE_URL", "https://abc.supabase.co"),
        ("SUPABASE_JWKS_URL", "off"),
        ("SUPABASE_JWT_SECRET", secret.as_str()),
        ("SESSION_COOKIES", "on"),
    ];
    let output = run(&["serve"], &base);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: SUPABASE_PUBLISHABLE_KEY is not set; cookie sessions refresh through GoTrue with the project's \
         publishable key (or the legacy SUPABASE_ANON_KEY)\n"
    );
    let key = ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_hunter2-key");
    for (var, value, reason) in [
        ("SESSION_COOKIES", "yes", "must be on or off"),
        ("AUTH_COOKIE_NAME", "bad name;", "must be a cookie name"),
        ("COOKIE_SECURE", "sometimes", "must be on or off"),
        (
            "SESSION_REFRESH_TIMEOUT_MS",
            "5",
            "must be a whole number of milliseconds from 100 to 60000",
        ),
    ] {
        let mut vars = base.to_vec();
        vars.push(key);
        vars.retain(|(k, _)| *k != var);
        vars.push((var, value));
        assert_serve_refuses(&vars, var, reason);
    }
}

/// The production build turns on none of the library's test kit or hooks:
/// `AuthUser::for_tests` and the raw secret accessor never ship. Only the
/// dev-dependencies (tests, benches, examples) enable `testing` and `internals`.
#[test]
fn the_binary_is_built_without_the_test_kit() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["tree", "--offline", "--locked", "-p", "axum-supabase-auth"])
        .args(["-e", "normal,features", "-i", "axum-supabase", "--prefix", "none"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(tree.contains("feature \"postgres\""), "{tree}");
    for kit in ["testing", "internals"] {
        assert!(!tree.contains(&format!("feature \"{kit}\"")), "{kit} in:\n{tree}");
    }
}
