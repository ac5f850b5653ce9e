//! HTTP serving: listeners, TLS and auth from the web config file, and the routes.

pub mod auth;
pub mod config;
pub mod landing;
pub mod routes;
pub mod server;
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;

pub use config::{WebConfig, WebConfigError};

/// The web config in force, with what was built from it.
#[derive(Debug, Default)]
pub struct WebState {
    pub config: WebConfig,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub auth: Option<auth::BasicAuth>,
    pub rate_limit: Option<auth::RateLimiter>,
}

impl WebState {
    fn build(config: WebConfig, http2: bool, path: &Path) -> Result<Self, WebConfigError> {
        let tls = if config.tls_enabled() {
            Some(
                tls::server_config(&config.tls_server_config, http2).map_err(|message| {
                    WebConfigError::Invalid {
                        path: path.to_owned(),
                        message,
                    }
                })?,
            )
        } else {
            None
        };
        let auth = (!config.basic_auth_users.is_empty())
            .then(|| auth::BasicAuth::new(config.basic_auth_users.clone()));
        let rate_limit = config
            .rate_limit
            .interval
            .filter(|i| !i.is_zero())
            .map(|every| auth::RateLimiter::new(every, config.rate_limit.burst));
        Ok(Self {
            config,
            tls,
            auth,
            rate_limit,
        })
    }
}

type Stamp = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

/// Holds the current [`WebState`] and re-reads the web config file when it or a file it
/// names (certificate, key, client CA) changes, so renewed certificates are used for new
/// connections without a restart. A broken new version is logged and the old one kept.
#[derive(Debug)]
pub struct WebRuntime {
    path: Option<PathBuf>,
    http2: bool,
    current: ArcSwap<WebState>,
    checked: Mutex<(Instant, Stamp)>,
}

/// How often files are looked at for changes (a `stat` each).
const CHECK_EVERY: Duration = Duration::from_secs(1);

impl WebRuntime {
    /// Loads `path` (none: plain HTTP, no auth). Errors are fatal at startup.
    pub fn load(path: Option<&Path>) -> Result<Self, WebConfigError> {
        let Some(path) = path else {
            return Ok(Self {
                path: None,
                http2: true,
                current: ArcSwap::from_pointee(WebState::default()),
                checked: Mutex::new((Instant::now(), Vec::new())),
            });
        };
        let config = WebConfig::load(path)?;
        // As in the toolkit, http2 is read once: it cannot change on a running listener.
        let http2 = config.http_server_config.http2.unwrap_or(true);
        let stamp = stamp(path, &config);
        let state = WebState::build(config, http2, path)?;
        Ok(Self {
            path: Some(path.to_owned()),
            http2,
            current: ArcSwap::from_pointee(state),
            checked: Mutex::new((Instant::now(), stamp)),
        })
    }

    pub fn http2(&self) -> bool {
        self.http2
    }

    /// The state to use for a new connection or request.
    pub fn current(&self) -> Arc<WebState> {
        if let Some(path) = &self.path {
            let due = {
                let mut checked = self.checked.lock().unwrap_or_else(PoisonError::into_inner);
                if checked.0.elapsed() >= CHECK_EVERY {
                    checked.0 = Instant::now();
                    let now = stamp(path, &self.current.load().config);
                    (now != checked.1).then(|| {
                        checked.1.clone_from(&now);
                    })
                } else {
                    None
                }
            };
            if due.is_some()
                && let Err(e) = self.reload()
            {
                tracing::error!(error = %e, "web config changed but cannot be used; keeping the previous one");
            }
        }
        self.current.load_full()
    }

    /// Re-reads the web config now (SIGHUP, or a file change).
    pub fn reload(&self) -> Result<(), WebConfigError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let config = WebConfig::load(path)?;
        let new_stamp = stamp(path, &config);
        let state = WebState::build(config, self.http2, path)?;
        self.current.store(Arc::new(state));
        self.checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1 = new_stamp;
        tracing::info!(path = %path.display(), "web config loaded");
        Ok(())
    }
}

fn stamp(path: &Path, config: &WebConfig) -> Stamp {
    let t = &config.tls_server_config;
    std::iter::once(path)
        .chain(t.cert_file.as_deref())
        .chain(t.key_file.as_deref())
        .chain(t.client_ca_file.as_deref())
        .map(|p| {
            let meta = std::fs::metadata(p)
                .ok()
                .and_then(|m| m.modified().ok().map(|t| (t, m.len())));
            (p.to_owned(), meta)
        })
        .collect()
}
