//! Network namespaces with real TCP connections between them, for exporters that count
//! sockets: `ip netns` namespaces joined by a veth pair, addresses from documentation
//! ranges, and sockets created inside a namespace from a thread that enters it (a socket
//! stays in the namespace it was created in). Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)
//! and iproute2.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Command;

use socket2::{Domain, Protocol, Socket, Type};

/// A named network namespace (`/run/netns/<name>`), deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("running ip (iproute2) failed: {e}; network-namespace tests need it and root"),
        )
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Netns {
    /// Creates `<prefix>-<pid>-<n>` with its loopback up.
    pub fn new(prefix: &str) -> io::Result<Self> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Adds a UDP conntrack entry (original direction `src:sport -> dst:dport`, 10 min
    /// timeout) to this namespace's table with conntrack-tools; no traffic, no `ct` rule
    /// needed.
    pub fn conntrack_insert(
        &self,
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
        sport: u16,
        dport: u16,
    ) -> io::Result<()> {
        let (src, dst, sport, dport) = (
            src.to_string(),
            dst.to_string(),
            sport.to_string(),
            dport.to_string(),
        );
        let args = [
            "netns",
            "exec",
            &self.name,
            "conntrack",
            "-I",
            "-s",
            &src,
            "-d",
            &dst,
            "-p",
            "udp",
            "--sport",
            &sport,
            "--dport",
            &dport,
            "--timeout",
            "600",
        ];
        let out = Command::new("ip").args(args).output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "conntrack -I (conntrack-tools): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// `ip -n <name> <args>`.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs `f` on a thread inside this namespace: sockets it creates live here.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path)?;
                rustix::thread::move_into_link_name_space(
                    file.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                f()
            })
            .join()
            .map_err(|_| io::Error::other("namespace thread panicked"))?
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Joins `a` and `b` with a veth pair; `a_addrs`/`b_addrs` are `addr/prefix` strings
/// (IPv6 ones are added without duplicate address detection, so they work at once).
pub fn veth(a: &Netns, a_addrs: &[&str], b: &Netns, b_addrs: &[&str]) -> io::Result<()> {
    let n = std::process::id() % 100_000;
    let (va, vb) = (format!("va{n}"), format!("vb{n}"));
    ip(&[
        "link", "add", &va, "netns", &a.name, "type", "veth", "peer", "name", &vb, "netns", &b.name,
    ])?;
    for (ns, dev, addrs) in [(a, &va, a_addrs), (b, &vb, b_addrs)] {
        for addr in addrs {
            if addr.contains(':') {
                ns.ip(&["addr", "add", addr, "dev", dev, "nodad"])?;
            } else {
                ns.ip(&["addr", "add", addr, "dev", dev])?;
            }
        }
        ns.ip(&["link", "set", dev, "up"])?;
    }
    Ok(())
}

/// A TCP listener on `addr` (an IPv6 `[::]` one also accepts IPv4, as dual-stack peers).
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// A connection to `to` from the local address `from` (port chosen by the kernel).
pub fn connect_from(from: std::net::IpAddr, to: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket.connect(&to.into())?;
    Ok(socket.into())
}
