//! geoip-conn-exporter: this host's established TCP connections counted by the remote
//! address's country, from a local MaxMind-format database (embedded by default), a
//! drop-in for gree-gorey/geoip-exporter (`job_location`, `-interval`, `-blacklist`,
//! `-debug`, `:9300`).

// Tests compare exact counts, which are exact in f64.
#![cfg_attr(test, allow(clippy::float_cmp))]

mod addr;
mod collect;
mod config;
mod geo;
mod sockets;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use exporter_core::cli::{self, CoreArgs, CoreDefaults, LogLevel};
use exporter_core::config::ConfigSources;
use exporter_core::{Exporter, Schedule, exporter_info};
use serde::Serialize;

use crate::collect::{Connections, Databases};
use crate::config::Config;
use crate::geo::GeoDb;

#[derive(Debug, Parser)]
#[command(name = "geoip-conn-exporter", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    core: CoreArgs,

    /// Seconds between two collections (the original's flag; config key `interval`,
    /// default 180).
    #[arg(long = "interval", value_name = "SECONDS")]
    interval: Option<u64>,

    /// Comma-separated remote IPs or CIDRs not counted (the original's flag; config key
    /// `blacklist`).
    #[arg(long = "blacklist", value_name = "LIST")]
    blacklist: Option<String>,

    /// Log at debug level, including the per-country counts of each cycle (the
    /// original's flag; same as `--log.level=debug`).
    #[arg(long = "debug")]
    debug: bool,
}

/// The flags that override config keys.
#[derive(Serialize)]
struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blacklist: Option<Vec<String>>,
}

fn main() -> ExitCode {
    let mut cli: Cli = cli::parse(CoreDefaults {
        listen_address: ":9300",
        log_level: None,
    });
    if cli.debug {
        cli.core.log_level = LogLevel::Debug;
    }
    let mut sources = ConfigSources {
        file: cli.core.config_file.clone(),
        ..ConfigSources::default()
    };
    let overrides = Overrides {
        interval: cli.interval.map(|s| format!("{s}s")),
        blacklist: cli.blacklist.as_deref().map(addr::split_list),
    };
    if let Err(e) = sources.push_override(&overrides) {
        eprintln!("geoip-conn-exporter: {e}");
        return ExitCode::FAILURE;
    }
    exporter_core::launch(exporter_info!("geoip_conn"), cli.core, &sources, setup)
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the signature launch() calls with the loaded config"
)]
fn setup(config: Config, ex: &mut Exporter) -> Result<(), String> {
    // launch() has run Config::validate.
    let geo = Arc::new(
        match &config.database {
            Some(path) => GeoDb::open(path),
            None => GeoDb::embedded(),
        }
        .map_err(|e| e.to_string())?,
    );
    let asn = match &config.asn_database {
        Some(path) => Some(Arc::new(GeoDb::open(path).map_err(|e| e.to_string())?)),
        None => None,
    };
    let mut dbs = vec![("country", Arc::clone(&geo))];
    if let Some(a) = &asn {
        dbs.push(("asn", Arc::clone(a)));
    }
    let connections = Connections::new(&config, geo, asn)?;
    // A cycle costs milliseconds; the timeout only guards against a stuck netlink read.
    let timeout = config.interval.min(Duration::from_secs(60));
    ex.collector(
        connections,
        Schedule::every(config.interval)
            .with_timeout(timeout)
            // Served until two cycles were missed, then dropped rather than served stale.
            .with_ttl(config.interval * 2 + timeout),
    );
    ex.collector(
        Databases::new(dbs),
        Schedule::every(config.database_check_interval)
            .with_ttl(config.database_check_interval * 3),
    );
    Ok(())
}
