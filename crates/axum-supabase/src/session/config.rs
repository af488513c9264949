//! [`SessionCookiesBuilder`]: the cookie-session settings, checked before the first request.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use super::refresh::Refresher;
use super::{Inner, SessionCookies};
use crate::SupabaseAuth;

/// A cookie-session setting, for errors that name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionSetting {
    /// Whether cookie sessions are on at all.
    Enabled,
    /// [`SessionCookiesBuilder::api_key`]
    ApiKey,
    /// [`SessionCookiesBuilder::cookie_name`]
    CookieName,
    /// [`SessionCookiesBuilder::http_only`]
    HttpOnly,
    /// [`SessionCookiesBuilder::secure`]
    Secure,
    /// [`SessionCookiesBuilder::refresh_timeout`]
    RefreshTimeout,
    /// [`SessionCookiesBuilder::max_refreshes`]
    MaxRefreshes,
    /// [`SessionCookiesBuilder::allowed_origins`]
    AllowedOrigins,
    /// The verifier's project URL, which names the cookie and locates GoTrue.
    ProjectUrl,
}

impl SessionSetting {
    /// The environment variable [`SessionCookiesBuilder::from_lookup`] reads it from.
    pub fn env_var(self) -> &'static str {
        match self {
            Self::Enabled => "SESSION_COOKIES",
            Self::ApiKey => "SUPABASE_PUBLISHABLE_KEY",
            Self::CookieName => "AUTH_COOKIE_NAME",
            Self::HttpOnly => "COOKIE_HTTP_ONLY",
            Self::Secure => "COOKIE_SECURE",
            Self::RefreshTimeout => "SESSION_REFRESH_TIMEOUT_MS",
            Self::MaxRefreshes => "SESSION_MAX_REFRESHES",
            Self::AllowedOrigins => "CORS_ALLOWED_ORIGINS",
            Self::ProjectUrl => "SUPABASE_URL",
        }
    }
}

/// Why the cookie-session settings were refused. The message never holds the API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", .setting.env_var())]
pub struct SessionBuildError {
    setting: SessionSetting,
    reason: &'static str,
}

impl SessionBuildError {
    fn new(setting: SessionSetting, reason: &'static str) -> Self {
        Self { setting, reason }
    }

    /// The setting at fault.
    pub fn setting(&self) -> SessionSetting {
        self.setting
    }

    /// What is wrong with it, without its value.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// Whether the setting is missing rather than wrong.
    pub fn is_missing(&self) -> bool {
        self.reason.starts_with("is not set")
    }
}

/// The default GoTrue call timeout.
pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(5);
/// The default cap on refreshes in flight (and remembered).
pub const DEFAULT_MAX_REFRESHES: usize = 10_000;

/// Settings for [`SessionCookies`]. Only the API key is required.
///
/// ```
/// use axum_supabase::SupabaseAuth;
/// use axum_supabase::session::SessionCookies;
///
/// let auth = SupabaseAuth::builder()
///     .project_url("https://abc.supabase.co")
///     .jwt_secret("a-test-secret-of-at-least-32-bytes!")
///     .without_jwks()
///     .build()?;
/// let sessions = SessionCookies::builder()
///     .api_key("sb_publishable_example")
///     .allowed_origins(["https://app.example.com"])
///     .build(&auth)?;
/// assert_eq!(sessions.cookie_name(), "sb-abc-auth-token");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SessionCookiesBuilder {
    api_key: Option<SecretString>,
    cookie_name: Option<String>,
    http_only: bool,
    secure: bool,
    allowed_origins: Vec<String>,
    refresh_timeout: Duration,
    max_refreshes: usize,
}

impl std::fmt::Debug for SessionCookiesBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCookiesBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("cookie_name", &self.cookie_name)
            .field("http_only", &self.http_only)
            .field("secure", &self.secure)
            .field("allowed_origins", &self.allowed_origins)
            .field("refresh_timeout", &self.refresh_timeout)
            .field("max_refreshes", &self.max_refreshes)
            .finish()
    }
}

impl Default for SessionCookiesBuilder {
    fn default() -> Self {
        Self {
            api_key: None,
            cookie_name: None,
            http_only: false,
            secure: false,
            allowed_origins: Vec::new(),
            refresh_timeout: DEFAULT_REFRESH_TIMEOUT,
            max_refreshes: DEFAULT_MAX_REFRESHES,
        }
    }
}

impl SessionCookiesBuilder {
    /// The project's publishable key (`sb_publishable_…`) or legacy anon key,
    /// sent as `apikey` to GoTrue. Public, but never logged. Required.
    pub fn api_key(&mut self, key: impl Into<String>) -> &mut Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    /// The cookie's name; by default `sb-<first DNS label of the project URL's host>-auth-token`,
    /// as `@supabase/ssr` names it.
    pub fn cookie_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.cookie_name = Some(name.into());
        self
    }

    /// Writes the cookies `HttpOnly`. Off by default, as in `@supabase/ssr`,
    /// because supabase-js in the browser reads the session from them.
    pub fn http_only(&mut self, on: bool) -> &mut Self {
        self.http_only = on;
        self
    }

    /// Writes the cookies `Secure` on every response. Without it, `Secure` is
    /// added when the request came over https (the URI or `X-Forwarded-Proto`).
    pub fn secure(&mut self, on: bool) -> &mut Self {
        self.secure = on;
        self
    }

    /// Exact origins (`https://app.example.com`) whose cookie-authenticated
    /// writes are accepted, besides the server's own origin. Usually the CORS list.
    pub fn allowed_origins<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, origins: I) -> &mut Self {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// How long a GoTrue call may take (default 5 s); then the request is answered 503.
    pub fn refresh_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.refresh_timeout = timeout;
        self
    }

    /// How many refreshes may be in flight or remembered at once (default 10,000);
    /// beyond that, requests that need one are answered 503.
    pub fn max_refreshes(&mut self, count: usize) -> &mut Self {
        self.max_refreshes = count;
        self
    }

    /// A builder from the environment when `SESSION_COOKIES` is `on`, `None`
    /// when it is unset or `off`. Reads `SUPABASE_PUBLISHABLE_KEY` (or the
    /// legacy `SUPABASE_ANON_KEY`), `AUTH_COOKIE_NAME`, `COOKIE_HTTP_ONLY`,
    /// `COOKIE_SECURE` (`true`/`false`), `SESSION_REFRESH_TIMEOUT_MS` and
    /// `SESSION_MAX_REFRESHES`. The allowed origins are the caller's to pass.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, SessionBuildError> {
        let get = |name: &str| crate::config::lookup_var(&lookup, name);
        let flag = |setting: SessionSetting| match get(setting.env_var()).as_deref() {
            None | Some("false" | "off") => Ok(false),
            Some("true" | "on") => Ok(true),
            Some(_) => Err(SessionBuildError::new(setting, "must be true or false")),
        };
        if !flag(SessionSetting::Enabled)
            .map_err(|_| SessionBuildError::new(SessionSetting::Enabled, "must be on or off"))?
        {
            return Ok(None);
        }
        let mut b = Self::default();
        match get("SUPABASE_PUBLISHABLE_KEY").or_else(|| get("SUPABASE_ANON_KEY")) {
            Some(key) => b.api_key(key),
            None => {
                return Err(SessionBuildError::new(
                    SessionSetting::ApiKey,
                    "is not set; SESSION_COOKIES=on needs the project's publishable key (or the legacy SUPABASE_ANON_KEY) to refresh sessions",
                ));
            }
        };
        if let Some(name) = get(SessionSetting::CookieName.env_var()) {
            b.cookie_name(name);
        }
        b.http_only(flag(SessionSetting::HttpOnly)?)
            .secure(flag(SessionSetting::Secure)?);
        let number = |setting: SessionSetting, min: u64, max: u64, reason| match get(setting.env_var()) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .map(Some)
                .ok_or_else(|| SessionBuildError::new(setting, reason)),
        };
        if let Some(ms) = number(
            SessionSetting::RefreshTimeout,
            100,
            60_000,
            "must be a whole number of milliseconds from 100 to 60000",
        )? {
            b.refresh_timeout(Duration::from_millis(ms));
        }
        if let Some(n) = number(
            SessionSetting::MaxRefreshes,
            1,
            1_000_000,
            "must be a whole number from 1 to 1000000",
        )? {
            b.max_refreshes(usize::try_from(n).unwrap_or(DEFAULT_MAX_REFRESHES));
        }
        Ok(Some(b))
    }

    /// Checks the settings that need no verifier (all but the derived
    /// cookie name), so that configuration errors surface before startup.
    pub fn check(&self) -> Result<(), SessionBuildError> {
        self.checked().map(|_| ())
    }

    /// The API key as a (sensitive) header value, and the allowed origins, checked.
    fn checked(&self) -> Result<(HeaderValue, Vec<String>), SessionBuildError> {
        let key = self
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().trim())
            .filter(|k| !k.is_empty())
            .ok_or(SessionBuildError::new(SessionSetting::ApiKey, "is not set"))?;
        let mut api_key = HeaderValue::try_from(key)
            .ok()
            .filter(|_| key.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or(SessionBuildError::new(
                SessionSetting::ApiKey,
                "must be visible ASCII without spaces",
            ))?;
        api_key.set_sensitive(true);
        if let Some(name) = &self.cookie_name {
            check_cookie_name(name.trim())?;
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&self.refresh_timeout) {
            return Err(SessionBuildError::new(
                SessionSetting::RefreshTimeout,
                "must be from 100 ms to 60 s",
            ));
        }
        if self.max_refreshes == 0 {
            return Err(SessionBuildError::new(
                SessionSetting::MaxRefreshes,
                "must be at least 1",
            ));
        }
        let allowed_origins = self
            .allowed_origins
            .iter()
            .map(|o| o.trim().to_ascii_lowercase())
            .collect::<Vec<_>>();
        if allowed_origins
            .iter()
            .any(|o| o == "*" || o.ends_with('/') || !o.contains("://"))
        {
            return Err(SessionBuildError::new(
                SessionSetting::AllowedOrigins,
                "must be exact origins like https://app.example.com",
            ));
        }
        Ok((api_key, allowed_origins))
    }

    /// Checks the settings and builds the sessions for `auth`'s project:
    /// the cookie name, GoTrue's URL and the HTTP client. Connects to nothing.
    pub fn build(&self, auth: &SupabaseAuth) -> Result<SessionCookies, SessionBuildError> {
        let (api_key, allowed_origins) = self.checked()?;
        let base = auth.project_url();
        let name = match &self.cookie_name {
            Some(name) => name.trim().to_owned(),
            None => default_cookie_name(base).ok_or(SessionBuildError::new(
                SessionSetting::ProjectUrl,
                "has no host to name the cookie after",
            ))?,
        };
        check_cookie_name(&name)?;
        let refresher = Refresher::new(
            &format!("{base}/auth/v1"),
            api_key,
            SessionSetting::ApiKey.env_var(),
            self.refresh_timeout,
            self.max_refreshes,
        )
        .map_err(|reason| SessionBuildError::new(SessionSetting::ProjectUrl, reason))?;
        Ok(SessionCookies {
            inner: Arc::new(Inner {
                auth: auth.clone(),
                name,
                http_only: self.http_only,
                secure: self.secure,
                allowed_origins,
                refresher: Arc::new(refresher),
            }),
        })
    }
}

/// `sb-<first DNS label of the host>-auth-token`, as supabase-js derives its storage key.
fn default_cookie_name(project_url: &str) -> Option<String> {
    let uri: axum::http::Uri = project_url.parse().ok()?;
    let host = uri.host()?.trim_start_matches('[');
    let label = host.split('.').next().filter(|l| !l.is_empty())?;
    Some(format!("sb-{label}-auth-token"))
}

fn check_cookie_name(name: &str) -> Result<(), SessionBuildError> {
    if is_cookie_name(name) {
        Ok(())
    } else {
        Err(SessionBuildError::new(
            SessionSetting::CookieName,
            "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~, at most 200",
        ))
    }
}

/// An RFC 6265 cookie-name token.
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_cookie_after_the_first_label() {
        for (url, name) in [
            ("https://abcdefgh.supabase.co", "sb-abcdefgh-auth-token"),
            ("http://127.0.0.1:54321", "sb-127-auth-token"),
            ("http://localhost:54321", "sb-localhost-auth-token"),
        ] {
            assert_eq!(default_cookie_name(url).as_deref(), Some(name), "{url}");
        }
    }

    #[test]
    fn reads_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(matches!(SessionCookiesBuilder::from_lookup(env(&[])), Ok(None)));
        assert!(matches!(
            SessionCookiesBuilder::from_lookup(env(&[("SESSION_COOKIES", "off")])),
            Ok(None)
        ));
        let err = SessionCookiesBuilder::from_lookup(env(&[("SESSION_COOKIES", "on")])).err();
        assert_eq!(err.map(|e| e.setting()), Some(SessionSetting::ApiKey));
        let err = SessionCookiesBuilder::from_lookup(env(&[("SESSION_COOKIES", "yes")])).err();
        assert_eq!(err.map(|e| e.setting()), Some(SessionSetting::Enabled));
        let b = SessionCookiesBuilder::from_lookup(env(&[
            ("SESSION_COOKIES", "on"),
            ("SUPABASE_ANON_KEY", "anon"),
            ("COOKIE_HTTP_ONLY", "true"),
            ("SESSION_REFRESH_TIMEOUT_MS", "250"),
        ]));
        let b = b.ok().flatten();
        assert!(
            b.as_ref()
                .is_some_and(|b| b.http_only && b.refresh_timeout == Duration::from_millis(250))
        );
        let err = SessionCookiesBuilder::from_lookup(env(&[
            ("SESSION_COOKIES", "on"),
            ("SUPABASE_PUBLISHABLE_KEY", "k"),
            ("COOKIE_SECURE", "maybe"),
        ]))
        .err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("COOKIE_SECURE: must be true or false".to_owned())
        );
    }

    #[test]
    fn debug_output_never_shows_the_api_key() {
        let auth = crate::SupabaseAuth::builder()
            .project_url("https://abc.supabase.co")
            .jwt_secret("a-test-secret-of-at-least-32-bytes!")
            .without_jwks()
            .build();
        let mut builder = SessionCookiesBuilder::default();
        builder.api_key("sb_publishable_hunter2");
        assert!(!format!("{builder:?}").contains("hunter2"));
        let sessions = auth.map(|auth| builder.build(&auth));
        let debug = format!("{sessions:?}");
        assert!(
            debug.contains("sb-abc-auth-token") && !debug.contains("hunter2"),
            "{debug}"
        );
    }

    #[test]
    fn cookie_names_are_tokens() {
        assert!(is_cookie_name("sb-x-auth-token"));
        for bad in ["", "a b", "a;b", "a=b", "ä"] {
            assert!(!is_cookie_name(bad), "{bad}");
        }
    }
}
