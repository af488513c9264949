//! Shared application state.

use axum_supabase::{BuildError, SupabaseAuth};

use crate::config::Config;

/// What handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The token verifier, keys built once.
    pub verifier: SupabaseAuth,
}

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The verifier could not be built (its configuration, or TLS for the JWKS client).
    #[error("cannot build the token verifier: {0}")]
    Auth(#[from] BuildError),
}

impl AppState {
    /// Builds the state (and the keys) from validated configuration. Starts nothing.
    pub fn new(config: &Config) -> Result<Self, StartupError> {
        Ok(Self {
            verifier: config.auth.build()?,
        })
    }
}
