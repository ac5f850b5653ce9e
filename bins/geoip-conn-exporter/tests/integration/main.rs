//! geoip-conn-exporter end to end: real TCP connections between two network namespaces
//! (addresses from documentation ranges), a real MaxMind-format database written at test
//! time, the real binary counting the connections of one namespace over netlink, scraped
//! over HTTP and checked against a golden exposition. Needs root and iproute2.

mod lab;

use std::path::Path;
use std::time::{Duration, Instant};

use e2e_tests::{ExporterProcess, get_text, sample};

use crate::lab::Lab;

const BIN: &str = env!("CARGO_BIN_EXE_geoip-conn-exporter");

fn golden(name: &str, actual: &str) {
    e2e_tests::assert_golden_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        name,
        actual,
    );
}

fn start(config: &Path, extra: &[&str]) -> ExporterProcess {
    let config = config.display().to_string();
    let mut args = vec!["--config.file", config.as_str()];
    args.extend_from_slice(extra);
    ExporterProcess::start_binary(
        Path::new(env!("CARGO_BIN_EXE_geoip-conn-exporter")),
        "geoip-conn-exporter",
        &args,
    )
}

/// Scrapes until `series` has `value` (collections run every second).
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
    panic!(
        "{series} never reached {value}; last scrape:\n{body}\nlog:\n{}",
        p.log().join("\n")
    );
}

/// Only the families this exporter computes from the connections.
fn connection_lines(body: &str) -> String {
    body.lines()
        .filter(|l| {
            [
                "geoip_conn_connections",
                "geoip_conn_excluded",
                "geoip_conn_namespace",
                "job_location",
            ]
            .iter()
            .any(|p| l.contains(p))
        })
        .flat_map(|l| [l, "\n"])
        .collect()
}

#[tokio::test]
async fn counts_by_country_and_direction_with_exclusions() {
    let lab = Lab::new();
    let config = lab.config("labels: {local_port: true}\nblacklist: ['198.51.100.2']\n");
    // -blacklist and -interval in the original's Go spelling; the flag replaces the
    // file's list (command line over file, as for every key).
    let p = start(
        &config,
        &["-interval=1", "-blacklist=192.0.2.0/24,203.0.113.99"],
    );
    let body = wait_for(&p, "job_location{location=\"GB\"}", 6.0).await;
    golden("connections.prom", &connection_lines(&body));
}

#[tokio::test]
async fn a_replaced_database_is_used_without_restart() {
    let lab = Lab::new();
    let config =
        lab.config("database_check_interval: 1s\nblacklist: ['192.0.2.0/24', '203.0.113.99']\n");
    let p = start(&config, &["-interval=1"]);
    wait_for(&p, "job_location{location=\"GB\"}", 6.0).await;
    lab.replace_database(&[("203.0.113.0/24", "FR"), ("2001:db8:2::/48", "JP")]);
    let body = wait_for(&p, "job_location{location=\"FR\"}", 6.0).await;
    assert_eq!(sample(&body, "job_location{location=\"GB\"}"), None);
    // The new series, and the old one kept at 0.
    assert_eq!(
        sample(
            &body,
            "geoip_conn_connections{country=\"GB\",direction=\"inbound\",netns=\"host-under-test\"}"
        ),
        Some(0.0)
    );
    assert!(
        p.log().iter().any(|l| l.contains("database reloaded")),
        "{:?}",
        p.log()
    );
}

#[tokio::test]
async fn a_namespace_given_by_pid_is_counted() {
    let lab = Lab::new();
    let mut holder = lab.process_in_host();
    // `ip netns exec` enters the namespace before exec'ing sleep: wait until it has.
    let inode = |path: &str| {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(path).map(|m| m.ino()).ok()
    };
    let host = inode(&lab.host.path().display().to_string());
    let deadline = Instant::now() + Duration::from_secs(5);
    while inode(&format!("/proc/{}/ns/net", holder.id())) != host && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let config = lab.config_for(
        &format!("pid: {}", holder.id()),
        "blacklist: ['192.0.2.0/24', '203.0.113.99']\n",
    );
    let p = start(&config, &["-interval=1"]);
    let body = wait_for(&p, "job_location{location=\"GB\"}", 6.0).await;
    assert_eq!(
        sample(&body, "geoip_conn_namespace_up{netns=\"host-under-test\"}"),
        Some(1.0)
    );
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn the_config_example_is_valid_and_complete() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config-examples/geoip-conn-exporter.yml");
    let (ok, stdout, stderr) = e2e_tests::config_check(
        Path::new(BIN),
        &["--config.file".as_ref(), example.as_os_str()],
    );
    assert!(ok, "{stdout}{stderr}");
    // Every top-level key of the config appears in the example.
    let text = std::fs::read_to_string(&example).expect("read");
    for key in [
        "interval:",
        "blacklist:",
        "exclude:",
        "database:",
        "asn_database:",
        "database_check_interval:",
        "labels:",
        "top_n:",
        "own_namespace:",
        "namespaces:",
        "legacy_metric:",
    ] {
        assert!(text.contains(key), "{key} missing from the example");
    }
}

#[test]
fn bad_config_names_the_file_and_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("bad.yml");
    std::fs::write(&path, "intervall: 5s\n").expect("write");
    let (ok, _, err) = e2e_tests::config_check(
        Path::new(BIN),
        &["--config.file".as_ref(), path.as_os_str()],
    );
    assert!(!ok);
    assert!(
        err.contains("intervall") && err.contains("bad.yml"),
        "{err}"
    );
    let (ok, _, err) = e2e_tests::config_check(Path::new(BIN), &["-blacklist=10.0.0.0/33"]);
    assert!(!ok);
    assert!(err.contains("10.0.0.0/33"), "{err}");
}
