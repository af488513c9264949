//! The `axum-supabase-auth` binary: load `.env`, parse the command line, run.

use std::process::ExitCode;

use clap::Parser;

// malloc and free were a quarter of the user-space instructions per request
// with glibc's allocator (scripts/profile.sh), and musl's is slower still.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        // The parse error text quotes the offending line, which may hold the secret.
        let detail = match e {
            dotenvy::Error::LineParse(_, index) => format!("syntax error at byte {index}"),
            dotenvy::Error::Io(io) => io.to_string(),
            _ => "unreadable".to_owned(),
        };
        eprintln!("error: .env: {detail}");
        return ExitCode::from(2);
    }
    axum_supabase_auth::cli::run(axum_supabase_auth::cli::Cli::parse())
}
