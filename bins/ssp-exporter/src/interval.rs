//! The original's human-readable `poll_interval` label (`1800` → `30m`): units w/d/h/m/s,
//! the first two non-zero units only, and its `rstrip('s')` quirk: a count of exactly one
//! second loses its unit (`1` → `1`, `61` → `1m1`, but `59` → `59s`). Kept exactly,
//! because dashboards and alerts filter on these label values.

pub fn human(seconds: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ];
    let mut rest = seconds;
    let mut parts = Vec::new();
    for (name, size) in UNITS {
        let n = rest / size;
        if n > 0 {
            rest -= n * size;
            // The original singularised by `name.rstrip('s')` when the count is 1.
            let unit = if n == 1 {
                name.trim_end_matches('s')
            } else {
                name
            };
            parts.push(format!("{n}{unit}"));
        }
    }
    parts.into_iter().take(2).collect()
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn the_originals_values() {
        for (s, want) in [
            (1, "1"),
            (59, "59s"),
            (61, "1m1"),
            (1800, "30m"),
            (3600, "1h"),
            (3661, "1h1m"),
            (5400, "1h30m"),
            (86_400, "1d"),
            (90_061, "1d1h"),
            (604_800, "1w"),
        ] {
            assert_eq!(human(s), want, "{s}");
        }
    }
}
