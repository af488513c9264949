//! `AuthLayer`: the tower middleware that authenticates every request it wraps.
//!
//! It reads the bearer token, verifies it, and inserts the result into the
//! request extensions for [`AuthUser`](super::AuthUser) to pick up. On failure it
//! answers itself (RFC 6750) and never calls the inner service. It is a real
//! `Layer` + `Service`, so it composes with any tower stack, not only axum's.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::bearer::bearer_bytes;
use crate::error::{AuthError, Fault};
use crate::unix_now;
use crate::user::{AuthContext, AuthUser};
use crate::verifier::SupabaseAuth;

/// Whether a request without credentials may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Required,
    Optional,
}

/// A source of credentials besides the `Authorization` header: the session
/// cookie, with the `cookies` feature. The layer knows no more of it than this.
#[cfg_attr(
    not(feature = "cookies"),
    allow(dead_code, reason = "only cookie sessions are a source")
)]
pub(crate) trait CredentialSource: Send + Sync + std::fmt::Debug {
    /// What a request without `Authorization` carries.
    fn inspect(&self, request: &Request) -> Credential;
}

/// What a [`CredentialSource`] found.
#[cfg_attr(
    not(feature = "cookies"),
    allow(dead_code, reason = "only cookie sessions are a source")
)]
pub(crate) enum Credential {
    /// Nothing: the decision without credentials stands.
    Absent,
    /// Refuse at once.
    Refuse(AuthError),
    /// Let through as this user, then `finish` the handler's response.
    Pass(AuthUser, fn(&mut Response)),
    /// Work that may wait (a full verification, a refresh).
    Deferred(Pin<Box<dyn Future<Output = Verdict> + Send>>),
}

/// Work a source does on the request before the handler.
pub(crate) type Prepare = Box<dyn FnOnce(&mut Request) + Send>;
/// Work a source does on the response, the handler's or the refusal.
pub(crate) type Finish = Box<dyn FnOnce(&mut Response) + Send>;

/// The outcome of a deferred credential.
#[cfg_attr(
    not(feature = "cookies"),
    allow(dead_code, reason = "only cookie sessions are a source")
)]
pub(crate) struct Verdict {
    pub(crate) user: Result<AuthUser, AuthError>,
    /// Runs on the request before the handler, when it is let through.
    pub(crate) prepare: Option<Prepare>,
    /// Runs on the response.
    pub(crate) finish: Finish,
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
    credentials: Option<Arc<dyn CredentialSource>>,
}

impl AuthLayer {
    /// No token → 401. For routes that take `AuthUser` or a role guard.
    pub fn required(verifier: SupabaseAuth) -> Self {
        Self {
            verifier,
            mode: Mode::Required,
            credentials: None,
        }
    }

    /// No token → the handler's `Option<AuthUser>` is `None`. A bad token, or
    /// credentials in another scheme (`Basic …`), are still a 401.
    pub fn optional(verifier: SupabaseAuth) -> Self {
        Self {
            verifier,
            mode: Mode::Optional,
            credentials: None,
        }
    }

    /// Also accepts what `source` finds in requests without `Authorization`.
    #[cfg_attr(
        not(feature = "cookies"),
        allow(dead_code, reason = "only cookie sessions add a source")
    )]
    pub(crate) fn with_credentials(mut self, source: Arc<dyn CredentialSource>) -> Self {
        self.credentials = Some(source);
        self
    }
}

impl SupabaseAuth {
    /// A layer for routes that need a signed-in caller: no token is a 401.
    pub fn layer(&self) -> AuthLayer {
        AuthLayer::required(self.clone())
    }

    /// A layer for routes where signing in is optional: no token gives the
    /// handler's `Option<AuthUser>` a `None`; a bad token is still a 401.
    pub fn optional_layer(&self) -> AuthLayer {
        AuthLayer::optional(self.clone())
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
            mode: self.mode,
            credentials: self.credentials.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: SupabaseAuth,
    mode: Mode,
    credentials: Option<Arc<dyn CredentialSource>>,
}

/// What the synchronous part of a call found.
enum Found {
    /// Let the request through, with this user (`None`: anonymous, optional
    /// mode), and finish the response with the function, if any.
    Pass(Option<AuthUser>, Option<fn(&mut Response)>),
    /// Answer with this error.
    Refuse(AuthError),
    /// A token the cache does not know: verify it in full.
    Verify(String),
    /// Another source's credentials, decided later.
    Deferred(Pin<Box<dyn Future<Output = Verdict> + Send>>),
}

impl<S> Service<Request> for AuthService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = AuthFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Most requests carry a token the cache holds, or none: those are
        // decided here, without boxing a future. Only a full verification
        // (which may fetch JWKS keys) runs in a boxed one.
        let found = match bearer_bytes(request.headers(), self.verifier.max_token_len()) {
            Err(error) => Found::Refuse(error),
            Ok(Some(token)) => match self.verifier.check_cached(token, unix_now()) {
                Ok(Some(user)) => Found::Pass(Some(user), None),
                Err(error) => Found::Refuse(error),
                // Visible ASCII (bearer_bytes checked) is always UTF-8.
                Ok(None) => match std::str::from_utf8(token) {
                    Ok(token) => Found::Verify(token.to_owned()),
                    Err(_) => Found::Refuse(Fault::NotVisibleAscii.into()),
                },
            },
            Ok(None) => self.without_header(&request),
        };
        match found {
            Found::Pass(user, finish) => {
                AuthFuture::inner(pass(&mut self.inner, &self.verifier, request, user), finish)
            }
            Found::Refuse(error) => AuthFuture::ready(refuse(&self.verifier, error)),
            Found::Verify(token) => {
                // The clone is not necessarily ready; keep the one that is (tower's usual dance).
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let verifier = self.verifier.clone();
                AuthFuture::verify(Box::pin(async move {
                    match verifier.verify_miss(&token, unix_now()).await {
                        Ok(user) => pass(&mut inner, &verifier, request, Some(user)).await,
                        Err(error) => Ok(refuse(&verifier, error)),
                    }
                }))
            }
            Found::Deferred(verdict) => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let verifier = self.verifier.clone();
                AuthFuture::verify(Box::pin(async move {
                    let Verdict {
                        user,
                        prepare,
                        finish,
                    } = verdict.await;
                    let mut response = match user {
                        Ok(user) => {
                            let mut request = request;
                            if let Some(prepare) = prepare {
                                prepare(&mut request);
                            }
                            pass(&mut inner, &verifier, request, Some(user)).await?
                        }
                        Err(error) => refuse(&verifier, error),
                    };
                    finish(&mut response);
                    Ok(response)
                }))
            }
        }
    }
}

impl<S> AuthService<S> {
    /// No `Authorization` header: another source's credentials decide, when
    /// there is one and it finds any; otherwise there are no credentials.
    fn without_header(&self, request: &Request) -> Found {
        match self.credentials.as_ref().map(|source| source.inspect(request)) {
            None | Some(Credential::Absent) => {}
            Some(Credential::Refuse(error)) => return Found::Refuse(error),
            Some(Credential::Pass(user, finish)) => return Found::Pass(Some(user), Some(finish)),
            Some(Credential::Deferred(verdict)) => return Found::Deferred(verdict),
        }
        match self.mode {
            Mode::Optional => Found::Pass(None, None),
            Mode::Required if token_in_query(request) => Found::Refuse(Fault::TokenInQuery.into()),
            Mode::Required => Found::Refuse(Fault::Missing.into()),
        }
    }
}

/// Records `user.sub` on the current span when it has that field (the
/// application's request span). This is `Span::current().record(..)`
/// without the handle: no reference count taken and given back per request.
fn record_user(sub: uuid::Uuid) {
    tracing::dispatcher::get_default(|dispatch| {
        let current = dispatch.current_span();
        let (Some(id), Some(metadata)) = (current.id(), current.metadata()) else {
            return;
        };
        let Some(field) = metadata.fields().field("user.sub") else {
            return;
        };
        // A string field: every subscriber reads it as one, without formatting.
        let mut text = uuid::Uuid::encode_buffer();
        let sub: &str = sub.hyphenated().encode_lower(&mut text);
        let values = [(&field, Some(&sub as &dyn tracing::Value))];
        dispatch.record(
            id,
            &tracing::span::Record::new(&metadata.fields().value_set(&values)),
        );
    });
}

/// Hands the request on, with what the extractors need.
fn pass<S: Service<Request>>(
    inner: &mut S,
    auth: &SupabaseAuth,
    mut request: Request,
    user: Option<AuthUser>,
) -> S::Future {
    let responder = auth.responder();
    match &user {
        Some(user) => {
            record_user(user.sub());
            responder.count("ok");
        }
        None => responder.count("anonymous"),
    }
    request.extensions_mut().insert(AuthContext {
        user,
        responder: responder.clone(),
    });
    inner.call(request)
}

fn refuse(auth: &SupabaseAuth, error: AuthError) -> Response {
    auth.responder().count(error.fault().label());
    tracing::debug!(reason = error.description(), "request not authenticated");
    auth.reject(error)
}

pin_project! {
    /// The future of [`AuthService`]: the inner service's own future when the
    /// request was decided at once, or a boxed full verification.
    pub struct AuthFuture<F, E> {
        #[pin]
        state: State<F, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, E> {
        // `finish`: what the credentials' source does to the answer (a session
        // cookie's keeps shared caches from storing it).
        Inner { #[pin] future: F, finish: Option<fn(&mut Response)> },
        Ready { response: Option<Response> },
        Verify { future: Pin<Box<dyn Future<Output = Result<Response, E>> + Send>> },
    }
}

impl<F, E> AuthFuture<F, E> {
    fn inner(future: F, finish: Option<fn(&mut Response)>) -> Self {
        Self {
            state: State::Inner { future, finish },
        }
    }

    fn ready(response: Response) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    fn verify(future: Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>) -> Self {
        Self {
            state: State::Verify { future },
        }
    }
}

impl<F, E> std::fmt::Debug for AuthFuture<F, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.state {
            State::Inner { .. } => "AuthFuture::Inner",
            State::Ready { .. } => "AuthFuture::Ready",
            State::Verify { .. } => "AuthFuture::Verify",
        })
    }
}

impl<F: Future<Output = Result<Response, E>>, E> Future for AuthFuture<F, E> {
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future, finish } => {
                let finish = *finish;
                future.poll(cx).map_ok(|mut response| {
                    if let Some(finish) = finish {
                        finish(&mut response);
                    }
                    response
                })
            }
            // Polled again after completion (a caller's bug): an empty answer, not a panic.
            StateProj::Ready { response } => Poll::Ready(Ok(response.take().unwrap_or_default())),
            StateProj::Verify { future } => future.as_mut().poll(cx),
        }
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
