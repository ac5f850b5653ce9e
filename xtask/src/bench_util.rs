//! What the benchmarks share: a release exporter on a loopback port, a minimal HTTP
//! client for it, and a process's CPU time and resident memory from /proc.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

type Result<T = ()> = std::result::Result<T, String>;

/// An exporter process, killed on drop.
pub struct Exporter {
    pub child: Child,
    pub port: u16,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Exporter {
    /// Starts `bin` with `args` on a free loopback port, logging warnings only, and
    /// waits until `/-/ready` answers 200.
    pub fn start(bin: &Path, args: &[&str]) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(bin)
            .args(args)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let e = Self { child, port };
        for _ in 0..200 {
            if e.get("/-/ready").is_ok_and(|(code, _)| code == 200) {
                return Ok(e);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("exporter did not become ready".into())
    }

    pub fn metrics(&self) -> Result<String> {
        self.get("/metrics")
            .map(|(_, b)| b)
            .map_err(|e| e.to_string())
    }

    /// A minimal HTTP/1.0 GET: (status, body).
    pub fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: bench\r\n\r\n"
        )?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        let code = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = resp
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        Ok((code, body))
    }
}

/// The value of the sample line starting with `series` (name and labels, exactly).
pub fn value(body: &str, series: &str) -> Option<String> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
}

pub use testbed::procstat::cpu_seconds;

/// Resident memory of a process in KiB (`VmRSS`), or `?`.
pub fn rss_kib(pid: u32) -> String {
    let rss = testbed::procstat::status(pid, "VmRSS");
    rss.split_whitespace().next().unwrap_or("?").to_owned()
}
