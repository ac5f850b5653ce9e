//! Pattern labels: which patterns become labels, under which names, and with which
//! values (`metrics.all` / `metrics.for` rules and Jinja templates, rendered by
//! minijinja: sandboxed, no I/O, bounded by fuel, with Python-style string methods).

use std::borrow::Cow;
use std::collections::BTreeMap;

use minijinja::Environment;

use crate::config::{LabelRule, Metrics};

/// Labels the exporter itself uses; a pattern with one of these names is renamed.
const RESERVED: &[&str] = &[
    "stream", "filter", "action", "state", "command", "status", "code", "type", "instance", "job",
];

/// Pattern labels of one event (a few: no allocation for them).
pub type Labels<'a> = smallvec::SmallVec<[(Cow<'a, str>, Cow<'a, str>); 4]>;

/// Compiled label rules.
pub struct LabelPlan {
    env: Environment<'static>,
    all: BTreeMap<String, Compiled>,
    /// stream → filter → pattern → rule (looked up by `&str`: no allocation per line).
    per_filter: BTreeMap<String, BTreeMap<String, BTreeMap<String, Compiled>>>,
}

#[derive(Debug, Clone)]
enum Compiled {
    Keep,
    Drop,
    Template(String),
}

impl std::fmt::Debug for LabelPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelPlan")
            .field("all", &self.all)
            .finish_non_exhaustive()
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    // A template is a small expression: bound its work so a bad one cannot stall counting.
    env.set_fuel(Some(50_000));
    env
}

/// Compiles one template, for config validation.
pub fn check_template(pattern: &str, template: &str) -> Result<(), String> {
    let mut env = environment();
    env.add_template_owned("t".to_owned(), template.to_owned())
        .map_err(|e| format!("metrics: template for pattern {pattern:?}: {e}"))
}

impl LabelPlan {
    pub fn new(metrics: &Metrics) -> Result<Self, String> {
        let mut env = environment();
        let mut compile = |key: String, rule: &LabelRule| -> Result<Compiled, String> {
            Ok(match rule {
                LabelRule::Keep => Compiled::Keep,
                LabelRule::Drop => Compiled::Drop,
                LabelRule::Template(t) => {
                    env.add_template_owned(key.clone(), t.clone())
                        .map_err(|e| format!("metrics: template {key:?}: {e}"))?;
                    Compiled::Template(key)
                }
            })
        };
        let mut all = BTreeMap::new();
        for (pattern, rule) in &metrics.all {
            all.insert(pattern.clone(), compile(format!("all/{pattern}"), rule)?);
        }
        let mut per_filter = BTreeMap::new();
        for (stream, filters) in &metrics.per_filter {
            for (filter, rules) in filters {
                let mut compiled = BTreeMap::new();
                for (pattern, rule) in rules {
                    compiled.insert(
                        pattern.clone(),
                        compile(format!("for/{stream}/{filter}/{pattern}"), rule)?,
                    );
                }
                per_filter
                    .entry(stream.clone())
                    .or_insert_with(BTreeMap::new)
                    .insert(filter.clone(), compiled);
            }
        }
        Ok(Self {
            env,
            all,
            per_filter,
        })
    }

    fn rule(&self, stream: &str, filter: &str, pattern: &str) -> &Compiled {
        self.per_filter
            .get(stream)
            .and_then(|m| m.get(filter))
            .and_then(|m| m.get(pattern))
            .or_else(|| self.all.get(pattern))
            .unwrap_or(&Compiled::Keep)
    }

    /// The pattern labels of one event: `patterns` (the filter's pattern names, in the
    /// order matches are given) zipped with `matches`, rules applied. `None` when the
    /// numbers differ (the line does not fit the filter as reaction's config describes it).
    pub fn labels<'a, P: AsRef<str>, M: AsRef<str>>(
        &self,
        stream: &str,
        filter: &str,
        patterns: &'a [P],
        matches: &'a [M],
    ) -> Option<Labels<'a>> {
        if patterns.len() != matches.len() {
            return None;
        }
        let mut out = Labels::new();
        for (pattern, value) in patterns.iter().zip(matches) {
            let pattern = pattern.as_ref();
            let value = match self.rule(stream, filter, pattern) {
                Compiled::Drop => continue,
                Compiled::Keep => Cow::Borrowed(value.as_ref()),
                Compiled::Template(name) => Cow::Owned(self.render(name, pattern, value.as_ref())),
            };
            out.push((label_name_cow(pattern), value));
        }
        Some(out)
    }

    /// Like [`labels`](Self::labels), owned.
    pub fn labels_owned<M: AsRef<str>>(
        &self,
        stream: &str,
        filter: &str,
        patterns: &[String],
        matches: &[M],
    ) -> Option<Vec<(String, String)>> {
        self.labels(stream, filter, patterns, matches).map(|v| {
            v.into_iter()
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect()
        })
    }

    fn render(&self, template: &str, pattern: &str, value: &str) -> String {
        let context = BTreeMap::from([(pattern.to_owned(), value.to_owned())]);
        let rendered = self
            .env
            .get_template(template)
            .and_then(|t| t.render(&context));
        match rendered {
            Ok(s) => s,
            Err(e) => {
                // As in the original: the label value is dropped, the event still counts.
                tracing::warn!(pattern, error = %e, "label template failed; label left empty");
                String::new()
            }
        }
    }
}

/// [`label_name`], borrowing the pattern name when it is already a valid label name.
fn label_name_cow(pattern: &str) -> Cow<'_, str> {
    let plain = !pattern.is_empty()
        && !pattern.starts_with(|c: char| c.is_ascii_digit())
        && !pattern.starts_with("__")
        && pattern
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !RESERVED.contains(&pattern);
    if plain {
        Cow::Borrowed(pattern)
    } else {
        Cow::Owned(label_name(pattern))
    }
}

/// A valid, non-clashing Prometheus label name for a pattern.
pub fn label_name(pattern: &str) -> String {
    let mut name: String = pattern
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    if RESERVED.contains(&name.as_str()) || name.starts_with("__") {
        name = format!("pattern_{}", name.trim_start_matches('_'));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Metrics;

    fn plan(yaml: &str) -> LabelPlan {
        let m: Metrics = serde_yaml::from_str(yaml).expect("yaml");
        LabelPlan::new(&m).expect("plan")
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_originals_jinja_examples_work() {
        let p = plan(
            r#"
all:
  ip: "{{ ip.split('.')[:2] | join('.') }}.0.0/16"
  email: "{{ email.split('@') | last }}"
"#,
        );
        assert_eq!(
            p.labels_owned(
                "ssh",
                "f",
                &s(&["email", "ip"]),
                &s(&["bob@example.org", "1.2.3.4"])
            ),
            Some(vec![
                ("email".into(), "example.org".into()),
                ("ip".into(), "1.2.0.0/16".into())
            ])
        );
    }

    #[test]
    fn per_filter_overrides_all_and_false_drops() {
        let p = plan(
            r"
all:
  ip: false
for:
  ssh:
    failedlogin:
      ip: true
",
        );
        assert_eq!(
            p.labels_owned("ssh", "failedlogin", &s(&["ip"]), &s(&["1.2.3.4"])),
            Some(vec![("ip".into(), "1.2.3.4".into())])
        );
        assert_eq!(
            p.labels_owned("web", "bots", &s(&["ip"]), &s(&["1.2.3.4"])),
            Some(vec![])
        );
        assert_eq!(p.labels_owned("web", "bots", &s(&["ip"]), &s(&[])), None);
    }

    #[test]
    fn templates_are_sandboxed_and_failures_do_not_stop_counting() {
        let p = plan(
            r#"
all:
  ip: "{% for i in range(100000000) %}x{% endfor %}"
  user: "{{ include('/etc/passwd') }}"
"#,
        );
        let got = p
            .labels_owned("s", "f", &s(&["ip", "user"]), &s(&["1.2.3.4", "root"]))
            .expect("labels");
        assert_eq!(got[0].1, "", "out of fuel: empty, not a hang");
        assert_eq!(got[1].1, "", "no file access");
    }

    #[test]
    fn label_names_are_valid_and_do_not_clash() {
        assert_eq!(label_name("ip"), "ip");
        assert_eq!(label_name("my-pattern"), "my_pattern");
        assert_eq!(label_name("stream"), "pattern_stream");
        assert_eq!(label_name("9lives"), "_9lives");
        assert_eq!(label_name("__name__"), "pattern_name__");
    }
}
