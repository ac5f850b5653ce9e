//! A reaction-exporter under test: its config, a reaction stand-in, and scraping helpers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e_tests::ExporterProcess;
use testbed::reaction::StandIn;

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub standin: StandIn,
    pub log: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
}

pub enum Source<'a> {
    File,
    Journal { unit: &'a str, directory: &'a Path },
}

impl Setup {
    pub fn new(source: &Source<'_>, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let standin = StandIn::install(&dir.path().join("bin")).expect("stand-in");
        let log = dir.path().join("reaction.log");
        std::fs::write(&log, "").expect("log");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).expect("state dir");
        let logs = match source {
            Source::File => format!("{{file: '{}'}}", log.display()),
            Source::Journal { unit, .. } => format!("{{systemd: '{unit}'}}"),
        };
        let journal_dir = match source {
            Source::Journal { directory, .. } => {
                format!("  journal_directory: '{}'\n", directory.display())
            }
            Source::File => String::new(),
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "reaction:\n  logs: {logs}\n  hold: 0\nexporter:\n  reaction_command: '{}'\n  state_directory: '{}'\n  show_interval: 1s\n  checkpoint_interval: 1s\n  poll_interval: 50ms\n{journal_dir}{extra}",
                standin.command().display(),
                state.display(),
            ),
        )
        .expect("config");
        Self {
            dir,
            standin,
            log,
            state,
            config,
        }
    }

    pub fn start(&self) -> ExporterProcess {
        let config = self.config.display().to_string();
        ExporterProcess::start_binary(
            Path::new(env!("CARGO_BIN_EXE_reaction-exporter")),
            "reaction-exporter",
            &["-c", &config, "start"],
        )
    }

    pub fn append(&self, lines: &[&str]) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("open log");
        for l in lines {
            writeln!(f, "{l}").expect("write");
        }
    }

    /// The saved state's `lines` count (what a checkpoint holds), if any.
    pub fn saved_lines(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.state.join("reaction-exporter.state.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["counters"]["lines"].as_u64()
    }
}

pub async fn scrape(p: &ExporterProcess, scraper: &str) -> String {
    e2e_tests::get_text_as(&p.url("/metrics"), scraper).await
}

/// Waits until `/-/ready` answers 200.
pub async fn ready(p: &ExporterProcess) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = e2e_tests::http_client().get(p.url("/-/ready")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not ready; log:\n{}", p.log().join("\n"));
}

/// Waits until `reaction_exporter_log_lines_total` reaches `n` (as seen by a throwaway
/// scraper name, so no test scraper's baseline moves).
pub async fn lines_counted(p: &ExporterProcess, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = None;
    while Instant::now() < deadline {
        let body = scrape(p, "waiter").await;
        last = e2e_tests::sample(&body, "reaction_exporter_log_lines_total");
        if last == Some(n as f64) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} lines, saw {last:?}; log:\n{}",
        p.log().join("\n")
    );
}

pub fn golden(name: &str, actual: &str) {
    e2e_tests::assert_golden_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        name,
        actual,
    );
}
