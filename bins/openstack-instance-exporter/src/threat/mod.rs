//! Threat intelligence on the conntrack data: which instances exchange flows with
//! addresses on the Tor, Spamhaus DROP, EmergingThreats or a custom list.

pub mod feed;
pub mod list;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::conntrack::Flow;

/// The lists, in the order of their metrics; `name` is the original's metric infix.
pub const NAMES: [&str; 4] = ["tor", "spamhaus", "emergingthreats", "customlist"];

/// One flow of an instance with a listed remote address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hit {
    /// Index into the instances.
    pub instance: usize,
    /// Index into the lists.
    pub list: usize,
    /// The instance opened the flow (its fixed IP is the original source).
    pub outbound: bool,
    pub remote: IpAddr,
}

/// Every (flow, list) hit. `owners` maps fixed IPs to their instance.
pub fn hits<S: std::hash::BuildHasher>(
    flows: &[Flow],
    owners: &HashMap<IpAddr, usize, S>,
    lists: &[Arc<list::Set>],
) -> Vec<Hit> {
    let mut out = Vec::new();
    if lists.iter().all(|l| l.is_empty()) {
        return out;
    }
    for f in flows {
        for (local, remote, outbound) in [(f.src, f.dst, true), (f.dst, f.src, false)] {
            let Some(&instance) = owners.get(&local) else {
                continue;
            };
            // A flow between two fixed IPs of one instance has no remote.
            if owners.get(&remote) == Some(&instance) {
                continue;
            }
            for (list, set) in lists.iter().enumerate() {
                if set.contains(remote) {
                    out.push(Hit {
                        instance,
                        list,
                        outbound,
                        remote,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_and_lists() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let tor = Arc::new(list::Set::new(["203.0.113.7/32".parse().expect("net")]));
        let drop = Arc::new(list::Set::new(["198.51.0.0/16".parse().expect("net")]));
        let owners: HashMap<IpAddr, usize> = [(ip("10.20.0.11"), 0), (ip("10.20.0.12"), 1)].into();
        let flows = [
            Flow {
                src: ip("10.20.0.11"),
                dst: ip("203.0.113.7"),
            },
            Flow {
                src: ip("198.51.100.9"),
                dst: ip("10.20.0.12"),
            },
            Flow {
                src: ip("10.20.0.11"),
                dst: ip("192.0.2.1"),
            },
            Flow {
                src: ip("203.0.113.7"),
                dst: ip("198.51.100.9"),
            },
        ];
        let h = hits(&flows, &owners, &[tor, drop]);
        assert_eq!(
            h,
            [
                Hit {
                    instance: 0,
                    list: 0,
                    outbound: true,
                    remote: ip("203.0.113.7")
                },
                Hit {
                    instance: 1,
                    list: 1,
                    outbound: false,
                    remote: ip("198.51.100.9")
                },
            ]
        );
    }
}
