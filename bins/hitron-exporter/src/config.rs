//! The config file: modules (credentials, pin, model variant per target or group, in the
//! blackbox_exporter style) and the guards of `/probe`. Every key is optional: without a
//! file the exporter behaves like the original (credentials and pin in the probe URL).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use exporter_core::Secret;
use exporter_core::config::duration;
use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::tls::Pin;
use crate::values::BytePrefixes;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Named settings, chosen with `/probe?module=<name>` (default: `default`).
    pub modules: BTreeMap<String, Module>,
    /// Accept `usr`/`pwd` in the probe URL, as the original does. Turn off once every
    /// target has its credentials in a module.
    pub allow_url_credentials: bool,
    /// Targets `/probe` may reach: CIDRs and host names (exact). Empty: any target.
    pub allowed_targets: Vec<String>,
    /// Upper bound of a probe, whatever the scraper's timeout.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub max_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            modules: BTreeMap::from([("default".to_owned(), Module::default())]),
            allow_url_credentials: true,
            allowed_targets: Vec::new(),
            max_timeout: Duration::from_secs(30),
        }
    }
}

/// The modem's API, when known (`auto` finds out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// CGNV4 login if the modem sets a `preSession` cookie, else no login if `/data/`
    /// answers, else the older login.
    #[default]
    Auto,
    /// CGNV4 (`preSession`, `/goform/login` with `usr`/`pwd`): the original's.
    Cgnv4,
    /// Older CGN3 / CODA-4582 / CGNM firmware (`user` and `pws` or `pwd`, cookie `userid`).
    Cgn3,
    /// CODA-45/56 bridge modems: no login; adds the DOCSIS 3.1 OFDM endpoints.
    Coda,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Module {
    pub variant: Variant,
    /// `https` (the original) or `http`.
    pub scheme: String,
    /// The modem's port (the original's `_port`; default by scheme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password, inline. Prefer `password_file`, `password_env` or `password_command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A file holding the password (trailing newline ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// A command printing the password (e.g. `[ipa, vault-retrieve, pwd, --service,
    /// host/modem.example.com, --out, /dev/stdout]`), run without a shell; its output is
    /// kept for `secret_cache`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub password_command: Vec<String>,
    /// How long a password read from a command is reused.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub secret_cache: Duration,
    /// Expected certificate fingerprint (SHA-256, SHA-1 or MD5 of the leaf, hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Fingerprints per target (host as given in `target=`), over `fingerprint`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fingerprints: BTreeMap<String, String>,
    /// Refuse to connect without a fingerprint (the original connects unverified and
    /// logs the fingerprint it saw).
    pub require_fingerprint: bool,
    /// Log other sessions out when logging in (the original's `force=1`).
    pub force_logoff: bool,
    /// How byte counters' K/M/G prefixes are read: `decimal` (the original) or `binary`.
    pub byte_prefixes: BytePrefixes,
    /// Read the DOCSIS 3.1 OFDM endpoints (CODA). Some CODA-56 firmware reboots after
    /// a few hundred reads of them: probe such modems less often.
    pub ofdm: bool,
    /// Time limit of one HTTP request to the modem.
    #[serde(with = "duration")]
    #[schemars(with = "String")]
    pub request_timeout: Duration,
}

impl Default for Module {
    fn default() -> Self {
        Self {
            variant: Variant::Auto,
            scheme: "https".into(),
            port: None,
            username: None,
            password: None,
            password_file: None,
            password_env: None,
            password_command: Vec::new(),
            secret_cache: Duration::from_secs(300),
            fingerprint: None,
            fingerprints: BTreeMap::new(),
            require_fingerprint: false,
            force_logoff: false,
            byte_prefixes: BytePrefixes::Decimal,
            ofdm: true,
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl Module {
    pub fn password_source(&self) -> exporter_core::SecretSource<'_> {
        exporter_core::SecretSource {
            inline: self.password.as_ref(),
            file: self.password_file.as_deref(),
            env: self.password_env.as_deref(),
            command: &self.password_command,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "http" { 80 } else { 443 })
    }
}

/// Targets `/probe` may reach.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    nets: Vec<IpNet>,
    hosts: Vec<String>,
}

impl AllowList {
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut list = Self::default();
        for e in entries {
            let e = e.trim();
            if let Ok(net) = e.parse::<IpNet>() {
                list.nets.push(net.trunc());
            } else if let Ok(ip) = e.parse::<std::net::IpAddr>() {
                list.nets.push(ip.into());
            } else if !e.is_empty()
                && e.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
            {
                list.hosts.push(e.to_ascii_lowercase());
            } else {
                return Err(format!(
                    "allowed_targets: {e:?} is not a CIDR, IP or host name"
                ));
            }
        }
        Ok(list)
    }

    pub fn allows(&self, host: &str) -> bool {
        if self.nets.is_empty() && self.hosts.is_empty() {
            return true;
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => self.nets.iter().any(|n| n.contains(&ip)),
            Err(_) => self.hosts.iter().any(|h| h.eq_ignore_ascii_case(bare)),
        }
    }
}

impl exporter_core::Validate for Config {
    fn validate(&self) -> Result<(), String> {
        AllowList::parse(&self.allowed_targets)?;
        for (name, m) in &self.modules {
            let at = format!("modules.{name}");
            if m.scheme != "https" && m.scheme != "http" {
                return Err(format!("{at}.scheme: {:?} is not https or http", m.scheme));
            }
            if m.password_source().count() > 1 {
                return Err(format!(
                    "{at}: give one of password, password_file, password_env, password_command"
                ));
            }
            if let Some(f) = &m.fingerprint {
                Pin::parse(f).map_err(|e| format!("{at}.fingerprint: {e}"))?;
            }
            for (target, f) in &m.fingerprints {
                Pin::parse(f).map_err(|e| format!("{at}.fingerprints.{target}: {e}"))?;
            }
            if m.request_timeout.is_zero() {
                return Err(format!("{at}.request_timeout: must be more than 0"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exporter_core::Validate as _;

    #[test]
    fn allow_list() {
        let a = AllowList::parse(&["192.168.100.0/24".into(), "modem.example.com".into()])
            .expect("parse");
        assert!(a.allows("192.168.100.1"));
        assert!(!a.allows("192.168.101.1"));
        assert!(a.allows("Modem.Example.com"));
        assert!(!a.allows("evil.example.com"));
        assert!(AllowList::default().allows("anything"));
        assert!(AllowList::parse(&["a b".into()]).is_err());
    }

    #[test]
    fn validation_names_the_key() {
        let mut c = Config::default();
        c.modules.insert(
            "home".into(),
            Module {
                fingerprint: Some("AB:CD".into()),
                ..Module::default()
            },
        );
        let e = c.validate().expect_err("bad pin");
        assert!(e.starts_with("modules.home.fingerprint: "), "{e}");
        c.modules.insert(
            "home".into(),
            Module {
                password: Some(Secret::new("x")),
                password_env: Some("X".into()),
                ..Module::default()
            },
        );
        assert!(
            c.validate()
                .expect_err("two")
                .starts_with("modules.home: give one of")
        );
    }
}
