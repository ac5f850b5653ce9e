//! Multi-target `/probe?target=&module=` plumbing in the blackbox_exporter style: the probe
//! runs inside the request, bounded by the scraper's timeout; `probe_success` and
//! `probe_duration_seconds` always answer, so a failed probe is a 200 with
//! `probe_success 0`, and only a malformed request is a 400.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::metrics::{Family, merge_families, negotiate};
use crate::web::routes::AppState;

/// One probe request: the query parameters and the time it may take.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    pub params: Vec<(String, String)>,
    pub timeout: Duration,
}

impl ProbeRequest {
    /// The first value of a query parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a probe produced no data.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError<E: std::error::Error + 'static> {
    /// The request itself is wrong (no target, unknown module, target not allowed): 400.
    #[error("{0}")]
    BadRequest(String),
    /// The target could not be probed: 200 with `probe_success 0`.
    #[error(transparent)]
    Failed(E),
}

/// A multi-target prober (one per exporter; modules are its business).
pub trait Prober: Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Probes the target named in `request`. Must not log secrets from the parameters.
    fn probe(
        &self,
        request: ProbeRequest,
    ) -> impl Future<Output = Result<Vec<Family>, ProbeError<Self::Error>>> + Send;
}

/// Timeouts and landing-page hints for `/probe`.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// Upper bound for a probe, whatever the scraper allows.
    pub max_timeout: Duration,
    /// Subtracted from `X-Prometheus-Scrape-Timeout-Seconds` so the answer arrives in time.
    pub timeout_offset: Duration,
    pub default_module: String,
    pub example_target: String,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            max_timeout: Duration::from_secs(120),
            timeout_offset: Duration::from_millis(500),
            default_module: "default".into(),
            example_target: "192.0.2.1".into(),
        }
    }
}

impl ProbeSettings {
    /// The probe's time budget for a scrape-timeout header value (in seconds).
    pub fn timeout_for(&self, header: Option<&str>) -> Duration {
        let scrape = header
            .and_then(|h| h.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64);
        match scrape {
            Some(s) => {
                let budget = s
                    .checked_sub(self.timeout_offset)
                    .filter(|b| !b.is_zero())
                    .unwrap_or(s);
                budget.min(self.max_timeout)
            }
            None => self.max_timeout,
        }
    }
}

type ErasedResult = Result<Vec<Family>, ProbeError<ErasedError>>;
type ProbeFn =
    dyn Fn(ProbeRequest) -> Pin<Box<dyn Future<Output = ErasedResult> + Send>> + Send + Sync;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ErasedError(String);

/// The registered prober, type-erased for the router.
#[derive(Clone)]
pub struct ProbeEndpoint {
    pub settings: ProbeSettings,
    run: Arc<ProbeFn>,
}

impl ProbeEndpoint {
    pub fn new<P: Prober>(prober: P, settings: ProbeSettings) -> Self {
        let prober = Arc::new(prober);
        let run = move |req: ProbeRequest| {
            let prober = Arc::clone(&prober);
            Box::pin(async move {
                prober.probe(req).await.map_err(|e| match e {
                    ProbeError::BadRequest(m) => ProbeError::BadRequest(m),
                    ProbeError::Failed(e) => {
                        ProbeError::Failed(ErasedError(crate::collect::scheduler::error_chain(&e)))
                    }
                })
            }) as Pin<Box<dyn Future<Output = ErasedResult> + Send>>
        };
        Self {
            settings,
            run: Arc::new(run),
        }
    }
}

pub(crate) async fn handler(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let Some(endpoint) = &s.0.probe else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let timeout = endpoint.settings.timeout_for(
        headers
            .get("x-prometheus-scrape-timeout-seconds")
            .and_then(|v| v.to_str().ok()),
    );
    let format = negotiate::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let request = ProbeRequest { params, timeout };
    let target = request.get("target").unwrap_or_default().to_owned();
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, (endpoint.run)(request)).await;
    let duration = started.elapsed().as_secs_f64();
    let (mut families, success) = match outcome {
        Ok(Ok(families)) => (families, true),
        Ok(Err(ProbeError::BadRequest(msg))) => {
            tracing::debug!(target = %target, error = %msg, "bad probe request");
            return (StatusCode::BAD_REQUEST, format!("{msg}\n")).into_response();
        }
        Ok(Err(ProbeError::Failed(e))) => {
            tracing::warn!(target = %target, error = %e, "probe failed");
            (Vec::new(), false)
        }
        Err(_) => {
            tracing::warn!(target = %target, timeout_seconds = timeout.as_secs_f64(), "probe timed out");
            (Vec::new(), false)
        }
    };
    let mut ok = Family::gauge(
        "probe_success",
        "Displays whether or not the probe was a success.",
    );
    ok.set(if success { 1.0 } else { 0.0 });
    let mut dur = Family::gauge(
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds.",
    );
    dur.set(duration);
    families.push(ok);
    families.push(dur);
    crate::web::routes::encode(format, &[Arc::new(merge_families(families))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_follows_scrape_header() {
        let s = ProbeSettings {
            max_timeout: Duration::from_secs(30),
            ..ProbeSettings::default()
        };
        assert_eq!(s.timeout_for(Some("10")), Duration::from_millis(9500));
        assert_eq!(s.timeout_for(Some("60")), Duration::from_secs(30));
        assert_eq!(s.timeout_for(Some("0.3")), Duration::from_millis(300));
        assert_eq!(s.timeout_for(None), Duration::from_secs(30));
        assert_eq!(s.timeout_for(Some("junk")), Duration::from_secs(30));
        assert_eq!(s.timeout_for(Some("-1")), Duration::from_secs(30));
    }
}
