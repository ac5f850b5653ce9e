//! hitron-exporter: multi-target probes of Hitron cable modems.
//!
//! Until its collectors land, this binary serves the shared endpoints and its
//! self-metrics on the original's default address, `:9938`.

use std::process::ExitCode;

use clap::Parser;
use exporter_core::cli::{self, CoreArgs, CoreDefaults};
use exporter_core::config::ConfigSources;
use exporter_core::{NoConfig, exporter_info};

#[derive(Debug, Parser)]
#[command(name = "hitron-exporter", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    core: CoreArgs,
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse(CoreDefaults {
        listen_address: ":9938",
        log_level: None,
    });
    let sources = ConfigSources {
        file: cli.core.config_file.clone(),
        ..ConfigSources::default()
    };
    exporter_core::launch(
        exporter_info!("hitron"),
        cli.core,
        &sources,
        |_: NoConfig, _| Ok(()),
    )
}
