//! ssp-exporter: account balances from ISP / hosting self-service portals, a drop-in for
//! freefd/ssp-exporter (its config file, flags, environment variables and `ssp_balance`).
//! Providers implemented so far: Vultr; the others are accepted in the config and
//! reported with `ssp_up 0` and `ssp_last_error_info{reason="not_implemented"}`.

// Tests compare exact values, which are exact in f64.
#![cfg_attr(test, allow(clippy::float_cmp))]

mod config;
mod interval;
mod poller;
mod providers;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use exporter_core::cli::{self, CoreArgs, CoreDefaults, LogLevel};
use exporter_core::config::ConfigSources;
use exporter_core::{Exporter, exporter_info};

use crate::config::Config;

/// The original's default: `localhost:10032`.
const DEFAULT_ADDRESS: &str = "localhost";
const DEFAULT_PORT: u16 = 10032;

#[derive(Debug, Parser)]
#[command(name = "ssp-exporter", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    core: CoreArgs,

    /// The original's config file (YAML or JSON); same as `--config.file`.
    #[arg(
        short = 'c',
        long = "config",
        env = "SSP_EXPORTER_CONFIG_FILE",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,

    /// A JSON Schema (YAML or JSON) the original validated the config with. The built-in
    /// checks are stricter; applying a user schema as well is not implemented yet.
    #[arg(
        short = 's',
        long = "schema",
        env = "SSP_EXPORTER_SCHEMA_FILE",
        value_name = "FILE"
    )]
    schema: Option<PathBuf>,

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
        file: cli.config.clone().or_else(|| cli.core.config_file.clone()),
        ..ConfigSources::default()
    };
    let schema = cli.schema.clone();
    exporter_core::launch(exporter_info!("ssp"), cli.core, &sources, move |c, ex| {
        setup(c, ex, schema.as_deref());
        Ok(())
    })
}

fn setup(config: Config, ex: &mut Exporter, schema: Option<&std::path::Path>) {
    if let Some(s) = schema {
        tracing::warn!(schema = %s.display(), "a user schema is not applied in this version; the built-in checks (stricter than the original's schema) are");
    }
    let board = poller::Board::new(&config);
    let metric_name = config.service.metric_name.clone();
    let messages = config.service.messages.clone();
    let families = std::sync::Arc::clone(&board);
    ex.live_metrics(move |_| families.families(&metric_name, messages.as_ref()));
    ex.task(move |stop| async move {
        let tasks = poller::start(&config, &board, &stop);
        for t in tasks {
            let _ = t.await;
        }
    });
}
