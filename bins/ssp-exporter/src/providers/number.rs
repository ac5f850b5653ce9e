//! Numbers as portals write them, parsed without any OS locale.

use serde_json::Value;

/// A JSON number, or a numeric string (Vultr's v1 API and early v2 answered strings);
/// finite only.
pub fn json(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

/// A number in Russian notation as cabinets show it: `1 234,56 ₽`, `-7,00`, `1 234.56`.
/// Every kind of space is a group separator (ASCII, no-break U+00A0, narrow no-break
/// U+202F as glibc's ru_RU has it, thin U+2009), the decimal mark is `,` or `.`, a
/// Unicode minus counts as one, and text after the number (a currency) is ignored.
pub fn russian(text: &str) -> Option<f64> {
    let mut s = String::with_capacity(text.len());
    let mut started = false;
    for c in text.chars() {
        match c {
            '0'..='9' => {
                started = true;
                s.push(c);
            }
            ',' | '.' if started => s.push('.'),
            '-' | '\u{2212}' if !started && s.is_empty() => s.push('-'),
            '+' if !started && s.is_empty() => {}
            c if c.is_whitespace() => {}
            _ if started => break,
            _ => return None,
        }
    }
    let s = s.trim_end_matches('.');
    s.parse().ok().filter(|f: &f64| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_notation_without_a_locale() {
        assert_eq!(russian("1 234,56"), Some(1234.56));
        assert_eq!(russian("1\u{a0}234,56 ₽"), Some(1234.56));
        assert_eq!(russian("1\u{202f}234\u{202f}567,5"), Some(1_234_567.5));
        assert_eq!(russian(" -7,00 руб."), Some(-7.0));
        assert_eq!(russian("\u{2212}12,30"), Some(-12.3));
        assert_eq!(russian("0,00"), Some(0.0));
        assert_eq!(russian("387.32"), Some(387.32));
        assert_eq!(russian("42"), Some(42.0));
        assert_eq!(russian(""), None);
        assert_eq!(russian("нет данных"), None);
        assert_eq!(russian("1,2,3"), None);
    }

    #[test]
    fn json_numbers_and_strings() {
        assert_eq!(json(&serde_json::json!(-1.5)), Some(-1.5));
        assert_eq!(json(&serde_json::json!(" 2.25 ")), Some(2.25));
        assert_eq!(json(&serde_json::json!("x")), None);
        assert_eq!(json(&serde_json::json!(null)), None);
        assert_eq!(json(&serde_json::json!("NaN")), None);
    }
}
