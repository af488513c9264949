//! One warning a second at most, whatever a client sends: a line that any
//! request can cause must not let a flood of requests flood the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Milliseconds since `start`, plus one, so that 0 can stand for "never";
/// at most `u64::MAX >> 2`, so that a caller may pack a flag beside it.
pub(crate) fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).map_or(u64::MAX >> 2, |ms| ms.min(u64::MAX >> 2)) + 1
}

/// Lets one event through per interval and counts the ones it holds back.
#[derive(Debug)]
pub(crate) struct Throttle {
    start: Instant,
    interval: Duration,
    /// Milliseconds since `start` of the last event let through, plus one (0: none yet).
    last: AtomicU64,
    held: AtomicU64,
}

impl Throttle {
    /// One event per `interval`.
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            start: Instant::now(),
            interval,
            last: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event may be logged, `n` being the events held
    /// back since the last one; `None` when it is held back.
    pub(crate) fn allow(&self) -> Option<u64> {
        self.allow_at(millis_since(self.start))
    }

    /// [`allow`](Self::allow) at `now`, milliseconds since `start` plus one.
    fn allow_at(&self, now: u64) -> Option<u64> {
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || u128::from(now.saturating_sub(last)) >= self.interval.as_millis();
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.held.swap(0, Ordering::AcqRel));
        }
        self.held.fetch_add(1, Ordering::AcqRel);
        None
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_interval_and_a_count_of_the_rest() {
        let throttle = Throttle::new(Duration::from_millis(1000));
        assert_eq!(throttle.allow_at(1), Some(0));
        assert!((0..1000).all(|i| throttle.allow_at(1 + i).is_none()));
        assert_eq!(throttle.allow_at(1001), Some(1000));
        assert_eq!(throttle.allow_at(1500), None);
        assert_eq!(throttle.allow_at(2001), Some(1));
    }

    #[test]
    fn threads_racing_let_one_through() {
        let throttle = Throttle::new(Duration::from_secs(3600));
        let through: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..500).filter(|_| throttle.allow().is_some()).count()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(through, 1);
    }
}
