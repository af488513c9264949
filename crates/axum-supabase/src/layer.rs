//! `AuthLayer`: the tower middleware that authenticates every request it wraps.
//!
//! It reads the bearer token, verifies it, and inserts the result into the
//! request extensions for [`AuthUser`](super::AuthUser) to pick up. On failure it
//! answers itself (RFC 6750) and never calls the inner service. It is a real
//! `Layer` + `Service`, so it composes with any tower stack, not only axum's.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use tower::{Layer, Service};

use super::bearer::bearer_token;
use super::user::AuthContext;
use super::{Fault, SupabaseAuth};

/// Whether a request without credentials may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Required,
    Optional,
}

/// Wraps routes so that they only see authenticated requests.
///
/// ```
/// use axum::{Router, routing::get};
/// use axum_supabase::{AuthUser, SupabaseAuth};
///
/// fn routes(auth: &SupabaseAuth) -> Router {
///     Router::new()
///         .route("/api/me", get(|user: AuthUser| async move { user.sub().to_string() }))
///         .route_layer(auth.layer())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AuthLayer {
    verifier: SupabaseAuth,
    mode: Mode,
}

impl AuthLayer {
    /// No token → 401. For routes that take `AuthUser` or a role guard.
    pub fn required(verifier: SupabaseAuth) -> Self {
        Self {
            verifier,
            mode: Mode::Required,
        }
    }

    /// No token → the handler's `Option<AuthUser>` is `None`. A bad token, or
    /// credentials in another scheme (`Basic …`), are still a 401.
    pub fn optional(verifier: SupabaseAuth) -> Self {
        Self {
            verifier,
            mode: Mode::Optional,
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
            mode: self.mode,
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: SupabaseAuth,
    mode: Mode,
}

impl<S> Service<Request> for AuthService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The clone is not necessarily ready; keep the one that is (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let mode = self.mode;
        Box::pin(async move {
            let outcome = match bearer_token(request.headers(), verifier.max_token_len()) {
                Err(error) => Err(error),
                Ok(Some(token)) => verifier.verify(token).await.map(|user| {
                    tracing::Span::current().record("user.sub", tracing::field::display(user.sub()));
                    Some(user)
                }),
                Ok(None) if mode == Mode::Optional => Ok(None),
                Ok(None) if token_in_query(&request) => Err(Fault::TokenInQuery.into()),
                Ok(None) => Err(Fault::Missing.into()),
            };
            match outcome {
                Ok(user) => {
                    verifier.count_outcome(if user.is_some() { "ok" } else { "anonymous" });
                    request
                        .extensions_mut()
                        .insert(AuthContext { user, auth: verifier });
                    inner.call(request).await
                }
                Err(error) => {
                    verifier.count_outcome(error.reason());
                    tracing::debug!(reason = error.description(), "request not authenticated");
                    Ok(verifier.reject(error))
                }
            }
        })
    }
}

/// Whether the query string carries something that looks like a token parameter,
/// so the 401 can say where the token belongs. Only names are inspected.
fn token_in_query(request: &Request) -> bool {
    request.uri().query().is_some_and(|q| {
        q.split('&')
            .filter_map(|pair| pair.split('=').next())
            .any(|name| matches!(name, "access_token" | "token" | "jwt"))
    })
}
