//! What a benchmark reads about a process it started, from `/proc`.

/// utime + stime of a process, in seconds (assumes 100 ticks per second); 0 if unknown.
pub fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let u: f64 = after.get(11)?.parse().ok()?;
            let k: f64 = after.get(12)?.parse().ok()?;
            Some((u + k) / 100.0)
        })
        .unwrap_or(0.0)
}

/// A field of `/proc/<pid>/status` as written there (`VmRSS` → `12345 kB`), or `?`.
pub fn status(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into())
}
