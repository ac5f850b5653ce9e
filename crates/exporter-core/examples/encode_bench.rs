//! Encoding cost of a large snapshot in both formats, run by `cargo xtask bench`.
//!
//! 500 "domains" x 20 series = 10,000 samples with 5 labels each, about the size of a
//! busy openstack compute node. Prints the median of repeated runs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use exporter_core::metrics::{Family, merge_families, openmetrics, text};

fn snapshot() -> Vec<Family> {
    let mut families = Vec::new();
    for f in 0..20 {
        let mut fam = Family::gauge(format!("bench_metric_{f}_bytes"), "A benchmark family.")
            .with_labels(["domain", "instance_uuid", "project_uuid", "disk", "type"]);
        for d in 0..500 {
            fam.push(
                [
                    format!("instance-{d:08x}"),
                    format!("{d:08x}-1111-2222-3333-444455556666"),
                    "f5b1c7e2-aaaa-bbbb-cccc-ddddeeeeffff".to_owned(),
                    format!("vd{}", char::from(b'a' + (d % 4) as u8)),
                    "local".to_owned(),
                ],
                f64::from(d) * 1234.5,
            );
        }
        families.push(fam);
    }
    merge_families(families)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), std::fmt::Error> {
    let families = Arc::new(snapshot());
    let samples: usize = families.iter().map(|f| f.samples().len()).sum();
    let runs = 50;
    let mut text_ms = Vec::new();
    let mut om_ms = Vec::new();
    let mut size = (0, 0);
    for _ in 0..runs {
        let t = Instant::now();
        let mut out = String::with_capacity(2 << 20);
        text::encode(&mut out, &families);
        text_ms.push(t.elapsed().as_secs_f64() * 1e3);
        size.0 = black_box(out).len();

        let t = Instant::now();
        let mut out = String::with_capacity(2 << 20);
        openmetrics::encode(&mut out, &[Arc::clone(&families)])?;
        om_ms.push(t.elapsed().as_secs_f64() * 1e3);
        size.1 = black_box(out).len();
    }
    println!("encode {samples} samples, median of {runs} runs:");
    println!(
        "  text 0.0.4:  {:.2} ms ({} bytes)",
        median(text_ms),
        size.0
    );
    println!("  OpenMetrics: {:.2} ms ({} bytes)", median(om_ms), size.1);
    Ok(())
}
