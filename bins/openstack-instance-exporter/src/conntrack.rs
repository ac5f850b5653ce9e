//! Conntrack over ctnetlink (no `conntrack -L` process, no text parsing): one dump of
//! both families per cycle, in this process's network namespace or another one. The
//! netlink I/O (`dump`) is apart from the pure parts (`flow_of`, `count`).

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::os::fd::AsFd as _;
use std::path::Path;

use netlink_packet_core::{
    NLA_HEADER_SIZE, NLA_TYPE_MASK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NlaBuffer, NlasIterator,
};
use netlink_packet_netfilter::conntrack::ConntrackMessage;
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};
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

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_IP: u16 = 1;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
/// `NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW`: what a dump answers per entry.
const CT_NEW: u16 = 1 << 8;

fn nested(payload: &[u8], kind: u16) -> Option<&[u8]> {
    NlasIterator::new(payload)
        .filter_map(Result::ok)
        .find(|n| n.kind() & NLA_TYPE_MASK == kind)
        .map(value)
}

/// An attribute's value, borrowed from the message (not from the iterator's item).
fn value(nla: NlaBuffer<&[u8]>) -> &[u8] {
    let len = usize::from(nla.length());
    let inner = nla.into_inner();
    inner
        .get(NLA_HEADER_SIZE..len.min(inner.len()))
        .unwrap_or_default()
}

fn addr(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// The original tuple's addresses of a conntrack message's payload (after the 4-byte
/// netfilter header). Only the two attributes needed are walked, without allocating:
/// a dump of 100,000 entries decoded in full by the crate's types cost ~75 ms more.
pub fn flow_of(attributes: &[u8]) -> Option<Flow> {
    let ip = nested(nested(attributes, CTA_TUPLE_ORIG)?, CTA_TUPLE_IP)?;
    let (mut src, mut dst) = (None, None);
    for nla in NlasIterator::new(ip).filter_map(Result::ok) {
        match nla.kind() & NLA_TYPE_MASK {
            CTA_IP_V4_SRC | CTA_IP_V6_SRC => src = addr(value(nla)),
            CTA_IP_V4_DST | CTA_IP_V6_DST => dst = addr(value(nla)),
            _ => {}
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
    // The kernel sizes its dump datagrams after the reader's buffer (up to 512 KiB):
    // fewer, larger ones cut a 100,000-entry dump from ~320 to ~260 ms here.
    let mut buf = vec![0u8; 512 * 1024];
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
            // Shorter than a netlink header, or past the read: the rest is unusable.
            if len < 16 || offset + len > size {
                break;
            }
            let message = &buf[offset..offset + len];
            let kind = u16::from_ne_bytes([message[4], message[5]]);
            if kind == CT_NEW {
                // Netlink header (16 bytes), then the netfilter header (4).
                match message.get(20..).and_then(flow_of) {
                    Some(f) => dump.flows.push(f),
                    None => dump.unreadable += 1,
                }
            } else {
                match <NetlinkMessage<NetfilterMessage>>::deserialize(message) {
                    Ok(msg) => match msg.payload {
                        NetlinkPayload::Done(_) => return Ok(dump),
                        NetlinkPayload::Error(e) => {
                            let code = e.code.map_or(0, |c| -c.get());
                            return Err(if code == EPERM {
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
            }
            offset += (len + 3) & !3;
        }
    }
}

const EPERM: i32 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_netfilter::conntrack::{
        ConntrackAttribute, IPTuple, ProtoTuple, Protocol, Tuple,
    };

    fn flow(src: &str, dst: &str) -> Flow {
        Flow {
            src: src.parse().expect("src"),
            dst: dst.parse().expect("dst"),
        }
    }

    /// A message as the kernel sends it, encoded by the crate's types.
    fn encoded(attrs: Vec<ConntrackAttribute>) -> Vec<u8> {
        use netlink_packet_core::Emitable as _;
        let message = NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 0),
            ConntrackMessage::New(attrs),
        );
        let mut bytes = vec![0u8; message.buffer_len()];
        message.emit(&mut bytes);
        bytes[4..].to_vec()
    }

    #[test]
    fn the_original_tuple_only() {
        let tuple = |src: &str, dst: &str| {
            vec![
                Tuple::Ip(vec![
                    IPTuple::SourceAddress(src.parse().expect("ip")),
                    IPTuple::DestinationAddress(dst.parse().expect("ip")),
                ]),
                Tuple::Proto(vec![
                    ProtoTuple::Protocol(Protocol::Udp),
                    ProtoTuple::SourcePort(40000),
                    ProtoTuple::DestinationPort(53),
                ]),
            ]
        };
        let both = encoded(vec![
            ConntrackAttribute::CtaTupleOrig(tuple("10.20.0.11", "198.51.100.1")),
            ConntrackAttribute::CtaTupleReply(tuple("198.51.100.1", "203.0.113.9")),
            ConntrackAttribute::CtaTimeout(30),
        ]);
        assert_eq!(flow_of(&both), Some(flow("10.20.0.11", "198.51.100.1")));
        let v6 = encoded(vec![ConntrackAttribute::CtaTupleOrig(tuple(
            "2001:db8:20::12",
            "2001:db8::1",
        ))]);
        assert_eq!(flow_of(&v6), Some(flow("2001:db8:20::12", "2001:db8::1")));
        let reply_only = encoded(vec![ConntrackAttribute::CtaTupleReply(tuple(
            "198.51.100.1",
            "203.0.113.9",
        ))]);
        assert_eq!(flow_of(&reply_only), None);
        // Cut anywhere: no panic, no flow.
        for cut in 0..both.len() {
            let _ = flow_of(&both[..cut]);
        }
        assert_eq!(flow_of(&[]), None);
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
