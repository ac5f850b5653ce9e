//! reaction-exporter: metrics of the reaction daemon from its logs (journald or a file)
//! and its state (`reaction show`), a drop-in for reaction-metrics-exporter.

// Tests compare exact counts, which are exact in f64.
#![cfg_attr(test, allow(clippy::float_cmp))]

mod app;
mod config;
mod counters;
mod detached;
mod labels;
mod logline;
mod pipeline;
mod reaction_cli;
mod source;
mod state;
mod topology;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use exporter_core::cli::{self, CoreArgs, CoreDefaults};
use exporter_core::config::{ConfigSources, load};
use exporter_core::exporter_info;

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(name = "reaction-exporter", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    core: CoreArgs,

    /// Path to the configuration file (JSON or YAML), as in reaction-metrics-exporter.
    #[arg(short = 'c', long = "config", global = true, value_name = "CONFIG")]
    config: Option<PathBuf>,

    /// Format for `defaults`.
    #[arg(
        short = 'f',
        long = "format",
        global = true,
        value_enum,
        default_value = "yaml"
    )]
    format: DumpFormat,

    #[command(subcommand)]
    command: Option<Mode>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DumpFormat {
    Yaml,
    Json,
}

/// Mode of operation (default: start).
#[derive(Debug, Clone, Copy, Subcommand)]
enum Mode {
    /// Continuously read logs, compute metrics and serve the HTTP endpoint.
    Start,
    /// Print the default configuration and exit.
    Defaults,
    /// Validate the configuration, print it as JSON and exit.
    TestConfig,
    /// Print the exporter's version and exit.
    Version,
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse(CoreDefaults {
        listen_address: app::DEFAULT_LISTEN,
        log_level: None,
    });
    let sources = ConfigSources {
        file: cli.config.clone().or_else(|| cli.core.config_file.clone()),
        ..ConfigSources::default()
    };
    match cli.command.unwrap_or(Mode::Start) {
        Mode::Start => {
            exporter_core::launch(exporter_info!("reaction"), cli.core, &sources, app::setup)
        }
        Mode::Version => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Mode::Defaults => print(&Config::documented_defaults(), cli.format),
        Mode::TestConfig => match load::<Config>(&sources)
            .map_err(|e| e.to_string())
            .and_then(|c| c.validate().map(|()| c))
        {
            Ok(c) => print(&c, DumpFormat::Json),
            Err(e) => {
                eprintln!("reaction-exporter: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn print(config: &Config, format: DumpFormat) -> ExitCode {
    let text = match format {
        DumpFormat::Yaml => serde_yaml::to_string(config).map_err(|e| e.to_string()),
        DumpFormat::Json => serde_json::to_string_pretty(config)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
    };
    match text {
        Ok(t) => {
            print!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("reaction-exporter: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Wall-clock Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
