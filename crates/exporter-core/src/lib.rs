//! `exporter-core`: what every exporter in this workspace shares, so that each binary only
//! wires its own collectors in.
//!
//! Data flows one way: a [`Collector`] produces [`Family`] snapshots in the background,
//! the [`Scheduler`](collect::Scheduler) publishes them into the
//! [`SnapshotStore`](collect::SnapshotStore), and the HTTP server encodes the latest
//! snapshot at scrape time (OpenMetrics or Prometheus text, negotiated). A scrape never
//! waits for a source; the one exception is a multi-target `/probe`, bounded by the
//! scraper's timeout.
//!
//! A binary's `main` is short:
//!
//! ```no_run
//! use exporter_core::{cli, config::ConfigSources, exporter_info, NoConfig};
//!
//! #[derive(clap::Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     core: cli::CoreArgs,
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let cli: Cli = cli::parse(cli::CoreDefaults { listen_address: ":9999", log_level: None });
//!     let sources = ConfigSources { file: cli.core.config_file.clone(), ..Default::default() };
//!     exporter_core::launch(exporter_info!("demo"), cli.core, &sources, |_: NoConfig, _exporter| Ok(()))
//! }
//! ```

// Tests compare exact values the code under test copied, not computed.
#![cfg_attr(test, allow(clippy::float_cmp))]

pub mod build_info;
pub mod cli;
pub mod collect;
pub mod config;
pub mod exporter;
pub mod logging;
pub mod metrics;
pub mod probe;
pub mod secret;
pub mod web;

pub use build_info::ExporterInfo;
pub use collect::{Collector, Schedule};
pub use exporter::{Exporter, NoConfig, Validate, launch};
pub use metrics::{Family, Kind};
pub use secret::{Secret, SecretSource};
