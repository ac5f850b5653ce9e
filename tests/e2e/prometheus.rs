//! A real Prometheus server scrapes every binary (OpenMetrics negotiated), one of them
//! over TLS with basic auth; the series must arrive through Prometheus' query API.

use std::time::Duration;

use e2e_tests::{EXPORTERS, ExporterProcess, Job, Prometheus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_every_exporter() {
    let procs: Vec<ExporterProcess> = EXPORTERS
        .iter()
        .map(|(bin, _)| ExporterProcess::start(bin, &[]))
        .collect();

    // The same hitron binary again, behind TLS and basic auth, scraped the way a user
    // would configure Prometheus for it.
    let dir = tempfile::tempdir().expect("tmp");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    std::fs::write(dir.path().join("tls.crt"), cert.pem()).expect("write");
    std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).expect("write");
    let hash = bcrypt::hash("scrape-pass", 4).expect("hash");
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: {hash}\n"),
    )
    .expect("write");
    let secured = ExporterProcess::start(
        "hitron-exporter",
        &[&format!("--web.config.file={}", web.display())],
    );

    let mut jobs: Vec<Job> = procs.iter().map(|p| Job::new(&p.name, p.addr)).collect();
    let mut tls_job = Job::new("secured", secured.addr);
    tls_job.target = format!("localhost:{}", secured.addr.port())
        .parse()
        .unwrap_or(secured.addr);
    tls_job.extra = format!(
        "    scheme: https\n    tls_config:\n      ca_file: {}\n      server_name: localhost\n    basic_auth:\n      username: prometheus\n      password: scrape-pass\n",
        dir.path().join("tls.crt").display()
    );
    jobs.push(tls_job);
    let prom = Prometheus::start(&jobs);

    let up = prom
        .wait_for("up == 1", jobs.len(), Duration::from_secs(45))
        .await;
    let mut up_jobs: Vec<String> = up
        .iter()
        .map(|(m, _)| m["job"].as_str().unwrap_or_default().to_owned())
        .collect();
    up_jobs.sort();
    let mut want: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    want.sort();
    assert_eq!(up_jobs, want, "every target scraped successfully");

    for (bin, ns) in EXPORTERS {
        let info = prom
            .wait_for(
                &format!("{ns}_exporter_build_info{{job=\"{bin}\"}}"),
                1,
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(info.len(), 1, "{bin}: build info ingested");
        assert_eq!(info[0].1, 1.0);
        assert_eq!(info[0].0["version"], env!("CARGO_PKG_VERSION"));
        let rss = prom
            .query(&format!("process_resident_memory_bytes{{job=\"{bin}\"}}"))
            .await;
        assert!(
            rss.first().is_some_and(|(_, v)| *v > 0.0),
            "{bin}: process metrics"
        );
    }
    let secured_info = prom
        .query("hitron_exporter_build_info{job=\"secured\"}")
        .await;
    assert_eq!(secured_info.len(), 1, "scraped over TLS with basic auth");
    // OpenMetrics was negotiated: Prometheus keeps the info type's sample name intact and
    // reports no scrape errors.
    let samples = prom.query("scrape_samples_scraped").await;
    assert!(samples.iter().all(|(_, v)| *v > 5.0), "{samples:?}");
}

/// reaction-exporter's counters, as Prometheus stores them: matches read from a log
/// file, labelled by pattern, with the OpenMetrics `_total` suffix intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_ingests_reaction_counters() {
    use std::io::Write;

    let dir = tempfile::tempdir().expect("tmp");
    let standin = testbed::reaction::StandIn::install(&dir.path().join("bin")).expect("stand-in");
    let log = dir.path().join("reaction.log");
    std::fs::write(&log, "").expect("log");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "reaction:\n  logs: {{file: '{}'}}\nexporter:\n  reaction_command: '{}'\n  state_directory: '{}'\n  show_interval: 1s\n  poll_interval: 50ms\n",
            log.display(),
            standin.command().display(),
            dir.path().display()
        ),
    )
    .expect("config");
    let p = ExporterProcess::start(
        "reaction-exporter",
        &["-c", &config.display().to_string(), "start"],
    );
    let prom = Prometheus::start(&[Job::new("reaction", p.addr)]);
    assert_eq!(
        prom.wait_for("up == 1", 1, Duration::from_secs(45))
            .await
            .len(),
        1
    );
    // Lines written once the exporter follows the file.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    for _ in 0..7 {
        writeln!(f, r#"INFO ssh.failedlogin: match ["192.0.2.10"]"#).expect("write");
    }
    drop(f);
    let got = prom
        .wait_for(
            r#"reaction_matches_total{stream="ssh",filter="failedlogin",ip="192.0.2.10"} == 7"#,
            1,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(
        got.len(),
        1,
        "{:?}",
        prom.query("reaction_matches_total").await
    );
    let pending = prom
        .wait_for(
            r#"reaction_pending_actions{ip="1.2.3.4",action="unban"}"#,
            1,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(pending.first().map(|(_, v)| *v), Some(2.0));
}
