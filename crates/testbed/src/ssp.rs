//! Self-service portal simulators for ssp-exporter, from the documented behaviour (no
//! portal is reachable here): Vultr's `GET /v2/account` (bearer API key) and Aruba
//! Cloud's `GetCredit` (JSON binding of the WsEndUser v2.9 service, username and password
//! in the body), each with every answer a poll can meet. One server answers both.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// What the portal answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `{"account": {"balance": …, "pending_charges": …}}` (Vultr: negative = credit).
    Balance {
        balance: f64,
        pending_charges: f64,
    },
    /// The balance as a string, as the v1 API did.
    BalanceText(String),
    RateLimit,
    ServerError,
    Html,
    Truncated,
    /// Never answers.
    Hang,
}

struct Portal {
    user: String,
    key: String,
    answer: Mutex<Answer>,
    requests: Mutex<u64>,
}

/// A running portal stand-in; stops when dropped.
pub struct PortalSim {
    pub addr: SocketAddr,
    portal: Arc<Portal>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for PortalSim {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

impl PortalSim {
    /// A portal accepting `user` with `secret` (Vultr: the API key; the user is ignored).
    pub async fn start(user: &str, secret: &str, answer: Answer) -> std::io::Result<Self> {
        let portal = Arc::new(Portal {
            user: user.into(),
            key: secret.into(),
            answer: Mutex::new(answer),
            requests: Mutex::new(0),
        });
        let app = Router::new()
            .route("/v2/account", get(account))
            .route(
                "/WsEndUser/v2.9/WsEndUser.svc/json/GetCredit",
                axum::routing::post(get_credit),
            )
            .with_state(Arc::clone(&portal));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            portal,
            shutdown: Some(tx),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_answer(&self, answer: Answer) {
        *self
            .portal
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = answer;
    }

    pub fn requests(&self) -> u64 {
        *self
            .portal
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn json(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The answers both portals share; `None` for a balance (each formats its own).
async fn common(answer: &Answer) -> Option<Response> {
    Some(match answer {
        Answer::RateLimit => StatusCode::TOO_MANY_REQUESTS.into_response(),
        Answer::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Answer::Html => (StatusCode::OK, "<html>maintenance</html>").into_response(),
        Answer::Truncated => json(r#"{"account":{"balance":-12."#.into()),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Answer::Balance { .. } | Answer::BalanceText(_) => return None,
    })
}

async fn get_credit(State(p): State<Arc<Portal>>, body: axum::body::Bytes) -> Response {
    *p.requests.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    let creds: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if creds["Username"] != p.user.as_str() || creds["Password"] != p.key.as_str() {
        // The WCF service answers 200 with Success false.
        return json(
            r#"{"ExceptionInfo":null,"ResultCode":-1,"ResultMessage":"Invalid credentials","Success":false,"Value":null}"#.into(),
        );
    }
    let answer = p
        .answer
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(r) = common(&answer).await {
        return r;
    }
    let value = match answer {
        Answer::Balance { balance, .. } => balance.to_string(),
        Answer::BalanceText(t) => format!("{t:?}"),
        _ => "null".into(),
    };
    json(format!(
        r#"{{"ExceptionInfo":null,"ResultCode":0,"ResultMessage":null,"Success":true,"Value":{{"OverdraftLimit":0,"Value":{value}}}}}"#
    ))
}

async fn account(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    *p.requests.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {}", p.key) {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"Invalid API token.","status":401}"#,
        )
            .into_response();
    }
    let answer = p
        .answer
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(r) = common(&answer).await {
        return r;
    }
    match answer {
        Answer::Balance {
            balance,
            pending_charges,
        } => json(format!(
            r#"{{"account":{{"name":"Test","email":"ops@example.com","balance":{balance},"pending_charges":{pending_charges},"last_payment_date":"2026-10-01T00:00:00+00:00","last_payment_amount":-50}}}}"#
        )),
        Answer::BalanceText(t) => json(format!(r#"{{"account":{{"balance":"{t}"}}}}"#)),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
