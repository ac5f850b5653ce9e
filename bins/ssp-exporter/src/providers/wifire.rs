//! Wifire (NetByNet, ISP): `get-way` for the account (it starts the session cookie),
//! a JSON login, the balance, and a logout. The account number goes into the query
//! string encoded (the original interpolated it raw). A failed logout is logged and
//! does not replace the balance (the original replaced it with `connection_error`).

use serde_json::{Value, json};

use super::http::{Reply, mentions_captcha, message, send};
use super::{Account, Balance, Failure, Provider, number};

pub struct Wifire;

impl Provider for Wifire {
    const NAME: &'static str = "WifireRussia";
    const BASE_URL: &'static str = "https://my.wifire.ru";

    async fn poll(a: &Account<'_>) -> Result<Balance, Failure> {
        send(
            "get-way",
            a.http
                .get(a.url("/api/v1/get-way"))
                .query(&[("accountNumber", a.identifier)]),
        )
        .await?
        .success()?;
        let login = send(
            "login",
            a.http.post(a.url("/api/v2/login")).json(&json!({
                "accountNumber": a.identifier,
                "password": a.secret.expose(),
                "captchaCode": "",
                "save": "true",
            })),
        )
        .await?
        .success()?;
        logged_in(&login)?;
        let balance = send("balance", a.http.get(a.url("/api/v1/get-balance")))
            .await
            .and_then(Reply::success)
            .and_then(|r| parse_balance(&r));
        let logout = send("logout", a.http.get(a.url("/logout")))
            .await
            .and_then(Reply::success);
        if let Err(e) = logout {
            tracing::warn!(error = %e, "logout failed; the session will expire on the portal");
        }
        balance
    }
}

/// Whether the login answer says `resultCode: 0`.
pub fn logged_in(reply: &Reply) -> Result<(), Failure> {
    let v = reply.json()?;
    match v.get("resultCode").and_then(Value::as_i64) {
        Some(0) => Ok(()),
        code => {
            let why = message(&v, "/message");
            if v.get("captchaRequired").is_some_and(|c| c == true) || mentions_captcha(&why) {
                return Err(Failure::Captcha(format!("login: {why}")));
            }
            Err(Failure::CannotProceed(format!(
                "login refused (resultCode {}): {why}",
                code.map_or_else(|| "missing".to_owned(), |c| c.to_string())
            )))
        }
    }
}

/// `{"statusCode":0,"accountBalance":…}`.
pub fn parse_balance(reply: &Reply) -> Result<Balance, Failure> {
    let v = reply.json()?;
    if v.get("statusCode").and_then(Value::as_i64) != Some(0) {
        return Err(Failure::Parsing(format!(
            "balance: statusCode {}",
            v.get("statusCode")
                .map_or("missing".to_owned(), Value::to_string)
        )));
    }
    v.get("accountBalance")
        .and_then(number::json)
        .map(Balance::of)
        .ok_or_else(|| Failure::Parsing("balance: no number at accountBalance".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_and_balance() {
        let l = |body: &str| logged_in(&Reply::fake("login", 200, body));
        assert_eq!(l(r#"{"resultCode":0}"#), Ok(()));
        assert!(matches!(
            l(r#"{"resultCode":1,"message":"Неверный номер договора или пароль"}"#),
            Err(Failure::CannotProceed(_))
        ));
        assert!(matches!(
            l(r#"{"resultCode":2,"message":"Введите код с картинки"}"#),
            Err(Failure::Captcha(_))
        ));
        let b = |body: &str| parse_balance(&Reply::fake("balance", 200, body)).map(|b| b.value);
        assert_eq!(b(r#"{"statusCode":0,"accountBalance":0}"#), Ok(0.0));
        assert_eq!(b(r#"{"statusCode":0,"accountBalance":-99.9}"#), Ok(-99.9));
        assert!(matches!(b(r#"{"statusCode":5}"#), Err(Failure::Parsing(_))));
    }
}
