//! Refreshing a session through GoTrue: one call per session at a time, and a
//! bounded number of calls whatever a client sends. [`gotrue`] makes the
//! calls and reads the answers; this module decides when to make one.
//!
//! GoTrue rotates refresh tokens, and a token reused outside its reuse
//! interval counts as theft: the whole session is revoked. A page that loads
//! ten resources sends ten requests with the same expired cookie, so they
//! share one call. The first request starts it in its own task (a client that
//! goes away does not cancel it); the others wait for its outcome.
//!
//! Flights are keyed by the session of the (signature-checked) expired access
//! token, not by the refresh token, so one genuine token paired with random
//! refresh tokens cannot start a call for each: while a session's flight is
//! out, another refresh token for it is answered 503, and after a flight
//! another token waits [`OTHER_TOKEN_PAUSE`]. GoTrue's verdict on one refresh
//! token is never handed to another: nothing proves they share a session, and
//! a stranger's revoked token must not sign anyone out. Tokens that cannot
//! name their session (a key removed from the JWKS, no `session_id`) are keyed
//! by themselves and draw on one small global budget. A background task
//! sweeps finished entries.

mod gotrue;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use tokio::sync::watch;
use uuid::Uuid;

pub(crate) use gotrue::NewSession;

use crate::task::Supervised;

/// How long a finished refresh (or a session found over) is remembered:
/// the reuse interval of hosted Supabase projects.
pub(crate) const KEEP_DONE: Duration = Duration::from_secs(10);
/// How long an outage is remembered before a session is tried again; also
/// the `Retry-After` of its 503.
pub(crate) const KEEP_UNAVAILABLE: Duration = Duration::from_secs(2);
/// The `Retry-After` for a second refresh token of a session whose refresh is out.
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// How long after a session's refresh failed another refresh token may try.
const OTHER_TOKEN_PAUSE: Duration = Duration::from_secs(2);
/// How often finished entries are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Refreshes of tokens that cannot name their session: a burst, then one
/// every ten seconds, well under GoTrue's own per-client refresh limit
/// (150 per 5 minutes by default), which every call of this server shares.
const BUDGET_BURST: f64 = 3.0;
const BUDGET_PER_SEC: f64 = 0.1;

/// Whose refresh this is: the session of a verified expired access token,
/// or, for a token that cannot name its session, that session (or user)
/// with a hash of the refresh token itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RefreshKey {
    session: Uuid,
    token: Option<u64>,
}

impl RefreshKey {
    /// Draws on the global budget: its session is not proven.
    fn budgeted(self) -> bool {
        self.token.is_some()
    }
}

/// What a refresh came to.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// GoTrue issued a new session.
    Refreshed(Arc<NewSession>),
    /// GoTrue says this refresh token is over: clear the cookies.
    /// `session_over`: no other token of its session works either.
    Ended { session_over: bool },
    /// GoTrue could not be asked, or asked us to wait: the session may be fine.
    Unavailable { retry_after: Duration },
}

/// One key's latest refresh: in flight until `done` holds its outcome.
struct Entry {
    token: Box<str>,
    flight: u64,
    done: watch::Receiver<Option<Outcome>>,
    /// When the flight ended.
    finished: Option<Instant>,
    /// Consulted until then; swept after.
    until: Instant,
}

/// A token bucket for refreshes of tokens that cannot name their session.
struct Budget {
    tokens: f64,
    at: Instant,
}

impl Budget {
    fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * BUDGET_PER_SEC;
        self.tokens = (self.tokens + refill).min(BUDGET_BURST);
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

struct State {
    entries: HashMap<RefreshKey, Entry>,
    next_flight: u64,
    /// After a 429 from GoTrue, no session is refreshed before then.
    cooldown_until: Option<Instant>,
    budget: Budget,
}

/// The GoTrue endpoints and the refreshes of the last few seconds.
pub(crate) struct Refresher {
    client: reqwest::Client,
    token_url: reqwest::Url,
    logout_url: reqwest::Url,
    api_key: HeaderValue,
    /// The variable to name when GoTrue's gateway refuses the key.
    api_key_var: &'static str,
    timeout: Duration,
    max_flights: usize,
    /// Keys the hashes of refresh tokens, per process.
    hasher: std::collections::hash_map::RandomState,
    state: Mutex<State>,
    sweeper: Supervised,
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresher")
            .field("token_url", &self.token_url.as_str())
            .field("timeout", &self.timeout)
            .field("max_flights", &self.max_flights)
            .finish_non_exhaustive()
    }
}

/// What `join_or_start` decided.
enum Start {
    /// Wait for this flight's outcome.
    Join(watch::Receiver<Option<Outcome>>),
    /// Answer at once, without calling GoTrue.
    Answer(Outcome),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unavailable(retry_after: Duration) -> Outcome {
    Outcome::Unavailable {
        retry_after: retry_after.max(Duration::from_secs(1)),
    }
}

impl Refresher {
    pub(crate) fn new(
        auth_url: &str,
        api_key: HeaderValue,
        api_key_var: &'static str,
        timeout: Duration,
        max_flights: usize,
    ) -> Result<Self, &'static str> {
        let url = |path: &str| reqwest::Url::parse(&format!("{auth_url}{path}")).map_err(|_| "is not a URL");
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| "cannot build the HTTP client")?;
        Ok(Self {
            client,
            token_url: url("/token?grant_type=refresh_token")?,
            logout_url: url("/logout")?,
            api_key,
            api_key_var,
            timeout,
            max_flights,
            hasher: std::collections::hash_map::RandomState::new(),
            state: Mutex::new(State {
                entries: HashMap::new(),
                next_flight: 0,
                cooldown_until: None,
                budget: Budget {
                    tokens: BUDGET_BURST,
                    at: Instant::now(),
                },
            }),
            sweeper: Supervised::default(),
        })
    }

    /// The key for refreshing `refresh_token` of `session` (a session id, or
    /// a user id when the token has none): the session alone when `proven`
    /// (a verified token naming its session), else the session and the token.
    pub(crate) fn key(&self, session: Uuid, proven: bool, refresh_token: &str) -> RefreshKey {
        RefreshKey {
            session,
            token: (!proven).then(|| self.hasher.hash_one(refresh_token)),
        }
    }

    /// The outcome of refreshing `refresh_token` for `key`, shared with every
    /// concurrent (and recent) caller holding the same token.
    pub(crate) async fn refresh(self: &Arc<Self>, key: RefreshKey, refresh_token: &str) -> Outcome {
        if !gotrue::is_plausible(refresh_token) {
            return Outcome::Ended { session_over: false };
        }
        self.sweeper.ensure(|| sweep(Arc::downgrade(self)));
        let mut done = match self.join_or_start(key, refresh_token) {
            Start::Join(done) => done,
            Start::Answer(outcome) => return outcome,
        };
        match done.wait_for(Option::is_some).await {
            Ok(done) => done.clone().unwrap_or(unavailable(KEEP_UNAVAILABLE)),
            // The task ended without an answer (the runtime is shutting down).
            Err(_) => unavailable(KEEP_UNAVAILABLE),
        }
    }

    /// Joins this key's flight for the same token, answers from its recent
    /// outcome, or starts a flight. O(1) under the lock.
    fn join_or_start(self: &Arc<Self>, key: RefreshKey, token: &str) -> Start {
        let now = Instant::now();
        let mut state = lock(&self.state);
        if let Some(until) = state.cooldown_until.filter(|until| *until > now) {
            return Start::Answer(unavailable(until - now));
        }
        if let Some(entry) = state.entries.get(&key).filter(|e| e.until > now) {
            if *entry.token == *token {
                return Start::Join(entry.done.clone());
            }
            // Another token for the same session: its verdict is not this one's.
            let waited = entry.finished.map(|at| now.saturating_duration_since(at));
            match (&*entry.done.borrow(), waited) {
                (None, _) | (_, None) => return Start::Answer(unavailable(BUSY_RETRY)),
                // "No further refresh during the reuse interval", without signing anyone out.
                (Some(Outcome::Ended { session_over: true }), _) => {
                    return Start::Answer(unavailable(entry.until - now));
                }
                (Some(Outcome::Refreshed(_)), _) => {}
                (Some(_), Some(waited)) if waited < OTHER_TOKEN_PAUSE => {
                    return Start::Answer(unavailable(OTHER_TOKEN_PAUSE - waited));
                }
                (Some(_), Some(_)) => {}
            }
        }
        if key.budgeted() && !state.budget.take(now) {
            return Start::Answer(unavailable(BUSY_RETRY));
        }
        if state.entries.len() >= self.max_flights && !state.entries.contains_key(&key) {
            return Start::Answer(unavailable(KEEP_UNAVAILABLE));
        }
        state.next_flight += 1;
        let flight = state.next_flight;
        let (tx, rx) = watch::channel(None);
        let token: Box<str> = token.into();
        state.entries.insert(
            key,
            Entry {
                token: token.clone(),
                flight,
                done: rx.clone(),
                finished: None,
                until: later(now, self.timeout.saturating_add(KEEP_DONE)),
            },
        );
        drop(state);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let (outcome, cooldown) = this.call(&token).await;
            let (keep, label) = match &outcome {
                Outcome::Refreshed(_) => (KEEP_DONE, "refreshed"),
                Outcome::Ended { .. } => (KEEP_DONE, "ended"),
                Outcome::Unavailable { retry_after } => (*retry_after, "unavailable"),
            };
            // Once per GoTrue call, not per request: registering here costs nothing that matters.
            #[cfg(feature = "metrics")]
            metrics::counter!("auth_session_refreshes_total", "outcome" => label).increment(1);
            #[cfg(not(feature = "metrics"))]
            let _ = label;
            let now = Instant::now();
            let mut state = lock(&this.state);
            // A token that cannot name its session does not pause everyone's refreshes.
            if let Some(cooldown) = cooldown.filter(|_| !key.budgeted()) {
                state.cooldown_until = Some(later(now, cooldown));
            }
            if let Some(entry) = state.entries.get_mut(&key).filter(|e| e.flight == flight) {
                entry.until = later(now, keep);
                entry.finished = Some(now);
            }
            drop(state);
            tx.send_replace(Some(outcome));
        });
        Start::Join(rx)
    }

    /// The entries held, and about how many bytes they take (keys, tokens,
    /// refreshed sessions), for the repository's bound tests.
    #[cfg(feature = "internals")]
    pub(crate) fn held(&self) -> (usize, usize) {
        let state = lock(&self.state);
        let bytes = state
            .entries
            .values()
            .map(|e| {
                let session = match &*e.done.borrow() {
                    Some(Outcome::Refreshed(s)) => s.json.len() + s.access_token.len(),
                    _ => 0,
                };
                // The watch channel's shared state is about 128 bytes.
                std::mem::size_of::<(RefreshKey, Entry)>() + 128 + e.token.len() + session
            })
            .sum();
        (state.entries.len(), bytes)
    }
}

/// Sweeps entries past their time until the refresher is gone.
async fn sweep(refresher: Weak<Refresher>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(refresher) = refresher.upgrade() else {
            return;
        };
        let now = Instant::now();
        lock(&refresher.state).entries.retain(|_, e| e.until > now);
    }
}

fn later(now: Instant, by: Duration) -> Instant {
    now.checked_add(by).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refills_slowly() {
        let start = Instant::now();
        let mut budget = Budget {
            tokens: BUDGET_BURST,
            at: start,
        };
        let burst = (0..100).filter(|_| budget.take(start)).count();
        assert_eq!(burst, 3);
        assert!(!budget.take(start + Duration::from_secs(5)));
        assert!(budget.take(start + Duration::from_millis(10_100)));
        assert!(!budget.take(start + Duration::from_millis(10_100)));
    }
}
