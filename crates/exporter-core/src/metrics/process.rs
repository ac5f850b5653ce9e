//! The standard `process_*` metrics, read from `/proc/self` like the Go client does.

use super::model::Family;

/// Reads the process metrics; on a system without procfs it returns nothing rather than
/// failing the scrape.
pub fn collect() -> Vec<Family> {
    match read() {
        Ok(families) => families,
        Err(err) => {
            tracing::debug!(%err, "process metrics unavailable");
            Vec::new()
        }
    }
}

fn read() -> procfs::ProcResult<Vec<Family>> {
    let me = procfs::process::Process::myself()?;
    let stat = me.stat()?;
    let ticks = procfs::ticks_per_second() as f64;
    let page = procfs::page_size() as f64;
    let boot = procfs::boot_time_secs()? as f64;

    let mut out = Vec::with_capacity(6);
    let mut cpu = Family::counter(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
    );
    cpu.set((stat.utime + stat.stime) as f64 / ticks);
    out.push(cpu);

    let mut rss = Family::gauge(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
    );
    rss.set(stat.rss as f64 * page);
    out.push(rss);

    let mut virtual_memory = Family::gauge(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
    );
    virtual_memory.set(stat.vsize as f64);
    out.push(virtual_memory);

    let mut start_time = Family::gauge(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
    );
    start_time.set(boot + stat.starttime as f64 / ticks);
    out.push(start_time);

    if let Ok(n) = me.fd_count() {
        let mut fds = Family::gauge("process_open_fds", "Number of open file descriptors.");
        fds.set(n as f64);
        out.push(fds);
    }
    if let Ok(limits) = me.limits()
        && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
    {
        let mut max_fds = Family::gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
        );
        max_fds.set(max as f64);
        out.push(max_fds);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let families = super::collect();
        let rss = families
            .iter()
            .find(|f| f.name() == "process_resident_memory_bytes")
            .expect("rss present on linux");
        assert!(rss.samples()[0].value > 1_000_000.0);
        let start = families
            .iter()
            .find(|f| f.name() == "process_start_time_seconds")
            .expect("start time");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs_f64();
        assert!((now - start.samples()[0].value).abs() < 3600.0);
    }
}
