//! Prometheus text exposition format 0.0.4, the format every scraper understands and the
//! one `promtool check metrics` lints. prometheus-client only writes OpenMetrics, so this
//! small encoder walks the same [`Family`] snapshot.

use std::fmt::Write;

use super::model::{Family, Kind};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Encodes `families` (already merged and sorted) into `out`.
pub fn encode(out: &mut String, families: &[Family]) {
    for family in families {
        if family.is_empty() {
            continue;
        }
        let type_name = match family.kind() {
            Kind::Counter => "counter",
            // 0.0.4 has no info type; the Go client exposes build_info as a gauge too.
            Kind::Gauge | Kind::Info => "gauge",
        };
        out.push_str("# HELP ");
        out.push_str(family.name());
        out.push(' ');
        escape_help(out, family.help());
        out.push_str("\n# TYPE ");
        out.push_str(family.name());
        out.push(' ');
        out.push_str(type_name);
        out.push('\n');
        for sample in family.samples() {
            out.push_str(family.name());
            if !family.label_names().is_empty() {
                out.push('{');
                for (i, (name, value)) in family
                    .label_names()
                    .iter()
                    .zip(&sample.label_values)
                    .enumerate()
                {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(name);
                    out.push_str("=\"");
                    escape_label_value(out, value);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            write_value(out, sample.value);
            out.push('\n');
        }
    }
}

fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)` spelling for the special values; integral
/// values without a fraction; everything else in Rust's shortest round-trip form.
pub(crate) fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_help_type_labels_and_escapes() {
        let mut g = Family::gauge("x_bytes", "Bytes \\ of\nthings.").with_labels(["a", "b"]);
        g.push(["q\"uote", "back\\slash\nnl"], 1.5);
        let mut c = Family::counter("y_total", "Count.");
        c.set(3.0);
        let mut i = Family::info("z_build_info", "Build.").with_labels(["version"]);
        i.push(["1.0"], 1.0);
        let empty = Family::gauge("never", "Nothing.");
        let mut out = String::new();
        encode(&mut out, &[g, c, i, empty]);
        assert_eq!(
            out,
            "# HELP x_bytes Bytes \\\\ of\\nthings.\n# TYPE x_bytes gauge\n\
             x_bytes{a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\"} 1.5\n\
             # HELP y_total Count.\n# TYPE y_total counter\ny_total 3\n\
             # HELP z_build_info Build.\n# TYPE z_build_info gauge\nz_build_info{version=\"1.0\"} 1\n"
        );
    }

    #[test]
    fn special_values() {
        let cases = [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (-0.25, "-0.25"),
            (1e20, "100000000000000000000"),
            (1e-7, "0.0000001"),
            (-3.0, "-3"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            write_value(&mut s, v);
            assert_eq!(s, want);
        }
    }
}
