//! Runs each collector on its own task: first run at once (without delaying the
//! listener, which is bound before), then every interval with jitter, never two runs of
//! one collector at a time, each run bounded by a timeout. Results go to the
//! [`SnapshotStore`]; outcomes go to [`CollectorStats`] for the self-metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Collector, Schedule, SnapshotStore, Suppressor};
use crate::metrics::Family;

/// The outcome of the last run of each collector.
#[derive(Debug, Default)]
pub struct CollectorStats {
    inner: Mutex<BTreeMap<String, Stat>>,
}

#[derive(Debug, Default, Clone)]
pub struct Stat {
    pub runs: u64,
    pub success: bool,
    pub duration: Duration,
    /// Unix time of the last successful run.
    pub last_success: Option<f64>,
    /// Why the last run failed (cleared by a success).
    pub last_error: Option<String>,
}

impl CollectorStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Stat>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn register(&self, name: &str) {
        self.lock().entry(name.to_owned()).or_default();
    }

    fn record(&self, name: &str, duration: Duration, error: Option<String>) {
        let mut inner = self.lock();
        let stat = inner.entry(name.to_owned()).or_default();
        stat.runs += 1;
        stat.duration = duration;
        stat.success = error.is_none();
        if error.is_none() {
            stat.last_success = Some(unix_now());
        }
        stat.last_error = error;
    }

    /// True once every registered collector has finished (or failed) its first run.
    pub fn first_round_done(&self) -> bool {
        self.lock().values().all(|s| s.runs > 0)
    }

    pub fn snapshot(&self) -> BTreeMap<String, Stat> {
        self.lock().clone()
    }

    /// `<ns>_collector_{success,duration_seconds,last_success_timestamp_seconds}`.
    pub fn families(&self, namespace: &str) -> Vec<Family> {
        let stats = self.snapshot();
        let mut success = Family::gauge(
            format!("{namespace}_collector_success"),
            "Whether the collector's last run succeeded (1) or failed (0).",
        )
        .with_labels(["collector"]);
        let mut duration = Family::gauge(
            format!("{namespace}_collector_duration_seconds"),
            "How long the collector's last run took.",
        )
        .with_labels(["collector"]);
        let mut last = Family::gauge(
            format!("{namespace}_collector_last_success_timestamp_seconds"),
            "Unix time of the collector's last successful run (0: never).",
        )
        .with_labels(["collector"]);
        for (name, stat) in stats.iter().filter(|(_, s)| s.runs > 0) {
            success.push([name.as_str()], if stat.success { 1.0 } else { 0.0 });
            duration.push([name.as_str()], stat.duration.as_secs_f64());
            last.push([name.as_str()], stat.last_success.unwrap_or(0.0));
        }
        vec![success, duration, last]
    }
}

pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Renders an error with its chain of sources, `outer: inner: root`.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        // Many errors already include their source's text; don't repeat it.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Owns the collector tasks; dropping it or calling [`Scheduler::shutdown`] stops them.
#[derive(Debug)]
pub struct Scheduler {
    store: Arc<SnapshotStore>,
    stats: Arc<CollectorStats>,
    stop_tx: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Scheduler {
    pub fn new(store: Arc<SnapshotStore>, stats: Arc<CollectorStats>) -> Self {
        let (stop_tx, _) = watch::channel(false);
        Self {
            store,
            stats,
            stop_tx,
            tasks: JoinSet::new(),
        }
    }

    pub fn spawn<C: Collector>(&mut self, collector: C, schedule: Schedule) {
        self.spawn_inner(collector, schedule, None);
    }

    /// Like [`spawn`](Self::spawn), filtering every snapshot through `suppressor`.
    pub fn spawn_suppressed<C: Collector>(
        &mut self,
        collector: C,
        schedule: Schedule,
        suppressor: Suppressor,
    ) {
        self.spawn_inner(collector, schedule, Some(suppressor));
    }

    fn spawn_inner<C: Collector>(
        &mut self,
        collector: C,
        schedule: Schedule,
        mut suppressor: Option<Suppressor>,
    ) {
        let collector = Arc::new(collector);
        let name = collector.name().to_owned();
        self.stats.register(&name);
        let store = Arc::clone(&self.store);
        let stats = Arc::clone(&self.stats);
        let mut stop = self.stop_tx.subscribe();
        self.tasks.spawn(async move {
            loop {
                // tokio's clock, so paused-time tests see the same durations as production.
                let started = tokio::time::Instant::now();
                let run = Arc::clone(&collector);
                // A task of its own, so a panicking collector fails one run, not the process.
                let mut handle = tokio::spawn(async move { run.collect().await });
                let outcome = tokio::select! {
                    r = tokio::time::timeout(schedule.timeout, &mut handle) => r,
                    _ = stop.changed() => { handle.abort(); return; }
                };
                let elapsed = started.elapsed();
                let error = match outcome {
                    Ok(Ok(Ok(mut families))) => {
                        if let Some(s) = suppressor.as_mut() {
                            s.apply(&mut families);
                        }
                        store.publish(&name, families, schedule.ttl);
                        None
                    }
                    Ok(Ok(Err(err))) => Some(error_chain(&err)),
                    Ok(Err(join)) => Some(format!("collector panicked: {join}")),
                    Err(_) => {
                        handle.abort();
                        Some(format!(
                            "timed out after {}",
                            humantime::format_duration(schedule.timeout)
                        ))
                    }
                };
                match &error {
                    None => tracing::debug!(collector = %name, duration_seconds = elapsed.as_secs_f64(), "collection succeeded"),
                    Some(e) => tracing::warn!(collector = %name, duration_seconds = elapsed.as_secs_f64(), error = %e, "collection failed"),
                }
                stats.record(&name, elapsed, error);
                let wait = schedule.next_wait(elapsed, fastrand::f64());
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// Stops every collector task and waits for them to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop_tx.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, thiserror::Error)]
    #[error("source said no")]
    struct Nope;

    struct Slow {
        running: Arc<AtomicUsize>,
        max_seen: Arc<AtomicUsize>,
        runs: Arc<AtomicUsize>,
        delay: Duration,
    }

    impl Collector for Slow {
        type Error = Nope;
        fn name(&self) -> &'static str {
            "slow"
        }
        async fn collect(&self) -> Result<Vec<Family>, Nope> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_seen.fetch_max(now, Ordering::SeqCst);
            let n = self.runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if n % 2 == 1 {
                return Err(Nope);
            }
            let mut f = Family::gauge("slow_value", "v");
            f.set(n as f64);
            Ok(vec![f])
        }
    }

    #[tokio::test(start_paused = true)]
    async fn runs_never_overlap_and_failures_are_recorded() {
        let store = Arc::new(SnapshotStore::new());
        let stats = Arc::new(CollectorStats::default());
        let mut sched = Scheduler::new(Arc::clone(&store), Arc::clone(&stats));
        let running = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let runs = Arc::new(AtomicUsize::new(0));
        // Each run takes longer than the interval: runs must queue, not overlap.
        sched.spawn(
            Slow {
                running: Arc::clone(&running),
                max_seen: Arc::clone(&max_seen),
                runs: Arc::clone(&runs),
                delay: Duration::from_secs(3),
            },
            Schedule::every(Duration::from_secs(1))
                .with_timeout(Duration::from_secs(10))
                .with_ttl(Duration::from_secs(3600)),
        );
        assert!(!stats.first_round_done());
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(max_seen.load(Ordering::SeqCst), 1);
        let n = runs.load(Ordering::SeqCst);
        assert!((6..=8).contains(&n), "runs: {n}");
        assert!(stats.first_round_done());
        let s = &stats.snapshot()["slow"];
        assert!(s.runs >= 6);
        // Failed runs keep the last good snapshot (until its TTL).
        assert_eq!(store.gather()[0].name(), "slow_value");
        sched.shutdown().await;
    }

    struct Hang;
    impl Collector for Hang {
        type Error = Nope;
        fn name(&self) -> &'static str {
            "hang"
        }
        async fn collect(&self) -> Result<Vec<Family>, Nope> {
            std::future::pending().await
        }
    }

    struct Panics;
    impl Collector for Panics {
        type Error = Nope;
        fn name(&self) -> &'static str {
            "panics"
        }
        async fn collect(&self) -> Result<Vec<Family>, Nope> {
            panic!("bug in a collector")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_and_panics_fail_the_run_only() {
        let store = Arc::new(SnapshotStore::new());
        let stats = Arc::new(CollectorStats::default());
        let mut sched = Scheduler::new(Arc::clone(&store), Arc::clone(&stats));
        sched.spawn(
            Hang,
            Schedule::every(Duration::from_secs(10)).with_timeout(Duration::from_secs(2)),
        );
        sched.spawn(Panics, Schedule::every(Duration::from_secs(10)));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let snap = stats.snapshot();
        assert_eq!(snap["hang"].runs, 1);
        assert!(!snap["hang"].success);
        assert_eq!(
            snap["hang"].last_error.as_deref(),
            Some("timed out after 2s")
        );
        assert!(
            snap["panics"]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("panicked"))
        );
        let fams = stats.families("t");
        assert_eq!(fams[0].name(), "t_collector_success");
        assert_eq!(fams[0].samples().len(), 2);
        assert!(fams[0].samples().iter().all(|s| s.value == 0.0));
        assert!(fams[2].samples().iter().all(|s| s.value == 0.0));
        sched.shutdown().await;
    }

    #[test]
    fn error_chain_joins_sources_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("fetching balance")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&e), "fetching balance: connection refused");
    }
}
