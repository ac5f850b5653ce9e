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
    let (dir, config) =
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
    let file = dir.path().join("m.prom");
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
