//! The TLS settings of polls, built once and shared: the system's CA certificates are
//! read and parsed once per process (doing it per poll cost about 5 ms of CPU and, with
//! many polls at once, megabytes of peak memory), and an identifier's `tls_ca_file`
//! once per start of its task (a reload that changes it restarts the task).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::{ClientConfig, RootCertStore};
use tokio::sync::OnceCell;

static SYSTEM_ROOTS: OnceCell<Arc<RootCertStore>> = OnceCell::const_new();
static VERIFIED: OnceCell<ClientConfig> = OnceCell::const_new();
/// By CA file: its content when read and the config built with it, shared by every
/// identifier naming the same file with the same content.
static WITH_FILE: Mutex<BTreeMap<PathBuf, (Vec<u8>, ClientConfig)>> = Mutex::new(BTreeMap::new());

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's CA certificates (an empty store if none can be read: verification then
/// fails for every portal, and the log says why).
async fn system_roots() -> Arc<RootCertStore> {
    Arc::clone(
        SYSTEM_ROOTS
            .get_or_init(|| async {
                let loaded = tokio::task::spawn_blocking(rustls_native_certs::load_native_certs)
                    .await
                    .unwrap_or_default();
                for e in &loaded.errors {
                    tracing::warn!(error = %e, "cannot read some of the system's CA certificates");
                }
                let mut store = RootCertStore::empty();
                store.add_parsable_certificates(loaded.certs);
                if store.is_empty() {
                    tracing::warn!("no system CA certificates found: HTTPS portals cannot be verified (install ca-certificates, or set tls_ca_file)");
                }
                Arc::new(store)
            })
            .await,
    )
}

fn with_roots(roots: Arc<RootCertStore>) -> Result<ClientConfig, String> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The TLS config of an identifier that verifies (`tls_verify: false` needs none: the
/// poll's client accepts any certificate itself): the system's CAs and its `tls_ca_file`.
pub async fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, String> {
    match ca_file {
        None => VERIFIED
            .get_or_try_init(|| async { with_roots(system_roots().await) })
            .await
            .cloned(),
        Some(path) => {
            let pem = tokio::fs::read(path)
                .await
                .map_err(|e| format!("tls_ca_file {}: {e}", path.display()))?;
            if let Some((seen, config)) = WITH_FILE
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(path)
                && *seen == pem
            {
                return Ok(config.clone());
            }
            let mut store = (*system_roots().await).clone();
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("tls_ca_file {}: {e}", path.display()))?;
                store
                    .add(cert)
                    .map_err(|e| format!("tls_ca_file {}: {e}", path.display()))?;
                added += 1;
            }
            if added == 0 {
                return Err(format!(
                    "tls_ca_file {}: no PEM certificate in it",
                    path.display()
                ));
            }
            let config = with_roots(Arc::new(store))?;
            WITH_FILE
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(path.to_owned(), (pem, config.clone()));
            Ok(config)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ca_file_must_hold_certificates() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("tmp");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let e = client_config(Some(&empty)).await.expect_err("empty");
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = client_config(Some(&dir.path().join("missing.pem")))
            .await
            .expect_err("missing");
        assert!(e.starts_with("tls_ca_file "), "{e}");
    }
}
