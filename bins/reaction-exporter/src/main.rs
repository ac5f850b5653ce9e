//! reaction-exporter: the reaction daemon's logs and state.
//!
//! Until its collectors land, this binary serves the shared endpoints and its
//! self-metrics on the original's default address, `127.0.0.1:8080`.

use std::process::ExitCode;

use clap::Parser;
use exporter_core::cli::{self, CoreArgs, CoreDefaults};
use exporter_core::config::ConfigSources;
use exporter_core::{NoConfig, exporter_info};

#[derive(Debug, Parser)]
#[command(name = "reaction-exporter", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    core: CoreArgs,
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse(CoreDefaults {
        listen_address: "127.0.0.1:8080",
        log_level: None,
    });
    let sources = ConfigSources {
        file: cli.core.config_file.clone(),
        ..ConfigSources::default()
    };
    exporter_core::launch(
        exporter_info!("reaction"),
        cli.core,
        &sources,
        |_: NoConfig, _| Ok(()),
    )
}
