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

/// `--claim` adds what a custom access-token hook would: `/api/moderation`'s
/// success path can be tried from the command line.
#[test]
fn mint_adds_any_claim() {
    let secret = random_secret();
    let vars = [
        ("SUPABASE_JWT_SECRET", secret.as_str()),
        ("SUPABASE_URL", "https://test.supabase.co"),
    ];
    let output = run(
        &[
            "mint",
            "--claim",
            "user_role=moderator",
            "--claim",
            r#"app_metadata={"plan":"pro"}"#,
        ],
        &vars,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let app = TestApp::from_config(Config::for_tests(&secret), secret.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = rt.block_on(app.get_bearer("/api/moderation", &token));
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["user_role"], "moderator");
    let bad = run(&["mint", "--claim", "no-equals-sign"], &vars);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("must be NAME=JSON"), "{}", stderr(&bad));
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

/// `serve --dev` fills in what is unset, but not a variable given as a file.
#[test]
fn dev_mode_takes_the_secret_from_a_file() {
    let secret = random_secret();
    let file = std::env::temp_dir().join(format!("asb-dev-secret-{}", uuid::Uuid::new_v4()));
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let path = file.display().to_string();
    let config = Config::from_lookup(true, |name| {
        (name == "SUPABASE_JWT_SECRET_FILE").then(|| path.clone())
    });
    std::fs::remove_file(&file).unwrap();
    let config = config.map_err(|e| e.to_string()).unwrap();
    let app = TestApp::from_config(config, secret);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let issuer = format!("{}/auth/v1", axum_supabase::DEV_SUPABASE_URL);
    let token = app.sign(app.token().issuer(&issuer));
    let me = rt.block_on(app.get_bearer("/api/me", &token));
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
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

/// Every configuration error of `serve`: exit 2, one line naming the
/// variable the user set, no credential of any value, and before binding.
/// The test holds the port itself: a server that tried to bind first would
/// fail with "cannot bind" (exit 1) instead.
#[test]
fn every_startup_error_exits_2_before_binding_naming_the_variable() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = held.local_addr().unwrap().to_string();
    let secret = format!("hunter2-{}", random_secret());
    let base = [
        ("SUPABASE_URL", "https://abc.supabase.co"),
        ("SUPABASE_JWT_SECRET", secret.as_str()),
        ("SUPABASE_JWKS_URL", "off"),
        ("BIND_ADDR", bind.as_str()),
    ];
    let db = "postgresql://authenticator:hunter2-db@127.0.0.1:9/postgres";
    let cookies = [
        ("SESSION_COOKIES", "on"),
        ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_hunter2"),
    ];
    // Files for the TLS and `_FILE` cases; their paths may be printed, never their content.
    let files = std::env::temp_dir().join(format!("asb-startup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(files.join("no-certs")).unwrap();
    let garbage = files.join("garbage.crt");
    std::fs::write(&garbage, "hunter2 is no certificate\n").unwrap();
    let empty_bundle = files.join("empty.pem");
    std::fs::write(&empty_bundle, "").unwrap();
    let secret_file = files.join("secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let missing = files.join("missing").display().to_string();
    let (secret_path, empty_bundle, no_certs) = (
        secret_file.display().to_string(),
        empty_bundle.display().to_string(),
        files.join("no-certs").display().to_string(),
    );
    let bad_mode = format!("{db}?sslmode=bogus");
    let missing_root = format!("{db}?sslmode=verify-full&sslrootcert={missing}");
    let garbage_root = format!("{db}?sslmode=verify-ca&sslrootcert={}", garbage.display());
    let no_root = format!("{db}?sslmode=verify-full");
    let weak_system = format!("{db}?sslmode=require&sslrootcert=system");
    let weak_ca = format!("{db}?sslmode=verify-ca");
    let one_key = r#"{"default":"sb_secret_hunter2aaaaaaaaaaaaaaa_bbbbbbbb"}"#;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("SUPABASE_SECRET_KEYS", one_key),
                ("SUPABASE_SECRET_KEY", "sb_secret_hunter2"),
            ],
            "SUPABASE_SECRET_KEYS",
        ),
        (vec![("SUPABASE_SECRET_KEYS", "{hunter2")], "SUPABASE_SECRET_KEYS"),
        (
            vec![("SUPABASE_SECRET_KEYS", r#"["sb_secret_hunter2"]"#)],
            "SUPABASE_SECRET_KEYS",
        ),
        (
            vec![("SUPABASE_SECRET_KEYS", r#"{"default":42}"#)],
            "SUPABASE_SECRET_KEYS",
        ),
        (
            vec![("SUPABASE_SECRET_KEYS", r#"{"default":"hunter2"}"#)],
            "SUPABASE_SECRET_KEYS",
        ),
        (
            vec![("SUPABASE_SECRET_KEYS", r#"{"":"sb_secret_hunter2"}"#)],
            "SUPABASE_SECRET_KEYS",
        ),
        (
            vec![(
                "SUPABASE_SECRET_KEYS",
                r#"{"a":"sb_secret_hunter2x","b":"sb_secret_hunter2x"}"#,
            )],
            "SUPABASE_SECRET_KEYS",
        ),
        // A name given twice: the second key would silently win.
        (
            vec![(
                "SUPABASE_SECRET_KEYS",
                r#"{"a":"sb_secret_hunter2x","a":"sb_secret_hunter2y"}"#,
            )],
            "SUPABASE_SECRET_KEYS",
        ),
        (vec![("SUPABASE_SECRET_KEYS", "{}")], "SUPABASE_SECRET_KEYS"),
        (
            vec![("SUPABASE_SECRET_KEY", "sb_publishable_hunter2")],
            "SUPABASE_SECRET_KEY",
        ),
        (
            vec![("SUPABASE_SECRET_KEY_FILE", &missing)],
            "SUPABASE_SECRET_KEY_FILE",
        ),
        (vec![("DATABASE_URL", &bad_mode)], "DATABASE_URL"),
        (vec![("DATABASE_URL", &missing_root)], "DATABASE_URL"),
        (vec![("DATABASE_URL", &garbage_root)], "DATABASE_URL"),
        (vec![("DATABASE_URL", &weak_system)], "DATABASE_URL"),
        // verify-ca would rest on the system's roots without checking the name.
        (vec![("DATABASE_URL", &weak_ca)], "DATABASE_URL"),
        // verify-full with no root file, on a system whose trust store is empty.
        (
            vec![
                ("DATABASE_URL", &no_root),
                ("SSL_CERT_FILE", &empty_bundle),
                ("SSL_CERT_DIR", &no_certs),
            ],
            "DATABASE_URL",
        ),
        (
            vec![("SUPABASE_JWT_SECRET_FILE", &secret_path)],
            "SUPABASE_JWT_SECRET",
        ),
        (
            vec![
                ("SUPABASE_JWT_SECRET", ""),
                ("SUPABASE_JWT_SECRET_FILE", &missing),
            ],
            "SUPABASE_JWT_SECRET_FILE",
        ),
        (
            vec![("DATABASE_URL", db), ("DATABASE_URL_FILE", &secret_path)],
            "DATABASE_URL",
        ),
        (vec![("DATABASE_URL_FILE", &missing)], "DATABASE_URL_FILE"),
        (
            [&cookies[..], &[("SUPABASE_PUBLISHABLE_KEY_FILE", &secret_path)]].concat(),
            "SUPABASE_PUBLISHABLE_KEY",
        ),
        (
            vec![("SESSION_COOKIES", "on"), ("SUPABASE_ANON_KEY_FILE", &missing)],
            "SUPABASE_ANON_KEY_FILE",
        ),
        (
            vec![("SUPABASE_URL", "https://user:hunter2@abc.supabase.co")],
            "SUPABASE_URL",
        ),
        (vec![("SUPABASE_URL", "ftp://hunter2.example")], "SUPABASE_URL"),
        (
            vec![(
                "SUPABASE_JWKS_URL",
                "https://user:hunter2@abc.supabase.co/jwks.json",
            )],
            "SUPABASE_JWKS_URL",
        ),
        (
            vec![("SUPABASE_JWKS_URL", "http://hunter2.example/jwks.json")],
            "SUPABASE_JWKS_URL",
        ),
        (
            vec![("SUPABASE_JWT_SECRET", "hunter2-short")],
            "SUPABASE_JWT_SECRET",
        ),
        (vec![("JWT_ISSUER", " , ")], "JWT_ISSUER"),
        (vec![("JWT_AUDIENCE", ",")], "JWT_AUDIENCE"),
        (vec![("JWT_LEEWAY_SECS", "hunter2")], "JWT_LEEWAY_SECS"),
        (vec![("JWKS_MAX_STALE_SECS", "0")], "JWKS_MAX_STALE_SECS"),
        (vec![("JWT_CACHE_SIZE", "2000000")], "JWT_CACHE_SIZE"),
        (vec![("DATABASE_URL", "mysql://u:hunter2@h/db")], "DATABASE_URL"),
        (vec![("DATABASE_URL", db), ("DB_POOL_SIZE", "0")], "DB_POOL_SIZE"),
        (
            vec![("DATABASE_URL", db), ("DB_ACQUIRE_TIMEOUT_MS", "0")],
            "DB_ACQUIRE_TIMEOUT_MS",
        ),
        (
            vec![("DATABASE_URL", db), ("DB_STATEMENT_TIMEOUT_MS", "x")],
            "DB_STATEMENT_TIMEOUT_MS",
        ),
        (vec![("DATABASE_URL", db), ("DB_ROLES", "postgres")], "DB_ROLES"),
        (
            vec![("DATABASE_URL", db), ("SESSION_CHECK", "maybe")],
            "SESSION_CHECK",
        ),
        (
            vec![("DATABASE_URL", db), ("SESSION_CACHE_TTL_SECS", "301")],
            "SESSION_CACHE_TTL_SECS",
        ),
        (vec![("SESSION_COOKIES", "maybe")], "SESSION_COOKIES"),
        (vec![("SESSION_COOKIES", "on")], "SUPABASE_PUBLISHABLE_KEY"),
        (
            [&cookies[..], &[("AUTH_COOKIE_NAME", "bad;name")]].concat(),
            "AUTH_COOKIE_NAME",
        ),
        (
            [&cookies[..], &[("COOKIE_HTTP_ONLY", "x")]].concat(),
            "COOKIE_HTTP_ONLY",
        ),
        (
            [&cookies[..], &[("COOKIE_SECURE", "x")]].concat(),
            "COOKIE_SECURE",
        ),
        (
            [&cookies[..], &[("SESSION_REFRESH_TIMEOUT_MS", "5")]].concat(),
            "SESSION_REFRESH_TIMEOUT_MS",
        ),
        (
            [&cookies[..], &[("SESSION_MAX_REFRESHES", "0")]].concat(),
            "SESSION_MAX_REFRESHES",
        ),
        // The cookie is named after the host's first label: [::1] has none to give.
        (
            [&cookies[..], &[("SUPABASE_URL", "http://[::1]:54321")]].concat(),
            "SUPABASE_URL",
        ),
        (vec![("CORS_ALLOWED_ORIGINS", "*")], "CORS_ALLOWED_ORIGINS"),
        (
            vec![("CORS_ALLOWED_ORIGINS", "https://user:hunter2@app.example")],
            "CORS_ALLOWED_ORIGINS",
        ),
        (vec![("MAX_HEADER_BYTES", "10")], "MAX_HEADER_BYTES"),
        (vec![("MAX_CONNECTIONS", "0")], "MAX_CONNECTIONS"),
        (vec![("MAX_IN_FLIGHT", "hunter2")], "MAX_IN_FLIGHT"),
        (vec![("HEADER_TIMEOUT_SECS", "0")], "HEADER_TIMEOUT_SECS"),
        (vec![("IDLE_TIMEOUT_SECS", "0")], "IDLE_TIMEOUT_SECS"),
        (vec![("METRICS_BIND_ADDR", "hunter2")], "METRICS_BIND_ADDR"),
        (vec![("LOG_FORMAT", "xml")], "LOG_FORMAT"),
        (vec![("RUST_LOG", "hunter2=[")], "RUST_LOG"),
        (vec![("BIND_ADDR", "hunter2")], "BIND_ADDR"),
        (vec![("BIND_ADDR", ""), ("PORT", "hunter2")], "PORT"),
    ];
    for (changes, var) in cases {
        let mut vars: Vec<(&str, &str)> = base.to_vec();
        for (name, value) in changes {
            vars.retain(|(k, _)| *k != name);
            vars.push((name, value));
        }
        let output = run(&["serve"], &vars);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{var}: {err}");
        assert_eq!(err.lines().count(), 1, "{var}: {err}");
        assert!(err.starts_with(&format!("error: {var} ")), "{var}: {err}");
        assert!(!err.contains("hunter2"), "{var}: {err}");
        assert!(!err.contains(secret.as_str()), "{var}: {err}");
        if var.ends_with("_FILE") {
            assert!(err.contains(&missing), "{var} names the file: {err}");
        } else if changes_named_file(&vars, var) {
            assert!(
                err.contains(&format!("{var} and {var}_FILE are both set")),
                "{err}"
            );
        }
        assert!(
            output.stdout.is_empty(),
            "{var}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    drop(held);
    let _ = std::fs::remove_dir_all(&files);
}

/// Whether both `var` and `var_FILE` are among `vars`.
fn changes_named_file(vars: &[(&str, &str)], var: &str) -> bool {
    let file = format!("{var}_FILE");
    vars.iter().any(|(k, v)| *k == var && !v.is_empty()) && vars.iter().any(|(k, _)| *k == file)
}

/// Secrets as Docker and Kubernetes hand them over: files named by
/// `SUPABASE_JWT_SECRET_FILE` and `DATABASE_URL_FILE`, each ending in a
/// newline. The server verifies with the secret from the file, and reaches
/// the TLS database the file's URL names (verify-full with the test CA).
#[tokio::test]
async fn secrets_from_files_serve_requests_and_reach_the_database() {
    use crate::process::Server;
    let tls = crate::tls_support::tls_server().await;
    let secret = random_secret();
    let dir = std::env::temp_dir().join(format!("asb-secrets-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("jwt"), format!("{secret}\n")).unwrap();
    let query = format!("sslmode=verify-full&{}", crate::tls_support::root(&tls.pki.ca));
    let url = crate::tls_support::url(&tls.server, "localhost", "postgres", &query);
    std::fs::write(dir.join("db"), format!("{url}\n")).unwrap();
    let (jwt, db) = (
        dir.join("jwt").display().to_string(),
        dir.join("db").display().to_string(),
    );
    let mut server = Server::start(&[
        ("SUPABASE_URL", "https://test.supabase.co"),
        ("SUPABASE_JWT_SECRET_FILE", jwt.as_str()),
        ("SUPABASE_JWKS_URL", "off"),
        ("DATABASE_URL_FILE", db.as_str()),
    ])
    .await;
    let token = axum_supabase::testing::Token::user()
        .issuer(crate::helpers::ISSUER)
        .sign(secret.as_bytes())
        .unwrap();
    let client = reqwest::Client::new();
    let me = client
        .get(server.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&ready.text().await.unwrap()).unwrap();
    assert_eq!(body["database"]["reachable"], true, "{body}");
    let todos = client
        .get(server.url("/api/todos"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(todos.status(), 200);
    assert!(server.stop().await.success());
    let logs = server.stdout() + &server.stderr();
    assert!(
        !logs.contains(&secret) && !logs.contains(crate::pg_support::AUTHENTICATOR_PASSWORD),
        "{logs}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
