//! Shared application state.

use axum_supabase::db::{Database, DbBuildError};
use axum_supabase::{BuildError, SupabaseAuth};

use crate::config::Config;

/// What handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The token verifier, keys built once.
    pub verifier: SupabaseAuth,
    /// The pool for the RLS-scoped routes, when `DATABASE_URL` is set.
    pub db: Option<Database>,
}

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The verifier could not be built (its configuration, or TLS for the JWKS client).
    #[error("cannot build the token verifier: {0}")]
    Auth(#[from] BuildError),
    /// The database pool could not be built.
    #[error("cannot build the database pool: {0}")]
    Database(#[from] DbBuildError),
}

impl AppState {
    /// Builds the state (and the keys) from validated configuration. Starts
    /// nothing and connects to nothing.
    pub fn new(config: &Config) -> Result<Self, StartupError> {
        Ok(Self {
            verifier: config.auth.build()?,
            db: config.database.as_ref().map(|b| b.build()).transpose()?,
        })
    }
}
