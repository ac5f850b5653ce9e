//! Polling: every identifier on its own `poll_interval`, concurrently, with jitter, a
//! time limit, a per-provider concurrency limit and exponential backoff after answers
//! that could lock an account (captcha, rate limit, cannot proceed). The first poll
//! starts at once and never delays the listener; `/metrics` reads the last results.
//! A new config (SIGHUP) adds, removes and restarts identifiers; the others go on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exporter_core::Family;
use tokio::sync::{Semaphore, watch};
use tracing::Instrument as _;

use crate::config::{Config, Identifier};
use crate::providers::{self, Account, Balance, Failure, Kind};
use crate::{interval, tls};

/// Polls of one provider running at once.
const PER_PROVIDER: usize = 4;
/// Longest wait after repeated backoff failures.
const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// Time limit for reading a secret (a command may ask a vault).
const SECRET_TIMEOUT: Duration = Duration::from_secs(30);

/// (provider, identifier): an identifier's series and task.
type Key = (String, String);

/// The last results of one identifier.
#[derive(Debug, Clone, Default)]
struct Status {
    value: Option<f64>,
    pending_charges: Option<f64>,
    last_error: Option<&'static str>,
    last_success: Option<f64>,
    duration: Option<f64>,
    polls: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Clone)]
struct Entry {
    poll_interval: String,
    labels: BTreeMap<String, String>,
    status: Status,
}

/// What `/metrics` shows: the settings and every enabled identifier's last results.
pub struct Board {
    metric_name: Mutex<(String, Option<BTreeMap<String, i64>>)>,
    entries: Mutex<BTreeMap<Key, Entry>>,
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Board {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            metric_name: Mutex::new(("ssp_balance".into(), None)),
            entries: Mutex::new(BTreeMap::new()),
        })
    }

    fn record(&self, key: &Key, result: &Result<Balance, Failure>, took: Duration) {
        let mut all = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // Removed by a reload while this poll ran: nothing to record.
        let Some(e) = all.get_mut(key) else { return };
        let s = &mut e.status;
        s.duration = Some(took.as_secs_f64());
        match result {
            Ok(b) => {
                s.value = Some(b.value);
                s.pending_charges = b.pending_charges;
                s.last_error = None;
                s.last_success = Some(now_unix());
                *s.polls.entry("success").or_default() += 1;
            }
            Err(f) => {
                s.last_error = Some(f.name());
                *s.polls.entry(f.name()).or_default() += 1;
            }
        }
    }

    /// The families, from the last results.
    pub fn families(&self) -> Vec<Family> {
        let (metric_name, messages) = self
            .metric_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let messages = messages.as_ref();
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // One label set for the whole family: the union of the custom labels.
        let custom: BTreeSet<&str> = entries
            .values()
            .flat_map(|e| e.labels.keys().map(String::as_str))
            .collect();
        let mut balance = Family::gauge(
            &metric_name,
            if messages.is_some() {
                "Account balance from the provider's self-service portal (money available; negative: owed). A failed poll shows the code of service.messages for its reason."
            } else {
                "Account balance from the provider's self-service portal (money available; negative: owed), as of the last successful poll."
            },
        )
        .with_labels(
            ["identifier", "provider", "poll_interval"]
                .into_iter()
                .chain(custom.iter().copied()),
        );
        let ids = ["provider", "identifier"];
        let mut up =
            Family::gauge("ssp_up", "1 if the identifier's last poll succeeded.").with_labels(ids);
        let mut error = Family::info(
            "ssp_last_error_info",
            "Why the identifier's last poll failed (the original's message names).",
        )
        .with_labels(["provider", "identifier", "reason"]);
        let mut success = Family::gauge(
            "ssp_last_success_timestamp_seconds",
            "When the identifier was last polled successfully.",
        )
        .with_labels(ids);
        let mut duration = Family::gauge(
            "ssp_poll_duration_seconds",
            "How long the identifier's last poll took.",
        )
        .with_labels(ids);
        let mut polls = Family::counter(
            "ssp_polls_total",
            "Polls by result (success or the failure's message name).",
        )
        .with_labels(["provider", "identifier", "result"]);
        let mut pending = Family::gauge(
            "ssp_pending_charges",
            "Charges not yet billed, where the provider reports them (Vultr).",
        )
        .with_labels(ids);
        for ((provider, identifier), e) in entries.iter() {
            let st = &e.status;
            let code = st
                .last_error
                .and_then(|err| messages.and_then(|m| m.get(err).copied()));
            let value = match code {
                Some(c) => Some(c as f64),
                None => st.value,
            };
            if let Some(v) = value {
                let values: Vec<&str> = [identifier.as_str(), provider, &e.poll_interval]
                    .into_iter()
                    .chain(
                        custom
                            .iter()
                            .map(|k| e.labels.get(*k).map_or("", String::as_str)),
                    )
                    .collect();
                balance.push(values, v);
            }
            let who = [provider.as_str(), identifier.as_str()];
            up.push(
                who,
                if st.last_error.is_none() && st.value.is_some() {
                    1.0
                } else {
                    0.0
                },
            );
            if let Some(err) = st.last_error {
                error.push([provider.as_str(), identifier.as_str(), err], 1.0);
            }
            if let Some(t) = st.last_success {
                success.push(who, t);
            }
            if let Some(d) = st.duration {
                duration.push(who, d);
            }
            for (result, n) in &st.polls {
                polls.push([provider.as_str(), identifier.as_str(), result], *n as f64);
            }
            if let Some(p) = st.pending_charges {
                pending.push(who, p);
            }
        }
        vec![balance, up, error, success, duration, polls, pending]
    }
}

/// What a task was started with; a reload restarts the task when this changes.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    kind: String,
    definition: Option<providers::generic::Definition>,
    id: Identifier,
    user_agents: Vec<String>,
    poll_timeout: u64,
}

struct Running {
    spec: Spec,
    stop: watch::Sender<bool>,
}

/// Runs the polling tasks of the current config.
pub struct Poller {
    board: Arc<Board>,
    limits: HashMap<String, Arc<Semaphore>>,
    running: HashMap<Key, Running>,
}

impl Poller {
    pub fn new(board: Arc<Board>) -> Self {
        Self {
            board,
            limits: HashMap::new(),
            running: HashMap::new(),
        }
    }

    /// Makes the running tasks those of `config`: starts new identifiers, stops removed
    /// and disabled ones, restarts changed ones (their last results are kept).
    pub fn apply(&mut self, config: &Config) {
        *self
            .board
            .metric_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (
            config.service.metric_name.clone(),
            config.service.messages.clone(),
        );
        let mut wanted: HashMap<Key, (Spec, Kind)> = HashMap::new();
        for (provider, id) in config.enabled() {
            let Some(kind) = config.kind(provider) else {
                continue;
            };
            let spec = Spec {
                kind: provider.to_owned(),
                definition: config.providers.get(provider).cloned(),
                id: id.clone(),
                user_agents: config.service.user_agents.clone(),
                poll_timeout: config.service.poll_timeout,
            };
            wanted.insert((provider.to_owned(), id.identifier.clone()), (spec, kind));
        }
        let (mut started, mut stopped, mut restarted) = (0, 0, 0);
        self.running.retain(|key, r| {
            let keep = wanted.get(key).is_some_and(|(spec, _)| *spec == r.spec);
            if !keep {
                let _ = r.stop.send(true);
                if wanted.contains_key(key) {
                    restarted += 1;
                } else {
                    stopped += 1;
                }
            }
            keep
        });
        {
            let mut entries = self
                .board
                .entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            entries.retain(|key, _| wanted.contains_key(key));
            for (key, (spec, _)) in &wanted {
                let e = entries.entry(key.clone()).or_insert_with(|| Entry {
                    poll_interval: String::new(),
                    labels: BTreeMap::new(),
                    status: Status::default(),
                });
                e.poll_interval = interval::human(spec.id.poll_interval);
                e.labels = spec
                    .id
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect();
            }
        }
        for (key, (spec, kind)) in wanted {
            if self.running.contains_key(&key) {
                continue;
            }
            started += 1;
            if matches!(kind, Kind::T2) {
                tracing::warn!(provider = %key.0, identifier = %key.1, "{}; polling anyway because the identifier sets disabled: false", providers::t2::TWO_FACTOR);
            }
            let limit = Arc::clone(
                self.limits
                    .entry(key.0.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(PER_PROVIDER))),
            );
            let (stop, stopped_rx) = watch::channel(false);
            let span = tracing::info_span!("poll", provider = %key.0, identifier = %key.1);
            tokio::spawn(
                run(
                    Arc::clone(&self.board),
                    key.clone(),
                    spec.clone(),
                    kind,
                    limit,
                    stopped_rx,
                )
                .instrument(span),
            );
            self.running.insert(key, Running { spec, stop });
        }
        tracing::info!(
            identifiers = self.running.len(),
            started,
            stopped,
            restarted,
            "polling"
        );
    }

    /// Stops every task (an in-flight poll finishes first, within its time limit).
    pub fn stop_all(&mut self) {
        for r in self.running.values() {
            let _ = r.stop.send(true);
        }
        self.running.clear();
    }
}

async fn run(
    board: Arc<Board>,
    key: Key,
    spec: Spec,
    kind: Kind,
    limit: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let ua = if spec.user_agents.is_empty() {
        concat!("ssp-exporter/", env!("CARGO_PKG_VERSION")).to_owned()
    } else {
        spec.user_agents[fastrand::usize(..spec.user_agents.len())].clone()
    };
    let timeout = Duration::from_secs(spec.poll_timeout);
    // Once per task: a reload that changes the CA file restarts the task. Without
    // verification there is nothing to build.
    let tls = if spec.id.tls_verify {
        tls::client_config(spec.id.tls_ca_file.as_deref())
            .await
            .map(Some)
            .map_err(Failure::CannotProceed)
    } else {
        Ok(None)
    };
    let mut failures_in_a_row = 0u32;
    loop {
        let started = Instant::now();
        let result = match &tls {
            Ok(tls) => {
                let _permit = limit.acquire().await;
                poll_once(&kind, &spec.id, &ua, timeout, tls.as_ref()).await
            }
            Err(e) => Err(e.clone()),
        };
        match &result {
            Ok(b) => tracing::debug!(balance = b.value, "polled"),
            Err(f) => tracing::warn!(reason = f.name(), error = %f, "poll failed"),
        }
        board.record(&key, &result, started.elapsed());
        let base = Duration::from_secs(spec.id.poll_interval);
        let wait = match &result {
            Err(f) if f.backs_off() => {
                failures_in_a_row = failures_in_a_row.saturating_add(1);
                let wait = base
                    .saturating_mul(1 << failures_in_a_row.min(10))
                    .min(MAX_BACKOFF.max(base));
                tracing::info!(
                    next_poll_in_seconds = wait.as_secs(),
                    "backing off so that retries cannot lock the account"
                );
                wait
            }
            _ => {
                failures_in_a_row = 0;
                base
            }
        };
        // ±10% so identifiers started together drift apart.
        let jitter = wait.mul_f64(0.9 + fastrand::f64() * 0.2);
        tokio::select! {
            () = tokio::time::sleep(jitter) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

async fn poll_once(
    kind: &Kind,
    id: &Identifier,
    ua: &str,
    timeout: Duration,
    tls: Option<&rustls::ClientConfig>,
) -> Result<Balance, Failure> {
    let poll = async {
        let secret = id
            .password_source()
            .read(SECRET_TIMEOUT)
            .await
            .map_err(Failure::CannotProceed)?
            .ok_or_else(|| Failure::CannotProceed("no password given".into()))?;
        let http = reqwest::Client::builder()
            .user_agent(ua)
            // A session lives for one poll, like the original's.
            .cookie_store(true)
            .connect_timeout(timeout.min(Duration::from_secs(15)));
        let http = match tls {
            // Shared, so the CA store is not rebuilt for every poll.
            Some(config) => http.tls_backend_preconfigured(config.clone()),
            // `tls_verify: false` (the original's default): any certificate; no roots.
            None => http
                .tls_certs_only([])
                .tls_danger_accept_invalid_certs(true),
        };
        let http = http
            .build()
            .map_err(|e| providers::http::transport("client", e))?;
        let base = id
            .base_url
            .as_deref()
            .unwrap_or(kind.base_url())
            .trim_end_matches('/');
        let account = Account {
            identifier: &id.identifier,
            secret: &secret,
            base,
            http: &http,
        };
        kind.poll(&account).await
    };
    tokio::time::timeout(timeout, poll)
        .await
        .unwrap_or_else(|_| {
            Err(Failure::NoAnswer(format!(
                "no complete answer within {}s (service.poll_timeout)",
                timeout.as_secs()
            )))
        })
}
