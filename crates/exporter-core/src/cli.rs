//! The flags every exporter shares, in the Prometheus exporter-toolkit spelling, and the
//! parsing helpers that let each binary add its own flags and keep its original's.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Args, Command, FromArgMatches, ValueEnum};

/// Log verbosity, as in the exporter-toolkit (`--log.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// Parses the names used by the originals too (`warning`, `critical`, `notset`, any case).
    pub fn parse_lenient(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "debug" | "trace" | "notset" => Some(LogLevel::Debug),
            "info" => Some(LogLevel::Info),
            "warn" | "warning" => Some(LogLevel::Warn),
            "error" | "critical" | "fatal" => Some(LogLevel::Error),
            _ => None,
        }
    }
}

/// Log line format (`--log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Flags shared by every exporter. Flatten into the binary's clap struct.
#[derive(Debug, Clone, Args)]
pub struct CoreArgs {
    /// Addresses on which to expose metrics and web interface. Repeatable for multiple
    /// addresses. Examples: `:9100` (all interfaces), `127.0.0.1:9100` or `[::1]:9100`.
    #[arg(long = "web.listen-address", value_name = "ADDRESS", action = clap::ArgAction::Append)]
    pub listen_addresses: Vec<String>,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// Path to configuration file that can enable TLS or authentication (the Prometheus
    /// exporter-toolkit web config format).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Maximum number of requests served at once; more get 503. 0 disables the limit.
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = 40)]
    pub max_requests: usize,

    /// Time after which a request is answered with 503 (probes are bounded by their own
    /// timeout as well).
    #[arg(long = "web.request-timeout", value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Exporter configuration file (YAML, JSON or TOML by extension).
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Validate the configuration (and the web config), print the effective configuration
    /// with secrets redacted, and exit: 0 if valid, 1 if not.
    #[arg(long = "config.check")]
    pub config_check: bool,

    /// Print the JSON Schema of the configuration file and exit.
    #[arg(long = "config.schema")]
    pub config_schema: bool,

    /// Only log messages with the given severity or above.
    #[arg(
        long = "log.level",
        value_name = "LEVEL",
        value_enum,
        default_value = "info",
        ignore_case = true
    )]
    pub log_level: LogLevel,

    /// Output format of log messages.
    #[arg(
        long = "log.format",
        value_name = "FORMAT",
        value_enum,
        default_value = "logfmt"
    )]
    pub log_format: LogFormat,
}

/// Parses a duration in Go's or humantime's spelling: `10s`, `1m30s`, `1h 30m`, `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Per-binary defaults for the shared flags.
#[derive(Debug, Clone, Copy)]
pub struct CoreDefaults {
    /// The original's listen address, e.g. `:9120` or `127.0.0.1:8080`.
    pub listen_address: &'static str,
    /// The original's default log level, if it differs from `info`.
    pub log_level: Option<&'static str>,
}

/// Parses the process arguments into the binary's CLI type `T` (which flattens
/// [`CoreArgs`]), applying the binary's defaults and accepting Go's single-dash long flags.
pub fn parse<T: clap::CommandFactory + FromArgMatches>(defaults: CoreDefaults) -> T {
    match try_parse_from::<T>(std::env::args_os(), defaults) {
        Ok(t) => t,
        Err(e) => e.exit(),
    }
}

/// Like [`parse`], from explicit arguments (for tests).
pub fn try_parse_from<T: clap::CommandFactory + FromArgMatches>(
    args: impl IntoIterator<Item = impl Into<OsString>>,
    defaults: CoreDefaults,
) -> Result<T, clap::Error> {
    let mut cmd = command::<T>(defaults);
    let args = normalize_go_flags(args.into_iter().map(Into::into).collect(), &cmd);
    let matches: ArgMatches = cmd.try_get_matches_from_mut(args)?;
    T::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
}

/// The binary's clap command with the per-binary defaults applied.
pub fn command<T: clap::CommandFactory>(defaults: CoreDefaults) -> Command {
    let mut cmd = T::command().mut_arg("listen_addresses", |a| {
        a.default_value(defaults.listen_address)
    });
    if let Some(level) = defaults.log_level {
        cmd = cmd.mut_arg("log_level", |a| a.default_value(level));
    }
    // With subcommands (`reaction-exporter start`), flags may follow the subcommand too.
    if cmd.has_subcommands() {
        let ids: Vec<clap::Id> = cmd
            .get_arguments()
            .filter(|a| !a.is_positional())
            .map(|a| a.get_id().clone())
            .collect();
        for id in ids {
            cmd = cmd.mut_arg(id, |a| a.global(true));
        }
    }
    cmd
}

/// Go's `flag` package accepts `-name=value` for long names; systemd units written for the
/// Go originals use that spelling. Rewrites `-web.listen-address=:9120` (and
/// `-web.listen-address :9120`) into the double-dash form when `name` is a long flag of
/// `cmd`; short flags and their clusters (`-c file`, `-vv`) are left alone.
pub fn normalize_go_flags(args: Vec<OsString>, cmd: &Command) -> Vec<OsString> {
    let longs: Vec<&str> = cmd
        .get_arguments()
        .filter_map(clap::Arg::get_long)
        .chain(["help", "version"])
        .collect();
    let mut out = Vec::with_capacity(args.len());
    let mut rest_verbatim = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || rest_verbatim {
            out.push(arg);
            continue;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            rest_verbatim = true;
            out.push(arg);
            continue;
        }
        let rewritten = s
            .strip_prefix('-')
            .filter(|rest| !rest.starts_with('-'))
            .and_then(|rest| {
                let name = rest.split_once('=').map_or(rest, |(n, _)| n);
                (name.len() > 1 && longs.contains(&name)).then(|| format!("-{s}"))
            });
        out.push(rewritten.map_or(arg, OsString::from));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    #[command(name = "demo", version)]
    struct Cli {
        #[command(flatten)]
        core: CoreArgs,
        /// Collection interval.
        #[arg(long = "collection.interval", default_value = "10s", value_parser = parse_duration)]
        interval: Duration,
        /// A short-flag option in the style of the Python originals.
        #[arg(short = 'c', long = "config", env = "CORE_CLI_TEST_CONFIG")]
        config: Option<String>,
    }

    const DEFAULTS: CoreDefaults = CoreDefaults {
        listen_address: ":9120",
        log_level: Some("error"),
    };

    #[test]
    fn clap_definition_is_consistent() {
        command::<Cli>(DEFAULTS).debug_assert();
    }

    #[test]
    fn defaults_per_binary() {
        let cli: Cli = try_parse_from(["demo"], DEFAULTS).expect("parse");
        assert_eq!(cli.core.listen_addresses, [":9120"]);
        assert_eq!(cli.core.log_level, LogLevel::Error);
        assert_eq!(cli.core.telemetry_path, "/metrics");
        assert_eq!(cli.interval, Duration::from_secs(10));
    }

    #[test]
    fn go_single_dash_long_flags() {
        let cli: Cli = try_parse_from(
            [
                "demo",
                "-web.listen-address=:9999",
                "-web.listen-address",
                "[::1]:9998",
                "-collection.interval=1m30s",
                "-log.level=debug",
                "-c",
                "x.yaml",
            ],
            DEFAULTS,
        )
        .expect("parse");
        assert_eq!(cli.core.listen_addresses, [":9999", "[::1]:9998"]);
        assert_eq!(cli.interval, Duration::from_secs(90));
        assert_eq!(cli.core.log_level, LogLevel::Debug);
        assert_eq!(cli.config.as_deref(), Some("x.yaml"));
    }

    #[test]
    fn unknown_single_dash_is_still_an_error() {
        assert!(try_parse_from::<Cli>(["demo", "-nope=1"], DEFAULTS).is_err());
        assert!(try_parse_from::<Cli>(["demo", "--log.level=loud"], DEFAULTS).is_err());
    }

    #[test]
    fn after_double_dash_nothing_is_rewritten() {
        let cmd = command::<Cli>(DEFAULTS);
        let out = normalize_go_flags(
            ["demo", "--", "-log.level=debug"]
                .into_iter()
                .map(OsString::from)
                .collect(),
            &cmd,
        );
        assert_eq!(out[2], "-log.level=debug");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("180"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn lenient_levels() {
        assert_eq!(LogLevel::parse_lenient("WARNING"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse_lenient("CRITICAL"), Some(LogLevel::Error));
        assert_eq!(LogLevel::parse_lenient("loud"), None);
    }
}
