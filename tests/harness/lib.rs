//! End-to-end harness shared by the workspace tests: start a real exporter binary on
//! loopback, start a real Prometheus server that scrapes it, and query Prometheus' HTTP
//! API. Each exporter's end-to-end test builds on this.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Path of a workspace binary, built (once per test process) if needed.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--bins"])
            .current_dir(workspace())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --bins failed");
    });
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from)
        .join("debug")
        .join(name)
}

/// A running exporter process, killed on drop.
pub struct ExporterProcess {
    child: Child,
    pub addr: SocketAddr,
    pub name: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The process's working directory, removed on drop.
    pub workdir: tempfile::TempDir,
}

impl ExporterProcess {
    /// Starts `name` with `args` plus `--web.listen-address=127.0.0.1:0` (and
    /// `--log.level=info` unless `args` set a level), and waits for its "listening" log
    /// line to learn the port.
    pub fn start(name: &str, args: &[&str]) -> Self {
        Self::start_binary(&binary(name), name, args)
    }

    /// Like [`start`](Self::start) with an explicit binary path (a package's own
    /// integration tests pass `env!("CARGO_BIN_EXE_<name>")`).
    pub fn start_binary(path: &Path, name: &str, args: &[&str]) -> Self {
        let workdir = tempfile::tempdir().expect("workdir");
        let mut cmd = Command::new(path);
        // A scratch working directory: exporters that keep state there keep it out of the repo.
        cmd.current_dir(workdir.path());
        if !args.iter().any(|a| a.contains("log.level")) {
            cmd.arg("--log.level=info");
        }
        let mut child = cmd
            .args(args)
            .arg("--web.listen-address=127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let listening = line.contains("message=listening").then(|| line.clone());
                // Logged first, so that whoever learns the address also finds the line.
                sink.lock().expect("log").push(line);
                if let Some(l) = listening {
                    let _ = tx.send(l);
                }
            }
        });
        let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
            std::thread::sleep(Duration::from_millis(100));
            let status = child.try_wait().ok().flatten();
            panic!(
                "{name} did not report its listen address (exit: {status:?}); its log:\n{}",
                log.lock().expect("log").join("\n")
            );
        };
        let addr = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("address="))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Self {
            child,
            addr,
            name: name.to_owned(),
            log,
            workdir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything the process logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    /// Sends a signal (`HUP`, `TERM`...) with kill(1).
    pub fn send_signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status();
    }

    /// Sends a signal and waits up to 10 s for the process to exit.
    pub fn signal(&mut self, signal: &str) -> Option<std::process::ExitStatus> {
        self.send_signal(signal);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ExporterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (for programs that cannot report an ephemeral port).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One scrape job for [`Prometheus::start`].
pub struct Job {
    pub name: String,
    pub target: SocketAddr,
    /// Extra YAML lines for the job (scheme, tls_config, basic_auth, metrics_path...),
    /// each indented by four spaces.
    pub extra: String,
}

impl Job {
    pub fn new(name: &str, target: SocketAddr) -> Self {
        Self {
            name: name.to_owned(),
            target,
            extra: String::new(),
        }
    }
}

/// A real Prometheus server (Debian's `prometheus`) on loopback, killed on drop.
pub struct Prometheus {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    pub fn start(jobs: &[Job]) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        for job in jobs {
            let _ = write!(
                config,
                "  - job_name: {}\n{}    static_configs:\n      - targets: ['{}']\n",
                job.name, job.extra, job.target
            );
        }
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write config");
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus must be installed (cargo xtask deps)");
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    /// Runs an instant query; returns `(metric labels, value)` pairs.
    pub async fn query(&self, expr: &str) -> Vec<(serde_json::Value, f64)> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let _ = rustls::crypto::ring::default_provider().install_default();
        let Ok(resp) = reqwest::Client::new()
            .get(url)
            .query(&[("query", expr)])
            .send()
            .await
        else {
            return Vec::new();
        };
        let Ok(body) = resp.json::<serde_json::Value>().await else {
            return Vec::new();
        };
        body["data"]["result"]
            .as_array()
            .map(|results| {
                results
                    .iter()
                    .map(|r| {
                        let v = r["value"][1]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(f64::NAN);
                        (r["metric"].clone(), v)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Polls `expr` until it returns at least `n` results or `timeout` passes.
    pub async fn wait_for(
        &self,
        expr: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<(serde_json::Value, f64)> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.query(expr).await;
            if r.len() >= n || Instant::now() > deadline {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The five exporters with their metric namespaces.
pub const EXPORTERS: &[(&str, &str)] = &[
    ("ssp-exporter", "ssp"),
    ("geoip-conn-exporter", "geoip_conn"),
    ("reaction-exporter", "reaction"),
    ("openstack-instance-exporter", "oie"),
    ("hitron-exporter", "hitron"),
];

/// Compares with `tests/golden/<name>`; `UPDATE_GOLDEN=1` rewrites it.
pub fn assert_golden(name: &str, actual: &str) {
    assert_golden_in(&workspace().join("tests/golden"), name, actual);
}

/// Compares with `<dir>/<name>`; `UPDATE_GOLDEN=1` rewrites it.
pub fn assert_golden_in(dir: &Path, name: &str, actual: &str) {
    let path = dir.join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    assert!(
        expected == actual,
        "{} differs (UPDATE_GOLDEN=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// The lines of an exposition that do not change between runs: without process
/// metrics, timestamps, durations and build info (its revision changes every commit).
pub fn stable_lines(exposition: &str) -> String {
    exposition
        .lines()
        .filter(|l| {
            !(l.contains("process_")
                || l.contains("_timestamp_seconds")
                || l.contains("_duration_seconds")
                || l.contains("_build_info"))
        })
        .flat_map(|l| [l, "\n"])
        .collect()
}

/// Asserts that `promtool check metrics` (Prometheus's own parser and linter) accepts
/// the exposition; its stdin is fed directly, no shell.
pub fn assert_promtool_accepts(exposition: &str) {
    use std::io::Write as _;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (cargo xtask deps)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the first sample line starting with `series` (name and labels, exactly).
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// GETs `url` with a plain HTTP client; the body, or an empty string on any error.
pub async fn get_text(url: &str) -> String {
    get_text_as(url, "e2e-tests").await
}

/// Like [`get_text`] with a given User-Agent (scrapers are told apart by it).
pub async fn get_text_as(url: &str, user_agent: &str) -> String {
    match http_client()
        .get(url)
        .header("user-agent", user_agent)
        .send()
        .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// A reqwest client (with the process-wide ring TLS provider installed first).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Runs `bin <args> --config.check`: whether it passed, its stdout and its stderr.
pub fn config_check<S: AsRef<std::ffi::OsStr>>(bin: &Path, args: &[S]) -> (bool, String, String) {
    let out = Command::new(bin)
        .args(args)
        .arg("--config.check")
        .output()
        .expect("run the exporter");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
