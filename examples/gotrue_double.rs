//! The GoTrue test double (`support/gotrue_double.rs`) as a process, for
//! `scripts/browser-check.sh`. Not GoTrue: a stand-in that follows its API.
//!
//! `DOUBLE_BIND_ADDR` (default 127.0.0.1:39403), `SUPABASE_JWT_SECRET` (signs
//! the access tokens), `SUPABASE_PUBLISHABLE_KEY` (the `apikey` it wants),
//! and `SIGN_IN_EXPIRES_IN` (seconds, default 3600).

#[path = "support/gotrue_double.rs"]
mod gotrue_double;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let addr = std::env::var("DOUBLE_BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:39403".to_owned());
    let gotrue = gotrue_double::GoTrue::new(
        var("SUPABASE_JWT_SECRET")?.as_bytes(),
        &var("SUPABASE_PUBLISHABLE_KEY")?,
    );
    if let Ok(secs) = var("SIGN_IN_EXPIRES_IN") {
        let secs = secs.parse()?;
        gotrue.set(|k| k.sign_in_expires_in = secs);
    }
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let url = gotrue.serve(listener).await?;
    eprintln!("GoTrue test double on {url}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
