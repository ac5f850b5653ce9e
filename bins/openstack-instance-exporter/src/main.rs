//! openstack-instance-exporter: per-VM libvirt metrics with Nova's labels on OpenStack
//! compute nodes; a drop-in for webnifico/openstack_instance_exporter v1.1.0 (its
//! `oie_*` metrics, Go-style flags and defaults, port 9120). libvirt is read in the
//! background, each domain under a time limit, and `/metrics` serves the last results.

mod collect;
mod config;
mod conntrack;
mod cpu;
mod domain;
mod libvirt;
mod metrics;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use exporter_core::cli::{self, CoreArgs, CoreDefaults};
use exporter_core::config::ConfigSources;
use exporter_core::{Exporter, Schedule, exporter_info};
use serde::Serialize;

use crate::config::Config;

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
    };
    if let Err(e) = sources.push_override(&overrides) {
        eprintln!("openstack-instance-exporter: {e}");
        return ExitCode::FAILURE;
    }
    exporter_core::launch(exporter_info!("oie"), cli.core, &sources, setup)
}

#[allow(
    clippy::needless_pass_by_value,
    clippy::unnecessary_wraps,
    reason = "the signature launch() calls with the loaded config"
)]
fn setup(config: Config, ex: &mut Exporter) -> Result<(), String> {
    let config = Arc::new(config);
    let interval = config.collection_interval;
    // A cycle waits at most one call time limit for the list, then one per domain batch;
    // a slow domain is left behind, not waited for.
    let timeout = (config.libvirt.call_timeout * 3).max(interval);
    ex.collector(
        collect::Instances::new(Arc::clone(&config)),
        Schedule::every(interval)
            .with_timeout(timeout)
            .with_ttl(interval + timeout + config.dynamic_cache_expiration),
    );
    Ok(())
}
