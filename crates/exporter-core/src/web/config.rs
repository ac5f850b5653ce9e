//! The Prometheus exporter-toolkit web config file (`--web.config.file`): same YAML
//! fields, same strictness (unknown keys are errors), same validation messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::Secret;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    #[serde(default)]
    pub tls_server_config: TlsServerConfig,
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    /// User name to bcrypt hash.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, Secret>,
    #[serde(default)]
    pub rate_limit: RateLimit,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    pub cert: Option<String>,
    pub key: Option<Secret>,
    pub client_ca: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub client_auth_type: ClientAuth,
    pub client_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub client_allowed_sans: Vec<String>,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    pub prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    pub curve_preferences: Vec<String>,
}

/// Go's `tls.ClientAuthType` names.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ClientAuth {
    #[default]
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: Headers,
}

/// The only response headers the toolkit lets a user set.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Headers {
    #[serde(rename = "Content-Security-Policy")]
    pub content_security_policy: Option<String>,
    #[serde(rename = "X-Frame-Options")]
    pub x_frame_options: Option<String>,
    #[serde(rename = "X-Content-Type-Options")]
    pub x_content_type_options: Option<String>,
    #[serde(rename = "X-XSS-Protection")]
    pub x_xss_protection: Option<String>,
    #[serde(rename = "Strict-Transport-Security")]
    pub strict_transport_security: Option<String>,
}

impl Headers {
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("content-security-policy", &self.content_security_policy),
            ("x-frame-options", &self.x_frame_options),
            ("x-content-type-options", &self.x_content_type_options),
            ("x-xss-protection", &self.x_xss_protection),
            ("strict-transport-security", &self.strict_transport_security),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default, with = "go_duration")]
    pub interval: Option<Duration>,
    #[serde(default)]
    pub burst: u32,
}

mod go_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| crate::cli::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Why a web config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("web config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("web config {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("web config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl WebConfig {
    /// Reads, parses and validates `path`; relative file names inside it are resolved
    /// against the directory of `path`, as the toolkit does.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|source| WebConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        config.tls_server_config.resolve_paths(base);
        config
            .validate()
            .map_err(|message| WebConfigError::Invalid {
                path: path.to_owned(),
                message,
            })?;
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Self, serde_yaml::Error> {
        // An empty file is a valid, empty config.
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(text)
    }

    /// The toolkit's checks, with its messages where it has one.
    pub fn validate(&self) -> Result<(), String> {
        for (user, hash) in &self.basic_auth_users {
            if hash.expose().parse::<bcrypt::HashParts>().is_err() {
                return Err(format!(
                    "basic_auth_users: the password of user {user:?} is not a bcrypt hash"
                ));
            }
        }
        let h = &self.http_server_config.headers;
        if let Some(v) = &h.x_content_type_options
            && !v.eq_ignore_ascii_case("nosniff")
        {
            return Err(format!(
                "invalid value for X-Content-Type-Options: {v:?}, expected \"nosniff\""
            ));
        }
        if let Some(v) = &h.x_frame_options
            && !v.eq_ignore_ascii_case("deny")
            && !v.eq_ignore_ascii_case("sameorigin")
        {
            return Err(format!(
                "invalid value for X-Frame-Options: {v:?}, expected \"deny\" or \"sameorigin\""
            ));
        }
        if self.rate_limit.interval.is_some_and(|i| !i.is_zero()) && self.rate_limit.burst == 0 {
            return Err("rate_limit: burst must be at least 1 when interval is set".into());
        }
        self.tls_server_config.validate()
    }

    /// TLS is on only if a certificate and a key are configured.
    pub fn tls_enabled(&self) -> bool {
        self.tls_server_config.has_cert() && self.tls_server_config.has_key()
    }
}

impl TlsServerConfig {
    fn has_cert(&self) -> bool {
        self.cert.is_some() || self.cert_file.is_some()
    }

    fn has_key(&self) -> bool {
        self.key.is_some() || self.key_file.is_some()
    }

    fn is_empty(&self) -> bool {
        !self.has_cert()
            && !self.has_key()
            && self.client_ca.is_none()
            && self.client_ca_file.is_none()
            && self.client_auth_type == ClientAuth::NoClientCert
    }

    fn resolve_paths(&mut self, base: &Path) {
        for p in [
            &mut self.cert_file,
            &mut self.key_file,
            &mut self.client_ca_file,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.is_empty() {
            return Ok(());
        }
        if self.cert.is_some() && self.cert_file.is_some() {
            return Err("at most one of cert and cert_file must be configured".into());
        }
        if self.key.is_some() && self.key_file.is_some() {
            return Err("at most one of key and key_file must be configured".into());
        }
        if self.client_ca.is_some() && self.client_ca_file.is_some() {
            return Err("at most one of client_ca and client_ca_file must be configured".into());
        }
        if !self.has_cert() {
            return Err("missing one of cert or cert_file".into());
        }
        if !self.has_key() {
            return Err("missing one of key or key_file".into());
        }
        let has_ca = self.client_ca.is_some() || self.client_ca_file.is_some();
        let verifies = matches!(
            self.client_auth_type,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        );
        if has_ca && !verifies {
            return Err("Client CA's have been configured without a Client Auth Policy".into());
        }
        if verifies && !has_ca {
            return Err(format!(
                "client_auth_type {:?} needs client_ca_file (or client_ca)",
                self.client_auth_type
            ));
        }
        if !self.client_allowed_sans.is_empty()
            && !matches!(
                self.client_auth_type,
                ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
            )
        {
            return Err("client_allowed_sans requires a client_auth_type of RequireAnyClientCert or RequireAndVerifyClientCert".into());
        }
        if let (Some(min), Some(max)) = (self.min_version, self.max_version)
            && min > max
        {
            return Err("min_version must be less than or equal to max_version".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolkit_example_parses() {
        // The shape of exporter-toolkit's docs/web-config.yml.
        let c = WebConfig::parse(
            r"
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS12
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  prefer_server_cipher_suites: true
  curve_preferences: [X25519]
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
basic_auth_users:
  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze
rate_limit:
  interval: 1s
  burst: 10
",
        )
        .expect("parse");
        c.validate().expect("valid");
        assert!(c.tls_enabled());
        assert_eq!(c.rate_limit.interval, Some(Duration::from_secs(1)));
        assert_eq!(c.http_server_config.headers.pairs().len(), 2);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = WebConfig::parse("tls_server_config:\n  certfile: x\n").expect_err("unknown");
        assert!(e.to_string().contains("certfile"), "{e}");
        let e = WebConfig::parse("http_server_config:\n  headers:\n    Server: x\n")
            .expect_err("only five headers");
        assert!(e.to_string().contains("Server"), "{e}");
        assert!(WebConfig::parse("basic_auth:\n  a: b\n").is_err());
    }

    #[test]
    fn toolkit_messages() {
        let check = |yaml: &str| {
            WebConfig::parse(yaml)
                .expect("parse")
                .validate()
                .expect_err("invalid")
        };
        assert_eq!(
            check("tls_server_config:\n  key_file: k\n"),
            "missing one of cert or cert_file"
        );
        assert_eq!(
            check("tls_server_config:\n  cert_file: c\n"),
            "missing one of key or key_file"
        );
        assert!(check("basic_auth_users:\n  bob: plaintext\n").contains("not a bcrypt hash"));
        assert!(!check("basic_auth_users:\n  bob: plaintext\n").contains("plaintext"));
        assert!(
            check("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n")
                .contains("Client Auth Policy")
        );
        assert!(check("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n").contains("client_ca_file"));
        assert!(
            check("http_server_config:\n  headers:\n    X-Frame-Options: allow\n")
                .contains("X-Frame-Options")
        );
        assert!(check("tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS13\n  max_version: TLS12\n").contains("min_version"));
    }

    #[test]
    fn empty_or_certless_config_is_plain_http() {
        let c = WebConfig::parse("").expect("empty");
        assert!(!c.tls_enabled());
        let c = WebConfig::parse("tls_server_config: {}\nbasic_auth_users: {}\n").expect("parse");
        c.validate().expect("valid");
        assert!(!c.tls_enabled());
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: a.crt\n  key_file: /abs/a.key\n",
        )
        .expect("write");
        let c = WebConfig::load(&path).expect("load");
        assert_eq!(
            c.tls_server_config.cert_file,
            Some(dir.path().join("a.crt"))
        );
        assert_eq!(
            c.tls_server_config.key_file,
            Some(PathBuf::from("/abs/a.key"))
        );
    }
}
