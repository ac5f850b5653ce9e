//! Polling cost against the portal simulators (HTTPS, every provider's flow with its
//! logins, cookies, CSRF and tokens): 100 identifiers spread over the seven providers.
//! Measures the first round's wall time, the exporter's resident memory once idle, and
//! its CPU per poll while every identifier is polled every 2 s. Run by
//! `cargo xtask bench-ssp`, which passes the release binary: `poll_bench <ssp-exporter>`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use testbed::procstat::{cpu_seconds as cpu, status};
use testbed::ssp::{Answer, PortalSim, Provider};

const IDENTIFIERS: usize = 100;

/// The sum of every `ssp_polls_total` sample.
fn polls(body: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with("ssp_polls_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn config(sim: &PortalSim, ca: &std::path::Path, interval: u64) -> String {
    let mut lists: Vec<String> = vec![String::new(); Provider::ALL.len()];
    for i in 0..IDENTIFIERS {
        let n = i % Provider::ALL.len();
        let disabled = if Provider::ALL[n] == Provider::T2 {
            "      disabled: false\n"
        } else {
            ""
        };
        let _ = write!(
            lists[n],
            "    - identifier: '79{i:09}'\n      password: pw-{i}\n      base_url: {}\n      tls_ca_file: {}\n      poll_interval: {interval}\n{disabled}      labels: {{currency: RUB}}\n",
            sim.base_url(),
            ca.display()
        );
    }
    let mut yaml = String::from("service:\n  user_agents: [bench]\nidentifiers:\n");
    for (p, list) in Provider::ALL.iter().zip(lists) {
        let _ = write!(yaml, "  {}:\n{list}", p.name());
    }
    yaml
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(bin: &str, config: &std::path::Path) -> Result<(Child, String), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Child(
        std::process::Command::new(bin)
            .arg("-c")
            .arg(config)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error")
            .spawn()
            .map_err(|e| format!("{bin}: {e}"))?,
    );
    Ok((child, format!("http://127.0.0.1:{port}/metrics")))
}

async fn metrics(client: &reqwest::Client, url: &str) -> String {
    match client.get(url).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bin = std::env::args()
        .nth(1)
        .ok_or("usage: poll_bench <ssp-exporter>")?;
    let sim = PortalSim::start(true)
        .await
        .map_err(|e| format!("simulator: {e}"))?;
    for i in 0..IDENTIFIERS {
        let p = Provider::ALL[i % Provider::ALL.len()];
        sim.account(
            p,
            &format!("79{i:09}"),
            &format!("pw-{i}"),
            Answer::balance(100.0 + i as f64),
        );
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.cert_pem.as_deref().ok_or("no certificate")?)
        .map_err(|e| e.to_string())?;
    let client = reqwest::Client::new();

    // Phase 1: one round (hourly interval), then idle.
    let path = dir.path().join("hourly.yaml");
    std::fs::write(&path, config(&sim, &ca, 3600)).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let (child, url) = start(&bin, &path)?;
    let pid = child.0.id();
    loop {
        let body = metrics(&client, &url).await;
        if polls(&body) >= IDENTIFIERS as f64 {
            if body
                .lines()
                .any(|l| l.starts_with("ssp_up{") && l.ends_with(" 0"))
            {
                return Err(format!("not every identifier polled successfully:\n{body}"));
            }
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err("the first round did not finish".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let round = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "first round of {IDENTIFIERS} identifiers (process start to the last result): {:.0} ms",
        round.as_secs_f64() * 1e3
    );
    println!(
        "RSS idle after it: {} (peak {})",
        status(pid, "VmRSS"),
        status(pid, "VmHWM")
    );
    drop(child);

    // Phase 2: every identifier every 2 s (±10%); CPU per poll over 20 s.
    let path = dir.path().join("busy.yaml");
    std::fs::write(&path, config(&sim, &ca, 2)).map_err(|e| e.to_string())?;
    let (child, url) = start(&bin, &path)?;
    let pid = child.0.id();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (cpu0, polls0, t0) = (
        cpu(pid),
        polls(&metrics(&client, &url).await),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (cpu1, polls1, t1) = (
        cpu(pid),
        polls(&metrics(&client, &url).await),
        Instant::now(),
    );
    let n = polls1 - polls0;
    println!(
        "{n:.0} polls in {:.1} s ({:.0}/s): exporter CPU {:.2} ms per poll (login flows over TLS included); RSS {}",
        (t1 - t0).as_secs_f64(),
        n / (t1 - t0).as_secs_f64(),
        (cpu1 - cpu0) / n * 1e3,
        status(pid, "VmRSS")
    );
    Ok(())
}
