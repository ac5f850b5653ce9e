//! Freedom (Voronezh ISP): one JSON-RPC-like endpoint, `auth` for a token, then
//! `getClient` with the token in `Ic-Token`; the balance is `client.billing.balance`.
//! The flow has no logout. Refused credentials are `cannot_proceed` (the original
//! reported them as `no_answer`), so they back off like every other provider's.

use serde_json::{Value, json};

use super::http::{Reply, mentions_captcha, message, number_at, send};
use super::{Account, Balance, Failure, Provider};

pub struct Freedom;

impl Provider for Freedom {
    const NAME: &'static str = "FreedomVrnRussia";
    const BASE_URL: &'static str = "https://lk-api.freedom-vrn.ru";

    async fn poll(a: &Account<'_>) -> Result<Balance, Failure> {
        let api = a.url("/lk/api/v1");
        let auth = send(
            "auth",
            a.http.post(&api).json(&json!({
                "method": "auth",
                "params": {"username": a.identifier, "password": a.secret.expose()},
            })),
        )
        .await?
        .success()?;
        let token = token(&auth)?;
        let client = send(
            "getClient",
            a.http
                .post(&api)
                .header("Ic-Token", token)
                .json(&json!({"method": "getClient", "params": {}})),
        )
        .await?
        .success()?;
        parse_client(&client)
    }
}

/// The token of an `auth` answer.
pub fn token(reply: &Reply) -> Result<String, Failure> {
    let v = reply.json()?;
    let error = v.get("error").and_then(Value::as_i64);
    let token = v.get("token").and_then(Value::as_str).unwrap_or_default();
    if error == Some(0) && !token.is_empty() {
        return Ok(token.to_owned());
    }
    let why = message(&v, "/message");
    if v.get("captcha").is_some_and(|c| c == true) || mentions_captcha(&why) {
        return Err(Failure::Captcha(format!("auth: {why}")));
    }
    Err(Failure::CannotProceed(format!(
        "auth refused (error {}): {why}",
        error.map_or_else(|| "missing".to_owned(), |e| e.to_string())
    )))
}

/// The balance of a `getClient` answer.
pub fn parse_client(reply: &Reply) -> Result<Balance, Failure> {
    let v = reply.json()?;
    if v.pointer("/client/billing").is_none() {
        return Err(Failure::CannotProceed(format!(
            "getClient: no client data: {}",
            message(&v, "/message")
        )));
    }
    number_at(&v, "/client/billing/balance", "getClient").map(Balance::of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_then_balance() {
        let r = |b: &str| Reply::fake("auth", 200, b);
        assert_eq!(
            token(&r(r#"{"error":0,"token":"t1","deviceCid":"c"}"#)),
            Ok("t1".into())
        );
        assert!(matches!(
            token(&r(r#"{"error":1,"message":"Неверный логин или пароль"}"#)),
            Err(Failure::CannotProceed(_))
        ));
        assert!(matches!(
            token(&r(r#"{"error":0,"token":""}"#)),
            Err(Failure::CannotProceed(_))
        ));
        assert!(matches!(
            token(&r(r#"{"error":3,"captcha":true}"#)),
            Err(Failure::Captcha(_))
        ));
        let c = |b: &str| parse_client(&Reply::fake("getClient", 200, b)).map(|b| b.value);
        assert_eq!(
            c(r#"{"error":0,"client":{"billing":{"balance":-20.5}}}"#),
            Ok(-20.5)
        );
        assert_eq!(
            c(r#"{"error":0,"client":{"billing":{"balance":0}}}"#),
            Ok(0.0)
        );
        assert!(matches!(
            c(r#"{"error":0,"client":{"billing":{"balance":"x"}}}"#),
            Err(Failure::Parsing(_))
        ));
        assert!(matches!(
            c(r#"{"error":401,"message":"Требуется авторизация"}"#),
            Err(Failure::CannotProceed(_))
        ));
    }
}
