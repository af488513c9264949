//! Sessions in `@supabase/ssr` cookies, for server-rendered apps (feature `cookies`).
//!
//! Next.js, SvelteKit, Remix and Astro apps keep the Supabase session in
//! cookies and send no `Authorization` header. [`SessionCookies::layer`] is
//! [`SupabaseAuth::layer`] that also reads those cookies:
//!
//! - **Precedence.** An `Authorization` header decides alone; the cookie is
//!   read only when there is none.
//! - **CSRF.** A cookie rides along on cross-site requests, a bearer header
//!   does not. A cookie-authenticated `POST`, `PUT`, `PATCH` or `DELETE` must
//!   carry an `Origin` among the allowed origins or the server's own, or
//!   `Sec-Fetch-Site: same-origin`; otherwise it is 403 `cross_site_request`.
//! - **Refresh.** When the access token has expired, or expires within 90 s
//!   (auth-js's margin), the refresh token is exchanged at GoTrue, once per
//!   session at a time however many requests carry it, and never more
//!   than a few times whatever a client pairs with one access token. The request is served as
//!   the refreshed user and the new cookies are written on the response, with
//!   `Cache-Control: private, no-store` so no cache shares them.
//! - **Failures.** GoTrue saying the session is over (any of the codes its
//!   refresh grant uses for that, read from either API version's shape): the
//!   cookies are cleared, 401. GoTrue down, slow, rate-limiting or failing, or
//!   its gateway refusing the API key: 503 with `Retry-After`, cookies kept.
//! - **Sign-out.** The handler's deletions are the last `Set-Cookie` lines:
//!   a session the layer refreshed on the way in is not written back.
//! - **Caches.** A shared cache may store a response to a request that
//!   carried cookies, so every cookie-authenticated answer gets
//!   `Cache-Control: private` (unless the handler set a policy) and `Vary: Cookie`.
//!
//! ```
//! use axum::{Router, routing::{get, post}};
//! use axum_supabase::{AuthUser, SupabaseAuth};
//! use axum_supabase::session::SessionCookies;
//!
//! fn routes(auth: &SupabaseAuth) -> Result<Router, Box<dyn std::error::Error>> {
//!     let sessions = SessionCookies::builder()
//!         .api_key("sb_publishable_example")
//!         .allowed_origins(["https://app.example.com"])
//!         .build(auth)?;
//!     Ok(Router::new()
//!         .route("/api/me", get(|user: AuthUser| async move { user.sub().to_string() }))
//!         .route("/api/auth/signout", sessions.sign_out_route())
//!         .route_layer(sessions.layer()))
//! }
//! ```

mod codec;
mod config;
mod csrf;
mod refresh;
mod signout;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;

pub use config::{DEFAULT_MAX_REFRESHES, DEFAULT_REFRESH_TIMEOUT, SessionCookiesBuilder};

use crate::error::{AuthError, Fault};
use crate::layer::{AuthLayer, Credential, CredentialSource, Prepare, Verdict};
use crate::unix_now;
use crate::user::AuthUser;
use crate::verifier::SupabaseAuth;
use codec::{Jar, StoredSession, WriteOptions};
use refresh::{KEEP_UNAVAILABLE, Outcome, Refresher};

/// The layer's view of cookie sessions: a fresh token the cache holds passes
/// at once; anything else is verified (and maybe refreshed) in a future.
impl CredentialSource for SessionCookies {
    fn inspect(&self, request: &Request) -> Credential {
        match self.read_cookie(request) {
            Inspected::Absent => Credential::Absent,
            Inspected::CrossSite => Credential::Refuse(Fault::CrossSiteRequest.into()),
            Inspected::Found(found) => {
                let now = unix_now();
                match self.inner.auth.check_cached(found.access_token(), now) {
                    Ok(Some(user)) if Self::is_fresh(&user, now) => Credential::Pass(user, keep_private),
                    _ => Credential::Deferred(Box::pin(self.clone().verdict(found))),
                }
            }
        }
    }
}

/// auth-js's `EXPIRY_MARGIN_MS`: a token this close to `exp` is refreshed.
pub const REFRESH_MARGIN_SECS: i64 = 90;

/// What `@supabase/ssr` sends with every response that sets session cookies.
const NO_STORE: &str = "private, no-cache, no-store, must-revalidate, max-age=0";

/// Cookie sessions for one project: the codec's settings, the CSRF rule and
/// the refresh single-flight. Cheap to clone. Made by [`SessionCookies::builder`].
#[derive(Debug, Clone)]
pub struct SessionCookies {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    auth: SupabaseAuth,
    name: String,
    http_only: bool,
    secure: bool,
    allowed_origins: Vec<String>,
    refresher: Arc<Refresher>,
}

/// What the cookies of a request without `Authorization` hold.
enum Inspected {
    /// No session cookie that decodes: as if no credentials were sent.
    Absent,
    /// A session cookie on a write from another site.
    CrossSite,
    /// A session to authenticate.
    Found(CookieRequest),
}

/// A decoded session, with what its response needs.
struct CookieRequest {
    session: StoredSession,
    /// Every cookie of the family that was sent, to delete stale ones.
    names: Vec<String>,
    secure: bool,
}

impl CookieRequest {
    /// The access token in the cookie.
    fn access_token(&self) -> &[u8] {
        self.session.access_token.as_bytes()
    }
}

/// The outcome of a cookie authentication.
enum Authenticated {
    /// Serve as `user`, then write `cookies` (a refreshed session) on the response.
    Pass {
        user: AuthUser,
        access: Option<SessionAccess>,
        cookies: Vec<HeaderValue>,
    },
    /// Refuse, writing `cookies` (a cleared session).
    Refuse {
        error: AuthError,
        cookies: Vec<HeaderValue>,
    },
}

/// The access token of a session the layer refreshed, for the sign-out handler.
#[derive(Clone)]
pub(crate) struct SessionAccess(Arc<str>);

impl SessionCookies {
    /// A builder with the defaults; see [`SessionCookiesBuilder`].
    pub fn builder() -> SessionCookiesBuilder {
        SessionCookiesBuilder::default()
    }

    /// Built from the process environment for `auth`'s project:
    /// [`SessionCookiesBuilder::from_env`], then `build`.
    pub fn from_env(auth: &SupabaseAuth) -> Result<Self, crate::BuildError> {
        SessionCookiesBuilder::from_env()?.build(auth)
    }

    /// Built from variables read through `lookup`, as [`from_env`](Self::from_env) reads them.
    pub fn from_lookup(
        auth: &SupabaseAuth,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::BuildError> {
        SessionCookiesBuilder::from_lookup(lookup)?.build(auth)
    }

    /// The cookie's name (chunks add `.0`, `.1`, …).
    pub fn cookie_name(&self) -> &str {
        &self.inner.name
    }

    /// The verifier the sessions' tokens are checked with.
    pub fn auth(&self) -> &SupabaseAuth {
        &self.inner.auth
    }

    /// [`SupabaseAuth::layer`] that also accepts a session cookie.
    pub fn layer(&self) -> AuthLayer {
        AuthLayer::required(self.inner.auth.clone()).with_credentials(Arc::new(self.clone()))
    }

    /// [`SupabaseAuth::optional_layer`] that also accepts a session cookie.
    pub fn optional_layer(&self) -> AuthLayer {
        AuthLayer::optional(self.inner.auth.clone()).with_credentials(Arc::new(self.clone()))
    }

    /// The session cookie of a request without `Authorization`, and the CSRF rule.
    fn read_cookie(&self, request: &Request) -> Inspected {
        let Jar {
            session: Some(session),
            names,
        } = codec::read(request.headers(), &self.inner.name)
        else {
            return Inspected::Absent;
        };
        if !csrf::may_write(request, &self.inner.allowed_origins) {
            return Inspected::CrossSite;
        }
        Inspected::Found(CookieRequest {
            session,
            names,
            secure: csrf::is_https(request),
        })
    }

    /// Whether a verified token needs no refresh yet.
    fn is_fresh(user: &AuthUser, now: i64) -> bool {
        user.claims().exp - now > REFRESH_MARGIN_SECS
    }

    /// The layer's verdict on a cookie: who the request is, and the cookies
    /// and cache headers its answer carries.
    async fn verdict(self, found: CookieRequest) -> Verdict {
        match self.authenticate(found).await {
            Authenticated::Pass {
                user,
                access,
                cookies,
            } => {
                let name = self.inner.name.clone();
                Verdict {
                    user: Ok(user),
                    prepare: access.map(|access| {
                        Box::new(move |request: &mut Request| {
                            request.extensions_mut().insert(access);
                        }) as Prepare
                    }),
                    finish: Box::new(move |response| {
                        keep_private(response);
                        finish_refreshed(response, cookies, &name);
                    }),
                }
            }
            Authenticated::Refuse { error, cookies } => Verdict {
                user: Err(error),
                prepare: None,
                finish: Box::new(move |response| finish(response, cookies)),
            },
        }
    }

    /// Verifies the cookie's session, refreshing it when it is (nearly) expired.
    async fn authenticate(&self, request: CookieRequest) -> Authenticated {
        let auth = &self.inner.auth;
        let CookieRequest {
            session,
            names,
            secure,
        } = request;
        let options = self.options(secure);
        // `Some(user)`: valid but near expiry, still usable if GoTrue is down.
        let (still_valid, session_key) = match auth.verify(&session.access_token).await {
            Ok(user) if Self::is_fresh(&user, unix_now()) => return pass(user),
            Ok(user) => {
                let id = user.claims().session_uuid();
                (Some(user.clone()), (id.unwrap_or(user.sub()), id.is_some()))
            }
            // Expired, or signed by a key since removed from the JWKS.
            Err(error) if matches!(error.fault(), Fault::Expired | Fault::UnknownKey) => {
                match auth.expired_session(&session.access_token, unix_now()).await {
                    Some(owner) => (None, owner),
                    None => return refuse(error, Vec::new()),
                }
            }
            Err(error) => return refuse(error, Vec::new()),
        };
        let Some(refresh_token) = session.refresh_token.as_deref().filter(|t| !t.is_empty()) else {
            return match still_valid {
                Some(user) => pass(user),
                None => refuse(Fault::Expired.into(), Vec::new()),
            };
        };
        let (owner, proven) = session_key;
        let session_key = self.inner.refresher.key(owner, proven, refresh_token);
        match self.inner.refresher.refresh(session_key, refresh_token).await {
            Outcome::Refreshed(new) => match auth.verify(&new.access_token).await {
                Ok(user) => Authenticated::Pass {
                    user,
                    access: Some(SessionAccess(Arc::from(new.access_token.as_str()))),
                    cookies: codec::write(&self.inner.name, &new.json, &names, options),
                },
                Err(error) => {
                    tracing::warn!(
                        reason = error.description(),
                        "GoTrue issued a token this verifier refuses"
                    );
                    refuse(error, Vec::new())
                }
            },
            Outcome::Ended { .. } => refuse(
                Fault::SessionEnded.into(),
                codec::clear(&self.inner.name, &names, options),
            ),
            Outcome::Unavailable { retry_after } => match still_valid {
                Some(user) => pass(user),
                None => refuse(unavailable_fault(retry_after), Vec::new()),
            },
        }
    }

    /// The refresh entries held and about how many bytes they take, for this
    /// repository's bound tests (feature `internals`).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn refresh_memory(&self) -> (usize, usize) {
        self.inner.refresher.held()
    }

    fn options(&self, https: bool) -> WriteOptions {
        WriteOptions {
            http_only: self.inner.http_only,
            secure: self.inner.secure || https,
        }
    }
}

fn pass(user: AuthUser) -> Authenticated {
    Authenticated::Pass {
        user,
        access: None,
        cookies: Vec::new(),
    }
}

fn refuse(error: AuthError, cookies: Vec<HeaderValue>) -> Authenticated {
    Authenticated::Refuse { error, cookies }
}

pub(crate) fn unavailable_fault(retry_after: std::time::Duration) -> AuthError {
    Fault::RefreshUnavailable {
        retry_after_secs: retry_after.as_secs().max(1),
    }
    .into()
}

/// A shared cache may store a response to a request with cookies (unlike one
/// with `Authorization`, RFC 9111 §3.5), so an answer authenticated by cookie
/// is marked `private` unless the handler chose a policy, and varies on `Cookie`.
fn keep_private(response: &mut Response) {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    }
    headers.append(header::VARY, HeaderValue::from_static("Cookie"));
}

/// Writes a refreshed session's `cookies` on the handler's `response`,
/// unless the handler set a cookie of the session family itself (a sign-out
/// clearing it): `Set-Cookie` lines apply in order, so ours after its would
/// put the session back.
fn finish_refreshed(response: &mut Response, cookies: Vec<HeaderValue>, name: &str) {
    let handler_wrote_session = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|line| codec::is_family(line.as_bytes(), name));
    if !handler_wrote_session {
        finish(response, cookies);
    }
}

/// Writes `cookies` on `response`, and the headers that keep caches from sharing it.
pub(crate) fn finish(response: &mut Response, cookies: Vec<HeaderValue>) {
    if cookies.is_empty() {
        return;
    }
    let headers = response.headers_mut();
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    headers.insert(header::EXPIRES, HeaderValue::from_static("0"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The cookie-session reader, for this repository's fuzz target: the access
/// and refresh tokens of the session in `headers`, if one decodes.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub fn fuzz_read(headers: &axum::http::HeaderMap, name: &str) -> Option<(String, Option<String>)> {
    codec::read(headers, name)
        .session
        .map(|s| (s.access_token, s.refresh_token))
}

/// The cookie-session writer, for this repository's fuzz target.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub fn fuzz_write(name: &str, session_json: &str) -> Vec<HeaderValue> {
    let options = WriteOptions {
        http_only: false,
        secure: false,
    };
    codec::write(name, session_json, &[], options)
}
