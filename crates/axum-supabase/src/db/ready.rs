//! Getting a connection: the pool, readiness's memory of the last ping,
//! and the backoff after a failed dial. A flood of probes costs the database
//! at most one ping a second; a flood of requests against a database that
//! cannot be reached costs about one dial a second (besides the requests
//! already waiting in the pool) and one warning a second.

use std::time::{Duration, Instant};

use deadpool_postgres::Object;

use super::{Database, DbError, error, tls};

/// How long a failed dial answers for the next requests that would open a
/// connection: a flood of requests against a database that is down, or
/// whose certificate fails, dials it about once a second, not once a request.
const DIAL_BACKOFF: Duration = Duration::from_secs(1);

/// The last failed dial, and the warnings it gives.
pub(super) struct Dial {
    start: Instant,
    /// The last failed dial: milliseconds since `start`, plus one, shifted
    /// left once, with the low bit set when TLS failed (0: none). One word,
    /// so the time and the kind are always of the same failure.
    failed: std::sync::atomic::AtomicU64,
    warnings: crate::throttle::Throttle,
}

impl Dial {
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            failed: std::sync::atomic::AtomicU64::new(0),
            warnings: crate::throttle::Throttle::default(),
        }
    }

    fn now(&self) -> u64 {
        crate::throttle::millis_since(self.start)
    }

    /// The error of a dial that failed less than [`DIAL_BACKOFF`] ago.
    fn recent_failure(&self) -> Option<DbError> {
        let failed = self.failed.load(std::sync::atomic::Ordering::Acquire);
        let at = failed >> 1;
        let recent = at != 0 && u128::from(self.now().saturating_sub(at)) < DIAL_BACKOFF.as_millis();
        recent.then(|| {
            if failed & 1 == 1 {
                DbError::Tls
            } else {
                DbError::Unavailable
            }
        })
    }

    fn failed(&self, tls: bool) {
        let failed = (self.now() << 1) | u64::from(tls);
        self.failed.store(failed, std::sync::atomic::Ordering::Release);
    }

    fn succeeded(&self) {
        use std::sync::atomic::Ordering;
        if self.failed.load(Ordering::Relaxed) != 0 {
            self.failed.store(0, Ordering::Release);
        }
    }
}

/// What readiness probes share: the last ping, and the one in flight.
#[derive(Default)]
pub(super) struct Readiness {
    /// The last ping's time and outcome.
    last: std::sync::Mutex<Option<(Instant, Outcome)>>,
    /// Whether the last ping succeeded.
    last_ok: std::sync::atomic::AtomicBool,
    in_flight: std::sync::atomic::AtomicBool,
    /// Woken when a ping ends.
    done: tokio::sync::Notify,
    /// Pings sent to the database, for this repository's tests.
    pings_sent: std::sync::atomic::AtomicU64,
}

impl Readiness {
    /// No ping yet, and nothing known to be wrong.
    pub(super) fn new() -> Self {
        Self {
            last_ok: std::sync::atomic::AtomicBool::new(true),
            ..Self::default()
        }
    }
}

/// What a ping found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Up,
    Down,
    /// No connection: TLS failed.
    Tls,
}

impl Outcome {
    fn of(result: &Result<(), DbError>) -> Self {
        match result {
            Ok(()) => Self::Up,
            Err(DbError::Tls) => Self::Tls,
            Err(_) => Self::Down,
        }
    }

    fn answer(self) -> Result<(), DbError> {
        match self {
            Self::Up => Ok(()),
            Self::Down => Err(DbError::Unavailable),
            Self::Tls => Err(DbError::Tls),
        }
    }
}

/// Ends a ping's flight however the ping ends (its caller may go away).
struct PingFlight<'a>(&'a Readiness);

impl Drop for PingFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .store(false, std::sync::atomic::Ordering::Release);
        self.0.done.notify_waiters();
    }
}

/// How long a ping's outcome answers readiness probes.
const PING_TTL: Duration = Duration::from_secs(1);

impl Database {
    /// Whether the database answers, for readiness probes: one `select 1` on a
    /// pooled connection, within the acquire timeout. A probe flood costs the
    /// pool one connection at most: an outcome answers every call for a
    /// second, one ping is in flight at a time, and while it is, callers get
    /// the outcome before it; with none to give (the first ping, or after a
    /// request's own success or failure outdated it), they wait for the ping.
    pub async fn ping(&self) -> Result<(), DbError> {
        let ready = &self.inner.ready;
        loop {
            let last = *lock(&ready.last);
            if let Some((at, outcome)) = last
                && at.elapsed() < PING_TTL
            {
                return outcome.answer();
            }
            if !ready.in_flight.swap(true, std::sync::atomic::Ordering::AcqRel) {
                let _flight = PingFlight(ready);
                let outcome = Outcome::of(&self.ping_now().await);
                *lock(&ready.last) = Some((Instant::now(), outcome));
                ready
                    .last_ok
                    .store(outcome == Outcome::Up, std::sync::atomic::Ordering::Relaxed);
                return outcome.answer();
            }
            if let Some((_, outcome)) = last {
                return outcome.answer();
            }
            // The first ping ever is out: wait for it (the guard wakes us however it ends).
            let done = ready.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if ready.in_flight.load(std::sync::atomic::Ordering::Acquire) {
                done.await;
            }
        }
    }

    /// How many pings reached for a connection (feature `internals`).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn pings_sent(&self) -> u64 {
        self.inner
            .ready
            .pings_sent
            .load(std::sync::atomic::Ordering::Acquire)
    }

    async fn ping_now(&self) -> Result<(), DbError> {
        self.inner
            .ready
            .pings_sent
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let conn = self.acquire().await?;
        let ping = tokio::time::timeout(self.inner.acquire_timeout, conn.batch_execute("select 1"));
        match ping.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                discard(conn);
                Err(DbError::from(e))
            }
            Err(_) => {
                discard(conn);
                Err(DbError::Unavailable)
            }
        }
    }

    pub(crate) async fn acquire(&self) -> Result<Object, DbError> {
        let dial = &self.inner.dial;
        // A dial failed just now. A request that would dial again (no idle
        // connection, and room for a new one) gets that answer instead; one
        // that would wait for a busy connection still waits.
        if let Some(error) = dial.recent_failure() {
            let pool = self.inner.pool.status();
            if pool.available == 0 && pool.size < pool.max_size {
                return Err(error);
            }
        }
        let conn = self.inner.pool.get().await;
        // A request's own success or failure outdates the readiness probe's memory.
        if conn.is_ok()
            != self
                .inner
                .ready
                .last_ok
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            *lock(&self.inner.ready.last) = None;
        }
        let e = match conn {
            Ok(conn) => {
                // A new connection is a dial that worked; a reused one says
                // nothing about dialling.
                if Object::metrics(&conn).recycle_count == 0 {
                    dial.succeeded();
                }
                return Ok(conn);
            }
            Err(e) => e,
        };
        use deadpool_postgres::{PoolError, TimeoutType};
        let tls = matches!(&e, PoolError::Backend(pg) if tls::is_tls_failure(pg));
        if matches!(e, PoolError::Backend(_) | PoolError::Timeout(TimeoutType::Create)) {
            dial.failed(tls);
        }
        // One line a second at most, with the count of those held back.
        if let Some(held) = dial.warnings.allow() {
            match &e {
                // The cause names the check that failed (a certificate
                // error, or no TLS offered), never a credential.
                PoolError::Backend(pg) if tls => {
                    let cause = std::error::Error::source(pg).map(ToString::to_string);
                    tracing::warn!(cause = cause.as_deref(), held, "{}", error::TLS_FAILED);
                }
                PoolError::Backend(pg) => tracing::warn!(
                    sqlstate = pg.code().map(|c| c.code()),
                    held,
                    "cannot open a database connection"
                ),
                other => tracing::warn!(reason = %pool_reason(other), held, "no database connection"),
            }
        }
        Err(if tls { DbError::Tls } else { DbError::Unavailable })
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Closes a connection instead of returning it to the pool.
pub(crate) fn discard(conn: Object) {
    drop(Object::take(conn));
}

fn pool_reason(e: &deadpool_postgres::PoolError) -> &'static str {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Timeout(_) => "timed out waiting for a connection",
        PoolError::Closed => "the pool is closed",
        PoolError::Backend(_) => "cannot connect",
        _ => "the pool failed",
    }
}
