//! hitron-exporter: multi-target probes of Hitron cable modems (`/probe?target=…`), a
//! drop-in for yrro/hitron-exporter (same parameters and metric names, port 9938) with
//! credentials and pins in config modules, more models and DOCSIS 3.1.

// Tests compare exact values, which are exact in f64.
#![cfg_attr(test, allow(clippy::float_cmp))]

mod client;
mod config;
mod metrics;
mod probe;
mod records;
mod tls;
mod values;

use std::process::ExitCode;

use clap::Parser;
use exporter_core::cli::{self, CoreArgs, CoreDefaults};
use exporter_core::config::ConfigSources;
use exporter_core::probe::ProbeSettings;
use exporter_core::{Exporter, exporter_info};

use crate::config::Config;
use crate::probe::HitronProber;

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
    exporter_core::launch(exporter_info!("hitron"), cli.core, &sources, setup)
}

fn setup(config: Config, ex: &mut Exporter) -> Result<(), String> {
    let settings = ProbeSettings {
        max_timeout: config.max_timeout,
        example_target: "192.168.0.1".into(),
        ..ProbeSettings::default()
    };
    let prober = HitronProber::new(config)?;
    let failures = prober.clone();
    ex.prober(prober, settings);
    ex.live_metrics(move |_| failures.failure_families());
    Ok(())
}
