//! openstack-instance-exporter: per-VM libvirt, conntrack and threat-intel metrics.
//!
//! Until its collectors land, this binary serves the shared endpoints and its
//! self-metrics on the original's default address, `0.0.0.0:9120`.

use std::process::ExitCode;

use clap::Parser;
use exporter_core::cli::{self, CoreArgs, CoreDefaults};
use exporter_core::config::ConfigSources;
use exporter_core::{NoConfig, exporter_info};

#[derive(Debug, Parser)]
#[command(name = "openstack-instance-exporter", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    core: CoreArgs,
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse(CoreDefaults {
        listen_address: "0.0.0.0:9120",
        log_level: Some("error"),
    });
    let sources = ConfigSources {
        file: cli.core.config_file.clone(),
        ..ConfigSources::default()
    };
    exporter_core::launch(
        exporter_info!("oie"),
        cli.core,
        &sources,
        |_: NoConfig, _| Ok(()),
    )
}
