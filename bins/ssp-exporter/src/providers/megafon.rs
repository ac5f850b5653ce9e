//! MegaFon (mobile, the "react_lk" web cabinet's API): a session check that sets the
//! `NEW-CSRF-TOKEN` cookie, a form login with that token in `X-CSRF-TOKEN` that answers
//! a JWT, the balance with the JWT in `X-Cabinet-Authorization`, and a logout. The
//! login's refusals are told apart by their texts and decided once (the original let
//! "cannot proceed" overwrite its captcha and rate-limit findings); a balance of 0 is a
//! balance; a failed logout is logged and does not replace the balance.

use serde_json::Value;

use super::http::{Reply, send};
use super::{Account, Balance, Failure, Provider, number};

pub struct Megafon;

/// A login answer's text and the failure it means.
type Refusal = (&'static str, fn(String) -> Failure);

/// Login answers' texts, in the original's order of checking.
const REFUSALS: [Refusal; 5] = [
    ("Неправильный формат телефона", Failure::CannotProceed),
    (
        "Неправильный номер телефона или пароль",
        Failure::CannotProceed,
    ),
    ("Введите код с картинки", Failure::Captcha),
    ("Как получить пароль", Failure::CannotProceed),
    (
        "Превышено количество попыток входа с использованием пароля",
        Failure::RateLimit,
    ),
];

fn with_headers(r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    r.header("X-App-Type", "react_lk")
        .header("X-Cabinet-Capabilities", "web-2020")
}

impl Provider for Megafon {
    const NAME: &'static str = "MegafonRussiaB2C";
    const BASE_URL: &'static str = "https://api.megafon.ru";

    async fn poll(a: &Account<'_>) -> Result<Balance, Failure> {
        let check = send(
            "sessionCheck",
            with_headers(a.http.get(a.url("/mlk/api/auth/sessionCheck"))),
        )
        .await?
        .success()?;
        let csrf = check.cookie("NEW-CSRF-TOKEN").ok_or_else(|| {
            Failure::CannotProceed("sessionCheck: no NEW-CSRF-TOKEN cookie".into())
        })?;
        let login = send(
            "login",
            with_headers(a.http.post(a.url("/mlk/api/login")))
                .header("X-CSRF-TOKEN", csrf)
                .form(&[("login", a.identifier), ("password", a.secret.expose())]),
        )
        .await?;
        let jwt = jwt(login)?;
        let balance = send(
            "balance",
            with_headers(a.http.get(a.url("/mlk/api/main/balance")))
                .header("X-Cabinet-Authorization", format!("Bearer {jwt}")),
        )
        .await
        .and_then(Reply::success)
        .and_then(|r| parse_balance(&r));
        // Log out whatever the balance step gave; its failure is only logged.
        let logout = send(
            "logout",
            with_headers(a.http.get(a.url("/mlk/api/logout")))
                .header("X-Cabinet-Authorization", format!("Bearer {jwt}")),
        )
        .await
        .and_then(Reply::success);
        if let Err(e) = logout {
            tracing::warn!(error = %e, "logout failed; the session will expire on the portal");
        }
        balance
    }
}

/// The JWT of a login answer, or the refusal its text names.
pub fn jwt(reply: Reply) -> Result<String, Failure> {
    let text = reply.text();
    for (needle, failure) in REFUSALS {
        if text.contains(needle) {
            return Err(failure(format!("login: {needle}")));
        }
    }
    let reply = reply.success()?;
    let v = reply.json()?;
    v.get("jwtToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Failure::CannotProceed("login: no jwtToken in the answer".into()))
}

/// The balance answer: `balanceWithLimit` (the money available, credit limit included).
pub fn parse_balance(reply: &Reply) -> Result<Balance, Failure> {
    let v = reply.json()?;
    v.get("balanceWithLimit")
        .and_then(number::json)
        .map(Balance::of)
        .ok_or_else(|| Failure::Parsing("balance: no number at balanceWithLimit".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_refusals_are_told_apart() {
        let login = |status, body: &str| jwt(Reply::fake("login", status, body));
        assert_eq!(login(200, r#"{"jwtToken":"j"}"#), Ok("j".into()));
        assert!(matches!(
            login(400, r#"{"message":"Введите код с картинки"}"#),
            Err(Failure::Captcha(_))
        ));
        assert!(matches!(
            login(
                400,
                r#"{"message":"Превышено количество попыток входа с использованием пароля. Попробуйте позже"}"#
            ),
            Err(Failure::RateLimit(_))
        ));
        assert!(matches!(
            login(400, r#"{"message":"Неправильный номер телефона или пароль"}"#),
            Err(Failure::CannotProceed(m)) if m.contains("пароль")
        ));
        assert!(matches!(
            login(200, r#"{"name":"x"}"#),
            Err(Failure::CannotProceed(_))
        ));
        assert!(matches!(login(200, "<html>"), Err(Failure::Parsing(_))));
        assert!(matches!(login(502, ""), Err(Failure::NoAnswer(_))));
    }

    #[test]
    fn zero_is_a_balance() {
        let b = |body: &str| parse_balance(&Reply::fake("balance", 200, body)).map(|b| b.value);
        assert_eq!(b(r#"{"balance":1,"balanceWithLimit":0}"#), Ok(0.0));
        assert_eq!(b(r#"{"balanceWithLimit":-40.1}"#), Ok(-40.1));
        assert!(matches!(b(r#"{"balance":1}"#), Err(Failure::Parsing(_))));
    }
}
