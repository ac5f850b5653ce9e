//! geoip-conn-exporter: established TCP connections counted by remote country.
//!
//! Until its collector lands, this binary serves the shared endpoints and its
//! self-metrics, with the original's `-web.listen-address` (default `:9300`) and `-debug`.

use std::process::ExitCode;

use clap::Parser;
use exporter_core::cli::{self, CoreArgs, CoreDefaults, LogLevel};
use exporter_core::config::ConfigSources;
use exporter_core::{NoConfig, exporter_info};

#[derive(Debug, Parser)]
#[command(name = "geoip-conn-exporter", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    core: CoreArgs,

    /// Log at debug level (the original's flag; same as `--log.level=debug`).
    #[arg(long = "debug")]
    debug: bool,
}

fn main() -> ExitCode {
    let mut cli: Cli = cli::parse(CoreDefaults {
        listen_address: ":9300",
        log_level: None,
    });
    if cli.debug {
        cli.core.log_level = LogLevel::Debug;
    }
    let sources = ConfigSources {
        file: cli.core.config_file.clone(),
        ..ConfigSources::default()
    };
    exporter_core::launch(
        exporter_info!("geoip_conn"),
        cli.core,
        &sources,
        |_: NoConfig, _| Ok(()),
    )
}
