//! Per-request authentication and authorization failures, spoken as RFC 6750.
//!
//! Every failure is a [`Fault`]: a closed list of reasons. The status, the
//! RFC 6750 error code, the description and the metric label each come from
//! one `match` over it, so rewording a message never moves a metric, and a
//! caller can act on the reason (`Fault::Expired` → refresh the session).
//!
//! Every description is a `&'static str` chosen here (or a guard's constant),
//! so no part of a token, header or claim value can reach a response or a log
//! line through it.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ErrorBody;

/// The default `realm` of every `WWW-Authenticate` challenge.
pub const REALM: &str = "api";

/// A claim every access token must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequiredClaim {
    /// `exp`
    Exp,
    /// `iss`
    Iss,
    /// `aud`
    Aud,
    /// `sub`
    Sub,
    /// `role`
    Role,
}

/// Why a request was refused, as a closed list of reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    // No usable credentials: 401 with a bare challenge (RFC 6750 §3).
    /// No `Authorization` header (or an empty one).
    Missing,
    /// No `Authorization` header, but a token-like query parameter: we say where it belongs.
    TokenInQuery,
    /// A scheme other than `Bearer` (`Basic`, a bare token, a misspelt scheme).
    UnsupportedScheme,

    // A malformed request: 400 invalid_request (RFC 6750 §3.1).
    /// Two or more `Authorization` headers.
    MultipleAuthorization,

    // The scheme is Bearer but its credentials cannot be used: 401 invalid_token.
    /// `Bearer` with nothing after it.
    EmptyToken,
    /// Whitespace, a second word, a list or a tab where one token belongs.
    MalformedCredentials,
    /// Bytes outside visible ASCII in the credentials.
    NotVisibleAscii,
    /// Longer than the token cap.
    TooLarge,

    // The token itself: 401 invalid_token.
    /// Not three base64url segments.
    Malformed,
    /// The JOSE header is not a JSON object of the expected shape.
    MalformedHeader,
    /// The payload is not a JSON object.
    MalformedClaims,
    /// A JSON member name appears twice in the header or the claims (RFC 7515 §4).
    DuplicateMember,
    /// `typ` is not absent, `JWT` or `at+jwt` (RFC 8725 §3.11).
    UnexpectedType,
    /// A `crit` header parameter we do not understand (RFC 7515 §4.1.11).
    CriticalHeader,
    /// The token's Supabase session has ended (signed out, or past
    /// `not_after`), checked against `auth.sessions`.
    SessionEnded,
    /// `alg: none`.
    Unsigned,
    /// An algorithm we have no key for, or one we never accept.
    AlgorithmNotAllowed,
    /// An algorithm we do not know.
    UnsupportedAlgorithm,
    /// The token's `alg` is not the one its JWKS key is bound to.
    AlgorithmMismatch,
    /// An asymmetric token without `kid`.
    MissingKid,
    /// A `kid` that is not in the JWKS, even after a refetch.
    UnknownKey,
    /// The signature is not valid base64url or has the wrong length.
    MalformedSignature,
    /// The signature does not verify.
    BadSignature,
    /// A Supabase API key (`sb_publishable_…`, `sb_secret_…`) sent as a token.
    ApiKey,
    /// A legacy `anon`/`service_role` API key JWT sent as a user token.
    LegacyApiKey,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// A required claim is absent.
    MissingClaim(RequiredClaim),
    /// `iss` is not one of the accepted issuers.
    WrongIssuer,
    /// `aud` contains none of the accepted audiences.
    WrongAudience,
    /// A known claim has the wrong JSON type or an unusable value.
    BadClaim,
    /// `sub` is not a hyphenated UUID.
    SubNotUuid,

    // After authentication.
    /// The verified caller fails a guard: 403 insufficient_scope, with the guard's description.
    InsufficientScope(&'static str),
    /// The token needs JWKS keys we do not have (never fetched, or stale beyond
    /// the limit): 503 with `Retry-After`, since the token itself may be fine.
    KeysUnavailable {
        /// Seconds the client should wait before retrying.
        retry_after_secs: u64,
    },
    /// `AuthUser` was extracted on a route that has no `AuthLayer`: a programmer error, 500.
    MissingLayer,
    /// A write (`POST`, `PUT`, `PATCH`, `DELETE`) authenticated by a session
    /// cookie, from an origin that is not allowed: 403, the CSRF rule.
    CrossSiteRequest,
    /// A service route without an `apikey` header (or with an empty one).
    ServiceKeyMissing,
    /// An `apikey` that is none of the configured secret keys (a publishable
    /// key, an unknown or revoked secret key, or two `apikey` headers).
    ServiceKeyInvalid,
    /// A secret key from a browser (`Origin`, `Sec-Fetch-Site`, or a
    /// `Mozilla/` user agent): secret keys are for servers.
    ServiceKeyFromBrowser,
    /// A user token on a route for services: a user is not a service.
    NotAService,
    /// The session cookie's token has expired and GoTrue could not refresh it
    /// (down, slow, failing): 503 with `Retry-After`, since the session may be fine.
    RefreshUnavailable {
        /// Seconds the client should wait before retrying.
        retry_after_secs: u64,
    },
}

impl Fault {
    /// The HTTP status this fault is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
            Self::KeysUnavailable { .. } | Self::RefreshUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::CrossSiteRequest => StatusCode::FORBIDDEN,
            _ => match self.code() {
                Some(Code::InvalidRequest) => StatusCode::BAD_REQUEST,
                Some(Code::InsufficientScope) => StatusCode::FORBIDDEN,
                Some(Code::InvalidToken) | None => StatusCode::UNAUTHORIZED,
            },
        }
    }

    /// No challenge is sent: an outage, or a refusal that no token would change.
    fn is_outage(self) -> bool {
        matches!(
            self,
            Self::KeysUnavailable { .. }
                | Self::RefreshUnavailable { .. }
                | Self::MissingLayer
                | Self::CrossSiteRequest
        )
    }

    /// The `Retry-After` of a 503, in seconds.
    fn retry_after(self) -> Option<u64> {
        match self {
            Self::KeysUnavailable { retry_after_secs } | Self::RefreshUnavailable { retry_after_secs } => {
                Some(retry_after_secs)
            }
            _ => None,
        }
    }

    /// The RFC 6750 error code, if the challenge carries one.
    pub fn code(self) -> Option<Code> {
        match self {
            Self::Missing | Self::TokenInQuery | Self::UnsupportedScheme => None,
            Self::ServiceKeyMissing
            | Self::ServiceKeyInvalid
            | Self::ServiceKeyFromBrowser
            | Self::NotAService => None,
            Self::KeysUnavailable { .. } | Self::MissingLayer => None,
            Self::RefreshUnavailable { .. } | Self::CrossSiteRequest => None,
            Self::MultipleAuthorization => Some(Code::InvalidRequest),
            Self::InsufficientScope(_) => Some(Code::InsufficientScope),
            _ => Some(Code::InvalidToken),
        }
    }

    /// A short, fixed description that is safe to show the client and to log.
    pub fn description(self) -> &'static str {
        match self {
            Self::Missing => "missing bearer token",
            Self::TokenInQuery => {
                "tokens in the query string are not accepted; send Authorization: Bearer <token>"
            }
            Self::UnsupportedScheme => "unsupported authorization scheme; send Authorization: Bearer <token>",
            Self::MultipleAuthorization => "more than one Authorization header",
            Self::EmptyToken => "empty bearer token",
            Self::MalformedCredentials => "malformed bearer token",
            Self::NotVisibleAscii => "bearer token is not visible ASCII",
            Self::TooLarge => "token too large",
            Self::Malformed => "malformed token",
            Self::MalformedHeader => "malformed token header",
            Self::MalformedClaims => "malformed claims",
            Self::DuplicateMember => "duplicate JSON member in the token",
            Self::UnexpectedType => "unexpected token type",
            Self::CriticalHeader => "unsupported critical header parameter",
            Self::Unsigned => "unsigned tokens are not accepted",
            Self::SessionEnded => "session ended",
            Self::AlgorithmNotAllowed => "algorithm not allowed",
            Self::UnsupportedAlgorithm => "unsupported algorithm",
            Self::AlgorithmMismatch => "algorithm does not match the key",
            Self::MissingKid => "token has no kid",
            Self::UnknownKey => "unknown signing key",
            Self::MalformedSignature => "malformed signature",
            Self::BadSignature => "invalid signature",
            Self::ApiKey => "this is a Supabase API key, not a user access token",
            Self::LegacyApiKey => "this is a Supabase API key (anon/service_role), not a user access token",
            Self::Expired => "token expired",
            Self::NotYetValid => "token not yet valid",
            Self::IssuedInFuture => "token issued in the future",
            Self::MissingClaim(RequiredClaim::Exp) => "missing exp claim",
            Self::MissingClaim(RequiredClaim::Iss) => "missing iss claim",
            Self::MissingClaim(RequiredClaim::Aud) => "missing aud claim",
            Self::MissingClaim(RequiredClaim::Sub) => "missing sub claim",
            Self::MissingClaim(RequiredClaim::Role) => "missing role claim",
            Self::WrongIssuer => "invalid issuer",
            Self::WrongAudience => "invalid audience",
            Self::BadClaim => "a claim has an invalid type or value",
            Self::SubNotUuid => "sub claim is not a UUID",
            Self::InsufficientScope(description) => description,
            Self::KeysUnavailable { .. } => "signing keys are not available yet; retry shortly",
            Self::MissingLayer => "internal server error",
            Self::CrossSiteRequest => {
                "a cookie-authenticated write needs an Origin header from an allowed origin (CSRF protection)"
            }
            Self::RefreshUnavailable { .. } => "the session could not be refreshed right now; retry shortly",
            Self::ServiceKeyMissing => {
                "this route is for servers: send a secret API key in the apikey header"
            }
            Self::ServiceKeyInvalid => "invalid secret API key",
            Self::ServiceKeyFromBrowser => "secret API keys are for servers, not browsers",
            Self::NotAService => "this route is for servers with a secret API key; a user token is not one",
        }
    }

    /// A fixed, low-cardinality name for metrics (`auth_outcomes_total{outcome}`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing | Self::TokenInQuery => "missing",
            Self::UnsupportedScheme => "unsupported_scheme",
            Self::MultipleAuthorization => "invalid_request",
            Self::TooLarge => "too_large",
            Self::EmptyToken
            | Self::MalformedCredentials
            | Self::NotVisibleAscii
            | Self::Malformed
            | Self::MalformedHeader
            | Self::MalformedClaims
            | Self::DuplicateMember
            | Self::CriticalHeader => "malformed",
            Self::UnexpectedType => "unexpected_type",
            Self::Unsigned
            | Self::AlgorithmNotAllowed
            | Self::UnsupportedAlgorithm
            | Self::AlgorithmMismatch => "bad_algorithm",
            Self::MissingKid | Self::UnknownKey => "unknown_key",
            Self::MalformedSignature | Self::BadSignature => "bad_signature",
            Self::ApiKey | Self::LegacyApiKey => "api_key",
            Self::Expired => "expired",
            Self::SessionEnded => "session_ended",
            Self::NotYetValid | Self::IssuedInFuture => "not_yet_valid",
            Self::MissingClaim(RequiredClaim::Iss) | Self::WrongIssuer => "wrong_issuer",
            Self::MissingClaim(RequiredClaim::Aud) | Self::WrongAudience => "wrong_audience",
            Self::MissingClaim(_) | Self::BadClaim | Self::SubNotUuid => "bad_claim",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::KeysUnavailable { .. } => "keys_unavailable",
            Self::MissingLayer => "missing_layer",
            Self::CrossSiteRequest => "cross_site",
            Self::RefreshUnavailable { .. } => "refresh_unavailable",
            Self::ServiceKeyMissing => "service_key_missing",
            Self::ServiceKeyInvalid => "service_key_invalid",
            Self::ServiceKeyFromBrowser => "service_key_from_browser",
            Self::NotAService => "not_a_service",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// An RFC 6750 §3.1 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// `invalid_request`: the request itself is malformed (400).
    InvalidRequest,
    /// `invalid_token`: the credentials cannot be used; get a new token (401).
    InvalidToken,
    /// `insufficient_scope`: the caller is known but not allowed (403).
    InsufficientScope,
}

impl Code {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
        }
    }
}

/// Why a request was not let through to its handler: a [`Fault`], answered as
/// RFC 6750 JSON with a `WWW-Authenticate` challenge. The answer carries the
/// [`Fault`] in its extensions, for an access log to name the reason.
///
/// ```
/// use axum_supabase::{AuthError, Fault};
///
/// fn should_refresh(error: &AuthError) -> bool {
///     error.fault() == Fault::Expired
/// }
/// assert!(should_refresh(&Fault::Expired.into()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthError {
    fault: Fault,
}

impl From<Fault> for AuthError {
    fn from(fault: Fault) -> Self {
        Self { fault }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.fault.description())
    }
}

impl std::error::Error for AuthError {}

impl AuthError {
    /// The reason.
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.fault.status()
    }

    /// The RFC 6750 error code, if the challenge carries one.
    pub fn code(&self) -> Option<Code> {
        self.fault.code()
    }

    /// A short description that is safe to show the client and to log.
    pub fn description(&self) -> &'static str {
        self.fault.description()
    }

    fn challenge(&self, realm: &str) -> Option<String> {
        if self.fault.is_outage() {
            return None;
        }
        Some(match self.code().map(Code::as_str) {
            None => format!("Bearer realm=\"{realm}\""),
            Some(code) => format!(
                "Bearer realm=\"{realm}\", error=\"{code}\", error_description=\"{}\"",
                quoted_string(self.description())
            ),
        })
    }

    /// The default body: `{"error", "error_description"}` (RFC 6749 §5.2).
    pub fn default_body(&self) -> ErrorBody {
        let code = self.code().map(Code::as_str).unwrap_or(match self.fault {
            Fault::MissingLayer => "internal_error",
            Fault::KeysUnavailable { .. } | Fault::RefreshUnavailable { .. } => "temporarily_unavailable",
            Fault::CrossSiteRequest => "cross_site_request",
            _ => "unauthorized",
        });
        ErrorBody::new(code, self.description())
    }

    /// The response in `realm`, with `body` (or the default one). The status and
    /// the RFC 6750 headers are set last, so no body function can change them.
    pub(crate) fn respond(
        self,
        realm: &str,
        body: Option<&(dyn Fn(&AuthError) -> Response + Send + Sync)>,
    ) -> Response {
        if self.fault == Fault::MissingLayer {
            tracing::error!("AuthUser extracted on a route without AuthLayer; failing closed");
        }
        let mut response = match body {
            Some(body) => body(&self),
            None => self.default_body().into_response(),
        };
        *response.status_mut() = self.status();
        // For the application's access log: why the request was refused.
        response.extensions_mut().insert(self.fault);
        if let Some(retry_after_secs) = self.fault.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        match self.challenge(realm).and_then(|c| HeaderValue::try_from(c).ok()) {
            Some(value) => response.headers_mut().insert(header::WWW_AUTHENTICATE, value),
            None => response.headers_mut().remove(header::WWW_AUTHENTICATE),
        };
        response
    }
}

/// `text` as the inside of an RFC 9110 quoted-string: `"` and `\` escaped,
/// control characters (which no header may hold) as spaces. A guard's
/// description is the user's text; unescaped, one `"` would make the whole
/// challenge header invalid, and it would be dropped.
fn quoted_string(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The default response: realm `api` and the JSON body.
impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        self.respond(REALM, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_credentials_challenge_has_no_error_code() {
        for fault in [Fault::Missing, Fault::TokenInQuery, Fault::UnsupportedScheme] {
            let err = AuthError::from(fault);
            assert_eq!(err.challenge(REALM).as_deref(), Some("Bearer realm=\"api\""));
            assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        }
    }

    #[test]
    fn invalid_token_challenge_names_the_error() {
        let err = AuthError::from(Fault::Expired);
        assert_eq!(
            err.challenge(REALM).as_deref(),
            Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token expired\"")
        );
    }

    #[test]
    fn statuses_follow_rfc_6750() {
        assert_eq!(Fault::MultipleAuthorization.status(), StatusCode::BAD_REQUEST);
        for fault in [
            Fault::EmptyToken,
            Fault::MalformedCredentials,
            Fault::TooLarge,
            Fault::BadSignature,
        ] {
            assert_eq!(fault.status(), StatusCode::UNAUTHORIZED, "{fault:?}");
            assert_eq!(fault.code(), Some(Code::InvalidToken), "{fault:?}");
        }
        assert_eq!(Fault::InsufficientScope("x").status(), StatusCode::FORBIDDEN);
        assert_eq!(
            Fault::KeysUnavailable { retry_after_secs: 1 }.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn missing_layer_is_a_500_without_challenge() {
        let err = AuthError::from(Fault::MissingLayer);
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(err.challenge(REALM).is_none());
    }
}
