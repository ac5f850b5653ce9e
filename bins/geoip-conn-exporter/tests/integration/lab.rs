//! Two namespaces, "host" (watched by the exporter) and "internet", joined by a veth
//! pair, with connections both ways:
//!
//! | from (internet)      | to (host)                  | counted as               |
//! |----------------------|----------------------------|--------------------------|
//! | 203.0.113.7 ×3       | 198.51.100.1:8443          | GB inbound, port 8443    |
//! | 203.0.113.7 ×1       | 198.51.100.1:8022 (`[::]`) | GB inbound (dual-stack)  |
//! | 2001:db8:2::7 ×2     | [2001:db8:1::1]:8022       | JP inbound, port 8022    |
//! | 10.9.9.9 ×1          | 198.51.100.1:8443          | excluded: private        |
//! | 192.0.2.50 ×1        | 198.51.100.1:8443          | excluded: blacklist CIDR |
//! | 203.0.113.99 ×1      | 198.51.100.1:8443          | excluded: blacklist IP   |
//! | host → 203.0.113.8:443 ×2                         | GB outbound              |
//! | host → 198.51.100.1:8443 ×1 (both ends)           | excluded: own ×2         |

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;

use testbed::netns::{self, Netns, connect_from, listen};

pub struct Lab {
    pub host: Netns,
    _internet: Netns,
    _sockets: Vec<TcpStream>,
    _listeners: Vec<TcpListener>,
    dir: tempfile::TempDir,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

impl Lab {
    pub fn new() -> Self {
        let host = Netns::new("geo-host").expect("create a network namespace (run as root)");
        let internet = Netns::new("geo-inet").expect("netns");
        netns::veth(
            &host,
            &["198.51.100.1/24", "2001:db8:1::1/64"],
            &internet,
            &[
                "198.51.100.2/24",
                "2001:db8:1::2/64",
                "203.0.113.7/32",
                "203.0.113.8/32",
                "203.0.113.99/32",
                "10.9.9.9/32",
                "192.0.2.50/32",
                "2001:db8:2::7/128",
            ],
        )
        .expect("veth");
        for net in ["203.0.113.0/24", "10.9.9.0/24", "192.0.2.0/24"] {
            host.ip(&["route", "add", net, "via", "198.51.100.2"])
                .expect("route");
        }
        host.ip(&[
            "-6",
            "route",
            "add",
            "2001:db8:2::/48",
            "via",
            "2001:db8:1::2",
        ])
        .expect("route6");

        let (to_https, to_ssh) = host
            .enter(|| {
                Ok((
                    listen(addr("198.51.100.1:8443"))?,
                    listen(addr("[::]:8022"))?,
                ))
            })
            .expect("host listeners");
        let remote_https = internet
            .enter(|| listen(addr("203.0.113.8:443")))
            .expect("internet listener");
        let mut sockets = Vec::new();
        let inbound = internet
            .enter(|| {
                let mut s = Vec::new();
                for (from, to, n) in [
                    ("203.0.113.7", "198.51.100.1:8443", 3),
                    ("203.0.113.7", "198.51.100.1:8022", 1),
                    ("2001:db8:2::7", "[2001:db8:1::1]:8022", 2),
                    ("10.9.9.9", "198.51.100.1:8443", 1),
                    ("192.0.2.50", "198.51.100.1:8443", 1),
                    ("203.0.113.99", "198.51.100.1:8443", 1),
                ] {
                    for _ in 0..n {
                        s.push(connect_from(ip(from), addr(to))?);
                    }
                }
                Ok(s)
            })
            .expect("inbound connections");
        sockets.extend(inbound);
        let outbound = host
            .enter(|| {
                let mut s = (0..2)
                    .map(|_| connect_from(ip("198.51.100.1"), addr("203.0.113.8:443")))
                    .collect::<std::io::Result<Vec<_>>>()?;
                s.push(connect_from(ip("198.51.100.1"), addr("198.51.100.1:8443"))?);
                Ok(s)
            })
            .expect("outbound connections");
        sockets.extend(outbound);
        // The accepted ends (the host's inbound sockets and the internet's end of the
        // outbound ones) are what the exporter sees as established.
        for (listener, n) in [(&to_https, 7), (&to_ssh, 3), (&remote_https, 2)] {
            for _ in 0..n {
                sockets.push(listener.accept().expect("accept").0);
            }
        }
        let dir = tempfile::tempdir().expect("tmp");
        let lab = Self {
            host,
            _internet: internet,
            _sockets: sockets,
            _listeners: vec![to_https, to_ssh, remote_https],
            dir,
        };
        lab.replace_database(&[
            ("203.0.113.0/24", "GB"),
            ("2001:db8:2::/48", "JP"),
            ("192.0.2.0/24", "FR"),
            ("198.51.100.0/24", "SE"),
        ]);
        lab
    }

    fn database(&self) -> PathBuf {
        self.dir.path().join("country.mmdb")
    }

    /// Writes the database as geoipupdate does: a new file renamed over the old one.
    /// ip-location-db layout, without `::ffff:` aliases: dual-stack peers only resolve
    /// if the exporter normalises them.
    pub fn replace_database(&self, entries: &[(&str, &str)]) {
        let tmp = self.dir.path().join("country.mmdb.tmp");
        std::fs::write(&tmp, testbed::geoip::flat(entries).expect("test database"))
            .expect("write db");
        std::fs::rename(&tmp, self.database()).expect("rename db");
    }

    /// A process living in the host namespace (for `namespaces: [{pid: …}]`).
    pub fn process_in_host(&self) -> std::process::Child {
        std::process::Command::new("ip")
            .args(["netns", "exec", &self.host.name, "sleep", "600"])
            .spawn()
            .expect("ip netns exec")
    }

    /// A config watching only the host namespace, with `extra` YAML appended.
    pub fn config(&self, extra: &str) -> PathBuf {
        self.config_for(&format!("name: '{}'", self.host.name), extra)
    }

    /// A config watching the namespace given by `selector` (`name: …`, `pid: …`).
    pub fn config_for(&self, selector: &str, extra: &str) -> PathBuf {
        let path = self.dir.path().join("config.yml");
        std::fs::write(
            &path,
            format!(
                "database: '{}'\nown_namespace: false\nnamespaces:\n  - {selector}\n    label: host-under-test\n{extra}",
                self.database().display(),
            ),
        )
        .expect("write config");
        path
    }
}
