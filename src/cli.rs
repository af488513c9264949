//! The command line: `serve` (the default) and `mint`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::config::{Config, MetricsEndpoint};
use crate::state::AppState;
use crate::{routes, startup, telemetry};
use axum_supabase::SupabaseAuth;
use secrecy::ExposeSecret;

/// An Axum API that verifies Supabase Auth access tokens.
#[derive(Debug, Parser)]
#[command(name = "axum-supabase-auth", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeArgs),
    /// Print an access token signed with the configured secret.
    Mint(MintArgs),
    /// Apply the migrations of `migrations/` to DATABASE_URL (idempotent).
    Migrate(MigrateArgs),
    /// Make a PLAIN Postgres look like Supabase for our migrations: roles
    /// anon, authenticated, service_role, authenticator and auth.uid()/role()/email()/jwt().
    /// Refuses to run on a Supabase database.
    DbBootstrapLocal,
    /// Exit 0 if the local server answers `GET /healthz` with 200 (for container
    /// HEALTHCHECKs: a scratch image has no curl). Reads only BIND_ADDR/PORT.
    Healthcheck,
}

#[derive(Debug, Args, Default)]
struct ServeArgs {
    /// Use the Supabase CLI's local defaults (secret, issuer) on loopback.
    #[arg(long)]
    dev: bool,
}

#[derive(Debug, Args)]
struct MigrateArgs {
    /// The folder of NNNN_name.sql files.
    #[arg(long, default_value = "migrations")]
    dir: std::path::PathBuf,
}

#[derive(Debug, Args)]
struct MintArgs {
    /// Use the Supabase CLI's local defaults, as `serve --dev` does.
    #[arg(long)]
    dev: bool,
    /// The user id (default: a random UUID).
    #[arg(long)]
    sub: Option<Uuid>,
    /// The user's email.
    #[arg(long)]
    email: Option<String>,
    /// The role claim.
    #[arg(long, default_value = "authenticated")]
    role: String,
    /// Lifetime in seconds (negative mints an expired token).
    #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
    ttl: i64,
    /// The authenticator assurance level.
    #[arg(long, default_value = "aal1")]
    aal: String,
    /// Mark the user as an anonymous sign-in.
    #[arg(long)]
    anonymous: bool,
    /// Any further claim, e.g. `--claim user_role=moderator` (what a custom
    /// access-token hook adds) or `--claim 'app_metadata={"plan":"pro"}'`.
    /// The value is JSON; a bare word is a string. Repeatable.
    #[arg(long = "claim", value_name = "NAME=JSON", value_parser = parse_claim)]
    claims: Vec<(String, serde_json::Value)>,
}

/// `NAME=JSON`, a bare word counting as a string.
fn parse_claim(arg: &str) -> Result<(String, serde_json::Value), String> {
    let (name, value) = arg
        .split_once('=')
        .filter(|(name, _)| !name.trim().is_empty())
        .ok_or_else(|| "must be NAME=JSON, e.g. user_role=moderator".to_owned())?;
    let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    Ok((name.trim().to_owned(), value))
}

/// Runs the parsed command line. Configuration errors exit with code 2.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args.dev),
        Command::Mint(args) => mint(args),
        Command::Migrate(args) => database_command(|client| async move {
            let applied = crate::migrate::migrate(&client, &args.dir).await?;
            Ok(if applied.is_empty() {
                "migrate: up to date".to_owned()
            } else {
                format!("migrate: applied {}", applied.join(", "))
            })
        }),
        Command::DbBootstrapLocal => database_command(|client| async move {
            crate::migrate::bootstrap_local(&client).await?;
            Ok("db-bootstrap-local: roles and auth functions are in place".to_owned())
        }),
        Command::Healthcheck => healthcheck(),
    }
}

/// Connects to DATABASE_URL, runs `job` and prints its summary.
#[allow(clippy::print_stdout, reason = "the command's result is for the terminal")]
fn database_command<F, Fut>(job: F) -> ExitCode
where
    F: FnOnce(axum_supabase::db::tokio_postgres::Client) -> Fut,
    Fut: std::future::Future<Output = Result<String, crate::migrate::MigrateError>>,
{
    // DATABASE_URL (or DATABASE_URL_FILE) with its sslmode, as `serve` reads it.
    let db = match axum_supabase::db::DatabaseBuilder::from_env().and_then(|db| db.check().map(|()| db)) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let run = async {
        let client = crate::migrate::connect(&db).await?;
        job(client).await
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(run).map_err(|e| e.to_string()));
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(dev: bool) -> Result<Config, ExitCode> {
    Config::from_env(dev).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

/// Signs `minted` for the configured issuer and (first) audience with the HS256 secret.
fn sign(config: &Config, auth: &SupabaseAuth, minted: &crate::mint::Minted) -> Result<String, &'static str> {
    let (Some(issuer), Some(audience)) = (auth.issuers().first(), auth.audiences().first()) else {
        return Err("JWT_ISSUER or JWT_AUDIENCE lists nothing");
    };
    let Some(secret) = &config.jwt_secret else {
        return Err("SUPABASE_JWT_SECRET is not set: mint signs with the HS256 secret");
    };
    let secret = secret.expose_secret().as_bytes();
    crate::mint::sign(minted, issuer, audience, secret, axum_supabase_now()).map_err(|_| "signing failed")
}

/// Seconds since the Unix epoch.
fn axum_supabase_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn dev_token(config: &Config, auth: &SupabaseAuth) -> Option<String> {
    let minted = crate::mint::Minted {
        sub: Uuid::new_v4(),
        email: Some("dev@example.com".to_owned()),
        role: "authenticated".to_owned(),
        ttl: 3600,
        aal: "aal1".to_owned(),
        anonymous: false,
        claims: Vec::new(),
    };
    sign(config, auth, &minted).ok()
}

fn serve(dev: bool) -> ExitCode {
    let config = match load_config(dev) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Kept to the end: dropped, it writes out every queued line (on SIGTERM,
    // on an exit-2 check against the database, and while a panic unwinds).
    let _logs = match telemetry::init(&config.log_filter, config.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run_server(config)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_server(config: Config) -> ExitCode {
    // First, so that a signal during startup is handled, not fatal.
    let signal = startup::shutdown_signal();
    // One signal stops every listener: each serve loop waits on its own receiver.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signal.await;
        let _ = stop.send(true);
    });
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let state = match AppState::new(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(db) = &state.db {
        use axum_supabase::db::SetupError;
        match db.check_setup().await {
            Ok(()) => {}
            Err(e @ SetupError::UnsafeRole { .. }) => {
                eprintln!("error: DB_ROLES is invalid: {e}");
                return ExitCode::from(2);
            }
            Err(e @ SetupError::NoSessionTable) => {
                eprintln!("error: SESSION_CHECK is invalid: {e}");
                return ExitCode::from(2);
            }
            Err(e) => tracing::warn!(
                error = %e,
                "DB_ROLES and SESSION_CHECK not checked against the database; it is not reachable yet"
            ),
        }
    }
    let listener = match TcpListener::bind(config.bind_addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %config.bind_addr, error = %e, "cannot bind");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(config.bind_addr);
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        %addr,
        issuers = ?state.verifier.issuers(),
        audiences = ?state.verifier.audiences(),
        key_sources = ?state.verifier.key_sources(),
        service_keys = ?state.verifier.service_key_names(),
        leeway_secs = state.verifier.leeway_secs(),
        cache_size = state.verifier.cache_capacity(),
        jwks_url = state.verifier.jwks().map(|j| j.url()),
        metrics = ?config.metrics,
        database = ?state.db,
        session_cookie = state.sessions.as_ref().map(|s| s.cookie_name()),
        "starting"
    );
    if config.auth.uses_dev_secret() {
        dev_hint(&config, &state.verifier, addr);
    }
    if state.verifier.jwks().is_some() {
        spawn_purge_on_sighup(state.clone());
    }
    state.verifier.start();
    // The internal metrics listener gets the same hardened accept loop as the
    // API: header timeout, connection cap, graceful shutdown, logged errors.
    let metrics_server = match config.metrics {
        MetricsEndpoint::Separate(metrics_addr) => match TcpListener::bind(metrics_addr).await {
            Ok(l) => {
                let router = startup::with_middleware(routes::metrics_router(state.clone()), &config);
                let (options, stop) = (config.serve.clone(), until_stopped());
                Some(tokio::spawn(async move {
                    if let Err(e) = crate::server::serve(l, router, stop, &options).await {
                        tracing::error!(error = %e, "metrics listener failed");
                    }
                }))
            }
            Err(e) => {
                tracing::error!(addr = %metrics_addr, error = %e, "cannot bind METRICS_BIND_ADDR");
                return ExitCode::FAILURE;
            }
        },
        MetricsEndpoint::Main | MetricsEndpoint::Off => None,
    };
    let app = startup::app_with_state(state, &config);
    let served = crate::server::serve(listener, app, until_stopped(), &config.serve).await;
    if let Some(metrics) = metrics_server {
        let _ = metrics.await;
    }
    match served {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server error");
            ExitCode::FAILURE
        }
    }
}

#[allow(
    clippy::print_stdout,
    reason = "the dev-mode curl line is meant for the terminal, not the logs"
)]
fn dev_hint(config: &Config, auth: &SupabaseAuth, addr: SocketAddr) {
    tracing::warn!(
        "DEV MODE: verifying with the Supabase CLI's well-known local JWT secret. \
         Anyone can mint tokens for it. Never use it outside your machine."
    );
    if let Some(token) = dev_token(config, auth) {
        println!(
            "\nTry it (token valid for 1 hour):\n  curl -s -H \"Authorization: Bearer {token}\" http://{addr}/api/me\n"
        );
        if config.database.is_some() {
            println!(
                "Todos under RLS (reads work without a token, as anon):\n  \
                 curl -s -H \"Authorization: Bearer {token}\" -H 'content-type: application/json' \
                 -d '{{\"title\":\"hello\",\"is_public\":true}}' http://{addr}/api/todos\n  \
                 curl -s http://{addr}/api/todos\n"
            );
        }
    }
}

/// SIGHUP refetches the JWKS at once: the cache purge Supabase asks backends to offer.
fn spawn_purge_on_sighup(state: AppState) {
    // Installed before the task starts, so no SIGHUP can meet the default action.
    #[cfg(unix)]
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; JWKS purge on signal unavailable");
        return;
    };
    #[cfg(unix)]
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: refetching the JWKS now");
            if let Some(jwks) = state.verifier.jwks() {
                let _ = jwks.refresh_now().await;
            }
        }
    });
    #[cfg(not(unix))]
    drop(state);
}

#[allow(clippy::print_stdout, reason = "mint prints the token for the caller to use")]
fn mint(args: MintArgs) -> ExitCode {
    let config = match load_config(args.dev) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let auth = match config.auth.build() {
        Ok(auth) => auth,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let minted = crate::mint::Minted {
        sub: args.sub.unwrap_or_else(Uuid::new_v4),
        email: args.email,
        role: args.role,
        ttl: args.ttl,
        aal: args.aal,
        anonymous: args.anonymous,
        claims: args.claims,
    };
    match sign(&config, &auth, &minted) {
        Ok(t) => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// GETs `/healthz` on the configured port over loopback, with a 3 s budget.
fn healthcheck() -> ExitCode {
    let addr = match crate::config::bind_addr_from_lookup(|name| std::env::var(name).ok()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}/healthz", SocketAddr::new(host, addr.port()));
    let check = async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        client.get(&url).send().await.map(|r| r.status())
    };
    let status = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(check).map_err(|e| e.without_url().to_string()));
    match status {
        Ok(s) if s.is_success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("unhealthy: {url} answered {s}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}
