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
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::bearer::bearer_bytes;
use super::user::AuthContext;
use super::{AuthError, AuthUser, Fault, SupabaseAuth};
use crate::unix_now;

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
    #[cfg(feature = "cookies")]
    cookies: Option<crate::session::SessionCookies>,
}

impl AuthLayer {
    /// No token → 401. For routes that take `AuthUser` or a role guard.
    pub fn required(verifier: SupabaseAuth) -> Self {
        Self {
            verifier,
            mode: Mode::Required,
            #[cfg(feature = "cookies")]
            cookies: None,
        }
    }

    /// No token → the handler's `Option<AuthUser>` is `None`. A bad token, or
    /// credentials in another scheme (`Basic …`), are still a 401.
    pub fn optional(verifier: SupabaseAuth) -> Self {
        Self {
            verifier,
            mode: Mode::Optional,
            #[cfg(feature = "cookies")]
            cookies: None,
        }
    }

    /// Also accepts `@supabase/ssr` session cookies (made by `SessionCookies::layer`).
    #[cfg(feature = "cookies")]
    pub(crate) fn with_cookies(mut self, cookies: crate::session::SessionCookies) -> Self {
        self.cookies = Some(cookies);
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
            mode: self.mode,
            #[cfg(feature = "cookies")]
            cookies: self.cookies.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: SupabaseAuth,
    mode: Mode,
    #[cfg(feature = "cookies")]
    cookies: Option<crate::session::SessionCookies>,
}

/// What the synchronous part of a call found.
enum Found {
    /// Let the request through, with this user (`None`: anonymous, optional mode).
    Pass(Option<AuthUser>),
    /// Answer with this error.
    Refuse(AuthError),
    /// A token the cache does not know: verify it in full.
    Verify(String),
    /// A session cookie that needs a full verification or a refresh.
    #[cfg(feature = "cookies")]
    Cookie(crate::session::SessionCookies, crate::session::CookieRequest),
    /// A session cookie whose token the cache holds, fresh: pass, and keep
    /// shared caches from storing the answer.
    #[cfg(feature = "cookies")]
    PassCookie(AuthUser),
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
                Ok(Some(user)) => Found::Pass(Some(user)),
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
            Found::Pass(user) => AuthFuture::inner(pass(&mut self.inner, &self.verifier, request, user)),
            #[cfg(feature = "cookies")]
            Found::PassCookie(user) => {
                AuthFuture::cookie(pass(&mut self.inner, &self.verifier, request, Some(user)))
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
            #[cfg(feature = "cookies")]
            Found::Cookie(sessions, found) => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let verifier = self.verifier.clone();
                AuthFuture::verify(Box::pin(async move {
                    use crate::session::{Authenticated, finish, finish_refreshed};
                    match sessions.authenticate(found).await {
                        Authenticated::Pass {
                            user,
                            access,
                            cookies,
                        } => {
                            let mut request = request;
                            if let Some(access) = access {
                                request.extensions_mut().insert(access);
                            }
                            let mut response = pass(&mut inner, &verifier, request, Some(user)).await?;
                            crate::session::keep_private(&mut response);
                            finish_refreshed(&mut response, cookies, sessions.cookie_name());
                            Ok(response)
                        }
                        Authenticated::Refuse { error, cookies } => {
                            let mut response = refuse(&verifier, error);
                            finish(&mut response, cookies);
                            Ok(response)
                        }
                    }
                }))
            }
        }
    }
}

impl<S> AuthService<S> {
    /// No `Authorization` header: a session cookie decides, when cookie
    /// sessions are on and one was sent; otherwise there are no credentials.
    fn without_header(&self, request: &Request) -> Found {
        #[cfg(feature = "cookies")]
        if let Some(found) = self.cookie_session(request) {
            return found;
        }
        match self.mode {
            Mode::Optional => Found::Pass(None),
            Mode::Required if token_in_query(request) => Found::Refuse(Fault::TokenInQuery.into()),
            Mode::Required => Found::Refuse(Fault::Missing.into()),
        }
    }

    /// What the session cookie decides; `None` without one. A fresh token the
    /// cache holds passes at once; anything else is verified (and maybe refreshed).
    #[cfg(feature = "cookies")]
    fn cookie_session(&self, request: &Request) -> Option<Found> {
        use crate::session::{Inspected, SessionCookies};
        let cookies = self.cookies.as_ref()?;
        match cookies.inspect(request) {
            Inspected::Absent => None,
            Inspected::CrossSite => Some(Found::Refuse(Fault::CrossSiteRequest.into())),
            Inspected::Found(found) => {
                let now = unix_now();
                Some(match self.verifier.check_cached(found.access_token(), now) {
                    Ok(Some(user)) if SessionCookies::is_fresh(&user, now) => Found::PassCookie(user),
                    _ => Found::Cookie(cookies.clone(), found),
                })
            }
        }
    }
}

/// Hands the request on, with what the extractors need.
fn pass<S: Service<Request>>(
    inner: &mut S,
    auth: &SupabaseAuth,
    mut request: Request,
    user: Option<AuthUser>,
) -> S::Future {
    match &user {
        Some(user) => {
            tracing::Span::current().record("user.sub", tracing::field::display(user.sub()));
            auth.count_outcome("ok");
        }
        None => auth.count_outcome("anonymous"),
    }
    request.extensions_mut().insert(AuthContext {
        user,
        auth: auth.clone(),
    });
    inner.call(request)
}

fn refuse(auth: &SupabaseAuth, error: AuthError) -> Response {
    auth.count_outcome(error.reason());
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
        // `private`: authenticated by a session cookie, so no shared cache may store the answer.
        Inner { #[pin] future: F, private: bool },
        Ready { response: Option<Response> },
        Verify { future: Pin<Box<dyn Future<Output = Result<Response, E>> + Send>> },
    }
}

impl<F, E> AuthFuture<F, E> {
    fn inner(future: F) -> Self {
        Self {
            state: State::Inner {
                future,
                private: false,
            },
        }
    }

    #[cfg(feature = "cookies")]
    fn cookie(future: F) -> Self {
        Self {
            state: State::Inner {
                future,
                private: true,
            },
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
            StateProj::Inner { future, private } => {
                let private = *private;
                future.poll(cx).map_ok(|mut response| {
                    if private {
                        mark_private(&mut response);
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

#[cfg(feature = "cookies")]
fn mark_private(response: &mut Response) {
    crate::session::keep_private(response);
}

#[cfg(not(feature = "cookies"))]
fn mark_private(_: &mut Response) {}

/// Whether the query string carries something that looks like a token parameter,
/// so the 401 can say where the token belongs. Only names are inspected.
fn token_in_query(request: &Request) -> bool {
    request.uri().query().is_some_and(|q| {
        q.split('&')
            .filter_map(|pair| pair.split('=').next())
            .any(|name| matches!(name, "access_token" | "token" | "jwt"))
    })
}
