//! File source: counting, both metric sets (golden), scrapers that do not steal each
//! other's counts, the reaction stand-in's state, restarts.

use std::time::Duration;

use e2e_tests::sample;

use crate::util::{Setup, Source, golden, lines_counted, ready, scrape};

const LINES: &[&str] = &[
    r#"INFO start command: run ["nft", "-f", "/etc/reaction/nft.conf"]"#,
    r#"INFO ssh: start ["journalctl", "-fu", "ssh.service"]"#,
    r#"INFO ssh.failedlogin: match ["1.2.3.4"]"#,
    r#"INFO ssh.failedlogin: match ["1.2.3.4"]"#,
    r#"INFO ssh.failedlogin: match ["1.2.3.4"]"#,
    r#"INFO ssh.failedlogin.ban: run ["nft" "add" "element" "inet" "reaction" "v4" "{ 1.2.3.4 }"]"#,
    r#"INFO ssh.failedlogin: match ["5.6.7.8"]"#,
    r#"INFO ssh.invaliduser: match ["9.9.9.9", "ro]ot"]"#,
    r#"INFO ssh.invaliduser.notify: run ["logger" "invalid user"]"#,
    r#"INFO web.v2.ai.bots: match ["203.0.113.7"]"#,
    r#"INFO web.v2.ai.bots.ban.long: run ["nft" "add" "element" "inet" "reaction" "v4" "{ 203.0.113.7 }"]"#,
    "ERROR stream web.v2 exited: status 1",
    r#"ERROR stop command: run ["nft", "delete", "table", "inet", "reaction"]: exit code: 1"#,
    "this is not a reaction line",
    "",
    "INFO received SIGTERM, closing streams...",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_every_line_type_in_both_metric_sets() {
    let s = Setup::new(&Source::File, "");
    let p = s.start();
    ready(&p).await;
    s.append(LINES);
    lines_counted(&p, LINES.len() as u64).await;

    let a = scrape(&p, "prometheus-a").await;
    assert_eq!(
        sample(
            &a,
            r#"reaction_matches_total{stream="ssh",filter="failedlogin",ip="1.2.3.4",user=""}"#
        ),
        Some(3.0),
        "{a}"
    );
    // Dotted names split by reaction's own config, not at the first dot.
    assert_eq!(
        sample(
            &a,
            r#"reaction_actions_total{stream="web.v2",filter="ai.bots",action="ban.long",ip="203.0.113.7",user=""}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&a, "reaction_exporter_unparsed_lines_total"),
        Some(2.0)
    );
    assert_eq!(
        sample(&a, r#"reaction_status_info{version="2.2.1",status="1"}"#),
        Some(1.0)
    );
    golden("file_both.prom", &e2e_tests::stable_lines(&a));

    // A second scraper sees the same "since last collection" counts...
    let b = scrape(&p, "prometheus-b").await;
    for series in [
        r#"reaction_match_count{stream="ssh",filter="failedlogin",ip="1.2.3.4",user=""}"#,
        r#"reaction_commands_count{state="stop",command="nft",status="False",code="1"}"#,
    ] {
        assert!(sample(&a, series).is_some(), "{series}");
        assert_eq!(sample(&a, series), sample(&b, series), "{series}");
    }
    // ...and the first one, scraping again, sees nothing new.
    let again = scrape(&p, "prometheus-a").await;
    assert!(!again.contains("reaction_match_count{"), "{again}");
    s.append(&[r#"INFO ssh.failedlogin: match ["1.2.3.4"]"#]);
    lines_counted(&p, LINES.len() as u64 + 1).await;
    let after = scrape(&p, "prometheus-a").await;
    assert_eq!(
        sample(
            &after,
            r#"reaction_match_count{stream="ssh",filter="failedlogin",ip="1.2.3.4",user=""}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &after,
            r#"reaction_matches_total{stream="ssh",filter="failedlogin",ip="1.2.3.4",user=""}"#
        ),
        Some(4.0)
    );

    // Both formats are valid.
    let text = scrape(&p, "validator").await;
    assert!(!text.is_empty());
    let om = e2e_tests::http_client()
        .get(p.url("/metrics"))
        .header("accept", "application/openmetrics-text;version=1.0.0")
        .send()
        .await
        .expect("om")
        .text()
        .await
        .expect("om text");
    assert!(om.ends_with("# EOF\n"));
    // reaction show was asked with the configured socket.
    assert!(
        s.standin
            .calls()
            .contains("show --socket /run/reaction/reaction.sock")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_sets_and_a_reaction_that_is_down() {
    let s = Setup::new(&Source::File, "  metric_set: native\n");
    s.standin
        .fail_show(Some("error: cannot connect to /run/reaction/reaction.sock"))
        .expect("fail");
    let p = s.start();
    ready(&p).await;
    s.append(&LINES[..8]);
    lines_counted(&p, 8).await;
    let body = scrape(&p, "prometheus").await;
    assert!(!body.contains("reaction_match_count"), "native only");
    assert!(body.contains("reaction_matches_total{"));
    assert_eq!(
        sample(&body, r#"reaction_status_info{version="2.2.1",status="0"}"#),
        Some(1.0),
        "{body}"
    );
    assert!(!body.contains("reaction_pending_actions{"));
    // reaction comes back: pending actions appear (2 runs of unban for 1.2.3.4).
    s.standin.fail_show(None).expect("unfail");
    let mut ok = String::new();
    for _ in 0..100 {
        ok = scrape(&p, "prometheus").await;
        if ok.contains("status=\"1\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(
            &ok,
            r#"reaction_pending_actions{stream="ssh",filter="failedlogin",action="unban",ip="1.2.3.4"}"#
        ),
        Some(2.0),
        "{ok}"
    );
    golden("file_native.prom", &e2e_tests::stable_lines(&ok));

    let legacy = Setup::new(&Source::File, "  metric_set: legacy\n");
    let p = legacy.start();
    ready(&p).await;
    legacy.append(&LINES[..8]);
    lines_counted(&p, 8).await;
    let body = scrape(&p, "prometheus").await;
    assert!(!body.contains("reaction_matches_total"), "legacy only");
    // The original's pending value: distinct actions pending for the match.
    assert_eq!(
        sample(
            &body,
            r#"reaction_pending_count{stream="ssh",filter="failedlogin",action="unban",ip="1.2.3.4"}"#
        ),
        Some(1.0),
        "{body}"
    );
    golden("file_legacy.prom", &e2e_tests::stable_lines(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_sigterm_lose_nothing_and_count_nothing_twice() {
    let s = Setup::new(&Source::File, "");
    let series = r#"reaction_matches_total{stream="ssh",filter="failedlogin",ip="10.0.0.1"}"#;
    let batch: Vec<String> = (0..100)
        .map(|_| r#"INFO ssh.failedlogin: match ["10.0.0.1"]"#.to_owned())
        .collect();
    let batch: Vec<&str> = batch.iter().map(String::as_str).collect();

    let mut p = s.start();
    ready(&p).await;
    s.append(&batch);
    lines_counted(&p, 100).await;
    // Wait for a checkpoint that holds all 100, then crash.
    for _ in 0..100 {
        if s.saved_lines() == Some(100) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.saved_lines(), Some(100));
    p.signal("KILL");
    drop(p);
    // Written while the exporter is down: must be read after the restart.
    s.append(&batch[..50]);
    let mut p = s.start();
    ready(&p).await;
    lines_counted(&p, 150).await;
    assert_eq!(sample(&scrape(&p, "prom").await, series), Some(150.0));

    // A clean stop saves at once (no checkpoint wait needed).
    s.append(&batch[..25]);
    lines_counted(&p, 175).await;
    let status = p.signal("TERM").expect("stops");
    assert!(status.success());
    assert_eq!(s.saved_lines(), Some(175));
    drop(p);
    s.append(&batch[..5]);
    let p = s.start();
    ready(&p).await;
    lines_counted(&p, 180).await;
    assert_eq!(sample(&scrape(&p, "prom").await, series), Some(180.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_partial_lines_and_garbage_never_stop_counting() {
    let s = Setup::new(&Source::File, "  max_line_bytes: 1000\n");
    let p = s.start();
    ready(&p).await;
    // Half a line, then the rest: counted once, as one line.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&s.log)
            .expect("open");
        f.write_all(br#"INFO ssh.failedlogin: match ["1.1"#)
            .expect("w");
        f.flush().expect("flush");
        tokio::time::sleep(Duration::from_millis(300)).await;
        f.write_all(b".1.1\"]\n\xff\xfe\n").expect("w");
        f.write_all(&[b'x'; 5000]).expect("w");
        f.write_all(b"\n").expect("w");
    }
    lines_counted(&p, 2).await;
    // Rotation by rename: the rest of the old file, then the new file.
    s.append(&[r#"INFO ssh.failedlogin: match ["1.1.1.1"]"#]);
    std::fs::rename(&s.log, s.dir.path().join("reaction.log.1")).expect("rotate");
    std::fs::write(&s.log, "INFO ssh.failedlogin: match [\"1.1.1.1\"]\n").expect("new file");
    lines_counted(&p, 4).await;
    let body = scrape(&p, "prom").await;
    assert_eq!(
        sample(
            &body,
            r#"reaction_matches_total{stream="ssh",filter="failedlogin",ip="1.1.1.1"}"#
        ),
        Some(3.0),
        "{body}"
    );
    // Invalid UTF-8 and the overlong line: unparsed, counted, not fatal.
    assert_eq!(
        sample(&body, "reaction_exporter_unparsed_lines_total"),
        Some(2.0)
    );
    // Copytruncate, then new lines that reach past the old offset before the next poll.
    std::fs::write(&s.log, "").expect("truncate");
    s.append(&[r#"INFO ssh.failedlogin: match ["2.2.2.2"]"#]);
    lines_counted(&p, 5).await;
}
