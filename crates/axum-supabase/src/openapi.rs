//! OpenAPI pieces for an API behind Supabase Auth (feature `openapi`): the
//! security schemes it takes, for a `utoipa` document in one line, and the
//! schema of [`ErrorBody`](crate::ErrorBody), the body of every refusal.
//!
//! ```
//! use utoipa::OpenApi;
//! use axum_supabase::ErrorBody;
//! use axum_supabase::openapi::SECURITY_SCHEMES;
//!
//! #[derive(OpenApi)]
//! #[openapi(modifiers(&SECURITY_SCHEMES), components(schemas(ErrorBody)))]
//! struct ApiDoc;
//!
//! let doc = ApiDoc::openapi();
//! let schemes = &doc.components.as_ref().map(|c| c.security_schemes.clone()).unwrap_or_default();
//! assert!(schemes.contains_key("bearerAuth") && schemes.contains_key("apiKey"));
//! ```
//!
//! An operation names what it takes, `security(("bearerAuth" = []))`; an
//! optional-login route adds `()`, the empty requirement. With cookie
//! sessions, [`SecuritySchemes::with_cookie`] adds `cookieAuth`.

use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The name of the Bearer (access token) scheme.
pub const BEARER_AUTH: &str = "bearerAuth";
/// The name of the `@supabase/ssr` session cookie scheme.
pub const COOKIE_AUTH: &str = "cookieAuth";
/// The name of the secret API key (`apikey` header) scheme.
pub const API_KEY: &str = "apiKey";

/// A `utoipa` [`Modify`](utoipa::Modify) that adds the security schemes:
/// `bearerAuth` (HTTP Bearer, a Supabase access token, a JWT), `apiKey` (a
/// secret API key in the `apikey` header, for server-to-server callers),
/// and `cookieAuth` when a session cookie is named.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecuritySchemes<'a> {
    cookie: Option<&'a str>,
}

/// `bearerAuth` and `apiKey`: `#[openapi(modifiers(&SECURITY_SCHEMES))]`.
pub const SECURITY_SCHEMES: SecuritySchemes<'static> = SecuritySchemes { cookie: None };

impl<'a> SecuritySchemes<'a> {
    /// `bearerAuth`, `apiKey`, and `cookieAuth` for the session cookie `name`
    /// (`sb-<ref>-auth-token`; `SessionCookies::cookie_name` gives it).
    pub fn with_cookie(name: &'a str) -> Self {
        Self { cookie: Some(name) }
    }
}

impl utoipa::Modify for SecuritySchemes<'_> {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_AUTH,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A Supabase Auth access token (supabase-js: session.access_token)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "apikey",
                "A Supabase secret API key (sb_secret_...), for server-to-server callers",
            ))),
        );
        if let Some(name) = self.cookie {
            components.add_security_scheme(
                COOKIE_AUTH,
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                    name,
                    "The @supabase/ssr session cookie (possibly split into .0, .1, ... chunks)",
                ))),
            );
        }
    }
}
