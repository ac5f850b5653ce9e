//! rustls server configuration from the toolkit's `tls_server_config`.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use super::config::{ClientAuth, TlsServerConfig, TlsVersion};

/// Builds the server config. Errors are plain sentences naming the offending field.
pub fn server_config(c: &TlsServerConfig, http2: bool) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(provider(c)?);
    let certs = load_certs(c.cert.as_deref(), c.cert_file.as_deref(), "cert")?;
    let key = load_key(c)?;
    let versions = versions(c);
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let verifier: Arc<dyn ClientCertVerifier> = match c.client_auth_type {
        ClientAuth::NoClientCert => {
            let config = builder
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .map_err(|e| format!("tls_server_config: cert/key: {e}"))?;
            return Ok(finish(config, c, http2));
        }
        ClientAuth::RequestClientCert => Arc::new(AnyClientCert {
            mandatory: false,
            provider: Arc::clone(&provider),
        }),
        ClientAuth::RequireAnyClientCert => Arc::new(AnyClientCert {
            mandatory: true,
            provider: Arc::clone(&provider),
        }),
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let mut roots = RootCertStore::empty();
            for ca in load_certs(
                c.client_ca.as_deref(),
                c.client_ca_file.as_deref(),
                "client_ca",
            )? {
                roots
                    .add(ca)
                    .map_err(|e| format!("tls_server_config: client CA: {e}"))?;
            }
            let b =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let b = if c.client_auth_type == ClientAuth::VerifyClientCertIfGiven {
                b.allow_unauthenticated()
            } else {
                b
            };
            b.build()
                .map_err(|e| format!("tls_server_config: client CA: {e}"))?
        }
    };
    let config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: cert/key: {e}"))?;
    Ok(finish(config, c, http2))
}

fn finish(mut config: ServerConfig, c: &TlsServerConfig, http2: bool) -> Arc<ServerConfig> {
    config.ignore_client_order = c.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Arc::new(config)
}

/// rustls speaks TLS 1.2 and 1.3 only; an older minimum is raised to 1.2 (with a warning
/// at load time) rather than refused, so toolkit configs keep working.
fn versions(c: &TlsServerConfig) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let min = c.min_version.unwrap_or(TlsVersion::TLS12);
    let max = c.max_version.unwrap_or(TlsVersion::TLS13);
    if min < TlsVersion::TLS12 {
        tracing::warn!(
            min_version = ?min,
            "TLS versions below 1.2 are not supported; using TLS12 as the minimum"
        );
    }
    let mut out = Vec::new();
    if max >= TlsVersion::TLS12 && min <= TlsVersion::TLS12 {
        out.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::TLS13 {
        out.push(&rustls::version::TLS13);
    }
    if out.is_empty() {
        out.push(&rustls::version::TLS12);
    }
    out
}

/// The ring provider, narrowed to the configured cipher suites (TLS 1.2 only, as in Go:
/// TLS 1.3 suites are always on) and curves, in the configured order.
fn provider(c: &TlsServerConfig) -> Result<CryptoProvider, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !c.cipher_suites.is_empty() {
        let all = provider.cipher_suites.clone();
        let mut chosen: Vec<_> = Vec::new();
        for name in &c.cipher_suites {
            let wanted = go_suite_name(name);
            let suite = all
                .iter()
                .find(|s| s.tls13().is_none() && format!("{:?}", s.suite()) == wanted)
                .ok_or_else(|| {
                    format!(
                        "tls_server_config.cipher_suites: {name:?} is not supported; supported: {}",
                        all.iter()
                            .filter(|s| s.tls13().is_none())
                            .map(|s| format!("{:?}", s.suite()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            chosen.push(*suite);
        }
        chosen.extend(all.iter().filter(|s| s.tls13().is_some()).copied());
        provider.cipher_suites = chosen;
    }
    if !c.curve_preferences.is_empty() {
        let all = provider.kx_groups.clone();
        let mut chosen = Vec::new();
        for name in &c.curve_preferences {
            let wanted = match name.as_str() {
                "X25519" => "X25519",
                "CurveP256" | "P256" => "secp256r1",
                "CurveP384" | "P384" => "secp384r1",
                other => {
                    return Err(format!(
                        "tls_server_config.curve_preferences: {other:?} is not supported; supported: X25519, CurveP256, CurveP384"
                    ));
                }
            };
            if let Some(g) = all.iter().find(|g| format!("{:?}", g.name()) == wanted) {
                chosen.push(*g);
            }
        }
        provider.kx_groups = chosen;
    }
    Ok(provider)
}

/// Go spells the ChaCha suites without their `_SHA256` suffix.
fn go_suite_name(name: &str) -> String {
    if name.ends_with("CHACHA20_POLY1305") {
        format!("{name}_SHA256")
    } else {
        name.to_owned()
    }
}

fn load_certs(
    inline: Option<&str>,
    file: Option<&std::path::Path>,
    field: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = match (inline, file) {
        (Some(pem), _) => CertificateDer::pem_slice_iter(pem.as_bytes()).collect(),
        (None, Some(path)) => CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("tls_server_config.{field}_file {}: {e}", path.display()))?
            .collect(),
        (None, None) => return Err(format!("missing one of {field} or {field}_file")),
    };
    let certs = certs.map_err(|e| format!("tls_server_config.{field}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.{field}: no PEM certificate found"
        ));
    }
    Ok(certs)
}

fn load_key(c: &TlsServerConfig) -> Result<PrivateKeyDer<'static>, String> {
    // The key's content is never echoed: errors name only the field or file.
    match (&c.key, &c.key_file) {
        (Some(pem), _) => PrivateKeyDer::from_pem_slice(pem.expose().as_bytes())
            .map_err(|_| "tls_server_config.key: no valid PEM private key".to_owned()),
        (None, Some(path)) => PrivateKeyDer::from_pem_file(path)
            .map_err(|e| format!("tls_server_config.key_file {}: {e}", path.display())),
        (None, None) => Err("missing one of key or key_file".into()),
    }
}

/// Checks a verified client certificate against `client_allowed_sans` (DNS names and IP
/// addresses; the toolkit also matches e-mail and URI SANs, which webpki cannot).
pub fn client_san_allowed(cert: &CertificateDer<'_>, allowed: &[String]) -> bool {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    allowed.iter().any(|san| {
        ServerName::try_from(san.as_str())
            .is_ok_and(|name| ee.verify_is_valid_for_subject_name(&name).is_ok())
    })
}

/// Go's `RequestClientCert` / `RequireAnyClientCert`: ask for a certificate, check the
/// handshake signature made with it, but not its chain.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
