//! Conntrack over ctnetlink (no `conntrack -L` process, no text parsing): one dump of
//! both families per cycle, in this process's network namespace or another one. The
//! netlink I/O (`dump`) is apart from the pure parts (`flow_of`, `count`).

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::os::fd::AsFd as _;
use std::path::Path;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_netfilter::conntrack::{ConntrackAttribute, ConntrackMessage, IPTuple, Tuple};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::Socket;
use netlink_sys::protocols::NETLINK_NETFILTER;

/// A flow's original direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
}

/// What a dump found.
#[derive(Debug, Default)]
pub struct Dump {
    pub flows: Vec<Flow>,
    /// Messages the parser could not read (skipped, not fatal).
    pub unreadable: u64,
}

/// The original tuple's addresses of a conntrack message.
pub fn flow_of(attrs: &[ConntrackAttribute]) -> Option<Flow> {
    let tuple = attrs.iter().find_map(|a| match a {
        ConntrackAttribute::CtaTupleOrig(t) => Some(t),
        _ => None,
    })?;
    let (mut src, mut dst) = (None, None);
    for ip in tuple.iter().filter_map(|t| match t {
        Tuple::Ip(ips) => Some(ips),
        _ => None,
    }) {
        for a in ip {
            match a {
                IPTuple::SourceAddress(s) => src = Some(*s),
                IPTuple::DestinationAddress(d) => dst = Some(*d),
                _ => {}
            }
        }
    }
    Some(Flow {
        src: src?,
        dst: dst?,
    })
}

/// Flows per fixed IP: a flow counts for an IP that is its original source or
/// destination (once if both).
pub fn count<S: std::hash::BuildHasher>(
    flows: &[Flow],
    fixed: &HashSet<IpAddr, S>,
) -> HashMap<IpAddr, u64> {
    let mut out = HashMap::new();
    for f in flows {
        if fixed.contains(&f.src) {
            *out.entry(f.src).or_default() += 1;
        }
        if f.dst != f.src && fixed.contains(&f.dst) {
            *out.entry(f.dst).or_default() += 1;
        }
    }
    out
}

/// Dumps the conntrack table (IPv4 and IPv6) of this process's network namespace, or of
/// the one at `netns` (`/run/netns/<name>`): a netlink socket reports on the namespace it
/// was created in, so it is created by a short-lived thread that moved there first.
pub fn dump(netns: Option<&Path>) -> io::Result<Dump> {
    let socket = match netns {
        None => open()?,
        Some(path) => {
            let path = path.to_owned();
            std::thread::Builder::new()
                .name("conntrack-netns".into())
                .spawn(move || {
                    let file = std::fs::File::open(&path).map_err(|e| {
                        io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                    })?;
                    rustix::thread::move_into_link_name_space(
                        file.as_fd(),
                        Some(rustix::thread::LinkNameSpaceType::Network),
                    )
                    .map_err(|e| io::Error::other(format!("entering {}: {e}", path.display())))?;
                    open()
                })?
                .join()
                .map_err(|_| io::Error::other("namespace thread panicked"))??
        }
    };
    request(&socket)?;
    read(&socket)
}

fn open() -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    // Large tables arrive in bursts; a small buffer loses messages (ENOBUFS).
    let _ = socket.set_rx_buf_sz(8 * 1024 * 1024);
    socket.bind_auto()?;
    socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
    Ok(socket)
}

fn request(socket: &Socket) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    // Unspec: both families in one dump.
    let mut packet = NetlinkMessage::new(
        header,
        NetlinkPayload::from(NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, 0),
            ConntrackMessage::Get(vec![]),
        )),
    );
    packet.finalize();
    let mut bytes = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut bytes);
    socket.send(&bytes, 0)?;
    Ok(())
}

fn read(socket: &Socket) -> io::Result<Dump> {
    let mut dump = Dump::default();
    // The kernel's datagrams reach 32 KiB.
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let size = socket.recv(&mut &mut buf[..], 0)?;
        if size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "ctnetlink: empty read",
            ));
        }
        let mut offset = 0;
        while offset + 4 <= size {
            let len = u32::from_ne_bytes([
                buf[offset],
                buf[offset + 1],
                buf[offset + 2],
                buf[offset + 3],
            ]) as usize;
            if len == 0 || offset + len > size {
                break;
            }
            match <NetlinkMessage<NetfilterMessage>>::deserialize(&buf[offset..offset + len]) {
                Ok(msg) => match msg.payload {
                    NetlinkPayload::InnerMessage(NetfilterMessage {
                        inner:
                            NetfilterMessageInner::Conntrack(
                                ConntrackMessage::New(attrs) | ConntrackMessage::Get(attrs),
                            ),
                        ..
                    }) => match flow_of(&attrs) {
                        Some(f) => dump.flows.push(f),
                        None => dump.unreadable += 1,
                    },
                    NetlinkPayload::Done(_) => return Ok(dump),
                    NetlinkPayload::Error(e) => {
                        let code = e.code.map_or(0, |c| -c.get());
                        return Err(if code == libc_eperm() {
                            io::Error::new(
                                io::ErrorKind::PermissionDenied,
                                "ctnetlink dump refused (EPERM): the exporter needs CAP_NET_ADMIN (AmbientCapabilities=CAP_NET_ADMIN in its unit)",
                            )
                        } else {
                            io::Error::other(format!(
                                "ctnetlink: {}",
                                io::Error::from_raw_os_error(code)
                            ))
                        });
                    }
                    _ => {}
                },
                Err(_) => dump.unreadable += 1,
            }
            offset += (len + 3) & !3;
        }
    }
}

const fn libc_eperm() -> i32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_netfilter::conntrack::{ProtoTuple, Protocol};

    fn flow(src: &str, dst: &str) -> Flow {
        Flow {
            src: src.parse().expect("src"),
            dst: dst.parse().expect("dst"),
        }
    }

    #[test]
    fn the_original_tuple_only() {
        let attrs = vec![
            ConntrackAttribute::CtaTupleOrig(vec![
                Tuple::Ip(vec![
                    IPTuple::SourceAddress("10.20.0.11".parse().expect("ip")),
                    IPTuple::DestinationAddress("198.51.100.1".parse().expect("ip")),
                ]),
                Tuple::Proto(vec![ProtoTuple::Protocol(Protocol::Udp)]),
            ]),
            ConntrackAttribute::CtaTupleReply(vec![Tuple::Ip(vec![
                IPTuple::SourceAddress("198.51.100.1".parse().expect("ip")),
                IPTuple::DestinationAddress("203.0.113.9".parse().expect("ip")),
            ])]),
        ];
        assert_eq!(flow_of(&attrs), Some(flow("10.20.0.11", "198.51.100.1")));
        assert_eq!(flow_of(&attrs[1..]), None);
    }

    #[test]
    fn counted_per_fixed_ip_once_per_flow() {
        let fixed: HashSet<IpAddr> = ["10.20.0.11", "2001:db8:20::12"]
            .iter()
            .map(|s| s.parse().expect("ip"))
            .collect();
        let flows = [
            flow("10.20.0.11", "198.51.100.1"),
            flow("198.51.100.2", "10.20.0.11"),
            flow("10.20.0.11", "10.20.0.11"),
            flow("2001:db8:20::12", "2001:db8::1"),
            flow("192.0.2.1", "192.0.2.2"),
        ];
        let c = count(&flows, &fixed);
        assert_eq!(c[&"10.20.0.11".parse::<IpAddr>().expect("ip")], 3);
        assert_eq!(c[&"2001:db8:20::12".parse::<IpAddr>().expect("ip")], 1);
        assert_eq!(c.len(), 2);
    }
}
