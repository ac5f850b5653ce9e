//! The two encoders on edge cases, checked by the real parsers and pinned by golden files.

use std::sync::Arc;

use exporter_core::metrics::{Family, merge_families, openmetrics, text};

use crate::util::{
    assert_golden, fixed_families, openmetrics_parse, promtool_check, promtool_lint,
};

fn edge_families() -> Vec<Family> {
    let mut fams = fixed_families();
    let mut special = Family::gauge("test_special_values", "NaN, large, tiny and negative zero.")
        .with_labels(["case"]);
    special.push(["nan"], f64::NAN);
    special.push(["large"], 1.5e300);
    special.push(["tiny"], 2.5e-12);
    special.push(["utf8"], 3.0);
    special.push(["neg_zero"], -0.0);
    fams.push(special);
    let mut unicode = Family::gauge(
        "test_unicode",
        "Label values in UTF-8: «ключ» 鍵 \"quoted\" back\\slash.",
    )
    .with_labels(["name"]);
    unicode.push(["Мегафон ✓"], 1.0);
    fams.push(unicode);
    // An empty family is left out of both formats rather than written without samples.
    fams.push(Family::gauge("test_empty", "No samples."));
    merge_families(fams)
}

#[test]
fn text_encoder_golden_and_promtool() {
    let mut out = String::new();
    text::encode(&mut out, &edge_families());
    // Valid; the one lint finding is the deliberate legacy counter name.
    assert_eq!(
        promtool_lint(&out).expect("promtool parses it"),
        ["test_disk_r_gbytes counter metrics should have \"_total\" suffix"]
    );
    assert_golden("encoders.prom", &out);
}

#[test]
fn openmetrics_encoder_golden_and_parser() {
    let mut out = String::new();
    openmetrics::encode(&mut out, &[Arc::new(edge_families())]).expect("encode");
    openmetrics_parse(&out).expect("OpenMetrics parser");
    assert_golden("encoders.om", &out);
}

#[test]
fn validators_reject_broken_expositions() {
    // Guards against validators that accept anything: the ssp original's duplicate HELP.
    let dup = "# HELP ssp_balance b\n# TYPE ssp_balance gauge\nssp_balance{provider=\"a\"} 1\n# HELP ssp_balance b\n# TYPE ssp_balance gauge\nssp_balance{provider=\"b\"} 2\n";
    assert!(promtool_check(dup).is_err());
    assert!(
        openmetrics_parse("# TYPE a gauge\na 1\n").is_err(),
        "missing # EOF"
    );
}
