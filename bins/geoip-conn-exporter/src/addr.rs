//! Remote addresses: normalisation (`::ffff:a.b.c.d` is IPv4), the address classes that
//! are excluded by default, and the blacklist. Pure functions, no I/O.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Address classes that say nothing about geography.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16 (RFC 1918).
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 100.64/10 (RFC 6598, carrier-grade NAT).
    Cgnat,
    /// fc00::/7 (unique local IPv6).
    Ula,
    /// 224/4, ff00::/8.
    Multicast,
    /// 0.0.0.0/8, ::, 240/4 and the broadcast address.
    Unspecified,
    /// An address of this host (the local end of one of its own sockets).
    Own,
}

impl Class {
    pub const ALL: [Class; 8] = [
        Class::Loopback,
        Class::Private,
        Class::LinkLocal,
        Class::Cgnat,
        Class::Ula,
        Class::Multicast,
        Class::Unspecified,
        Class::Own,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Loopback => "loopback",
            Class::Private => "private",
            Class::LinkLocal => "link_local",
            Class::Cgnat => "cgnat",
            Class::Ula => "ula",
            Class::Multicast => "multicast",
            Class::Unspecified => "unspecified",
            Class::Own => "own",
        }
    }
}

/// `::ffff:a.b.c.d` (a dual-stack socket's IPv4 peer) as the IPv4 address it is.
pub fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The class of a normalised address, if it is one of the non-geographic ones (`Own` is
/// decided by the caller, which knows the host's addresses).
pub fn class(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(v4) => class_v4(v4),
        IpAddr::V6(v6) => class_v6(v6),
    }
}

fn class_v4(ip: Ipv4Addr) -> Option<Class> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some(Class::Loopback)
    } else if ip.is_private() {
        Some(Class::Private)
    } else if ip.is_link_local() {
        Some(Class::LinkLocal)
    } else if a == 100 && (64..128).contains(&b) {
        Some(Class::Cgnat)
    } else if ip.is_multicast() {
        Some(Class::Multicast)
    } else if a == 0 || a >= 240 {
        Some(Class::Unspecified)
    } else {
        None
    }
}

fn class_v6(ip: Ipv6Addr) -> Option<Class> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some(Class::Loopback)
    } else if ip.is_unspecified() {
        Some(Class::Unspecified)
    } else if first & 0xffc0 == 0xfe80 {
        Some(Class::LinkLocal)
    } else if first & 0xfe00 == 0xfc00 {
        Some(Class::Ula)
    } else if ip.is_multicast() {
        Some(Class::Multicast)
    } else {
        None
    }
}

/// Remote addresses to ignore: the original's comma-separated IPs, plus CIDRs.
#[derive(Debug, Clone, Default)]
pub struct Blacklist {
    nets: Vec<IpNet>,
}

impl Blacklist {
    /// Parses entries such as `104.31.10.172`, `203.0.113.0/24` or `2001:db8::/32`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut nets = Vec::new();
        for e in entries {
            let e = e.as_ref().trim();
            if e.is_empty() {
                continue;
            }
            let net = match e.parse::<IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => match e.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(normalize(ip)),
                    Err(_) => return Err(format!("{e:?} is neither an IP address nor a CIDR")),
                },
            };
            nets.push(net);
        }
        Ok(Self { nets })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// Splits the original's `-blacklist` value (`a,b,c`).
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Why a remote address is not looked up, or `None` if it is.
pub fn exclusion(
    ip: IpAddr,
    excluded: &HashSet<Class>,
    own: &HashSet<IpAddr>,
    blacklist: &Blacklist,
) -> Option<&'static str> {
    if blacklist.contains(ip) {
        return Some("blacklist");
    }
    if let Some(c) = class(ip)
        && excluded.contains(&c)
    {
        return Some(c.as_str());
    }
    if excluded.contains(&Class::Own) && own.contains(&ip) {
        return Some(Class::Own.as_str());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        assert_eq!(normalize(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(normalize(ip("2001:db8::1")), ip("2001:db8::1"));
        // IPv4-compatible (deprecated) addresses are left alone: they are not dual-stack peers.
        assert_eq!(normalize(ip("::203.0.113.9")), ip("::203.0.113.9"));
    }

    #[test]
    fn classes() {
        for (a, c) in [
            ("127.0.0.1", Some(Class::Loopback)),
            ("127.9.9.9", Some(Class::Loopback)),
            ("::1", Some(Class::Loopback)),
            ("10.1.2.3", Some(Class::Private)),
            ("172.31.0.1", Some(Class::Private)),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(Class::Private)),
            ("169.254.0.5", Some(Class::LinkLocal)),
            ("fe80::1", Some(Class::LinkLocal)),
            ("100.64.0.1", Some(Class::Cgnat)),
            ("100.127.255.255", Some(Class::Cgnat)),
            ("100.128.0.1", None),
            ("fd00::1", Some(Class::Ula)),
            ("fc00::1", Some(Class::Ula)),
            ("224.0.0.1", Some(Class::Multicast)),
            ("ff02::1", Some(Class::Multicast)),
            ("0.0.0.0", Some(Class::Unspecified)),
            ("::", Some(Class::Unspecified)),
            ("255.255.255.255", Some(Class::Unspecified)),
            ("198.51.100.7", None),
            ("2001:db8::1", None),
        ] {
            assert_eq!(class(ip(a)), c, "{a}");
        }
    }

    #[test]
    fn blacklist_takes_ips_and_cidrs() {
        let b = Blacklist::parse(&split_list(
            "104.31.10.172, 203.0.113.0/24,2001:db8:5::/48,::ffff:192.0.2.1",
        ))
        .expect("parse");
        assert!(b.contains(ip("104.31.10.172")));
        assert!(!b.contains(ip("104.31.10.173")));
        assert!(b.contains(ip("203.0.113.200")));
        assert!(b.contains(ip("2001:db8:5:1::9")));
        assert!(!b.contains(ip("2001:db8:6::9")));
        assert!(b.contains(ip("192.0.2.1")));
        let err = Blacklist::parse(&["1.2.3"]).expect_err("bad");
        assert!(err.contains("\"1.2.3\""), "{err}");
    }

    #[test]
    fn exclusion_order_blacklist_then_class_then_own() {
        let all: HashSet<Class> = Class::ALL.into_iter().collect();
        let own: HashSet<IpAddr> = [ip("198.51.100.1")].into_iter().collect();
        let bl = Blacklist::parse(&["10.0.0.0/8"]).expect("bl");
        assert_eq!(
            exclusion(ip("10.1.1.1"), &all, &own, &bl),
            Some("blacklist")
        );
        assert_eq!(
            exclusion(ip("127.0.0.1"), &all, &own, &bl),
            Some("loopback")
        );
        assert_eq!(exclusion(ip("198.51.100.1"), &all, &own, &bl), Some("own"));
        assert_eq!(exclusion(ip("198.51.100.2"), &all, &own, &bl), None);
        let none = HashSet::new();
        assert_eq!(
            exclusion(ip("127.0.0.1"), &none, &own, &Blacklist::default()),
            None
        );
    }
}
