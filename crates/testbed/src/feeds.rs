//! A threat-feed server on loopback for openstack-instance-exporter: any path serves the
//! body set for it (Onionoo JSON, Spamhaus NDJSON or text, plain lists) with an ETag,
//! answers `If-None-Match` with 304, and can be switched to garbage, 500 or a hang.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::serve;

/// How a path answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Good,
    /// An HTML error page with status 200.
    Garbage,
    ServerError,
    /// Never answers.
    Hang,
}

#[derive(Default)]
struct Path {
    body: String,
    version: u64,
    mode: Mode,
    requests: u64,
    not_modified: u64,
}

#[derive(Default)]
struct Feeds {
    paths: Mutex<HashMap<String, Path>>,
}

/// A running feed server; stops when dropped.
pub struct FeedServer {
    feeds: Arc<Feeds>,
    server: serve::Server,
}

impl FeedServer {
    pub async fn start() -> std::io::Result<Self> {
        let feeds = Arc::new(Feeds::default());
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&feeds));
        let server = serve::start(app, None).await?;
        Ok(Self { feeds, server })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr)
    }

    fn with<T>(&self, path: &str, f: impl FnOnce(&mut Path) -> T) -> T {
        let mut paths = self
            .feeds
            .paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(paths.entry(path.to_owned()).or_default())
    }

    /// Sets the body of `path` (a new version: a new ETag).
    pub fn set(&self, path: &str, body: impl Into<String>) {
        let body = body.into();
        self.with(path, |p| {
            p.body = body;
            p.version += 1;
        });
    }

    pub fn set_mode(&self, path: &str, mode: Mode) {
        self.with(path, |p| p.mode = mode);
    }

    pub fn requests(&self, path: &str) -> u64 {
        self.with(path, |p| p.requests)
    }

    pub fn not_modified(&self, path: &str) -> u64 {
        self.with(path, |p| p.not_modified)
    }
}

async fn answer(State(feeds): State<Arc<Feeds>>, uri: Uri, headers: HeaderMap) -> Response {
    let (mode, body, etag, fresh) = {
        let mut paths = feeds.paths.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(p) = paths.get_mut(uri.path()) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        p.requests += 1;
        let etag = format!("\"v{}\"", p.version);
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            == Some(etag.as_str());
        if fresh && p.mode == Mode::Good {
            p.not_modified += 1;
        }
        (p.mode, p.body.clone(), etag, fresh)
    };
    match mode {
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Mode::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::Garbage => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html>\n<body>Service temporarily unavailable</body>\n</html>\n",
        )
            .into_response(),
        Mode::Good if fresh => (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response(),
        Mode::Good => (StatusCode::OK, [(header::ETAG, etag)], body).into_response(),
    }
}

/// An Onionoo `details` document with one relay per address (`exit` ones listed as
/// exit addresses only).
pub fn onionoo(or_addresses: &[&str], exit_addresses: &[&str]) -> String {
    let relays: Vec<String> =
        or_addresses
            .iter()
            .map(|a| {
                let a = if a.contains(':') {
                    format!("[{a}]:9001")
                } else {
                    format!("{a}:9001")
                };
                format!(r#"{{"or_addresses":["{a}"]}}"#)
            })
            .chain(exit_addresses.iter().map(|a| {
                format!(r#"{{"or_addresses":["192.0.2.250:443"],"exit_addresses":["{a}"]}}"#)
            }))
            .collect();
    format!(
        r#"{{"version":"9.0","relays_published":"2026-11-21 12:00:00","relays":[{}],"bridges":[]}}"#,
        relays.join(",")
    )
}

/// Spamhaus DROP in its JSON form (one object per line, metadata last).
pub fn spamhaus_json(cidrs: &[&str]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for (i, c) in cidrs.iter().enumerate() {
        let _ = writeln!(
            s,
            "{{\"cidr\":\"{c}\",\"sblid\":\"SBL{}\",\"rir\":\"ripencc\"}}",
            100_000 + i
        );
    }
    let size = s.len();
    let _ = writeln!(
        s,
        "{{\"type\":\"metadata\",\"timestamp\":1795000000,\"size\":{size},\"records\":{},\"copyright\":\"(c) 2026 The Spamhaus Project SLU\",\"terms\":\"https://www.spamhaus.org/drop/terms/\"}}",
        cidrs.len()
    );
    s
}
