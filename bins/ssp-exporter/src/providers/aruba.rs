//! Aruba Cloud, through the WsEndUser v2.9 service's JSON binding: `GetCredit` with the
//! panel's username and password in the body. The datacenter is in the host
//! (`api.dc1` … `api.dc8.computing.cloud.it`): set `base_url` for another one than the
//! original's dc3. The value is exported as reported (the original's `abs()` dropped
//! the sign, and it took a credit of 0 for a parse error); `Success: false` (wrong
//! credentials) is decided as such, not as a parse error.

use serde_json::Value;

use super::http::{Reply, mentions_captcha, message, number_at, send};
use super::{Account, Balance, Failure, Provider};

pub struct Aruba;

impl Provider for Aruba {
    const NAME: &'static str = "ArubaCloud";
    const BASE_URL: &'static str = "https://api.dc3.computing.cloud.it";

    async fn poll(a: &Account<'_>) -> Result<Balance, Failure> {
        let body = serde_json::json!({"Username": a.identifier, "Password": a.secret.expose()});
        let reply = send(
            "GetCredit",
            a.http
                .post(a.url("/WsEndUser/v2.9/WsEndUser.svc/json/GetCredit"))
                .json(&body),
        )
        .await?;
        parse(&reply.success()?)
    }
}

/// Reads `GetCredit`'s answer.
pub fn parse(reply: &Reply) -> Result<Balance, Failure> {
    let v = reply.json()?;
    if v.get("Success") == Some(&Value::Bool(false)) {
        let msg = message(&v, "/ResultMessage");
        if mentions_captcha(&msg) {
            return Err(Failure::Captcha(format!("GetCredit: {msg}")));
        }
        return Err(Failure::CannotProceed(format!("GetCredit refused: {msg}")));
    }
    number_at(&v, "/Value/Value", "GetCredit").map(Balance::of)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &str) -> Reply {
        Reply::fake("GetCredit", 200, body)
    }

    #[test]
    fn value_sign_zero_and_refusal() {
        let ok = |b: &str| parse(&reply(b)).map(|b| b.value);
        assert_eq!(
            ok(r#"{"Success":true,"Value":{"Value":19.78,"OverdraftLimit":0}}"#),
            Ok(19.78)
        );
        assert_eq!(ok(r#"{"Success":true,"Value":{"Value":-3.5}}"#), Ok(-3.5));
        assert_eq!(ok(r#"{"Success":true,"Value":{"Value":0}}"#), Ok(0.0));
        assert!(matches!(
            parse(&reply(r#"{"Success":false,"ResultMessage":"Invalid credentials","Value":null}"#)),
            Err(Failure::CannotProceed(m)) if m.contains("Invalid credentials")
        ));
        assert!(matches!(
            parse(&reply(r#"{"Success":true,"Value":null}"#)),
            Err(Failure::Parsing(_))
        ));
    }
}
