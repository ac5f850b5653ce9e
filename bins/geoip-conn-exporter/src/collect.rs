//! The collectors: connections by country (one netlink dump per namespace, one lookup
//! per distinct remote address) and the databases' identity and reloads.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use exporter_core::{Collector, Family};

use crate::addr::{self, Blacklist, Class};
use crate::config::{Config, Labels};
use crate::geo::{GeoDb, Place, UNKNOWN_COUNTRY};
use crate::sockets::{self, Direction, Namespace};

/// The bucket of values beyond `top_n`.
const OTHER: &str = "other";
/// Series remembered to be exported as 0 once their connections are gone.
const KNOWN_LIMIT: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("no namespace could be read: {0}")]
    Dump(String),
    #[error("collection task failed: {0}")]
    Task(String),
}

/// One connection, placed (the place is shared by all connections of a remote address).
#[derive(Debug, Clone)]
struct Row {
    ns: usize,
    direction: Direction,
    local_port: u16,
    place: Arc<Place>,
}

/// What one collection cycle found (pure data; turned into families by [`Plan`]).
#[derive(Debug, Default)]
struct Cycle {
    rows: Vec<Row>,
    excluded: BTreeMap<&'static str, u64>,
    /// Per namespace: read or not.
    up: Vec<bool>,
}

/// Which labels, and how the optional ones are bounded.
#[derive(Debug, Clone)]
pub struct Plan {
    labels: Labels,
    label_netns: bool,
    top_n: usize,
}

impl Plan {
    fn label_names(&self) -> Vec<&'static str> {
        let mut names = vec!["country", "direction"];
        if self.label_netns {
            names.push("netns");
        }
        if self.labels.continent {
            names.push("continent");
        }
        if self.labels.city {
            names.push("city");
        }
        if self.labels.asn {
            names.push("asn");
        }
        if self.labels.local_port {
            names.push("local_port");
        }
        names
    }
}

/// The `top_n` values by count; the rest map to `other`.
fn top_values(values: impl Iterator<Item = (String, u64)>, n: usize) -> HashSet<String> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for (v, c) in values {
        *counts.entry(v).or_default() += c;
    }
    let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.into_iter().take(n).map(|(v, _)| v).collect()
}

fn port_label(r: &Row) -> String {
    match r.direction {
        Direction::Inbound => r.local_port.to_string(),
        Direction::Outbound => String::new(),
    }
}

fn asn_label(r: &Row) -> String {
    if r.place.asn == 0 {
        String::new()
    } else {
        r.place.asn.to_string()
    }
}

/// Counts per label set, with the optional labels bounded to their top values.
fn aggregate(plan: &Plan, ns_labels: &[String], rows: &[Row]) -> BTreeMap<Vec<String>, u64> {
    // Identical rows first (same place, namespace, direction, service port): the label
    // strings are then built once per group, not once per connection.
    let mut groups: HashMap<(usize, usize, Direction, u16), (&Row, u64)> = HashMap::new();
    for r in rows {
        let port = match r.direction {
            Direction::Inbound if plan.labels.local_port => r.local_port,
            _ => 0,
        };
        groups
            .entry((Arc::as_ptr(&r.place) as usize, r.ns, r.direction, port))
            .or_insert((r, 0))
            .1 += 1;
    }
    let bound = |on: bool, f: &dyn Fn(&Row) -> String| -> Option<HashSet<String>> {
        on.then(|| top_values(groups.values().map(|(r, n)| (f(r), *n)), plan.top_n))
    };
    let cities = bound(plan.labels.city, &|r| r.place.city.clone());
    let asns = bound(plan.labels.asn, &asn_label);
    let ports = bound(plan.labels.local_port, &port_label);
    let keep = |top: &HashSet<String>, v: String| if top.contains(&v) { v } else { OTHER.into() };
    let mut out: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    for (r, n) in groups.values() {
        let mut key = vec![r.place.country.clone(), r.direction.as_str().to_owned()];
        if plan.label_netns {
            key.push(ns_labels[r.ns].clone());
        }
        if plan.labels.continent {
            key.push(r.place.continent.clone());
        }
        if let Some(top) = &cities {
            key.push(keep(top, r.place.city.clone()));
        }
        if let Some(top) = &asns {
            key.push(keep(top, asn_label(r)));
        }
        if let Some(top) = &ports {
            key.push(keep(top, port_label(r)));
        }
        *out.entry(key).or_default() += n;
    }
    out
}

/// The connections collector (cheap to clone into the blocking task).
#[derive(Clone)]
pub struct Connections(Arc<State>);

pub struct State {
    namespaces: Vec<(Namespace, String)>,
    excluded: HashSet<Class>,
    blacklist: Blacklist,
    geo: Arc<GeoDb>,
    asn: Option<Arc<GeoDb>>,
    plan: Plan,
    legacy: bool,
    /// Label sets seen before: exported as 0 when their connections are gone, so that
    /// a country that drops to zero shows 0 rather than vanishing (the original reset).
    known: Mutex<BTreeSet<Vec<String>>>,
}

impl Connections {
    pub fn new(config: &Config, geo: Arc<GeoDb>, asn: Option<Arc<GeoDb>>) -> Result<Self, String> {
        State::new(config, geo, asn).map(|s| Self(Arc::new(s)))
    }
}

impl State {
    fn new(config: &Config, geo: Arc<GeoDb>, asn: Option<Arc<GeoDb>>) -> Result<Self, String> {
        let mut namespaces = Vec::new();
        if config.own_namespace {
            namespaces.push((Namespace::Own, String::new()));
        }
        for (i, ns) in config.namespaces.iter().enumerate() {
            namespaces.push(ns.resolve(i)?);
        }
        Ok(Self {
            plan: Plan {
                labels: config.labels.clone(),
                label_netns: !config.namespaces.is_empty(),
                top_n: config.top_n,
            },
            namespaces,
            excluded: config.exclude.iter().copied().collect(),
            blacklist: Blacklist::parse(&config.blacklist)?,
            geo,
            asn,
            legacy: config.legacy_metric,
            known: Mutex::new(BTreeSet::new()),
        })
    }

    /// Dumps every namespace and places every counted connection (blocking I/O).
    fn cycle(&self) -> Cycle {
        let mut cycle = Cycle::default();
        // Distinct remotes are looked up once per cycle.
        let mut places: HashMap<IpAddr, Arc<Place>> = HashMap::new();
        for (i, (ns, label)) in self.namespaces.iter().enumerate() {
            let socks = match sockets::dump(ns) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(netns = %label, error = %e, "cannot list the sockets of a network namespace");
                    cycle.up.push(false);
                    continue;
                }
            };
            cycle.up.push(true);
            let table = sockets::connections(&socks);
            for c in table.conns {
                if let Some(reason) =
                    addr::exclusion(c.remote, &self.excluded, &table.own, &self.blacklist)
                {
                    *cycle.excluded.entry(reason).or_default() += 1;
                    continue;
                }
                let place = Arc::clone(places.entry(c.remote).or_insert_with(|| {
                    let mut p = self.geo.lookup(c.remote);
                    if let Some(asn) = &self.asn {
                        p.asn = asn.lookup(c.remote).asn;
                    }
                    Arc::new(p)
                }));
                cycle.rows.push(Row {
                    ns: i,
                    direction: c.direction,
                    local_port: c.local_port,
                    place,
                });
            }
        }
        cycle
    }

    fn families(&self, cycle: &Cycle) -> Vec<Family> {
        let ns_labels: Vec<String> = self.namespaces.iter().map(|(_, l)| l.clone()).collect();
        let counts = aggregate(&self.plan, &ns_labels, &cycle.rows);
        let mut conns = Family::gauge(
            "geoip_conn_connections",
            format!(
                "Established TCP connections by the remote address's country ({UNKNOWN_COUNTRY}: not in the database) and direction (inbound: accepted on a listening port). Label sets seen before are kept at 0."
            ),
        )
        .with_labels(self.plan.label_names());
        {
            let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            if known.len() + counts.len() > KNOWN_LIMIT {
                known.clear();
            }
            known.extend(counts.keys().cloned());
            for key in known.iter() {
                conns.push(
                    key.iter().cloned(),
                    counts.get(key).copied().unwrap_or(0) as f64,
                );
            }
        }
        let mut excluded = Family::gauge(
            "geoip_conn_excluded_connections",
            "Established TCP connections not counted by country, by reason (address class, blacklist, own address).",
        )
        .with_labels(["reason"]);
        for class in Class::ALL {
            if self.excluded.contains(&class) {
                let n = cycle.excluded.get(class.as_str()).copied().unwrap_or(0);
                excluded.push([class.as_str()], n as f64);
            }
        }
        if !self.blacklist.is_empty() {
            let n = cycle.excluded.get("blacklist").copied().unwrap_or(0);
            excluded.push(["blacklist"], n as f64);
        }
        let mut out = vec![conns, excluded];
        if self.plan.label_netns {
            let mut up = Family::gauge(
                "geoip_conn_namespace_up",
                "1 if the network namespace's sockets could be listed in the last cycle.",
            )
            .with_labels(["netns"]);
            for (label, ok) in ns_labels.iter().zip(&cycle.up) {
                up.push([label.as_str()], if *ok { 1.0 } else { 0.0 });
            }
            out.push(up);
        }
        if self.legacy {
            out.push(legacy_family(&cycle.rows));
        }
        out
    }
}

/// The original's gauge: connections per country code, all directions; countries
/// without connections and unknown addresses are absent, as after its `Reset()`.
fn legacy_family(rows: &[Row]) -> Family {
    let mut by_country: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rows {
        if r.place.country != UNKNOWN_COUNTRY {
            *by_country.entry(r.place.country.as_str()).or_default() += 1;
        }
    }
    let mut f =
        Family::gauge("job_location", "Location connections number").with_labels(["location"]);
    for (c, n) in &by_country {
        f.push([*c], *n as f64);
    }
    tracing::debug!(
        connections_by_code = %serde_json::to_string(&by_country).unwrap_or_default(),
        "collection cycle"
    );
    f
}

impl Collector for Connections {
    type Error = CollectError;

    fn name(&self) -> &'static str {
        "connections"
    }

    async fn collect(&self) -> Result<Vec<Family>, CollectError> {
        let this = Arc::clone(&self.0);
        let cycle = tokio::task::spawn_blocking(move || {
            let cycle = this.cycle();
            let families = this.families(&cycle);
            (cycle.up, families)
        })
        .await
        .map_err(|e| CollectError::Task(e.to_string()))?;
        let (up, families) = cycle;
        if !up.is_empty() && up.iter().all(|ok| !ok) {
            return Err(CollectError::Dump(
                "see the warnings above for each namespace".into(),
            ));
        }
        Ok(families)
    }
}

/// The databases in use: what they are, when they were built, and failed reloads.
pub struct Databases {
    dbs: Vec<(&'static str, Arc<GeoDb>)>,
    reload_errors: Vec<AtomicU64>,
}

impl Databases {
    pub fn new(dbs: Vec<(&'static str, Arc<GeoDb>)>) -> Self {
        let reload_errors = dbs.iter().map(|_| AtomicU64::new(0)).collect();
        Self { dbs, reload_errors }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unreachable")]
pub struct Never;

impl Collector for Databases {
    type Error = Never;

    fn name(&self) -> &'static str {
        "database"
    }

    async fn collect(&self) -> Result<Vec<Family>, Never> {
        let mut info = Family::info(
            "geoip_conn_database_info",
            "The geolocation databases in use: role, source (embedded or file path) and type from the metadata.",
        )
        .with_labels(["database", "source", "type"]);
        let mut built = Family::gauge(
            "geoip_conn_database_build_timestamp_seconds",
            "When the database in use was built (its metadata's build_epoch).",
        )
        .with_labels(["database"]);
        let mut errors = Family::counter(
            "geoip_conn_database_reload_errors_total",
            "Times a changed database file could not be loaded (the previous one stays in use).",
        )
        .with_labels(["database"]);
        for ((role, db), errs) in self.dbs.iter().zip(&self.reload_errors) {
            match db.refresh() {
                Ok(true) => {
                    tracing::info!(database = role, source = %db.source(), "database reloaded");
                }
                Ok(false) => {}
                Err(e) => {
                    errs.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(database = role, error = %e, "cannot reload the database; keeping the one in use");
                }
            }
            let (kind, epoch) = db.metadata();
            info.push([*role, db.source().as_str(), kind.as_str()], 1.0);
            built.push([*role], epoch as f64);
            errors.push([*role], errs.load(Ordering::Relaxed) as f64);
        }
        Ok(vec![info, built, errors])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ns: usize, direction: Direction, port: u16, country: &str, city: &str) -> Row {
        Row {
            ns,
            direction,
            local_port: port,
            place: Arc::new(Place {
                country: country.into(),
                continent: String::new(),
                city: city.into(),
                asn: 0,
            }),
        }
    }

    #[test]
    fn top_n_puts_the_rest_under_other() {
        let plan = Plan {
            labels: Labels {
                city: true,
                local_port: true,
                ..Labels::default()
            },
            label_netns: true,
            top_n: 1,
        };
        let rows = [
            row(0, Direction::Inbound, 443, "SE", "Stockholm"),
            row(0, Direction::Inbound, 443, "SE", "Stockholm"),
            row(1, Direction::Inbound, 22, "SE", "Malmö"),
            row(1, Direction::Outbound, 50000, "GB", "Stockholm"),
        ];
        let got = aggregate(&plan, &[String::new(), "blue".into()], &rows);
        let want: BTreeMap<Vec<String>, u64> = [
            (vec!["GB", "outbound", "blue", "Stockholm", "other"], 1),
            (vec!["SE", "inbound", "", "Stockholm", "443"], 2),
            (vec!["SE", "inbound", "blue", "other", "other"], 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.into_iter().map(String::from).collect(), v))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn legacy_gauge_sums_directions_and_skips_unknown() {
        let rows = [
            row(0, Direction::Inbound, 443, "SE", ""),
            row(0, Direction::Outbound, 1, "SE", ""),
            row(0, Direction::Outbound, 1, UNKNOWN_COUNTRY, ""),
        ];
        let f = legacy_family(&rows);
        assert_eq!(f.samples().len(), 1);
        assert_eq!(f.samples()[0].label_values, ["SE"]);
        assert!((f.samples()[0].value - 2.0).abs() < f64::EPSILON);
    }
}
