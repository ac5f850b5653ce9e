//! Conntrack entries made fast, for tests and benchmarks: UDP entries inserted through
//! ctnetlink (`IPCTNL_MSG_CT_NEW`, what `conntrack -I` sends), many per datagram, in a
//! namespace (`Netns::enter`) or the caller's. No traffic and no `ct` rule needed.

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_CREATE, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoTuple, Protocol, Tuple,
};
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};
use netlink_sys::Socket;
use netlink_sys::protocols::NETLINK_NETFILTER;

/// One UDP entry: the original direction `src:sport -> dst:dport`.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
}

fn tuple(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> Vec<Tuple> {
    vec![
        Tuple::Ip(vec![
            IPTuple::SourceAddress(src),
            IPTuple::DestinationAddress(dst),
        ]),
        Tuple::Proto(vec![
            ProtoTuple::Protocol(Protocol::Udp),
            ProtoTuple::SourcePort(sport),
            ProtoTuple::DestinationPort(dport),
        ]),
    ]
}

/// Inserts `entries` (10-minute timeout) into the current thread's network namespace.
/// Entries that exist already are left as they are.
pub fn insert(entries: &[Entry]) -> io::Result<()> {
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
    let mut batch = Vec::with_capacity(64 * 1024);
    for e in entries {
        let family = if e.src.is_ipv4() {
            NetfilterProtoFamily::IPv4
        } else {
            NetfilterProtoFamily::IPv6
        };
        let mut header = NetlinkHeader::default();
        // No ACK: errors come back as messages, read below.
        header.flags = NLM_F_REQUEST | NLM_F_CREATE;
        let mut packet = NetlinkMessage::new(
            header,
            NetlinkPayload::from(NetfilterMessage::new(
                NetfilterHeader::new(family, 0, 0),
                ConntrackMessage::New(vec![
                    ConntrackAttribute::CtaTupleOrig(tuple(e.src, e.dst, e.sport, e.dport)),
                    ConntrackAttribute::CtaTupleReply(tuple(e.dst, e.src, e.dport, e.sport)),
                    ConntrackAttribute::CtaTimeout(600),
                ]),
            )),
        );
        packet.finalize();
        let start = batch.len();
        batch.resize(start + packet.buffer_len(), 0);
        packet.serialize(&mut batch[start..]);
        if batch.len() > 60 * 1024 {
            socket.send(&batch, 0)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        socket.send(&batch, 0)?;
    }
    Ok(())
}
