//! Aruba Cloud, through the WsEndUser v2.9 service's JSON binding: `GetCredit` with the
//! panel's username and password in the body. The datacenter is in the host
//! (`api.dc1` … `api.dc8.computing.cloud.it`): set `base_url` for another one than the
//! original's dc3. The value is exported as reported (the original's `abs()` dropped
//! the sign, and it took a credit of 0 for a parse error); `Success: false` (wrong
//! credentials) is decided as such, not as a parse error.

use serde_json::Value;

use super::{Account, Balance, Failure, number, transport};

pub const BASE_URL: &str = "https://api.dc3.computing.cloud.it";
const PATH: &str = "/WsEndUser/v2.9/WsEndUser.svc/json/GetCredit";

/// Reads `GetCredit`'s answer.
pub fn parse(body: &[u8]) -> Result<Balance, Failure> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| Failure::Parsing(format!("not JSON: {e}")))?;
    if v.get("Success") == Some(&Value::Bool(false)) {
        let msg = v
            .get("ResultMessage")
            .and_then(Value::as_str)
            .unwrap_or("Success: false");
        return Err(Failure::CannotProceed(format!("GetCredit refused: {msg}")));
    }
    let value = v
        .get("Value")
        .and_then(|inner| inner.get("Value"))
        .and_then(number)
        .ok_or_else(|| Failure::Parsing("no numeric `Value.Value`".into()))?;
    Ok(Balance {
        value,
        pending_charges: None,
    })
}

pub async fn poll(a: &Account, username: &str) -> Result<Balance, Failure> {
    let base = a
        .base_url
        .as_deref()
        .unwrap_or(BASE_URL)
        .trim_end_matches('/');
    let body = serde_json::json!({"Username": username, "Password": a.secret.expose()});
    let resp = a
        .http
        .post(format!("{base}{PATH}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(a.timeout)
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status();
    if status.as_u16() == 429 || status.as_u16() == 503 {
        return Err(Failure::RateLimit);
    }
    if !status.is_success() {
        return Err(Failure::NoAnswer(format!("HTTP {status}")));
    }
    let body = resp.bytes().await.map_err(transport)?;
    parse(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_refusal_and_garbage() {
        let ok = br#"{"ExceptionInfo":null,"ResultCode":0,"Success":true,"Value":{"OverdraftLimit":100,"Value":19.78}}"#;
        assert_eq!(parse(ok).expect("ok").value, 19.78);
        let zero = br#"{"Success":true,"Value":{"Value":0}}"#;
        assert_eq!(parse(zero).expect("zero is a credit").value, 0.0);
        let neg = br#"{"Success":true,"Value":{"Value":-3.5}}"#;
        assert_eq!(parse(neg).expect("sign kept").value, -3.5);
        let refused = br#"{"ResultCode":-1,"ResultMessage":"Invalid credentials","Success":false,"Value":null}"#;
        assert!(
            matches!(parse(refused), Err(Failure::CannotProceed(m)) if m.contains("Invalid credentials"))
        );
        assert!(matches!(parse(b"<html>"), Err(Failure::Parsing(_))));
        assert!(matches!(
            parse(br#"{"Success":true,"Value":null}"#),
            Err(Failure::Parsing(_))
        ));
    }
}
