//! The config file (`--config.file`, YAML/JSON/TOML), with the original's flags layered
//! on top. Every key is optional: the defaults are the original's behaviour made safe.

use std::path::PathBuf;
use std::time::Duration;

use exporter_core::config::duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::addr::{Blacklist, Class};
use crate::sockets::Namespace;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Time between two collections (the original's `-interval`, in seconds there).
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub interval: Duration,
    /// Remote addresses not counted: IPs and CIDRs, IPv4 or IPv6 (the original's
    /// `-blacklist`, which took IPs only).
    pub blacklist: Vec<String>,
    /// Address classes not counted: loopback, private, link_local, cgnat, ula, multicast,
    /// unspecified, own (this host's addresses). Default: all of them.
    pub exclude: Vec<Class>,
    /// A MaxMind-format country or city database (GeoLite2/GeoIP2, DB-IP, ip-location-db).
    /// Default: the embedded DB-IP Lite country database. Reloaded when the file changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<PathBuf>,
    /// A GeoLite2-ASN-format database, needed for `labels.asn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn_database: Option<PathBuf>,
    /// How often the database files are checked for replacement.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub database_check_interval: Duration,
    /// Optional labels of `geoip_conn_connections`.
    pub labels: Labels,
    /// Values kept per optional label (city, asn, local_port), by connection count; the
    /// rest are summed under `other`. Bounds the series count.
    pub top_n: usize,
    /// Count this process's own network namespace.
    pub own_namespace: bool,
    /// Other network namespaces to count (labelled `netns`). Needs CAP_SYS_ADMIN.
    pub namespaces: Vec<NamespaceConfig>,
    /// Export the original's `job_location{location}` gauge as well.
    pub legacy_metric: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(180),
            blacklist: Vec::new(),
            exclude: Class::ALL.to_vec(),
            database: None,
            asn_database: None,
            database_check_interval: Duration::from_secs(60),
            labels: Labels::default(),
            top_n: 20,
            own_namespace: true,
            namespaces: Vec::new(),
            legacy_metric: true,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one switch per optional label, as in the config file"
)]
pub struct Labels {
    /// `continent` (GeoIP2-layout databases).
    pub continent: bool,
    /// `city` (city databases), top `top_n`.
    pub city: bool,
    /// `asn` (needs `asn_database`), top `top_n`.
    pub asn: bool,
    /// `local_port` of inbound connections (the service), top `top_n`; empty for outbound.
    pub local_port: bool,
}

/// One network namespace: exactly one of `name`, `pid`, `path`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceConfig {
    /// A named namespace (`ip netns`): `/run/netns/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The namespace of a process: `/proc/<pid>/ns/net`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// A namespace file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The `netns` label value (default: the name, `pid:<pid>` or the path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl NamespaceConfig {
    /// The namespace and its label.
    pub fn resolve(&self, index: usize) -> Result<(Namespace, String), String> {
        let at = format!("namespaces[{index}]");
        let (path, default_label) = match (&self.name, self.pid, &self.path) {
            (Some(name), None, None) => {
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    return Err(format!("{at}.name: {name:?} is not a namespace name"));
                }
                (PathBuf::from("/run/netns").join(name), name.clone())
            }
            (None, Some(pid), None) => (
                PathBuf::from(format!("/proc/{pid}/ns/net")),
                format!("pid:{pid}"),
            ),
            (None, None, Some(path)) => (path.clone(), path.display().to_string()),
            _ => return Err(format!("{at}: give exactly one of name, pid, path")),
        };
        Ok((
            Namespace::Path(path),
            self.label.clone().unwrap_or(default_label),
        ))
    }
}

impl exporter_core::Validate for Config {
    fn validate(&self) -> Result<(), String> {
        Config::validate(self)
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if self.interval < Duration::from_secs(1) {
            return Err("interval: must be at least 1s".into());
        }
        Blacklist::parse(&self.blacklist).map_err(|e| format!("blacklist: {e}"))?;
        if self.labels.asn && self.asn_database.is_none() {
            return Err("labels.asn: needs asn_database".into());
        }
        if self.top_n == 0 {
            return Err("top_n: must be at least 1".into());
        }
        if !self.own_namespace && self.namespaces.is_empty() {
            return Err("own_namespace: false with no namespaces leaves nothing to count".into());
        }
        for (i, ns) in self.namespaces.iter().enumerate() {
            ns.resolve(i)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_namespaces_are_checked() {
        Config::default().validate().expect("defaults");
        let mut c = Config {
            namespaces: vec![NamespaceConfig {
                name: Some("blue".into()),
                pid: Some(1),
                ..NamespaceConfig::default()
            }],
            ..Config::default()
        };
        assert_eq!(
            c.validate().expect_err("two"),
            "namespaces[0]: give exactly one of name, pid, path"
        );
        c.namespaces = vec![NamespaceConfig {
            pid: Some(42),
            ..NamespaceConfig::default()
        }];
        c.validate().expect("pid");
        assert_eq!(
            c.namespaces[0].resolve(0).expect("ns"),
            (
                Namespace::Path("/proc/42/ns/net".into()),
                "pid:42".to_owned()
            )
        );
        c.blacklist = vec!["300.1.1.1".into()];
        assert!(c.validate().expect_err("bl").starts_with("blacklist: "));
    }
}
