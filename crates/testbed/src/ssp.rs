//! Self-service portal simulators for ssp-exporter, from the documented behaviour (no
//! portal is reachable here). So far: Vultr's `GET /v2/account` (bearer API key), with
//! every answer a poll can meet.

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
    key: String,
    answer: Mutex<Answer>,
    requests: Mutex<u64>,
}

/// A running Vultr API stand-in; stops when dropped.
pub struct VultrSim {
    pub addr: SocketAddr,
    portal: Arc<Portal>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for VultrSim {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

impl VultrSim {
    pub async fn start(api_key: &str, answer: Answer) -> Self {
        let portal = Arc::new(Portal {
            key: api_key.into(),
            answer: Mutex::new(answer),
            requests: Mutex::new(0),
        });
        let app = Router::new()
            .route("/v2/account", get(account))
            .with_state(Arc::clone(&portal));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            addr,
            portal,
            shutdown: Some(tx),
        }
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
    let json = |body: String| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    };
    match answer {
        Answer::Balance {
            balance,
            pending_charges,
        } => json(format!(
            r#"{{"account":{{"name":"Test","email":"ops@example.com","balance":{balance},"pending_charges":{pending_charges},"last_payment_date":"2026-10-01T00:00:00+00:00","last_payment_amount":-50}}}}"#
        )),
        Answer::BalanceText(t) => json(format!(r#"{{"account":{{"balance":"{t}"}}}}"#)),
        Answer::RateLimit => StatusCode::TOO_MANY_REQUESTS.into_response(),
        Answer::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Answer::Html => (StatusCode::OK, "<html>maintenance</html>").into_response(),
        Answer::Truncated => json(r#"{"account":{"balance":-12."#.into()),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}
