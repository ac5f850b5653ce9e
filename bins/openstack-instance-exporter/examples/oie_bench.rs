//! openstack-instance-exporter's costs (root: it makes a network namespace):
//! 1. conntrack: 100,000 flows dumped over ctnetlink and matched to 500 instances' fixed
//!    IPs and four threat lists, against the original's way in the same run
//!    (`conntrack -L -o extended` and text parsing, string sets, /16-bucketed Spamhaus);
//! 2. threat-list lookups per flow against a list of 1,000,000 prefixes;
//! 3. `/metrics` latency with 500 domains (libvirt's test driver) in the cache.
//!
//! Run by `cargo xtask bench-oie`, which passes the release binary.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use openstack_instance_exporter::conntrack;
use openstack_instance_exporter::threat::{self, list::Set};
use testbed::conntrack::{Entry, insert};
use testbed::netns::Netns;

const FLOWS: usize = 100_000;
const INSTANCES: usize = 500;
const RUNS: usize = 7;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn fixed_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 20, (i / 250) as u8, (i % 250 + 1) as u8))
}

fn random_v4(rng: &mut fastrand::Rng) -> Ipv4Addr {
    Ipv4Addr::from(rng.u32(0x0100_0000..0xdfff_ffff))
}

/// The original's Spamhaus lookup: networks bucketed by their first two octets.
fn bucketed(nets: &[IpNet]) -> HashMap<String, Vec<IpNet>> {
    let mut m: HashMap<String, Vec<IpNet>> = HashMap::new();
    for n in nets {
        if let IpNet::V4(v4) = n {
            let o = v4.network().octets();
            m.entry(format!("{}.{}", o[0], o[1])).or_default().push(*n);
        }
    }
    m
}

/// The original's way: `conntrack -L -o extended`, first `src=`/`dst=` per line,
/// string comparisons.
fn original_way(
    ns: &str,
    fixed: &HashSet<String>,
    tor: &HashSet<String>,
    et: &HashSet<String>,
    spamhaus: &HashMap<String, Vec<IpNet>>,
) -> Result<(usize, usize), String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "conntrack", "-L", "-o", "extended"])
        .output()
        .map_err(|e| format!("conntrack -L: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut hits = 0;
    for line in text.lines() {
        let mut src = None;
        let mut dst = None;
        for tok in line.split_whitespace() {
            if src.is_none() && tok.starts_with("src=") {
                src = Some(&tok[4..]);
            } else if dst.is_none() && tok.starts_with("dst=") {
                dst = Some(&tok[4..]);
            }
            if src.is_some() && dst.is_some() {
                break;
            }
        }
        let (Some(s), Some(d)) = (src, dst) else {
            continue;
        };
        for (mine, other) in [(s, d), (d, s)] {
            if fixed.contains(mine) {
                *counts.entry(mine).or_default() += 1;
                if tor.contains(other) || et.contains(other) {
                    hits += 1;
                }
                if let Ok(IpAddr::V4(a)) = other.parse::<IpAddr>() {
                    let o = a.octets();
                    if spamhaus
                        .get(&format!("{}.{}", o[0], o[1]))
                        .is_some_and(|v| v.iter().any(|n| n.contains(&IpAddr::V4(a))))
                    {
                        hits += 1;
                    }
                }
            }
        }
    }
    Ok((counts.values().sum::<u64>() as usize, hits))
}

fn conntrack_bench() -> Result<(), String> {
    let mut rng = fastrand::Rng::with_seed(7);
    let ns = Netns::new("oie-bench").map_err(|e| e.to_string())?;
    // Lists of realistic sizes: Tor ~5,000 addresses, DROP ~1,700 prefixes /12–/24,
    // ET ~500 addresses, a custom list of 100.
    let tor: Vec<IpNet> = (0..5_000)
        .map(|_| IpNet::from(IpAddr::V4(random_v4(&mut rng))))
        .collect();
    let drop: Vec<IpNet> = (0..1_700)
        .map(|_| {
            let len = rng.u8(12..=24);
            IpNet::V4(
                Ipv4Net::new(random_v4(&mut rng), len)
                    .unwrap_or_default()
                    .trunc(),
            )
        })
        .collect();
    let et: Vec<IpNet> = (0..500)
        .map(|_| IpNet::from(IpAddr::V4(random_v4(&mut rng))))
        .collect();
    let custom: Vec<IpNet> = (0..100)
        .map(|_| IpNet::from(IpAddr::V4(random_v4(&mut rng))))
        .collect();
    // 100,000 flows from the instances' fixed IPs; one in 50 to a listed address.
    let entries: Vec<Entry> = (0..FLOWS)
        .map(|i| {
            let remote = if i % 50 == 0 {
                tor[i % tor.len()].addr()
            } else {
                IpAddr::V4(random_v4(&mut rng))
            };
            Entry {
                src: fixed_ip(i % INSTANCES),
                dst: remote,
                sport: 1024 + (i / INSTANCES) as u16,
                dport: rng.u16(1..=65535),
            }
        })
        .collect();
    let t = Instant::now();
    ns.enter(|| insert(&entries))
        .map_err(|e| format!("insert: {e}"))?;
    let inserted = conntrack::dump(Some(&ns.path())).map_err(|e| e.to_string())?;
    println!(
        "inserted {} flows in {:.1} s (ctnetlink)",
        inserted.flows.len(),
        t.elapsed().as_secs_f64()
    );

    let sets: Vec<Arc<Set>> = [&tor, &drop, &et, &custom]
        .iter()
        .map(|l| Arc::new(Set::new(l.iter().copied())))
        .collect();
    let owners: HashMap<IpAddr, usize> = (0..INSTANCES).map(|i| (fixed_ip(i), i)).collect();
    let fixed: HashSet<IpAddr> = owners.keys().copied().collect();
    let mut ours = Vec::new();
    let mut ours_hits = 0;
    let mut ours_counted = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let dump = conntrack::dump(Some(&ns.path())).map_err(|e| e.to_string())?;
        let counts = conntrack::count(&dump.flows, &fixed);
        let hits = threat::hits(&dump.flows, &owners, &sets);
        ours.push(t.elapsed().as_secs_f64() * 1e3);
        ours_hits = hits.len();
        ours_counted = counts.values().sum::<u64>() as usize;
    }

    let fixed_s: HashSet<String> = fixed.iter().map(ToString::to_string).collect();
    let tor_s: HashSet<String> = tor.iter().map(|n| n.addr().to_string()).collect();
    let et_s: HashSet<String> = et.iter().map(|n| n.addr().to_string()).collect();
    let buckets = bucketed(&drop);
    let mut theirs = Vec::new();
    let mut their_counted = 0;
    let mut their_hits = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let (c, h) = original_way(&ns.name, &fixed_s, &tor_s, &et_s, &buckets)?;
        theirs.push(t.elapsed().as_secs_f64() * 1e3);
        (their_counted, their_hits) = (c, h);
    }
    let (o, t) = (median(&mut ours), median(&mut theirs));
    println!(
        "dump + match of {} flows, 500 instances, 4 lists: {o:.1} ms median ({:.1}–{:.1}), {ours_counted} counted, {ours_hits} hits",
        inserted.flows.len(),
        ours[0],
        ours[RUNS - 1]
    );
    println!(
        "the original's way (conntrack -L -o extended + text parsing): {t:.1} ms median ({:.1}–{:.1}), {their_counted} counted, {their_hits} hits",
        theirs[0],
        theirs[RUNS - 1]
    );
    println!("ratio: {:.1}x faster", t / o);

    // A list of 1,000,000 prefixes.
    let big: Vec<IpNet> = (0..1_000_000)
        .map(|_| {
            let len = rng.u8(16..=32);
            IpNet::V4(
                Ipv4Net::new(random_v4(&mut rng), len)
                    .unwrap_or_default()
                    .trunc(),
            )
        })
        .collect();
    let t = Instant::now();
    let set = Set::new(big);
    let build = t.elapsed();
    let remotes: Vec<IpAddr> = inserted.flows.iter().map(|f| f.dst).collect();
    let t = Instant::now();
    let mut found = 0usize;
    for _ in 0..10 {
        found += remotes.iter().filter(|r| set.contains(**r)).count();
    }
    let per = t.elapsed().as_secs_f64() * 1e9 / (remotes.len() * 10) as f64;
    println!(
        "1,000,000 prefixes: built in {:.0} ms ({} merged ranges); {per:.0} ns per lookup ({found} hits)",
        build.as_secs_f64() * 1e3,
        set.ranges()
    );
    Ok(())
}

fn node_xml(domains: usize) -> String {
    let mut x = String::from(
        "<node><cpu><mhz>2400</mhz><model>x86_64</model><active>64</active><nodes>1</nodes><sockets>2</sockets><cores>16</cores><threads>2</threads></cpu><memory>536870912</memory>\n",
    );
    for i in 0..domains {
        let uuid = format!("0b3f8c1e-5a7d-4c2e-9f10-{i:012x}");
        let _ = writeln!(
            x,
            r#"<domain type="test"><name>instance-{i:08x}</name><uuid>{uuid}</uuid><metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:name>vm-{i}</nova:name><nova:flavor name="m1.medium"><nova:vcpus>2</nova:vcpus></nova:flavor><nova:owner><nova:user uuid="u{i:031x}">user</nova:user><nova:project uuid="p{:031x}">project</nova:project></nova:owner><nova:ports><nova:port uuid="a{i:035x}"><nova:ip type="fixed" address="10.{}.{}.{}" ipVersion="4"/><nova:ip type="fixed" address="2001:db8::{i:x}" ipVersion="6"/></nova:port></nova:ports></nova:instance></metadata><memory unit="KiB">4194304</memory><vcpu>2</vcpu><os><type arch="x86_64">hvm</type></os><devices><disk type="network" device="disk"><source protocol="rbd" name="vms/{uuid}_disk"><host name="192.0.2.21" port="6789"/></source><target dev="vda" bus="virtio"/></disk><disk type="network" device="disk"><source protocol="rbd" name="volumes/volume-{uuid}"><host name="192.0.2.21" port="6789"/></source><target dev="vdb" bus="virtio"/></disk><interface type="bridge"><mac address="fa:16:3e:{:02x}:{:02x}:01"/><source bridge="br-int"/><target dev="tap{i:08x}-a"/></interface><interface type="bridge"><mac address="fa:16:3e:{:02x}:{:02x}:02"/><source bridge="br-int"/><target dev="tap{i:08x}-b"/></interface></devices></domain>"#,
            i % 40,
            i / 65536,
            (i / 256) % 256,
            i % 256,
            i / 256,
            i % 256,
            i / 256,
            i % 256
        );
    }
    x.push_str("</node>\n");
    x
}

async fn scrape_bench(bin: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("node.xml");
    std::fs::write(&path, node_xml(500)).map_err(|e| e.to_string())?;
    let config = dir.path().join("oie.yml");
    std::fs::write(&config, "conntrack:\n  enabled: false\n").map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut child = std::process::Command::new(bin)
        .arg(format!("--libvirt.uri=test://{}", path.display()))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("-cpu.min=0")
        .spawn()
        .map_err(|e| format!("{bin}: {e}"))?;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut body = String::new();
    let mut cycle = 0.0;
    while !body.contains("oie_host_active_vms 500") {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            return Err("the 500 domains never showed".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        body = match client.get(&url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        cycle = body
            .lines()
            .find_map(|l| l.strip_prefix("oie_collector_duration_seconds{collector=\"libvirt\"} "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
    }
    let samples = body.lines().filter(|l| l.starts_with("oie_")).count();
    let mut lat = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let r = client.get(&url).send().await.map_err(|e| e.to_string())?;
        let _ = r.bytes().await.map_err(|e| e.to_string())?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    let rss = testbed::procstat::status(child.id(), "VmRSS");
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "500 domains (test driver, 2 disks + 2 NICs each): {samples} oie_ samples; /metrics median {:.1} ms, p99 {:.1} ms, max {:.1} ms; a collection cycle {:.0} ms; RSS {rss}",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100],
        lat[lat.len() - 1],
        cycle * 1e3
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bin = std::env::args()
        .nth(1)
        .ok_or("usage: oie_bench <openstack-instance-exporter>")?;
    tokio::task::spawn_blocking(conntrack_bench)
        .await
        .map_err(|e| e.to_string())??;
    scrape_bench(&bin).await
}
