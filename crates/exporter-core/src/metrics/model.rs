//! The typed samples every collector produces: families with one HELP, one TYPE and one
//! label schema. Names are the exact names a scraper sees, so a compatibility name such as
//! `oie_disk_r_gbytes` (a counter without `_total`) survives both encoders unchanged.

use std::fmt;

/// What a family is, in the Prometheus sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Gauge,
    /// Monotonic. Named with `_total` for OpenMetrics; a legacy name without it is exposed
    /// as `unknown` in OpenMetrics (which requires the suffix) and as `counter` in text 0.0.4.
    Counter,
    /// A pseudo-metric of constant value 1 whose labels carry the information; the name ends
    /// in `_info`.
    Info,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Info => "info",
        })
    }
}

/// One series of a family: label values in the order of the family's label names.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub label_values: Vec<String>,
    pub value: f64,
}

/// A metric family: name, help, kind, the label names every sample carries, and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    name: String,
    help: String,
    kind: Kind,
    label_names: Vec<String>,
    samples: Vec<Sample>,
}

impl Family {
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: Kind) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            kind,
            label_names: Vec::new(),
            samples: Vec::new(),
        }
    }

    pub fn gauge(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, Kind::Gauge)
    }

    pub fn counter(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, Kind::Counter)
    }

    pub fn info(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, Kind::Info)
    }

    /// Sets the label schema. Call before adding samples.
    #[must_use]
    pub fn with_labels<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.label_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Adds one series. A sample whose arity does not match the label schema is a bug in the
    /// collector; it is dropped and logged rather than exposed with a broken label set.
    pub fn push<I, S>(&mut self, label_values: I, value: f64) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let label_values: Vec<String> = label_values.into_iter().map(Into::into).collect();
        if label_values.len() == self.label_names.len() {
            self.samples.push(Sample {
                label_values,
                value,
            });
        } else {
            tracing::error!(
                family = %self.name,
                expected = self.label_names.len(),
                got = label_values.len(),
                "sample dropped: label values do not match the family's label names"
            );
        }
        self
    }

    /// Adds a sample without labels (for families without a label schema).
    pub fn set(&mut self, value: f64) -> &mut Self {
        self.push(std::iter::empty::<String>(), value)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn help(&self) -> &str {
        &self.help
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }
    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }
    pub fn samples_mut(&mut self) -> &mut Vec<Sample> {
        &mut self.samples
    }
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Replaces the help text (used by suppression rules to document themselves).
    pub fn set_help(&mut self, help: impl Into<String>) {
        self.help = help.into();
    }

    /// True if `other` can be merged into this family: same kind, help and label schema.
    pub fn same_schema(&self, other: &Family) -> bool {
        self.kind == other.kind && self.label_names == other.label_names && self.help == other.help
    }

    pub(crate) fn extend_samples(&mut self, other: Family) {
        self.samples.extend(other.samples);
    }
}

/// Merges families that share a name into one group (the exposition formats forbid a
/// family appearing twice) and sorts them by name so output is deterministic.
/// A family that clashes with an earlier one of the same name (other kind, help or labels)
/// is dropped and logged: exposing both would make the whole scrape invalid.
pub fn merge_families(families: impl IntoIterator<Item = Family>) -> Vec<Family> {
    let mut by_name: std::collections::BTreeMap<String, Family> = std::collections::BTreeMap::new();
    for family in families {
        match by_name.get_mut(family.name()) {
            None => {
                by_name.insert(family.name.clone(), family);
            }
            Some(existing) if existing.same_schema(&family) => existing.extend_samples(family),
            Some(existing) => tracing::error!(
                family = %family.name(),
                kept_kind = %existing.kind(),
                dropped_kind = %family.kind(),
                "two collectors exposed the same metric name with different type, help or labels; dropping the second"
            ),
        }
    }
    by_name.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_arity_is_dropped_not_exposed() {
        let mut f = Family::gauge("x", "h").with_labels(["a", "b"]);
        f.push(["1"], 1.0);
        f.push(["1", "2"], 2.0);
        assert_eq!(f.samples().len(), 1);
        assert_eq!(f.samples()[0].value, 2.0);
    }

    #[test]
    fn merge_groups_same_name_and_drops_clashes() {
        let mut a = Family::gauge("m", "help").with_labels(["p"]);
        a.push(["a"], 1.0);
        let mut b = Family::gauge("m", "help").with_labels(["p"]);
        b.push(["b"], 2.0);
        let mut clash = Family::counter("m", "help").with_labels(["p"]);
        clash.push(["c"], 3.0);
        let z = Family::gauge("a_first", "h");
        let merged = merge_families([a, b, clash, z]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].name(), "a_first");
        assert_eq!(merged[1].samples().len(), 2);
        assert_eq!(merged[1].kind(), Kind::Gauge);
    }
}
