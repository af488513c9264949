//! Authentication of Supabase access tokens, and authorization by role.
//!
//! ```text
//! request ─► AuthLayer ─┬─ no (or empty) Authorization ──► 401 bare challenge (required) / Anonymous (optional)
//!                       ├─ another scheme (Basic, …) ──► 401 bare challenge
//!                       ├─ two Authorization headers ──► 400 invalid_request
//!                       ├─ Bearer, unusable credentials ──► 401 invalid_token
//!                       ├─ TokenVerifier::verify ─ fails ──► 401 invalid_token (503 if keys are unavailable)
//!                       └─ ok ──► extensions += AuthUser ──► handler(AuthUser | Option<AuthUser> | RequireRole<R> | Require<R>)
//! ```
//!
//! The layer authenticates once; handlers authorize by their argument types.
//! Every failure carries a typed [`Fault`].

mod bearer;
mod cache;
mod claims;
mod error;
mod guard;
mod json;
mod jwks;
mod layer;
mod user;
mod verifier;

pub use bearer::{DEFAULT_MAX_TOKEN_BYTES, bearer_token};
pub use cache::{DEFAULT_CACHE_ENTRIES, MAX_CACHED_TOKEN_LEN, TokenCache};
pub use claims::{Aal, AmrEntry, Audience, Role, SupabaseClaims};
pub use error::{AuthError, Code, Fault, REALM, RequiredClaim};
pub use guard::{Aal2, Admin, ByRole, NotAnonymous, Require, RequireRole, Requirement, RoleRequirement};
pub use jwks::{FetchError, JwksCache, JwksConfig, JwksKey, JwksStatus, KeyLookup, MIN_RSA_BITS, parse_jwks};
pub use layer::{AuthLayer, AuthService};
pub use user::{AuthUser, ClaimTypeError};
pub use verifier::TokenVerifier;
