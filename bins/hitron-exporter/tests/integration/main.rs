//! hitron-exporter end to end: the real binary probing the modem simulator over HTTPS
//! (self-signed certificate, pinned) and HTTP, with the original's URL parameters and
//! with config modules; golden exposition per model; failures, lock-out, hangs,
//! serialization, logout, and no password in any log line.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use e2e_tests::{ExporterProcess, get_text, sample};
use testbed::hitron::{Faults, HitronSim, Model, Tls};

const PASSWORD: &str = "s3cr3t-Pa55";

fn golden(name: &str, actual: &str) {
    e2e_tests::assert_golden_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        name,
        actual,
    );
}

fn start(config: Option<&str>) -> (ExporterProcess, Option<tempfile::TempDir>) {
    let bin = Path::new(env!("CARGO_BIN_EXE_hitron-exporter"));
    match config {
        None => (
            ExporterProcess::start_binary(bin, "hitron-exporter", &["--log.level=debug"]),
            None,
        ),
        Some(yaml) => {
            let dir = tempfile::tempdir().expect("tmp");
            let path = dir.path().join("hitron.yml");
            std::fs::write(&path, yaml).expect("write");
            let p = ExporterProcess::start_binary(
                bin,
                "hitron-exporter",
                &[
                    "--config.file",
                    &path.display().to_string(),
                    "--log.level=debug",
                ],
            );
            (p, Some(dir))
        }
    }
}

fn sha256_pin(der: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(der)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    let hex = String::from_utf8_lossy(&out.stdout);
    let hex = hex.split_whitespace().next().expect("hash").to_uppercase();
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

async fn probe(p: &ExporterProcess, query: &str) -> (u16, String) {
    let r = e2e_tests::http_client()
        .get(p.url(&format!("/probe?{query}")))
        .header("X-Prometheus-Scrape-Timeout-Seconds", "5")
        .send()
        .await
        .expect("probe");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// The probe's families, without its duration (which changes).
fn stable(body: &str) -> String {
    body.lines()
        .filter(|l| !l.starts_with("probe_duration_seconds"))
        .flat_map(|l| [l, "\n"])
        .collect()
}

fn no_secret_in_logs(p: &ExporterProcess) {
    for line in p.log() {
        assert!(!line.contains(PASSWORD), "password in a log line: {line}");
    }
}

#[tokio::test]
async fn cgnv4_with_url_parameters_and_pin_like_the_original() {
    let sim = HitronSim::start(Model::Cgnv4, "admin", PASSWORD, Tls::Legacy1024)
        .await
        .expect("simulator");
    let pin = sha256_pin(sim.cert_der.as_deref().expect("tls"));
    let (p, _) = start(None);
    let (status, body) = probe(
        &p,
        &format!(
            "address=127.0.0.1&_port={}&usr=admin&pwd={PASSWORD}&fingerprint={pin}",
            sim.addr.port()
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sample(&body, "probe_success"),
        Some(1.0),
        "{body}\n{:?}",
        p.log()
    );
    golden("cgnv4.prom", &stable(&body));
    assert_eq!(sim.counts.logins.load(Ordering::SeqCst), 1);
    assert_eq!(sim.counts.logouts.load(Ordering::SeqCst), 1);
    assert!(!sim.session_open());
    no_secret_in_logs(&p);
}

#[tokio::test]
async fn without_a_fingerprint_it_connects_and_logs_the_one_seen() {
    let sim = HitronSim::start(Model::Cgnv4, "admin", PASSWORD, Tls::Legacy1024)
        .await
        .expect("simulator");
    let pin = sha256_pin(sim.cert_der.as_deref().expect("tls")).to_lowercase();
    let (p, _) = start(None);
    let (_, body) = probe(
        &p,
        &format!(
            "target=127.0.0.1&_port={}&usr=admin&pwd={PASSWORD}",
            sim.addr.port()
        ),
    )
    .await;
    assert_eq!(sample(&body, "probe_success"), Some(1.0), "{body}");
    assert!(
        p.log()
            .iter()
            .any(|l| l.contains("level=warn") && l.contains(&pin)),
        "{:?}",
        p.log()
    );
    no_secret_in_logs(&p);
}

#[tokio::test]
async fn older_firmware_login_is_detected() {
    let sim = HitronSim::start(Model::Cgn3, "cusadmin", PASSWORD, Tls::None)
        .await
        .expect("simulator");
    let (p, _dir) = start(Some(&format!(
        "modules:\n  rogers:\n    scheme: http\n    username: cusadmin\n    password: {PASSWORD}\n"
    )));
    let (_, body) = probe(
        &p,
        &format!("target=127.0.0.1&_port={}&module=rogers", sim.addr.port()),
    )
    .await;
    assert_eq!(
        sample(&body, "probe_success"),
        Some(1.0),
        "{body}\n{:?}",
        p.log()
    );
    assert_eq!(
        sample(
            &body,
            "hitron_cm_bpi_info{auth=\"authorized\",tek=\"operational\"}"
        ),
        Some(1.0)
    );
    assert_eq!(sim.counts.logins.load(Ordering::SeqCst), 1);
    assert_eq!(sim.counts.logouts.load(Ordering::SeqCst), 1);
    no_secret_in_logs(&p);
}

#[tokio::test]
async fn a_required_fingerprint_is_required() {
    let (p, _dir) = start(Some(
        "modules:\n  default:\n    require_fingerprint: true\n",
    ));
    let (status, body) = probe(&p, "target=192.0.2.1&usr=a&pwd=b").await;
    assert_eq!(status, 400);
    assert!(body.contains("requires a fingerprint"), "{body}");
}

#[tokio::test]
async fn coda_without_login_over_http_with_ofdm() {
    let sim = HitronSim::start(Model::Coda, "", "", Tls::None)
        .await
        .expect("simulator");
    let (p, _) = start(Some(
        "modules:\n  coda:\n    scheme: http\n    variant: coda\n",
    ));
    let (status, body) = probe(
        &p,
        &format!("target=127.0.0.1&_port={}&module=coda", sim.addr.port()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(&body, "probe_success"),
        Some(1.0),
        "{body}\n{:?}",
        p.log()
    );
    golden("coda.prom", &stable(&body));
}

#[tokio::test]
async fn wrong_pin_wrong_password_and_lockout_fail_cleanly() {
    let sim = HitronSim::start(Model::Cgnv4, "admin", PASSWORD, Tls::Modern)
        .await
        .expect("simulator");
    let (p, _dir) = start(Some(&format!(
        "modules:\n  default:\n    username: admin\n    password_env: HITRON_TEST_UNSET_VAR\n  home:\n    username: admin\n    password: wrong\n  ok:\n    username: admin\n    password: {PASSWORD}\n"
    )));
    let port = sim.addr.port();
    let wrong_pin = "00".repeat(32);
    let (status, body) = probe(
        &p,
        &format!("target=127.0.0.1&_port={port}&module=ok&fingerprint={wrong_pin}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sample(&body, "probe_success"), Some(0.0));
    assert_eq!(
        sim.counts.logins.load(Ordering::SeqCst),
        0,
        "no login to an unpinned host"
    );

    // Wrong password until the modem locks logins; then no more attempts.
    for _ in 0..=testbed::hitron::LOCKOUT_AFTER {
        let (_, body) = probe(&p, &format!("target=127.0.0.1&_port={port}&module=home")).await;
        assert_eq!(sample(&body, "probe_success"), Some(0.0));
    }
    let metrics = get_text(&p.url("/metrics")).await;
    assert_eq!(
        sample(
            &metrics,
            "hitron_exporter_probe_failures_total{reason=\"wrong_credentials\"}"
        ),
        Some(f64::from(testbed::hitron::LOCKOUT_AFTER))
    );
    assert_eq!(
        sample(
            &metrics,
            "hitron_exporter_probe_failures_total{reason=\"locked_out\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "hitron_exporter_probe_failures_total{reason=\"tls\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    // Locked: the right password is not even tried until the lock-out expires.
    let (_, body) = probe(&p, &format!("target=127.0.0.1&_port={port}&module=ok")).await;
    assert_eq!(sample(&body, "probe_success"), Some(0.0));
    assert_eq!(sim.counts.logins.load(Ordering::SeqCst), 0);
    assert!(
        p.log().iter().any(|l| l.contains("locked out")),
        "{:?}",
        p.log()
    );
    no_secret_in_logs(&p);
}

#[tokio::test]
async fn concurrent_probes_are_serialized_and_always_log_out() {
    let sim = HitronSim::start(Model::Cgnv4, "admin", PASSWORD, Tls::None)
        .await
        .expect("simulator");
    sim.set_faults(Faults {
        delay: Duration::from_millis(20),
        ..Faults::default()
    });
    let (p, _dir) = start(Some(&format!(
        "modules:\n  default:\n    scheme: http\n    username: admin\n    password: {PASSWORD}\n"
    )));
    let q = format!("target=127.0.0.1&_port={}", sim.addr.port());
    let (a, b) = tokio::join!(probe(&p, &q), probe(&p, &q));
    assert_eq!(sample(&a.1, "probe_success"), Some(1.0), "{}", a.1);
    assert_eq!(sample(&b.1, "probe_success"), Some(1.0), "{}", b.1);
    assert_eq!(sim.counts.repeat_logins.load(Ordering::SeqCst), 0);
    assert_eq!(sim.counts.overlapping.load(Ordering::SeqCst), 0);
    assert_eq!(sim.counts.logins.load(Ordering::SeqCst), 2);
    assert_eq!(sim.counts.logouts.load(Ordering::SeqCst), 2);
    no_secret_in_logs(&p);
}

#[tokio::test]
async fn a_hanging_modem_ends_within_the_timeout_and_is_logged_out() {
    let sim = HitronSim::start(Model::Cgnv4, "admin", PASSWORD, Tls::None)
        .await
        .expect("simulator");
    sim.set_faults(Faults {
        hang_data: true,
        ..Faults::default()
    });
    let (p, _dir) = start(Some(&format!(
        "modules:\n  default:\n    scheme: http\n    username: admin\n    password: {PASSWORD}\n    request_timeout: 1s\n"
    )));
    let started = std::time::Instant::now();
    let (status, body) = probe(&p, &format!("target=127.0.0.1&_port={}", sim.addr.port())).await;
    assert_eq!(status, 200);
    assert_eq!(sample(&body, "probe_success"), Some(0.0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The logout is sent even though the data request hung.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sim.counts.logouts.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.counts.logouts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bad_requests_are_400() {
    let (p, _dir) = start(Some(
        "allow_url_credentials: false\nallowed_targets: ['192.168.100.0/24']\n",
    ));
    for (q, want) in [
        ("", "Missing parameter: 'target'"),
        ("target=10.1.1.1", "not in allowed_targets"),
        (
            "target=192.168.100.1&usr=a&pwd=b",
            "credentials in the probe URL are disabled",
        ),
        ("target=192.168.100.1&module=nope", "unknown module"),
        (
            "target=192.168.100.1&ipa_vault_namespace=service:x",
            "not supported",
        ),
        ("target=192.168.100.1&_port=x", "_port"),
    ] {
        let (status, body) = probe(&p, q).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert!(body.contains(want), "{q}: {body}");
    }
}

#[test]
fn the_config_example_is_valid() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config-examples/hitron-exporter.yml");
    let (ok, stdout, stderr) = e2e_tests::config_check(
        Path::new(env!("CARGO_BIN_EXE_hitron-exporter")),
        &["--config.file".as_ref(), example.as_os_str()],
    );
    assert!(ok, "{stdout}{stderr}");
    for key in [
        "modules:",
        "variant:",
        "scheme:",
        "request_timeout:",
        "byte_prefixes:",
        "ofdm:",
        "force_logoff:",
        "require_fingerprint:",
        "password_file:",
        "password_command:",
        "fingerprint:",
        "allow_url_credentials:",
        "allowed_targets:",
        "max_timeout:",
    ] {
        assert!(
            std::fs::read_to_string(&example)
                .expect("read")
                .contains(key),
            "{key}"
        );
    }
}

#[tokio::test]
async fn another_session_is_reported_and_force_ends_it() {
    let sim = HitronSim::start(Model::Cgnv4, "admin", PASSWORD, Tls::None)
        .await
        .expect("simulator");
    sim.occupy_session();
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("pw");
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write");
    let (p, _cfg) = start(Some(&format!(
        "modules:\n  default:\n    scheme: http\n    username: admin\n    password_file: {}\n  cmd:\n    scheme: http\n    username: admin\n    password_command: [printf, '%s', '{PASSWORD}']\n",
        file.display()
    )));
    let q = format!("target=127.0.0.1&_port={}", sim.addr.port());
    let (_, body) = probe(&p, &q).await;
    assert_eq!(sample(&body, "probe_success"), Some(0.0));
    assert_eq!(sim.counts.repeat_logins.load(Ordering::SeqCst), 1);
    assert!(
        p.log().iter().any(|l| l.contains("Repeat Login")),
        "{:?}",
        p.log()
    );
    // force=1 (the original's parameter) logs the other session out; the password comes
    // from the module's file, then from its command.
    let (_, body) = probe(&p, &format!("{q}&force=1")).await;
    assert_eq!(sample(&body, "probe_success"), Some(1.0), "{body}");
    let (_, body) = probe(&p, &format!("{q}&module=cmd")).await;
    assert_eq!(sample(&body, "probe_success"), Some(1.0), "{body}");
    assert_eq!(sim.counts.logins.load(Ordering::SeqCst), 2);
    assert_eq!(sim.counts.logouts.load(Ordering::SeqCst), 2);
    let metrics = get_text(&p.url("/metrics")).await;
    assert_eq!(
        sample(
            &metrics,
            "hitron_exporter_probe_failures_total{reason=\"repeat_login\"}"
        ),
        Some(1.0)
    );
    no_secret_in_logs(&p);
}

/// A real Prometheus scraping /probe with the README's relabel config: the modem becomes
/// the instance, the exporter the address, and nothing secret is in Prometheus' config.
#[tokio::test]
async fn prometheus_scrapes_probe_with_the_documented_relabeling() {
    let sim = HitronSim::start(Model::Cgnv4, "admin", PASSWORD, Tls::None)
        .await
        .expect("simulator");
    let (p, _dir) = start(Some(&format!(
        "modules:\n  home:\n    scheme: http\n    username: admin\n    password: {PASSWORD}\n"
    )));
    let mut job = e2e_tests::Job::new("hitron", sim.addr);
    job.extra = format!(
        "    metrics_path: /probe\n    params:\n      module: [home]\n    relabel_configs:\n      - source_labels: [__address__]\n        target_label: __param_target\n      - source_labels: [__param_target]\n        target_label: instance\n      - target_label: __address__\n        replacement: {}\n",
        p.addr
    );
    let prom = e2e_tests::Prometheus::start(&[job]);
    let got = prom
        .wait_for("hitron_channel_downstream_snr", 8, Duration::from_secs(30))
        .await;
    assert_eq!(got.len(), 8, "{got:?}\n{:?}", p.log());
    assert!(
        got.iter()
            .all(|(m, _)| m["instance"] == sim.addr.to_string() && m["job"] == "hitron"),
        "{got:?}"
    );
    let up = prom
        .wait_for("probe_success == 1", 1, Duration::from_secs(10))
        .await;
    assert_eq!(up.len(), 1);
    no_secret_in_logs(&p);
}
