//! `cargo xtask <task>`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `ci`: install what the tests need (on Debian, only what is missing), then
//!   `cargo fmt --check`, `cargo clippy -D warnings`, `cargo xtask codegen --check` and
//!   `cargo nextest run --workspace`. `.ci/run` and the README run exactly this.
//! - `codegen [--check]`: regenerate `config-examples/*.schema.json` from the binaries
//!   (`--config.schema`); `--check` fails if the committed files are stale.
//! - `deps`: only the installation step of `ci`.
//! - `run`: build and start all five exporters on their built-in defaults (Ctrl-C stops).
//! - `bench`: encoder benchmark, release binary sizes, idle resident memory, and `/metrics`
//!   requests per second under `wrk` on loopback (if wrk is installed).
//! - `bench-reaction`: reaction-exporter throughput on a 1,000,000-line backlog, `/metrics`
//!   latency while a journal backlog is read, and memory after 1,000,000 distinct IPs.
//! - `bench-hitron`: hitron-exporter probe latency against the modem simulator, 100 modems
//!   probed at once, and the exporter's memory (`examples/probe_bench.rs`).
//! - `bench-ssp`: ssp-exporter polling 100 identifiers of the seven providers against the
//!   portal simulators: first round, idle memory, CPU per poll (`examples/poll_bench.rs`).
//! - `bench-oie`: openstack-instance-exporter's conntrack dump and matching of 100,000
//!   flows against the original's `conntrack -L` way, lookups in a 1,000,000-prefix list,
//!   and `/metrics` with 500 domains (`examples/oie_bench.rs`; root).
//! - `bench-geoip`: geoip-conn-exporter's collection cycle over 50,000 real connections
//!   in a network namespace, against `/proc/net/tcp` parsing, and its idle memory (root).

mod bench_geoip;
mod bench_reaction;
mod bench_util;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const BINARIES: &[&str] = &[
    "ssp-exporter",
    "geoip-conn-exporter",
    "reaction-exporter",
    "openstack-instance-exporter",
    "hitron-exporter",
];

/// Debian packages the tests use, by the command that shows they are installed.
const APT: &[(&str, &str)] = &[
    ("promtool", "prometheus"),
    ("prometheus", "prometheus"),
    ("journalctl", "systemd"),
    (
        "/lib/systemd/systemd-journal-remote",
        "systemd-journal-remote",
    ),
    // Network namespaces and veth pairs for the socket-counting tests.
    ("ip", "iproute2"),
    // Conntrack entries for openstack-instance-exporter's tests.
    ("conntrack", "conntrack"),
    // Building the `virt` crate (openstack-instance-exporter) finds libvirt with it.
    ("pkg-config", "pkg-config"),
];

/// Debian packages of C libraries the build links, by their pkg-config name.
const APT_LIBS: &[(&str, &str)] = &[("libvirt", "libvirt-dev")];

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("deps") => deps(),
        Some("codegen") => codegen(args.iter().any(|a| a == "--check")),
        Some("run") => run_all(),
        Some("bench") => bench(),
        Some("bench-reaction") => bench_reaction::run(&root()),
        Some("bench-geoip") => bench_geoip::run(&root()),
        Some("bench-hitron") => bench_example("hitron-exporter", "probe_bench"),
        Some("bench-ssp") => bench_example("ssp-exporter", "poll_bench"),
        Some("bench-oie") => bench_example("openstack-instance-exporter", "oie_bench"),
        Some("__geoip-conns") => bench_geoip::child(&args[1..]),
        _ => Err(
            "usage: cargo xtask <ci | deps | codegen [--check] | run | bench | bench-reaction | bench-geoip | bench-hitron | bench-ssp | bench-oie>"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// `target/<profile>` (or under `$CARGO_TARGET_DIR`).
fn target_dir(profile: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join(profile)
}

fn run(mut cmd: Command) -> Result {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ci() -> Result {
    deps()?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;
    codegen(true)?;
    let mut test = cargo();
    test.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    run(test)
}

/// Installs the test dependencies that are missing: Debian packages with apt-get (after
/// `apt-get update`), the Python OpenMetrics parser with pip, cargo-nextest with cargo.
fn deps() -> Result {
    let has_lib = |name: &str| {
        Command::new("pkg-config")
            .args(["--exists", name])
            .status()
            .is_ok_and(|s| s.success())
    };
    let missing: Vec<&str> = APT
        .iter()
        .filter(|(cmd, _)| !have(cmd))
        .map(|(_, pkg)| *pkg)
        .chain(
            APT_LIBS
                .iter()
                .filter(|(lib, _)| !has_lib(lib))
                .map(|(_, pkg)| *pkg),
        )
        .collect();
    if !missing.is_empty() {
        let mut pkgs = missing.clone();
        pkgs.sort_unstable();
        pkgs.dedup();
        let sudo = if is_root() { "" } else { "sudo " };
        run(shell(&format!("{sudo}apt-get update -qq")))?;
        run(shell(&format!(
            "DEBIAN_FRONTEND=noninteractive {sudo}apt-get install -y -qq --no-install-recommends {}",
            pkgs.join(" ")
        )))?;
    }
    if !python_has_openmetrics_parser() {
        // pip first (the machine's python3 may not be Debian's); Debian's package last.
        let attempts = [
            "python3 -m pip install --quiet prometheus_client",
            "python3 -m pip install --quiet --break-system-packages prometheus_client",
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-prometheus-client",
        ];
        for attempt in attempts {
            if run(shell(attempt)).is_ok() && python_has_openmetrics_parser() {
                break;
            }
        }
        if !python_has_openmetrics_parser() {
            return Err("cannot install the Python prometheus_client package".into());
        }
    }
    if !cargo_has("nextest") {
        let mut install = cargo();
        install.args(["install", "--locked", "cargo-nextest"]);
        run(install)?;
    }
    Ok(())
}

fn shell(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn python_has_openmetrics_parser() -> bool {
    Command::new("python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn cargo_has(sub: &str) -> bool {
    cargo()
        .args([sub, "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Writes (or with `check`, compares) each binary's config JSON Schema.
fn codegen(check: bool) -> Result {
    let mut build = cargo();
    build.args(["build", "--quiet", "--bins"]);
    run(build)?;
    let target = target_dir("debug");
    let mut stale = Vec::new();
    for bin in BINARIES {
        let out = Command::new(target.join(bin))
            .arg("--config.schema")
            .output()
            .map_err(|e| format!("cannot run {bin}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{bin} --config.schema failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let path = root()
            .join("config-examples")
            .join(format!("{bin}.schema.json"));
        let current = std::fs::read(&path).unwrap_or_default();
        if current != out.stdout {
            if check {
                stale.push(path.display().to_string());
            } else {
                std::fs::write(&path, &out.stdout)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                eprintln!("xtask: wrote {}", path.display());
            }
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "generated files are not up to date: {}; run `cargo xtask codegen` and commit",
            stale.join(", ")
        ))
    }
}

/// Starts every exporter with its defaults and waits; Ctrl-C reaches the whole process
/// group, so they all stop together.
fn run_all() -> Result {
    let mut build = cargo();
    build.args(["build", "--quiet", "--bins"]);
    run(build)?;
    let target = target_dir("debug");
    // Exporters that keep state in their working directory keep it out of the repo.
    let workdir = target.join("xtask-run");
    std::fs::create_dir_all(&workdir).map_err(|e| format!("{}: {e}", workdir.display()))?;
    let mut children = Vec::new();
    for bin in BINARIES {
        let child = Command::new(target.join(bin))
            .current_dir(&workdir)
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?;
        children.push((bin, child));
    }
    eprintln!(
        "xtask: {} exporters running; Ctrl-C stops them",
        children.len()
    );
    let mut failed = Vec::new();
    for (bin, mut child) in children {
        match child.wait() {
            Ok(s) if s.success() => {}
            Ok(s) => failed.push(format!("{bin}: {s}")),
            Err(e) => failed.push(format!("{bin}: {e}")),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Runs a package's benchmark example with its release binary as the argument.
fn bench_example(package: &str, example: &str) -> Result {
    let mut build = cargo();
    build.args(["build", "--quiet", "--release", "-p", package]);
    run(build)?;
    let bin = target_dir("release").join(package);
    let mut bench = cargo();
    bench.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        package,
        "--example",
        example,
        "--",
    ]);
    bench.arg(bin);
    run(bench)
}

fn bench() -> Result {
    let mut encode = cargo();
    encode.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "exporter-core",
        "--example",
        "encode_bench",
    ]);
    run(encode)?;
    let mut build = cargo();
    build.args(["build", "--quiet", "--release", "--bins"]);
    run(build)?;
    let target = target_dir("release");
    println!("release binary sizes:");
    for bin in BINARIES {
        let len = std::fs::metadata(target.join(bin)).map_or(0, |m| m.len());
        println!("  {bin}: {:.2} MiB", len as f64 / 1_048_576.0);
    }
    // One binary on a fixed loopback port, measured idle and then under load.
    let addr = "127.0.0.1:19938";
    let mut child = Command::new(target.join("hitron-exporter"))
        .args([&format!("--web.listen-address={addr}"), "--log.level=warn"])
        .spawn()
        .map_err(|e| format!("cannot start hitron-exporter: {e}"))?;
    std::thread::sleep(std::time::Duration::from_secs(2));
    let rss = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
            })
            .unwrap_or_else(|| "?".into())
    };
    println!("hitron-exporter idle RSS: {} KiB", rss(child.id()));
    let result = if have("wrk") {
        let mut wrk = Command::new("wrk");
        wrk.args(["-t2", "-c16", "-d10s", &format!("http://{addr}/metrics")]);
        let r = run(wrk);
        println!("hitron-exporter RSS after load: {} KiB", rss(child.id()));
        r
    } else {
        println!("wrk not installed (apt-get install wrk): load test skipped");
        Ok(())
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}
