//! The original's config file, unchanged (`service`, `identifiers.<Provider>[]`), with
//! additions: secrets from a file, an env var or a command, a per-identifier base URL
//! and CA file, a poll time limit, providers defined without code (`providers`), and
//! stricter checks (unknown keys, label-name grammar, known providers, duplicates).

use std::collections::BTreeMap;
use std::path::PathBuf;

use exporter_core::Secret;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::providers::{BUILT_IN, Kind, generic};

/// Label names the exporter sets itself.
pub const FIXED_LABELS: [&str; 3] = ["identifier", "provider", "poll_interval"];

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub service: Service,
    /// Accounts per provider (the original's class names, or a name from `providers`);
    /// `null` lists are allowed.
    pub identifiers: BTreeMap<String, Option<Vec<Identifier>>>,
    /// Providers defined without code, by name (used as keys of `identifiers`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, generic::Definition>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Service {
    /// The gauge's name.
    pub metric_name: String,
    /// The original's error codes written into the balance (`no_answer: -1000002`, …).
    /// When absent, the balance keeps its last good value and errors show in `ssp_up`
    /// and `ssp_last_error_info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<BTreeMap<String, i64>>,
    /// User-Agent strings, one picked per identifier.
    pub user_agents: Vec<String>,
    /// Seconds one poll (login, balance, logout) may take before it is `no_answer`.
    pub poll_timeout: u64,
}

impl Default for Service {
    fn default() -> Self {
        Self {
            metric_name: "ssp_balance".into(),
            messages: None,
            user_agents: Vec::new(),
            poll_timeout: 60,
        }
    }
}

/// A label value as the original accepted it (string, number, boolean), as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(with = "LabelValueSchema")]
pub struct LabelValue(pub String);

#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "schema and parsing only")]
enum LabelValueSchema {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl<'de> Deserialize<'de> for LabelValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(LabelValue(match LabelValueSchema::deserialize(d)? {
            LabelValueSchema::Text(s) => s,
            LabelValueSchema::Int(i) => i.to_string(),
            LabelValueSchema::Float(f) => f.to_string(),
            // Python's str(True).
            LabelValueSchema::Bool(b) => if b { "True" } else { "False" }.to_owned(),
        }))
    }
}

/// The original allowed integers for `identifier` and `password`.
fn string_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        Text(String),
        Int(i64),
    }
    Ok(match S::deserialize(d)? {
        S::Text(s) => s,
        S::Int(i) => i.to_string(),
    })
}

fn secret_string_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    string_or_int(d).map(|s| Some(Secret::new(s)))
}

fn yes() -> bool {
    true
}

fn hour() -> u64 {
    3600
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    clippy::struct_field_names,
    reason = "the original's key names: `identifiers[].identifier`"
)]
pub struct Identifier {
    /// The account (login, phone number, e-mail); a label, never a secret.
    #[serde(deserialize_with = "string_or_int")]
    #[schemars(with = "LabelValueSchema")]
    pub identifier: String,
    /// The password or API key, inline (as the original). Prefer the three below.
    #[serde(
        default,
        deserialize_with = "secret_string_or_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// A command printing the secret, run without a shell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub password_command: Vec<String>,
    /// Extra labels of this identifier's series.
    #[serde(default)]
    pub labels: BTreeMap<String, LabelValue>,
    /// Not polled and not exported. Default false, except for T2RussiaB2C (true, as
    /// the original; that portal needs a one-time code at login since mid-2024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Verify the portal's TLS certificate (on by default; the original's default was off).
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// A PEM file of CA certificates to trust for this portal, besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// Seconds between two polls.
    #[serde(default = "hour")]
    pub poll_interval: u64,
    /// The provider's base URL (tests, proxies, another Aruba datacenter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

impl Identifier {
    /// Whether the identifier is switched off (T2's default is off, as the original's).
    pub fn is_disabled(&self, provider: &str) -> bool {
        self.disabled
            .unwrap_or(provider == <crate::providers::t2::T2 as crate::providers::Provider>::NAME)
    }

    pub fn password_source(&self) -> exporter_core::SecretSource<'_> {
        exporter_core::SecretSource {
            inline: self.password.as_ref(),
            file: self.password_file.as_deref(),
            env: self.password_env.as_deref(),
            command: &self.password_command,
        }
    }
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

impl Config {
    /// The provider of a config key: built in, or defined in `providers`.
    pub fn kind(&self, provider: &str) -> Option<Kind> {
        Kind::built_in(provider).or_else(|| {
            self.providers
                .get(provider)
                .map(|d| Kind::Generic(std::sync::Arc::new(d.clone())))
        })
    }

    /// The enabled identifiers with their provider's config key.
    pub fn enabled(&self) -> impl Iterator<Item = (&str, &Identifier)> {
        self.identifiers.iter().flat_map(|(provider, list)| {
            list.iter()
                .flatten()
                .filter(|id| !id.is_disabled(provider))
                .map(move |id| (provider.as_str(), id))
        })
    }
}

impl exporter_core::Validate for Config {
    fn validate(&self) -> Result<(), String> {
        if !valid_metric_name(&self.service.metric_name) {
            return Err(format!(
                "service.metric_name: {:?} is not a metric name",
                self.service.metric_name
            ));
        }
        if self.service.poll_timeout == 0 {
            return Err("service.poll_timeout: must be at least 1 (seconds)".into());
        }
        for (name, definition) in &self.providers {
            if BUILT_IN.contains(&name.as_str()) {
                return Err(format!(
                    "providers.{name}: a built-in provider has that name"
                ));
            }
            definition
                .check()
                .map_err(|e| format!("providers.{name}.{e}"))?;
        }
        let mut total = 0;
        let mut enabled = 0;
        let mut seen = std::collections::HashMap::new();
        for (provider, list) in &self.identifiers {
            if self.kind(provider).is_none() {
                let known: Vec<&str> = BUILT_IN
                    .iter()
                    .copied()
                    .chain(self.providers.keys().map(String::as_str))
                    .collect();
                return Err(format!(
                    "identifiers.{provider}: unknown provider (known: {})",
                    known.join(", ")
                ));
            }
            for (i, id) in list.iter().flatten().enumerate() {
                let at = format!("identifiers.{provider}[{i}]");
                total += 1;
                if let Some(first) = seen.insert((provider, &id.identifier), i) {
                    return Err(format!(
                        "{at}.identifier: {:?} is also identifiers.{provider}[{first}] (their series would collide)",
                        id.identifier
                    ));
                }
                if id.is_disabled(provider) {
                    continue;
                }
                enabled += 1;
                if id.poll_interval == 0 {
                    return Err(format!("{at}.poll_interval: must be at least 1"));
                }
                if id.password_source().count() != 1 {
                    return Err(format!(
                        "{at}: give exactly one of password, password_file, password_env, password_command"
                    ));
                }
                if let Some(url) = &id.base_url
                    && !(url.starts_with("http://") || url.starts_with("https://"))
                {
                    return Err(format!(
                        "{at}.base_url: must start with http:// or https://"
                    ));
                }
                for name in id.labels.keys() {
                    if !valid_label_name(name) || FIXED_LABELS.contains(&name.as_str()) {
                        return Err(format!(
                            "{at}.labels.{name}: not a usable label name ([a-zA-Z_][a-zA-Z0-9_]*, not {})",
                            FIXED_LABELS.join(", ")
                        ));
                    }
                }
            }
        }
        if total > 0 && enabled == 0 {
            return Err("identifiers: all identifiers are disabled".into());
        }
        Ok(())
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;
    use exporter_core::Validate as _;

    fn load(yaml: &str) -> Result<Config, String> {
        let c: Config = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        c.validate().map(|()| c)
    }

    #[test]
    fn the_originals_sample_loads_unchanged() {
        let c = load(include_str!("../tests/fixtures/sample_exporter.yaml")).expect("sample");
        assert_eq!(c.service.metric_name, "ssp_balance");
        assert_eq!(
            c.service.messages.as_ref().expect("messages")["no_answer"],
            -1_000_002
        );
        let vultr = c.identifiers["Vultr"].as_ref().expect("vultr");
        assert_eq!(vultr[0].identifier, "identifier_vultr");
        assert_eq!(vultr[0].poll_interval, 1800);
        assert!(
            vultr[0].tls_verify,
            "verification is on unless switched off"
        );
        assert_eq!(vultr[0].labels["currency"], LabelValue("$".into()));
        assert!(c.identifiers["WifireRussia"].as_ref().expect("w")[0].is_disabled("WifireRussia"));
    }

    #[test]
    fn stricter_than_the_original() {
        let e = load("identifiers:\n  Vultr:\n    - identifier: a\n      password: b\n      poll_intreval: 5\n")
            .expect_err("typo");
        assert!(e.contains("poll_intreval"), "{e}");
        let e = load("identifiers:\n  Nope:\n    - identifier: a\n      password: b\n")
            .expect_err("provider");
        assert!(e.starts_with("identifiers.Nope: unknown provider"), "{e}");
        let e = load("identifiers:\n  Vultr:\n    - identifier: a\n      password: b\n      labels: {my-label: x}\n")
            .expect_err("label");
        assert!(
            e.starts_with("identifiers.Vultr[0].labels.my-label:"),
            "{e}"
        );
        let e = load("identifiers:\n  Vultr:\n    - identifier: a\n      password: b\n      disabled: true\n")
            .expect_err("all disabled");
        assert_eq!(e, "identifiers: all identifiers are disabled");
        // Integers and booleans as the original allowed them.
        let c = load("identifiers:\n  Vultr:\n    - identifier: 42\n      password: 7\n      labels: {paid: true, n: 3}\n")
            .expect("scalars");
        let v = &c.identifiers["Vultr"].as_ref().expect("v")[0];
        assert_eq!(v.identifier, "42");
        assert_eq!(v.password.as_ref().expect("pw").expose(), "7");
        assert_eq!(v.labels["paid"], LabelValue("True".into()));
        // Null lists are fine.
        load("identifiers:\n  Vultr: null\n").expect("null list");
        let e = load("identifiers:\n  Vultr:\n    - identifier: a\n      password: b\n    - identifier: a\n      password: c\n")
            .expect_err("duplicate");
        assert!(e.starts_with("identifiers.Vultr[1].identifier:"), "{e}");
    }

    #[test]
    fn t2_is_off_unless_switched_on() {
        let c = load("identifiers:\n  T2RussiaB2C:\n    - identifier: '79001234567'\n      password: x\n  Vultr:\n    - identifier: v\n      password: k\n")
            .expect("config");
        let enabled: Vec<&str> = c.enabled().map(|(p, _)| p).collect();
        assert_eq!(enabled, ["Vultr"]);
        let c = load("identifiers:\n  T2RussiaB2C:\n    - identifier: '79001234567'\n      password: x\n      disabled: false\n")
            .expect("config");
        assert_eq!(c.enabled().count(), 1);
    }

    #[test]
    fn generic_providers() {
        let yaml = "providers:\n  MyIsp:\n    base_url: https://lk.example.net\n    balance: {path: /api/balance, json_pointer: /balance}\nidentifiers:\n  MyIsp:\n    - identifier: a\n      password: b\n";
        let c = load(yaml).expect("generic");
        assert!(matches!(c.kind("MyIsp"), Some(Kind::Generic(_))));
        let e = load(&yaml.replace("json_pointer: /balance", "json_pointer: balance"))
            .expect_err("pointer");
        assert!(
            e.starts_with("providers.MyIsp.balance.json_pointer:"),
            "{e}"
        );
        let e = load("providers:\n  Vultr:\n    base_url: https://x\n    balance: {path: /b, json_pointer: /b}\n")
            .expect_err("clash");
        assert!(e.starts_with("providers.Vultr:"), "{e}");
    }
}
