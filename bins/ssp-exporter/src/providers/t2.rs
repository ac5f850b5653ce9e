//! t2 (ex-Tele2, mobile). **Known broken upstream**: since mid-2024 the cabinet asks
//! for a one-time code (SMS or e-mail) at every login, which no unattended client can
//! give; the provider stays configurable so that configs keep loading, its
//! identifiers are disabled unless `disabled: false` is set (the original's default),
//! and its refusals say why. The flow, as it worked: the cabinet page (CSRF meta tags
//! and a `session-cookie`), a Keycloak password grant with `x-csrftoken`, and the
//! balance with the bearer token.

use scraper::{Html, Selector};
use serde_json::Value;

use super::http::{Reply, encode, mentions_captcha, message, send};
use super::{Account, Balance, Failure, Provider, number};

pub struct T2;

/// Appended to every login refusal.
pub const TWO_FACTOR: &str = "t2 has required a one-time code (SMS or e-mail) at login since mid-2024, so unattended polling cannot log in";

impl Provider for T2 {
    const NAME: &'static str = "T2RussiaB2C";
    const BASE_URL: &'static str = "https://msk.t2.ru";

    async fn poll(a: &Account<'_>) -> Result<Balance, Failure> {
        let page = send("cabinet", a.http.get(a.url("/lk"))).await?.success()?;
        if page.cookie("session-cookie").is_none() {
            return Err(Failure::CannotProceed(
                "cabinet: no session-cookie set".into(),
            ));
        }
        let csrf = csrf(&page.text());
        let mut token = a
            .http
            .post(a.url("/auth/realms/tele2-b2c/protocol/openid-connect/token"))
            .header("x-requested-with", "XMLHttpRequest")
            .form(&[
                ("username", a.identifier),
                ("password", a.secret.expose()),
                ("client_id", "digital-suite-web-app"),
                ("grant_type", "password"),
                ("password_type", "password"),
            ]);
        if let Some((_, value)) = &csrf {
            token = token.header("x-csrftoken", value);
        }
        let access = access_token(&send("token", token).await?)?;
        let balance = send(
            "balance",
            a.http
                .get(a.url(&format!(
                    "/api/subscribers/{}/balance",
                    encode(a.identifier)
                )))
                .bearer_auth(access),
        )
        .await?
        .success()?;
        parse_balance(&balance)
    }
}

/// The CSRF name and value of the cabinet page's meta tags.
pub fn csrf(html: &str) -> Option<(String, String)> {
    let doc = Html::parse_document(html);
    let meta = |name: &str| {
        let sel = Selector::parse(&format!("meta[name=\"{name}\"]")).ok()?;
        doc.select(&sel)
            .next()
            .and_then(|m| m.value().attr("content"))
            .map(str::to_owned)
    };
    Some((meta("csrf-token-name")?, meta("csrf-token-value")?))
}

/// The access token of the password grant's answer.
pub fn access_token(reply: &Reply) -> Result<String, Failure> {
    if let Some(f) = reply.refusal() {
        return Err(f);
    }
    if reply.status.is_server_error() {
        return Err(Failure::NoAnswer(format!(
            "token: HTTP {}",
            reply.status.as_u16()
        )));
    }
    let v = reply.json()?;
    if let Some(t) = v.get("access_token").and_then(Value::as_str) {
        return Ok(t.to_owned());
    }
    let why = format!(
        "{} {}",
        message(&v, "/error"),
        message(&v, "/error_description")
    );
    if mentions_captcha(&why) {
        return Err(Failure::Captcha(format!("token: {}", why.trim())));
    }
    Err(Failure::CannotProceed(format!(
        "token refused (HTTP {}: {}); {TWO_FACTOR}",
        reply.status.as_u16(),
        why.trim()
    )))
}

/// `{"meta":{"status":"OK"},"data":{"value":…}}`.
pub fn parse_balance(reply: &Reply) -> Result<Balance, Failure> {
    let v = reply.json()?;
    if v.pointer("/meta/status").and_then(Value::as_str) != Some("OK") {
        return Err(Failure::Parsing(format!(
            "balance: status {:?}",
            message(&v, "/meta/status")
        )));
    }
    v.pointer("/data/value")
        .and_then(number::json)
        .map(Balance::of)
        .ok_or_else(|| Failure::Parsing("balance: no number at data.value".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_token_and_balance() {
        let page = r#"<html><head><meta name="csrf-token-name" content="csrftoken"><meta name="csrf-token-value" content="abc"></head></html>"#;
        assert_eq!(csrf(page), Some(("csrftoken".into(), "abc".into())));
        assert_eq!(csrf("<html></html>"), None);
        let t = |status, body: &str| access_token(&Reply::fake("token", status, body));
        assert_eq!(t(200, r#"{"access_token":"x"}"#), Ok("x".into()));
        assert!(matches!(
            t(401, r#"{"error":"invalid_grant","error_description":"Invalid user credentials"}"#),
            Err(Failure::CannotProceed(m)) if m.contains("one-time code")
        ));
        assert!(matches!(t(429, ""), Err(Failure::RateLimit(_))));
        let b = |body: &str| parse_balance(&Reply::fake("balance", 200, body)).map(|b| b.value);
        assert_eq!(b(r#"{"meta":{"status":"OK"},"data":{"value":0}}"#), Ok(0.0));
        assert_eq!(
            b(r#"{"meta":{"status":"OK"},"data":{"value":-3.25}}"#),
            Ok(-3.25)
        );
        assert!(matches!(
            b(r#"{"meta":{"status":"ERROR"}}"#),
            Err(Failure::Parsing(_))
        ));
        assert_eq!(encode("7 900+1"), "7%20900%2B1");
    }
}
