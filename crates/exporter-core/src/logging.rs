//! Logging with tracing: level and format from the command line, level changeable at run
//! time (`/debug/log-level`, like the openstack original).

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Registry, reload};

use crate::cli::{LogFormat, LogLevel};

/// Changes the log level of the running process.
#[derive(Clone)]
pub struct LogHandle {
    handle: Option<reload::Handle<LevelFilter, Registry>>,
    current: std::sync::Arc<std::sync::Mutex<LogLevel>>,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle")
            .field("level", &self.level())
            .finish_non_exhaustive()
    }
}

impl LogHandle {
    /// A handle not connected to a subscriber (tests, or a second init).
    pub fn detached(level: LogLevel) -> Self {
        Self {
            handle: None,
            current: std::sync::Arc::new(std::sync::Mutex::new(level)),
        }
    }

    pub fn level(&self) -> LogLevel {
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_level(&self, level: LogLevel) {
        if let Some(handle) = &self.handle
            && let Err(e) = handle.modify(|f| *f = to_filter(level))
        {
            tracing::error!(error = %e, "cannot change log level");
            return;
        }
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = level;
    }
}

fn to_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    }
}

/// Installs the global subscriber writing to stderr. A second call returns a detached
/// handle instead of failing (tests run several exporters in one process).
pub fn init(level: LogLevel, format: LogFormat) -> LogHandle {
    let (filter, handle) = reload::Layer::new(to_filter(level));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .with_target(true)
                    .with_span_name(false)
                    .with_span_path(false)
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    if installed.is_err() {
        return LogHandle::detached(level);
    }
    LogHandle {
        handle: Some(handle),
        current: std::sync::Arc::new(std::sync::Mutex::new(level)),
    }
}
