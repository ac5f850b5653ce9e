//! openstack-instance-exporter end to end: the real binary reading libvirt's test driver
//! with a Nova-shaped compute node (`tests/fixtures/compute-node.xml`: two running
//! instances with RBD, local and cdrom disks, three NICs, IPv4 and IPv6 fixed IPs, and
//! one shut-off instance). The exposition is checked by golden file (the test driver's
//! counters follow the wall clock, so their values are masked) and by promtool.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e_tests::{ExporterProcess, get_text, sample};

fn uri() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compute-node.xml");
    format!("test://{}", path.display())
}

fn start(extra: &[&str]) -> ExporterProcess {
    let uri = format!("--libvirt.uri={}", uri());
    let mut args = vec![uri.as_str(), "-collection.interval=1s", "--log.level=debug"];
    args.extend_from_slice(extra);
    ExporterProcess::start_binary(
        Path::new(env!("CARGO_BIN_EXE_openstack-instance-exporter")),
        "openstack-instance-exporter",
        &args,
    )
}

/// A config file with `yaml` and the flag that loads it (the directory must live on).
fn conntrack_config(yaml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("oie.yml");
    std::fs::write(&path, yaml).expect("write");
    let flag = format!("--config.file={}", path.display());
    (dir, flag)
}

async fn wait_all(p: &ExporterProcess, series: &[String]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = get_text(&p.url("/metrics")).await;
        if series.iter().all(|s| sample(&body, s).is_some()) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "not all of {series:#?} appeared:\n{body}\n{:#?}",
            p.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for(p: &ExporterProcess, series: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = get_text(&p.url("/metrics")).await;
        if sample(&body, series).is_some() {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never appeared:\n{body}\n{:#?}",
            p.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `oie_` lines; the values of the families that follow the test driver's clock masked.
fn masked(body: &str) -> String {
    const CLOCKED: [&str; 12] = [
        "oie_disk_r_gbytes{",
        "oie_disk_w_gbytes{",
        "oie_disk_r_requests{",
        "oie_disk_w_requests{",
        "oie_net_rx_gbytes{",
        "oie_net_tx_gbytes{",
        "oie_net_rx_pkt_total{",
        "oie_net_tx_pkt_total{",
        "oie_net_rx_er_total{",
        "oie_net_tx_er_total{",
        "oie_net_rx_drp_total{",
        "oie_net_tx_drp_total{",
    ];
    let mut out = String::new();
    for line in body.lines().filter(|l| {
        l.contains("oie_")
            && !l.contains("oie_collector")
            && !l.contains("oie_exporter")
            && !l.contains("oie_config")
    }) {
        if line.starts_with("oie_host_conntrack_read_duration_seconds ") {
            out.push_str("oie_host_conntrack_read_duration_seconds <duration>\n");
        } else if CLOCKED.iter().any(|c| line.starts_with(c)) {
            let (series, value) = line.rsplit_once(' ').unwrap_or((line, ""));
            let v: f64 = value.parse().expect("value");
            assert!(v > 0.0, "{line}");
            out.push_str(series);
            out.push_str(" <clock>\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn compute_node_golden() {
    // Conntrack from an empty namespace, so the host's table does not show.
    let ns = testbed::netns::Netns::new("oie-golden").expect("netns");
    let (_dir, config) =
        conntrack_config(&format!("conntrack:\n  netns: {}\n", ns.path().display()));
    let p = start(&[
        config.as_str(),
        "-read.thresholds=default:500,local:200,ultra:2500",
        "-write.thresholds=vms:900",
    ]);
    let body = wait_for(&p, "oie_host_active_vms").await;
    e2e_tests::assert_golden_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        "compute-node.prom",
        &masked(&body),
    );
    // The shut-off instance is not collected.
    assert!(!body.contains("instance-0000a003"), "{body}");
    assert_eq!(sample(&body, "oie_host_active_vms"), Some(2.0));
    assert_eq!(sample(&body, "oie_host_active_vcpus"), Some(6.0));
    e2e_tests::assert_promtool_accepts(&body);
}

#[tokio::test]
async fn cpu_percent_from_the_second_reading() {
    // The test driver's CPU time is constant: 0 %, exported only with -cpu.min=0.
    let p = start(&["-cpu.min=0"]);
    let series = "oie_cpu_percent{domain=\"instance-0000a002\",instance_uuid=\"0b3f8c1e-5a7d-4c2e-9f10-1a2b3c4d5e02\",user_uuid=\"0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3\",project_uuid=\"2a3b4c5d6e7f48091a2b3c4d5e6f7081\"}";
    let body = wait_for(&p, series).await;
    assert_eq!(sample(&body, series), Some(0.0));
    let q = start(&[]);
    let body = wait_for(&q, "oie_host_active_vms").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let body2 = get_text(&q.url("/metrics")).await;
    assert!(!body.contains("oie_cpu_percent{") && !body2.contains("oie_cpu_percent{"));
}

#[tokio::test]
async fn an_unreachable_libvirt_is_a_failed_collector_not_a_crash() {
    let p = ExporterProcess::start_binary(
        Path::new(env!("CARGO_BIN_EXE_openstack-instance-exporter")),
        "openstack-instance-exporter",
        &[
            "--libvirt.uri=test:///nonexistent/compute-node.xml",
            "-collection.interval=1s",
        ],
    );
    let series = "oie_collector_success{collector=\"libvirt\"}";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = get_text(&p.url("/metrics")).await;
        if sample(&body, series) == Some(0.0) {
            assert!(!body.contains("oie_disk_"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn flags_of_the_original_and_bad_values() {
    let bin = Path::new(env!("CARGO_BIN_EXE_openstack-instance-exporter"));
    let (ok, stdout, stderr) = e2e_tests::config_check(
        bin,
        &[
            "-libvirt.uri=qemu:///system",
            "-static.cache.expiration=1h",
            "-dynamic.cache.expiration=10s",
            "-collection.interval=10s",
            "-default.read.threshold=100",
            "-default.write.threshold=100",
            "-read.thresholds=default:500,local:200,ultra:2500",
            "-cpu.min=10.0",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("ultra: 2500"), "{stdout}");
    let (ok, _, stderr) = e2e_tests::config_check(bin, &["-collection.interval=often"]);
    assert!(!ok);
    assert!(stderr.contains("collection_interval"), "{stderr}");
}

/// Needs root (a network namespace) and conntrack-tools (`conntrack -I`).
#[tokio::test]
async fn conntrack_flows_per_fixed_ip() {
    let ns = testbed::netns::Netns::new("oie-ct").expect("netns");
    let a001: std::net::IpAddr = "10.20.0.11".parse().expect("ip");
    let a002_v6: std::net::IpAddr = "2001:db8:20::12".parse().expect("ip");
    let a002_v4: std::net::IpAddr = "192.168.50.7".parse().expect("ip");
    let remote: std::net::IpAddr = "198.51.100.1".parse().expect("ip");
    let remote6: std::net::IpAddr = "2001:db8::1".parse().expect("ip");
    for port in 0..25 {
        ns.conntrack_insert(a001, remote, 40000 + port, 53)
            .expect("insert");
    }
    // Inbound: the fixed IP is the original destination.
    for port in 0..3 {
        ns.conntrack_insert(remote6, a002_v6, 40000 + port, 443)
            .expect("insert");
    }
    ns.conntrack_insert(a002_v4, remote, 40000, 123)
        .expect("insert");
    // Not a fixed IP of any instance.
    ns.conntrack_insert(remote, "192.0.2.1".parse().expect("ip"), 1, 2)
        .expect("insert");

    let (_dir, config) =
        conntrack_config(&format!("conntrack:\n  netns: {}\n", ns.path().display()));
    let p = start(&[config.as_str(), "-conntrack.min=3"]);
    let series = |domain: &str, uuid: &str, ip: &str, family: &str, project: &str, user: &str| {
        format!(
            "oie_conntrack_ip_total{{domain=\"{domain}\",instance_uuid=\"{uuid}\",ip=\"{ip}\",family=\"{family}\",project_uuid=\"{project}\",user_uuid=\"{user}\"}}"
        )
    };
    let a001_series = series(
        "instance-0000a001",
        "0b3f8c1e-5a7d-4c2e-9f10-1a2b3c4d5e01",
        "10.20.0.11",
        "ipv4",
        "1f2e3d4c5b6a47988776655443322110",
        "9a1b2c3d4e5f40718293a4b5c6d7e8f9",
    );
    let body = wait_for(&p, &a001_series).await;
    assert_eq!(sample(&body, &a001_series), Some(25.0));
    let v6 = series(
        "instance-0000a002",
        "0b3f8c1e-5a7d-4c2e-9f10-1a2b3c4d5e02",
        "2001:db8:20::12",
        "ipv6",
        "2a3b4c5d6e7f48091a2b3c4d5e6f7081",
        "0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3",
    );
    assert_eq!(sample(&body, &v6), Some(3.0), "{body}");
    // One flow: below -conntrack.min.
    assert!(!body.contains("ip=\"192.168.50.7\""), "{body}");
    assert_eq!(sample(&body, "oie_conntrack_flows"), Some(30.0));
    assert_eq!(sample(&body, "oie_conntrack_up"), Some(1.0));
}

#[tokio::test]
async fn a_missing_namespace_fails_conntrack_only() {
    let (_dir, config) = conntrack_config("conntrack:\n  netns: /run/netns/does-not-exist\n");
    let p = start(&[config.as_str()]);
    let body = wait_for(&p, "oie_conntrack_up").await;
    assert_eq!(sample(&body, "oie_conntrack_up"), Some(0.0));
    assert_eq!(sample(&body, "oie_host_active_vms"), Some(2.0));
    assert!(
        p.log()
            .iter()
            .any(|l| l.contains("cannot read conntrack") && l.contains("does-not-exist")),
        "{:#?}",
        p.log()
    );
}

#[test]
fn the_config_example_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config-examples/openstack-instance-exporter.yml");
    let (ok, stdout, stderr) = e2e_tests::config_check(
        Path::new(env!("CARGO_BIN_EXE_openstack-instance-exporter")),
        &["--config.file".as_ref(), example.as_os_str()],
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("ultra: 2500"), "{stdout}");
}

/// Needs root (a network namespace) and conntrack-tools. The four lists served by the
/// feed server on loopback (the custom list from a file), flows inserted in a namespace.
#[tokio::test]
async fn threat_lists_match_flows_and_survive_a_restart_without_network() {
    use testbed::feeds::{FeedServer, Mode, onionoo, spamhaus_json};
    let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
    let ns = testbed::netns::Netns::new("oie-threat").expect("netns");
    // a001 opens 3 flows to a Tor exit's exit address, and gets one from inside a
    // Spamhaus /10 (shorter than the original's /16 buckets).
    for port in 0..3 {
        ns.conntrack_insert(ip("10.20.0.11"), ip("203.0.113.8"), 41000 + port, 443)
            .expect("ct");
    }
    ns.conntrack_insert(ip("100.100.1.1"), ip("10.20.0.11"), 5555, 22)
        .expect("ct");
    // a002: IPv6 to a Spamhaus v6 prefix, IPv4 to an ET address and a custom-list one.
    ns.conntrack_insert(ip("2001:db8:20::12"), ip("2001:db8:f000::9"), 42000, 443)
        .expect("ct");
    ns.conntrack_insert(ip("192.168.50.7"), ip("198.51.100.77"), 42001, 80)
        .expect("ct");
    ns.conntrack_insert(ip("192.168.50.7"), ip("192.0.2.99"), 42002, 80)
        .expect("ct");
    // Listed, but no instance talks to it.
    ns.conntrack_insert(ip("192.0.2.1"), ip("203.0.113.7"), 1, 2)
        .expect("ct");

    let feeds = FeedServer::start().await.expect("feed server");
    feeds.set(
        "/details",
        onionoo(&["203.0.113.7", "2001:db8:7::7"], &["203.0.113.8"]),
    );
    feeds.set(
        "/drop_v4.json",
        spamhaus_json(&["100.64.0.0/10", "1.10.16.0/20"]),
    );
    feeds.set("/drop_v6.json", spamhaus_json(&["2001:db8:f000::/36"]));
    feeds.set(
        "/compromised-ips.txt",
        "# ET\n198.51.100.77\n198.51.100.78\n",
    );
    let dir = tempfile::tempdir().expect("tmp");
    let custom = dir.path().join("custom.txt");
    std::fs::write(&custom, "# ours\n192.0.2.99\n").expect("custom");
    let state = dir.path().join("state");
    let yaml = format!(
        "conntrack:\n  netns: {ns}\nthreat_intel:\n  state_dir: {state}\n  timeout: 2s\n  tor: {{enabled: true, url: '{tor}', refresh: 1s}}\n  spamhaus: {{enabled: true, url: '{v4}', ipv6_url: '{v6}', refresh: 1s}}\n  emergingthreats: {{enabled: true, url: '{et}', refresh: 1s}}\n  customlist: {{enabled: true, path: {custom}, refresh: 1s}}\n",
        ns = ns.path().display(),
        state = state.display(),
        tor = feeds.url("/details?search=flag:exit"),
        v4 = feeds.url("/drop_v4.json"),
        v6 = feeds.url("/drop_v6.json"),
        et = feeds.url("/compromised-ips.txt"),
        custom = custom.display(),
    );
    let (_cfg, flag) = conntrack_config(&yaml);
    let a001 = "domain=\"instance-0000a001\",instance_uuid=\"0b3f8c1e-5a7d-4c2e-9f10-1a2b3c4d5e01\",project_uuid=\"1f2e3d4c5b6a47988776655443322110\",user_uuid=\"9a1b2c3d4e5f40718293a4b5c6d7e8f9\"";
    let a002 = "domain=\"instance-0000a002\",instance_uuid=\"0b3f8c1e-5a7d-4c2e-9f10-1a2b3c4d5e02\",project_uuid=\"2a3b4c5d6e7f48091a2b3c4d5e6f7081\",user_uuid=\"0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3\"";
    let expected = [
        format!("oie_tor_contact{{{a001}}}"),
        format!("oie_spamhaus_contact{{{a001}}}"),
        format!("oie_spamhaus_contact{{{a002}}}"),
        format!("oie_emergingthreats_contact{{{a002}}}"),
        format!("oie_customlist_contact{{{a002}}}"),
    ];
    let check = |body: &str| {
        for series in &expected {
            assert_eq!(sample(body, series), Some(1.0), "{series}\n{body}");
        }
        assert!(
            !body.contains(&format!("oie_tor_contact{{{a002}}}")),
            "{body}"
        );
        assert!(
            !body.contains(&format!("oie_customlist_contact{{{a001}}}")),
            "{body}"
        );
    };
    {
        let p = start(&[flag.as_str()]);
        let body = wait_all(&p, &expected).await;
        check(&body);
        assert_eq!(
            sample(
                &body,
                "oie_threat_contact_flows{domain=\"instance-0000a001\",instance_uuid=\"0b3f8c1e-5a7d-4c2e-9f10-1a2b3c4d5e01\",list=\"tor\",direction=\"outbound\"}"
            ),
            Some(3.0)
        );
        assert_eq!(
            sample(
                &body,
                "oie_threat_contact_flows{domain=\"instance-0000a001\",instance_uuid=\"0b3f8c1e-5a7d-4c2e-9f10-1a2b3c4d5e01\",list=\"spamhaus\",direction=\"inbound\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&body, "oie_threat_list_entries{list=\"spamhaus\"}"),
            Some(3.0)
        );
        // Unchanged lists are answered 304 on the next refreshes.
        let deadline = Instant::now() + Duration::from_secs(20);
        while feeds.not_modified("/compromised-ips.txt") == 0 {
            assert!(Instant::now() < deadline, "no conditional GET");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Garbage keeps the old list, counted as an error.
        feeds.set_mode("/compromised-ips.txt", Mode::Garbage);
        let body = loop {
            let body = get_text(&p.url("/metrics")).await;
            if sample(
                &body,
                "oie_threat_list_refresh_errors_total{list=\"emergingthreats\"}",
            )
            .is_some_and(|n| n >= 1.0)
            {
                break body;
            }
            assert!(Instant::now() < deadline, "{body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        check(&body);
        // A hanging feed (past threat_intel.timeout) and a 500: the same.
        feeds.set_mode("/details", Mode::Hang);
        feeds.set_mode("/drop_v6.json", Mode::ServerError);
        let deadline = Instant::now() + Duration::from_secs(20);
        let body = loop {
            let body = get_text(&p.url("/metrics")).await;
            let errors = |list: &str| {
                sample(
                    &body,
                    &format!("oie_threat_list_refresh_errors_total{{list=\"{list}\"}}"),
                )
                .unwrap_or(0.0)
            };
            if errors("tor") >= 1.0 && errors("spamhaus") >= 1.0 {
                break body;
            }
            assert!(Instant::now() < deadline, "{body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        check(&body);
        // Each hit is logged once, in the original's form, however many cycles saw it.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let log = p.log();
        let tor_hits: Vec<&String> = log
            .iter()
            .filter(|l| l.contains("[THREAT] TOR-HIT"))
            .collect();
        assert_eq!(tor_hits.len(), 1, "{log:#?}");
        assert!(
            tor_hits[0].contains("ip=203.0.113.8") && tor_hits[0].contains("direction=dst"),
            "{}",
            tor_hits[0]
        );
    }
    // The feed server is gone: a new process matches from the disk copies.
    drop(feeds);
    let p = start(&[flag.as_str()]);
    let body = wait_all(&p, &expected).await;
    check(&body);
    // The downloads fail (counted) and the disk copies stay in use.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = get_text(&p.url("/metrics")).await;
        if sample(&body, "oie_threat_list_refresh_errors_total{list=\"tor\"}")
            .is_some_and(|n| n >= 1.0)
        {
            check(&body);
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Root without CAP_NET_ADMIN (util-linux `setpriv` drops it): the dump is refused,
/// the log says which capability is missing, and the libvirt metrics go on.
#[tokio::test]
async fn without_cap_net_admin_conntrack_says_why() {
    let bin = env!("CARGO_BIN_EXE_openstack-instance-exporter");
    let uri = format!("--libvirt.uri={}", uri());
    let p = ExporterProcess::start_binary(
        Path::new("/usr/bin/setpriv"),
        "openstack-instance-exporter",
        &[
            "--inh-caps=-net_admin",
            "--bounding-set=-net_admin",
            bin,
            uri.as_str(),
            "-collection.interval=1s",
            // The harness finds the address in the info-level "listening" line.
            "--log.level=info",
        ],
    );
    let body = wait_for(&p, "oie_conntrack_up").await;
    assert_eq!(sample(&body, "oie_conntrack_up"), Some(0.0));
    assert_eq!(sample(&body, "oie_host_active_vms"), Some(2.0));
    let log = p.log();
    let lines: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("cannot read conntrack"))
        .collect();
    assert_eq!(lines.len(), 1, "said once, not every cycle: {log:#?}");
    assert!(lines[0].contains("CAP_NET_ADMIN"), "{}", lines[0]);
}
