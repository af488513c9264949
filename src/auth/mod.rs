//! Authentication of Supabase access tokens, and authorization by role.
//!
//! ```text
//! request ─► AuthLayer ─┬─ no Authorization ──► 401 (required) / Anonymous (optional)
//!                       ├─ malformed header ──► 400 invalid_request
//!                       ├─ TokenVerifier::verify ─ fails ──► 401 invalid_token
//!                       └─ ok ──► extensions += AuthUser ──► handler(AuthUser | Option<AuthUser> | RequireRole<R>)
//! ```
//!
//! The layer authenticates once; handlers authorize by their argument types.

mod bearer;
mod cache;
mod claims;
mod error;
mod guard;
mod jwks;
mod layer;
mod user;
mod verifier;

pub use bearer::{MAX_TOKEN_LEN, bearer_token};
pub use cache::{DEFAULT_CACHE_ENTRIES, MAX_CACHED_TOKEN_LEN, TokenCache};
pub use claims::{Aal, AmrEntry, Audience, Role, SupabaseClaims};
pub use error::{AuthError, REALM};
pub use guard::{Admin, RequireRole, RoleRequirement};
pub use jwks::{FetchError, JwksCache, JwksConfig, JwksKey, JwksStatus, KeyLookup, MIN_RSA_BITS, parse_jwks};
pub use layer::{AuthLayer, AuthService};
pub use user::AuthUser;
pub use verifier::TokenVerifier;
