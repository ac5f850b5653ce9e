//! Harness: an in-process exporter on 127.0.0.1 with a fixed collector, and HTTP clients.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use exporter_core::cli::{self, CoreArgs, CoreDefaults};
use exporter_core::exporter::ReloadHandle;
use exporter_core::logging::LogHandle;
use exporter_core::{Collector, Exporter, ExporterInfo, Family, Schedule};

pub const INFO: ExporterInfo = ExporterInfo {
    name: "test-exporter",
    namespace: "test",
    description: "An exporter under test.",
    version: "1.2.3",
    revision: "abcdef",
    rustc_version: "1.0.0",
};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    core: CoreArgs,
}

pub fn core_args(extra: &[&str]) -> CoreArgs {
    let mut args = vec!["test-exporter", "--web.listen-address=127.0.0.1:0"];
    args.extend_from_slice(extra);
    cli::try_parse_from::<Cli>(
        args,
        CoreDefaults {
            listen_address: "127.0.0.1:0",
            log_level: None,
        },
    )
    .expect("test args parse")
    .core
}

/// A collector with a fixed, label-rich snapshot (escaping included).
#[derive(Debug, Clone, Default)]
pub struct Fixed;

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

pub fn fixed_families() -> Vec<Family> {
    let mut balance = Family::gauge(
        "test_balance",
        "Account balance, in the account's currency.",
    )
    .with_labels(["provider", "identifier"]);
    balance.push(["Vultr", "a\"b\\c\nd"], -12.5);
    balance.push(["Aruba", "x"], 0.0);
    let mut total =
        Family::counter("test_requests_total", "Requests handled.").with_labels(["code"]);
    total.push(["200"], 1234.0);
    let mut legacy = Family::counter("test_disk_r_gbytes", "Legacy counter name without _total.");
    legacy.set(1.25);
    let mut info =
        Family::info("test_status_info", "Status of the upstream.").with_labels(["version"]);
    info.push(["2.1.0"], 1.0);
    vec![balance, total, legacy, info]
}

impl Collector for Fixed {
    type Error = Never;
    fn name(&self) -> &'static str {
        "fixed"
    }
    async fn collect(&self) -> Result<Vec<Family>, Never> {
        Ok(fixed_families())
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub reload: ReloadHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn https(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
    }
}

/// Starts an exporter with `extra` flags; `setup` adds collectors or a prober.
pub async fn start(extra: &[&str], setup: impl FnOnce(&mut Exporter)) -> Running {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = core_args(extra);
    let mut exporter =
        Exporter::new(INFO, args, LogHandle::detached(cli::LogLevel::Info)).expect("exporter");
    setup(&mut exporter);
    let bound = exporter.bind().await.expect("bind");
    let addr = bound.local_addrs()[0];
    let reload = bound.reload_handle();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(bound.serve_until(async {
        let _ = rx.await;
    }));
    Running {
        addr,
        reload,
        stop: Some(tx),
        task: Some(task),
    }
}

pub async fn start_fixed(extra: &[&str]) -> Running {
    let r = start(extra, |e| {
        e.collector(Fixed, Schedule::every(Duration::from_secs(60)));
    })
    .await;
    wait_ready(&r).await;
    r
}

pub async fn wait_ready(r: &Running) {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(resp) = client.get(r.url("/-/ready")).send().await
            && resp.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("exporter never became ready");
}

pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client")
}

/// Runs `promtool check metrics` on `text`: `Err` if it cannot parse it (exit 1), else the
/// lint findings (exit 3), one per line, empty when clean.
pub fn promtool_lint(text: &str) -> Result<Vec<String>, String> {
    let (code, output) = pipe("promtool", &["check", "metrics"], text);
    match code {
        Some(0) => Ok(Vec::new()),
        Some(3) => Ok(output.lines().map(str::to_owned).collect()),
        _ => Err(output),
    }
}

/// `promtool check metrics` passes: parses and has no lint findings.
pub fn promtool_check(text: &str) -> Result<(), String> {
    match promtool_lint(text)? {
        lint if lint.is_empty() => Ok(()),
        lint => Err(lint.join("\n")),
    }
}

/// Parses `text` with the Python prometheus_client OpenMetrics parser (strict: requires
/// `# EOF`, rejects interleaved families and bad escapes).
pub fn openmetrics_parse(text: &str) -> Result<(), String> {
    let (code, output) = pipe(
        "python3",
        &[
            "-c",
            "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nfor f in p(sys.stdin.read()):\n    pass\n",
        ],
        text,
    );
    if code == Some(0) { Ok(()) } else { Err(output) }
}

fn pipe(cmd: &str, args: &[&str], input: &str) -> (Option<i32>, String) {
    use std::io::Write;
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd} must be installed (cargo xtask ci installs it): {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Compares `actual` with `tests/golden/<name>`; `UPDATE_GOLDEN=1` rewrites it instead.
pub fn assert_golden(name: &str, actual: &str) {
    e2e_tests::assert_golden_in(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        name,
        actual,
    );
}

pub use e2e_tests::stable_lines;
