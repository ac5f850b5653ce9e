//! Opt-in zero-suppression. The Prometheus guidance is to export 0 for series known in
//! advance, so nothing is suppressed unless a rule names the family, and every rule
//! documents itself in the family's HELP text so a dashboard author can see why a series
//! has gaps.

use std::collections::HashMap;

use crate::metrics::Family;

/// When a series is left out of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// The value is exactly 0.
    Zero,
    /// The value is below the threshold.
    Below(f64),
    /// The value equals the value last exported for the same series. The first value of a
    /// series is always exported.
    Unchanged,
}

impl Rule {
    fn help_note(self) -> String {
        match self {
            Rule::Zero => " Series whose value is 0 are omitted.".to_owned(),
            Rule::Below(t) => format!(" Series whose value is below {t} are omitted."),
            Rule::Unchanged => {
                " A series is omitted while its value equals the last exported one.".to_owned()
            }
        }
    }
}

/// Applies rules per family name, remembering last exported values for `Unchanged`.
/// Memory is bounded by the series of the last snapshot: series that disappear are forgotten.
#[derive(Debug, Default)]
pub struct Suppressor {
    rules: HashMap<String, Rule>,
    last_exported: HashMap<(String, Vec<String>), f64>,
}

impl Suppressor {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn rule(mut self, family: impl Into<String>, rule: Rule) -> Self {
        self.rules.insert(family.into(), rule);
        self
    }

    /// Filters `families` in place and appends each rule's note to the HELP text.
    #[allow(
        clippy::float_cmp,
        reason = "the rules are about exact values: 0, or the same value again"
    )]
    pub fn apply(&mut self, families: &mut [Family]) {
        if self.rules.is_empty() {
            return;
        }
        let mut seen: HashMap<(String, Vec<String>), f64> = HashMap::new();
        for family in families.iter_mut() {
            let Some(rule) = self.rules.get(family.name()).copied() else {
                continue;
            };
            let name = family.name().to_owned();
            let help = format!("{}{}", family.help(), rule.help_note());
            family.set_help(help);
            family.samples_mut().retain(|sample| match rule {
                Rule::Zero => sample.value != 0.0,
                Rule::Below(threshold) => sample.value >= threshold,
                Rule::Unchanged => {
                    let key = (name.clone(), sample.label_values.clone());
                    let previous = self.last_exported.get(&key).copied();
                    match previous {
                        Some(prev) if prev == sample.value => {
                            seen.insert(key, prev);
                            false
                        }
                        _ => {
                            seen.insert(key, sample.value);
                            true
                        }
                    }
                }
            });
        }
        self.last_exported = seen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fam(name: &str, values: &[(&str, f64)]) -> Family {
        let mut f = Family::gauge(name, "Help.").with_labels(["k"]);
        for (k, v) in values {
            f.push([*k], *v);
        }
        f
    }

    fn keys(f: &Family) -> Vec<&str> {
        f.samples()
            .iter()
            .map(|s| s.label_values[0].as_str())
            .collect()
    }

    #[test]
    fn zero_and_below_only_touch_named_families() {
        let mut s = Suppressor::new()
            .rule("a", Rule::Zero)
            .rule("b", Rule::Below(10.0));
        let mut fams = vec![
            fam("a", &[("x", 0.0), ("y", 1.0)]),
            fam("b", &[("x", 9.99), ("y", 10.0)]),
            fam("c", &[("x", 0.0)]),
        ];
        s.apply(&mut fams);
        assert_eq!(keys(&fams[0]), ["y"]);
        assert_eq!(keys(&fams[1]), ["y"]);
        assert_eq!(keys(&fams[2]), ["x"]);
        assert_eq!(fams[0].help(), "Help. Series whose value is 0 are omitted.");
        assert_eq!(fams[2].help(), "Help.");
    }

    #[test]
    fn unchanged_exports_first_and_changes_and_forgets_vanished() {
        let mut s = Suppressor::new().rule("u", Rule::Unchanged);
        let mut round = vec![fam("u", &[("x", 1.0), ("y", 5.0)])];
        s.apply(&mut round);
        assert_eq!(keys(&round[0]), ["x", "y"]);
        let mut round = vec![fam("u", &[("x", 1.0), ("y", 6.0)])];
        s.apply(&mut round);
        assert_eq!(keys(&round[0]), ["y"]);
        // "y" vanished for a round: its memory is dropped, so it comes back as new.
        let mut round = vec![fam("u", &[("x", 1.0)])];
        s.apply(&mut round);
        assert!(keys(&round[0]).is_empty());
        let mut round = vec![fam("u", &[("x", 2.0), ("y", 6.0)])];
        s.apply(&mut round);
        assert_eq!(keys(&round[0]), ["x", "y"]);
        assert_eq!(s.last_exported.len(), 2);
    }
}
