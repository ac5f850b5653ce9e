//! Almatel (almatel.ru): a form login that answers `{"ok": true}` and a session cookie,
//! then the cabinet page, where the balance is in Russian notation (`1 234,56 ₽`). The
//! original read it with an XPath that required the exact class attribute and parsed it
//! with the OS's ru_RU locale (not installed: the exporter did not start); here a CSS
//! selector tolerant of added classes finds it and the number is parsed without a
//! locale. The flow has no logout.

use scraper::{Html, Selector};

use super::http::{mentions_captcha, message, send};
use super::{Account, Balance, Failure, Provider, number};

pub struct Almatel;

impl Provider for Almatel {
    const NAME: &'static str = "AlmatelRussia";
    const BASE_URL: &'static str = "https://almatel.ru";

    async fn poll(a: &Account<'_>) -> Result<Balance, Failure> {
        let login_url = a.url("/lk/login.php");
        let reply = send(
            "login",
            a.http
                .post(&login_url)
                .header("Referer", &login_url)
                .header("X-Requested-With", "XMLHttpRequest")
                .form(&[("login", a.identifier), ("password", a.secret.expose())]),
        )
        .await?
        .success()?;
        let v = reply.json()?;
        if v.get("ok") != Some(&serde_json::Value::Bool(true)) {
            let why = message(&v, "/error");
            if v.get("captcha").is_some_and(|c| c == true) || mentions_captcha(&why) {
                return Err(Failure::Captcha(format!("login: {why}")));
            }
            return Err(Failure::CannotProceed(format!("login refused: {why}")));
        }
        let page = send("cabinet", a.http.get(a.url("/lk/")))
            .await?
            .success()?;
        parse_page(&page.text())
    }
}

/// Finds the balance on the cabinet page.
pub fn parse_page(html: &str) -> Result<Balance, Failure> {
    // Both selectors are constants; they parse.
    let (Ok(balance), Ok(login_form)) = (
        Selector::parse(".lk__profile-balance .question-block-value"),
        Selector::parse("form input[name=login]"),
    ) else {
        return Err(Failure::Parsing("cabinet: selector".into()));
    };
    let doc = Html::parse_document(html);
    let Some(node) = doc.select(&balance).next() else {
        if doc.select(&login_form).next().is_some() {
            return Err(Failure::CannotProceed(
                "cabinet: the login form came back (session not accepted)".into(),
            ));
        }
        return Err(Failure::Parsing(
            "cabinet: no balance on the page (.lk__profile-balance .question-block-value)".into(),
        ));
    };
    let text: String = node.text().collect();
    number::russian(&text)
        .map(Balance::of)
        .ok_or_else(|| Failure::Parsing(format!("cabinet: {:?} is not a number", text.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<html><body><div class="lk__profile">
      <div class="lk__profile--block lk__profile-name"><div><div><span class="question-block-value">Иванов</span></div></div></div>
      <div class="lk__profile--block lk__profile-balance extra"><div><div>
        <span class="question-block-title">Баланс</span><span class="question-block-value">1&nbsp;234,56 ₽</span>
      </div></div></div></div></body></html>"#;

    #[test]
    fn balance_from_the_page() {
        assert_eq!(parse_page(PAGE).map(|b| b.value), Ok(1234.56));
        let negative = PAGE.replace("1&nbsp;234,56", "-15,00");
        assert_eq!(parse_page(&negative).map(|b| b.value), Ok(-15.0));
        let zero = PAGE.replace("1&nbsp;234,56", "0,00");
        assert_eq!(parse_page(&zero).map(|b| b.value), Ok(0.0));
    }

    #[test]
    fn pages_without_a_balance() {
        assert!(matches!(
            parse_page("<html><body>Технические работы</body></html>"),
            Err(Failure::Parsing(_))
        ));
        assert!(matches!(
            parse_page(r#"<form action="/lk/login.php"><input name="login"></form>"#),
            Err(Failure::CannotProceed(_))
        ));
        let garbage = PAGE.replace("1&nbsp;234,56 ₽", "нет данных");
        assert!(matches!(parse_page(&garbage), Err(Failure::Parsing(_))));
    }
}
