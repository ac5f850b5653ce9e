//! reaction-exporter benchmarks, on the release binary with real inputs on loopback:
//! 1. a 1,000,000-line file backlog with 100,000 distinct IPs: lines per second;
//! 2. a 1,000,000-entry journal backlog (systemd-journal-remote): `/metrics` latency
//!    while it is read;
//! 3. 1,000,000 distinct IPs: resident memory, bounded by `max_series`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bench_util::{Exporter, cpu_seconds, rss_kib};
use testbed::reaction::{JournalEntry, LogGen, StandIn, write_journal};

type Result<T = ()> = std::result::Result<T, String>;

pub fn run(root: &Path) -> Result {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--release", "-p", "reaction-exporter"])
        .current_dir(root)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("build failed".into());
    }
    // BENCH_BIN: profile another build (e.g. one with debug info) with the same inputs.
    let bin = std::env::var_os("BENCH_BIN").map_or_else(
        || root.join("target/release/reaction-exporter"),
        PathBuf::from,
    );
    let dir = std::env::temp_dir().join(format!("bench-reaction-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let only_file = std::env::var_os("BENCH_FILE_ONLY").is_some();
    let result = file_backlog(&bin, &dir, 1_000_000, 100_000, 100_000)
        .and_then(|()| {
            if only_file {
                Ok(())
            } else {
                journal_backlog(&bin, &dir, 1_000)
            }
        })
        .and_then(|()| file_backlog(&bin, &dir.join("distinct"), 1_000_000, 1_000_000, 100_000));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn start(bin: &Path, dir: &Path, logs: &str, extra: &str) -> Result<Exporter> {
    std::fs::create_dir_all(dir.join("state")).map_err(|e| e.to_string())?;
    let standin = StandIn::install(&dir.join("bin")).map_err(|e| e.to_string())?;
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "reaction:\n  logs: {logs}\n  hold: 0\nexporter:\n  reaction_command: '{}'\n  state_directory: '{}'\n  checkpoint_interval: 5s\n{extra}",
            standin.command().display(),
            dir.join("state").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    Exporter::start(bin, &["-c", &config.display().to_string(), "start"])
}

fn lines_total(e: &Exporter) -> Option<u64> {
    let body = e.metrics().ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix("reaction_exporter_log_lines_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// Bytes the process has read with read(2) and friends (`rchar` in /proc/<pid>/io).
fn rchar(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("rchar: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn file_backlog(bin: &Path, dir: &Path, lines: usize, distinct: u32, max_series: usize) -> Result {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let log: PathBuf = dir.join("reaction.log");
    std::fs::write(&log, "").map_err(|e| e.to_string())?;
    let e = start(
        bin,
        dir,
        &format!("{{file: '{}'}}", log.display()),
        &format!("  max_series: {max_series}\n  poll_interval: 50ms\n"),
    )?;
    println!("reaction-exporter idle RSS: {} KiB", rss_kib(e.child.id()));
    // Write the whole backlog first, then let the exporter see it at once.
    let tmp = dir.join("backlog.log");
    {
        let f = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        let mut w = BufWriter::new(f);
        for line in LogGen::new(distinct, 10).take(lines) {
            writeln!(w, "{line}").map_err(|e| e.to_string())?;
        }
    }
    let data = std::fs::read(&tmp).map_err(|e| e.to_string())?;
    let cpu_before = cpu_seconds(e.child.id());
    let rchar_before = rchar(e.child.id());
    let t0 = Instant::now();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(&data))
        .map_err(|e| e.to_string())?;
    // Progress without scraping (a scrape of 100,000 series costs more than counting):
    // the bytes the exporter has read, from /proc/<pid>/io. Each batch of lines is
    // counted right after it is read.
    while rchar(e.child.id()).saturating_sub(rchar_before) < data.len() as u64 {
        if t0.elapsed() > Duration::from_secs(600) {
            return Err("backlog not read after 10 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(e.child.id()) - cpu_before;
    // Then confirm the count, and time a few scrapes of the result.
    let mut scrapes = Vec::new();
    loop {
        let s = Instant::now();
        let n = lines_total(&e).unwrap_or(0);
        scrapes.push(s.elapsed().as_secs_f64() * 1e3);
        if n as usize >= lines && scrapes.len() >= 3 {
            break;
        }
        if t0.elapsed() > Duration::from_secs(600) {
            return Err(format!("only {n} of {lines} lines counted"));
        }
    }
    scrapes.sort_by(f64::total_cmp);
    println!(
        "file backlog: {lines} lines, {distinct} distinct IPs, max_series {max_series}: read and counted in {secs:.2} s = {:.0} lines/s ({cpu:.2} s CPU); a scrape afterwards: median {:.0} ms; RSS after: {} KiB",
        lines as f64 / secs,
        scrapes[scrapes.len() / 2],
        rss_kib(e.child.id())
    );
    Ok(())
}

fn journal_backlog(bin: &Path, dir: &Path, distinct: u32) -> Result {
    let jdir = dir.join("journal");
    std::fs::create_dir_all(&jdir).map_err(|e| e.to_string())?;
    let file = jdir.join("system.journal");
    let now_us = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    };
    let entry = |i: u64, msg: String| JournalEntry {
        realtime_us: now_us() + i,
        unit: "reaction.service".into(),
        message: msg,
    };
    write_journal(
        &file,
        &[entry(0, LogGen::new(1, 10).next().unwrap_or_default())],
    )
    .map_err(|e| e.to_string())?;
    let logs = "{systemd: reaction.service}";
    let extra = format!(
        "  journal_directory: '{}'\n  checkpoint_interval: 1s\n",
        jdir.display()
    );
    // First run: take a cursor at the tail (nothing before it is replayed), then stop.
    {
        let e = start(bin, &dir.join("j"), logs, &extra)?;
        write_journal(
            &file,
            &[entry(1, LogGen::new(1, 10).next().unwrap_or_default())],
        )
        .map_err(|e| e.to_string())?;
        let t = Instant::now();
        while lines_total(&e) != Some(1) && t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(1500));
        let _ = Command::new("kill")
            .args(["-TERM", &e.child.id().to_string()])
            .status();
        std::thread::sleep(Duration::from_millis(500));
    }
    let n = 1_000_000usize;
    let t = Instant::now();
    let entries: Vec<JournalEntry> = LogGen::new(distinct, 10)
        .take(n)
        .enumerate()
        .map(|(i, m)| entry(2 + i as u64, m))
        .collect();
    write_journal(&file, &entries).map_err(|e| e.to_string())?;
    println!(
        "journal backlog of {n} entries written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let e = start(bin, &dir.join("j"), logs, &extra)?;
    let t0 = Instant::now();
    let mut latencies = Vec::new();
    loop {
        let s = Instant::now();
        let got = lines_total(&e).unwrap_or(0);
        latencies.push(s.elapsed());
        if got as usize > n {
            break;
        }
        if t0.elapsed() > Duration::from_secs(600) {
            return Err(format!("journal: only {got} of {n} after 10 minutes"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let secs = t0.elapsed().as_secs_f64();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "journal backlog: {n} entries ({distinct} distinct IPs) in {secs:.2} s = {:.0} entries/s; /metrics during it ({} scrapes): median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        n as f64 / secs,
        latencies.len(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
    Ok(())
}
