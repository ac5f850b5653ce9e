//! Listeners and the accept loop: plain HTTP/1.1, or TLS (HTTP/2 by ALPN when enabled)
//! with the web config looked up per connection, and graceful shutdown.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::WebRuntime;

/// A TLS handshake that takes longer is dropped, so idle connections cannot pin tasks.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("invalid listen address {0:?}: expected host:port, :port or [ipv6]:port")]
    Invalid(String),
    #[error("cannot resolve listen address {addr:?}: {source}")]
    Resolve {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Splits a Go-style listen address. `None` host means all interfaces.
pub fn parse_listen_address(s: &str) -> Result<(Option<String>, u16), ListenError> {
    let invalid = || ListenError::Invalid(s.to_owned());
    let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(((!host.is_empty()).then(|| host.to_owned()), port))
}

/// Binds every address; `:port` means all interfaces (IPv6 and IPv4 where the host has
/// IPv6, else IPv4), a host name binds each address it resolves to.
pub async fn bind(addresses: &[String]) -> Result<Vec<TcpListener>, ListenError> {
    let mut listeners = Vec::new();
    for addr in addresses {
        let (host, port) = parse_listen_address(addr)?;
        let bind_err = |source| ListenError::Bind {
            addr: addr.clone(),
            source,
        };
        match host {
            None => {
                let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
                match TcpListener::bind(any6).await {
                    Ok(l) => listeners.push(l),
                    Err(_) => listeners.push(
                        TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
                            .await
                            .map_err(bind_err)?,
                    ),
                }
            }
            Some(host) => {
                let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .map_err(|source| ListenError::Resolve {
                        addr: addr.clone(),
                        source,
                    })?
                    .collect();
                let mut bound = 0;
                let mut last_err = None;
                let mut seen = Vec::new();
                for sa in resolved {
                    if seen.contains(&sa) {
                        continue;
                    }
                    seen.push(sa);
                    match TcpListener::bind(sa).await {
                        Ok(l) => {
                            listeners.push(l);
                            bound += 1;
                        }
                        Err(e) => last_err = Some(e),
                    }
                }
                if bound == 0 {
                    return Err(bind_err(last_err.unwrap_or_else(|| {
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
                    })));
                }
            }
        }
    }
    Ok(listeners)
}

/// Serves `app` on `listener` until `stop` fires, then lets open connections finish
/// through `graceful`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    web: Arc<WebRuntime>,
    graceful: Arc<GracefulShutdown>,
    mut stop: watch::Receiver<bool>,
) {
    let local = listener.local_addr().ok();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, listen = ?local, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let state = web.current();
        let app = app.clone();
        let http2 = web.http2();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // The peer address travels with each request, for per-scraper state.
            let app = tower::ServiceExt::map_request(
                app,
                move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(super::routes::PeerAddr(peer));
                    req
                },
            );
            let service = TowerToHyperService::new(app);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            if let Some(tls) = &state.tls {
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(tls));
                let stream =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                let allowed = &state.config.tls_server_config.client_allowed_sans;
                if !allowed.is_empty() {
                    let ok = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .is_some_and(|c| super::tls::client_san_allowed(c, allowed));
                    if !ok {
                        tracing::warn!(%peer, "client certificate has none of the allowed SANs");
                        return;
                    }
                }
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                if !(http2 && h2) {
                    builder = builder.http1_only();
                }
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                if let Err(e) = watcher.watch(conn.into_owned()).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            } else {
                // Plain HTTP is HTTP/1.1 only, as with Go's net/http (no h2c).
                builder = builder.http1_only();
                let conn = builder.serve_connection(TokioIo::new(tcp), service);
                if let Err(e) = watcher.watch(conn.into_owned()).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_address_forms() {
        assert_eq!(parse_listen_address(":9100").expect("ok"), (None, 9100));
        assert_eq!(
            parse_listen_address("127.0.0.1:8080").expect("ok"),
            (Some("127.0.0.1".into()), 8080)
        );
        assert_eq!(
            parse_listen_address("[::1]:9100").expect("ok"),
            (Some("::1".into()), 9100)
        );
        assert_eq!(
            parse_listen_address("localhost:10032").expect("ok"),
            (Some("localhost".into()), 10032)
        );
        assert!(parse_listen_address("9100").is_err());
        assert!(parse_listen_address("host:http").is_err());
        assert!(parse_listen_address("host:70000").is_err());
    }

    #[tokio::test]
    async fn binds_loopback_and_port_zero() {
        let l = bind(&["127.0.0.1:0".to_owned()]).await.expect("bind");
        assert_eq!(l.len(), 1);
        let taken = l[0].local_addr().expect("addr").to_string();
        let err = bind(&[taken]).await.expect_err("in use");
        assert!(err.to_string().contains("cannot listen"), "{err}");
    }
}
