//! One module per provider behind one trait. A poll ends in a balance or one typed
//! failure, decided once; its name is the original's message name.

pub mod aruba;
pub mod vultr;

use std::time::Duration;

use exporter_core::Secret;

/// What a poll found.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    /// The money available (negative: owed).
    pub value: f64,
    /// Charges not yet billed, where the provider reports them.
    pub pending_charges: Option<f64>,
}

/// Why a poll failed, named as the original's `service.messages`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("no answer: {0}")]
    NoAnswer(String),
    #[error("captcha requested")]
    #[allow(
        dead_code,
        reason = "answered by the web-cabinet providers still to come"
    )]
    Captcha,
    #[error("cannot proceed: {0}")]
    CannotProceed(String),
    #[error("rate limited")]
    RateLimit,
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
            Failure::Captcha => "captcha",
            Failure::CannotProceed(_) => "cannot_proceed",
            Failure::RateLimit => "rate_limit",
            Failure::Parsing(_) => "parsing_error",
            Failure::Connection(_) => "connection_error",
        }
    }

    /// Failures after which retrying soon could lock the account out: back off.
    pub fn backs_off(&self) -> bool {
        matches!(
            self,
            Failure::Captcha | Failure::RateLimit | Failure::CannotProceed(_)
        )
    }
}

/// Everything a poll needs.
pub struct Account {
    pub secret: Secret,
    pub base_url: Option<String>,
    pub http: reqwest::Client,
    pub timeout: Duration,
}

/// A JSON number, or a numeric string (Vultr's v1 API and early v2 answered strings);
/// finite only.
pub fn number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

/// The error chain of a transport error, without URLs' query strings.
pub fn transport(e: reqwest::Error) -> Failure {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(&e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    Failure::Connection(s)
}
