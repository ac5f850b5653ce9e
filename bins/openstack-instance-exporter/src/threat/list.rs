//! Threat lists as sets of address ranges, and the feeds' formats. Pure: parsing and
//! matching are tested on their own.
//!
//! A list is one sorted, merged range table per family; a lookup is a binary search, so
//! every prefix length matches (the original bucketed Spamhaus by /16 and /48 and missed
//! every shorter prefix) and single addresses (Tor, ET) cost the same.

use std::net::IpAddr;

use ipnet::IpNet;

/// Address ranges of one list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

fn merge<T: Ord + Copy>(mut ranges: Vec<(T, T)>, next: impl Fn(T) -> Option<T>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        if let Some(last) = out.last_mut() {
            // Overlapping or adjacent: one range.
            if next(last.1).is_none_or(|n| start <= n) {
                if end > last.1 {
                    last.1 = end;
                }
                continue;
            }
        }
        out.push((start, end));
    }
    out
}

fn find<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|(start, _)| *start <= x);
    i > 0 && ranges[i - 1].1 >= x
}

impl Set {
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for net in nets {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        Self {
            v4: merge(v4, |x: u32| x.checked_add(1)),
            v6: merge(v6, |x: u128| x.checked_add(1)),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => find(&self.v4, u32::from(v4)),
                None => find(&self.v6, u128::from(a)),
            },
        }
    }

    /// Merged ranges (what the lookup walks), for the entries metric.
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges() == 0
    }
}

/// What a feed's body held.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub nets: Vec<IpNet>,
    /// Lines or records that were not addresses (skipped).
    pub skipped: usize,
}

fn net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|n| n.trunc())
}

/// Onionoo `details`: every relay's `or_addresses` (`ip:port`, `[ipv6]:port`) and
/// `exit_addresses` (plain; exits may leave from another address than their ORPort's).
pub fn onionoo(body: &[u8]) -> Result<Parsed, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not Onionoo JSON: {e}"))?;
    let relays = v
        .get("relays")
        .and_then(serde_json::Value::as_array)
        .ok_or("no `relays` array")?;
    let mut out = Parsed::default();
    for relay in relays {
        for field in ["or_addresses", "exit_addresses"] {
            for a in relay
                .get(field)
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_str)
            {
                // Strip the port: `[v6]:port` or `v4:port`; exit addresses have none.
                let host = if let Some(rest) = a.strip_prefix('[') {
                    rest.split(']').next().unwrap_or(rest)
                } else if a.matches(':').count() == 1 {
                    a.split(':').next().unwrap_or(a)
                } else {
                    a
                };
                match net(host) {
                    Some(n) => out.nets.push(n),
                    None => out.skipped += 1,
                }
            }
        }
    }
    Ok(out)
}

/// Spamhaus DROP: the JSON files (one object per line, `{"cidr": …}`, a metadata object
/// last) or the legacy text (`CIDR ; SBLnnn`, `;` comments).
pub fn spamhaus(body: &[u8]) -> Result<Parsed, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut out = Parsed::default();
    for (n, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let lines = n + 1;
        if line.starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("line {lines}: not JSON: {e}"))?;
            if let Some(cidr) = v.get("cidr").and_then(serde_json::Value::as_str) {
                match net(cidr) {
                    Some(n) => out.nets.push(n),
                    None => out.skipped += 1,
                }
            }
        } else if !line.starts_with(';') && !line.starts_with('#') {
            match net(line.split(';').next().unwrap_or(line)) {
                Some(n) => out.nets.push(n),
                None => out.skipped += 1,
            }
        }
    }
    if out.nets.is_empty() && out.skipped > 0 {
        return Err(format!("no address in {} lines", out.skipped));
    }
    Ok(out)
}

/// One address or CIDR per line, `#` comments (EmergingThreats, the custom list).
pub fn plain(body: &[u8]) -> Result<Parsed, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut out = Parsed::default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match net(line) {
            Some(n) => out.nets.push(n),
            None => out.skipped += 1,
        }
    }
    if out.nets.is_empty() && out.skipped > 0 {
        return Err(format!("no address in {} lines", out.skipped));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn every_prefix_length_matches() {
        let set = Set::new(
            [
                "1.10.16.0/20",
                "100.64.0.0/10",
                "2a06:e480::/29",
                "203.0.113.7/32",
            ]
            .iter()
            .map(|s| s.parse().expect("net")),
        );
        // Inside a /10 but in another /16 than its network: the original missed these.
        assert!(set.contains(ip("100.100.1.1")));
        assert!(set.contains(ip("100.127.255.255")));
        assert!(!set.contains(ip("100.128.0.0")));
        assert!(set.contains(ip("1.10.31.255")));
        assert!(!set.contains(ip("1.10.32.0")));
        assert!(set.contains(ip("2a06:e487:ffff::1")));
        assert!(!set.contains(ip("2a06:e488::")));
        assert!(set.contains(ip("203.0.113.7")));
        assert!(!set.contains(ip("203.0.113.8")));
        assert!(set.contains(ip("::ffff:203.0.113.7")), "v4-mapped");
    }

    #[test]
    fn ranges_merge() {
        let set = Set::new(
            [
                "10.0.0.0/25",
                "10.0.0.128/25",
                "10.0.0.5/32",
                "255.255.255.255/32",
                "0.0.0.0/32",
            ]
            .iter()
            .map(|s| s.parse().expect("net")),
        );
        assert_eq!(set.ranges(), 3);
        assert!(set.contains(ip("10.0.0.200")));
        assert!(set.contains(ip("255.255.255.255")));
        assert!(set.contains(ip("0.0.0.0")));
        assert!(!set.contains(ip("0.0.0.1")));
        assert!(Set::default().is_empty());
    }

    #[test]
    fn feed_formats() {
        let tor = br#"{"version":"9.0","relays":[{"or_addresses":["203.0.113.7:9001","[2001:db8::7]:9001"],"exit_addresses":["203.0.113.8"]},{"or_addresses":["bad:1"]}],"bridges":[]}"#;
        let p = onionoo(tor).expect("onionoo");
        assert_eq!(p.nets.len(), 3);
        assert_eq!(p.skipped, 1);
        assert!(onionoo(b"<html>").is_err());
        assert!(onionoo(b"{}").is_err());

        let json = b"{\"cidr\":\"1.10.16.0/20\",\"sblid\":\"SBL256894\",\"rir\":\"apnic\"}\n{\"cidr\":\"2a06:e480::/29\",\"sblid\":\"SBL301771\",\"rir\":\"ripencc\"}\n{\"type\":\"metadata\",\"timestamp\":1790072042,\"records\":2}\n";
        assert_eq!(spamhaus(json).expect("json").nets.len(), 2);
        let text = b"; Spamhaus DROP List\n; Last-Modified: x\n1.10.16.0/20 ; SBL256894\n2.56.192.0/22 ; SBL459831\n";
        assert_eq!(spamhaus(text).expect("text").nets.len(), 2);
        assert!(spamhaus(b"{\"cidr\":").is_err());
        assert!(spamhaus(b"<html><body>oops</body></html>").is_err());

        let et =
            b"# ET compromised\n198.51.100.1\n198.51.100.2 # note\n\nnot-an-ip\n2001:db8::/32\n";
        let p = plain(et).expect("plain");
        assert_eq!((p.nets.len(), p.skipped), (3, 1));
        assert!(plain(b"<html>\n<body>\n").is_err());
        assert_eq!(plain(b"").expect("empty").nets.len(), 0);
    }
}
