//! Shared application state.

use crate::auth::TokenVerifier;
use crate::config::Config;

/// What handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The token verifier, keys built once.
    pub verifier: TokenVerifier,
}

impl AppState {
    /// Builds the state (and the keys) from validated configuration.
    pub fn new(config: &Config) -> Self {
        Self {
            verifier: TokenVerifier::new(&config.jwt),
        }
    }
}
