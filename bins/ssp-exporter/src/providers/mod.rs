//! One module per provider behind one trait. A poll ends in a balance or one typed
//! failure, decided once where it is found and never overwritten; its name is the
//! original's message name.

pub mod almatel;
pub mod aruba;
pub mod freedom;
pub mod generic;
pub mod http;
pub mod megafon;
pub mod number;
pub mod t2;
pub mod vultr;
pub mod wifire;

use std::sync::Arc;

use exporter_core::Secret;

/// What a poll found.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    /// The money available (negative: owed).
    pub value: f64,
    /// Charges not yet billed, where the provider reports them.
    pub pending_charges: Option<f64>,
}

impl Balance {
    pub fn of(value: f64) -> Self {
        Self {
            value,
            pending_charges: None,
        }
    }
}

/// Why a poll failed, named as the original's `service.messages`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("no answer: {0}")]
    NoAnswer(String),
    #[error("captcha requested: {0}")]
    Captcha(String),
    #[error("cannot proceed: {0}")]
    CannotProceed(String),
    #[error("rate limited: {0}")]
    RateLimit(String),
    #[error("cannot parse the answer: {0}")]
    Parsing(String),
    #[error("connection failed: {0}")]
    Connection(String),
}

impl Failure {
    /// The original's message name (the key in `service.messages`).
    pub fn name(&self) -> &'static str {
        match self {
            Failure::NoAnswer(_) => "no_answer",
            Failure::Captcha(_) => "captcha",
            Failure::CannotProceed(_) => "cannot_proceed",
            Failure::RateLimit(_) => "rate_limit",
            Failure::Parsing(_) => "parsing_error",
            Failure::Connection(_) => "connection_error",
        }
    }

    /// Failures after which retrying soon could lock the account out: back off.
    pub fn backs_off(&self) -> bool {
        matches!(
            self,
            Failure::Captcha(_) | Failure::RateLimit(_) | Failure::CannotProceed(_)
        )
    }
}

/// Everything a poll needs.
pub struct Account<'a> {
    pub identifier: &'a str,
    pub secret: &'a Secret,
    /// The portal's base URL, without a trailing slash.
    pub base: &'a str,
    /// A client of this poll only (its cookie jar is the session).
    pub http: &'a reqwest::Client,
}

impl Account<'_> {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A provider: its config key and its flow.
pub trait Provider {
    /// The config key (the original's class name).
    const NAME: &'static str;
    /// The portal's address (overridable per identifier with `base_url`).
    const BASE_URL: &'static str;
    fn poll(a: &Account<'_>) -> impl Future<Output = Result<Balance, Failure>> + Send;
}

/// A configured identifier's provider: one of the seven, or a generic one from the
/// config's `providers` section.
#[derive(Debug, Clone)]
pub enum Kind {
    Almatel,
    Aruba,
    Freedom,
    Megafon,
    T2,
    Vultr,
    Wifire,
    Generic(Arc<generic::Definition>),
}

/// The built-in providers' config keys.
pub const BUILT_IN: [&str; 7] = [
    almatel::Almatel::NAME,
    aruba::Aruba::NAME,
    freedom::Freedom::NAME,
    megafon::Megafon::NAME,
    t2::T2::NAME,
    vultr::Vultr::NAME,
    wifire::Wifire::NAME,
];

impl Kind {
    /// A built-in provider by its config key.
    pub fn built_in(name: &str) -> Option<Kind> {
        Some(match name {
            almatel::Almatel::NAME => Kind::Almatel,
            aruba::Aruba::NAME => Kind::Aruba,
            freedom::Freedom::NAME => Kind::Freedom,
            megafon::Megafon::NAME => Kind::Megafon,
            t2::T2::NAME => Kind::T2,
            vultr::Vultr::NAME => Kind::Vultr,
            wifire::Wifire::NAME => Kind::Wifire,
            _ => return None,
        })
    }

    pub fn base_url(&self) -> &str {
        match self {
            Kind::Almatel => almatel::Almatel::BASE_URL,
            Kind::Aruba => aruba::Aruba::BASE_URL,
            Kind::Freedom => freedom::Freedom::BASE_URL,
            Kind::Megafon => megafon::Megafon::BASE_URL,
            Kind::T2 => t2::T2::BASE_URL,
            Kind::Vultr => vultr::Vultr::BASE_URL,
            Kind::Wifire => wifire::Wifire::BASE_URL,
            Kind::Generic(d) => &d.base_url,
        }
    }

    pub async fn poll(&self, a: &Account<'_>) -> Result<Balance, Failure> {
        match self {
            Kind::Almatel => almatel::Almatel::poll(a).await,
            Kind::Aruba => aruba::Aruba::poll(a).await,
            Kind::Freedom => freedom::Freedom::poll(a).await,
            Kind::Megafon => megafon::Megafon::poll(a).await,
            Kind::T2 => t2::T2::poll(a).await,
            Kind::Vultr => vultr::Vultr::poll(a).await,
            Kind::Wifire => wifire::Wifire::poll(a).await,
            Kind::Generic(d) => d.poll(a).await,
        }
    }
}
