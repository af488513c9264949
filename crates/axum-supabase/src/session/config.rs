//! [`SessionCookiesBuilder`]: the cookie-session settings, checked before the first request.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use super::refresh::Refresher;
use super::{Inner, SessionCookies};
use crate::config::env::{Env, process};
use crate::config::settings::{BuildError, Origins, Reason, Setting, redacted};
use crate::verifier::SupabaseAuth;

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
/// # Ok::<(), axum_supabase::BuildError>(())
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
    origins: Origins,
}

impl std::fmt::Debug for SessionCookiesBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCookiesBuilder")
            .field("api_key", &redacted(&self.api_key))
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
            origins: Origins::default(),
        }
    }
}

impl SessionCookiesBuilder {
    /// The project's publishable key (`sb_publishable_…`) or legacy anon key,
    /// sent as `apikey` to GoTrue. Public, but never logged. Required.
    pub fn api_key(&mut self, key: impl Into<String>) -> &mut Self {
        self.api_key = Some(SecretString::from(key.into()));
        self.origins.coded(Setting::ApiKey);
        self
    }

    /// The cookie's name; by default `sb-<first DNS label of the project URL's host>-auth-token`,
    /// as `@supabase/ssr` names it.
    pub fn cookie_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.cookie_name = Some(name.into());
        self.origins.coded(Setting::CookieName);
        self
    }

    /// Writes the cookies `HttpOnly`. Off by default, as in `@supabase/ssr`,
    /// because supabase-js in the browser reads the session from them.
    pub fn http_only(&mut self, on: bool) -> &mut Self {
        self.http_only = on;
        self.origins.coded(Setting::HttpOnly);
        self
    }

    /// Writes the cookies `Secure` on every response. Without it, `Secure` is
    /// added when the request came over https (the URI or `X-Forwarded-Proto`).
    pub fn secure(&mut self, on: bool) -> &mut Self {
        self.secure = on;
        self.origins.coded(Setting::Secure);
        self
    }

    /// Exact origins (`https://app.example.com`) whose cookie-authenticated
    /// writes are accepted, besides the server's own origin. Usually the CORS list.
    pub fn allowed_origins<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, origins: I) -> &mut Self {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self.origins.coded(Setting::AllowedOrigins);
        self
    }

    /// How long a GoTrue call may take (default 5 s); then the request is answered 503.
    pub fn refresh_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.refresh_timeout = timeout;
        self.origins.coded(Setting::RefreshTimeout);
        self
    }

    /// How many refreshes may be in flight or remembered at once (default 10,000);
    /// beyond that, requests that need one are answered 503.
    pub fn max_refreshes(&mut self, count: usize) -> &mut Self {
        self.max_refreshes = count;
        self.origins.coded(Setting::MaxRefreshes);
        self
    }

    /// A builder from the process environment: `SUPABASE_PUBLISHABLE_KEY`
    /// (or the legacy `SUPABASE_ANON_KEY`), `AUTH_COOKIE_NAME`,
    /// `COOKIE_HTTP_ONLY`, `COOKIE_SECURE` (`on`/`true` or `off`/`false`),
    /// `SESSION_REFRESH_TIMEOUT_MS`, `SESSION_MAX_REFRESHES`, and
    /// `CORS_ALLOWED_ORIGINS` as the allowed origins. Whether sessions are on
    /// at all is the application's choice (the server's `SESSION_COOKIES`).
    pub fn from_env() -> Result<Self, BuildError> {
        Self::from_lookup(process)
    }

    /// As [`from_env`](Self::from_env), reading through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let env = Env::new(&lookup);
        let mut b = Self {
            origins: Origins::env(),
            ..Self::default()
        };
        let key = match env.setting_secret(Setting::ApiKey)? {
            Some(key) => Some(key),
            None => env.secret("SUPABASE_ANON_KEY")?,
        };
        if let Some(key) = key {
            b.api_key = Some(SecretString::from(key));
            b.origins.read(Setting::ApiKey);
        }
        if let Some(name) = env.setting(Setting::CookieName) {
            b.cookie_name = Some(name);
            b.origins.read(Setting::CookieName);
        }
        // The derived cookie name comes from the verifier's SUPABASE_URL.
        if env.setting(Setting::ProjectUrl).is_some() {
            b.origins.read(Setting::ProjectUrl);
        }
        if let Some(on) = env.setting_flag(Setting::HttpOnly)? {
            b.http_only = on;
            b.origins.read(Setting::HttpOnly);
        }
        if let Some(on) = env.setting_flag(Setting::Secure)? {
            b.secure = on;
            b.origins.read(Setting::Secure);
        }
        if let Some(origins) = Setting::AllowedOrigins.env_var().and_then(|var| env.list(var)) {
            b.allowed_origins = origins;
            b.origins.read(Setting::AllowedOrigins);
        }
        if let Some(ms) = env.setting_number(Setting::RefreshTimeout)? {
            b.refresh_timeout = Duration::from_millis(ms);
            b.origins.read(Setting::RefreshTimeout);
        }
        if let Some(n) = env.setting_number(Setting::MaxRefreshes)? {
            b.max_refreshes = usize::try_from(n).unwrap_or(DEFAULT_MAX_REFRESHES);
            b.origins.read(Setting::MaxRefreshes);
        }
        Ok(b)
    }

    /// Checks the settings that need no verifier (all but the derived
    /// cookie name), so that configuration errors surface before startup.
    pub fn check(&self) -> Result<(), BuildError> {
        self.checked().map(|_| ())
    }

    fn invalid(&self, setting: Setting, rule: &'static str) -> BuildError {
        self.origins.error(setting, Reason::Rule(rule))
    }

    /// The API key as a (sensitive) header value, and the allowed origins, checked.
    fn checked(&self) -> Result<(HeaderValue, Vec<String>), BuildError> {
        let key = self
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().trim())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| self.origins.error(Setting::ApiKey, Reason::Missing))?;
        let mut api_key = HeaderValue::try_from(key)
            .ok()
            .filter(|_| key.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| self.invalid(Setting::ApiKey, "must be visible ASCII without spaces"))?;
        api_key.set_sensitive(true);
        if let Some(name) = &self.cookie_name {
            self.check_cookie_name(Setting::CookieName, name.trim())?;
        }
        if let Some(bounds) = Setting::RefreshTimeout.bounds() {
            bounds
                .check_duration(self.refresh_timeout)
                .map_err(|r| self.origins.error(Setting::RefreshTimeout, r))?;
        }
        if let Some(bounds) = Setting::MaxRefreshes.bounds() {
            bounds
                .check(self.max_refreshes as u64)
                .map_err(|r| self.origins.error(Setting::MaxRefreshes, r))?;
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
            return Err(self.invalid(
                Setting::AllowedOrigins,
                "must be exact origins like https://app.example.com",
            ));
        }
        Ok((api_key, allowed_origins))
    }

    /// Checks the settings and builds the sessions for `auth`'s project:
    /// the cookie name, GoTrue's URL and the HTTP client. Connects to nothing.
    pub fn build(&self, auth: &SupabaseAuth) -> Result<SessionCookies, BuildError> {
        let (api_key, allowed_origins) = self.checked()?;
        let base = auth.project_url();
        let name = match &self.cookie_name {
            Some(name) => name.trim().to_owned(),
            None => {
                let name = default_cookie_name(base).unwrap_or_default();
                self.check_cookie_name(Setting::ProjectUrl, &name)?;
                name
            }
        };
        let refresher = Refresher::new(
            &format!("{base}/auth/v1"),
            api_key,
            Setting::ApiKey.env_var().unwrap_or("the API key"),
            self.refresh_timeout,
            self.max_refreshes,
        )
        .map_err(|rule| self.invalid(Setting::ProjectUrl, rule))?;
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

    /// A cookie name that was given (`AUTH_COOKIE_NAME`), or one derived from
    /// the project URL's host, which then is the setting to change.
    fn check_cookie_name(&self, setting: Setting, name: &str) -> Result<(), BuildError> {
        if is_cookie_name(name) {
            return Ok(());
        }
        Err(match setting {
            Setting::ProjectUrl => self.origins.error(
                setting,
                Reason::Rule(
                    "has a host whose first label cannot name the session cookie \
                     (sb-<label>-auth-token); set the cookie name (AUTH_COOKIE_NAME) instead",
                ),
            ),
            _ => self.invalid(
                setting,
                "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~, at most 200",
            ),
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
    fn reads_the_environment_and_names_its_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let said = |b: Result<SessionCookiesBuilder, BuildError>| {
            b.and_then(|b| b.check()).map_err(|e| e.to_string())
        };
        assert_eq!(
            said(SessionCookiesBuilder::from_lookup(env(&[]))),
            Err(
                "SUPABASE_PUBLISHABLE_KEY is not set; cookie sessions refresh through GoTrue with the \
                 project's publishable key (or the legacy SUPABASE_ANON_KEY)"
                    .to_owned()
            )
        );
        let b = SessionCookiesBuilder::from_lookup(env(&[
            ("SUPABASE_ANON_KEY", "anon"),
            ("COOKIE_HTTP_ONLY", "true"),
            ("SESSION_REFRESH_TIMEOUT_MS", "250"),
            ("CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example"),
        ]));
        assert!(b.as_ref().is_ok_and(|b| b.http_only
            && b.refresh_timeout == Duration::from_millis(250)
            && b.allowed_origins.len() == 2));
        assert_eq!(
            said(SessionCookiesBuilder::from_lookup(env(&[
                ("SUPABASE_PUBLISHABLE_KEY", "k"),
                ("COOKIE_SECURE", "maybe"),
            ]))),
            Err("COOKIE_SECURE is invalid: must be on or off".to_owned())
        );
        assert_eq!(
            said(SessionCookiesBuilder::from_lookup(env(&[
                ("SUPABASE_PUBLISHABLE_KEY", "k"),
                ("SESSION_MAX_REFRESHES", "0"),
            ]))),
            Err("SESSION_MAX_REFRESHES is invalid: must be a whole number from 1 to 1000000".to_owned())
        );
        // Set in code, an error names the method, not a variable.
        let mut coded = SessionCookiesBuilder::default();
        coded.api_key("k").allowed_origins(["*"]);
        assert_eq!(
            coded.check().map_err(|e| e.to_string()),
            Err(
                "allowed_origins() is invalid: must be exact origins like https://app.example.com".to_owned()
            )
        );
    }

    #[test]
    fn a_host_that_cannot_name_the_cookie_names_the_url() {
        let auth = crate::SupabaseAuth::builder()
            .project_url("http://[::1]:54321")
            .jwt_secret("a-test-secret-of-at-least-32-bytes!")
            .without_jwks()
            .build();
        let b = SessionCookiesBuilder::from_lookup(|name| match name {
            "SUPABASE_URL" => Some("http://[::1]:54321".to_owned()),
            "SUPABASE_PUBLISHABLE_KEY" => Some("k".to_owned()),
            _ => None,
        });
        let e = auth.and_then(|auth| b.and_then(|b| b.build(&auth))).err();
        assert_eq!(
            e.map(|e| (e.setting(), e.variable())),
            Some((Setting::ProjectUrl, Some("SUPABASE_URL")))
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
