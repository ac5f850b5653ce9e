//! A provider defined in the config, without code: an optional login step (its cookies
//! are kept, and a token can be taken from its JSON answer), the balance step (a number
//! found by JSON pointer or by a regex's first group, in plain or Russian notation), and
//! an optional logout. `{identifier}`, `{password}` and `{token}` are replaced in paths
//! (percent-encoded there), headers, form fields and JSON string values.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::{Reply, encode, mentions_captcha, send};
use super::{Account, Balance, Failure, number};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The portal's base URL; the steps' paths are relative to it.
    pub base_url: String,
    /// Logs in first (cookies are kept for the next steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<Step>,
    /// Fetches the balance.
    pub balance: Step,
    /// Logs out last (a failure is only logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout: Option<Step>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
}

/// How the number is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NumberFormat {
    /// `1234.56`
    #[default]
    Plain,
    /// `1 234,56` (any space groups digits, `,` or `.` is the decimal mark).
    Russian,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub method: Method,
    /// Path below `base_url`, e.g. `/api/v1/balance?account={identifier}`.
    pub path: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A form-urlencoded body.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub form: BTreeMap<String, String>,
    /// A JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// Login only: where the token is in the JSON answer (RFC 6901 pointer, e.g.
    /// `/data/token`); then `{token}` can be used in the next steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_pointer: Option<String>,
    /// Balance only: where the number is in the JSON answer (RFC 6901 pointer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_pointer: Option<String>,
    /// Balance only: a regex over the answer's text whose first group is the number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Balance only.
    #[serde(default)]
    pub number_format: NumberFormat,
    /// Balance only: the portal reports what is owed as positive (export `-value`).
    #[serde(default)]
    pub negate: bool,
}

impl Definition {
    /// Checks what serde cannot; errors name the key below `providers.<name>`.
    pub fn check(&self) -> Result<(), String> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err("base_url: must start with http:// or https://".into());
        }
        let b = &self.balance;
        match (&b.json_pointer, &b.regex) {
            (Some(_), Some(_)) | (None, None) => {
                return Err("balance: give exactly one of json_pointer, regex".into());
            }
            (Some(p), None) if !p.starts_with('/') => {
                return Err(format!(
                    "balance.json_pointer: {p:?} is not a JSON pointer (it starts with /)"
                ));
            }
            (None, Some(r)) => match regex::Regex::new(r) {
                Err(e) => return Err(format!("balance.regex: {e}")),
                Ok(re) if re.captures_len() < 2 => {
                    return Err("balance.regex: needs a capture group for the number".into());
                }
                Ok(_) => {}
            },
            _ => {}
        }
        let token = self.login.as_ref().and_then(|l| l.token_pointer.as_ref());
        if let Some(p) = token
            && !p.starts_with('/')
        {
            return Err(format!("login.token_pointer: {p:?} is not a JSON pointer"));
        }
        for (name, step) in [
            ("login", self.login.as_ref()),
            ("balance", Some(b)),
            ("logout", self.logout.as_ref()),
        ] {
            let Some(step) = step else { continue };
            if !step.path.starts_with('/') {
                return Err(format!("{name}.path: must start with /"));
            }
            if !step.form.is_empty() && step.json.is_some() {
                return Err(format!("{name}: give form or json, not both"));
            }
            if token.is_none() && step.mentions("{token}") {
                return Err(format!(
                    "{name}: uses {{token}} but login.token_pointer is not set"
                ));
            }
            if name != "balance"
                && (step.json_pointer.is_some() || step.regex.is_some() || step.negate)
            {
                return Err(format!(
                    "{name}: json_pointer, regex and negate belong to the balance step"
                ));
            }
            if name != "login" && step.token_pointer.is_some() {
                return Err(format!("{name}.token_pointer: belongs to the login step"));
            }
        }
        Ok(())
    }

    pub async fn poll(&self, a: &Account<'_>) -> Result<Balance, Failure> {
        let mut vars = Vars {
            identifier: a.identifier,
            password: a.secret.expose(),
            token: String::new(),
        };
        if let Some(login) = &self.login {
            let reply = send("login", login.request(a, &vars)).await?.success()?;
            if let Some(p) = &login.token_pointer {
                let v = reply.json()?;
                vars.token = v
                    .pointer(p)
                    .and_then(|t| match t {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        if mentions_captcha(&reply.text()) {
                            Failure::Captcha("login: the answer asks for a captcha".into())
                        } else {
                            Failure::CannotProceed(format!("login: no token at {p} in the answer"))
                        }
                    })?;
            }
        }
        let balance = send("balance", self.balance.request(a, &vars))
            .await
            .and_then(Reply::success)
            .and_then(|r| self.balance.extract(&r));
        if let Some(logout) = &self.logout
            && let Err(e) = send("logout", logout.request(a, &vars))
                .await
                .and_then(Reply::success)
        {
            tracing::warn!(error = %e, "logout failed; the session will expire on the portal");
        }
        balance
    }
}

struct Vars<'a> {
    identifier: &'a str,
    password: &'a str,
    token: String,
}

impl Vars<'_> {
    fn fill(&self, s: &str) -> String {
        s.replace("{identifier}", self.identifier)
            .replace("{token}", &self.token)
            .replace("{password}", self.password)
    }

    fn fill_encoded(&self, s: &str) -> String {
        s.replace("{identifier}", &encode(self.identifier))
            .replace("{token}", &encode(&self.token))
            .replace("{password}", &encode(self.password))
    }

    fn fill_json(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.fill(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.fill_json(v)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), self.fill_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

impl Step {
    fn mentions(&self, var: &str) -> bool {
        self.path.contains(var)
            || self.headers.values().any(|v| v.contains(var))
            || self.form.values().any(|v| v.contains(var))
            || self
                .json
                .as_ref()
                .is_some_and(|j| j.to_string().contains(var))
    }

    fn request(&self, a: &Account<'_>, vars: &Vars<'_>) -> reqwest::RequestBuilder {
        let url = a.url(&vars.fill_encoded(&self.path));
        let mut r = match self.method {
            Method::Get => a.http.get(url),
            Method::Post => a.http.post(url),
        };
        for (k, v) in &self.headers {
            r = r.header(k, vars.fill(v));
        }
        if !self.form.is_empty() {
            let form: Vec<(&str, String)> = self
                .form
                .iter()
                .map(|(k, v)| (k.as_str(), vars.fill(v)))
                .collect();
            r = r.form(&form);
        }
        if let Some(j) = &self.json {
            r = r.json(&vars.fill_json(j));
        }
        r
    }

    /// The number of the balance answer.
    pub fn extract(&self, reply: &Reply) -> Result<Balance, Failure> {
        let parse = |s: &str| match self.number_format {
            NumberFormat::Plain => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            NumberFormat::Russian => number::russian(s),
        };
        let value = if let Some(p) = &self.json_pointer {
            let v = reply.json()?;
            let found = v
                .pointer(p)
                .ok_or_else(|| Failure::Parsing(format!("balance: nothing at {p}")))?;
            match found {
                Value::String(s) => parse(s),
                other => number::json(other),
            }
            .ok_or_else(|| Failure::Parsing(format!("balance: no number at {p}")))?
        } else {
            let re = regex::Regex::new(self.regex.as_deref().unwrap_or_default())
                .map_err(|e| Failure::Parsing(format!("balance: regex: {e}")))?;
            let text = reply.text();
            let m = re
                .captures(&text)
                .and_then(|c| c.get(1))
                .ok_or_else(|| Failure::Parsing("balance: the regex does not match".into()))?;
            parse(m.as_str()).ok_or_else(|| {
                Failure::Parsing(format!("balance: {:?} is not a number", m.as_str()))
            })?
        };
        Ok(Balance::of(if self.negate { 0.0 - value } else { value }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balance(yaml: &str) -> Step {
        serde_yaml::from_str(yaml).expect("step")
    }

    #[test]
    fn extraction_by_pointer_and_regex() {
        let s = balance("path: /b\njson_pointer: /data/balance\n");
        let r = |b: &str| Reply::fake("balance", 200, b);
        assert_eq!(
            s.extract(&r(r#"{"data":{"balance":12.5}}"#))
                .map(|b| b.value),
            Ok(12.5)
        );
        assert_eq!(
            s.extract(&r(r#"{"data":{"balance":"0"}}"#))
                .map(|b| b.value),
            Ok(0.0)
        );
        assert!(matches!(s.extract(&r("{}")), Err(Failure::Parsing(_))));
        let s = balance(
            "path: /b\nregex: 'Баланс:\\s*([-0-9\\s,]+)'\nnumber_format: russian\nnegate: true\n",
        );
        assert_eq!(
            s.extract(&r("<p>Баланс: 1 234,50 ₽</p>")).map(|b| b.value),
            Ok(-1234.5)
        );
        assert!(matches!(
            s.extract(&r("<p>-</p>")),
            Err(Failure::Parsing(_))
        ));
    }

    #[test]
    fn definitions_are_checked() {
        let d = |yaml: &str| {
            serde_yaml::from_str::<Definition>(yaml)
                .expect("definition")
                .check()
        };
        assert_eq!(
            d("base_url: https://x\nbalance: {path: /b, json_pointer: /v}\n"),
            Ok(())
        );
        assert_eq!(
            d("base_url: https://x\nbalance: {path: /b}\n"),
            Err("balance: give exactly one of json_pointer, regex".into())
        );
        assert!(
            d("base_url: https://x\nbalance: {path: /b, regex: '('}\n")
                .expect_err("regex")
                .starts_with("balance.regex:")
        );
        assert_eq!(
            d("base_url: https://x\nbalance: {path: /b, regex: 'x'}\n"),
            Err("balance.regex: needs a capture group for the number".into())
        );
        assert_eq!(
            d(
                "base_url: https://x\nbalance: {path: /b, json_pointer: /v, headers: {Authorization: 'Bearer {token}'}}\n"
            ),
            Err("balance: uses {token} but login.token_pointer is not set".into())
        );
        assert_eq!(
            d("base_url: ftp://x\nbalance: {path: /b, json_pointer: /v}\n"),
            Err("base_url: must start with http:// or https://".into())
        );
    }

    #[test]
    fn placeholders() {
        let v = Vars {
            identifier: "a b",
            password: "p&w",
            token: "t".into(),
        };
        assert_eq!(
            v.fill_encoded("/x?id={identifier}&k={password}"),
            "/x?id=a%20b&k=p%26w"
        );
        assert_eq!(v.fill("Bearer {token}"), "Bearer t");
        assert_eq!(
            v.fill_json(&serde_json::json!({"u": "{identifier}", "n": [1, "{password}"]})),
            serde_json::json!({"u": "a b", "n": [1, "p&w"]})
        );
    }
}
