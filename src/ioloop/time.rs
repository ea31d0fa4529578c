//! Monotonic time for the loop (`CLOCK_MONOTONIC`, which never jumps with wall-clock changes).

use core::ops::Add;
use core::time::Duration;

/// A point on the monotonic clock, in nanoseconds since an arbitrary origin (boot on Linux).
///
/// This is what [`IoLoop::time`](super::IoLoop::time) returns and what
/// [`IoLoop::call_at`](super::IoLoop::call_at) takes; it is Tornado's `IOLoop.time()` as an
/// integer instead of a float, so deadlines compare exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(u64);

impl Instant {
    /// The current monotonic time.
    #[inline]
    pub fn now() -> Self {
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        // The monotonic clock is never negative.
        let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
        let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
        Instant(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// An instant from a raw nanosecond count.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// The raw nanosecond count.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at the far future instead of overflowing.
    pub fn saturating_add(self, d: Duration) -> Instant {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(add))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_now_is_monotonic() {
        let a = Instant::now();
        let b = Instant::now();
        assert!(b >= a);
    }

    #[test]
    fn test_add_saturates() {
        let far = Instant::from_nanos(u64::MAX - 1);
        assert_eq!((far + Duration::from_secs(5)).as_nanos(), u64::MAX);
        assert_eq!(
            Instant::from_nanos(5).saturating_duration_since(Instant::from_nanos(9)),
            Duration::ZERO
        );
    }
}
