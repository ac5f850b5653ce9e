//! ssp-exporter end to end: the real binary polling the Vultr stand-in with the
//! original's config format; exposition checked by golden file and by promtool; failures
//! with and without the original's error codes; no secret in any log line.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e_tests::{ExporterProcess, get_text, sample};
use testbed::ssp::{Answer, PortalSim};

const KEY: &str = "VULTR-KEY-0123456789";

fn golden(name: &str, actual: &str) {
    e2e_tests::assert_golden_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        name,
        actual,
    );
}

fn config(sim: &PortalSim, messages: bool) -> String {
    let messages = if messages {
        "  messages:\n    init: -1000000\n    disabled: -1000001\n    no_answer: -1000002\n    captcha: -1000003\n    cannot_proceed: -1000004\n    rate_limit: -1000005\n    parsing_error: -1000006\n    connection_error: -1000007\n"
    } else {
        ""
    };
    format!(
        "service:\n  metric_name: ssp_balance\n{messages}  user_agents: [test-agent]\nidentifiers:\n  Vultr:\n    - identifier: ops@example.com\n      password: {KEY}\n      base_url: {}\n      poll_interval: 1\n      labels: {{currency: $, description: Hosting}}\n  ArubaCloud:\n    - identifier: ops@example.com\n      password: {KEY}\n      base_url: {}\n      poll_interval: 1\n      labels: {{currency: €, description: Cloud}}\n  AlmatelRussia:\n    - identifier: '1234'\n      password: secret-almatel\n      labels: {{currency: ₽, description: Home}}\n      poll_interval: 1800\n",
        sim.base_url(),
        sim.base_url()
    )
}

fn start(yaml: &str) -> (ExporterProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("exporter.yaml");
    std::fs::write(&path, yaml).expect("write");
    let p = ExporterProcess::start_binary(
        Path::new(env!("CARGO_BIN_EXE_ssp-exporter")),
        "ssp-exporter",
        &["-c", &path.display().to_string(), "--log.level=debug"],
    );
    (p, dir)
}

async fn wait_for(p: &ExporterProcess, series: &str, value: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut body = String::new();
    while Instant::now() < deadline {
        body = get_text(&p.url("/metrics")).await;
        if sample(&body, series) == Some(value) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{series} never became {value}:\n{body}\n{:?}", p.log());
}

fn ssp_lines(body: &str) -> String {
    body.lines()
        .filter(|l| {
            l.contains("ssp_")
                && !l.contains("_timestamp_seconds")
                && !l.contains("duration")
                && !l.contains("ssp_polls_total")
                && !l.contains("ssp_exporter_build_info")
                && !l.contains("ssp_collector")
                && !l.contains("ssp_config")
        })
        .flat_map(|l| [l, "\n"])
        .collect()
}

fn no_secret_in_logs(p: &ExporterProcess) {
    for line in p.log() {
        assert!(
            !line.contains(KEY) && !line.contains("secret-almatel"),
            "secret in a log line: {line}"
        );
    }
}

#[tokio::test]
async fn vultr_balance_one_family_and_the_originals_codes() {
    let sim = PortalSim::start(
        "ops@example.com",
        KEY,
        Answer::Balance {
            balance: -5519.11,
            pending_charges: 57.03,
        },
    )
    .await
    .expect("simulator");
    let (p, _dir) = start(&config(&sim, true));
    let series = "ssp_balance{identifier=\"ops@example.com\",provider=\"Vultr\",poll_interval=\"1\",currency=\"$\",description=\"Hosting\"}";
    wait_for(&p, series, 5519.11).await;
    // Aruba reports its value as is (here the same number from the shared stand-in).
    let body = wait_for(
        &p,
        "ssp_balance{identifier=\"ops@example.com\",provider=\"ArubaCloud\",poll_interval=\"1\",currency=\"€\",description=\"Cloud\"}",
        -5519.11,
    )
    .await;
    golden("portals.prom", &ssp_lines(&body));
    // A failure writes the original's code into the balance.
    sim.set_answer(Answer::RateLimit);
    wait_for(&p, series, -1_000_005.0).await;
    sim.set_answer(Answer::Balance {
        balance: 0.0,
        pending_charges: 0.0,
    });
    // Zero is a balance (the original reported it as a parsing error) – after a backoff.
    wait_for(&p, series, 0.0).await;
    no_secret_in_logs(&p);
}

#[tokio::test]
async fn without_messages_errors_go_to_separate_series() {
    let sim = PortalSim::start(
        "ops@example.com",
        KEY,
        Answer::Balance {
            balance: 13.32,
            pending_charges: 0.0,
        },
    )
    .await
    .expect("simulator");
    let (p, _dir) = start(&config(&sim, false));
    let series = "ssp_balance{identifier=\"ops@example.com\",provider=\"Vultr\",poll_interval=\"1\",currency=\"$\",description=\"Hosting\"}";
    // A positive Vultr balance is money owed.
    wait_for(&p, series, -13.32).await;
    for (answer, reason) in [
        (Answer::Html, "parsing_error"),
        (Answer::Truncated, "parsing_error"),
        (Answer::ServerError, "no_answer"),
        (Answer::BalanceText("oops".into()), "parsing_error"),
    ] {
        sim.set_answer(answer);
        let body = wait_for(
            &p,
            &format!("ssp_last_error_info{{provider=\"Vultr\",identifier=\"ops@example.com\",reason=\"{reason}\"}}"),
            1.0,
        )
        .await;
        // The balance keeps its last good value.
        assert_eq!(sample(&body, series), Some(-13.32));
        assert_eq!(
            sample(
                &body,
                "ssp_up{provider=\"Vultr\",identifier=\"ops@example.com\"}"
            ),
            Some(0.0)
        );
    }
    no_secret_in_logs(&p);
}

#[tokio::test]
async fn exposition_passes_promtool() {
    let sim = PortalSim::start(
        "ops@example.com",
        KEY,
        Answer::Balance {
            balance: -1.0,
            pending_charges: 0.5,
        },
    )
    .await
    .expect("simulator");
    let (p, _dir) = start(&config(&sim, true));
    let body = wait_for(
        &p,
        "ssp_up{provider=\"Vultr\",identifier=\"ops@example.com\"}",
        1.0,
    )
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("metrics.prom");
    std::fs::write(&file, &body).expect("write");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("promtool check metrics < {}", file.display()))
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_originals_sample_config_starts() {
    let sample_config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample_exporter.yaml");
    let (ok, stdout, stderr) = e2e_tests::config_check(
        Path::new(env!("CARGO_BIN_EXE_ssp-exporter")),
        &["-c".as_ref(), sample_config.as_os_str()],
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(
        !stdout.contains("apikey_vultr"),
        "secret printed:\n{stdout}"
    );
}

#[tokio::test]
async fn aruba_credit_and_refused_credentials() {
    let sim = PortalSim::start(
        "ops@example.com",
        KEY,
        Answer::Balance {
            balance: 19.78,
            pending_charges: 0.0,
        },
    )
    .await
    .expect("simulator");
    let (p, _dir) = start(&config(&sim, true));
    let series = "ssp_balance{identifier=\"ops@example.com\",provider=\"ArubaCloud\",poll_interval=\"1\",currency=\"€\",description=\"Cloud\"}";
    wait_for(&p, series, 19.78).await;
    drop(p);
    // The same account with a wrong password: refused, decided as cannot_proceed.
    let wrong = config(&sim, true).replacen(&format!("password: {KEY}\n      base_url: {}\n      poll_interval: 1\n      labels: {{currency: €", sim.base_url()), &format!("password: wrong\n      base_url: {}\n      poll_interval: 1\n      labels: {{currency: €", sim.base_url()), 1);
    assert_ne!(wrong, config(&sim, true));
    let (p, _dir) = start(&wrong);
    wait_for(&p, series, -1_000_004.0).await;
    let body = get_text(&p.url("/metrics")).await;
    assert_eq!(
        sample(
            &body,
            "ssp_last_error_info{provider=\"ArubaCloud\",identifier=\"ops@example.com\",reason=\"cannot_proceed\"}"
        ),
        Some(1.0)
    );
    no_secret_in_logs(&p);
}
