//! OpenMetrics 1.0 text, written by the prometheus-client crate from a [`Family`] snapshot.
//!
//! The crate's `Collector` trait is the Rust counterpart of Go's const metrics: each scrape
//! encodes what the background collectors last published, so vanished label sets vanish.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::model::{Family, Kind};

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Encodes `parts` (each merged and sorted; no family name in two parts), ending with
/// `# EOF`.
pub fn encode(out: &mut String, parts: &[Arc<Vec<Family>>]) -> Result<(), std::fmt::Error> {
    let mut registry = Registry::default();
    for part in parts {
        registry.register_collector(Box::new(Snapshot(Arc::clone(part))));
    }
    prometheus_client::encoding::text::encode(out, &registry)
}

#[derive(Debug)]
struct Snapshot(Arc<Vec<Family>>);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in self.0.iter() {
            // OpenMetrics has no way to spell an infinite value that this encoder writes
            // ("inf" is not valid), so such samples are left out of this format only.
            let samples: Vec<_> = family
                .samples()
                .iter()
                .filter(|s| !s.value.is_infinite())
                .collect();
            if samples.is_empty() {
                continue;
            }
            let (name, metric_type) = om_name_and_type(family);
            let help = escape_help(family.help());
            let mut metric = encoder.encode_descriptor(name, &help, None, metric_type)?;
            for sample in samples {
                let labels: Vec<(&str, &str)> = family
                    .label_names()
                    .iter()
                    .map(String::as_str)
                    .zip(sample.label_values.iter().map(String::as_str))
                    .collect();
                if matches!(metric_type, MetricType::Info) {
                    // Info labels go straight to encode_info: wrapping them in a family
                    // makes the crate write `{,label=..}`.
                    metric.encode_info(&labels)?;
                } else if labels.is_empty() {
                    encode_value(&mut metric, metric_type, sample.value)?;
                } else {
                    let mut sub = metric.encode_family(&labels)?;
                    encode_value(&mut sub, metric_type, sample.value)?;
                }
            }
        }
        Ok(())
    }
}

fn encode_value(
    encoder: &mut MetricEncoder<'_>,
    metric_type: MetricType,
    value: f64,
) -> Result<(), std::fmt::Error> {
    if matches!(metric_type, MetricType::Counter) {
        encoder.encode_counter::<NoLabelSet, f64, f64>(&value, None)
    } else {
        encoder.encode_gauge(&value)
    }
}

/// The family name and type as OpenMetrics wants them: counters and infos are declared
/// without their sample suffix (the encoder appends `_total` / `_info`). A legacy counter
/// whose name lacks `_total` is declared `unknown` so its sample keeps the exact name.
fn om_name_and_type(family: &Family) -> (&str, MetricType) {
    let name = family.name();
    match family.kind() {
        Kind::Gauge => (name, MetricType::Gauge),
        Kind::Counter => match name.strip_suffix("_total") {
            Some(base) if !base.is_empty() => (base, MetricType::Counter),
            _ => (name, MetricType::Unknown),
        },
        Kind::Info => match name.strip_suffix("_info") {
            Some(base) if !base.is_empty() => (base, MetricType::Info),
            _ => (name, MetricType::Gauge),
        },
    }
}

/// OpenMetrics escapes backslash, newline and double quote in HELP; the crate does not.
fn escape_help(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn om(families: Vec<Family>) -> String {
        let mut out = String::new();
        encode(&mut out, &[Arc::new(families)]).expect("encode");
        out
    }

    #[test]
    fn kinds_and_suffixes() {
        let mut c = Family::counter("a_total", "Counter \"q\".").with_labels(["l"]);
        c.push(["v\"1"], 2.0);
        let mut legacy = Family::counter("oie_disk_r_gbytes", "Legacy.");
        legacy.set(1.25);
        let mut i = Family::info("b_build_info", "Build.").with_labels(["version"]);
        i.push(["1.2.3"], 1.0);
        let mut g = Family::gauge("c", "Gauge.");
        g.set(f64::INFINITY);
        let out = om(vec![c, legacy, i, g]);
        assert_eq!(
            out,
            "# HELP a Counter \\\"q\\\".\n# TYPE a counter\na_total{l=\"v\\\"1\"} 2.0\n\
             # HELP oie_disk_r_gbytes Legacy.\n# TYPE oie_disk_r_gbytes unknown\noie_disk_r_gbytes 1.25\n\
             # HELP b_build Build.\n# TYPE b_build info\nb_build_info{version=\"1.2.3\"} 1\n\
             # EOF\n"
        );
    }
}
