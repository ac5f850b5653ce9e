//! Journal source: real journal files written by systemd-journal-remote, followed while
//! new files appear, resumed by cursor after a restart.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e_tests::sample;
use testbed::reaction::{JournalEntry, write_journal};

use crate::util::{Setup, Source, lines_counted, ready, scrape};

const UNIT: &str = "reaction@reaction.jsonnet.service";

fn entries(start_us: u64, messages: &[&str], unit: &str) -> Vec<JournalEntry> {
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| JournalEntry {
            realtime_us: start_us + i as u64,
            unit: unit.to_owned(),
            message: (*m).to_owned(),
        })
        .collect()
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_journal_files_and_resumes_by_cursor() {
    let journal = tempfile::tempdir().expect("journal dir");
    let m = r#"INFO ssh.failedlogin: match ["198.51.100.1"]"#;
    // History from before the first start is not replayed (as the original).
    write_journal(
        &journal.path().join("a.journal"),
        &entries(now_us() - 10_000_000, &[m, m], UNIT),
    )
    .expect("a");
    let s = Setup::new(
        &Source::Journal {
            unit: UNIT,
            directory: journal.path(),
        },
        "",
    );
    let mut p = s.start();
    ready(&p).await;
    // Give journalctl a moment to be at the tail, then write a new file.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut b = entries(now_us(), &[m, m, m], UNIT);
    b.extend(entries(now_us(), &["from another unit"], "sshd.service"));
    // A new file in the directory, as after a journal rotation.
    write_journal(&journal.path().join("b.journal"), &b).expect("b");
    lines_counted(&p, 3).await;
    let series = r#"reaction_matches_total{stream="ssh",filter="failedlogin",ip="198.51.100.1"}"#;
    assert_eq!(sample(&scrape(&p, "prom").await, series), Some(3.0));

    let status = p.signal("TERM").expect("stops");
    assert!(status.success());
    drop(p);
    write_journal(
        &journal.path().join("a.journal"),
        &entries(now_us(), &[m, m], UNIT),
    )
    .expect("c");
    // More than journalctl's default 10 lines while the exporter is down: all of them
    // are read after the restart, none twice.
    let backlog: Vec<&str> = std::iter::repeat_n(m, 23).collect();
    write_journal(
        &journal.path().join("d.journal"),
        &entries(now_us() + 1000, &backlog, UNIT),
    )
    .expect("d");
    let p = s.start();
    ready(&p).await;
    lines_counted(&p, 28).await;
    assert_eq!(sample(&scrape(&p, "prom").await, series), Some(28.0));
}
