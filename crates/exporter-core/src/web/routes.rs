//! The HTTP routes every exporter serves, and the middleware in front of them.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Semaphore;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;

use super::WebRuntime;
use crate::build_info::ExporterInfo;
use crate::cli::LogLevel;
use crate::collect::{CollectorStats, SnapshotStore};
use crate::exporter::{LiveMetrics, ReloadStatus, ScrapeContext};

/// The TCP peer of the connection a request came on (set by the accept loop).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);
use crate::logging::LogHandle;
use crate::metrics::{Family, Format, merge_families, negotiate, openmetrics, process, text};
use crate::probe::ProbeEndpoint;

/// Everything the handlers read. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub info: ExporterInfo,
    pub telemetry_path: String,
    pub store: Arc<SnapshotStore>,
    pub stats: Arc<CollectorStats>,
    pub log: LogHandle,
    pub web: Arc<WebRuntime>,
    pub probe: Option<ProbeEndpoint>,
    pub live: Vec<LiveMetrics>,
    pub reload: Arc<ReloadStatus>,
    pub max_requests: Option<(Arc<Semaphore>, usize)>,
    pub request_timeout: Duration,
}

pub(crate) fn router(state: AppState) -> Router {
    let inner = &state.0;
    let mut router = Router::new()
        .route(&inner.telemetry_path, get(metrics))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/debug/log-level", get(log_level).post(log_level));
    if inner.telemetry_path != "/" {
        router = router.route("/", get(landing));
    }
    if inner.probe.is_some() {
        router = router.route("/probe", get(crate::probe::handler));
    }
    let timeout = inner.request_timeout;
    router
        .fallback(not_found)
        .layer(CompressionLayer::new().gzip(true))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit_concurrency,
        ))
        .with_state(state)
}

/// `--web.max-requests`: answer 503 at once rather than queueing without bound.
async fn limit_concurrency(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some((sem, max)) = &s.0.max_requests else {
        return next.run(req).await;
    };
    match Arc::clone(sem).try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Limit of concurrent requests reached ({max}), try again later.\n"),
        )
            .into_response(),
    }
}

/// The web config's rate limit, basic auth and response headers, on every route.
async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let web = s.0.web.current();
    if let Some(rl) = &web.rate_limit
        && !rl.allow()
    {
        return (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response();
    }
    let mut resp = match &web.auth {
        Some(auth) => {
            let header = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            if auth.check(header).await {
                next.run(req).await
            } else {
                let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                r
            }
        }
        None => next.run(req).await,
    };
    for (name, value) in web.config.http_server_config.headers.pairs() {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "404 page not found\n")
}

async fn healthy() -> &'static str {
    "Healthy\n"
}

async fn ready(State(s): State<AppState>) -> Response {
    if s.0.stats.first_round_done() {
        "Ready\n".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: the first collection round is still running\n",
        )
            .into_response()
    }
}

#[derive(serde::Deserialize)]
struct LevelQuery {
    level: Option<String>,
}

/// `GET` shows the level; `GET|POST ?level=debug|info|warn|error` changes it.
async fn log_level(State(s): State<AppState>, Query(q): Query<LevelQuery>) -> Response {
    match q.level {
        None => format!("{}\n", s.0.log.level().as_str()).into_response(),
        Some(name) => match LogLevel::parse_lenient(&name) {
            Some(level) => {
                s.0.log.set_level(level);
                tracing::warn!(level = level.as_str(), "log level changed at run time");
                format!("log level set to {}\n", level.as_str()).into_response()
            }
            None => (
                StatusCode::BAD_REQUEST,
                "unknown level: use debug, info, warn or error\n",
            )
                .into_response(),
        },
    }
}

/// The exporter's own families, computed at scrape time (they are cheap).
fn own_families(s: &Inner, ctx: &ScrapeContext) -> Vec<Family> {
    let ns = s.info.namespace;
    let mut own = vec![s.info.family()];
    own.extend(s.stats.families(ns));
    own.extend(s.reload.families(ns));
    own.extend(process::collect());
    for live in &s.live {
        own.extend(live(ctx));
    }
    own
}

async fn metrics(
    State(s): State<AppState>,
    peer: Option<axum::Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let ctx = ScrapeContext {
        peer: peer.map(|p| p.0.0.ip()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let format = negotiate::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let data = s.0.store.gather();
    let mut own = merge_families(own_families(&s.0, &ctx));
    // A family may appear only once in an exposition: collected data wins over our own.
    own.retain(|f| {
        let clash = data.binary_search_by(|d| d.name().cmp(f.name())).is_ok();
        if clash {
            tracing::error!(
                family = f.name(),
                "a collector uses a reserved self-metric name"
            );
        }
        !clash
    });
    let parts = [Arc::new(own), data];
    encode(format, &parts)
}

pub(crate) fn encode(format: Format, parts: &[Arc<Vec<Family>>]) -> Response {
    let mut body = String::with_capacity(16 * 1024);
    match format {
        Format::Text => {
            for part in parts {
                text::encode(&mut body, part);
            }
        }
        Format::OpenMetrics => {
            if openmetrics::encode(&mut body, parts).is_err() {
                return (StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n").into_response();
            }
        }
    }
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

async fn landing(State(s): State<AppState>) -> Html<String> {
    Html(super::landing::render(&s.0))
}
