//! Serving a simulator's router on loopback, over HTTP or HTTPS, until dropped; and the
//! simulators' small request helpers. Shared by the portal and modem simulators.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, header};

/// A server running in the background; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

/// Serves `app` on `127.0.0.1:<free port>`, over TLS with `tls` if given.
pub async fn start(app: Router, tls: Option<rustls::ServerConfig>) -> std::io::Result<Server> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    match tls {
        None => {
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        }
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = &mut rx => return,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            let acceptor = acceptor.clone();
                            let app = app.clone();
                            tokio::spawn(async move {
                                let Ok(tls) = acceptor.accept(tcp).await else { return };
                                let service = hyper_util::service::TowerToHyperService::new(app);
                                let _ = hyper_util::server::conn::auto::Builder::new(
                                    hyper_util::rt::TokioExecutor::new(),
                                )
                                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                                .await;
                            });
                        }
                    }
                }
            });
        }
    }
    Ok(Server {
        addr,
        shutdown: Some(tx),
    })
}

/// A certificate and a server config using it.
pub struct SelfSigned {
    pub der: Vec<u8>,
    pub pem: String,
    pub config: rustls::ServerConfig,
}

/// A fresh self-signed ECDSA certificate with the given subject fields (CN, O) and
/// `127.0.0.1`/`localhost` as names.
pub fn self_signed(common_name: &str, organization: &str) -> std::io::Result<SelfSigned> {
    let key = rcgen::KeyPair::generate().map_err(|e| bad("key", &e))?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .map_err(|e| bad("params", &e))?;
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, organization);
    let cert = params
        .self_signed(&key)
        .map_err(|e| bad("certificate", &e))?;
    let der = cert.der().to_vec();
    let pem = cert.pem();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad("versions", &e))?
    .with_no_client_auth()
    .with_single_cert(
        vec![der.clone().into()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .map_err(|e| bad("server config", &e))?;
    Ok(SelfSigned { der, pem, config })
}

pub(crate) fn bad(what: &str, e: &dyn std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what}: {e}"))
}

/// The request's cookies by name.
pub fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// A form-urlencoded body's fields.
pub fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}
