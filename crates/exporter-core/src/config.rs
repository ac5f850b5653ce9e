//! Config layering with figment: built-in defaults < file < environment < command line.
//!
//! Every exporter's config type derives `Deserialize` with `deny_unknown_fields`, so a typo
//! is an error naming the file and the key path instead of a silently ignored setting.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format as _, Json, Serialized, Toml, Yaml};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where a config comes from, lowest precedence first.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// The config file; its format follows the extension (`.yaml`/`.yml`, `.json`, `.toml`).
    pub file: Option<PathBuf>,
    /// If true, a missing `file` is not an error (for an exporter's built-in default path).
    pub file_optional: bool,
    /// Environment variables with this prefix override keys, `__` separating levels:
    /// `SSP_EXPORTER__SERVICE__METRIC_NAME` sets `service.metric_name`.
    pub env_prefix: Option<String>,
    /// Values from the command line, merged last (highest precedence). Unset options must be
    /// skipped when serialising (`skip_serializing_if = "Option::is_none"`).
    pub overrides: Vec<figment::value::Dict>,
}

impl ConfigSources {
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            file: Some(path.into()),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.env_prefix = Some(prefix.into());
        self
    }

    /// Adds a command-line layer from any serialisable value (e.g. a struct of `Option`s).
    pub fn push_override<T: Serialize>(&mut self, value: &T) -> Result<(), ConfigError> {
        let dict = Figment::from(Serialized::defaults(value))
            .extract::<figment::value::Dict>()
            .map_err(|e| ConfigError::Invalid {
                errors: vec![e.to_string()],
            })?;
        self.overrides.push(dict);
        Ok(())
    }
}

/// Why a config could not be loaded. The messages name the file and the key path.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} does not exist")]
    NotFound { path: PathBuf },
    #[error("config file {path}: unsupported extension (use .yaml, .yml, .json or .toml)")]
    UnknownFormat { path: PathBuf },
    #[error("invalid configuration:\n  {}", errors.join("\n  "))]
    Invalid { errors: Vec<String> },
}

/// Loads `C` from `sources` on top of `C::default()`.
pub fn load<C>(sources: &ConfigSources) -> Result<C, ConfigError>
where
    C: DeserializeOwned + Serialize + Default,
{
    figment::<C>(sources)?
        .extract::<C>()
        .map_err(|e| ConfigError::Invalid {
            errors: e.into_iter().map(|e| describe(&e)).collect(),
        })
}

fn figment<C: Serialize + Default>(sources: &ConfigSources) -> Result<Figment, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(C::default()));
    if let Some(path) = &sources.file {
        if path.exists() {
            figment = merge_file(figment, path)?;
        } else if !sources.file_optional {
            return Err(ConfigError::NotFound { path: path.clone() });
        }
    }
    if let Some(prefix) = &sources.env_prefix {
        figment = figment.merge(Env::prefixed(prefix).split("__"));
    }
    for dict in &sources.overrides {
        figment = figment.merge(Serialized::defaults(dict.clone()));
    }
    Ok(figment)
}

fn merge_file(figment: Figment, path: &Path) -> Result<Figment, ConfigError> {
    // `file_exact`: an explicit path is never searched for in parent directories.
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    Ok(match ext.as_deref() {
        Some("yaml" | "yml") => figment.merge(Yaml::file_exact(path)),
        Some("json") => figment.merge(Json::file_exact(path)),
        Some("toml") => figment.merge(Toml::file_exact(path)),
        _ => {
            return Err(ConfigError::UnknownFormat {
                path: path.to_owned(),
            });
        }
    })
}

/// One figment error as `key path: what is wrong (source)`.
fn describe(e: &figment::Error) -> String {
    let mut msg = String::new();
    if !e.path.is_empty() {
        msg.push_str(&e.path.join("."));
        msg.push_str(": ");
    }
    msg.push_str(&e.kind.to_string());
    if let Some(md) = &e.metadata {
        let _ = match &md.source {
            Some(source) => write!(msg, " (in {} {source})", md.name),
            None => write!(msg, " (in {})", md.name),
        };
    }
    msg
}

/// The effective config as YAML, secrets redacted (they serialise as `<redacted>`).
pub fn render<C: Serialize>(config: &C) -> String {
    serde_yaml::to_string(config).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
}

/// Serde for `Duration` fields written like `10s`, `1m30s`, `15m` (or plain seconds), and
/// written back the same way. Use with `#[serde(with = "exporter_core::config::duration")]`
/// and `#[schemars(with = "String")]`.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Seconds(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => crate::cli::parse_duration(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// The JSON Schema (draft 2020-12) of `C`, pretty-printed.
pub fn json_schema<C: JsonSchema>() -> String {
    let schema = schemars::schema_for!(C);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use serde::Deserialize;
    use std::io::Write;

    #[derive(Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
    #[serde(deny_unknown_fields, default)]
    struct Conf {
        port: u16,
        name: String,
        token: Option<Secret>,
        nested: Nested,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
    #[serde(deny_unknown_fields, default)]
    struct Nested {
        interval: String,
        enabled: bool,
    }

    impl Default for Conf {
        fn default() -> Self {
            Self {
                port: 9000,
                name: "default".into(),
                token: None,
                nested: Nested::default(),
            }
        }
    }

    impl Default for Nested {
        fn default() -> Self {
            Self {
                interval: "10s".into(),
                enabled: false,
            }
        }
    }

    fn write(dir: &tempfile::TempDir, name: &str, body: &str) -> PathBuf {
        let path = dir.path().join(name);
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(body.as_bytes()).expect("write");
        path
    }

    #[derive(Serialize)]
    struct Cli {
        #[serde(skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    }

    #[test]
    #[allow(clippy::result_large_err, reason = "figment::Jail's closure signature")]
    fn layering_defaults_file_env_cli() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = write(
            &dir,
            "c.yaml",
            "port: 1\nname: file\ntoken: s3cret\nnested:\n  interval: 1m\n",
        );
        let mut sources = ConfigSources::file(&path).env_prefix("CORE_TEST_LAYER_");
        sources
            .push_override(&Cli {
                port: Some(3),
                name: None,
            })
            .expect("override");
        figment::Jail::expect_with(|jail| {
            jail.set_env("CORE_TEST_LAYER_NAME", "env");
            jail.set_env("CORE_TEST_LAYER_NESTED__ENABLED", "true");
            let c: Conf = load(&sources).expect("load");
            assert_eq!(c.port, 3, "CLI wins over file");
            assert_eq!(c.name, "env", "env wins over file");
            assert_eq!(c.nested.interval, "1m", "file wins over defaults");
            assert!(c.nested.enabled, "nested env key");
            assert_eq!(c.token.as_ref().map(Secret::expose), Some("s3cret"));
            let rendered = render(&c);
            assert!(rendered.contains("token: <redacted>"), "{rendered}");
            assert!(!rendered.contains("s3cret"));
            Ok(())
        });
    }

    #[test]
    fn unknown_key_names_file_and_path() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = write(&dir, "c.yaml", "nested:\n  intervall: 1m\n");
        let err = load::<Conf>(&ConfigSources::file(&path)).expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("nested.intervall"), "{msg}");
        assert!(msg.contains("unknown field"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }

    #[test]
    fn wrong_type_names_key_and_expected_type() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = write(&dir, "c.json", r#"{"port": "eighty"}"#);
        let msg = load::<Conf>(&ConfigSources::file(&path))
            .expect_err("must fail")
            .to_string();
        assert!(msg.contains("port"), "{msg}");
        assert!(msg.contains("u16"), "{msg}");
        assert!(msg.contains("c.json"), "{msg}");

        let path = write(&dir, "c.toml", "port = 70000\n");
        let msg = load::<Conf>(&ConfigSources::file(&path))
            .expect_err("must fail")
            .to_string();
        assert!(msg.contains("port") && msg.contains("70000"), "{msg}");
    }

    #[test]
    fn missing_and_unknown_format_files() {
        let err = load::<Conf>(&ConfigSources::file("/nonexistent/x.yaml")).expect_err("missing");
        assert!(matches!(err, ConfigError::NotFound { .. }));
        let mut optional = ConfigSources::file("/nonexistent/x.yaml");
        optional.file_optional = true;
        assert_eq!(load::<Conf>(&optional).expect("optional").port, 9000);
        let dir = tempfile::tempdir().expect("tmp");
        let path = write(&dir, "c.ini", "port=1");
        assert!(matches!(
            load::<Conf>(&ConfigSources::file(&path)),
            Err(ConfigError::UnknownFormat { .. })
        ));
    }

    #[test]
    fn syntax_error_is_reported_with_position() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = write(&dir, "c.yaml", "port: [1\n");
        let msg = load::<Conf>(&ConfigSources::file(&path))
            .expect_err("must fail")
            .to_string();
        assert!(msg.contains("line"), "{msg}");
    }

    #[test]
    fn schema_is_generated() {
        let schema = json_schema::<Conf>();
        let v: serde_json::Value = serde_json::from_str(&schema).expect("json");
        assert_eq!(v["properties"]["port"]["type"], "integer");
        assert_eq!(v["additionalProperties"], false);
    }
}
