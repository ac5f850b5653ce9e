//! Vultr, through its documented API: `GET /v2/account` with the API key as a bearer
//! token. Vultr's `balance` is negative when the account has credit, so the exported
//! value is `-balance` (money available), and `pending_charges` is exported too. The
//! original's `abs()` lost the sign, and it took a balance of 0 for a parse error.

use serde_json::Value;

use super::{Account, Balance, Failure, number, transport};

pub const BASE_URL: &str = "https://api.vultr.com";

/// Reads `/v2/account`'s body.
pub fn parse(body: &[u8]) -> Result<Balance, Failure> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| Failure::Parsing(format!("not JSON: {e}")))?;
    let account = v
        .get("account")
        .ok_or_else(|| Failure::Parsing("no `account` object".into()))?;
    let balance = account
        .get("balance")
        .and_then(number)
        .ok_or_else(|| Failure::Parsing("no numeric `account.balance`".into()))?;
    Ok(Balance {
        // 0.0 - x, so that a zero balance is 0 and not -0.
        value: 0.0 - balance,
        pending_charges: account.get("pending_charges").and_then(number),
    })
}

pub async fn poll(a: &Account) -> Result<Balance, Failure> {
    let base = a
        .base_url
        .as_deref()
        .unwrap_or(BASE_URL)
        .trim_end_matches('/');
    let resp = a
        .http
        .get(format!("{base}/v2/account"))
        .bearer_auth(a.secret.expose())
        .timeout(a.timeout)
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status();
    if status.as_u16() == 429 || status.as_u16() == 503 {
        return Err(Failure::RateLimit);
    }
    if status.as_u16() == 401 || status.as_u16() == 403 {
        return Err(Failure::CannotProceed(format!(
            "HTTP {status}: API key refused"
        )));
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
    fn sign_zero_strings_and_garbage() {
        let b =
            parse(br#"{"account":{"balance":-5519.11,"pending_charges":57.03}}"#).expect("credit");
        assert_eq!(b.value, 5519.11);
        assert_eq!(b.pending_charges, Some(57.03));
        assert_eq!(
            parse(br#"{"account":{"balance":13.32}}"#)
                .expect("debt")
                .value,
            -13.32
        );
        let zero = parse(br#"{"account":{"balance":0}}"#).expect("zero is a balance");
        assert!(zero.value == 0.0 && zero.value.is_sign_positive());
        assert_eq!(
            parse(br#"{"account":{"balance":"-1.50"}}"#)
                .expect("string")
                .value,
            1.5
        );
        assert!(matches!(parse(b"<html>"), Err(Failure::Parsing(_))));
        assert!(matches!(
            parse(br#"{"account":{}}"#),
            Err(Failure::Parsing(_))
        ));
        assert!(matches!(
            parse(br#"{"error":"x"}"#),
            Err(Failure::Parsing(_))
        ));
    }
}
