//! A Hitron modem on loopback, from the documented behaviour (no modem here): the CGNV4
//! login flow (`preSession` cookie, `/goform/login` answers `success`, `Repeat Login`,
//! `Wrong Credentials.`, `LoginProtect=…`), one session at a time, 302 for data without
//! a session, logout with `data=byebye`, one request at a time; or a CODA bridge modem
//! without login and with the OFDM endpoints. Served over HTTPS (a self-signed
//! certificate) or plain HTTP, with faults to inject: slow answers, hangs, garbage.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::serve::{self, bad, cookies, form};

/// Which API the simulated modem speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// CGNV4-FX4 (variant A), fixtures `cgnv4/`.
    Cgnv4,
    /// CODA-56 without login (variant C), fixtures `coda/`.
    Coda,
    /// Older firmware (variant B, CGN3/CODA-4582): `user` + `pws` login, cookie `userid`;
    /// serves the `cgnv4/` fixtures.
    Cgn3,
}

/// How the simulator is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain HTTP.
    None,
    /// HTTPS with a fresh self-signed ECDSA certificate (TLS 1.2 and 1.3).
    Modern,
    /// HTTPS like the CGNV4-FX4: a self-signed 1024-bit RSA certificate (MAC address as
    /// CN, no SAN), TLS 1.2. ring cannot sign with such a key, so RustCrypto's `rsa` does.
    Legacy1024,
}

/// What to do wrong.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Delay before every answer.
    pub delay: Duration,
    /// Never answer data requests (the connection stays open).
    pub hang_data: bool,
    /// Answer data requests with an HTML page.
    pub html_data: bool,
}

/// What happened, for assertions.
#[derive(Debug, Default)]
pub struct Counts {
    pub logins: AtomicU64,
    pub logouts: AtomicU64,
    pub repeat_logins: AtomicU64,
    pub data_requests: AtomicU64,
    /// Requests that arrived while another was being answered (the real server is serial).
    pub overlapping: AtomicU64,
    in_flight: AtomicU64,
}

struct Modem {
    model: Model,
    user: String,
    password: String,
    faults: Mutex<Faults>,
    session: Mutex<Option<String>>,
    failures: Mutex<u32>,
    locked: Mutex<bool>,
    next_id: AtomicU64,
    counts: Arc<Counts>,
    fixtures: PathBuf,
    // The modem's web server answers one request at a time.
    serial: tokio::sync::Mutex<()>,
}

/// A running simulator; stops when dropped.
pub struct HitronSim {
    pub addr: SocketAddr,
    pub counts: Arc<Counts>,
    modem: Arc<Modem>,
    /// The certificate's DER (HTTPS only).
    pub cert_der: Option<Vec<u8>>,
    _server: serve::Server,
}

/// Failed logins before `LoginProtect`.
pub const LOCKOUT_AFTER: u32 = 3;

fn fixtures_dir(model: Model) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/hitron")
        .join(match model {
            Model::Cgnv4 | Model::Cgn3 => "cgnv4",
            Model::Coda => "coda",
        })
}

impl HitronSim {
    /// Starts a modem with credentials `user`/`password`, over HTTPS if `tls`.
    pub async fn start(
        model: Model,
        user: &str,
        password: &str,
        tls: Tls,
    ) -> std::io::Result<Self> {
        let tallies = Arc::new(Counts::default());
        let shared = Arc::new(Modem {
            model,
            user: user.into(),
            password: password.into(),
            faults: Mutex::new(Faults::default()),
            session: Mutex::new(None),
            failures: Mutex::new(0),
            locked: Mutex::new(false),
            next_id: AtomicU64::new(1),
            counts: Arc::clone(&tallies),
            fixtures: fixtures_dir(model),
            serial: tokio::sync::Mutex::new(()),
        });
        let app = Router::new()
            .route("/", get(root))
            .route("/goform/login", post(login))
            .route("/goform/logout", post(logout))
            .route("/data/{name}", get(data))
            .with_state(Arc::clone(&shared));
        let (cert_der, tls) = match tls {
            Tls::None => (None, None),
            Tls::Modern | Tls::Legacy1024 => {
                let (der, config) = server_config(tls)?;
                (Some(der), Some(config))
            }
        };
        let server = serve::start(app, tls).await?;
        Ok(Self {
            addr: server.addr,
            counts: tallies,
            modem: shared,
            cert_der,
            _server: server,
        })
    }

    pub fn set_faults(&self, faults: Faults) {
        *self
            .modem
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// Someone else is logged in (the web UI in a browser).
    pub fn occupy_session(&self) {
        *self
            .modem
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some("browser".into());
    }

    pub fn session_open(&self) -> bool {
        self.modem
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    pub fn model(&self) -> Model {
        self.modem.model
    }
}

/// The certificate (DER) and the server config for `tls`.
fn server_config(tls: Tls) -> std::io::Result<(Vec<u8>, rustls::ServerConfig)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    if tls == Tls::Legacy1024 {
        use rsa::pkcs8::DecodePrivateKey as _;
        use rustls::pki_types::pem::PemObject as _;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hitron");
        let cert = rustls::pki_types::CertificateDer::from_pem_file(dir.join("cgnv4-1024.crt"))
            .map_err(|e| bad("certificate", &e))?;
        let key_pem = std::fs::read_to_string(dir.join("cgnv4-1024.key"))?;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&key_pem).map_err(|e| bad("RSA key", &e))?;
        let der = cert.to_vec();
        let certified = Arc::new(rustls::sign::CertifiedKey::new(
            vec![cert],
            Arc::new(Rsa1024(key)),
        ));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .map_err(|e| bad("TLS 1.2", &e))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(OneCert(certified)));
        return Ok((der, config));
    }
    let s = serve::self_signed("02:00:00:00:00:00", "Hitron Technologies")?;
    Ok((s.der, s.config))
}

#[derive(Debug)]
struct OneCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// A 1024-bit RSA key signing TLS 1.2 handshakes with PKCS#1 v1.5 and SHA-256.
#[derive(Debug)]
struct Rsa1024(rsa::RsaPrivateKey);

impl rustls::sign::SigningKey for Rsa1024 {
    fn choose_scheme(
        &self,
        offered: &[rustls::SignatureScheme],
    ) -> Option<Box<dyn rustls::sign::Signer>> {
        offered
            .contains(&rustls::SignatureScheme::RSA_PKCS1_SHA256)
            .then(|| Box::new(Rsa1024Signer(self.0.clone())) as Box<dyn rustls::sign::Signer>)
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        rustls::SignatureAlgorithm::RSA
    }
}

#[derive(Debug)]
struct Rsa1024Signer(rsa::RsaPrivateKey);

impl rustls::sign::Signer for Rsa1024Signer {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        let key = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.0.clone());
        Ok(key.sign(message).to_vec())
    }

    fn scheme(&self) -> rustls::SignatureScheme {
        rustls::SignatureScheme::RSA_PKCS1_SHA256
    }
}

/// Serializes requests like the modem and applies the delay; counts overlaps.
async fn enter(m: &Modem) -> tokio::sync::MutexGuard<'_, ()> {
    if m.counts.in_flight.fetch_add(1, Ordering::SeqCst) > 0 {
        m.counts.overlapping.fetch_add(1, Ordering::SeqCst);
    }
    let guard = m.serial.lock().await;
    let delay = m
        .faults
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .delay;
    tokio::time::sleep(delay).await;
    guard
}

fn leave(m: &Modem) {
    m.counts.in_flight.fetch_sub(1, Ordering::SeqCst);
}

async fn root(State(m): State<Arc<Modem>>) -> Response {
    let _g = enter(&m).await;
    if m.model != Model::Cgnv4 {
        leave(&m);
        return (StatusCode::OK, "<html>login</html>").into_response();
    }
    let id = m.next_id.fetch_add(1, Ordering::SeqCst);
    leave(&m);
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, "/login.html".to_owned()),
            (header::SET_COOKIE, format!("preSession=pre{id}; path=/")),
        ],
    )
        .into_response()
}

async fn login(State(m): State<Arc<Modem>>, headers: HeaderMap, body: Bytes) -> Response {
    let _g = enter(&m).await;
    let answer = login_answer(&m, &cookies(&headers), &form(&body));
    leave(&m);
    answer
}

fn login_answer(
    m: &Modem,
    cookies: &HashMap<String, String>,
    f: &HashMap<String, String>,
) -> Response {
    let text = |s: &str| (StatusCode::OK, s.to_owned()).into_response();
    if m.model == Model::Coda {
        return StatusCode::NOT_FOUND.into_response();
    }
    if m.model == Model::Cgn3 {
        let password_ok = f.get("pws") == Some(&m.password) || f.get("pwd") == Some(&m.password);
        if f.get("user") != Some(&m.user) || !password_ok {
            return (StatusCode::OK, String::new()).into_response();
        }
        let id = format!("u{}", m.next_id.fetch_add(1, Ordering::SeqCst));
        *m.session.lock().unwrap_or_else(PoisonError::into_inner) = Some(id.clone());
        m.counts.logins.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::FOUND,
            [
                (header::LOCATION, "/index.html".to_owned()),
                (header::SET_COOKIE, format!("userid={id}; path=/")),
            ],
        )
            .into_response();
    }
    let pre = cookies.get("preSession");
    if pre.is_none() || pre != f.get("preSession") {
        return text("session timeout expired");
    }
    if *m.locked.lock().unwrap_or_else(PoisonError::into_inner) {
        return text("LoginProtect=3|58|21");
    }
    if f.get("usr") != Some(&m.user) || f.get("pwd") != Some(&m.password) {
        let mut failures = m.failures.lock().unwrap_or_else(PoisonError::into_inner);
        *failures += 1;
        if *failures >= LOCKOUT_AFTER {
            *m.locked.lock().unwrap_or_else(PoisonError::into_inner) = true;
        }
        return text("Wrong Credentials.");
    }
    let mut session = m.session.lock().unwrap_or_else(PoisonError::into_inner);
    if session.is_some() && f.get("forcelogoff").map(String::as_str) != Some("1") {
        m.counts.repeat_logins.fetch_add(1, Ordering::SeqCst);
        return text("Repeat Login");
    }
    let id = format!("s{}", m.next_id.fetch_add(1, Ordering::SeqCst));
    *session = Some(id.clone());
    m.counts.logins.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::OK,
        [(
            header::SET_COOKIE,
            format!("session={id}; path=/; HttpOnly"),
        )],
        "success",
    )
        .into_response()
}

async fn logout(State(m): State<Arc<Modem>>, headers: HeaderMap, body: Bytes) -> Response {
    let _g = enter(&m).await;
    let f = form(&body);
    let c = cookies(&headers);
    let mut session = m.session.lock().unwrap_or_else(PoisonError::into_inner);
    if f.get("data").map(String::as_str) == Some("byebye")
        && session.is_some()
        && (c.get("session") == session.as_ref() || c.get("userid") == session.as_ref())
    {
        *session = None;
        m.counts.logouts.fetch_add(1, Ordering::SeqCst);
    }
    leave(&m);
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, "/login.html"),
            (
                header::SET_COOKIE,
                "session=deleted; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT",
            ),
        ],
    )
        .into_response()
}

async fn data(
    State(m): State<Arc<Modem>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let _g = enter(&m).await;
    let answer = data_answer(&m, &name, &cookies(&headers)).await;
    leave(&m);
    answer
}

async fn data_answer(m: &Modem, name: &str, c: &HashMap<String, String>) -> Response {
    m.counts.data_requests.fetch_add(1, Ordering::SeqCst);
    if m.model != Model::Coda {
        let session = m
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let cookie = if m.model == Model::Cgn3 {
            "userid"
        } else {
            "session"
        };
        if session.is_none() || c.get(cookie) != session.as_ref() {
            return (StatusCode::FOUND, [(header::LOCATION, "/login.html")]).into_response();
        }
    }
    let faults = m
        .faults
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if faults.hang_data {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if faults.html_data {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Unknown error.</body></html>",
        )
            .into_response();
    }
    let Some(stem) = name.strip_suffix(".asp") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match std::fs::read(m.fixtures.join(format!("{stem}.json"))) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
