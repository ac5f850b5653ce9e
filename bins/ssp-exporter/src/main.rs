//! ssp-exporter: account balances from ISP / hosting self-service portals.
//!
//! Until the providers land, this binary serves the shared endpoints and its self-metrics
//! with the original's listen flags and environment variables.

use std::process::ExitCode;

use clap::Parser;
use exporter_core::cli::{self, CoreArgs, CoreDefaults, LogLevel};
use exporter_core::config::ConfigSources;
use exporter_core::{NoConfig, exporter_info};

/// The original's default: `localhost:10032`.
const DEFAULT_ADDRESS: &str = "localhost";
const DEFAULT_PORT: u16 = 10032;

#[derive(Debug, Parser)]
#[command(name = "ssp-exporter", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    core: CoreArgs,

    /// Address to bind (the original's flag; `--web.listen-address` takes precedence).
    #[arg(short = 'a', long = "address", env = "SSP_EXPORTER_BIND_ADDRESS", default_value = DEFAULT_ADDRESS)]
    address: String,

    /// Port to bind (the original's flag; `--web.listen-address` takes precedence).
    #[arg(short = 'p', long = "port", env = "SSP_EXPORTER_BIND_PORT", default_value_t = DEFAULT_PORT)]
    port: u16,

    /// Log level in the original's names (DEBUG, INFO, WARNING, ERROR, CRITICAL); overrides
    /// `--log.level` when given.
    #[arg(short = 'l', long = "loglevel", env = "SSP_EXPORTER_LOG_LEVEL", value_parser = parse_level)]
    loglevel: Option<LogLevel>,
}

fn parse_level(s: &str) -> Result<LogLevel, String> {
    LogLevel::parse_lenient(s)
        .ok_or_else(|| format!("unknown level {s:?}: use DEBUG, INFO, WARNING, ERROR or CRITICAL"))
}

fn main() -> ExitCode {
    let default_listen = format!("{DEFAULT_ADDRESS}:{DEFAULT_PORT}");
    let mut cli: Cli = cli::parse(CoreDefaults {
        listen_address: "localhost:10032",
        log_level: None,
    });
    // `-a`/`-p` (and their env vars) decide the listener unless `--web.listen-address` was given.
    if cli.core.listen_addresses == [default_listen] {
        let host = if cli.address.contains(':') {
            format!("[{}]", cli.address)
        } else {
            cli.address.clone()
        };
        cli.core.listen_addresses = vec![format!("{host}:{}", cli.port)];
    }
    if let Some(level) = cli.loglevel {
        cli.core.log_level = level;
    }
    let sources = ConfigSources {
        file: cli.core.config_file.clone(),
        ..ConfigSources::default()
    };
    exporter_core::launch(
        exporter_info!("ssp"),
        cli.core,
        &sources,
        |_: NoConfig, _| Ok(()),
    )
}
