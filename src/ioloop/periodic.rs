//! Tornado's `PeriodicCallback`.

use core::time::Duration;

use super::{Callback, Error, IoLoop, TimeoutId, Token};

/// Calls a function every `interval` until stopped (Tornado's `PeriodicCallback`).
///
/// If the loop falls behind (a long handler, a suspended process), missed runs are skipped, not
/// queued: the next run is at the first multiple of the interval after now, which keeps the
/// schedule on its original grid. Stopping from inside the callback itself is allowed.
///
/// The struct is a small handle (it holds no closure): keep it in the application context and
/// call [`stop`](Self::stop) with the loop.
#[derive(Debug)]
pub struct PeriodicCallback<C: 'static> {
    callback: Callback<C>,
    token: Token,
    interval: Duration,
    id: Option<TimeoutId>,
}

impl<C: 'static> PeriodicCallback<C> {
    /// A stopped periodic callback.
    pub const fn new(callback: Callback<C>, token: Token, interval: Duration) -> Self {
        PeriodicCallback {
            callback,
            token,
            interval,
            id: None,
        }
    }

    /// Starts it: the first run is one interval from now. Starting a running one restarts it.
    pub fn start(&mut self, lp: &mut IoLoop<C>) -> Result<(), Error> {
        self.stop(lp);
        let first = lp.time() + self.interval;
        self.id = Some(lp.call_every(first, self.interval, self.callback, self.token)?);
        Ok(())
    }

    /// Stops it; no further run happens.
    pub fn stop(&mut self, lp: &mut IoLoop<C>) {
        if let Some(id) = self.id.take() {
            lp.remove_timeout(id);
        }
    }

    /// Whether [`start`](Self::start) was called without a later [`stop`](Self::stop).
    pub fn is_running(&self) -> bool {
        self.id.is_some()
    }

    /// The interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}
