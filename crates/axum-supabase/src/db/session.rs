//! [`RequireActiveSession`]: sign-out takes effect before `exp`.
//!
//! GoTrue deletes a session's `auth.sessions` row when the user signs out,
//! but the access token it issued stays valid until it expires. With the
//! database at hand we can check the row. Answers are kept for
//! [`DatabaseBuilder::session_cache_ttl`](super::DatabaseBuilder::session_cache_ttl)
//! (5 s by default): the longest a signed-out session keeps working on a
//! route that uses this guard.

use std::ops::Deref;
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{Database, DbError, discard};
use crate::{AuthRejection, AuthUser, Fault};

const SESSION_ACTIVE: &str = concat!("select ", super::session_active!("$1"));
/// The scoped transaction's bound, for the check's own transaction.
const TIMEOUT: &str = "select set_config('statement_timeout', $1, true)";

/// A signed-in caller whose Supabase session has not ended: its
/// `session_id` is a row of `auth.sessions` whose `not_after` is unset or
/// in the future. Otherwise 401 `invalid_token`, "session ended". A token
/// without a `session_id` counts as ended.
///
/// Needs [`Database::layer`]; the query runs as the connecting role, which
/// must be able to read `auth.sessions (id, not_after)`.
#[derive(Debug, Clone)]
pub struct RequireActiveSession {
    /// The verified caller, whose session is active.
    pub user: AuthUser,
}

impl Deref for RequireActiveSession {
    type Target = AuthUser;
    fn deref(&self) -> &AuthUser {
        &self.user
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequireActiveSession {
    type Rejection = DbError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let db = Database::from_parts(parts)?;
        let user = AuthUser::from_request_parts(parts, state).await?;
        let session = user.claims().session_uuid();
        let active = match session {
            Some(id) => db.session_active(id).await?,
            None => false,
        };
        if active {
            return Ok(Self { user });
        }
        let ctx = crate::user::context(parts)?;
        Err(AuthRejection::new(Fault::SessionEnded, Some(&ctx.responder)).into())
    }
}

impl Database {
    /// Whether session `id` is active, from the cache while its answer is fresh.
    pub(crate) async fn session_active(&self, id: Uuid) -> Result<bool, DbError> {
        let ttl = self.inner.session_ttl;
        if let Some((at, active)) = self.inner.sessions.get(&id)
            && at.elapsed() < ttl
        {
            return Ok(active);
        }
        let conn = self.acquire().await?;
        // Bounded as the scoped transaction is: BEGIN, the timeout, the check
        // and COMMIT go out in one write.
        let timeout = self.inner.statement_timeout_ms.as_str();
        let (bound_params, check_params) = ([(&timeout as _, Type::TEXT)], [(&id as _, Type::UUID)]);
        let (begin, bound, checked, commit) = tokio::join!(
            conn.batch_execute("begin read only"),
            conn.query_typed(TIMEOUT, &bound_params),
            conn.query_typed(SESSION_ACTIVE, &check_params),
            conn.batch_execute("commit"),
        );
        let row = match (begin, bound, checked, commit) {
            (Ok(()), Ok(_), Ok(mut rows), Ok(())) => rows.pop(),
            (begin, bound, checked, commit) => {
                // The transaction's state is not known: the connection is not pooled again.
                discard(conn);
                let e = match (begin.err(), bound.err(), checked.err(), commit.err()) {
                    (Some(e), ..) | (_, Some(e), ..) | (_, _, Some(e), _) | (.., Some(e)) => DbError::from(e),
                    (None, None, None, None) => DbError::Unavailable,
                };
                tracing::warn!(error = ?e, "session check failed");
                return Err(e);
            }
        };
        let active = row.and_then(|r| r.try_get::<_, bool>(0).ok()).unwrap_or(false);
        if !ttl.is_zero() {
            self.inner.sessions.insert(id, (Instant::now(), active));
        }
        Ok(active)
    }
}
