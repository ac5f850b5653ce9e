//! geoip-conn-exporter benchmark, on the release binary with real sockets:
//! 1. 50,000 established TCP connections in a network namespace the benchmark creates
//!    (40,000 inbound from 64 "internet" addresses, 10,000 outbound), counted by the
//!    exporter with the embedded database: the duration of one collection cycle (netlink
//!    dump, classification, geo lookups, aggregation), from its own self-metric;
//! 2. the same sockets read the way the original's library did (`/proc/net/tcp{,6}`,
//!    parsing only), timed in this process, and the ratio;
//! 3. the exporter's idle resident memory with the embedded database.
//!
//! Sockets are held by child processes (this binary, `__geoip-conns`), a few thousand
//! each, because the open-files limit is 20,000 per process here. Needs root.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench_util::{Exporter, rss_kib, value};
use testbed::netns::{self, Netns, connect_from, listen};

type Result<T = ()> = std::result::Result<T, String>;

const CONNECTIONS: usize = 50_000;
const CHILDREN: usize = 8;
const OUTBOUND_SHARE: usize = 5; // one in five

/// Addresses of the "internet" namespace: public-looking, so that lookups hit real
/// records of the embedded database (they exist only inside the benchmark's namespaces).
fn remote(i: usize) -> IpAddr {
    const FIRST: [u8; 16] = [1, 2, 5, 8, 23, 31, 37, 41, 46, 62, 77, 81, 85, 91, 93, 95];
    IpAddr::from([FIRST[i % 16], (i / 16) as u8 + 10, 1, 1])
}
const REMOTES: usize = 64;

pub fn run(root: &Path) -> Result {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--release", "-p", "geoip-conn-exporter"])
        .current_dir(root)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("build failed".into());
    }
    let bin = root.join("target/release/geoip-conn-exporter");
    idle_rss(&bin)?;

    let host = Netns::new("bench-host").map_err(|e| e.to_string())?;
    let inet = Netns::new("bench-inet").map_err(|e| e.to_string())?;
    let mut inet_addrs: Vec<String> = vec!["198.51.100.2/24".into()];
    inet_addrs.extend((0..REMOTES).map(|i| format!("{}/32", remote(i))));
    let inet_refs: Vec<&str> = inet_addrs.iter().map(String::as_str).collect();
    netns::veth(&host, &["198.51.100.1/24"], &inet, &inet_refs).map_err(|e| e.to_string())?;
    host.ip(&["route", "add", "default", "via", "198.51.100.2"])
        .map_err(|e| e.to_string())?;

    let t0 = Instant::now();
    let per_child = CONNECTIONS / CHILDREN;
    let mut children: Vec<Child> = Vec::new();
    for k in 0..CHILDREN {
        let child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
            .args([
                "__geoip-conns",
                &host.name,
                &inet.name,
                &k.to_string(),
                &per_child.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        children.push(child);
    }
    for c in &mut children {
        let mut line = String::new();
        let out = c.stdout.as_mut().ok_or("child stdout")?;
        BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if line.trim() != "ready" {
            return Err(format!("a connection child failed: {line}"));
        }
    }
    println!(
        "{CONNECTIONS} connections set up in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let result = measure(&bin, &host);
    for mut c in children {
        drop(c.stdin.take());
        let _ = c.wait();
    }
    result
}

fn measure(bin: &Path, host: &Netns) -> Result {
    let dir = std::env::temp_dir().join(format!("bench-geoip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "interval: 1s\nown_namespace: false\nnamespaces:\n  - name: '{}'\n",
            host.name
        ),
    )
    .map_err(|e| e.to_string())?;
    let exporter = Exporter::start(bin, &["--config.file", &config.display().to_string()])?;
    // One cycle per second: ten of them, read from the exporter's own duration metric.
    let mut cycles = Vec::new();
    let mut last_ts = String::new();
    let mut last_body = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while cycles.len() < 10 && Instant::now() < deadline {
        let body = exporter.metrics()?;
        last_body.clone_from(&body);
        let ts = value(
            &body,
            "geoip_conn_collector_last_success_timestamp_seconds{collector=\"connections\"}",
        )
        .unwrap_or_default();
        if !ts.is_empty() && ts != "0" && ts != last_ts {
            last_ts = ts;
            let total: f64 = body
                .lines()
                .filter(|l| l.starts_with("geoip_conn_connections{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            if total as usize >= CONNECTIONS {
                let d = value(
                    &body,
                    "geoip_conn_collector_duration_seconds{collector=\"connections\"}",
                )
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or("no duration")?;
                cycles.push(d * 1e3);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if cycles.len() < 10 {
        let seen: String = last_body
            .lines()
            .filter(|l| {
                l.starts_with("geoip_conn_collector")
                    || l.starts_with("geoip_conn_excluded")
                    || l.starts_with("job_location")
            })
            .flat_map(|l| [l, "\n"])
            .collect();
        return Err(format!(
            "only {} complete cycles seen; last scrape:\n{seen}",
            cycles.len()
        ));
    }
    cycles.sort_by(f64::total_cmp);
    let rss = rss_kib(exporter.child.id());
    drop(exporter);
    let _ = std::fs::remove_dir_all(&dir);

    let mut proc_ms: Vec<f64> = (0..10)
        .map(|_| {
            host.enter(|| {
                let t = Instant::now();
                let n = proc_net_tcp("/proc/thread-self/net/tcp")?
                    + proc_net_tcp("/proc/thread-self/net/tcp6")?;
                Ok((t.elapsed().as_secs_f64() * 1e3, n))
            })
            .map_err(|e| e.to_string())
            .and_then(|(ms, n)| {
                if n >= CONNECTIONS {
                    Ok(ms)
                } else {
                    Err(format!("/proc/net/tcp shows {n} established"))
                }
            })
        })
        .collect::<Result<_>>()?;
    proc_ms.sort_by(f64::total_cmp);
    let (cycle_med, proc_med) = (cycles[5], proc_ms[5]);
    println!(
        "collection cycle, {CONNECTIONS} established connections (sock_diag + classification + embedded-DB lookups): median {cycle_med:.1} ms, min {:.1} ms, max {:.1} ms; RSS {rss} KiB",
        cycles[0], cycles[9]
    );
    println!(
        "/proc/net/tcp + tcp6, reading and parsing only: median {proc_med:.1} ms, min {:.1} ms; the exporter's whole cycle is {:.1}x faster",
        proc_ms[0],
        proc_med / cycle_med
    );
    Ok(())
}

/// ESTABLISHED entries (`st` = 01) of a `/proc/net/tcp`-format file, with their
/// addresses decoded as a parser must.
fn proc_net_tcp(path: &str) -> std::io::Result<usize> {
    let mut text = String::new();
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    let mut n = 0;
    for line in text.lines().skip(1) {
        let mut f = line.split_whitespace();
        let (Some(_), Some(local), Some(remote), Some(st)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        if st != "01" {
            continue;
        }
        let ok = [local, remote].iter().all(|a| {
            a.split_once(':').is_some_and(|(ip, port)| {
                u16::from_str_radix(port, 16).is_ok()
                    && ip.len() % 8 == 0
                    && (0..ip.len())
                        .step_by(8)
                        .all(|i| u32::from_str_radix(&ip[i..i + 8], 16).is_ok())
            })
        });
        if ok {
            n += 1;
        }
    }
    Ok(n)
}

/// The child: `count` connections, one in five outbound, held until stdin closes.
pub fn child(args: &[String]) -> Result {
    let [host, inet, k, count] = args else {
        return Err("usage: __geoip-conns <host-ns> <inet-ns> <index> <count>".into());
    };
    let k: usize = k.parse().map_err(|_| "index")?;
    let count: usize = count.parse().map_err(|_| "count")?;
    let host = Netns { name: host.clone() };
    let inet = Netns { name: inet.clone() };
    let port = 20_000 + k as u16;
    let result = (|| -> std::io::Result<Vec<TcpStream>> {
        let to_host = host.enter(|| listen(SocketAddr::from(([198, 51, 100, 1], port))))?;
        let outbound = count / OUTBOUND_SHARE;
        let inbound = count - outbound;
        let mut listeners = Vec::new();
        for r in 0..REMOTES {
            let addr = SocketAddr::new(remote(r), port);
            listeners.push(inet.enter(|| listen(addr))?);
        }
        // Accept while connecting: a full accept queue drops SYNs.
        std::thread::scope(|s| {
            let accepted = s.spawn(|| {
                let mut socks = Vec::with_capacity(count);
                for _ in 0..inbound {
                    socks.push(to_host.accept()?.0);
                }
                for i in 0..outbound {
                    socks.push(listeners[i % REMOTES].accept()?.0);
                }
                Ok::<_, std::io::Error>(socks)
            });
            let mut socks = inet.enter(|| {
                (0..inbound)
                    .map(|i| {
                        connect_from(
                            remote(i % REMOTES),
                            SocketAddr::from(([198, 51, 100, 1], port)),
                        )
                    })
                    .collect::<std::io::Result<Vec<_>>>()
            })?;
            socks.extend(host.enter(|| {
                (0..outbound)
                    .map(|i| {
                        connect_from(
                            IpAddr::from([198, 51, 100, 1]),
                            SocketAddr::new(remote(i % REMOTES), port),
                        )
                    })
                    .collect::<std::io::Result<Vec<_>>>()
            })?);
            socks.extend(
                accepted
                    .join()
                    .map_err(|_| std::io::Error::other("accept thread panicked"))??,
            );
            Ok(socks)
        })
    })();
    // The namespaces belong to the parent: not deleted by this child's drop.
    std::mem::forget(host);
    std::mem::forget(inet);
    let mut out = std::io::stdout();
    match result {
        Ok(socks) => {
            let _ = writeln!(out, "ready");
            let _ = out.flush();
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            drop(socks);
            Ok(())
        }
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            Err(e.to_string())
        }
    }
}

fn idle_rss(bin: &Path) -> Result {
    let e = Exporter::start(bin, &[])?;
    // After the first cycle and a few scrapes.
    for _ in 0..5 {
        e.metrics()?;
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "geoip-conn-exporter idle RSS with the embedded database: {} KiB",
        rss_kib(e.child.id())
    );
    Ok(())
}
