//! Turns log lines into counts: parse, split names with reaction's topology, apply the
//! label rules and the `hold` window, count; and keeps the source position with the
//! counts so that both are saved together.

use std::borrow::Cow;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::config::Export;
use crate::counters::{Counters, Key, KeyRef, Metric};
use crate::detached::Detached;
use crate::labels::{LabelPlan, Labels};
use crate::logline::{self, CommandState, Event, Unparsed};
use crate::topology::{Topology, extract_patterns};

/// Label (name, value) pairs of one event, borrowed.
type Pairs<'a> = smallvec::SmallVec<[(&'a str, &'a str); 4]>;
/// A few borrowed strings.
type Names<'a> = smallvec::SmallVec<[&'a str; 4]>;

/// Where a source is, so that reading resumes there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Position {
    /// A journald cursor.
    Journal { cursor: String },
    /// A file by identity (device, inode) and the offset after the last full line.
    File { dev: u64, ino: u64, offset: u64 },
}

/// One line from a source.
#[derive(Debug, Clone)]
pub struct Line {
    pub text: String,
    /// When it was logged (journald), or read (files), in Unix microseconds.
    pub time_us: u64,
    pub position: Position,
}

/// Lines read in one go, their text back to back in one buffer: no allocation per line.
#[derive(Debug, Default)]
pub struct Batch {
    text: String,
    lines: Vec<LineMeta>,
    /// The lines parsed ahead (by [`Batch::parse_all`], on the reader's thread), or empty.
    parsed: Vec<Result<Detached, Unparsed>>,
}

#[derive(Debug)]
struct LineMeta {
    end: usize,
    time_us: u64,
    position: Position,
}

impl Batch {
    pub fn push(&mut self, text: &str, time_us: u64, position: Position) {
        self.text.push_str(text);
        self.lines.push(LineMeta {
            end: self.text.len(),
            time_us,
            position,
        });
    }

    pub fn push_line(&mut self, line: Line) {
        self.push(&line.text, line.time_us, line.position);
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines' texts.
    #[cfg(test)]
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        let mut start = 0;
        self.lines.iter().map(move |m| {
            let t = &self.text[start..m.end];
            start = m.end;
            t
        })
    }

    /// The position after line `i`.
    #[cfg(test)]
    pub fn position(&self, i: usize) -> Position {
        self.lines[i].position.clone()
    }

    /// Parses every line now, so that counting (under the engine lock, on another
    /// thread) does not have to.
    pub fn parse_all(&mut self) {
        let mut start = 0;
        self.parsed = self
            .lines
            .iter()
            .map(|m| {
                let line = &self.text[start..m.end];
                start = m.end;
                crate::detached::parse(line, &self.text)
            })
            .collect();
    }

    /// Counts every line, in order.
    pub fn process_into(self, engine: &mut Engine, now: u64) {
        let mut start = 0;
        if self.parsed.len() == self.lines.len() {
            for (m, parsed) in self.lines.into_iter().zip(&self.parsed) {
                let line = &self.text[start..m.end];
                let event = match parsed {
                    Ok(d) => Ok(crate::detached::attach(d, &self.text)),
                    Err(e) => Err(e.clone()),
                };
                engine.apply(event, line, m.time_us, m.position, now);
                start = m.end;
            }
            return;
        }
        for m in self.lines {
            engine.process(&self.text[start..m.end], m.time_us, m.position, now);
            start = m.end;
        }
    }
}

/// Counting state plus what it needs. Lives behind one mutex, so a checkpoint always has
/// a position and the counts of exactly the lines before it.
pub struct Engine {
    topology: Arc<ArcSwap<Topology>>,
    labels: LabelPlan,
    export: Export,
    hold_us: u64,
    hold_until_us: u64,
    max_series: usize,
    pub counters: Counters,
    pub position: Option<Position>,
    /// Log time of the last line processed (Unix microseconds).
    pub last_time_us: u64,
    /// Pattern labels of the last match per (stream, filter): the original's source of
    /// action labels, used only when an action's argv cannot be read back.
    last_match: hashbrown::HashMap<String, hashbrown::HashMap<String, Vec<(String, String)>>>,
    /// Set when a start command was seen: reaction restarted, its config may have changed.
    pub topology_stale: bool,
}

/// Entries in `last_match` at most (it is keyed by filter, normally a handful).
const LAST_MATCH_LIMIT: usize = 10_000;

impl Engine {
    pub fn new(
        topology: Arc<ArcSwap<Topology>>,
        labels: LabelPlan,
        export: Export,
        hold_seconds: u64,
        max_series: usize,
    ) -> Self {
        Self {
            topology,
            labels,
            export,
            hold_us: hold_seconds.saturating_mul(1_000_000),
            hold_until_us: 0,
            max_series,
            counters: Counters::default(),
            position: None,
            last_time_us: 0,
            last_match: hashbrown::HashMap::new(),
            topology_stale: false,
        }
    }

    /// Counts one line. `now` is the wall-clock Unix second (series idle time).
    pub fn process(&mut self, text: &str, time_us: u64, position: Position, now: u64) {
        self.apply(logline::parse(text), text, time_us, position, now);
    }

    /// Counts one parsed line (`text` is only for the debug log of unparsed lines).
    fn apply(
        &mut self,
        parsed: Result<Event<'_>, Unparsed>,
        text: &str,
        time_us: u64,
        position: Position,
        now: u64,
    ) {
        self.counters.lines += 1;
        match parsed {
            Ok(event) => {
                if !self.count(event, time_us, now) {
                    self.counters.unparsed += 1;
                }
            }
            Err(why) => {
                self.counters.unparsed += 1;
                tracing::debug!(reason = %why, line = %truncate(text), "unparsed line");
            }
        }
        self.last_time_us = time_us;
        self.position = Some(position);
    }

    /// Returns false if the event does not fit (unknown shape for reaction's config).
    fn count(&mut self, event: Event<'_>, time_us: u64, now: u64) -> bool {
        let topology = self.topology.load();
        match event {
            Event::Match { target, matches } => {
                let Some((stream, filter)) = topology.split_filter(target) else {
                    return false;
                };
                let Some(labels) = self.pattern_labels(&topology, stream, filter, &matches) else {
                    tracing::debug!(stream, filter, "match does not fit the filter's patterns");
                    return false;
                };
                let pairs: Pairs<'_> = labels
                    .iter()
                    .map(|(n, v)| (n.as_ref(), v.as_ref()))
                    .collect();
                if self.export.actions.extra() {
                    self.remember_match(stream, filter, &pairs);
                }
                if self.export.matches.enabled() {
                    let patterns: &[(&str, &str)] = if self.export.matches.extra() {
                        &pairs
                    } else {
                        &[]
                    };
                    self.add(Metric::Matches, &[stream, filter], patterns, now);
                }
                true
            }
            Event::Action { target, argv } => {
                let Some((stream, filter, action)) = topology.split_action(target) else {
                    return false;
                };
                if time_us < self.hold_until_us {
                    tracing::debug!(
                        stream,
                        filter,
                        action,
                        "action within hold after a start command: not counted"
                    );
                    return true;
                }
                if self.export.actions.enabled() {
                    self.count_action(&topology, [stream, filter, action], &argv, now);
                }
                true
            }
            Event::Command {
                state,
                argv,
                ok,
                code,
            } => {
                if state == CommandState::Start {
                    self.hold_until_us = time_us.saturating_add(self.hold_us);
                    self.topology_stale = true;
                }
                if self.export.commands {
                    let status = if ok { "True" } else { "False" };
                    let command = argv.first().map_or("", |c| c.as_ref());
                    let code = code.to_string();
                    self.add(
                        Metric::Commands,
                        &[state.as_str(), command, status, &code],
                        &[],
                        now,
                    );
                }
                true
            }
            Event::Stream { stream, event } => {
                if self.export.streams {
                    self.add(Metric::Streams, &[stream, event.as_str()], &[], now);
                }
                true
            }
            Event::Sigterm => {
                tracing::info!("reaction is stopping (SIGTERM)");
                true
            }
        }
    }

    /// Keeps the labels of the filter's last match, reusing the previous allocation.
    fn remember_match(&mut self, stream: &str, filter: &str, labels: &[(&str, &str)]) {
        if let Some(slot) = self
            .last_match
            .get_mut(stream)
            .and_then(|f| f.get_mut(filter))
        {
            slot.clone_from_slice_or_vec(labels);
            return;
        }
        if self
            .last_match
            .values()
            .map(hashbrown::HashMap::len)
            .sum::<usize>()
            >= LAST_MATCH_LIMIT
        {
            self.last_match.clear();
        }
        self.last_match
            .entry(stream.to_owned())
            .or_default()
            .insert(
                filter.to_owned(),
                labels
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
            );
    }

    fn add(&mut self, metric: Metric, fixed: &[&str], patterns: &[(&str, &str)], now: u64) {
        count_into(
            &mut self.counters,
            self.max_series,
            metric,
            fixed,
            patterns,
            now,
        );
    }

    fn pattern_labels<'a>(
        &self,
        topology: &'a Topology,
        stream: &str,
        filter: &str,
        matches: &'a [Cow<'a, str>],
    ) -> Option<Labels<'a>> {
        match topology.filter(stream, filter) {
            Some(f) => self.labels.labels(stream, filter, &f.patterns, matches),
            // Unknown to reaction's config (not read yet, or changed): count it, without
            // pattern labels rather than with guessed names.
            None => Some(Labels::new()),
        }
    }

    /// Counts an action, with pattern labels read back from its argv, or else (a command
    /// without the pattern in it, a notification say) those of the filter's last match,
    /// as the original does.
    fn count_action(
        &mut self,
        topology: &Topology,
        fixed: [&str; 3],
        argv: &[Cow<'_, str>],
        now: u64,
    ) {
        let [stream, filter, action] = fixed;
        if !self.export.actions.extra() {
            self.add(Metric::Actions, &fixed, &[], now);
            return;
        }
        let from_argv = topology.filter(stream, filter).and_then(|f| {
            let template = f.actions.get(action)?;
            let values = extract_patterns(template, argv).filter(|v| !v.is_empty())?;
            // Order and rules as for matches, over the patterns the action uses.
            let (names, vals): (Names<'_>, Names<'_>) = f
                .patterns
                .iter()
                .filter_map(|p| {
                    values
                        .iter()
                        .find(|(n, _)| n == p)
                        .map(|(_, v)| (p.as_str(), *v))
                })
                .unzip();
            Some((names, vals))
        });
        if let Some((names, vals)) = from_argv {
            let labels = self
                .labels
                .labels(stream, filter, &names, &vals)
                .unwrap_or_default();
            let pairs: Pairs<'_> = labels
                .iter()
                .map(|(n, v)| (n.as_ref(), v.as_ref()))
                .collect();
            self.add(Metric::Actions, &fixed, &pairs, now);
        } else {
            let pairs: Pairs<'_> = self
                .last_match
                .get(stream)
                .and_then(|f| f.get(filter))
                .into_iter()
                .flatten()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            count_into(
                &mut self.counters,
                self.max_series,
                Metric::Actions,
                &fixed,
                &pairs,
                now,
            );
        }
    }

    /// Stream-event series of every known stream at 0 ("avoid missing metrics").
    pub fn seed_known_streams(&mut self, now: u64) {
        if !self.export.streams {
            return;
        }
        let topology = self.topology.load();
        for stream in topology.streams.keys() {
            for event in logline::StreamEvent::ALL {
                self.counters.ensure(
                    Metric::Streams,
                    Key::new(&[stream, event.as_str()], &[]),
                    now,
                );
            }
        }
    }
}

fn count_into(
    counters: &mut Counters,
    max_series: usize,
    metric: Metric,
    fixed: &[&str],
    patterns: &[(&str, &str)],
    now: u64,
) {
    if !counters.add_ref(metric, KeyRef { fixed, patterns }, now, max_series) {
        tracing::debug!(
            metric = metric.as_str(),
            "series cap reached: event not counted"
        );
    }
}

trait CloneFromSlice {
    fn clone_from_slice_or_vec(&mut self, src: &[(&str, &str)]);
}

impl CloneFromSlice for Vec<(String, String)> {
    /// Overwrites in place (reusing the strings' buffers) when the lengths match.
    fn clone_from_slice_or_vec(&mut self, src: &[(&str, &str)]) {
        if self.len() == src.len() {
            for (dst, s) in self.iter_mut().zip(src) {
                dst.0.clear();
                dst.0.push_str(s.0);
                dst.1.clear();
                dst.1.push_str(s.1);
            }
        } else {
            *self = src
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect();
        }
    }
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Metrics;

    const TOPOLOGY: &str = r"
patterns: {ip: {type: ipv4}}
streams:
  ssh:
    filters:
      failedlogin:
        regex: ['from <ip>']
        actions:
          ban: {cmd: ['nft', 'add', '{ <ip> }']}
          log: {cmd: ['logger', 'banned']}
";

    fn engine(metrics_yaml: &str, hold: u64) -> Engine {
        let topology = Arc::new(ArcSwap::from_pointee(
            Topology::parse(TOPOLOGY).expect("topology"),
        ));
        let metrics: Metrics = serde_yaml::from_str(metrics_yaml).expect("metrics");
        Engine::new(
            topology,
            LabelPlan::new(&metrics).expect("labels"),
            metrics.export,
            hold,
            1000,
        )
    }

    fn feed(e: &mut Engine, lines: &[(&str, u64)]) {
        for (i, (text, t)) in lines.iter().enumerate() {
            e.process(
                text,
                t * 1_000_000,
                Position::File {
                    dev: 1,
                    ino: 2,
                    offset: i as u64,
                },
                1000,
            );
        }
    }

    fn key(fixed: &[&str], patterns: &[(&str, &str)]) -> Key {
        Key::of(fixed, patterns)
    }

    #[test]
    fn counts_matches_actions_commands_streams() {
        let mut e = engine("{}", 60);
        feed(
            &mut e,
            &[
                (r#"INFO ssh.failedlogin: match ["1.2.3.4"]"#, 10),
                (r#"INFO ssh.failedlogin: match ["1.2.3.4"]"#, 11),
                (r#"INFO ssh.failedlogin: match ["5.6.7.8"]"#, 12),
                // The action names its IP in its argv: labelled 9.9.9.9 even though the
                // last match was 5.6.7.8 (the original would have said 5.6.7.8).
                (
                    r#"INFO ssh.failedlogin.ban: run ["nft" "add" "{ 9.9.9.9 }"]"#,
                    13,
                ),
                (r#"INFO ssh.failedlogin.log: run ["logger" "banned"]"#, 14),
                (r#"ERROR stop command: run ["false"]: exit code: 1"#, 15),
                ("ERROR stream ssh exited: status 1", 16),
                ("garbage", 17),
                ("", 18),
            ],
        );
        let c = &e.counters;
        assert_eq!(
            c.total(
                Metric::Matches,
                &key(&["ssh", "failedlogin"], &[("ip", "1.2.3.4")])
            ),
            Some(2)
        );
        assert_eq!(
            c.total(
                Metric::Matches,
                &key(&["ssh", "failedlogin"], &[("ip", "5.6.7.8")])
            ),
            Some(1)
        );
        assert_eq!(
            c.total(
                Metric::Actions,
                &key(&["ssh", "failedlogin", "ban"], &[("ip", "9.9.9.9")])
            ),
            Some(1)
        );
        // No placeholder in the template: falls back to the last match of the filter.
        assert_eq!(
            c.total(
                Metric::Actions,
                &key(&["ssh", "failedlogin", "log"], &[("ip", "5.6.7.8")])
            ),
            Some(1)
        );
        assert_eq!(
            c.total(
                Metric::Commands,
                &key(&["stop", "false", "False", "1"], &[])
            ),
            Some(1)
        );
        assert_eq!(
            c.total(Metric::Streams, &key(&["ssh", "exit"], &[])),
            Some(1)
        );
        assert_eq!((c.lines, c.unparsed), (9, 2));
        assert_eq!(
            e.position,
            Some(Position::File {
                dev: 1,
                ino: 2,
                offset: 8
            })
        );
    }

    #[test]
    fn hold_skips_actions_after_a_start_command() {
        let mut e = engine("{}", 60);
        feed(
            &mut e,
            &[
                (r#"INFO start command: run ["nft", "-f", "/etc/nft"]"#, 100),
                (
                    r#"INFO ssh.failedlogin.ban: run ["nft" "add" "{ 1.1.1.1 }"]"#,
                    159,
                ),
                (
                    r#"INFO ssh.failedlogin.ban: run ["nft" "add" "{ 1.1.1.1 }"]"#,
                    160,
                ),
            ],
        );
        assert_eq!(
            e.counters.total(
                Metric::Actions,
                &key(&["ssh", "failedlogin", "ban"], &[("ip", "1.1.1.1")])
            ),
            Some(1)
        );
        assert!(e.topology_stale);
        assert_eq!(
            e.counters
                .total(Metric::Commands, &key(&["start", "nft", "True", "0"], &[])),
            Some(1)
        );
    }

    #[test]
    fn export_switches() {
        let mut e = engine(
            "export:\n  matches: {extra: false}\n  actions: false\n  commands: false\n  streams: false\n",
            0,
        );
        feed(
            &mut e,
            &[
                (r#"INFO ssh.failedlogin: match ["1.2.3.4"]"#, 1),
                (r#"INFO ssh.failedlogin: match ["5.6.7.8"]"#, 1),
                (
                    r#"INFO ssh.failedlogin.ban: run ["nft" "add" "{ 1.1.1.1 }"]"#,
                    2,
                ),
                (r#"INFO start command: run ["true"]"#, 3),
                ("ERROR stream ssh exited: x", 4),
            ],
        );
        assert_eq!(
            e.counters
                .total(Metric::Matches, &key(&["ssh", "failedlogin"], &[])),
            Some(2)
        );
        for m in [Metric::Actions, Metric::Commands, Metric::Streams] {
            assert_eq!(e.counters.series(m), 0, "{m:?}");
        }
        assert_eq!(e.counters.unparsed, 0);
    }

    #[test]
    fn mismatched_pattern_count_is_unparsed_and_unknown_filters_still_count() {
        let mut e = engine("{}", 0);
        feed(
            &mut e,
            &[
                (r#"INFO ssh.failedlogin: match ["1.2.3.4", "extra"]"#, 1),
                (r#"INFO new.filter: match ["x"]"#, 1),
            ],
        );
        assert_eq!(e.counters.unparsed, 1);
        assert_eq!(
            e.counters
                .total(Metric::Matches, &key(&["new", "filter"], &[])),
            Some(1)
        );
    }
}
