//! Wires collectors, a prober and hooks into the shared HTTP server and scheduler, and
//! runs it all until SIGTERM/SIGINT (SIGHUP reloads).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper_util::server::graceful::GracefulShutdown;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::build_info::ExporterInfo;
use crate::cli::CoreArgs;
use crate::collect::scheduler::unix_now;
use crate::collect::{Collector, CollectorStats, Schedule, Scheduler, SnapshotStore, Suppressor};
use crate::config::{self, ConfigSources};
use crate::logging::{self, LogHandle};
use crate::metrics::Family;
use crate::probe::{ProbeEndpoint, ProbeSettings, Prober};
use crate::web::routes::{AppState, Inner};
use crate::web::server::{self, ListenError};
use crate::web::{WebConfigError, WebRuntime};

/// Families computed at scrape time from in-memory state (e.g. a probe failure counter),
/// given who is scraping.
pub type LiveMetrics = Box<dyn Fn(&ScrapeContext) -> Vec<Family> + Send + Sync>;

/// Who is scraping: lets an exporter keep per-scraper state (e.g. "count since this
/// scraper's last collection" without one scraper stealing another's counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ScrapeContext {
    /// The TCP peer (address only: the port changes per connection).
    pub peer: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

type ReloadHook = Box<dyn Fn() -> Result<(), String> + Send + Sync>;
type ShutdownHook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;
type Registration = Box<dyn FnOnce(&mut Scheduler) + Send>;
type Task =
    Box<dyn FnOnce(watch::Receiver<bool>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// `<ns>_config_last_reload_successful` and its timestamp, as blackbox_exporter has them.
#[derive(Debug)]
pub struct ReloadStatus(Mutex<(bool, f64)>);

impl Default for ReloadStatus {
    fn default() -> Self {
        Self(Mutex::new((true, unix_now())))
    }
}

impl ReloadStatus {
    fn record(&self, ok: bool) {
        let mut s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 = ok;
        if ok {
            s.1 = unix_now();
        }
    }

    pub fn families(&self, ns: &str) -> Vec<Family> {
        let (ok, at) = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut success = Family::gauge(
            format!("{ns}_config_last_reload_successful"),
            "Whether the last configuration reload attempt was successful.",
        );
        success.set(if ok { 1.0 } else { 0.0 });
        let mut ts = Family::gauge(
            format!("{ns}_config_last_reload_success_timestamp_seconds"),
            "Timestamp of the last successful configuration reload.",
        );
        ts.set(at);
        vec![success, ts]
    }
}

/// Why an exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    WebConfig(#[from] WebConfigError),
    #[error("cannot install signal handler: {0}")]
    Signal(std::io::Error),
}

/// One exporter process: add collectors (and a prober), then [`run`](Exporter::run).
pub struct Exporter {
    info: ExporterInfo,
    args: CoreArgs,
    log: LogHandle,
    web: Arc<WebRuntime>,
    store: Arc<SnapshotStore>,
    stats: Arc<CollectorStats>,
    reload: Arc<ReloadStatus>,
    registrations: Vec<Registration>,
    probe: Option<ProbeEndpoint>,
    live: Vec<LiveMetrics>,
    reload_hooks: Arc<Vec<ReloadHook>>,
    shutdown_hooks: Vec<ShutdownHook>,
    tasks: Vec<Task>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("name", &self.info.name)
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// Loads the web config (fatal if invalid).
    pub fn new(info: ExporterInfo, args: CoreArgs, log: LogHandle) -> Result<Self, RunError> {
        let web = WebRuntime::load(args.web_config_file.as_deref())?;
        Ok(Self {
            info,
            args,
            log,
            web: Arc::new(web),
            store: Arc::new(SnapshotStore::new()),
            stats: Arc::new(CollectorStats::default()),
            reload: Arc::new(ReloadStatus::default()),
            registrations: Vec::new(),
            probe: None,
            live: Vec::new(),
            reload_hooks: Arc::new(Vec::new()),
            shutdown_hooks: Vec::new(),
            tasks: Vec::new(),
        })
    }

    pub fn info(&self) -> &ExporterInfo {
        &self.info
    }

    /// The shared flags as parsed.
    pub fn args(&self) -> &CoreArgs {
        &self.args
    }

    /// Replaces the listen addresses (for originals whose config file sets them).
    pub fn set_listen_addresses(&mut self, addresses: Vec<String>) {
        self.args.listen_addresses = addresses;
    }

    /// The log level switch (for originals whose config file sets the level).
    pub fn log_handle(&self) -> &LogHandle {
        &self.log
    }

    /// The snapshot store, for collectors that publish outside the scheduler.
    pub fn store(&self) -> Arc<SnapshotStore> {
        Arc::clone(&self.store)
    }

    /// Runs `collector` in the background on `schedule` (started by [`run`](Self::run)).
    pub fn collector<C: Collector>(&mut self, collector: C, schedule: Schedule) -> &mut Self {
        self.stats.register(collector.name());
        self.registrations.push(Box::new(move |s: &mut Scheduler| {
            s.spawn(collector, schedule);
        }));
        self
    }

    /// Like [`collector`](Self::collector), with zero-suppression rules.
    pub fn collector_suppressed<C: Collector>(
        &mut self,
        collector: C,
        schedule: Schedule,
        suppressor: Suppressor,
    ) -> &mut Self {
        self.stats.register(collector.name());
        self.registrations.push(Box::new(move |s: &mut Scheduler| {
            s.spawn_suppressed(collector, schedule, suppressor);
        }));
        self
    }

    /// Serves `/probe` with `prober`.
    pub fn prober<P: Prober>(&mut self, prober: P, settings: ProbeSettings) -> &mut Self {
        self.probe = Some(ProbeEndpoint::new(prober, settings));
        self
    }

    /// Adds families computed at scrape time. Keep it cheap: it runs on every scrape.
    pub fn live_metrics(
        &mut self,
        f: impl Fn(&ScrapeContext) -> Vec<Family> + Send + Sync + 'static,
    ) -> &mut Self {
        self.live.push(Box::new(f));
        self
    }

    /// Called on SIGHUP after the web config is re-read. An error keeps the old config
    /// and sets `<ns>_config_last_reload_successful` to 0.
    pub fn on_reload(
        &mut self,
        f: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> &mut Self {
        if let Some(hooks) = Arc::get_mut(&mut self.reload_hooks) {
            hooks.push(Box::new(f));
        }
        self
    }

    /// A long-running background task (e.g. following a log), started with the
    /// collectors. It gets a stop signal (the receiver changes to `true`) on shutdown and
    /// is awaited, up to 10 s, before the shutdown hooks run.
    pub fn task<F, Fut>(&mut self, f: F) -> &mut Self
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks.push(Box::new(move |stop| Box::pin(f(stop))));
        self
    }

    /// Called once on SIGTERM/SIGINT after collectors stopped (e.g. to flush state).
    pub fn on_shutdown<F, Fut>(&mut self, f: F) -> &mut Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.shutdown_hooks.push(Box::new(move || Box::pin(f())));
        self
    }

    /// Binds the listeners. Collection starts in [`Bound::serve_until`].
    pub async fn bind(self) -> Result<Bound, RunError> {
        let listeners = server::bind(&self.args.listen_addresses).await?;
        for l in &listeners {
            if let Ok(addr) = l.local_addr() {
                tracing::info!(address = %addr, tls = self.web.current().tls.is_some(), "listening");
            }
        }
        Ok(Bound {
            exporter: self,
            listeners,
        })
    }

    /// Binds, serves, and handles SIGHUP (reload) and SIGTERM/SIGINT (graceful stop).
    pub async fn run(self) -> Result<(), RunError> {
        use tokio::signal::unix::{SignalKind, signal};
        // Handlers first: a signal that arrives as soon as "listening" is logged is handled.
        let mut term = signal(SignalKind::terminate()).map_err(RunError::Signal)?;
        let mut hup = signal(SignalKind::hangup()).map_err(RunError::Signal)?;
        let bound = self.bind().await?;
        let reload = bound.reload_handle();
        let stop = async move {
            loop {
                tokio::select! {
                    _ = hup.recv() => reload.reload(),
                    _ = term.recv() => break,
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
            tracing::info!("received stop signal, shutting down");
        };
        bound.serve_until(stop).await;
        Ok(())
    }
}

/// Re-runs the reload steps on demand (SIGHUP, or a test).
#[derive(Clone)]
pub struct ReloadHandle {
    web: Arc<WebRuntime>,
    hooks: Arc<Vec<ReloadHook>>,
    status: Arc<ReloadStatus>,
}

impl ReloadHandle {
    pub fn reload(&self) {
        tracing::info!("reloading configuration");
        let mut ok = true;
        if let Err(e) = self.web.reload() {
            tracing::error!(error = %e, "web config reload failed; keeping the previous one");
            ok = false;
        }
        for hook in self.hooks.iter() {
            if let Err(e) = hook() {
                tracing::error!(error = %e, "config reload failed; keeping the previous config");
                ok = false;
            }
        }
        self.status.record(ok);
        if ok {
            tracing::info!("configuration reloaded");
        }
    }
}

/// An exporter whose listeners are bound.
pub struct Bound {
    exporter: Exporter,
    listeners: Vec<TcpListener>,
}

impl Bound {
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    pub fn reload_handle(&self) -> ReloadHandle {
        ReloadHandle {
            web: Arc::clone(&self.exporter.web),
            hooks: Arc::clone(&self.exporter.reload_hooks),
            status: Arc::clone(&self.exporter.reload),
        }
    }

    /// Starts collection, serves until `stop` completes, then shuts down in order:
    /// listeners, collectors, shutdown hooks, open connections (given 10 s).
    pub async fn serve_until(self, stop: impl Future<Output = ()>) {
        let Bound {
            exporter: ex,
            listeners,
        } = self;
        let mut scheduler = Scheduler::new(Arc::clone(&ex.store), Arc::clone(&ex.stats));
        for register in ex.registrations {
            register(&mut scheduler);
        }
        let (task_stop_tx, task_stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for task in ex.tasks {
            tasks.spawn(task(task_stop_rx.clone()));
        }
        let max_requests = (ex.args.max_requests > 0).then(|| {
            (
                Arc::new(Semaphore::new(ex.args.max_requests)),
                ex.args.max_requests,
            )
        });
        let state = AppState(Arc::new(Inner {
            info: ex.info,
            telemetry_path: normalise_path(&ex.args.telemetry_path),
            store: Arc::clone(&ex.store),
            stats: Arc::clone(&ex.stats),
            log: ex.log.clone(),
            web: Arc::clone(&ex.web),
            probe: ex.probe,
            live: ex.live,
            reload: Arc::clone(&ex.reload),
            max_requests,
            request_timeout: ex.args.request_timeout,
        }));
        let app = crate::web::routes::router(state);
        let graceful = Arc::new(GracefulShutdown::new());
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut servers = JoinSet::new();
        for listener in listeners {
            servers.spawn(server::serve(
                listener,
                app.clone(),
                Arc::clone(&ex.web),
                Arc::clone(&graceful),
                stop_rx.clone(),
            ));
        }
        stop.await;
        let _ = stop_tx.send(true);
        while servers.join_next().await.is_some() {}
        scheduler.shutdown().await;
        let _ = task_stop_tx.send(true);
        let drained = tokio::time::timeout(Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("background tasks did not stop within 10s");
            tasks.abort_all();
        }
        for hook in ex.shutdown_hooks {
            hook().await;
        }
        if let Ok(graceful) = Arc::try_unwrap(graceful)
            && tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
                .await
                .is_err()
        {
            tracing::warn!("open connections did not finish within 10s");
        }
        tracing::info!("stopped");
    }
}

fn normalise_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

/// A config for binaries that have none yet: only an empty file (or none) is valid.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

impl Validate for NoConfig {}

/// Checks a config beyond its types (ranges, keys that need each other, values parsed
/// later). Run by [`launch`] before `setup` and by `--config.check`, so that a config
/// that passes the check also starts. Messages name the key.
pub trait Validate {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The common `main` of every binary: crypto provider, logging, config (and
/// `--config.check`), web config, runtime; then `setup` adds the collectors and the
/// exporter runs until stopped. Returns the process exit code.
pub fn launch<C, F>(
    info: ExporterInfo,
    args: CoreArgs,
    sources: &ConfigSources,
    setup: F,
) -> ExitCode
where
    C: DeserializeOwned + Serialize + Default + JsonSchema + Validate,
    F: FnOnce(C, &mut Exporter) -> Result<(), String>,
{
    if args.config_schema {
        print!("{}", config::json_schema::<C>());
        return ExitCode::SUCCESS;
    }
    // One process-wide TLS provider (ring), before anything builds a rustls config.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let log = logging::init(args.log_level, args.log_format);

    let config: C = match config::load(sources) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", info.name);
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = config.validate() {
        match sources.file.as_ref() {
            Some(f) => eprintln!("{}: {e} (in {})", info.name, f.display()),
            None => eprintln!("{}: {e}", info.name),
        }
        return ExitCode::FAILURE;
    }
    if args.config_check {
        return check(&info, &args, &config, sources.file.as_ref());
    }
    if nix_is_root() {
        tracing::warn!("running as root: this exporter is designed to run as an unprivileged user");
    }
    tracing::info!(
        version = info.version,
        revision = info.revision,
        "starting {}",
        info.name
    );

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(info.name)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", info.name);
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let mut exporter = Exporter::new(info, args, log).map_err(|e| e.to_string())?;
        setup(config, &mut exporter)?;
        exporter.run().await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "exiting");
            eprintln!("{}: {e}", info.name);
            ExitCode::FAILURE
        }
    }
}

fn check<C: Serialize>(
    info: &ExporterInfo,
    args: &CoreArgs,
    config: &C,
    file: Option<&PathBuf>,
) -> ExitCode {
    if let Some(web) = &args.web_config_file
        && let Err(e) = WebRuntime::load(Some(web))
    {
        eprintln!("{}: {e}", info.name);
        return ExitCode::FAILURE;
    }
    if let Err(e) = args
        .listen_addresses
        .iter()
        .try_for_each(|a| server::parse_listen_address(a).map(drop))
    {
        eprintln!("{}: {e}", info.name);
        return ExitCode::FAILURE;
    }
    match file {
        Some(f) => println!("# {}: configuration {} is valid", info.name, f.display()),
        None => println!("# {}: built-in defaults are valid", info.name),
    }
    print!("{}", config::render(config));
    ExitCode::SUCCESS
}

fn nix_is_root() -> bool {
    // /proc/self/status "Uid: real effective ..."; no libc call needed.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
