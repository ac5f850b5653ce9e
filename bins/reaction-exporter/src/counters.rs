//! Event counts per series, bounded (a cap per metric, idle series dropped after a TTL),
//! exported two ways: Prometheus counters, and the original's "count since the last
//! collection" gauges computed per scraper, so that a second Prometheus or a manual
//! `curl` never takes counts away from another scraper.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hashbrown::Equivalent;

use exporter_core::Family;
use serde::{Deserialize, Serialize};

/// The four counted metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Matches,
    Actions,
    Commands,
    Streams,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::Matches,
        Metric::Actions,
        Metric::Commands,
        Metric::Streams,
    ];

    fn fixed_labels(self) -> &'static [&'static str] {
        match self {
            Metric::Matches => &["stream", "filter"],
            Metric::Actions => &["stream", "filter", "action"],
            Metric::Commands => &["state", "command", "status", "code"],
            Metric::Streams => &["stream", "type"],
        }
    }

    /// (native counter, legacy gauge, help)
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Metric::Matches => (
                "reaction_matches_total",
                "reaction_match_count",
                "Filter matches reported by reaction, by stream, filter and pattern values.",
            ),
            Metric::Actions => (
                "reaction_actions_total",
                "reaction_action_count",
                "Actions run by reaction, by stream, filter, action and pattern values.",
            ),
            Metric::Commands => (
                "reaction_commands_total",
                "reaction_commands_count",
                "Start/stop commands run by reaction, by state, command (argv[0]), status and exit code.",
            ),
            Metric::Streams => (
                "reaction_stream_events_total",
                "reaction_stream_event_count",
                "Stream events (start, exit, exec, read, timeout) reported by reaction.",
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Matches => "matches",
            Metric::Actions => "actions",
            Metric::Commands => "commands",
            Metric::Streams => "streams",
        }
    }
}

/// A series: the metric's fixed label values, then pattern (name, value) pairs, kept as
/// one string with NUL between the parts. One allocation, shared (not copied) by
/// snapshots; found, compared and sorted with one memory comparison, where a key of
/// separate strings cost a cache miss per part. NUL sorts before every other character,
/// so keys sort in the order of their parts. A NUL inside a part (never seen in
/// reaction's output) is stored as U+FFFD.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "KeyRepr", into = "KeyRepr")]
pub struct Key {
    flat: Arc<str>,
    fixed: usize,
}

/// The saved form of a [`Key`] (and of the state files before keys were flat).
#[derive(Serialize, Deserialize)]
struct KeyRepr {
    fixed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    patterns: Vec<(String, String)>,
}

impl From<KeyRepr> for Key {
    fn from(r: KeyRepr) -> Self {
        let fixed: Vec<&str> = r.fixed.iter().map(String::as_str).collect();
        let patterns: Vec<(&str, &str)> = r
            .patterns
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        Key::new(&fixed, &patterns)
    }
}

impl From<Key> for KeyRepr {
    fn from(k: Key) -> Self {
        KeyRepr {
            fixed: k.fixed().map(str::to_owned).collect(),
            patterns: k
                .patterns()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("fixed", &self.fixed().collect::<Vec<_>>())
            .field("patterns", &self.patterns().collect::<Vec<_>>())
            .finish()
    }
}

impl Key {
    pub fn new(fixed: &[&str], patterns: &[(&str, &str)]) -> Self {
        KeyRef { fixed, patterns }.to_key()
    }

    /// A key from string slices (tests).
    #[cfg(test)]
    pub fn of(fixed: &[&str], patterns: &[(&str, &str)]) -> Self {
        Self::new(fixed, patterns)
    }

    fn parts(&self) -> std::str::Split<'_, char> {
        self.flat.split('\0')
    }

    /// The metric's fixed label values.
    pub fn fixed(&self) -> impl Iterator<Item = &str> {
        self.parts().take(self.fixed)
    }

    /// The pattern (name, value) pairs.
    pub fn patterns(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut rest = self.parts().skip(self.fixed);
        std::iter::from_fn(move || Some((rest.next()?, rest.next()?)))
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        hash_parts(h, self.parts());
    }
}

/// A [`Key`] made of borrowed strings: counting an event of an existing series looks it
/// up without allocating (the hot path of a backlog).
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    pub fixed: &'a [&'a str],
    pub patterns: &'a [(&'a str, &'a str)],
}

impl<'a> KeyRef<'a> {
    fn parts(self) -> impl Iterator<Item = &'a str> {
        self.fixed
            .iter()
            .copied()
            .chain(self.patterns.iter().flat_map(|&(n, v)| [n, v]))
    }

    fn has_nul(self) -> bool {
        self.parts().any(|p| p.contains('\0'))
    }

    fn to_key(self) -> Key {
        let mut flat = String::with_capacity(self.parts().map(|p| p.len() + 1).sum());
        for (i, part) in self.parts().enumerate() {
            if i > 0 {
                flat.push('\0');
            }
            if part.contains('\0') {
                flat.push_str(&part.replace('\0', "\u{fffd}"));
            } else {
                flat.push_str(part);
            }
        }
        Key {
            flat: flat.into(),
            fixed: self.fixed.len(),
        }
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        hash_parts(h, self.parts());
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    /// Part by part against the flat string (parts of a `KeyRef` here hold no NUL).
    fn equivalent(&self, key: &Key) -> bool {
        if key.fixed != self.fixed.len() {
            return false;
        }
        let mut rest = key.flat.as_bytes();
        for (i, part) in self.parts().enumerate() {
            if i > 0 {
                match rest.split_first() {
                    Some((0, r)) => rest = r,
                    _ => return false,
                }
            }
            match rest.strip_prefix(part.as_bytes()) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

/// The one hashing of a key, shared by [`Key`] and [`KeyRef`] so that they find each other.
fn hash_parts<'a, H: Hasher>(h: &mut H, parts: impl Iterator<Item = &'a str>) {
    for p in parts {
        h.write(p.as_bytes());
        h.write_u8(0xff);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    id: u64,
    total: u64,
    /// Unix seconds of the last event.
    last_seen: u64,
}

/// The series of one metric. Keys are shared (`Arc`) so that a scrape can take a
/// snapshot under the engine lock in about a millisecond and build its families after
/// releasing it: a scrape never holds up counting for long.
#[derive(Debug, Clone, Default)]
struct SeriesSet {
    /// hashbrown with its default (foldhash, seeded per process) hasher: fast, and not
    /// predictable by whoever writes the IP addresses into the logs.
    entries: hashbrown::HashMap<Key, Entry>,
    /// Events not counted because the series cap was reached.
    dropped: u64,
}

impl PartialEq for SeriesSet {
    fn eq(&self, other: &Self) -> bool {
        self.dropped == other.dropped && self.entries == other.entries
    }
}

impl Eq for SeriesSet {}

/// The JSON form: the entries as a list (struct keys cannot be JSON object keys).
#[derive(Serialize, Deserialize)]
struct SeriesSetRepr {
    entries: Vec<(Key, Entry)>,
    dropped: u64,
}

impl Serialize for SeriesSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(Key, Entry)> =
            self.entries.iter().map(|(k, e)| (k.clone(), *e)).collect();
        entries.sort_by_key(|(_, e)| e.id);
        SeriesSetRepr {
            entries,
            dropped: self.dropped,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SeriesSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let repr = SeriesSetRepr::deserialize(d)?;
        Ok(Self {
            entries: repr.entries.into_iter().collect(),
            dropped: repr.dropped,
        })
    }
}

/// What a scraper saw at its last scrape: series id → total.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Baseline {
    last_scrape: u64,
    seen: HashMap<u64, u64>,
}

/// Scrapers remembered for the legacy gauges; the one idle longest is forgotten first.
const MAX_SCRAPERS: usize = 16;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    matches: SeriesSet,
    actions: SeriesSet,
    commands: SeriesSet,
    streams: SeriesSet,
    next_id: u64,
    /// Lines read from the log source.
    pub lines: u64,
    /// Lines that were not a reaction event (or did not fit reaction's config).
    pub unparsed: u64,
    baselines: HashMap<String, Baseline>,
    /// The baseline of a scraper seen for the first time (empty: everything is new).
    #[serde(default)]
    floor: HashMap<u64, u64>,
}

/// One series in a [`Snapshot`].
#[derive(Debug, Clone)]
struct Row {
    key: Key,
    id: u64,
    total: u64,
}

/// The counts at one instant, taken under the engine lock; families are built from it
/// after the lock is released.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    rows: Vec<(Metric, Vec<Row>)>,
    dropped: Vec<(Metric, u64)>,
    pub lines: u64,
    pub unparsed: u64,
}

impl Counters {
    fn set(&self, m: Metric) -> &SeriesSet {
        match m {
            Metric::Matches => &self.matches,
            Metric::Actions => &self.actions,
            Metric::Commands => &self.commands,
            Metric::Streams => &self.streams,
        }
    }

    fn set_mut(&mut self, m: Metric) -> &mut SeriesSet {
        match m {
            Metric::Matches => &mut self.matches,
            Metric::Actions => &mut self.actions,
            Metric::Commands => &mut self.commands,
            Metric::Streams => &mut self.streams,
        }
    }

    /// Counts one event. Returns false if the series cap dropped it.
    pub fn add(&mut self, metric: Metric, key: &Key, now: u64, max_series: usize) -> bool {
        let fixed: Vec<&str> = key.fixed().collect();
        let patterns: Vec<(&str, &str)> = key.patterns().collect();
        self.add_ref(
            metric,
            KeyRef {
                fixed: &fixed,
                patterns: &patterns,
            },
            now,
            max_series,
        )
    }

    /// Counts one event of a series given by borrowed strings (allocates only for a new
    /// series). Returns false if the series cap dropped it.
    pub fn add_ref(
        &mut self,
        metric: Metric,
        key: KeyRef<'_>,
        now: u64,
        max_series: usize,
    ) -> bool {
        if key.has_nul() {
            // Stored with U+FFFD for NUL: look it up that way too.
            return self.add(metric, &key.to_key(), now, max_series);
        }
        if let Some(e) = self.set_mut(metric).entries.get_mut(&key) {
            e.total += 1;
            e.last_seen = now;
            return true;
        }
        if self.set(metric).entries.len() >= max_series {
            self.set_mut(metric).dropped += 1;
            return false;
        }
        self.insert_new(metric, key.to_key(), 1, now);
        true
    }

    fn insert_new(&mut self, metric: Metric, key: Key, total: u64, now: u64) {
        self.next_id += 1;
        let id = self.next_id;
        self.set_mut(metric).entries.insert(
            key,
            Entry {
                id,
                total,
                last_seen: now,
            },
        );
    }

    /// Makes a series exist with 0 (series known in advance, e.g. stream events).
    pub fn ensure(&mut self, metric: Metric, key: Key, now: u64) {
        if !self.set(metric).entries.contains_key(&key) {
            self.insert_new(metric, key, 0, now);
        }
    }

    /// Forgets what every scraper has seen, as if each had just scraped: used when a
    /// saved state is too old, so its counts are not replayed as "new" to the gauges.
    pub fn mark_all_seen(&mut self) {
        let current: HashMap<u64, u64> = Metric::ALL
            .iter()
            .flat_map(|&m| self.set(m).entries.values().map(|e| (e.id, e.total)))
            .collect();
        for b in self.baselines.values_mut() {
            b.seen.clone_from(&current);
        }
        self.floor = current;
    }

    /// Drops series idle for longer than `ttl` seconds; returns how many.
    pub fn sweep(&mut self, now: u64, ttl: u64) -> usize {
        let mut n = 0;
        for m in Metric::ALL {
            let set = self.set_mut(m);
            let before = set.entries.len();
            set.entries
                .retain(|_, e| now.saturating_sub(e.last_seen) <= ttl);
            n += before - set.entries.len();
        }
        n
    }

    #[cfg(test)]
    pub fn series(&self, metric: Metric) -> usize {
        self.set(metric).entries.len()
    }

    pub fn dropped(&self, metric: Metric) -> u64 {
        self.set(metric).dropped
    }

    #[cfg(test)]
    pub fn total(&self, metric: Metric, key: &Key) -> Option<u64> {
        self.set(metric).entries.get(key).map(|e| e.total)
    }

    /// The counts of `metrics`, cheap to take (keys are shared, not copied).
    pub fn snapshot(&self, metrics: &[Metric]) -> Snapshot {
        Snapshot {
            rows: metrics
                .iter()
                .map(|&m| {
                    let rows = self
                        .set(m)
                        .entries
                        .iter()
                        .map(|(k, e)| Row {
                            key: k.clone(),
                            id: e.id,
                            total: e.total,
                        })
                        .collect();
                    (m, rows)
                })
                .collect(),
            dropped: Metric::ALL.iter().map(|&m| (m, self.dropped(m))).collect(),
            lines: self.lines,
            unparsed: self.unparsed,
        }
    }

    /// Takes `scraper`'s baseline out (to compute its legacy gauges outside the lock).
    pub fn take_baseline(&mut self, scraper: &str) -> HashMap<u64, u64> {
        if !self.baselines.contains_key(scraper)
            && self.baselines.len() >= MAX_SCRAPERS
            && let Some(oldest) = self
                .baselines
                .iter()
                .min_by_key(|(_, b)| b.last_scrape)
                .map(|(k, _)| k.clone())
        {
            self.baselines.remove(&oldest);
        }
        match self.baselines.remove(scraper) {
            Some(b) => b.seen,
            None => self.floor.clone(),
        }
    }

    /// Puts back what `scraper` has now seen.
    pub fn put_baseline(&mut self, scraper: &str, seen: HashMap<u64, u64>, now: u64) {
        self.baselines.insert(
            scraper.to_owned(),
            Baseline {
                last_scrape: now,
                seen,
            },
        );
    }

    /// The Prometheus counters (`reaction_*_total`) of the enabled metrics.
    #[cfg(test)]
    pub fn native_families(&self, enabled: &[Metric]) -> Vec<Family> {
        self.snapshot(enabled).native_families()
    }

    /// The original's gauges for `scraper` (see [`Snapshot::legacy_families`]).
    #[cfg(test)]
    pub fn legacy_families(&mut self, enabled: &[Metric], scraper: &str, now: u64) -> Vec<Family> {
        let snap = self.snapshot(enabled);
        let base = self.take_baseline(scraper);
        let (families, seen) = snap.legacy_families(&base);
        self.put_baseline(scraper, seen, now);
        families
    }
}

impl Snapshot {
    pub fn dropped(&self) -> &[(Metric, u64)] {
        &self.dropped
    }

    pub fn series(&self) -> impl Iterator<Item = (Metric, usize)> + '_ {
        self.rows.iter().map(|(m, rows)| (*m, rows.len()))
    }

    /// The Prometheus counters (`reaction_*_total`).
    pub fn native_families(&self) -> Vec<Family> {
        self.rows
            .iter()
            .map(|(m, rows)| {
                let (name, _, help) = m.names();
                union_family(
                    Family::counter(name, help),
                    m.fixed_labels(),
                    rows.iter().map(|r| (&r.key, Some(r.total as f64))),
                )
            })
            .collect()
    }

    /// The original's gauges: for each series, the events since the scraper's previous
    /// scrape (`baseline`; series without new events are left out, as the original
    /// clears them). Returns the families and the scraper's new baseline.
    pub fn legacy_families(
        &self,
        baseline: &HashMap<u64, u64>,
    ) -> (Vec<Family>, HashMap<u64, u64>) {
        let mut seen = HashMap::with_capacity(baseline.len().max(16));
        let mut out = Vec::with_capacity(self.rows.len());
        for (m, rows) in &self.rows {
            let (_, name, help) = m.names();
            let help = format!("{help} Count since this scraper's previous scrape.");
            out.push(union_family(
                Family::gauge(name, help),
                m.fixed_labels(),
                rows.iter().map(|r| {
                    seen.insert(r.id, r.total);
                    // A total below the baseline means the state was rolled back (restart
                    // from a checkpoint): count from zero rather than go negative.
                    let base = baseline
                        .get(&r.id)
                        .copied()
                        .filter(|b| *b <= r.total)
                        .unwrap_or(0);
                    let delta = r.total - base;
                    (&r.key, (delta > 0).then_some(delta as f64))
                }),
            ));
        }
        (out, seen)
    }
}

/// One family over the union of the rows' pattern label names: a series without one of
/// them gets an empty value, which Prometheus treats as the label being absent, so the
/// series are exactly the original's per-filter label sets. Rows without a value are
/// not exported but still count for the label names, which so stay the same from one
/// scrape to the next.
pub fn union_family<'a>(
    family: Family,
    fixed_labels: &[&str],
    rows: impl Iterator<Item = (&'a Key, Option<f64>)>,
) -> Family {
    let rows: Vec<(&Key, Option<f64>)> = rows.collect();
    let pattern_names: BTreeSet<&str> = rows
        .iter()
        .flat_map(|(k, _)| k.patterns().map(|(n, _)| n))
        .collect();
    let mut rows: Vec<(&Key, f64)> = rows
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let mut family = family.with_labels(
        fixed_labels
            .iter()
            .copied()
            .chain(pattern_names.iter().copied()),
    );
    rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (key, v) in rows {
        let values = key.fixed().chain(pattern_names.iter().map(|n| {
            key.patterns()
                .find(|(pn, _)| pn == n)
                .map_or("", |(_, v)| v)
        }));
        family.push(values, v);
    }
    family
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fixed: &[&str], patterns: &[(&str, &str)]) -> Key {
        Key::of(fixed, patterns)
    }

    #[test]
    fn flat_keys_keep_parts_order_and_the_saved_form() {
        type Parts<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);
        let a = key(&["ssh", "f"], &[("ip", "1.1.1.1"), ("user", "root")]);
        assert_eq!(a.fixed().collect::<Vec<_>>(), ["ssh", "f"]);
        assert_eq!(
            a.patterns().collect::<Vec<_>>(),
            [("ip", "1.1.1.1"), ("user", "root")]
        );
        // Ordered as the tuple of parts: a shorter part first, whatever follows it.
        let mut keys = [
            key(&["ssh", "f"], &[("ip", "1.1.1.10")]),
            key(&["ssh!", "a"], &[]),
            key(&["ssh", "f"], &[("ip", "1.1.1.1"), ("user", "a")]),
            key(&["ssh", "f"], &[]),
        ];
        keys.sort();
        let tuples: Vec<Parts<'_>> = keys
            .iter()
            .map(|k| (k.fixed().collect(), k.patterns().collect()))
            .collect();
        let mut sorted = tuples.clone();
        sorted.sort();
        assert_eq!(tuples, sorted);
        let json = serde_json::to_string(&a).expect("ser");
        assert_eq!(
            json,
            r#"{"fixed":["ssh","f"],"patterns":[["ip","1.1.1.1"],["user","root"]]}"#
        );
        assert_eq!(serde_json::from_str::<Key>(&json).expect("de"), a);
    }

    #[test]
    fn a_nul_in_a_value_is_one_series_not_a_new_one_per_event() {
        let mut c = Counters::default();
        let fixed = ["ssh", "f"];
        for _ in 0..3 {
            assert!(c.add_ref(
                Metric::Matches,
                KeyRef {
                    fixed: &fixed,
                    patterns: &[("ip", "a\0b")],
                },
                1,
                10,
            ));
        }
        assert_eq!(c.series(Metric::Matches), 1);
        assert_eq!(
            c.total(Metric::Matches, &key(&fixed, &[("ip", "a\u{fffd}b")])),
            Some(3)
        );
    }

    fn values(f: &Family) -> Vec<(Vec<String>, f64)> {
        f.samples()
            .iter()
            .map(|s| (s.label_values.clone(), s.value))
            .collect()
    }

    #[test]
    fn two_scrapers_each_get_every_count() {
        let mut c = Counters::default();
        let k = key(&["ssh", "failedlogin"], &[("ip", "1.2.3.4")]);
        for _ in 0..3 {
            c.add(Metric::Matches, &k, 100, 10);
        }
        let a = c.legacy_families(&[Metric::Matches], "prom-a", 101);
        let b = c.legacy_families(&[Metric::Matches], "prom-b", 101);
        assert_eq!(values(&a[0]), values(&b[0]));
        assert_eq!(a[0].samples()[0].value, 3.0);
        // Nothing new: both see nothing (the original's cleared state).
        assert!(c.legacy_families(&[Metric::Matches], "prom-a", 102)[0].is_empty());
        c.add(Metric::Matches, &k, 103, 10);
        assert_eq!(
            c.legacy_families(&[Metric::Matches], "prom-a", 104)[0].samples()[0].value,
            1.0
        );
        assert_eq!(
            c.legacy_families(&[Metric::Matches], "prom-b", 104)[0].samples()[0].value,
            1.0
        );
        // The counters are untouched by scrapes.
        assert_eq!(
            c.native_families(&[Metric::Matches])[0].samples()[0].value,
            4.0
        );
    }

    #[test]
    fn union_of_pattern_labels_and_caps() {
        let mut c = Counters::default();
        assert!(c.add(
            Metric::Matches,
            &key(&["ssh", "f"], &[("ip", "1.1.1.1")]),
            1,
            2
        ));
        assert!(c.add(
            Metric::Matches,
            &key(&["mail", "g"], &[("email", "a@b")]),
            1,
            2
        ));
        assert!(!c.add(
            Metric::Matches,
            &key(&["ssh", "f"], &[("ip", "2.2.2.2")]),
            1,
            2
        ));
        assert_eq!(c.dropped(Metric::Matches), 1);
        let f = &c.native_families(&[Metric::Matches])[0];
        assert_eq!(f.label_names(), ["stream", "filter", "email", "ip"]);
        assert_eq!(
            values(f),
            vec![
                (
                    vec!["mail".into(), "g".into(), "a@b".into(), String::new()],
                    1.0
                ),
                (
                    vec!["ssh".into(), "f".into(), String::new(), "1.1.1.1".into()],
                    1.0
                ),
            ]
        );
    }

    #[test]
    fn idle_series_expire_and_scrapers_are_bounded() {
        let mut c = Counters::default();
        c.add(Metric::Streams, &key(&["ssh", "exit"], &[]), 100, 10);
        c.add(Metric::Streams, &key(&["web", "exit"], &[]), 200, 10);
        assert_eq!(c.sweep(250, 60), 1);
        assert_eq!(c.series(Metric::Streams), 1);
        for i in 0..40 {
            c.legacy_families(&[Metric::Streams], &format!("scraper-{i}"), i);
        }
        assert_eq!(c.baselines.len(), MAX_SCRAPERS);
        assert!(c.baselines.contains_key("scraper-39"));
        assert!(!c.baselines.contains_key("scraper-0"));
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut c = Counters::default();
        c.add(
            Metric::Actions,
            &key(&["s", "f", "ban"], &[("ip", "1.2.3.4")]),
            5,
            10,
        );
        c.legacy_families(&[Metric::Actions], "p", 6);
        c.unparsed = 3;
        let json = serde_json::to_string(&c).expect("ser");
        let back: Counters = serde_json::from_str(&json).expect("de");
        assert_eq!(back, c);
    }
}
