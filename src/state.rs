//! Shared application state.

use axum_supabase::db::Database;
use axum_supabase::session::SessionCookies;
use axum_supabase::{AuthLayer, BuildError, SupabaseAuth};

use crate::config::Config;

/// What handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The token verifier, keys built once: for its settings and status. To
    /// guard routes use [`AppState::layer`] (or `optional_layer`), not the
    /// verifier's own layer, which knows nothing of session cookies.
    pub verifier: SupabaseAuth,
    /// The pool for the RLS-scoped routes, when `DATABASE_URL` is set.
    pub db: Option<Database>,
    /// Cookie sessions, when `SESSION_COOKIES=on`.
    pub sessions: Option<SessionCookies>,
    /// The OpenAPI document's bytes, set once when the router is built.
    pub openapi: std::sync::Arc<std::sync::OnceLock<axum::body::Bytes>>,
}

/// Why the application could not be built: a setting of one of the
/// library's parts (it names the variable or the method).
pub type StartupError = BuildError;

impl AppState {
    /// Builds the state (and the keys) from validated configuration. Starts
    /// nothing and connects to nothing.
    pub fn new(config: &Config) -> Result<Self, StartupError> {
        let verifier = config.auth.build()?;
        let sessions = config.sessions.as_ref().map(|b| b.build(&verifier)).transpose()?;
        Ok(Self {
            verifier,
            db: config.database.as_ref().map(|b| b.build()).transpose()?,
            sessions,
            openapi: std::sync::Arc::default(),
        })
    }

    /// The layer for routes that need a caller: bearer tokens, and session
    /// cookies when they are on.
    pub fn layer(&self) -> AuthLayer {
        match &self.sessions {
            Some(sessions) => sessions.layer(),
            None => self.verifier.layer(),
        }
    }

    /// The layer for routes where signing in is optional.
    pub fn optional_layer(&self) -> AuthLayer {
        match &self.sessions {
            Some(sessions) => sessions.optional_layer(),
            None => self.verifier.optional_layer(),
        }
    }
}
