//! The server `scripts/load.sh` measures: the production app from the usual
//! environment, plus the bench-only no-auth twin `GET /noauth` in the same
//! process, behind the same middleware; with `DATABASE_URL`, also the
//! unscoped baseline `GET /bench/todos-unscoped` of `scripts/db-bench.sh`.
//! Logs go to stdout as the binary's do (`RUST_LOG`, `LOG_FORMAT`).

use axum_supabase_auth::config::Config;
use axum_supabase_auth::state::AppState;
use axum_supabase_auth::{routes, startup};

#[path = "support/twin.rs"]
mod twin;
#[path = "support/unscoped.rs"]
mod unscoped;

// The production binary's allocator (src/main.rs), so that this measures what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env(false)?;
    // Logging as the binary sets it up, so that RUST_LOG and LOG_FORMAT cost what they cost there.
    let _logs = axum_supabase_auth::telemetry::init(&config.log_filter, config.log_format)
        .map_err(|e| e.to_string())?;
    let state = AppState::new(&config)?;
    state.verifier.start();
    let mut router = routes::router(state, false).merge(twin::router());
    // The baseline's own pool is plain and reads the URL as tokio-postgres
    // does, which knows no verify-* modes: it stays out of the TLS server.
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.contains("sslrootcert=")
    {
        let pool_size = std::env::var("DB_POOL_SIZE")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(10);
        router = router.merge(unscoped::router(&url, pool_size)?);
    }
    let app = startup::with_middleware(router, &config);
    let listener = tokio::net::TcpListener::bind(config.bind_addr).await?;
    axum_supabase_auth::serve(listener, app, startup::shutdown_signal(), &config.serve).await?;
    Ok(())
}
