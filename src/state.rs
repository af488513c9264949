//! Shared application state.

use crate::auth::TokenVerifier;
use crate::config::Config;

/// What handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The token verifier, keys built once.
    pub verifier: TokenVerifier,
}

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The JWKS HTTP client could not be created (TLS initialisation).
    #[error("cannot build the JWKS HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// JWKS needs a Tokio runtime for its background refresh.
    #[error("the JWKS key refresh must be started inside a Tokio runtime")]
    NoRuntime,
}

impl AppState {
    /// Builds the state (and the keys) from validated configuration. Starts nothing.
    pub fn new(config: &Config) -> Result<Self, StartupError> {
        Ok(Self {
            verifier: TokenVerifier::new(&config.jwt)?,
        })
    }
}
