//! Self-service portal simulators for ssp-exporter, built from the documented flows of
//! the seven providers (no portal is reachable here; see the exporter's README for the
//! sources). One server answers all seven, over HTTPS with a self-signed certificate or
//! plain HTTP; each account has its own answer, so one exporter run can meet every
//! provider × answer pair.
//!
//! Flows (the paths are the portals'):
//! - AlmatelRussia: `POST /lk/login.php` (form) → `{"ok":true}` + `PHPSESSID` cookie;
//!   `GET /lk/` → HTML with the balance in Russian notation (`1 234,56`).
//! - ArubaCloud: `POST /WsEndUser/v2.9/WsEndUser.svc/json/GetCredit` (JSON credentials).
//! - FreedomVrnRussia: `POST /lk/api/v1` `auth` → token; `getClient` with `Ic-Token`.
//! - MegafonRussiaB2C: `GET /mlk/api/auth/sessionCheck` sets `NEW-CSRF-TOKEN`;
//!   `POST /mlk/api/login` with `X-CSRF-TOKEN` → `jwtToken`; `GET /mlk/api/main/balance`
//!   with `X-Cabinet-Authorization: Bearer`; `GET /mlk/api/logout`.
//! - T2RussiaB2C: `GET /lk` → CSRF meta tags + `session-cookie`; Keycloak password grant
//!   at `/auth/realms/tele2-b2c/protocol/openid-connect/token` with `x-csrftoken`;
//!   `GET /api/subscribers/<id>/balance` with a bearer token. (The real portal has
//!   required a one-time code since mid-2024; this is the flow as it was.)
//! - Vultr: `GET /v2/account` with the API key as bearer token (accounts found by key).
//! - WifireRussia: `GET /api/v1/get-way?accountNumber=`; `POST /api/v2/login` (JSON) →
//!   session cookie; `GET /api/v1/get-balance`; `GET /logout`.
//!
//! How each portal says "captcha" is documented only for Megafon (its login text); for
//! the others the simulator answers the way such portals do (a refused login, or for
//! the two APIs a 403 bot-check page) with a message that mentions the captcha.
//! Rate limits are HTTP 429, and Megafon's "login attempts exceeded" text.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::serve::{self, cookies, form};

/// The seven providers, by the original's class names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Almatel,
    Aruba,
    Freedom,
    Megafon,
    T2,
    Vultr,
    Wifire,
}

impl Provider {
    pub const ALL: [Provider; 7] = [
        Provider::Almatel,
        Provider::Aruba,
        Provider::Freedom,
        Provider::Megafon,
        Provider::T2,
        Provider::Vultr,
        Provider::Wifire,
    ];

    /// The config key (the original's class name).
    pub fn name(self) -> &'static str {
        match self {
            Provider::Almatel => "AlmatelRussia",
            Provider::Aruba => "ArubaCloud",
            Provider::Freedom => "FreedomVrnRussia",
            Provider::Megafon => "MegafonRussiaB2C",
            Provider::T2 => "T2RussiaB2C",
            Provider::Vultr => "Vultr",
            Provider::Wifire => "WifireRussia",
        }
    }
}

/// What an account's portal answers. Login-level answers (captcha, rate limit) come at
/// the login step; content faults (HTML, truncated, 500, hang) at the balance step,
/// after a successful login, so the session has to work to meet them.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The money available (negative: owed). Vultr reports it negated (credit is
    /// negative there) with its `pending_charges`.
    Balance {
        available: f64,
        pending_charges: f64,
    },
    Captcha,
    RateLimit,
    ServerError,
    /// A maintenance page instead of the data.
    Html,
    /// The data cut off mid-way.
    Truncated,
    /// Never answers.
    Hang,
}

impl Answer {
    pub fn balance(available: f64) -> Self {
        Answer::Balance {
            available,
            pending_charges: 0.0,
        }
    }
}

struct Account {
    provider: Provider,
    identifier: String,
    password: String,
    answer: Answer,
}

/// Counters a test can check.
#[derive(Debug, Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub logins: AtomicU64,
    pub logouts: AtomicU64,
}

#[derive(Default)]
struct Portal {
    accounts: Mutex<Vec<Account>>,
    /// Session (cookie or token) → account index.
    sessions: Mutex<HashMap<String, usize>>,
    /// CSRF value issued with a pre-login session (Megafon, T2) → that session.
    csrf: Mutex<HashMap<String, String>>,
    next: AtomicU64,
    counts: Counts,
    /// Per account index: requests answered.
    per_account: Mutex<HashMap<usize, u64>>,
}

impl Portal {
    fn token(&self, kind: &str) -> String {
        format!(
            "{kind}-{:016x}",
            (self.next.fetch_add(1, Ordering::Relaxed) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        )
    }

    fn lock_accounts(&self) -> std::sync::MutexGuard<'_, Vec<Account>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The account of `provider` named `identifier`.
    fn find(&self, provider: Provider, identifier: &str) -> Option<(usize, String, Answer)> {
        self.lock_accounts()
            .iter()
            .enumerate()
            .find(|(_, a)| a.provider == provider && a.identifier == identifier)
            .map(|(i, a)| (i, a.password.clone(), a.answer.clone()))
    }

    /// The account whose `secret` is this (Vultr: the API key is all there is).
    fn find_by_secret(&self, provider: Provider, secret: &str) -> Option<(usize, Answer)> {
        self.lock_accounts()
            .iter()
            .enumerate()
            .find(|(_, a)| a.provider == provider && a.password == secret)
            .map(|(i, a)| (i, a.answer.clone()))
    }

    fn answer_of(&self, index: usize) -> Option<Answer> {
        self.lock_accounts().get(index).map(|a| a.answer.clone())
    }

    fn open(&self, kind: &str, index: usize) -> String {
        let t = self.token(kind);
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(t.clone(), index);
        self.counts.logins.fetch_add(1, Ordering::Relaxed);
        t
    }

    fn session(&self, token: Option<&String>) -> Option<usize> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        token.and_then(|t| sessions.get(t).copied())
    }

    /// Ends a session the flow never logs out of (it would expire on the portal).
    fn expire(&self, token: Option<&String>) {
        if let Some(t) = token {
            self.sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(t);
        }
    }

    fn close(&self, token: Option<&String>) {
        if let Some(t) = token
            && self
                .sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(t)
                .is_some()
        {
            self.counts.logouts.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A pre-login session and its CSRF value.
    fn issue_csrf(&self, session_kind: &str) -> (String, String) {
        let session = self.token(session_kind);
        let csrf = self.token("csrf");
        self.csrf
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(csrf.clone(), session.clone());
        (session, csrf)
    }

    /// Whether the request's CSRF header matches the session of its cookie.
    fn csrf_ok(&self, headers: &HeaderMap, header_name: &str, cookie_name: &str) -> bool {
        let csrf = headers
            .get(header_name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let known = self
            .csrf
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(csrf)
            .cloned();
        known.is_some() && known.as_ref() == cookies(headers).get(cookie_name)
    }

    /// A login with `user` and `password`: the account and its answer, or the refusal
    /// the portal gives (the answer decides a captcha or rate limit first, as a portal
    /// asks for those before it looks at the password).
    #[allow(
        clippy::result_large_err,
        reason = "the handler returns the refusal at once"
    )]
    fn login(
        &self,
        provider: Provider,
        user: &str,
        password: Option<&str>,
        refusals: Refusals,
    ) -> Result<(usize, Answer), Response> {
        let Some((i, expected, answer)) = self.find(provider, user) else {
            return Err(refusals.wrong);
        };
        self.hit(i);
        match answer {
            Answer::RateLimit => Err(refusals.rate_limited),
            Answer::Captcha => Err(refusals.captcha),
            _ if password != Some(expected.as_str()) => Err(refusals.wrong),
            _ => Ok((i, answer)),
        }
    }

    fn hit(&self, index: usize) {
        *self
            .per_account
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(index)
            .or_default() += 1;
    }
}

/// How a portal refuses a login.
struct Refusals {
    wrong: Response,
    captcha: Response,
    rate_limited: Response,
}

/// A running portal simulator; stops when dropped.
pub struct PortalSim {
    pub addr: SocketAddr,
    /// The certificate, PEM (HTTPS only).
    pub cert_pem: Option<String>,
    portal: Arc<Portal>,
    _server: serve::Server,
}

impl PortalSim {
    /// Starts the portals, over HTTPS (self-signed, for `127.0.0.1` and `localhost`)
    /// if `tls`.
    pub async fn start(tls: bool) -> std::io::Result<Self> {
        let portal = Arc::new(Portal::default());
        let app = Router::new()
            .route("/lk/login.php", post(almatel_login))
            .route("/lk/", get(almatel_page))
            .route(
                "/WsEndUser/v2.9/WsEndUser.svc/json/GetCredit",
                post(aruba_get_credit),
            )
            .route("/lk/api/v1", post(freedom_api))
            .route("/mlk/api/auth/sessionCheck", get(megafon_session_check))
            .route("/mlk/api/login", post(megafon_login))
            .route("/mlk/api/main/balance", get(megafon_balance))
            .route("/mlk/api/logout", get(megafon_logout))
            .route("/lk", get(t2_page))
            .route(
                "/auth/realms/tele2-b2c/protocol/openid-connect/token",
                post(t2_token),
            )
            .route("/api/subscribers/{id}/balance", get(t2_balance))
            .route("/v2/account", get(vultr_account))
            .route("/api/v1/get-way", get(wifire_get_way))
            .route("/api/v2/login", post(wifire_login))
            .route("/api/v1/get-balance", get(wifire_balance))
            .route("/logout", get(wifire_logout))
            .with_state(Arc::clone(&portal));
        let (cert_pem, config) = if tls {
            let s = serve::self_signed("portal.test", "Portal Simulator")?;
            (Some(s.pem), Some(s.config))
        } else {
            (None, None)
        };
        let server = serve::start(app, config).await?;
        Ok(Self {
            addr: server.addr,
            cert_pem,
            portal,
            _server: server,
        })
    }

    pub fn base_url(&self) -> String {
        let scheme = if self.cert_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Adds (or replaces) an account.
    pub fn account(&self, provider: Provider, identifier: &str, password: &str, answer: Answer) {
        let mut accounts = self.portal.lock_accounts();
        let new = Account {
            provider,
            identifier: identifier.into(),
            password: password.into(),
            answer,
        };
        match accounts
            .iter_mut()
            .find(|a| a.provider == provider && a.identifier == identifier)
        {
            Some(a) => *a = new,
            None => accounts.push(new),
        }
    }

    /// Changes an account's answer.
    pub fn set_answer(&self, provider: Provider, identifier: &str, answer: Answer) {
        if let Some(a) = self
            .portal
            .lock_accounts()
            .iter_mut()
            .find(|a| a.provider == provider && a.identifier == identifier)
        {
            a.answer = answer;
        }
    }

    /// Requests that reached the account (logins included), so far.
    pub fn requests_of(&self, provider: Provider, identifier: &str) -> u64 {
        let index = self
            .portal
            .lock_accounts()
            .iter()
            .position(|a| a.provider == provider && a.identifier == identifier);
        index.map_or(0, |i| {
            self.portal
                .per_account
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&i)
                .copied()
                .unwrap_or(0)
        })
    }

    pub fn counts(&self) -> &Counts {
        &self.portal.counts
    }

    /// Sessions logged in and not logged out (providers with a logout).
    pub fn open_sessions(&self) -> usize {
        self.portal
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// The content faults, shared by every balance step; `None`: answer the balance.
async fn fault(answer: &Answer, truncated: &str) -> Option<Response> {
    Some(match answer {
        Answer::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "<html><body>500 Internal Server Error</body></html>",
        )
            .into_response(),
        Answer::Html => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html><body><h1>Технические работы</h1>Maintenance</body></html>",
        )
            .into_response(),
        Answer::Truncated => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            truncated.to_owned(),
        )
            .into_response(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Answer::Balance { .. } | Answer::Captcha | Answer::RateLimit => return None,
    })
}

fn available(answer: &Answer) -> f64 {
    match answer {
        Answer::Balance { available, .. } => *available,
        _ => 0.0,
    }
}

fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "60")],
        "Too Many Requests",
    )
        .into_response()
}

fn with_cookie(mut r: Response, name: &str, value: &str) -> Response {
    if let Ok(v) = format!("{name}={value}; Path=/; HttpOnly").parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// `1234.5` → `1 234,50` (Russian notation with a no-break space, as the portal shows).
pub fn russian(value: f64) -> String {
    let text = format!("{:.2}", value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    let sign = if value < 0.0 { "-" } else { "" };
    format!("{sign}{grouped},{frac}")
}

// ---- AlmatelRussia ----

async fn almatel_login(State(p): State<Arc<Portal>>, body: Bytes) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    let f = form(&body);
    let login = f.get("login").cloned().unwrap_or_default();
    let refusals = Refusals {
        wrong: ok(&json!({"ok": false, "error": "Неверный логин или пароль"})),
        captcha: ok(
            &json!({"ok": false, "captcha": true, "error": "Введите код с картинки (captcha)"}),
        ),
        rate_limited: too_many(),
    };
    let i = match p.login(
        Provider::Almatel,
        &login,
        f.get("password").map(String::as_str),
        refusals,
    ) {
        Ok((i, _)) => i,
        Err(r) => return r,
    };
    let session = p.open("almatel", i);
    with_cookie(ok(&json!({"ok": true})), "PHPSESSID", &session)
}

async fn almatel_page(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    let c = cookies(&headers);
    let Some(i) = p.session(c.get("PHPSESSID")) else {
        // Not logged in: the login form.
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html><body><form action=\"/lk/login.php\"><input name=\"login\"></form></body></html>",
        )
            .into_response();
    };
    p.hit(i);
    let answer = p.answer_of(i).unwrap_or(Answer::ServerError);
    // No logout in this flow: the session expires.
    p.expire(c.get("PHPSESSID"));
    if let Some(r) = fault(
        &answer,
        "<html><body><div class=\"lk__profile--block lk__profile-bal",
    )
    .await
    {
        return r;
    }
    let html = format!(
        r#"<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8"><title>Личный кабинет</title></head><body>
<div class="lk__profile">
  <div class="lk__profile--block lk__profile-name"><div><div><span class="question-block-value">Иванов И. И.</span></div></div></div>
  <div class="lk__profile--block lk__profile-balance"><div><div><span class="question-block-title">Баланс</span><span class="question-block-value">{} ₽</span></div></div></div>
</div></body></html>"#,
        russian(available(&answer))
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

// ---- ArubaCloud ----

async fn aruba_get_credit(State(p): State<Arc<Portal>>, body: Bytes) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    let creds: Value = serde_json::from_slice(&body).unwrap_or_default();
    let user = creds["Username"].as_str().unwrap_or_default();
    let refusals = Refusals {
        // The WCF service answers 200 with Success false.
        wrong: ok(&json!({"ExceptionInfo": null, "ResultCode": -1,
            "ResultMessage": "Invalid credentials", "Success": false, "Value": null})),
        captcha: bot_check(),
        rate_limited: too_many(),
    };
    let answer = match p.login(Provider::Aruba, user, creds["Password"].as_str(), refusals) {
        Ok((_, answer)) => answer,
        Err(r) => return r,
    };
    if let Some(r) = fault(
        &answer,
        r#"{"ExceptionInfo":null,"ResultCode":0,"Value":{"Val"#,
    )
    .await
    {
        return r;
    }
    ok(
        &json!({"ExceptionInfo": null, "ResultCode": 0, "ResultMessage": null, "Success": true,
        "Value": {"OverdraftLimit": 0, "Value": available(&answer)}}),
    )
}

/// What a CDN in front of an API answers a client it takes for a bot.
fn bot_check() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><body><h1>Checking your browser</h1><div class=\"g-recaptcha\"></div>Please complete the captcha.</body></html>",
    )
        .into_response()
}

// ---- FreedomVrnRussia ----

async fn freedom_api(State(p): State<Arc<Portal>>, headers: HeaderMap, body: Bytes) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    let call: Value = serde_json::from_slice(&body).unwrap_or_default();
    match call["method"].as_str() {
        Some("auth") => {
            let user = call["params"]["username"].as_str().unwrap_or_default();
            let refusals = Refusals {
                wrong: ok(&json!({"error": 1, "message": "Неверный логин или пароль"})),
                captcha: ok(
                    &json!({"error": 3, "message": "Требуется ввод captcha", "captcha": true}),
                ),
                rate_limited: too_many(),
            };
            let password = call["params"]["password"].as_str();
            let i = match p.login(Provider::Freedom, user, password, refusals) {
                Ok((i, _)) => i,
                Err(r) => return r,
            };
            let token = p.open("freedom", i);
            ok(&json!({"error": 0, "token": token, "deviceCid": format!("cid-{i}")}))
        }
        Some("getClient") => {
            let token = headers
                .get("ic-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let Some(i) = p.session(token.as_ref()) else {
                return ok(&json!({"error": 401, "message": "Требуется авторизация"}));
            };
            p.hit(i);
            // No logout in this flow: the token expires.
            p.expire(token.as_ref());
            let answer = p.answer_of(i).unwrap_or(Answer::ServerError);
            if let Some(r) = fault(&answer, r#"{"error":0,"client":{"billing":{"bal"#).await {
                return r;
            }
            ok(&json!({"error": 0, "client": {"id": 1000 + i, "billing":
                {"balance": available(&answer), "currency": "RUB"}}}))
        }
        _ => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": 400, "message": "unknown method"}),
        ),
    }
}

// ---- MegafonRussiaB2C ----

fn megafon_headers_ok(headers: &HeaderMap) -> bool {
    headers.get("x-app-type").and_then(|v| v.to_str().ok()) == Some("react_lk")
}

async fn megafon_session_check(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    if !megafon_headers_ok(&headers) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let (session, csrf) = p.issue_csrf("JSESSIONID");
    let r = ok(&json!({"authenticated": false}));
    with_cookie(
        with_cookie(r, "JSESSIONID", &session),
        "NEW-CSRF-TOKEN",
        &csrf,
    )
}

async fn megafon_login(State(p): State<Arc<Portal>>, headers: HeaderMap, body: Bytes) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    if !p.csrf_ok(&headers, "x-csrf-token", "JSESSIONID") {
        return json_response(
            StatusCode::FORBIDDEN,
            &json!({"code": "csrf", "message": "Invalid CSRF token"}),
        );
    }
    let f = form(&body);
    let login = f.get("login").cloned().unwrap_or_default();
    if !login.chars().all(|c| c.is_ascii_digit()) || login.len() != 11 {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"code": "a201", "message": "Неправильный формат телефона"}),
        );
    }
    let refusals = Refusals {
        wrong: json_response(
            StatusCode::BAD_REQUEST,
            &json!({"code": "a211", "message": "Неправильный номер телефона или пароль"}),
        ),
        captcha: json_response(
            StatusCode::BAD_REQUEST,
            &json!({"code": "a216", "message": "Введите код с картинки", "captchaUrl": "/mlk/api/captcha"}),
        ),
        // MegaFon says it in the login answer, not with a 429.
        rate_limited: json_response(
            StatusCode::BAD_REQUEST,
            &json!({"code": "a218", "message": "Превышено количество попыток входа с использованием пароля. Попробуйте позже"}),
        ),
    };
    let i = match p.login(
        Provider::Megafon,
        &login,
        f.get("password").map(String::as_str),
        refusals,
    ) {
        Ok((i, _)) => i,
        Err(r) => return r,
    };
    let jwt = p.open("jwt", i);
    ok(&json!({"name": "Абонент", "phone": login, "jwtToken": jwt, "authenticated": true}))
}

fn bearer(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

async fn megafon_balance(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    let jwt = bearer(&headers, "x-cabinet-authorization");
    let Some(i) = p.session(jwt.as_ref()) else {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"code": "a100", "message": "Требуется авторизация"}),
        );
    };
    p.hit(i);
    let answer = p.answer_of(i).unwrap_or(Answer::ServerError);
    if let Some(r) = fault(&answer, r#"{"balance":12.5,"balanceWithLi"#).await {
        return r;
    }
    let v = available(&answer);
    ok(&json!({"balance": v, "balanceWithLimit": v, "limit": 0, "isPrepaid": true}))
}

async fn megafon_logout(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    p.close(bearer(&headers, "x-cabinet-authorization").as_ref());
    ok(&json!({}))
}

// ---- T2RussiaB2C ----

async fn t2_page(State(p): State<Arc<Portal>>) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    let (session, csrf) = p.issue_csrf("t2session");
    let html = format!(
        r#"<!DOCTYPE html><html><head><meta name="csrf-token-name" content="csrftoken"><meta name="csrf-token-value" content="{csrf}"><title>t2</title></head><body></body></html>"#
    );
    with_cookie(
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        "session-cookie",
        &session,
    )
}

async fn t2_token(State(p): State<Arc<Portal>>, headers: HeaderMap, body: Bytes) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    if !p.csrf_ok(&headers, "x-csrftoken", "session-cookie") {
        return json_response(StatusCode::FORBIDDEN, &json!({"error": "csrf"}));
    }
    let f = form(&body);
    if f.get("grant_type").map(String::as_str) != Some("password")
        || f.get("client_id").map(String::as_str) != Some("digital-suite-web-app")
    {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "unauthorized_client"}),
        );
    }
    let user = f.get("username").cloned().unwrap_or_default();
    let refusals = Refusals {
        wrong: json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_grant", "error_description": "Invalid user credentials"}),
        ),
        captcha: json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_grant", "error_description": "captcha required"}),
        ),
        rate_limited: too_many(),
    };
    let i = match p.login(
        Provider::T2,
        &user,
        f.get("password").map(String::as_str),
        refusals,
    ) {
        Ok((i, _)) => i,
        Err(r) => return r,
    };
    let token = p.open("t2access", i);
    ok(&json!({"access_token": token, "token_type": "Bearer", "expires_in": 300}))
}

async fn t2_balance(
    State(p): State<Arc<Portal>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    let token = bearer(&headers, "authorization");
    let Some(i) = p.session(token.as_ref()) else {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"meta": {"status": "ERROR", "message": "unauthorized"}}),
        );
    };
    // No logout in this flow: the token expires.
    p.expire(token.as_ref());
    p.hit(i);
    if p.lock_accounts().get(i).map(|a| a.identifier.as_str()) != Some(id.as_str()) {
        return json_response(
            StatusCode::FORBIDDEN,
            &json!({"meta": {"status": "ERROR", "message": "forbidden"}}),
        );
    }
    let answer = p.answer_of(i).unwrap_or(Answer::ServerError);
    if let Some(r) = fault(&answer, r#"{"meta":{"status":"OK"},"data":{"val"#).await {
        return r;
    }
    ok(&json!({"meta": {"status": "OK"}, "data": {"value": available(&answer), "currency": "RUB"}}))
}

// ---- Vultr ----

async fn vultr_account(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    let key = bearer(&headers, "authorization").unwrap_or_default();
    let Some((i, answer)) = p.find_by_secret(Provider::Vultr, &key) else {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "Invalid API token.", "status": 401}),
        );
    };
    p.hit(i);
    match answer {
        Answer::RateLimit => return too_many(),
        Answer::Captcha => return bot_check(),
        _ => {}
    }
    if let Some(r) = fault(&answer, r#"{"account":{"balance":-12."#).await {
        return r;
    }
    let Answer::Balance {
        available,
        pending_charges,
    } = answer
    else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    // Vultr: a negative balance is credit.
    ok(
        &json!({"account": {"name": "Test", "email": "ops@example.com",
        "balance": 0.0 - available, "pending_charges": pending_charges,
        "last_payment_date": "2026-10-01T00:00:00+00:00", "last_payment_amount": -50,
        "acls": ["billing"]}}),
    )
}

// ---- WifireRussia ----

async fn wifire_get_way(
    State(p): State<Arc<Portal>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    let account = q.get("accountNumber").cloned().unwrap_or_default();
    let known = p.find(Provider::Wifire, &account).is_some();
    let session = p.token("wifire-pre");
    with_cookie(
        ok(&json!({"resultCode": 0, "way": if known { "password" } else { "unknown" }})),
        "WIFIRE_SID",
        &session,
    )
}

async fn wifire_login(State(p): State<Arc<Portal>>, headers: HeaderMap, body: Bytes) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    if !cookies(&headers).contains_key("WIFIRE_SID") {
        return ok(&json!({"resultCode": 5, "message": "Сессия не найдена"}));
    }
    let login: Value = serde_json::from_slice(&body).unwrap_or_default();
    let account = login["accountNumber"].as_str().unwrap_or_default();
    let refusals = Refusals {
        wrong: ok(&json!({"resultCode": 1, "message": "Неверный номер договора или пароль"})),
        captcha: ok(
            &json!({"resultCode": 2, "message": "Введите код с картинки", "captchaRequired": true}),
        ),
        rate_limited: too_many(),
    };
    let i = match p.login(
        Provider::Wifire,
        account,
        login["password"].as_str(),
        refusals,
    ) {
        Ok((i, _)) => i,
        Err(r) => return r,
    };
    let session = p.open("wifire", i);
    with_cookie(ok(&json!({"resultCode": 0})), "WIFIRE_SID", &session)
}

async fn wifire_balance(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    let c = cookies(&headers);
    let Some(i) = p.session(c.get("WIFIRE_SID")) else {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"statusCode": 401, "message": "unauthorized"}),
        );
    };
    p.hit(i);
    let answer = p.answer_of(i).unwrap_or(Answer::ServerError);
    if let Some(r) = fault(&answer, r#"{"statusCode":0,"accountBal"#).await {
        return r;
    }
    ok(&json!({"statusCode": 0, "accountBalance": available(&answer), "recommendedPayment": 0}))
}

async fn wifire_logout(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    p.counts.requests.fetch_add(1, Ordering::Relaxed);
    p.close(cookies(&headers).get("WIFIRE_SID"));
    (StatusCode::FOUND, [(header::LOCATION, "/")]).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn russian_notation() {
        assert_eq!(super::russian(1234.5), "1\u{a0}234,50");
        assert_eq!(super::russian(-7.0), "-7,00");
        assert_eq!(super::russian(0.0), "0,00");
        assert_eq!(super::russian(1_000_000.0), "1\u{a0}000\u{a0}000,00");
    }
}
