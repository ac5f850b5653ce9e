//! openstack-instance-exporter: per-VM libvirt metrics with Nova's labels on OpenStack
//! compute nodes; a drop-in for webnifico/openstack_instance_exporter v1.1.0 (its
//! `oie_*` metrics, Go-style flags and defaults, port 9120). libvirt is read in the
//! background, each domain under a time limit, and `/metrics` serves the last results.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use exporter_core::cli::{self, CoreArgs, CoreDefaults};
use exporter_core::config::ConfigSources;
use exporter_core::{Exporter, Schedule, exporter_info};
use serde::Serialize;

use openstack_instance_exporter::config::{self, Config};
use openstack_instance_exporter::{collect, threat};

#[derive(Debug, Parser)]
#[command(name = "openstack-instance-exporter", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    core: CoreArgs,

    /// libvirt connection URI (config `libvirt.uri`; default qemu:///system).
    #[arg(long = "libvirt.uri", value_name = "URI")]
    libvirt_uri: Option<String>,

    /// Read alert thresholds by disk type, `type:int,…` (e.g. `default:500,local:200`).
    #[arg(long = "read.thresholds", value_name = "LIST")]
    read_thresholds: Option<String>,

    /// Write alert thresholds by disk type, `type:int,…`.
    #[arg(long = "write.thresholds", value_name = "LIST")]
    write_thresholds: Option<String>,

    /// Read threshold of disk types without an entry (default 100).
    #[arg(long = "default.read.threshold", value_name = "INT")]
    default_read_threshold: Option<i64>,

    /// Write threshold of disk types without an entry (default 100).
    #[arg(long = "default.write.threshold", value_name = "INT")]
    default_write_threshold: Option<i64>,

    /// How long a domain's XML is reused (default 1h).
    #[arg(long = "static.cache.expiration", value_name = "DURATION")]
    static_cache_expiration: Option<String>,

    /// How long the last collection is served when later ones fail (default 10s).
    #[arg(long = "dynamic.cache.expiration", value_name = "DURATION")]
    dynamic_cache_expiration: Option<String>,

    /// Time between two collections (default 10s).
    #[arg(long = "collection.interval", value_name = "DURATION")]
    collection_interval: Option<String>,

    /// CPU percentages below this are not exported (default 10).
    #[arg(long = "cpu.min", value_name = "PERCENT")]
    cpu_min: Option<f64>,

    /// Flows per fixed IP from which `oie_conntrack_ip_total` is exported (default 20).
    #[arg(long = "conntrack.min", value_name = "FLOWS")]
    conntrack_min: Option<u64>,

    #[command(flatten)]
    feeds: FeedFlags,
}

/// The original's threat-list flags (`-tor.enable` alone means true, as in Go).
#[derive(Debug, clap::Args)]
struct FeedFlags {
    /// Match flows against Tor exit relays (Onionoo).
    #[arg(long = "tor.enable", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    tor_enable: Option<bool>,
    /// Onionoo details URL.
    #[arg(long = "tor.url", value_name = "URL")]
    tor_url: Option<String>,
    /// Time between two Tor list downloads (default 1h).
    #[arg(long = "tor.refresh", value_name = "DURATION")]
    tor_refresh: Option<String>,
    /// Match flows against Spamhaus DROP.
    #[arg(long = "spamhaus.enable", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    spamhaus_enable: Option<bool>,
    /// Spamhaus DROP IPv4 URL (JSON or the legacy text).
    #[arg(long = "spamhaus.url", value_name = "URL")]
    spamhaus_url: Option<String>,
    /// Spamhaus DROP IPv6 URL.
    #[arg(long = "spamhaus.ipv6.url", value_name = "URL")]
    spamhaus_ipv6_url: Option<String>,
    /// Time between two Spamhaus downloads (default 6h).
    #[arg(long = "spamhaus.refresh", value_name = "DURATION")]
    spamhaus_refresh: Option<String>,
    /// Match flows against EmergingThreats compromised IPs.
    #[arg(long = "emergingthreats.enable", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    emergingthreats_enable: Option<bool>,
    /// EmergingThreats list URL.
    #[arg(long = "emergingthreats.url", value_name = "URL")]
    emergingthreats_url: Option<String>,
    /// Time between two EmergingThreats downloads (default 6h).
    #[arg(long = "emergingthreats.refresh", value_name = "DURATION")]
    emergingthreats_refresh: Option<String>,
    /// Match flows against a local list (one IP or CIDR per line, # comments).
    #[arg(long = "customlist.enable", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    customlist_enable: Option<bool>,
    /// The custom list's file.
    #[arg(long = "customlist.path", value_name = "FILE")]
    customlist_path: Option<String>,
    /// Time between two reads of the custom list (default 10m).
    #[arg(long = "customlist.refresh", value_name = "DURATION")]
    customlist_refresh: Option<String>,
}

#[derive(Serialize, Default)]
struct FeedOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh: Option<String>,
}

impl FeedOverride {
    fn some(self) -> Option<Self> {
        (self.enabled.is_some()
            || self.url.is_some()
            || self.ipv6_url.is_some()
            || self.path.is_some()
            || self.refresh.is_some())
        .then_some(self)
    }
}

#[derive(Serialize)]
struct ThreatOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    tor: Option<FeedOverride>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spamhaus: Option<FeedOverride>,
    #[serde(skip_serializing_if = "Option::is_none")]
    emergingthreats: Option<FeedOverride>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customlist: Option<FeedOverride>,
}

impl FeedFlags {
    fn overrides(&self) -> Option<ThreatOverrides> {
        let t = ThreatOverrides {
            tor: FeedOverride {
                enabled: self.tor_enable,
                url: self.tor_url.clone(),
                refresh: self.tor_refresh.clone(),
                ..FeedOverride::default()
            }
            .some(),
            spamhaus: FeedOverride {
                enabled: self.spamhaus_enable,
                url: self.spamhaus_url.clone(),
                ipv6_url: self.spamhaus_ipv6_url.clone(),
                refresh: self.spamhaus_refresh.clone(),
                ..FeedOverride::default()
            }
            .some(),
            emergingthreats: FeedOverride {
                enabled: self.emergingthreats_enable,
                url: self.emergingthreats_url.clone(),
                refresh: self.emergingthreats_refresh.clone(),
                ..FeedOverride::default()
            }
            .some(),
            customlist: FeedOverride {
                enabled: self.customlist_enable,
                path: self.customlist_path.clone(),
                refresh: self.customlist_refresh.clone(),
                ..FeedOverride::default()
            }
            .some(),
        };
        (t.tor.is_some()
            || t.spamhaus.is_some()
            || t.emergingthreats.is_some()
            || t.customlist.is_some())
        .then_some(t)
    }
}

/// The flags that override config keys.
#[derive(Serialize, Default)]
struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    libvirt: Option<LibvirtOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thresholds: Option<ThresholdOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    static_cache_expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dynamic_cache_expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    collection_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conntrack: Option<ConntrackOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threat_intel: Option<ThreatOverrides>,
}

#[derive(Serialize)]
struct ConntrackOverrides {
    min: u64,
}

#[derive(Serialize)]
struct LibvirtOverrides {
    uri: String,
}

#[derive(Serialize, Default)]
struct ThresholdOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    default_read: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_write: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read: Option<std::collections::BTreeMap<String, i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    write: Option<std::collections::BTreeMap<String, i64>>,
}

fn threshold_flag(
    flag: &str,
    value: Option<&str>,
) -> Option<std::collections::BTreeMap<String, i64>> {
    let (map, bad) = config::parse_threshold_list(value?);
    for pair in bad {
        // Skipped, as the original did; said once at start.
        eprintln!("openstack-instance-exporter: {flag}: ignoring {pair:?} (expected type:integer)");
    }
    Some(map)
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse(CoreDefaults {
        listen_address: "0.0.0.0:9120",
        log_level: Some("error"),
    });
    let mut sources = ConfigSources {
        file: cli.core.config_file.clone(),
        ..ConfigSources::default()
    };
    let thresholds = ThresholdOverrides {
        default_read: cli.default_read_threshold,
        default_write: cli.default_write_threshold,
        read: threshold_flag("-read.thresholds", cli.read_thresholds.as_deref()),
        write: threshold_flag("-write.thresholds", cli.write_thresholds.as_deref()),
    };
    let any_threshold = thresholds.default_read.is_some()
        || thresholds.default_write.is_some()
        || thresholds.read.is_some()
        || thresholds.write.is_some();
    let overrides = Overrides {
        libvirt: cli.libvirt_uri.clone().map(|uri| LibvirtOverrides { uri }),
        thresholds: any_threshold.then_some(thresholds),
        static_cache_expiration: cli.static_cache_expiration.clone(),
        dynamic_cache_expiration: cli.dynamic_cache_expiration.clone(),
        collection_interval: cli.collection_interval.clone(),
        cpu_min: cli.cpu_min,
        conntrack: cli.conntrack_min.map(|min| ConntrackOverrides { min }),
        threat_intel: cli.feeds.overrides(),
    };
    if let Err(e) = sources.push_override(&overrides) {
        eprintln!("openstack-instance-exporter: {e}");
        return ExitCode::FAILURE;
    }
    exporter_core::launch(exporter_info!("oie"), cli.core, &sources, setup)
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the signature launch() calls with the loaded config"
)]
fn setup(config: Config, ex: &mut Exporter) -> Result<(), String> {
    let config = Arc::new(config);
    let interval = config.collection_interval;
    // A cycle waits at most one call time limit for the list, then one per domain batch;
    // a slow domain is left behind, not waited for.
    let timeout = (config.libvirt.call_timeout * 3).max(interval);
    let lists = threat_feeds(&config, ex)?;
    ex.collector(
        collect::Instances::new(Arc::clone(&config), lists),
        Schedule::every(interval)
            .with_timeout(timeout)
            .with_ttl(interval + timeout + config.dynamic_cache_expiration),
    );
    Ok(())
}

/// Starts a refresh task per enabled list; returns the lists in `threat::NAMES` order
/// (`None` for a disabled one).
fn threat_feeds(
    config: &Config,
    ex: &mut Exporter,
) -> Result<Vec<Option<Arc<threat::feed::List>>>, String> {
    use threat::feed::{Feed, List, Source};
    use threat::list;
    let t = &config.threat_intel;
    let http = reqwest::Client::builder()
        .user_agent(concat!(
            "openstack-instance-exporter/",
            env!("CARGO_PKG_VERSION")
        ))
        .connect_timeout(t.timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let feeds = [
        (t.tor.enabled).then(|| {
            (
                Source::Urls(vec![t.tor.url.clone()]),
                list::onionoo as fn(&[u8]) -> _,
                t.tor.refresh,
            )
        }),
        (t.spamhaus.enabled).then(|| {
            (
                Source::Urls(vec![t.spamhaus.url.clone(), t.spamhaus.ipv6_url.clone()]),
                list::spamhaus as fn(&[u8]) -> _,
                t.spamhaus.refresh,
            )
        }),
        (t.emergingthreats.enabled).then(|| {
            (
                Source::Urls(vec![t.emergingthreats.url.clone()]),
                list::plain as fn(&[u8]) -> _,
                t.emergingthreats.refresh,
            )
        }),
        (t.customlist.enabled).then(|| {
            (
                Source::File(t.customlist.path.clone().unwrap_or_default()),
                list::plain as fn(&[u8]) -> _,
                t.customlist.refresh,
            )
        }),
    ];
    let mut lists = Vec::new();
    for (name, feed) in threat::NAMES.into_iter().zip(feeds) {
        let Some((source, parse, refresh)) = feed else {
            lists.push(None);
            continue;
        };
        let list = List::new(name);
        let feed = Feed {
            list: Arc::clone(&list),
            source,
            parse,
            refresh,
            timeout: t.timeout,
            state_dir: t.state_dir.clone(),
        };
        let http = http.clone();
        ex.task(move |stop| feed.run(http, stop));
        lists.push(Some(list));
    }
    Ok(lists)
}
