//! The request helpers every flow shares: a transport error or an answer becomes a
//! typed failure in one place, and no URL, body or header (which may carry a token or
//! a password) ever goes into an error message.

use std::borrow::Cow;

use reqwest::StatusCode;
use serde_json::Value;

use super::Failure;

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    /// `step` names the request in messages (`login`, `balance`, …).
    pub step: &'static str,
}

/// Sends a request; a transport failure is a `connection_error`.
pub async fn send(step: &'static str, request: reqwest::RequestBuilder) -> Result<Reply, Failure> {
    let resp = request.send().await.map_err(|e| transport(step, e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|e| transport(step, e))?.to_vec();
    Ok(Reply {
        status,
        headers,
        body,
        step,
    })
}

/// The error chain of a transport error, without the URL (its query may hold a secret).
pub fn transport(step: &str, e: reqwest::Error) -> Failure {
    let e = e.without_url();
    let mut s = format!("{step}: {e}");
    let mut cur = std::error::Error::source(&e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    Failure::Connection(s)
}

/// RFC 3986's unreserved characters stay; everything else is percent-encoded.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a value for a URL path or query.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Whether a page asks for a captcha (the words portals use, English and Russian).
pub fn mentions_captcha(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("captcha") || lower.contains("код с картинки")
}

impl Reply {
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The value of a cookie this answer sets.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next()?.split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_owned())
    }

    /// The answers any portal may give to any request: 429 is a rate limit, and a page
    /// asking for a captcha is a captcha, whatever the status.
    pub fn refusal(&self) -> Option<Failure> {
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            return Some(Failure::RateLimit(format!("{}: HTTP 429", self.step)));
        }
        if !self.status.is_success() && mentions_captcha(&self.text()) {
            return Some(Failure::Captcha(format!(
                "{}: HTTP {}",
                self.step,
                self.status.as_u16()
            )));
        }
        None
    }

    /// The answer if it is a success; otherwise the failure it means: a refusal, a
    /// server error (`no_answer`), credentials refused (`cannot_proceed`), or any other
    /// status (`no_answer`).
    pub fn success(self) -> Result<Self, Failure> {
        if let Some(f) = self.refusal() {
            return Err(f);
        }
        let code = self.status.as_u16();
        match self.status {
            s if s.is_success() => Ok(self),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Failure::CannotProceed(
                format!("{}: HTTP {code}, access refused", self.step),
            )),
            _ => Err(Failure::NoAnswer(format!("{}: HTTP {code}", self.step))),
        }
    }

    /// The body as JSON; anything else (an HTML page, a cut-off body) is a parse error.
    pub fn json(&self) -> Result<Value, Failure> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let what = if self.body.trim_ascii_start().starts_with(b"<") {
                "an HTML page".to_owned()
            } else {
                format!("not JSON ({e})")
            };
            Failure::Parsing(format!(
                "{}: HTTP {}, {what} instead of JSON",
                self.step,
                self.status.as_u16()
            ))
        })
    }
}

/// The value at `pointer` (RFC 6901) as a number, or a parse error naming it.
pub fn number_at(v: &Value, pointer: &str, step: &str) -> Result<f64, Failure> {
    v.pointer(pointer)
        .and_then(super::number::json)
        .ok_or_else(|| Failure::Parsing(format!("{step}: no number at {pointer}")))
}

/// A text field for a message (a portal's own explanation), shortened.
pub fn message(v: &Value, pointer: &str) -> String {
    let s = v.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    s.chars().take(120).collect()
}

#[cfg(test)]
impl Reply {
    /// An answer for parser tests.
    pub fn fake(step: &'static str, status: u16, body: &str) -> Self {
        Reply {
            status: StatusCode::from_u16(status).expect("status"),
            headers: reqwest::header::HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            step,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply::fake("login", status, body)
    }

    #[test]
    fn statuses_and_bodies_decided_once() {
        assert!(matches!(
            reply(429, "").success(),
            Err(Failure::RateLimit(_))
        ));
        assert!(matches!(
            reply(
                403,
                "<div class=g-recaptcha>Please complete the captcha</div>"
            )
            .success(),
            Err(Failure::Captcha(_))
        ));
        assert!(matches!(
            reply(401, "{}").success(),
            Err(Failure::CannotProceed(_))
        ));
        assert!(matches!(
            reply(500, "boom").success(),
            Err(Failure::NoAnswer(m)) if m == "login: HTTP 500"
        ));
        assert!(
            reply(200, "captcha").success().is_ok(),
            "a 200 is the flow's to judge"
        );
        let e = reply(200, "<html>maintenance</html>")
            .json()
            .expect_err("html");
        assert_eq!(
            e,
            Failure::Parsing("login: HTTP 200, an HTML page instead of JSON".into())
        );
        assert!(matches!(
            reply(200, r#"{"a":"#).json(),
            Err(Failure::Parsing(m)) if m.contains("not JSON")
        ));
    }
}
