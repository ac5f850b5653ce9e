//! ssp-exporter end to end: the real binary polling the portal simulators (HTTPS with a
//! self-signed certificate, cookies, CSRF, tokens) with the original's config format.
//! Every provider meets every answer in one run; the exposition is checked by golden
//! files and promtool, the logs for reasons and for secrets; reloads and schemas too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e_tests::{ExporterProcess, get_text, sample};
use testbed::ssp::{Answer, PortalSim, Provider};

const MESSAGES: &str = "  messages:\n    init: -1000000\n    disabled: -1000001\n    no_answer: -1000002\n    captcha: -1000003\n    cannot_proceed: -1000004\n    rate_limit: -1000005\n    parsing_error: -1000006\n    connection_error: -1000007\n";

/// Seconds a hanging portal is given (the poll's time limit).
const POLL_TIMEOUT: u64 = 10;

fn golden(name: &str, actual: &str) {
    e2e_tests::assert_golden_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        name,
        actual,
    );
}

/// The answers every provider is put through: (case label, answer, the configured
/// password is wrong).
fn cases() -> Vec<(&'static str, Answer, bool)> {
    vec![
        (
            "success",
            Answer::Balance {
                available: 1234.56,
                pending_charges: 57.03,
            },
            false,
        ),
        ("zero", Answer::balance(0.0), false),
        ("negative", Answer::balance(-42.5), false),
        ("wrong_password", Answer::balance(10.0), true),
        ("captcha", Answer::Captcha, false),
        ("rate_limit", Answer::RateLimit, false),
        ("html", Answer::Html, false),
        ("truncated", Answer::Truncated, false),
        ("server_error", Answer::ServerError, false),
        ("hang", Answer::Hang, false),
    ]
}

/// A provider defined in the config, speaking the Freedom portal's JSON API.
const GENERIC: &str = r#"providers:
  FreedomByConfig:
    base_url: BASE
    login:
      method: POST
      path: /lk/api/v1
      json: {method: auth, params: {username: "{identifier}", password: "{password}"}}
      token_pointer: /token
    balance:
      method: POST
      path: /lk/api/v1
      headers: {Ic-Token: "{token}"}
      json: {method: getClient, params: {}}
      json_pointer: /client/billing/balance
"#;

struct Matrix {
    yaml_compat: String,
    yaml_native: String,
    secrets: Vec<String>,
    /// (provider key, identifier) of the hanging accounts.
    hanging: Vec<(String, String)>,
    all: Vec<(String, String)>,
}

/// Registers an account per provider × case with the simulator and writes the
/// exporter's config for them.
fn matrix(sim: &PortalSim, ca_file: &Path) -> Matrix {
    let mut identifiers: BTreeMap<String, String> = BTreeMap::new();
    let mut secrets = Vec::new();
    let mut hanging = Vec::new();
    let mut all = Vec::new();
    let providers: Vec<(String, Provider)> = Provider::ALL
        .iter()
        .map(|p| (p.name().to_owned(), *p))
        .chain([("FreedomByConfig".to_owned(), Provider::Freedom)])
        .collect();
    for (n, (key, provider)) in providers.iter().enumerate() {
        let list = identifiers.entry(key.clone()).or_default();
        for (c, (case, answer, wrong)) in cases().into_iter().enumerate() {
            // Phone-number-shaped, as MegaFon requires; unique per simulator provider.
            let identifier = format!("79{n:02}00000{c:02}");
            let password = format!("pw-{key}-{case}");
            sim.account(*provider, &identifier, &password, answer.clone());
            let configured = if wrong { "not-the-password" } else { &password };
            secrets.push(password.clone());
            let disabled = if *provider == Provider::T2 {
                "      disabled: false\n"
            } else {
                ""
            };
            let base = if key == "FreedomByConfig" {
                String::new()
            } else {
                format!("      base_url: {}\n", sim.base_url())
            };
            let _ = write!(
                list,
                "    - identifier: '{identifier}'\n      password: {configured}\n{base}      tls_ca_file: {}\n      poll_interval: 3600\n{disabled}      labels: {{case: {case}, currency: RUB}}\n",
                ca_file.display()
            );
            if answer == Answer::Hang {
                hanging.push((key.clone(), identifier.clone()));
            }
            all.push((key.clone(), identifier));
        }
    }
    // Certificates: the default (verify against the system's roots) refuses the
    // self-signed portal; `tls_verify: false` (the original's default) accepts it.
    sim.account(
        Provider::Vultr,
        "tls-default",
        "key-tls-default",
        Answer::balance(1.0),
    );
    sim.account(
        Provider::Vultr,
        "tls-off",
        "key-tls-off",
        Answer::balance(2.0),
    );
    if let Some(list) = identifiers.get_mut("Vultr") {
        let _ = write!(
            list,
            "    - identifier: tls-default\n      password: key-tls-default\n      base_url: {base}\n      poll_interval: 3600\n      labels: {{case: tls_default}}\n    - identifier: tls-off\n      password: key-tls-off\n      base_url: {base}\n      tls_verify: false\n      poll_interval: 3600\n      labels: {{case: tls_off}}\n",
            base = sim.base_url()
        );
    }
    all.push(("Vultr".into(), "tls-default".into()));
    all.push(("Vultr".into(), "tls-off".into()));
    let mut body = String::from("identifiers:\n");
    for (key, list) in &identifiers {
        let _ = write!(body, "  {key}:\n{list}");
    }
    let generic = GENERIC.replace("BASE", &sim.base_url());
    let service = |messages: &str| {
        format!(
            "service:\n  metric_name: ssp_balance\n{messages}  user_agents: [test-agent]\n  poll_timeout: {POLL_TIMEOUT}\n{generic}{body}"
        )
    };
    Matrix {
        yaml_compat: service(MESSAGES),
        yaml_native: service(""),
        secrets,
        hanging,
        all,
    }
}

fn start(yaml: &str, extra: &[&str]) -> (ExporterProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("exporter.yaml");
    std::fs::write(&path, yaml).expect("write");
    let path = path.display().to_string();
    let mut args = vec!["-c", &path, "--log.level=debug"];
    args.extend_from_slice(extra);
    let p = ExporterProcess::start_binary(
        Path::new(env!("CARGO_BIN_EXE_ssp-exporter")),
        "ssp-exporter",
        &args,
    );
    (p, dir)
}

fn polled(body: &str, provider: &str, identifier: &str) -> bool {
    sample(
        body,
        &format!(
            "ssp_poll_duration_seconds{{provider=\"{provider}\",identifier=\"{identifier}\"}}"
        ),
    )
    .is_some()
}

/// Waits until every one of `who` has been polled once; returns the exposition.
async fn wait_polled(p: &ExporterProcess, who: &[(String, String)]) -> String {
    let deadline = Instant::now() + Duration::from_secs(POLL_TIMEOUT + 30);
    loop {
        let body = get_text(&p.url("/metrics")).await;
        if who.iter().all(|(pr, id)| polled(&body, pr, id)) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "not all polled:\n{body}\n{:#?}",
            p.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for(p: &ExporterProcess, series: &str, value: Option<f64>) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = get_text(&p.url("/metrics")).await;
        if sample(&body, series) == value {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never became {value:?}:\n{body}\n{:#?}",
            p.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The exposition without what varies from run to run.
fn ssp_lines(body: &str) -> String {
    body.lines()
        .filter(|l| {
            l.contains("ssp_")
                && !l.contains("_timestamp_seconds")
                && !l.contains("duration")
                && !l.contains("ssp_exporter_build_info")
                && !l.contains("ssp_collector")
                && !l.contains("ssp_config")
                && !l.contains("ssp_exporter_")
        })
        .flat_map(|l| [l, "\n"])
        .collect()
}

#[tokio::test]
async fn every_provider_meets_every_answer() {
    let sim = PortalSim::start(true).await.expect("simulator");
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = tmp.path().join("portal-ca.pem");
    std::fs::write(&ca, sim.cert_pem.as_deref().expect("https")).expect("ca");
    let m = matrix(&sim, &ca);
    // Both modes at once against the same portals: the original's codes in the
    // balance, and the separate series.
    let (compat, _d1) = start(&m.yaml_compat, &[]);
    let (native, _d2) = start(&m.yaml_native, &[]);
    let others: Vec<(String, String)> = m
        .all
        .iter()
        .filter(|k| !m.hanging.contains(k))
        .cloned()
        .collect();
    // A hanging portal holds up no one: everyone else is polled while it hangs.
    let body = wait_polled(&compat, &others).await;
    for (provider, identifier) in &m.hanging {
        assert!(
            !polled(&body, provider, identifier),
            "{provider}/{identifier} answered before its time limit"
        );
    }
    let compat_body = wait_polled(&compat, &m.all).await;
    let native_body = wait_polled(&native, &m.all).await;
    golden("matrix-compat.prom", &ssp_lines(&compat_body));
    golden("matrix-native.prom", &ssp_lines(&native_body));
    e2e_tests::assert_promtool_accepts(&compat_body);
    e2e_tests::assert_promtool_accepts(&native_body);

    // Every failure is logged with its reason and the identifier; no secret, session
    // token or CSRF value in any line, at debug level.
    for p in [&compat, &native] {
        let log = p.log();
        for (provider, identifier) in &m.all {
            let failed = sample(
                &native_body,
                &format!("ssp_up{{provider=\"{provider}\",identifier=\"{identifier}\"}}"),
            ) == Some(0.0);
            if failed {
                assert!(
                    log.iter().any(|l| l.contains("poll failed")
                        && l.contains(identifier.as_str())
                        && l.contains("reason=")),
                    "no log line for {provider}/{identifier}:\n{log:#?}"
                );
            }
        }
        for line in &log {
            for s in &m.secrets {
                assert!(!line.contains(s.as_str()), "secret in a log line: {line}");
            }
            for token in [
                "jwt-",
                "csrf-",
                "t2access-",
                "freedom-",
                "wifire-",
                "almatel-",
            ] {
                assert!(!line.contains(token), "session token in a log line: {line}");
            }
        }
        // t2's refusal says why t2 cannot work any more.
        assert!(
            log.iter()
                .any(|l| l.contains("T2RussiaB2C") && l.contains("one-time code")),
            "{log:#?}"
        );
    }
    // Providers with a logout logged out after every login whose poll got an answer,
    // also when the balance step failed; only the hanging ones are left open.
    assert_eq!(
        sim.open_sessions(),
        2 * 2,
        "MegaFon and Wifire hang cases, ×2 exporters"
    );
}

#[tokio::test]
async fn failures_back_off_and_successes_keep_the_interval() {
    let sim = PortalSim::start(false).await.expect("simulator");
    sim.account(Provider::Vultr, "ok", "key-ok", Answer::balance(5.0));
    sim.account(Provider::Vultr, "limited", "key-limited", Answer::RateLimit);
    let yaml = format!(
        "service:\n  user_agents: [t]\nidentifiers:\n  Vultr:\n    - identifier: ok\n      password: key-ok\n      base_url: {b}\n      poll_interval: 1\n    - identifier: limited\n      password: key-limited\n      base_url: {b}\n      poll_interval: 1\n",
        b = sim.base_url()
    );
    let (p, _dir) = start(&yaml, &[]);
    // Eight polls of the healthy account take about 8 s; the rate-limited one waits
    // 2, 4, 8 … s between tries, so it gets at most 3 in that time.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.requests_of(Provider::Vultr, "ok") < 8 {
        assert!(Instant::now() < deadline, "{:#?}", p.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let limited = sim.requests_of(Provider::Vultr, "limited");
    assert!(
        (1..=3).contains(&limited),
        "{limited} tries while rate-limited"
    );
    assert!(
        p.log()
            .iter()
            .any(|l| l.contains("backing off") && l.contains("limited"))
    );
}

#[tokio::test]
async fn the_original_codes_then_recovery() {
    let sim = PortalSim::start(false).await.expect("simulator");
    sim.account(Provider::Aruba, "ops", "pw", Answer::balance(19.78));
    let yaml = format!(
        "service:\n  metric_name: ssp_balance\n{MESSAGES}  user_agents: [t]\nidentifiers:\n  ArubaCloud:\n    - identifier: ops\n      password: pw\n      base_url: {}\n      poll_interval: 1\n      labels: {{currency: €, description: Cloud}}\n",
        sim.base_url()
    );
    let (p, _dir) = start(&yaml, &[]);
    let series = "ssp_balance{identifier=\"ops\",provider=\"ArubaCloud\",poll_interval=\"1\",currency=\"€\",description=\"Cloud\"}";
    wait_for(&p, series, Some(19.78)).await;
    sim.set_answer(Provider::Aruba, "ops", Answer::Html);
    wait_for(&p, series, Some(-1_000_006.0)).await;
    sim.set_answer(Provider::Aruba, "ops", Answer::balance(0.0));
    // Zero is a balance (the original reported it as a parsing error).
    let body = wait_for(&p, series, Some(0.0)).await;
    assert_eq!(
        sample(&body, "ssp_up{provider=\"ArubaCloud\",identifier=\"ops\"}"),
        Some(1.0)
    );
}

#[tokio::test]
async fn sighup_adds_removes_and_changes_identifiers() {
    let sim = PortalSim::start(false).await.expect("simulator");
    for (id, v) in [("a", 1.0), ("b", 2.0), ("c", 3.0)] {
        sim.account(
            Provider::Vultr,
            id,
            &format!("key-{id}"),
            Answer::balance(v),
        );
    }
    let entry = |id: &str, label: &str| {
        format!(
            "    - identifier: {id}\n      password: key-{id}\n      base_url: {}\n      poll_interval: 1\n      labels: {{team: {label}}}\n",
            sim.base_url()
        )
    };
    let yaml = format!(
        "identifiers:\n  Vultr:\n{}{}",
        entry("a", "x"),
        entry("b", "x")
    );
    let (p, dir) = start(&yaml, &[]);
    let series = |id: &str, label: &str| {
        format!(
            "ssp_balance{{identifier=\"{id}\",provider=\"Vultr\",poll_interval=\"1\",team=\"{label}\"}}"
        )
    };
    wait_for(&p, &series("a", "x"), Some(1.0)).await;
    wait_for(&p, &series("b", "x"), Some(2.0)).await;
    let path = dir.path().join("exporter.yaml");
    std::fs::write(
        &path,
        format!(
            "identifiers:\n  Vultr:\n{}{}",
            entry("b", "y"),
            entry("c", "y")
        ),
    )
    .expect("rewrite");
    p.send_signal("HUP");
    let body = wait_for(&p, &series("c", "y"), Some(3.0)).await;
    assert_eq!(sample(&body, &series("b", "y")), Some(2.0), "{body}");
    assert_eq!(sample(&body, &series("b", "x")), None, "{body}");
    assert!(!body.contains("identifier=\"a\""), "{body}");
    // A broken config is refused; the running identifiers go on.
    std::fs::write(
        &path,
        "identifiers:\n  Vultr:\n    - identifier: c\n      pasword: x\n",
    )
    .expect("rewrite");
    p.send_signal("HUP");
    let body = wait_for(&p, "ssp_config_last_reload_successful", Some(0.0)).await;
    assert_eq!(sample(&body, &series("c", "y")), Some(3.0));
    let polls = sim.requests_of(Provider::Vultr, "c");
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.requests_of(Provider::Vultr, "c") <= polls {
        assert!(
            Instant::now() < deadline,
            "polling stopped after a bad reload"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        p.log().iter().any(|l| l.contains("pasword")),
        "the reload error names the key"
    );
}

#[test]
fn the_originals_sample_config_and_schema() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let sample_config = fixtures.join("sample_exporter.yaml");
    let schema = fixtures.join("schema.yaml");
    let bin = Path::new(env!("CARGO_BIN_EXE_ssp-exporter"));
    let (ok, stdout, stderr) = e2e_tests::config_check(
        bin,
        &[
            "-c".as_ref(),
            sample_config.as_os_str(),
            "-s".as_ref(),
            schema.as_os_str(),
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(
        !stdout.contains("apikey_vultr"),
        "secret printed:\n{stdout}"
    );
    // A config the built-in checks accept but the user's schema does not (it requires
    // five providers): refused with the place and the schema's message.
    let tmp = tempfile::tempdir().expect("tmp");
    let only_vultr = tmp.path().join("c.yaml");
    std::fs::write(
        &only_vultr,
        "service:\n  messages: {init: -1, disabled: -2}\n  user_agents: [a]\nidentifiers:\n  Vultr:\n    - identifier: a\n      password: b\n",
    )
    .expect("write");
    let (ok, _, stderr) = e2e_tests::config_check(bin, &["-c".as_ref(), only_vultr.as_os_str()]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = e2e_tests::config_check(
        bin,
        &[
            "-c".as_ref(),
            only_vultr.as_os_str(),
            "-s".as_ref(),
            schema.as_os_str(),
        ],
    );
    assert!(!ok);
    assert!(
        stderr.contains("schema.yaml")
            && stderr.contains("\"AlmatelRussia\" is a required property"),
        "{stderr}"
    );
}

#[test]
fn config_errors_name_the_file_and_the_key() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = Path::new(env!("CARGO_BIN_EXE_ssp-exporter"));
    for (yaml, key) in [
        (
            "identifiers:\n  Vultr:\n    - identifier: a\n      password: b\n      poll_intreval: 5\n",
            "poll_intreval",
        ),
        (
            "identifiers:\n  Vultr:\n    - identifier: a\n      password: b\n      labels: {my-label: x}\n",
            "identifiers.Vultr[0].labels.my-label",
        ),
        (
            "identifiers:\n  Vultr:\n    - identifier: a\n      password: b\n      password_env: B\n",
            "identifiers.Vultr[0]",
        ),
        (
            "providers:\n  Mine:\n    base_url: https://x\n    balance: {path: /b}\nidentifiers:\n  Mine:\n    - identifier: a\n      password: b\n",
            "providers.Mine.balance",
        ),
        ("service:\n  poll_timeout: 0\n", "service.poll_timeout"),
    ] {
        let path = tmp.path().join("bad.yaml");
        std::fs::write(&path, yaml).expect("write");
        let (ok, _, stderr) = e2e_tests::config_check(bin, &["-c".as_ref(), path.as_os_str()]);
        assert!(!ok, "{yaml}");
        assert!(
            stderr.contains(key) && stderr.contains("bad.yaml"),
            "{key}: {stderr}"
        );
    }
}

#[test]
fn the_config_example_is_valid() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config-examples/ssp-exporter.yml");
    let (ok, stdout, stderr) = e2e_tests::config_check(
        Path::new(env!("CARGO_BIN_EXE_ssp-exporter")),
        &["-c".as_ref(), example.as_os_str()],
    );
    assert!(ok, "{stdout}{stderr}");
    let text = std::fs::read_to_string(&example).expect("read");
    for key in [
        "poll_timeout:",
        "password_file:",
        "password_env:",
        "password_command:",
        "base_url:",
        "tls_ca_file:",
        "providers:",
        "token_pointer:",
        "json_pointer:",
    ] {
        assert!(text.contains(key), "the example documents {key}");
    }
}
