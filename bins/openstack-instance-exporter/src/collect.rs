//! The libvirt collector: every `collection_interval`, the active domains, their XML
//! (cached for `static_cache_expiration`), block, interface and CPU stats. Each domain is
//! read on a blocking thread under `libvirt.call_timeout`, at most `libvirt.concurrency`
//! at once; a domain that does not answer in time (a migration or a shutdown holding its
//! job lock) keeps its last values and is not asked again until its call returns, so it
//! delays no other. Domains no longer active are evicted with all their state.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use exporter_core::{Collector, Family};
use tokio::sync::Semaphore;
use virt::domain::{BlockStats, InterfaceStats};

use crate::config::Config;
use crate::domain::{self, Domain};
use crate::libvirt::{self, Libvirt, Listed, Reading};
use crate::{cpu, metrics};

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("libvirt {uri}: {source}")]
    Libvirt {
        uri: String,
        source: virt::error::Error,
    },
    #[error("libvirt {uri}: listing the domains took more than {timeout:?}")]
    Timeout { uri: String, timeout: Duration },
    #[error("libvirt call thread: {0}")]
    Join(String),
}

/// What one collection knows of one active domain.
#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    pub uuid: String,
    pub domain: Arc<Domain>,
    pub disks: Vec<(domain::Disk, BlockStats)>,
    pub interfaces: Vec<(String, InterfaceStats)>,
    pub cpu_percent: Option<f64>,
}

struct Static {
    read_at: Instant,
    domain: Arc<Domain>,
}

#[derive(Default)]
struct State {
    statics: HashMap<String, Static>,
    cpu: HashMap<String, cpu::Sample>,
    /// The last good reading of each domain and when it was made.
    last: HashMap<String, (Instant, Instance)>,
    /// Domains whose call has not returned yet (past its time limit).
    in_flight: HashSet<String>,
    timeouts: u64,
    xml_errors: u64,
    conntrack_failing: bool,
    /// When each (instance, list, remote) hit was last logged.
    logged: HashMap<(String, usize, std::net::IpAddr), Instant>,
}

/// A threat hit is logged again after this long.
const HIT_LOG_INTERVAL: Duration = Duration::from_secs(3600);

/// One conntrack read, for the metrics.
#[derive(Debug, Clone, Default)]
pub struct ConntrackView {
    pub counts: HashMap<std::net::IpAddr, u64>,
    pub flows: usize,
    pub seconds: f64,
    pub hits: Vec<crate::threat::Hit>,
}

pub struct Instances {
    libvirt: Arc<Libvirt>,
    /// In `threat::NAMES` order; `None`: not enabled.
    lists: Vec<Option<Arc<crate::threat::feed::List>>>,
    config: Arc<Config>,
    state: Arc<Mutex<State>>,
    limit: Arc<Semaphore>,
}

enum Outcome {
    Read(Reading),
    /// Over the time limit, or still busy from an earlier cycle.
    Late,
    Failed(String),
}

impl Instances {
    pub fn new(config: Arc<Config>, lists: Vec<Option<Arc<crate::threat::feed::List>>>) -> Self {
        Self {
            lists,
            libvirt: Arc::new(Libvirt::new(&config.libvirt.uri, config.libvirt.read_only)),
            limit: Arc::new(Semaphore::new(config.libvirt.concurrency)),
            config,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn list(&self) -> Result<Vec<Listed>, CollectError> {
        let lib = Arc::clone(&self.libvirt);
        let timeout = self.config.libvirt.call_timeout;
        let uri = self.libvirt.uri().to_owned();
        match tokio::time::timeout(
            timeout,
            tokio::task::spawn_blocking(move || lib.list_active()),
        )
        .await
        {
            Err(_) => Err(CollectError::Timeout { uri, timeout }),
            Ok(Err(e)) => Err(CollectError::Join(e.to_string())),
            Ok(Ok(Err(source))) => {
                // A lost connection (libvirtd restarted): open a new one next cycle.
                self.libvirt.reset();
                Err(CollectError::Libvirt { uri, source })
            }
            Ok(Ok(Ok(listed))) => Ok(listed),
        }
    }

    /// Reads one domain within the time limit; one that cannot start before `deadline`
    /// (the others took the slots) is late this cycle.
    async fn read(
        &self,
        listed: Listed,
        xml: bool,
        known: Option<Arc<Domain>>,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        let Ok(Ok(_permit)) = tokio::time::timeout_at(deadline, self.limit.acquire()).await else {
            return Outcome::Late;
        };
        if !self.lock().in_flight.insert(listed.uuid.clone()) {
            return Outcome::Late;
        }
        let state = Arc::clone(&self.state);
        let uuid = listed.uuid.clone();
        let (disks, interfaces) = known.map_or_else(Default::default, |d| {
            (
                d.disks.iter().map(|x| x.path.clone()).collect::<Vec<_>>(),
                d.interfaces.clone(),
            )
        });
        let call = tokio::task::spawn_blocking(move || {
            let r = libvirt::read(&listed.handle, xml, &disks, &interfaces);
            // Also when the caller gave up waiting: the domain may be asked again.
            state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .in_flight
                .remove(&listed.uuid);
            r
        });
        match tokio::time::timeout(self.config.libvirt.call_timeout, call).await {
            Err(_) => {
                self.lock().timeouts += 1;
                tracing::warn!(instance_uuid = %uuid, timeout = ?self.config.libvirt.call_timeout, "libvirt did not answer for this domain in time (a job may hold its lock); its last values are kept");
                Outcome::Late
            }
            Ok(Err(e)) => Outcome::Failed(e.to_string()),
            Ok(Ok(Err(e))) => Outcome::Failed(e.to_string()),
            Ok(Ok(Ok(r))) => Outcome::Read(r),
        }
    }
}

impl Instances {
    /// Takes a cycle's readings into the caches (evicting domains not active any more)
    /// and returns the instances to export.
    fn absorb(&self, results: Vec<(String, String, Outcome)>) -> (Vec<Instance>, metrics::Totals) {
        let static_ttl = self.config.static_cache_expiration;
        let mut state = self.lock();
        let active: HashSet<&str> = results.iter().map(|(u, _, _)| u.as_str()).collect();
        // Evict everything about domains that are not active any more.
        state.statics.retain(|u, _| active.contains(u.as_str()));
        state.cpu.retain(|u, _| active.contains(u.as_str()));
        state.last.retain(|u, _| active.contains(u.as_str()));
        let mut instances = Vec::with_capacity(results.len());
        for (uuid, name, outcome) in results {
            match outcome {
                Outcome::Read(r) => {
                    if let Some(xml) = &r.xml {
                        match domain::parse(xml) {
                            Ok(d) => {
                                state.statics.insert(
                                    uuid.clone(),
                                    Static {
                                        read_at: Instant::now(),
                                        domain: Arc::new(d),
                                    },
                                );
                            }
                            Err(e) => {
                                state.xml_errors += 1;
                                tracing::warn!(instance_uuid = %uuid, domain = %name, error = %e, "cannot parse the domain's XML");
                            }
                        }
                    }
                    let Some(dom) = state.statics.get(&uuid).map(|s| Arc::clone(&s.domain)) else {
                        continue;
                    };
                    let cpu_percent = r.cpu.and_then(|(cpu_ns, wall_ns)| {
                        let cur = cpu::Sample { cpu_ns, wall_ns };
                        let prev = state.cpu.insert(uuid.clone(), cur);
                        cpu::percent(prev, cur, dom.vcpus)
                    });
                    let disks = dom
                        .disks
                        .iter()
                        .filter_map(|d| {
                            r.blocks
                                .iter()
                                .find(|(dev, _)| *dev == d.path)
                                .map(|(_, s)| (d.clone(), s.clone()))
                        })
                        .collect();
                    let instance = Instance {
                        name,
                        uuid: uuid.clone(),
                        domain: dom,
                        disks,
                        interfaces: r.interfaces,
                        cpu_percent,
                    };
                    state.last.insert(uuid, (Instant::now(), instance.clone()));
                    instances.push(instance);
                }
                Outcome::Late => {
                    if let Some((at, last)) = state.last.get(&uuid)
                        && at.elapsed() < static_ttl
                    {
                        instances.push(last.clone());
                    }
                }
                Outcome::Failed(e) => {
                    // E.g. shut down between the list and the read: gone next cycle.
                    tracing::debug!(instance_uuid = %uuid, domain = %name, error = %e, "cannot read the domain");
                }
            }
        }
        instances.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.uuid.cmp(&b.uuid)));
        let totals = metrics::Totals {
            timeouts: state.timeouts,
            xml_errors: state.xml_errors,
        };
        (instances, totals)
    }

    /// One conntrack dump, matched to the fixed IPs of `instances`; a failure is logged
    /// when it starts and when it ends, not every cycle.
    async fn conntrack(&self, instances: &[Instance]) -> Option<ConntrackView> {
        let netns = self.config.conntrack.netns.clone();
        let started = Instant::now();
        let result = tokio::time::timeout(
            self.config.libvirt.call_timeout,
            tokio::task::spawn_blocking(move || crate::conntrack::dump(netns.as_deref())),
        )
        .await;
        let dump = match result {
            Ok(Ok(Ok(d))) => Ok(d),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no complete dump within {:?}",
                self.config.libvirt.call_timeout
            )),
        };
        match dump {
            Ok(d) => {
                // Matched outside the lock: the blocking libvirt reads take it too.
                let owners: HashMap<std::net::IpAddr, usize> = instances
                    .iter()
                    .enumerate()
                    .flat_map(|(n, i)| i.domain.fixed_ips.iter().map(move |ip| (*ip, n)))
                    .collect();
                let fixed: HashSet<std::net::IpAddr> = owners.keys().copied().collect();
                // Disabled lists match nothing; the indices stay those of NAMES.
                let sets: Vec<Arc<crate::threat::list::Set>> = self
                    .lists
                    .iter()
                    .map(|l| l.as_ref().map(|l| l.set.load_full()).unwrap_or_default())
                    .collect();
                let hits = crate::threat::hits(&d.flows, &owners, &sets);
                let counts = crate::conntrack::count(&d.flows, &fixed);
                let mut state = self.lock();
                if state.conntrack_failing {
                    tracing::info!("conntrack readable again");
                    state.conntrack_failing = false;
                }
                log_hits(&mut state, instances, &hits);
                Some(ConntrackView {
                    counts,
                    flows: d.flows.len(),
                    seconds: started.elapsed().as_secs_f64(),
                    hits,
                })
            }
            Err(e) => {
                let mut state = self.lock();
                if !state.conntrack_failing {
                    tracing::warn!(error = %e, "cannot read conntrack; oie_conntrack_up is 0, the libvirt metrics go on");
                    state.conntrack_failing = true;
                }
                None
            }
        }
    }
}

/// Logs each (instance, list, remote) hit once per `HIT_LOG_INTERVAL`, in the original's
/// `[THREAT] TOR-HIT` form; at error level, because the original logged hits whatever
/// the level (and its default level is error).
fn log_hits(state: &mut State, instances: &[Instance], hits: &[crate::threat::Hit]) {
    state.logged.retain(|_, at| at.elapsed() < HIT_LOG_INTERVAL);
    for h in hits {
        let i = &instances[h.instance];
        let key = (i.uuid.clone(), h.list, h.remote);
        if state.logged.contains_key(&key) {
            continue;
        }
        state.logged.insert(key, Instant::now());
        let tag = match crate::threat::NAMES[h.list] {
            "tor" => "TOR-HIT",
            "spamhaus" => "SPAMHAUS-HIT",
            "emergingthreats" => "EMTHREATS-HIT",
            _ => "CUSTOMLIST-HIT",
        };
        tracing::error!(
            domain = %i.name,
            uuid = %i.uuid,
            ip = %h.remote,
            direction = if h.outbound { "dst" } else { "src" },
            "[THREAT] {tag}"
        );
    }
}

impl Collector for Instances {
    type Error = CollectError;

    fn name(&self) -> &'static str {
        "libvirt"
    }

    async fn collect(&self) -> Result<Vec<Family>, CollectError> {
        let listed = self.list().await?;
        let deadline = tokio::time::Instant::now() + self.config.collection_interval;
        let static_ttl = self.config.static_cache_expiration;
        let jobs: Vec<_> = listed
            .into_iter()
            .map(|l| {
                let known = self
                    .lock()
                    .statics
                    .get(&l.uuid)
                    .map(|s| (s.read_at.elapsed() < static_ttl, Arc::clone(&s.domain)));
                let fresh = known.as_ref().is_some_and(|(fresh, _)| *fresh);
                let (uuid, name) = (l.uuid.clone(), l.name.clone());
                let domain = known.map(|(_, d)| d);
                async move {
                    let outcome = self.read(l, !fresh, domain, deadline).await;
                    (uuid, name, outcome)
                }
            })
            .collect();
        // Concurrently in this task (the futures borrow `self`); the blocking calls run on
        // their own threads, bounded by the semaphore.
        let results = futures_util::future::join_all(jobs).await;

        let (instances, totals) = self.absorb(results);
        let conntrack = if self.config.conntrack.enabled {
            Some(self.conntrack(&instances).await)
        } else {
            None
        };
        Ok(metrics::families(
            &instances,
            &self.config,
            &totals,
            conntrack.as_ref(),
            &self.lists,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/compute-node.xml");
        let mut c = Config::default();
        c.libvirt.uri = format!("test://{}", path.display());
        // The test driver keeps state per connection: write access to destroy a domain
        // through the collector's own connection.
        c.libvirt.read_only = false;
        c
    }

    fn domains(families: &[Family]) -> Vec<String> {
        families
            .iter()
            .find(|f| f.name() == "oie_instance_info")
            .map(|f| {
                f.samples()
                    .iter()
                    .map(|s| s.label_values[0].clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_domain_that_stops_is_evicted() {
        let c = Instances::new(Arc::new(config()), vec![None; 4]);
        let first = c.collect().await.expect("collect");
        assert_eq!(domains(&first), ["instance-0000a001", "instance-0000a002"]);
        let conn = c.libvirt.connection().expect("connection");
        let dom = conn
            .lookup_domain_by_name("instance-0000a001")
            .expect("lookup");
        dom.destroy().expect("destroy");
        let second = c.collect().await.expect("collect");
        assert_eq!(domains(&second), ["instance-0000a002"]);
        let state = c.lock();
        assert_eq!(state.statics.len(), 1);
        assert_eq!(state.cpu.len(), 1);
        assert_eq!(state.last.len(), 1);
        let disks: Vec<String> = second
            .iter()
            .filter(|f| f.name().starts_with("oie_disk_"))
            .flat_map(|f| f.samples().iter().map(|s| s.label_values[0].clone()))
            .collect();
        assert!(disks.iter().all(|d| d == "instance-0000a002"), "{disks:?}");
    }
}
