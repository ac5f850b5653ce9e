//! What reaction's configuration declares, from `reaction test-config`: streams, their
//! filters, each filter's pattern names and actions. It is what makes a dotted name such
//! as `web.v2.aibots.ban` splittable, and what names the pattern labels.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub streams: BTreeMap<String, Stream>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stream {
    pub filters: BTreeMap<String, Filter>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The `<name>` placeholders of all the filter's regexes, sorted by name. reaction
    /// prints a match's values in this order (the original exporter zips them so, and
    /// reaction keeps a filter's patterns in a name-ordered set [inferred]).
    pub patterns: Vec<String>,
    /// Action name → its `cmd` template (argv with `<pattern>` placeholders).
    pub actions: BTreeMap<String, Vec<String>>,
}

/// Why `test-config` output could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("reaction test-config output is not YAML/JSON: {0}")]
    Syntax(#[from] serde_yaml::Error),
    #[error("reaction test-config output has no `streams` map")]
    NoStreams,
}

impl Topology {
    /// Parses the output of `reaction test-config` (YAML or JSON).
    pub fn parse(text: &str) -> Result<Self, TopologyError> {
        let doc: serde_yaml::Value = serde_yaml::from_str(text)?;
        let streams = doc
            .get("streams")
            .and_then(serde_yaml::Value::as_mapping)
            .ok_or(TopologyError::NoStreams)?;
        // Only declared patterns are placeholders; a regex's own `(?<group>..)` is not.
        let declared: BTreeSet<&str> = doc
            .get("patterns")
            .and_then(serde_yaml::Value::as_mapping)
            .map(|m| m.keys().filter_map(serde_yaml::Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Topology::default();
        for (name, stream) in streams {
            let Some(name) = name.as_str() else { continue };
            let mut s = Stream::default();
            let filters = stream
                .get("filters")
                .and_then(serde_yaml::Value::as_mapping);
            for (fname, filter) in filters.into_iter().flatten() {
                let Some(fname) = fname.as_str() else {
                    continue;
                };
                let mut patterns = BTreeSet::new();
                let regexes: Vec<&str> = match filter.get("regex") {
                    Some(serde_yaml::Value::Sequence(seq)) => {
                        seq.iter().filter_map(serde_yaml::Value::as_str).collect()
                    }
                    Some(serde_yaml::Value::String(s)) => vec![s.as_str()],
                    _ => Vec::new(),
                };
                for re in regexes {
                    patterns.extend(
                        placeholders(re)
                            .into_iter()
                            .filter(|p| declared.is_empty() || declared.contains(p.as_str())),
                    );
                }
                let actions = filter
                    .get("actions")
                    .and_then(serde_yaml::Value::as_mapping)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| {
                                let cmd = v
                                    .get("cmd")
                                    .and_then(serde_yaml::Value::as_sequence)
                                    .map(|seq| {
                                        seq.iter()
                                            .filter_map(|a| a.as_str().map(str::to_owned))
                                            .collect()
                                    })
                                    .unwrap_or_default();
                                k.as_str().map(|k| (k.to_owned(), cmd))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                s.filters.insert(
                    fname.to_owned(),
                    Filter {
                        patterns: patterns.into_iter().collect(),
                        actions,
                    },
                );
            }
            out.streams.insert(name.to_owned(), s);
        }
        Ok(out)
    }

    pub fn filter(&self, stream: &str, filter: &str) -> Option<&Filter> {
        self.streams.get(stream)?.filters.get(filter)
    }

    /// Splits `<stream>.<filter>`; names with dots are resolved against the known names,
    /// and only an unknown name falls back to "the first dot".
    pub fn split_filter<'a>(&self, target: &'a str) -> Option<(&'a str, &'a str)> {
        let known = dots(target).find(|&i| self.filter(&target[..i], &target[i + 1..]).is_some());
        let i = known.or_else(|| target.find('.'))?;
        let (s, f) = (&target[..i], &target[i + 1..]);
        (!s.is_empty() && !f.is_empty()).then_some((s, f))
    }

    /// Splits `<stream>.<filter>.<action>` likewise; the fallback takes the first and the
    /// last dot.
    pub fn split_action<'a>(&self, target: &'a str) -> Option<(&'a str, &'a str, &'a str)> {
        for i in dots(target) {
            for j in dots(target).filter(|&j| j > i) {
                let (s, f, a) = (&target[..i], &target[i + 1..j], &target[j + 1..]);
                if self
                    .filter(s, f)
                    .is_some_and(|fl| fl.actions.contains_key(a))
                {
                    return Some((s, f, a));
                }
            }
        }
        let i = target.find('.')?;
        let j = target.rfind('.')?;
        if j <= i + 1 || j + 1 >= target.len() || i == 0 {
            return None;
        }
        Some((&target[..i], &target[i + 1..j], &target[j + 1..]))
    }
}

/// (pattern name, value) pairs read back from an action's argv.
pub type PatternValues<'t, 'a> = smallvec::SmallVec<[(&'t str, &'a str); 4]>;

/// The pattern values an action was run with, read back from its argv by lining it up
/// with the action's `cmd` template: `["nft", "add", "{ <ip> }"]` and
/// `["nft", "add", "{ 1.2.3.4 }"]` give `ip = 1.2.3.4`. `None` if they do not line up.
pub fn extract_patterns<'t, 'a, A: AsRef<str>>(
    template: &'t [String],
    argv: &'a [A],
) -> Option<PatternValues<'t, 'a>> {
    if template.len() != argv.len() {
        return None;
    }
    let mut out = PatternValues::new();
    for (t, a) in template.iter().zip(argv) {
        let mut rest = a.as_ref();
        let mut tpl = t.as_str();
        loop {
            match tpl
                .find('<')
                .and_then(|s| tpl[s..].find('>').map(|e| (s, s + e)))
            {
                None => {
                    if tpl != rest {
                        return None;
                    }
                    break;
                }
                Some((start, end)) => {
                    let literal = &tpl[..start];
                    rest = rest.strip_prefix(literal)?;
                    let name = &tpl[start + 1..end];
                    tpl = &tpl[end + 1..];
                    // The value runs to the next literal of the template (or to the end).
                    let next_literal = tpl.find('<').map_or(tpl, |i| &tpl[..i]);
                    let value_end = if next_literal.is_empty() {
                        if tpl.is_empty() {
                            rest.len()
                        } else {
                            return None;
                        }
                    } else {
                        rest.find(next_literal)?
                    };
                    let value = &rest[..value_end];
                    rest = &rest[value_end..];
                    match out.iter().find(|(n, _)| *n == name) {
                        Some((_, v)) if *v != value => return None,
                        Some(_) => {}
                        None => out.push((name, value)),
                    }
                }
            }
        }
    }
    Some(out)
}

fn dots(s: &str) -> impl Iterator<Item = usize> + '_ {
    s.match_indices('.').map(|(i, _)| i)
}

/// The `<name>` placeholders in a reaction regex: letters, digits, `_` and `-`.
fn placeholders(re: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = re;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        match after.find('>') {
            Some(end)
                if end > 0
                    && after[..end]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                out.push(after[..end].to_owned());
                rest = &after[end + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r"
patterns:
  ip: {type: ipv4}
  user: {regex: '[a-z]+'}
streams:
  ssh:
    cmd: ['journalctl', '-fu', 'ssh.service']
    filters:
      failedlogin:
        regex:
          - '^Failed password for <user> from <ip>'
          - '^Invalid user from <ip>'
        retry: 3
        actions:
          ban: {cmd: ['nft', 'add', '<ip>']}
          unban: {cmd: ['nft', 'delete', '<ip>'], after: 1h}
  web.v2:
    cmd: ['tail', '-F', 'x']
    filters:
      ai.bots:
        regex: ['^<ip> (?<agent>GPTBot)']
        actions:
          ban.long: {cmd: ['true']}
";

    #[test]
    fn reads_test_config_output() {
        let t = Topology::parse(CONFIG).expect("parse");
        let f = t.filter("ssh", "failedlogin").expect("filter");
        assert_eq!(f.patterns, ["ip", "user"]);
        assert_eq!(t.filter("web.v2", "ai.bots").expect("f").patterns, ["ip"]);
        assert_eq!(f.actions.keys().collect::<Vec<_>>(), ["ban", "unban"]);
        assert_eq!(f.actions["ban"], ["nft", "add", "<ip>"]);
        // JSON is accepted as well (YAML superset).
        let json =
            r#"{"streams": {"s": {"filters": {"f": {"regex": ["<ip>"], "actions": {"a": {}}}}}}}"#;
        assert_eq!(
            Topology::parse(json)
                .expect("json")
                .filter("s", "f")
                .expect("f")
                .patterns,
            ["ip"]
        );
        assert!(matches!(
            Topology::parse("a: b"),
            Err(TopologyError::NoStreams)
        ));
        assert!(Topology::parse("[unclosed").is_err());
    }

    #[test]
    fn dotted_names_split_by_known_names() {
        let t = Topology::parse(CONFIG).expect("parse");
        assert_eq!(
            t.split_filter("web.v2.ai.bots"),
            Some(("web.v2", "ai.bots"))
        );
        assert_eq!(
            t.split_action("web.v2.ai.bots.ban.long"),
            Some(("web.v2", "ai.bots", "ban.long"))
        );
        assert_eq!(
            t.split_filter("ssh.failedlogin"),
            Some(("ssh", "failedlogin"))
        );
        assert_eq!(
            t.split_action("ssh.failedlogin.ban"),
            Some(("ssh", "failedlogin", "ban"))
        );
        // Unknown names: first dot (and last dot for actions).
        assert_eq!(t.split_filter("new.filter.x"), Some(("new", "filter.x")));
        assert_eq!(t.split_action("new.f.g.act"), Some(("new", "f.g", "act")));
        assert_eq!(t.split_filter("nodot"), None);
        assert_eq!(t.split_action("a.b"), None);
        assert_eq!(t.split_action(".b.c"), None);
    }

    #[test]
    fn pattern_values_from_action_argv() {
        let t: Vec<String> = ["nft", "add", "element", "{ <ip> }", "<ip>:<port>"]
            .map(String::from)
            .to_vec();
        let a: Vec<String> = ["nft", "add", "element", "{ 1.2.3.4 }", "1.2.3.4:22"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            extract_patterns(&t, &a).map(|v| v.to_vec()),
            Some(vec![("ip", "1.2.3.4"), ("port", "22")])
        );
        let wrong: Vec<String> = ["nft", "del", "element", "{ 1.2.3.4 }", "1.2.3.4:22"]
            .map(String::from)
            .to_vec();
        assert_eq!(extract_patterns(&t, &wrong), None);
        let inconsistent: Vec<String> = ["nft", "add", "element", "{ 1.2.3.4 }", "5.6.7.8:22"]
            .map(String::from)
            .to_vec();
        assert_eq!(extract_patterns(&t, &inconsistent), None);
        assert_eq!(extract_patterns(&t[..1], &a), None);
    }

    #[test]
    fn placeholder_grammar() {
        assert_eq!(
            placeholders("^<ip> (?<named>x) <a-b_1> <>"),
            ["ip", "named", "a-b_1"]
        );
    }
}
