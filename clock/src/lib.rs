//! The clock seam: every component that needs "now" reads it from a [`Clock`] it was given,
//! never from the operating system directly.
//!
//! Why one seam: expiry, idempotency windows, admission tokens and refund tiers all compare
//! instants taken in different processes. With one injectable source, tests and the
//! deterministic simulation move time by hand ([`ManualClock`]) instead of sleeping, and skew
//! between components can be injected on purpose ([`SkewedClock`]) to prove it does no harm.
//! The pure engine reads no clock at all: it decides with the log time its commands carry.

mod format;

pub use format::{rfc3339_ms, rfc3339_s};

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use schemas::UnixMs;

/// A source of the current instant.
pub trait Clock: Send + Sync + Debug {
    /// Milliseconds since the Unix epoch, UTC.
    fn now(&self) -> UnixMs;
}

/// A shared clock, as components hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMs {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        UnixMs(since.as_millis() as i64)
    }
}

/// The system clock as a [`SharedClock`]: the production default.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that only moves when told to (tests, the simulation).
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: UnixMs) -> ManualClock {
        ManualClock {
            now: AtomicI64::new(start.0),
        }
    }

    /// Move forward by `ms` (never backward: a negative step is ignored).
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms.max(0), Ordering::SeqCst);
    }

    /// Stand at `at`, if that is not earlier than now.
    pub fn set(&self, at: UnixMs) {
        self.now.fetch_max(at.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixMs {
        UnixMs(self.now.load(Ordering::SeqCst))
    }
}

/// Another clock shifted by a fixed offset: one component's view of time under skew.
#[derive(Debug)]
pub struct SkewedClock {
    inner: SharedClock,
    offset_ms: i64,
}

impl SkewedClock {
    /// `inner` shifted by `offset_ms` (positive: ahead).
    pub fn new(inner: SharedClock, offset_ms: i64) -> SkewedClock {
        SkewedClock { inner, offset_ms }
    }
}

impl Clock for SkewedClock {
    fn now(&self) -> UnixMs {
        UnixMs(self.inner.now().0 + self.offset_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_forward_and_only_when_told() {
        let clock = ManualClock::new(UnixMs(1_000));
        assert_eq!(clock.now(), UnixMs(1_000));
        clock.advance(250);
        clock.advance(-100);
        clock.set(UnixMs(900));
        assert_eq!(clock.now(), UnixMs(1_250));
        clock.set(UnixMs(2_000));
        assert_eq!(clock.now(), UnixMs(2_000));
    }

    #[test]
    fn a_skewed_clock_follows_its_source_at_an_offset() {
        let source = Arc::new(ManualClock::new(UnixMs(10_000)));
        let behind = SkewedClock::new(source.clone(), -3_000);
        assert_eq!(behind.now(), UnixMs(7_000));
        source.advance(500);
        assert_eq!(behind.now(), UnixMs(7_500));
        assert!(SystemClock.now().0 > 1_700_000_000_000);
    }
}
