//! Building the application (`app`) and serving it with graceful shutdown.

use std::time::Duration;

use axum::Router;
use axum::http::{Method, header};
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{Config, MetricsEndpoint};
pub use crate::edge::{BODY_LIMIT, REQUEST_ID};
use crate::edge::{BackLayer, FrontLayer};
use crate::routes;
use crate::state::{AppState, StartupError};

/// The whole application: routes plus the middleware stack. The one seam tests drive.
///
/// Outermost first: sensitive headers are marked before anything can log them;
/// a request id exists before the trace span opens; error bodies are made JSON
/// inside the trace so the logged status is the one sent.
///
/// Inside a Tokio runtime this also starts the background work (JWKS refresh,
/// cache sweep); outside one, it starts with the first request.
pub fn app(config: &Config) -> Result<Router, StartupError> {
    let state = AppState::new(config)?;
    state.verifier.start();
    Ok(app_with_state(state, config))
}

/// The application around a state you built (and whose key refresh you started).
pub fn app_with_state(state: AppState, config: &Config) -> Router {
    crate::metrics::handle();
    let public_metrics = config.metrics == MetricsEndpoint::Main;
    with_middleware(routes::router(state, public_metrics), config)
}

/// Wraps any router in the production middleware stack (what [`app`] does to ours):
/// [`FrontLayer`], the CORS layer when origins are configured, [`BackLayer`].
/// `crate::edge` says what each does and why they are hand-written.
pub fn with_middleware(router: Router, config: &Config) -> Router {
    let cors = (!config.cors_allowed_origins.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(config.cors_allowed_origins.clone()))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([REQUEST_ID])
            .max_age(Duration::from_secs(600))
            // Cookie sessions: fetch(…, { credentials: 'include' }) from an allowed origin.
            .allow_credentials(config.sessions.is_some())
    });
    let middleware = ServiceBuilder::new()
        .layer(FrontLayer::new())
        .option_layer(cors)
        .layer(BackLayer::new(
            config.max_in_flight,
            config.request_timeout,
            config.serve.max_header_bytes,
        ));
    router.layer(middleware)
}

/// Resolves on SIGTERM (what container runtimes send) or Ctrl-C.
///
/// The handlers are installed when this is called, not when the future is
/// first polled: a SIGTERM that arrives while the server is still starting
/// must shut it down gracefully, not kill it with the default action. Call it
/// inside a Tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
