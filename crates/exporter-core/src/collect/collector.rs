//! The one interface every data source implements, modelled on node_exporter's
//! `Collector.Update`: produce a fresh snapshot of families, or a typed error.

use std::future::Future;
use std::time::Duration;

use crate::metrics::Family;

/// A source of metrics run in the background by the [`Scheduler`](super::Scheduler).
///
/// `collect` must not block the async runtime: blocking I/O (libvirt, files) belongs in
/// `tokio::task::spawn_blocking` with its own timeout, because the scheduler's timeout
/// can abandon the future but not a blocked thread.
pub trait Collector: Send + Sync + 'static {
    /// The error type at this collector's I/O boundary.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The value of the `collector` label on the self-metrics. Stable, snake_case.
    fn name(&self) -> &str;

    /// Produces a complete snapshot. Families not returned disappear from `/metrics`.
    fn collect(&self) -> impl Future<Output = Result<Vec<Family>, Self::Error>> + Send;
}

/// When and how long a collector runs, and how long its snapshot stays valid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Time between the starts of two runs.
    pub interval: Duration,
    /// A run that takes longer is abandoned and counts as failed.
    pub timeout: Duration,
    /// Each wait is shortened or lengthened by up to this fraction of `interval` (0..=0.5),
    /// so many exporters started together do not hit one upstream in lockstep.
    pub jitter: f64,
    /// How long a snapshot is served after the run that made it. When a collector keeps
    /// failing, its series vanish after this rather than being served stale forever.
    pub ttl: Duration,
}

impl Schedule {
    /// A schedule with the usual derived values: timeout = interval (capped at 60 s),
    /// 10 % jitter, and a TTL of three intervals.
    pub fn every(interval: Duration) -> Self {
        Self {
            interval,
            timeout: interval.min(Duration::from_secs(60)),
            jitter: 0.1,
            ttl: interval.saturating_mul(3),
        }
    }

    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    #[must_use]
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 0.5);
        self
    }

    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The wait before the next run, with jitter drawn from `unit` in [0, 1).
    pub(crate) fn next_wait(&self, elapsed: Duration, unit: f64) -> Duration {
        let jitter = self.jitter.clamp(0.0, 0.5);
        let factor = 1.0 + jitter * (2.0 * unit - 1.0);
        self.interval.mul_f64(factor).saturating_sub(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_stays_inside_jitter_band_and_subtracts_run_time() {
        let s = Schedule::every(Duration::from_secs(10)).with_jitter(0.2);
        assert_eq!(s.next_wait(Duration::ZERO, 0.0), Duration::from_secs(8));
        assert_eq!(s.next_wait(Duration::ZERO, 0.5), Duration::from_secs(10));
        assert!(s.next_wait(Duration::ZERO, 0.999_999) < Duration::from_secs(12));
        assert_eq!(
            s.next_wait(Duration::from_secs(3), 0.5),
            Duration::from_secs(7)
        );
        // A run longer than the interval starts the next one at once, never overlapping.
        assert_eq!(s.next_wait(Duration::from_secs(30), 0.5), Duration::ZERO);
        assert_eq!(
            Schedule::every(Duration::from_secs(600)).timeout,
            Duration::from_secs(60)
        );
    }
}
