//! Polling: every identifier on its own `poll_interval`, concurrently, with jitter, a
//! time limit, a per-provider concurrency limit and exponential backoff after answers
//! that could lock an account (captcha, rate limit, cannot proceed). The first poll
//! starts at once and never delays the listener; `/metrics` reads the last results.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exporter_core::Family;
use tokio::sync::Semaphore;

use crate::config::{Config, Identifier};
use crate::interval;
use crate::providers::{self, Account, Balance, Failure};

/// Polls of one provider running at once.
const PER_PROVIDER: usize = 4;
/// Time limit of one poll.
const POLL_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait after repeated backoff failures.
const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);

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
struct Series {
    provider: String,
    identifier: String,
    poll_interval: String,
    labels: BTreeMap<String, String>,
}

#[derive(Default)]
pub struct Board {
    series: Vec<Series>,
    status: Mutex<HashMap<usize, Status>>,
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Whether a provider has an implementation in this version.
pub fn implemented(provider: &str) -> bool {
    matches!(provider, "Vultr" | "ArubaCloud")
}

impl Board {
    /// The enabled identifiers, in config order.
    pub fn new(config: &Config) -> Arc<Self> {
        let mut series = Vec::new();
        for (provider, list) in &config.identifiers {
            for id in list.iter().flatten().filter(|i| !i.disabled) {
                series.push(Series {
                    provider: provider.clone(),
                    identifier: id.identifier.clone(),
                    poll_interval: interval::human(id.poll_interval),
                    labels: id
                        .labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.0.clone()))
                        .collect(),
                });
            }
        }
        Arc::new(Self {
            series,
            status: Mutex::new(HashMap::new()),
        })
    }

    fn record(&self, index: usize, result: &Result<Balance, Failure>, took: Duration) {
        let mut all = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        let s = all.entry(index).or_default();
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

    fn not_implemented(&self, index: usize) {
        let mut all = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        all.entry(index).or_default().last_error = Some("not_implemented");
    }

    /// The families, from the last results.
    pub fn families(
        &self,
        metric_name: &str,
        messages: Option<&BTreeMap<String, i64>>,
    ) -> Vec<Family> {
        let custom: BTreeSet<&str> = self
            .series
            .iter()
            .flat_map(|s| s.labels.keys().map(String::as_str))
            .collect();
        let mut balance = Family::gauge(
            metric_name,
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
            "Why the identifier's last poll failed (the original's message names, or not_implemented).",
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
        let status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        for (i, s) in self.series.iter().enumerate() {
            let st = status.get(&i).cloned().unwrap_or_default();
            let code = st
                .last_error
                .and_then(|e| messages.and_then(|m| m.get(e).copied()));
            let value = match code {
                Some(c) => Some(c as f64),
                None => st.value,
            };
            if let Some(v) = value {
                let values: Vec<String> = [
                    s.identifier.clone(),
                    s.provider.clone(),
                    s.poll_interval.clone(),
                ]
                .into_iter()
                .chain(
                    custom
                        .iter()
                        .map(|k| s.labels.get(*k).cloned().unwrap_or_default()),
                )
                .collect();
                balance.push(values, v);
            }
            let who = [s.provider.as_str(), s.identifier.as_str()];
            up.push(
                who,
                if st.last_error.is_none() && st.value.is_some() {
                    1.0
                } else {
                    0.0
                },
            );
            if let Some(e) = st.last_error {
                error.push([s.provider.as_str(), s.identifier.as_str(), e], 1.0);
            }
            if let Some(t) = st.last_success {
                success.push(who, t);
            }
            if let Some(d) = st.duration {
                duration.push(who, d);
            }
            for (result, n) in &st.polls {
                polls.push(
                    [s.provider.as_str(), s.identifier.as_str(), result],
                    *n as f64,
                );
            }
            if let Some(p) = st.pending_charges {
                pending.push(who, p);
            }
        }
        vec![balance, up, error, success, duration, polls, pending]
    }
}

/// Starts one polling task per enabled identifier.
pub fn start(
    config: &Config,
    board: &Arc<Board>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut limits: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut tasks = Vec::new();
    let mut index = 0;
    for (provider, list) in &config.identifiers {
        for id in list.iter().flatten().filter(|i| !i.disabled) {
            let i = index;
            index += 1;
            if !implemented(provider) {
                tracing::warn!(provider = %provider, identifier = %id.identifier, "this provider is not implemented in this version; the identifier is exported with ssp_up 0");
                board.not_implemented(i);
                continue;
            }
            let limit = Arc::clone(
                limits
                    .entry(provider.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(PER_PROVIDER))),
            );
            let ua = if config.service.user_agents.is_empty() {
                concat!("ssp-exporter/", env!("CARGO_PKG_VERSION")).to_owned()
            } else {
                let n = config.service.user_agents.len();
                config.service.user_agents[fastrand::usize(..n)].clone()
            };
            let id = id.clone();
            let provider = provider.clone();
            let board = Arc::clone(board);
            let mut stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut failures_in_a_row = 0u32;
                loop {
                    let started = Instant::now();
                    let result = {
                        let _permit = limit.acquire().await;
                        poll_once(&provider, &id, &ua).await
                    };
                    if let Err(f) = &result {
                        tracing::warn!(provider = %provider, identifier = %id.identifier, reason = f.name(), error = %f, "poll failed");
                    }
                    board.record(i, &result, started.elapsed());
                    let base = Duration::from_secs(id.poll_interval);
                    let wait = match &result {
                        Err(f) if f.backs_off() => {
                            failures_in_a_row = failures_in_a_row.saturating_add(1);
                            base.saturating_mul(1 << failures_in_a_row.min(10)).min(MAX_BACKOFF.max(base))
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
                }
            }));
        }
    }
    tasks
}

async fn poll_once(provider: &str, id: &Identifier, ua: &str) -> Result<Balance, Failure> {
    let secret = id
        .password_source()
        .read(Duration::from_secs(30))
        .await
        .map_err(Failure::CannotProceed)?
        .ok_or_else(|| Failure::CannotProceed("no password given".into()))?;
    let http = reqwest::Client::builder()
        .user_agent(ua)
        .danger_accept_invalid_certs(!id.tls_verify)
        .connect_timeout(Duration::from_secs(15))
        .build()
        .map_err(providers::transport)?;
    let account = Account {
        secret,
        base_url: id.base_url.clone(),
        http,
        timeout: POLL_TIMEOUT,
    };
    let poll = async {
        match provider {
            "Vultr" => providers::vultr::poll(&account).await,
            "ArubaCloud" => providers::aruba::poll(&account, &id.identifier).await,
            other => Err(Failure::CannotProceed(format!(
                "{other} is not implemented"
            ))),
        }
    };
    tokio::time::timeout(POLL_TIMEOUT, poll)
        .await
        .unwrap_or_else(|_| Err(Failure::NoAnswer("timed out".into())))
}
