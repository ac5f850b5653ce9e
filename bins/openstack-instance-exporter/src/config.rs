//! The exporter's settings: the original's flags (Go spelling, same defaults) are
//! overrides of these config keys, so a unit file of the original keeps working and a
//! config file can hold everything.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use exporter_core::config::duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub libvirt: Libvirt,
    /// Time between two collections (the original's `-collection.interval`).
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub collection_interval: Duration,
    /// How long a domain's XML (Nova metadata, disks, interfaces) is reused before it is
    /// read again (`-static.cache.expiration`); ports change on attach and detach.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub static_cache_expiration: Duration,
    /// How long the last collection is served when the next ones fail
    /// (`-dynamic.cache.expiration`), on top of one interval.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub dynamic_cache_expiration: Duration,
    pub thresholds: Thresholds,
    /// `oie_cpu_percent` below this is not exported (`-cpu.min`; 0 exports every value).
    pub cpu_min: f64,
    /// The original's gaps: a disk's four I/O series are left out while all four are 0,
    /// and an interface's eight while all eight are 0. Off: every series is exported
    /// from the first reading, zeros included.
    pub zero_suppression: bool,
    pub conntrack: Conntrack,
    pub threat_intel: ThreatIntel,
}

/// The threat lists matched against the conntrack flows' remote addresses.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ThreatIntel {
    /// Where the last good copy of each downloaded list is kept, so that a restart
    /// without network still matches. Unset: memory only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// Time limit of one download.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub timeout: Duration,
    pub tor: UrlFeed,
    pub spamhaus: Spamhaus,
    pub emergingthreats: UrlFeed,
    pub customlist: FileFeed,
}

impl Default for ThreatIntel {
    fn default() -> Self {
        Self {
            state_dir: Some(PathBuf::from("/var/lib/openstack-instance-exporter")),
            timeout: Duration::from_secs(30),
            tor: UrlFeed {
                enabled: false,
                // exit_addresses too: exits may leave from another address than their
                // ORPort's (the original asked for or_addresses only).
                url: "https://onionoo.torproject.org/details?search=flag:exit&fields=or_addresses,exit_addresses".into(),
                refresh: Duration::from_secs(3600),
            },
            spamhaus: Spamhaus::default(),
            emergingthreats: UrlFeed {
                enabled: false,
                url: "https://rules.emergingthreats.net/blockrules/compromised-ips.txt".into(),
                refresh: Duration::from_secs(6 * 3600),
            },
            customlist: FileFeed::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlFeed {
    #[serde(default)]
    pub enabled: bool,
    pub url: String,
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub refresh: Duration,
}

/// Spamhaus DROP (EDROP was merged into it in 2024): the JSON files Spamhaus
/// recommends; the legacy text files (the original's defaults) are read too.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Spamhaus {
    pub enabled: bool,
    pub url: String,
    pub ipv6_url: String,
    /// Spamhaus asks for at most one download per hour.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub refresh: Duration,
}

impl Default for Spamhaus {
    fn default() -> Self {
        Self {
            enabled: false,
            url: "https://www.spamhaus.org/drop/drop_v4.json".into(),
            ipv6_url: "https://www.spamhaus.org/drop/drop_v6.json".into(),
            refresh: Duration::from_secs(6 * 3600),
        }
    }
}

/// A local file: one address or CIDR per line, `#` comments.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FileFeed {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub refresh: Duration,
}

impl Default for FileFeed {
    fn default() -> Self {
        Self {
            enabled: false,
            path: None,
            refresh: Duration::from_secs(600),
        }
    }
}

/// Flows per fixed IP, from the conntrack table.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Conntrack {
    /// Read conntrack (needs CAP_NET_ADMIN); off: no `oie_conntrack_*` series.
    pub enabled: bool,
    /// `oie_conntrack_ip_total` is exported from this many flows on (`-conntrack.min`).
    pub min: u64,
    /// Another network namespace's table (`/run/netns/<name>`); default: the exporter's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<PathBuf>,
}

impl Default for Conntrack {
    fn default() -> Self {
        Self {
            enabled: true,
            min: 20,
            netns: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            libvirt: Libvirt::default(),
            collection_interval: Duration::from_secs(10),
            static_cache_expiration: Duration::from_secs(3600),
            dynamic_cache_expiration: Duration::from_secs(10),
            thresholds: Thresholds::default(),
            cpu_min: 10.0,
            zero_suppression: true,
            conntrack: Conntrack::default(),
            threat_intel: ThreatIntel::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Libvirt {
    /// `-libvirt.uri`.
    pub uri: String,
    /// Open the connection read-only (the original opened it read-write; nothing here
    /// writes).
    pub read_only: bool,
    /// Time limit of one domain's calls in a cycle; a domain over it (a migration or a
    /// shutdown holding its job lock) keeps its last values and delays no other.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub call_timeout: Duration,
    /// Domains read at once.
    pub concurrency: usize,
}

impl Default for Libvirt {
    fn default() -> Self {
        Self {
            uri: "qemu:///system".into(),
            read_only: true,
            call_timeout: Duration::from_secs(5),
            concurrency: 4,
        }
    }
}

/// Alert thresholds exported per disk, by disk type (`local` or the Ceph pool).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// `-default.read.threshold`.
    pub default_read: i64,
    /// `-default.write.threshold`.
    pub default_write: i64,
    /// `-read.thresholds` (`default:500,local:200,ultra:2500`).
    pub read: BTreeMap<String, i64>,
    /// `-write.thresholds`.
    pub write: BTreeMap<String, i64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            default_read: 100,
            default_write: 100,
            read: BTreeMap::new(),
            write: BTreeMap::new(),
        }
    }
}

impl Thresholds {
    /// The original's resolution: the flag default, then the map's `default`, then the
    /// disk type's entry.
    pub fn resolve(&self, disk_type: &str) -> (i64, i64) {
        let pick = |map: &BTreeMap<String, i64>, fallback: i64| {
            map.get(disk_type)
                .or_else(|| map.get("default"))
                .copied()
                .unwrap_or(fallback)
        };
        (
            pick(&self.read, self.default_read),
            pick(&self.write, self.default_write),
        )
    }
}

/// The original's `type:int,type:int` flag format. Malformed pairs are skipped, as the
/// original did, and returned so they can be logged.
pub fn parse_threshold_list(s: &str) -> (BTreeMap<String, i64>, Vec<String>) {
    let mut map = BTreeMap::new();
    let mut bad = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pair.split_once(':') {
            Some((k, v)) if !k.trim().is_empty() => match v.trim().parse() {
                Ok(n) => {
                    map.insert(k.trim().to_owned(), n);
                }
                Err(_) => bad.push(pair.to_owned()),
            },
            _ => bad.push(pair.to_owned()),
        }
    }
    (map, bad)
}

impl exporter_core::Validate for Config {
    fn validate(&self) -> Result<(), String> {
        if self.collection_interval.is_zero() {
            return Err("collection_interval: must be above 0".into());
        }
        if self.libvirt.concurrency == 0 {
            return Err("libvirt.concurrency: must be at least 1".into());
        }
        if self.libvirt.call_timeout.is_zero() {
            return Err("libvirt.call_timeout: must be above 0".into());
        }
        let t = &self.threat_intel;
        if t.customlist.enabled && t.customlist.path.is_none() {
            return Err("threat_intel.customlist.path: required when the custom list is enabled (-customlist.path)".into());
        }
        if (t.tor.enabled
            || t.spamhaus.enabled
            || t.emergingthreats.enabled
            || t.customlist.enabled)
            && !self.conntrack.enabled
        {
            return Err("threat_intel: the lists are matched against conntrack; set conntrack.enabled: true".into());
        }
        for (key, refresh) in [
            ("tor", t.tor.refresh),
            ("spamhaus", t.spamhaus.refresh),
            ("emergingthreats", t.emergingthreats.refresh),
            ("customlist", t.customlist.refresh),
        ] {
            if refresh.is_zero() {
                return Err(format!("threat_intel.{key}.refresh: must be above 0"));
            }
        }
        if !self.cpu_min.is_finite() || self.cpu_min < 0.0 {
            return Err(format!("cpu_min: {} is not a percentage", self.cpu_min));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_flags_as_the_original() {
        let (map, bad) = parse_threshold_list("default:500,local:200,ultra:2500,oops,x:y");
        assert_eq!(map.len(), 3);
        assert_eq!(bad, ["oops", "x:y"]);
        let t = Thresholds {
            read: map,
            ..Thresholds::default()
        };
        assert_eq!(t.resolve("ultra").0, 2500);
        assert_eq!(t.resolve("vms").0, 500, "the map's default");
        assert_eq!(t.resolve("vms").1, 100, "no write map: the flag default");
    }
}
