//! The HTTP surface: formats, compression, endpoints, limits, probes, reload status.

use std::time::Duration;

use exporter_core::probe::{ProbeError, ProbeRequest, ProbeSettings, Prober};
use exporter_core::{Collector, Family, Schedule};

use crate::util::{self, Never, assert_golden, plain_client, stable_lines};

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_output_is_valid_and_stable() {
    let r = util::start_fixed(&[]).await;
    let resp = plain_client()
        .get(r.url("/metrics"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = resp.text().await.expect("body");
    assert_eq!(
        util::promtool_lint(&body).expect("promtool parses the text format"),
        ["test_disk_r_gbytes counter metrics should have \"_total\" suffix"]
    );
    assert_golden("metrics.prom", &stable_lines(&body));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_output_is_valid_and_stable() {
    let r = util::start_fixed(&[]).await;
    let resp = plain_client()
        .get(r.url("/metrics"))
        .header("accept", PROMETHEUS_ACCEPT)
        .send()
        .await
        .expect("get");
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = resp.text().await.expect("body");
    assert!(body.ends_with("# EOF\n"));
    util::openmetrics_parse(&body).expect("the OpenMetrics parser accepts it");
    assert_golden("metrics.om", &stable_lines(&body));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_only_when_accepted() {
    let r = util::start_fixed(&[]).await;
    let c = plain_client();
    let gz = c
        .get(r.url("/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("get");
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let bytes = gz.bytes().await.expect("body");
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    let plain = c.get(r.url("/metrics")).send().await.expect("get");
    assert!(plain.headers().get("content-encoding").is_none());
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_endpoints() {
    let r = util::start_fixed(&["--web.telemetry-path=/custom"]).await;
    let c = plain_client();
    let get = |p: &str| c.get(r.url(p)).send();
    assert_eq!(get("/-/healthy").await.expect("h").status(), 200);
    assert_eq!(get("/-/ready").await.expect("r").status(), 200);
    assert_eq!(get("/metrics").await.expect("m").status(), 404);
    let custom = get("/custom").await.expect("c").text().await.expect("t");
    assert!(custom.contains("test_balance{"));
    let landing = get("/").await.expect("l").text().await.expect("t");
    assert!(landing.contains("<h1>test-exporter</h1>"), "{landing}");
    assert!(landing.contains("1.2.3"));
    assert!(landing.contains(r#"href="custom""#));
    assert!(landing.contains("<td>fixed</td>"));

    assert_eq!(
        get("/debug/log-level")
            .await
            .expect("g")
            .text()
            .await
            .expect("t"),
        "info\n"
    );
    let set = c
        .post(r.url("/debug/log-level?level=debug"))
        .send()
        .await
        .expect("post");
    assert_eq!(set.status(), 200);
    assert_eq!(
        get("/debug/log-level")
            .await
            .expect("g")
            .text()
            .await
            .expect("t"),
        "debug\n"
    );
    // GET with ?level= changes it too, as in the openstack original.
    let _ = get("/debug/log-level?level=error").await.expect("g");
    assert_eq!(
        get("/debug/log-level")
            .await
            .expect("g")
            .text()
            .await
            .expect("t"),
        "error\n"
    );
    assert_eq!(
        get("/debug/log-level?level=loud")
            .await
            .expect("g")
            .status(),
        400
    );
    r.stop().await;
}

struct Slow(Duration);

impl Collector for Slow {
    type Error = Never;
    fn name(&self) -> &'static str {
        "slow"
    }
    async fn collect(&self) -> Result<Vec<Family>, Never> {
        tokio::time::sleep(self.0).await;
        let mut f = Family::gauge("test_slow", "Slow value.");
        f.set(1.0);
        Ok(vec![f])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_waits_for_first_round_and_metrics_never_wait() {
    let r = util::start(&[], |e| {
        e.collector(
            Slow(Duration::from_secs(600)),
            Schedule::every(Duration::from_secs(900)),
        );
    })
    .await;
    let c = plain_client();
    assert_eq!(
        c.get(r.url("/-/ready")).send().await.expect("r").status(),
        503
    );
    // The hung collector does not block /metrics: self-metrics answer at once.
    let body = tokio::time::timeout(
        Duration::from_secs(5),
        c.get(r.url("/metrics")).send().await.expect("m").text(),
    )
    .await
    .expect("metrics answered while the collector hangs")
    .expect("text");
    assert!(body.contains("test_exporter_build_info{"));
    assert!(!body.contains("test_slow"));
    r.stop().await;
}

#[derive(Debug, thiserror::Error)]
#[error("modem said no")]
struct ProbeFailed;

struct TestProber;

impl Prober for TestProber {
    type Error = ProbeFailed;
    async fn probe(&self, req: ProbeRequest) -> Result<Vec<Family>, ProbeError<ProbeFailed>> {
        match req.get("target") {
            None | Some("") => Err(ProbeError::BadRequest("target parameter is missing".into())),
            Some("fail") => Err(ProbeError::Failed(ProbeFailed)),
            Some("hang") => {
                tokio::time::sleep(Duration::from_secs(600)).await;
                Ok(vec![])
            }
            Some(t) => {
                let mut f =
                    Family::gauge("hitron_test_value", "A probed value.").with_labels(["target"]);
                f.push([t], 42.0);
                let mut m = Family::gauge("hitron_test_timeout_seconds", "The budget given.");
                m.set(req.timeout.as_secs_f64());
                Ok(vec![f, m])
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_answers_success_failure_timeout_and_bad_requests() {
    let r = util::start(&["--web.max-requests=2"], |e| {
        e.prober(TestProber, ProbeSettings::default());
    })
    .await;
    let c = plain_client();
    let ok = c
        .get(r.url("/probe?target=10.0.0.1&module=default"))
        .header("x-prometheus-scrape-timeout-seconds", "10")
        .send()
        .await
        .expect("probe")
        .text()
        .await
        .expect("text");
    util::promtool_check(&ok).expect("probe output is valid");
    assert!(
        ok.contains("hitron_test_value{target=\"10.0.0.1\"} 42\n"),
        "{ok}"
    );
    assert!(ok.contains("hitron_test_timeout_seconds 9.5\n"), "{ok}");
    assert!(ok.contains("probe_success 1\n"));

    let failed = c
        .get(r.url("/probe?target=fail"))
        .send()
        .await
        .expect("probe");
    assert_eq!(failed.status(), 200);
    let failed = failed.text().await.expect("text");
    assert!(failed.contains("probe_success 0\n"));
    assert!(failed.contains("probe_duration_seconds "));

    let bad = c.get(r.url("/probe")).send().await.expect("probe");
    assert_eq!(bad.status(), 400);

    let hang = tokio::time::timeout(
        Duration::from_secs(10),
        c.get(r.url("/probe?target=hang"))
            .header("x-prometheus-scrape-timeout-seconds", "1")
            .send(),
    )
    .await
    .expect("the probe is bounded by the scrape timeout")
    .expect("probe");
    assert!(hang.text().await.expect("t").contains("probe_success 0\n"));

    // Two hung probes hold both request slots: a third request is refused, not queued.
    // (A long scrape timeout keeps them hung however slow this machine is right now.)
    let stuck_probe = || {
        c.get(r.url("/probe?target=hang"))
            .header("x-prometheus-scrape-timeout-seconds", "60")
            .send()
    };
    let a = tokio::spawn(stuck_probe());
    let b = tokio::spawn(stuck_probe());
    let mut refused = false;
    for _ in 0..500 {
        let third = c.get(r.url("/-/healthy")).send().await.expect("third");
        if third.status() == 503 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "--web.max-requests=2 must refuse a third request");
    a.abort();
    b.abort();
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_reload_is_visible_and_recovers() {
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = std::sync::Arc::clone(&fail);
    let r = util::start(&[], move |e| {
        e.on_reload(move || {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                Err("config.yaml: unknown field `foo`".into())
            } else {
                Ok(())
            }
        });
    })
    .await;
    let scrape = || async {
        plain_client()
            .get(r.url("/metrics"))
            .send()
            .await
            .expect("m")
            .text()
            .await
            .expect("t")
    };
    assert!(
        scrape()
            .await
            .contains("test_config_last_reload_successful 1\n")
    );
    r.reload.reload();
    assert!(
        scrape()
            .await
            .contains("test_config_last_reload_successful 0\n")
    );
    fail.store(false, std::sync::atomic::Ordering::SeqCst);
    r.reload.reload();
    assert!(
        scrape()
            .await
            .contains("test_config_last_reload_successful 1\n")
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hooks_run_on_stop() {
    let flushed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&flushed);
    let r = util::start(&[], move |e| {
        e.on_shutdown(move || async move {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        });
    })
    .await;
    assert!(!flushed.load(std::sync::atomic::Ordering::SeqCst));
    r.stop().await;
    assert!(
        flushed.load(std::sync::atomic::Ordering::SeqCst),
        "state flushed on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_metrics_see_who_scrapes() {
    let r = util::start(&[], |e| {
        e.live_metrics(|ctx| {
            let mut f = Family::gauge("test_scraper", "Who asked.").with_labels(["peer", "ua"]);
            f.push(
                [
                    ctx.peer.map(|p| p.to_string()).unwrap_or_default(),
                    ctx.user_agent.clone().unwrap_or_default(),
                ],
                1.0,
            );
            vec![f]
        });
    })
    .await;
    let body = plain_client()
        .get(r.url("/metrics"))
        .header("user-agent", "Prometheus/2.42.0")
        .send()
        .await
        .expect("m")
        .text()
        .await
        .expect("t");
    assert!(
        body.contains(r#"test_scraper{peer="127.0.0.1",ua="Prometheus/2.42.0"} 1"#),
        "{body}"
    );
    r.stop().await;
}
