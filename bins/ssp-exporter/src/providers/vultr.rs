//! Vultr, through its documented API: `GET /v2/account` with the API key as a bearer
//! token (the identifier is only a label). Vultr's `balance` is negative when the
//! account has credit, so the exported value is `-balance` (money available), and
//! `pending_charges` is exported too. The original's `abs()` lost the sign, and it took
//! a balance of 0 for a parse error.

use super::http::{Reply, send};
use super::{Account, Balance, Failure, Provider, number};

pub struct Vultr;

impl Provider for Vultr {
    const NAME: &'static str = "Vultr";
    const BASE_URL: &'static str = "https://api.vultr.com";

    async fn poll(a: &Account<'_>) -> Result<Balance, Failure> {
        let reply = send(
            "account",
            a.http
                .get(a.url("/v2/account"))
                .bearer_auth(a.secret.expose()),
        )
        .await?;
        // The v1 API documented 503 as its rate limit.
        if reply.status.as_u16() == 503 {
            return Err(Failure::RateLimit("account: HTTP 503".into()));
        }
        parse(&reply.success()?)
    }
}

/// Reads `/v2/account`'s answer.
pub fn parse(reply: &Reply) -> Result<Balance, Failure> {
    let v = reply.json()?;
    let account = v
        .get("account")
        .filter(|a| a.is_object())
        .ok_or_else(|| Failure::Parsing("account: no `account` object".into()))?;
    let balance = account
        .get("balance")
        .and_then(number::json)
        .ok_or_else(|| Failure::Parsing("account: no number at account.balance".into()))?;
    Ok(Balance {
        // 0.0 - x, so that a zero balance is 0 and not -0.
        value: 0.0 - balance,
        pending_charges: account.get("pending_charges").and_then(number::json),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &str) -> Reply {
        Reply::fake("account", 200, body)
    }

    #[test]
    fn sign_zero_strings_and_garbage() {
        let b = parse(&reply(
            r#"{"account":{"balance":-5519.11,"pending_charges":57.03}}"#,
        ))
        .expect("credit");
        assert_eq!(b.value, 5519.11);
        assert_eq!(b.pending_charges, Some(57.03));
        assert_eq!(
            parse(&reply(r#"{"account":{"balance":13.32}}"#))
                .expect("debt")
                .value,
            -13.32
        );
        let zero = parse(&reply(r#"{"account":{"balance":0}}"#)).expect("zero is a balance");
        assert!(zero.value == 0.0 && zero.value.is_sign_positive());
        assert_eq!(
            parse(&reply(r#"{"account":{"balance":"-1.50"}}"#))
                .expect("string")
                .value,
            1.5
        );
        assert!(matches!(parse(&reply("<html>")), Err(Failure::Parsing(_))));
        assert!(matches!(
            parse(&reply(r#"{"account":{}}"#)),
            Err(Failure::Parsing(_))
        ));
        assert!(matches!(
            parse(&reply(r#"{"account":null}"#)),
            Err(Failure::Parsing(_))
        ));
    }
}
