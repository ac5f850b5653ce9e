//! Wires the reaction exporter into exporter-core: the log source task, the counting
//! engine, the reaction CLI collector, the scrape-time families and the checkpoints.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use exporter_core::cli::LogLevel;
use exporter_core::exporter::ScrapeContext;
use exporter_core::{Collector, Exporter, Family, Schedule};

use crate::config::{Config, Export, LogSource, MetricSet};
use crate::counters::{Key, Metric, Snapshot, union_family};
use crate::labels::LabelPlan;
use crate::pipeline::{Engine, Position};
use crate::reaction_cli::{CliError, ReactionCli, parse_show};
use crate::source::file::{FileTail, StartAt};
use crate::source::journal::JournalSource;
use crate::topology::Topology;
use crate::{state, unix_now};

/// The original's listen address, to tell whether `--web.listen-address` was given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[allow(
    clippy::needless_pass_by_value,
    reason = "exporter_core::launch hands the config over"
)]
pub fn setup(config: Config, ex: &mut Exporter) -> Result<(), String> {
    // launch() has run Config::validate.
    if ex.args().listen_addresses == [DEFAULT_LISTEN] {
        ex.set_listen_addresses(vec![config.listen.to_listen_address()]);
    }
    if ex.args().log_level == LogLevel::Info
        && let Some(level) = LogLevel::parse_lenient(&config.loglevel)
    {
        ex.log_handle().set_level(level);
    }
    let settings = config.exporter.clone();
    let source = config.reaction.logs.source()?;
    let source_id = match &source {
        LogSource::Journal { unit } => format!("journal:{unit}"),
        LogSource::File { path } => format!("file:{}", path.display()),
    };
    let state_dir = state_directory(settings.state_directory.clone());
    let topology = Arc::new(ArcSwap::from_pointee(Topology::default()));
    let export = config.metrics.export.clone();
    let mut engine = Engine::new(
        Arc::clone(&topology),
        LabelPlan::new(&config.metrics)?,
        export.clone(),
        config.reaction.hold,
        settings.max_series,
    );
    let resume = restore(&mut engine, &state_dir, &source_id, settings.resume_window);
    let engine = Arc::new(Mutex::new(engine));

    // Lines are counted only once reaction's config has been read (or could not be), so
    // that the first lines get their pattern labels and dotted names split right.
    let (topology_tx, topology_rx) = tokio::sync::watch::channel(false);
    let gate_timeout = settings
        .command_timeout
        .saturating_add(Duration::from_secs(2));
    let cli = ReactionCli {
        command: settings.reaction_command.clone(),
        config: config.reaction.config.clone(),
        socket: config.reaction.socket.clone(),
        timeout: settings.command_timeout,
    };
    ex.collector(
        ReactionCollector {
            cli,
            topology,
            engine: Arc::clone(&engine),
            labels: LabelPlan::new(&config.metrics)?,
            export: export.clone(),
            metric_set: settings.metric_set,
            first_attempt: topology_tx,
        },
        Schedule::every(settings.show_interval)
            .with_timeout(settings.command_timeout.saturating_mul(3))
            .with_ttl(
                settings
                    .show_interval
                    .saturating_mul(4)
                    .max(Duration::from_secs(60)),
            ),
    );

    let live_engine = Arc::clone(&engine);
    let metric_set = settings.metric_set;
    ex.live_metrics(move |ctx| scrape_families(&live_engine, &export, metric_set, ctx));

    match source {
        LogSource::File { path } => {
            let tail = FileTail::new(path, resume, StartAt::End, settings.max_line_bytes);
            let engine = Arc::clone(&engine);
            let every = settings.poll_interval;
            let mut gate = topology_rx;
            ex.task(move |stop| async move {
                let _ = tokio::time::timeout(gate_timeout, gate.wait_for(|done| *done)).await;
                follow_file(tail, engine, every, stop).await;
            });
        }
        LogSource::Journal { unit } => {
            let journal = JournalSource {
                journalctl: settings.journalctl.clone(),
                unit,
                directory: settings.journal_directory.clone(),
            };
            let cursor = match resume {
                Some(Position::Journal { cursor }) => Some(cursor),
                _ => None,
            };
            let engine = Arc::clone(&engine);
            let mut gate = topology_rx;
            ex.task(move |stop| async move {
                let _ = tokio::time::timeout(gate_timeout, gate.wait_for(|done| *done)).await;
                journal.run(engine, cursor, stop).await;
            });
        }
    }

    let checkpoint = Checkpoint {
        engine,
        dir: state_dir,
        source: source_id,
        ttl: settings.series_ttl,
    };
    let periodic = checkpoint.clone();
    let every = settings.checkpoint_interval;
    ex.task(move |stop| periodic.run(every, stop));
    ex.on_shutdown(move || async move { checkpoint.save() });
    Ok(())
}

/// `exporter.state_directory`, else systemd's `$STATE_DIRECTORY`, else the working
/// directory (where the original kept its pickles).
fn state_directory(configured: Option<PathBuf>) -> PathBuf {
    configured
        .or_else(|| {
            std::env::var_os("STATE_DIRECTORY").and_then(|v| {
                v.to_str()
                    .and_then(|s| s.split(':').next())
                    .map(PathBuf::from)
            })
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Loads the checkpoint into `engine`; returns the position to resume from.
fn restore(
    engine: &mut Engine,
    dir: &std::path::Path,
    source_id: &str,
    window: Duration,
) -> Option<Position> {
    match state::load(dir) {
        Ok(Some(saved)) => {
            let age = unix_now().saturating_sub(saved.saved_at);
            engine.counters = saved.counters;
            if age > window.as_secs() {
                tracing::info!(
                    age_seconds = age,
                    "saved state is older than the resume window: not resuming the log position"
                );
                engine.counters.mark_all_seen();
                None
            } else if saved.source != source_id {
                tracing::info!(saved = %saved.source, now = %source_id, "log source changed: not resuming its position");
                None
            } else {
                tracing::info!(age_seconds = age, "resuming from the saved state");
                engine.position.clone_from(&saved.position);
                saved.position
            }
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring the saved state");
            None
        }
    }
}

async fn follow_file(
    tail: FileTail,
    engine: Arc<Mutex<Engine>>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // Reads and parses a batch on a blocking thread.
    let read = |mut tail: FileTail| {
        tokio::task::spawn_blocking(move || {
            let mut lines = crate::pipeline::Batch::default();
            let r = tail.poll(&mut lines, crate::source::BATCH);
            lines.parse_all();
            (tail, lines, r)
        })
    };
    // Between drains the tail rests here; while draining it is with the reader.
    let mut resting = Some(tail);
    loop {
        // Drain what is there in batches (each under the lock only briefly), then wait.
        // The next batch is read and parsed while this one is counted: a backlog keeps
        // both cores busy.
        let Some(tail) = resting.take() else { return };
        let mut pending = read(tail);
        loop {
            let Ok((t, lines, result)) = pending.await else {
                tracing::error!("file reader task failed");
                return;
            };
            let n = lines.len();
            let more = result.is_ok() && n >= crate::source::BATCH && !*stop.borrow();
            let next = if more {
                Some(read(t))
            } else {
                resting = Some(t);
                None
            };
            if let Ok(stats) = &result
                && stats.skipped_long_lines > 0
            {
                engine
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .counters
                    .unparsed += stats.skipped_long_lines;
            }
            crate::source::process_batch(&engine, lines);
            if let Err(e) = &result {
                tracing::warn!(error = %e, "cannot read the log file");
            }
            let Some(next) = next else { break };
            pending = next;
            tokio::task::yield_now().await;
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

#[derive(Clone)]
struct Checkpoint {
    engine: Arc<Mutex<Engine>>,
    dir: PathBuf,
    source: String,
    ttl: Duration,
}

impl Checkpoint {
    fn save(&self) {
        let now = unix_now();
        let (position, counters) = {
            let mut e = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
            let dropped = e.counters.sweep(now, self.ttl.as_secs());
            if dropped > 0 {
                tracing::debug!(series = dropped, "idle series dropped");
            }
            (e.position.clone(), e.counters.clone())
        };
        match state::save(&self.dir, &self.source, position, counters, now) {
            Ok(()) => tracing::debug!(dir = %self.dir.display(), "state saved"),
            Err(e) => tracing::error!(error = %e, "cannot save state"),
        }
    }

    async fn run(self, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.save()).await;
        }
    }
}

fn enabled(export: &Export) -> Vec<Metric> {
    let mut m = Vec::new();
    if export.matches.enabled() {
        m.push(Metric::Matches);
    }
    if export.actions.enabled() {
        m.push(Metric::Actions);
    }
    if export.commands {
        m.push(Metric::Commands);
    }
    if export.streams {
        m.push(Metric::Streams);
    }
    m
}

fn scrape_families(
    engine: &Mutex<Engine>,
    export: &Export,
    set: MetricSet,
    ctx: &ScrapeContext,
) -> Vec<Family> {
    let metrics = enabled(export);
    let scraper = format!(
        "{}|{}",
        ctx.peer.map(|p| p.to_string()).unwrap_or_default(),
        ctx.user_agent.as_deref().unwrap_or_default()
    );
    let now = unix_now();
    // Under the lock only long enough to copy the counts (keys are shared).
    let (snapshot, baseline, last_time_us) = {
        let mut e = engine.lock().unwrap_or_else(PoisonError::into_inner);
        let baseline = set.legacy().then(|| e.counters.take_baseline(&scraper));
        (e.counters.snapshot(&metrics), baseline, e.last_time_us)
    };
    let mut out = Vec::new();
    if set.native() {
        out.extend(snapshot.native_families());
    }
    if let Some(baseline) = baseline {
        let (families, seen) = snapshot.legacy_families(&baseline);
        out.extend(families);
        engine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .counters
            .put_baseline(&scraper, seen, now);
    }
    out.extend(self_families(&snapshot, last_time_us));
    out
}

fn self_families(s: &Snapshot, last_time_us: u64) -> Vec<Family> {
    let mut lines = Family::counter(
        "reaction_exporter_log_lines_total",
        "Lines read from reaction's output.",
    );
    lines.set(s.lines as f64);
    let mut unparsed = Family::counter(
        "reaction_exporter_unparsed_lines_total",
        "Lines that were not a reaction event or did not fit reaction's configuration (logged at debug level).",
    );
    unparsed.set(s.unparsed as f64);
    let mut dropped = Family::counter(
        "reaction_exporter_dropped_events_total",
        "Events not counted because their metric reached exporter.max_series.",
    )
    .with_labels(["metric"]);
    for (m, n) in s.dropped() {
        dropped.push([m.as_str()], *n as f64);
    }
    let mut series = Family::gauge(
        "reaction_exporter_series",
        "Series currently kept per enabled metric.",
    )
    .with_labels(["metric"]);
    for (m, n) in s.series() {
        series.push([m.as_str()], n as f64);
    }
    let mut last = Family::gauge(
        "reaction_exporter_last_log_timestamp_seconds",
        "Log time of the last line processed (0: none yet); compare with time() to see the backlog.",
    );
    last.set(last_time_us as f64 / 1e6);
    vec![lines, unparsed, dropped, series, last]
}

/// `reaction -V`, `reaction show` and, when needed, `reaction test-config`.
struct ReactionCollector {
    cli: ReactionCli,
    topology: Arc<ArcSwap<Topology>>,
    engine: Arc<Mutex<Engine>>,
    labels: LabelPlan,
    export: Export,
    metric_set: MetricSet,
    /// Set once the first `test-config` attempt is over (the sources wait for it).
    first_attempt: tokio::sync::watch::Sender<bool>,
}

impl Collector for ReactionCollector {
    type Error = CliError;

    fn name(&self) -> &'static str {
        "reaction"
    }

    async fn collect(&self) -> Result<Vec<Family>, CliError> {
        let stale = {
            let mut e = self.engine.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut e.topology_stale)
        };
        if stale || self.topology.load().streams.is_empty() {
            match self.cli.test_config().await {
                Ok(t) => {
                    self.topology.store(Arc::new(t));
                    self.engine
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .seed_known_streams(unix_now());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read reaction's configuration; dotted names fall back to the first dot");
                }
            }
            self.first_attempt.send_replace(true);
        }
        let version = match self.cli.version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "reaction -V failed");
                "N/A".to_owned()
            }
        };
        let show = self.cli.show().await;
        let mut status = Family::info(
            "reaction_status_info",
            "reaction's version and whether `reaction show` answered (status 1) or not (0).",
        )
        .with_labels(["version", "status"]);
        status.push(
            [version, if show.is_ok() { "1" } else { "0" }.to_owned()],
            1.0,
        );
        let mut out = vec![status];
        let yaml = match show {
            Ok(y) => y,
            Err(e) => {
                tracing::warn!(error = %e, "reaction show failed");
                return Ok(out);
            }
        };
        if !self.export.pending.enabled() {
            return Ok(out);
        }
        let pending = match parse_show(
            &yaml,
            &self.topology.load(),
            &self.labels,
            self.export.pending.extra(),
        ) {
            Ok(p) => p,
            Err(e) => {
                return Err(CliError::Output {
                    command: "reaction show".into(),
                    detail: e,
                });
            }
        };
        // Templates can map several matches to one label set: sum them into one series.
        let mut keys: std::collections::HashMap<Key, (f64, f64)> = std::collections::HashMap::new();
        for p in &pending {
            let entry = keys
                .entry(Key::new(
                    &[&p.stream, &p.filter, &p.action],
                    &p.labels
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect::<Vec<_>>(),
                ))
                .or_default();
            entry.0 += p.actions_of_match as f64;
            entry.1 += p.runs as f64;
        }
        let fixed = ["stream", "filter", "action"];
        if self.metric_set.legacy() {
            out.push(union_family(
                Family::gauge(
                    "reaction_pending_count",
                    "The original's pending gauge: for each pending action of a match, the number of distinct actions pending for that match.",
                ),
                &fixed,
                keys.iter().map(|(k, v)| (k, Some(v.0))),
            ));
        }
        if self.metric_set.native() {
            out.push(union_family(
                Family::gauge(
                    "reaction_pending_actions",
                    "Action runs waiting (reaction show), by stream, filter, action and pattern values.",
                ),
                &fixed,
                keys.iter().map(|(k, v)| (k, Some(v.1))),
            ));
        }
        Ok(out)
    }
}
