//! ssp-exporter: account balances from ISP / hosting self-service portals, a drop-in for
//! freefd/ssp-exporter (its config file, flags, environment variables and `ssp_balance`),
//! with all seven of its providers and providers defined in the config.

// Tests compare exact values, which are exact in f64.
#![cfg_attr(test, allow(clippy::float_cmp))]

mod config;
mod interval;
mod poller;
mod providers;
mod tls;
mod user_schema;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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

    /// A JSON Schema (YAML or JSON) the config must also satisfy, as the original's
    /// `config/schema.yaml`. Optional: the built-in checks are stricter.
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
    if let Err(e) = check_user_schema(schema.as_deref(), sources.file.as_deref()) {
        eprintln!("ssp-exporter: {e}");
        return ExitCode::FAILURE;
    }
    exporter_core::launch(
        exporter_info!("ssp"),
        cli.core,
        &sources.clone(),
        move |c, ex| {
            setup(c, ex, sources, schema);
            Ok(())
        },
    )
}

fn check_user_schema(schema: Option<&Path>, config: Option<&Path>) -> Result<(), String> {
    match (schema, config) {
        (Some(s), Some(c)) => user_schema::check(s, c),
        (Some(s), None) => Err(format!("--schema {} needs a config file (-c)", s.display())),
        (None, _) => Ok(()),
    }
}

fn setup(config: Config, ex: &mut Exporter, sources: ConfigSources, schema: Option<PathBuf>) {
    let board = poller::Board::new();
    let families = Arc::clone(&board);
    ex.live_metrics(move |_| families.families());
    // SIGHUP: the new config goes to the poller if it loads and passes every check;
    // otherwise the old one keeps running and the reload is reported failed.
    let (tx, mut rx) = tokio::sync::watch::channel(Arc::new(config));
    ex.on_reload(move || {
        check_user_schema(schema.as_deref(), sources.file.as_deref())?;
        let c: Config = exporter_core::config::load(&sources).map_err(|e| e.to_string())?;
        exporter_core::Validate::validate(&c).map_err(|e| match &sources.file {
            Some(f) => format!("{e} (in {})", f.display()),
            None => e,
        })?;
        tx.send_replace(Arc::new(c));
        Ok(())
    });
    ex.task(move |mut stop| async move {
        let mut poller = poller::Poller::new(board);
        poller.apply(&rx.borrow_and_update());
        loop {
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let config = Arc::clone(&rx.borrow_and_update());
                    poller.apply(&config);
                }
                _ = stop.changed() => break,
            }
        }
        poller.stop_all();
    });
}
