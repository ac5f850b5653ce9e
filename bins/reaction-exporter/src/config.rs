//! The configuration file of reaction-metrics-exporter, accepted unchanged (YAML or
//! JSON: `loglevel`, `listen`, `reaction`, `metrics`), plus an `exporter` section for what
//! this implementation adds. Unknown keys are errors that name the file and key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use exporter_core::config::duration;
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Log level in the original's names: DEBUG, INFO, WARNING or ERROR. `--log.level`
    /// on the command line wins when it is given.
    pub loglevel: String,
    /// Where to serve metrics. `--web.listen-address` wins when it is given.
    pub listen: Listen,
    pub reaction: Reaction,
    pub metrics: Metrics,
    /// Settings this exporter adds to the original's.
    pub exporter: ExporterSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            loglevel: "INFO".into(),
            listen: Listen::default(),
            reaction: Reaction::default(),
            metrics: Metrics::default(),
            exporter: ExporterSettings::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    pub address: String,
    pub port: u16,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            address: "127.0.0.1".into(),
            port: 8080,
        }
    }
}

impl Listen {
    pub fn to_listen_address(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Reaction {
    /// reaction's own configuration, as passed to `reaction test-config -c`.
    pub config: PathBuf,
    /// Where reaction's output is read: `{systemd: <unit>}` or `{file: <path>}`.
    pub logs: Logs,
    /// reaction's socket, passed to `reaction show --socket`.
    pub socket: PathBuf,
    /// Seconds (of log time) after a start command during which actions are not counted,
    /// so the re-run of every pending action at restart is not a storm of bans.
    pub hold: u64,
}

impl Default for Reaction {
    fn default() -> Self {
        Self {
            config: "/etc/reaction".into(),
            logs: Logs::default(),
            socket: "/run/reaction/reaction.sock".into(),
            hold: 60,
        }
    }
}

/// Exactly one of `systemd` (a unit name, e.g. `reaction.service` or
/// `reaction@reaction.jsonnet.service`) or `file`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// Neither set means the original's default, the journal of `reaction.service`. (Not
/// written into the default value: a file's `logs: {file: ..}` must replace it, not be
/// merged with it.)
impl Default for Logs {
    fn default() -> Self {
        Self {
            systemd: None,
            file: None,
        }
    }
}

pub const DEFAULT_UNIT: &str = "reaction.service";

/// The log source chosen by [`Logs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    Journal { unit: String },
    File { path: PathBuf },
}

impl Logs {
    pub fn source(&self) -> Result<LogSource, String> {
        match (&self.systemd, &self.file) {
            (None, None) => Ok(LogSource::Journal {
                unit: DEFAULT_UNIT.to_owned(),
            }),
            (Some(unit), None) if !unit.is_empty() => Ok(LogSource::Journal { unit: unit.clone() }),
            (None, Some(path)) => Ok(LogSource::File { path: path.clone() }),
            _ => Err(
                "reaction.logs: set exactly one of `systemd` (a unit) or `file` (a path)".into(),
            ),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Pattern name → label rule, for every stream and filter.
    pub all: BTreeMap<String, LabelRule>,
    /// Stream → filter → pattern name → label rule; overrides `all`.
    #[serde(rename = "for")]
    pub per_filter: BTreeMap<String, BTreeMap<String, BTreeMap<String, LabelRule>>>,
    pub export: Export,
}

/// What becomes of a pattern's label.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "Option<LabelRuleSchema>")]
pub enum LabelRule {
    /// `null` or `true`: the match as it is.
    Keep,
    /// `false`: no such label.
    Drop,
    /// A Jinja template with the pattern as its variable, e.g.
    /// `"{{ email.split('@') | last }}"`.
    Template(String),
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "schema only")]
enum LabelRuleSchema {
    Switch(bool),
    Template(String),
}

impl Serialize for LabelRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LabelRule::Keep => s.serialize_none(),
            LabelRule::Drop => s.serialize_bool(false),
            LabelRule::Template(t) => s.serialize_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for LabelRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LabelRule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null, true, false or a template string")
            }
            fn visit_unit<E>(self) -> Result<LabelRule, E> {
                Ok(LabelRule::Keep)
            }
            fn visit_none<E>(self) -> Result<LabelRule, E> {
                Ok(LabelRule::Keep)
            }
            fn visit_bool<E>(self, b: bool) -> Result<LabelRule, E> {
                Ok(if b { LabelRule::Keep } else { LabelRule::Drop })
            }
            fn visit_str<E>(self, s: &str) -> Result<LabelRule, E> {
                Ok(LabelRule::Template(s.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `metrics.export`: which metrics, and whether they carry the pattern labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Export {
    pub matches: Switch,
    pub actions: Switch,
    pub pending: Switch,
    #[serde(with = "toggle")]
    #[schemars(with = "Option<bool>")]
    pub commands: bool,
    #[serde(with = "toggle")]
    #[schemars(with = "Option<bool>")]
    pub streams: bool,
    /// Accepted for compatibility; the Python runtime metrics it enabled do not exist
    /// here (the `process_*` metrics are always exported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internals: Option<bool>,
}

impl Default for Export {
    fn default() -> Self {
        Self {
            matches: Switch::default(),
            actions: Switch::default(),
            pending: Switch::default(),
            commands: true,
            streams: true,
            internals: None,
        }
    }
}

/// `false` (off), `null`/`true` (on with pattern labels) or `{extra: bool}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "Option<SwitchSchema>")]
pub enum Switch {
    Off,
    On { extra: bool },
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "schema only")]
enum SwitchSchema {
    Enabled(bool),
    Extra {
        /// Whether the pattern labels are exported.
        extra: Option<bool>,
    },
}

impl Default for Switch {
    fn default() -> Self {
        Switch::On { extra: true }
    }
}

impl Switch {
    pub fn enabled(self) -> bool {
        matches!(self, Switch::On { .. })
    }
    pub fn extra(self) -> bool {
        matches!(self, Switch::On { extra: true })
    }
}

impl Serialize for Switch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Switch::Off => s.serialize_bool(false),
            Switch::On { extra } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("extra", extra)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Switch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Switch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("false, true, null or {extra: <bool>}")
            }
            fn visit_unit<E>(self) -> Result<Switch, E> {
                Ok(Switch::default())
            }
            fn visit_none<E>(self) -> Result<Switch, E> {
                Ok(Switch::default())
            }
            fn visit_bool<E>(self, b: bool) -> Result<Switch, E> {
                Ok(if b { Switch::default() } else { Switch::Off })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Switch, A::Error> {
                let mut extra = true;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "extra" {
                        extra = map.next_value::<Option<bool>>()?.unwrap_or(true);
                    } else {
                        return Err(de::Error::unknown_field(&key, &["extra"]));
                    }
                }
                Ok(Switch::On { extra })
            }
        }
        d.deserialize_any(V)
    }
}

/// `null`/`true` → on, `false` → off.
mod toggle {
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(
        clippy::trivially_copy_pass_by_ref,
        reason = "serde's `with` signature"
    )]
    pub fn serialize<S: Serializer>(on: &bool, s: S) -> Result<S::Ok, S::Error> {
        if *on {
            s.serialize_none()
        } else {
            s.serialize_bool(false)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
    }
}

/// Which families are exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricSet {
    /// The original's `*_count` gauges: counts since the scraper's previous scrape.
    Legacy,
    /// Prometheus counters (`*_total`) and the `reaction_pending_actions` gauge.
    Native,
    /// Both (the default: existing dashboards keep working while new ones use counters).
    Both,
}

impl MetricSet {
    pub fn legacy(self) -> bool {
        matches!(self, MetricSet::Legacy | MetricSet::Both)
    }
    pub fn native(self) -> bool {
        matches!(self, MetricSet::Native | MetricSet::Both)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExporterSettings {
    /// `legacy`, `native` or `both`.
    pub metric_set: MetricSet,
    /// The reaction executable (for `show`, `test-config`, `-V`).
    pub reaction_command: PathBuf,
    /// Time limit of one reaction command.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub command_timeout: Duration,
    /// How often `reaction show` and `reaction -V` are run (never inside a scrape).
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub show_interval: Duration,
    /// Where the position and the unexported counts are saved (default: `$STATE_DIRECTORY`
    /// as set by systemd's `StateDirectory=`, else the working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_directory: Option<PathBuf>,
    /// How often the state is saved (and on shutdown). After a crash, at most this much
    /// is counted again.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub checkpoint_interval: Duration,
    /// A saved state older than this is not resumed from (the original's 15 minutes).
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub resume_window: Duration,
    /// A series without new events for this long is dropped.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub series_ttl: Duration,
    /// At most this many series per metric; events of further series are counted in
    /// `reaction_exporter_dropped_events_total` instead.
    pub max_series: usize,
    /// The journalctl executable (journald source).
    pub journalctl: PathBuf,
    /// Read this journal directory instead of the system journal (containers, tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_directory: Option<PathBuf>,
    /// How often a log file is checked for new lines, rotation and truncation.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub poll_interval: Duration,
    /// Longer lines are skipped (and counted as unparsed).
    pub max_line_bytes: usize,
}

impl Default for ExporterSettings {
    fn default() -> Self {
        Self {
            metric_set: MetricSet::Both,
            reaction_command: "reaction".into(),
            command_timeout: Duration::from_secs(10),
            show_interval: Duration::from_secs(15),
            state_directory: None,
            checkpoint_interval: Duration::from_secs(10),
            resume_window: Duration::from_secs(15 * 60),
            series_ttl: Duration::from_secs(24 * 3600),
            max_series: 100_000,
            journalctl: "journalctl".into(),
            journal_directory: None,
            poll_interval: Duration::from_millis(250),
            max_line_bytes: 1 << 20,
        }
    }
}

impl exporter_core::Validate for Config {
    fn validate(&self) -> Result<(), String> {
        Config::validate(self)
    }
}

impl Config {
    /// The defaults as the original prints them (`defaults`), the log source spelled out.
    pub fn documented_defaults() -> Self {
        let mut c = Self::default();
        c.reaction.logs.systemd = Some(DEFAULT_UNIT.into());
        c
    }

    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), String> {
        self.reaction.logs.source()?;
        if exporter_core::cli::LogLevel::parse_lenient(&self.loglevel).is_none() {
            return Err(format!(
                "loglevel: unknown level {:?} (DEBUG, INFO, WARNING or ERROR)",
                self.loglevel
            ));
        }
        if self.exporter.max_series == 0 {
            return Err("exporter.max_series: must be at least 1".into());
        }
        for (name, rule) in self.metrics.all.iter().chain(
            self.metrics
                .per_filter
                .values()
                .flat_map(BTreeMap::values)
                .flat_map(BTreeMap::iter),
        ) {
            if let LabelRule::Template(t) = rule {
                crate::labels::check_template(name, t)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exporter_core::config::{ConfigSources, load};

    fn load_str(name: &str, body: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(name);
        std::fs::write(&path, body).expect("write");
        load::<Config>(&ConfigSources::file(&path)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_originals_documented_config_loads() {
        // The README's default configuration, verbatim (null values included).
        let c = load_str(
            "config.yml",
            "loglevel: INFO\nlisten:\n  address: 127.0.0.1\n  port: 8080\nreaction:\n  config: /etc/reaction\n  logs:\n    systemd: reaction.service\n  socket: /run/reaction/reaction.sock\n  hold: 60\nmetrics:\n  all: {}\n  for: {}\n  export:\n    matches:\n      extra: true\n    actions:\n      extra: true\n    pending:\n      extra: true\n    commands:\n    streams:\n",
        )
        .expect("load");
        let mut expected = Config::default();
        expected.reaction.logs.systemd = Some(DEFAULT_UNIT.into());
        assert_eq!(c, expected);
        assert_eq!(
            c.reaction.logs.source(),
            Config::default().reaction.logs.source()
        );
        c.validate().expect("valid");
    }

    #[test]
    fn label_rules_and_switches() {
        let c = load_str(
            "c.yaml",
            r#"
reaction:
  logs:
    file: /var/log/reaction.log
metrics:
  all:
    ip: false
    email: "{{ email.split('@') | last }}"
    user:
  for:
    ssh:
      failedlogin:
        ip: true
  export:
    actions: false
    pending: {extra: false}
    commands: false
"#,
        )
        .expect("load");
        assert_eq!(c.metrics.all["ip"], LabelRule::Drop);
        assert_eq!(c.metrics.all["user"], LabelRule::Keep);
        assert!(matches!(c.metrics.all["email"], LabelRule::Template(_)));
        assert_eq!(
            c.metrics.per_filter["ssh"]["failedlogin"]["ip"],
            LabelRule::Keep
        );
        assert_eq!(c.metrics.export.actions, Switch::Off);
        assert_eq!(c.metrics.export.pending, Switch::On { extra: false });
        assert!(c.metrics.export.matches.extra());
        assert!(!c.metrics.export.commands);
        assert!(c.metrics.export.streams);
        assert_eq!(
            c.reaction.logs.source(),
            Ok(LogSource::File {
                path: "/var/log/reaction.log".into()
            })
        );
        c.validate().expect("valid");
    }

    #[test]
    fn json_works_too_and_errors_name_the_key() {
        let c = load_str("c.json", r#"{"listen": {"port": 9999}, "exporter": {"metric_set": "native", "checkpoint_interval": "30s"}}"#)
            .expect("json");
        assert_eq!(c.listen.to_listen_address(), "127.0.0.1:9999");
        assert_eq!(c.exporter.metric_set, MetricSet::Native);
        assert_eq!(c.exporter.checkpoint_interval, Duration::from_secs(30));
        let e = load_str(
            "c.yaml",
            "metrics:\n  export:\n    matches: {extar: true}\n",
        )
        .expect_err("typo");
        assert!(e.contains("extar") && e.contains("c.yaml"), "{e}");
        let e = load_str("c.yaml", "reaction:\n  hold: soon\n").expect_err("type");
        assert!(e.contains("reaction.hold"), "{e}");
        let both = load_str(
            "c.yaml",
            "reaction:\n  logs: {systemd: r.service, file: /x}\n",
        )
        .expect("parses");
        assert!(both.validate().is_err());
        let bad = load_str("c.yaml", "metrics:\n  all:\n    ip: '{{ ip.split('\n").expect("parses");
        assert!(bad.validate().expect_err("template").contains("ip"));
    }

    #[test]
    fn the_shipped_example_is_valid_and_means_the_defaults() {
        let c = load_str(
            "example.yml",
            include_str!("../../../config-examples/reaction-exporter.yml"),
        )
        .expect("example loads");
        c.validate().expect("example is valid");
        assert_eq!(c, Config::documented_defaults());
    }

    #[test]
    fn defaults_round_trip_through_both_formats() {
        let c = Config::default();
        let yaml = serde_yaml::to_string(&c).expect("yaml");
        assert_eq!(load_str("d.yaml", &yaml).expect("yaml back"), c);
        let json = serde_json::to_string_pretty(&c).expect("json");
        assert_eq!(load_str("d.json", &json).expect("json back"), c);
    }
}
