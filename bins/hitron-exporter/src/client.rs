//! One session with a modem: the login flows of the API variants, the data endpoints and
//! the logout, over a client that follows no redirects (a 302 means "not logged in") and
//! keeps the session's cookies itself. Requests are sequential: the modem's web server
//! handles one at a time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use exporter_core::Secret;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};

use crate::config::Variant;
use crate::records::{self, Record, RecordError};
use crate::tls::PinVerifier;

/// Bodies larger than this are not a modem's answer.
const MAX_BODY: usize = 1 << 20;

/// Why a probe failed; `reason()` is the label of the failure counter.
#[derive(Debug, thiserror::Error)]
pub enum ModemError {
    #[error("cannot reach {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("TLS with the target failed: {0}")]
    Tls(String),
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: not logged in (redirected to the login page)")]
    NotLoggedIn { url: String },
    #[error("login refused: wrong credentials")]
    WrongCredentials,
    #[error(
        "login refused: another session is active (Repeat Login); probe with force=1 or force_logoff to end it"
    )]
    RepeatLogin,
    #[error("login refused: locked out after {failures} failed logins, for {} more seconds", wait.as_secs())]
    LockedOut { failures: u32, wait: Duration },
    #[error("login failed: unexpected answer {0:?}")]
    LoginFailed(String),
    #[error("the modem set no preSession cookie on /")]
    NoPreSession,
    #[error("{url}: {source}")]
    BadBody { url: String, source: RecordError },
    #[error("no credentials: give usr and pwd, or a module with username and password")]
    NoCredentials,
    #[error("the probe's time is up")]
    Timeout,
}

impl ModemError {
    pub fn reason(&self) -> &'static str {
        match self {
            ModemError::Connect { .. } => "connect",
            ModemError::Tls(_) => "tls",
            ModemError::Status { .. } => "http_status",
            ModemError::NotLoggedIn { .. } => "not_logged_in",
            ModemError::WrongCredentials => "wrong_credentials",
            ModemError::RepeatLogin => "repeat_login",
            ModemError::LockedOut { .. } => "locked_out",
            ModemError::LoginFailed(_) | ModemError::NoPreSession => "login_failed",
            ModemError::BadBody { .. } => "bad_response",
            ModemError::NoCredentials => "no_credentials",
            ModemError::Timeout => "timeout",
        }
    }
}

/// `LoginProtect=<failures>|<minutes>|<seconds>`.
pub fn parse_login_protect(body: &str) -> Option<(u32, Duration)> {
    let rest = body.trim().strip_prefix("LoginProtect=")?;
    let mut it = rest.split('|').map(|p| p.trim().parse::<u64>());
    let failures = it.next()?.ok()?;
    let minutes = it.next()?.ok()?;
    let seconds = it.next()?.ok()?;
    Some((
        u32::try_from(failures).unwrap_or(u32::MAX),
        Duration::from_secs(minutes * 60 + seconds),
    ))
}

/// What a login needs.
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

pub struct Session {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
    request_timeout: Duration,
    deadline: Instant,
    logout_path: Option<&'static str>,
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl Session {
    pub fn new(
        base: String,
        verifier: Arc<PinVerifier>,
        request_timeout: Duration,
        deadline: Instant,
    ) -> Result<Self, ModemError> {
        let tls = crate::tls::client_config(verifier).map_err(ModemError::Tls)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(request_timeout)
            .user_agent(concat!("hitron-exporter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ModemError::Tls(chain(&e)))?;
        Ok(Self {
            http,
            base,
            cookies: BTreeMap::new(),
            request_timeout,
            deadline,
            logout_path: None,
        })
    }

    fn timeout(&self) -> Result<Duration, ModemError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ModemError::Timeout);
        }
        Ok(left.min(self.request_timeout))
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let Some((name, rest)) = v.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or("").trim();
            let name = name.trim().to_owned();
            if value.is_empty() || value == "deleted" {
                self.cookies.remove(&name);
            } else {
                self.cookies.insert(name, value.to_owned());
            }
        }
    }

    async fn send(
        &mut self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<(StatusCode, Vec<u8>), ModemError> {
        let timeout = self.timeout()?;
        let mut req = req.timeout(timeout);
        if !self.cookies.is_empty() {
            req = req.header(COOKIE, self.cookie_header());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Self::transport_error(url, &e))?;
        self.keep_cookies(resp.headers());
        let status = resp.status();
        let mut body = Vec::new();
        let mut resp = resp;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| Self::transport_error(url, &e))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err(ModemError::BadBody {
                    url: url.to_owned(),
                    source: RecordError::Shape("a body over 1 MiB"),
                });
            }
        }
        Ok((status, body))
    }

    fn transport_error(url: &str, e: &reqwest::Error) -> ModemError {
        let detail = chain(e);
        if e.is_timeout() {
            ModemError::Timeout
        } else if detail.contains("fingerprint mismatch") || detail.contains("certificate") {
            ModemError::Tls(detail)
        } else {
            ModemError::Connect {
                url: url.to_owned(),
                detail,
            }
        }
    }

    async fn get(&mut self, path: &str) -> Result<(StatusCode, Vec<u8>), ModemError> {
        let url = format!("{}{path}", self.base);
        let req = self.http.get(&url);
        self.send(req, &url).await
    }

    async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<(StatusCode, Vec<u8>), ModemError> {
        let url = format!("{}{path}", self.base);
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req, &url).await
    }

    /// Finds out the variant when `auto`: `preSession` on `/` is CGNV4; `/data/` open
    /// without login is CODA; else the older login.
    pub async fn detect(&mut self, variant: Variant) -> Result<Variant, ModemError> {
        if variant != Variant::Auto {
            return Ok(variant);
        }
        self.get("/").await?;
        if self.cookies.contains_key("preSession") {
            return Ok(Variant::Cgnv4);
        }
        let (status, body) = self.get("/data/getSysInfo.asp").await?;
        if status == StatusCode::OK && records::parse(&body).is_ok() {
            return Ok(Variant::Coda);
        }
        Ok(Variant::Cgn3)
    }

    /// Logs in as `variant` requires (CODA: no login).
    pub async fn login(
        &mut self,
        variant: Variant,
        creds: Option<&Credentials>,
        force: bool,
    ) -> Result<(), ModemError> {
        match variant {
            Variant::Coda => Ok(()),
            Variant::Cgnv4 | Variant::Auto => {
                let creds = creds.ok_or(ModemError::NoCredentials)?;
                if !self.cookies.contains_key("preSession") {
                    self.get("/").await?;
                }
                let pre = self
                    .cookies
                    .get("preSession")
                    .cloned()
                    .ok_or(ModemError::NoPreSession)?;
                let (status, body) = self
                    .post(
                        "/goform/login",
                        &[
                            ("usr", creds.username.as_str()),
                            ("pwd", creds.password.expose()),
                            ("forcelogoff", if force { "1" } else { "0" }),
                            ("preSession", pre.as_str()),
                        ],
                    )
                    .await?;
                let text = String::from_utf8_lossy(&body);
                let text = text.trim();
                if status == StatusCode::OK && text == "success" {
                    self.logout_path = Some("/goform/logout");
                    return Ok(());
                }
                Err(login_failure(status, text))
            }
            Variant::Cgn3 => {
                let creds = creds.ok_or(ModemError::NoCredentials)?;
                let (status, body) = self
                    .post(
                        "/goform/login",
                        &[
                            ("user", creds.username.as_str()),
                            ("pws", creds.password.expose()),
                            ("pwd", creds.password.expose()),
                        ],
                    )
                    .await?;
                if self.cookies.contains_key("userid") {
                    self.logout_path = Some("/goform/logout");
                    return Ok(());
                }
                Err(login_failure(status, String::from_utf8_lossy(&body).trim()))
            }
        }
    }

    /// `GET /data/<name>.asp` as records.
    pub async fn data(&mut self, name: &str) -> Result<Vec<Record>, ModemError> {
        let path = format!("/data/{name}.asp");
        let (status, body) = self.get(&path).await?;
        let url = format!("{}{path}", self.base);
        if status.is_redirection() {
            return Err(ModemError::NotLoggedIn { url });
        }
        if status != StatusCode::OK {
            return Err(ModemError::Status {
                url,
                status: status.as_u16(),
            });
        }
        records::parse(&body).map_err(|source| ModemError::BadBody { url, source })
    }

    /// Ends the session if one was opened; errors are only logged (the probe's data is
    /// already read). Has its own time limit, past the probe's deadline if need be.
    pub async fn logout(&mut self) {
        let Some(path) = self.logout_path.take() else {
            return;
        };
        self.deadline = Instant::now() + self.request_timeout;
        match self.post(path, &[("data", "byebye")]).await {
            Ok((status, _)) if status.is_redirection() || status.is_success() => {
                tracing::debug!("logged out");
            }
            Ok((status, _)) => tracing::warn!(
                status = status.as_u16(),
                "logout answered an unexpected status"
            ),
            Err(e) => tracing::warn!(error = %e, "logout failed"),
        }
    }
}

fn login_failure(status: StatusCode, text: &str) -> ModemError {
    if text == "Wrong Credentials." || text.starts_with("Wrong Credentials") {
        ModemError::WrongCredentials
    } else if text == "Repeat Login" {
        ModemError::RepeatLogin
    } else if let Some((failures, wait)) = parse_login_protect(text) {
        ModemError::LockedOut { failures, wait }
    } else {
        let mut shown: String = text.chars().take(80).collect();
        if shown.is_empty() {
            shown = format!("HTTP {status} with an empty body");
        }
        ModemError::LoginFailed(shown)
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_answers() {
        assert!(matches!(
            login_failure(StatusCode::OK, "Wrong Credentials."),
            ModemError::WrongCredentials
        ));
        assert!(matches!(
            login_failure(StatusCode::OK, "Repeat Login"),
            ModemError::RepeatLogin
        ));
        match login_failure(StatusCode::OK, "LoginProtect=9|58|21") {
            ModemError::LockedOut { failures, wait } => {
                assert_eq!((failures, wait), (9, Duration::from_secs(58 * 60 + 21)));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            login_failure(StatusCode::INTERNAL_SERVER_ERROR, ""),
            ModemError::LoginFailed(m) if m.contains("500")
        ));
        assert_eq!(parse_login_protect("LoginProtect=x|1|2"), None);
    }

    #[test]
    fn form_encoding() {
        assert_eq!(urlencode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
