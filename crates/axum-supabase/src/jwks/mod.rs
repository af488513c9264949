//! The JWKS key source: Supabase's asymmetric signing keys (ES256, RS256,
//! EdDSA). [`keys`] decides which keys of a set are trusted; [`cache`]
//! fetches, caches and refreshes the set.

pub(crate) mod cache;
pub(crate) mod keys;

pub use cache::{FetchError, JwksCache, JwksStatus};
pub(crate) use cache::{JwksConfig, KeyLookup};
pub(crate) use keys::JwksKey;
#[cfg(feature = "internals")]
pub use keys::jwks_kids;
