//! TLS from the web config: handshake, HTTP/2, client certificates, versions, and
//! certificate rotation without a restart.

use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::util;

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
        Self { ca }
    }

    /// (cert PEM, key PEM) for `sans`, signed by this CA.
    fn leaf(&self, sans: &[&str]) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let params =
            CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .expect("params");
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        (cert.pem(), key.serialize_pem())
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }
}

fn client(
    ca_pem: &str,
    client_cert: Option<(&str, &str)>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("ca pem")).expect("add root");
    }
    let builder = rustls::ClientConfig::builder_with_protocol_versions(versions)
        .with_root_certificates(roots);
    let mut config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .expect("cert"),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"),
            )
            .expect("client auth"),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

const ALL: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn write(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, body).expect("write");
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_basic_auth_and_http2() {
    let dir = tempfile::tempdir().expect("tmp");
    let pki = Pki::new("test CA");
    let (cert, key) = pki.leaf(&["localhost"]);
    write(&dir, "server.crt", &cert);
    write(&dir, "server.key", &key);
    let hash = bcrypt::hash("pw", 4).expect("hash");
    // Relative paths resolve against the web config's directory.
    let web = write(
        &dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prom: {hash}\n"
        ),
    );
    let r = util::start(&[&format!("--web.config.file={web}")], |_| {}).await;
    let c = client(&pki.ca_pem(), None, ALL);
    let resp = c
        .get(r.https("/metrics"))
        .basic_auth("prom", Some("pw"))
        .send()
        .await
        .expect("https");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2, "ALPN h2");
    assert_eq!(
        c.get(r.https("/metrics"))
            .send()
            .await
            .expect("https")
            .status(),
        401
    );
    // Plain HTTP on a TLS listener gets nothing useful.
    let plain = util::plain_client().get(r.url("/metrics")).send().await;
    assert!(plain.is_err() || plain.expect("resp").status() != 200);
    // A client that does not trust the CA fails the handshake.
    let other = Pki::new("other CA");
    assert!(
        client(&other.ca_pem(), None, ALL)
            .get(r.https("/"))
            .send()
            .await
            .is_err()
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_and_allowed_sans() {
    let dir = tempfile::tempdir().expect("tmp");
    let pki = Pki::new("server CA");
    let clients = Pki::new("client CA");
    let (cert, key) = pki.leaf(&["localhost"]);
    write(&dir, "s.crt", &cert);
    write(&dir, "s.key", &key);
    write(&dir, "clients.crt", &clients.ca_pem());
    let web = write(
        &dir,
        "web.yml",
        "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.crt\n  client_allowed_sans: [prometheus.example]\n",
    );
    let r = util::start(&[&format!("--web.config.file={web}")], |_| {}).await;
    let (good_cert, good_key) = clients.leaf(&["prometheus.example"]);
    let (other_cert, other_key) = clients.leaf(&["grafana.example"]);
    let (rogue_cert, rogue_key) = Pki::new("rogue").leaf(&["prometheus.example"]);

    let ok = client(&pki.ca_pem(), Some((&good_cert, &good_key)), ALL)
        .get(r.https("/-/healthy"))
        .send()
        .await
        .expect("allowed client");
    assert_eq!(ok.status(), 200);
    for (label, cert) in [
        ("no certificate", None),
        (
            "SAN not allowed",
            Some((other_cert.as_str(), other_key.as_str())),
        ),
        (
            "untrusted issuer",
            Some((rogue_cert.as_str(), rogue_key.as_str())),
        ),
    ] {
        let res = client(&pki.ca_pem(), cert, ALL)
            .get(r.https("/-/healthy"))
            .send()
            .await;
        assert!(res.is_err(), "{label} must be refused");
    }
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_version_is_enforced() {
    let dir = tempfile::tempdir().expect("tmp");
    let pki = Pki::new("CA");
    let (cert, key) = pki.leaf(&["localhost"]);
    let web = write(
        &dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert: |\n{}  key: |\n{}  min_version: TLS13\n",
            indent(&cert),
            indent(&key)
        ),
    );
    let r = util::start(&[&format!("--web.config.file={web}")], |_| {}).await;
    let tls12 = client(&pki.ca_pem(), None, &[&rustls::version::TLS12]);
    assert!(tls12.get(r.https("/-/healthy")).send().await.is_err());
    let tls13 = client(&pki.ca_pem(), None, &[&rustls::version::TLS13]);
    assert_eq!(
        tls13
            .get(r.https("/-/healthy"))
            .send()
            .await
            .expect("1.3")
            .status(),
        200
    );
    r.stop().await;
}

fn indent(pem: &str) -> String {
    pem.lines().flat_map(|l| ["    ", l, "\n"]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_certificate_is_used_without_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let old = Pki::new("old CA");
    let (cert, key) = old.leaf(&["localhost"]);
    write(&dir, "s.crt", &cert);
    write(&dir, "s.key", &key);
    let web = write(
        &dir,
        "web.yml",
        "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n",
    );
    let r = util::start(&[&format!("--web.config.file={web}")], |_| {}).await;
    assert!(
        client(&old.ca_pem(), None, ALL)
            .get(r.https("/-/healthy"))
            .send()
            .await
            .is_ok()
    );

    let new = Pki::new("new CA");
    let (cert, key) = new.leaf(&["localhost"]);
    // Write the key first, then the certificate, as a renewal tool would.
    write(&dir, "s.key", &key);
    write(&dir, "s.crt", &cert);
    let new_client = client(&new.ca_pem(), None, ALL);
    let mut switched = false;
    for _ in 0..50 {
        if new_client.get(r.https("/-/healthy")).send().await.is_ok() {
            switched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(switched, "new certificate picked up for new connections");
    r.stop().await;
}
