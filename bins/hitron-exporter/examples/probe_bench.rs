//! Probe cost against the modem simulator (CGNV4 flow, 1024-bit RSA TLS 1.2, pinned):
//! latency of sequential probes of one modem, then rounds of 100 modems probed at once,
//! and the exporter's resident memory. Run by `cargo xtask bench-hitron`, which passes
//! the release binary: `probe_bench <path-to-hitron-exporter>`.

use std::time::{Duration, Instant};

use testbed::hitron::{HitronSim, Model, Tls};
use testbed::procstat::{self, cpu_seconds as cpu};

const TARGETS: usize = 100;
const PASSWORD: &str = "bench-password";

fn rss(pid: u32) -> (String, String) {
    (
        procstat::status(pid, "VmRSS"),
        procstat::status(pid, "VmHWM"),
    )
}

fn pin(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bin = std::env::args()
        .nth(1)
        .ok_or("usage: probe_bench <hitron-exporter>")?;
    let mut sims = Vec::new();
    for _ in 0..TARGETS {
        sims.push(
            HitronSim::start(Model::Cgnv4, "admin", PASSWORD, Tls::Legacy1024)
                .await
                .map_err(|e| format!("simulator: {e}"))?,
        );
    }
    let fingerprint = pin(sims[0].cert_der.as_deref().ok_or("no certificate")?);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = dir.path().join("hitron.yml");
    std::fs::write(
        &config,
        format!(
            "modules:\n  default:\n    username: admin\n    password: {PASSWORD}\n    fingerprint: '{fingerprint}'\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut child = std::process::Command::new(&bin)
        .arg("--config.file")
        .arg(&config)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=error")
        // 100 probes at once: above the default limit of 40 concurrent requests.
        .arg("--web.max-requests=200")
        .spawn()
        .map_err(|e| format!("{bin}: {e}"))?;
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| e.to_string())?;
    let url = |sim: &HitronSim| {
        format!(
            "http://127.0.0.1:{port}/probe?target=127.0.0.1&_port={}",
            sim.addr.port()
        )
    };
    let started = Instant::now();
    while client
        .get(format!("http://127.0.0.1:{port}/-/ready"))
        .send()
        .await
        .is_err()
    {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            return Err("exporter did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (idle, _) = rss(child.id());

    let probe = |u: String| {
        let client = client.clone();
        async move {
            let t = Instant::now();
            let body = client
                .get(u)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            if !body.contains("probe_success 1") {
                return Err(format!("probe failed:\n{body}"));
            }
            Ok::<f64, String>(t.elapsed().as_secs_f64() * 1e3)
        }
    };
    let mut one = Vec::new();
    let cpu_before = cpu(child.id());
    for _ in 0..200 {
        one.push(probe(url(&sims[0])).await?);
    }
    // The exporter's own work per probe, whatever the simulator costs.
    let cpu_per_probe = (cpu(child.id()) - cpu_before) / 200.0 * 1e3;
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let all: Vec<_> = sims.iter().map(|s| tokio::spawn(probe(url(s)))).collect();
        for h in all {
            h.await.map_err(|e| e.to_string())??;
        }
        rounds.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (after, peak) = rss(child.id());
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "one modem, sequential probes (login, 6 endpoints, logout over TLS 1.2 with a 1024-bit RSA pin): median {:.1} ms end to end (simulator with no added delay, on the same 2 cores); exporter CPU {cpu_per_probe:.1} ms per probe",
        median(&mut one)
    );
    println!(
        "{TARGETS} modems probed at once: median round {:.0} ms, min {:.0} ms",
        median(&mut rounds.clone()),
        rounds.iter().copied().fold(f64::INFINITY, f64::min)
    );
    println!("exporter RSS: idle {idle}, after the rounds {after} (peak {peak})");
    Ok(())
}
