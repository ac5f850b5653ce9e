//! The modem's JSON answers (`/data/<name>.asp`): an array of records, or a bare object
//! (`system_model.asp`), whose values are strings (sometimes numbers). Parsed loosely,
//! field by field, so that a firmware adding or dropping a field loses only that field.

use std::collections::BTreeMap;

use serde_json::Value;

/// One record: field name → value as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record(BTreeMap<String, String>);

impl Record {
    /// A field's text (`""` when missing).
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("not JSON ({0})")]
    NotJson(String),
    #[error("unexpected JSON shape: {0}")]
    Shape(&'static str),
}

fn record(obj: &serde_json::Map<String, Value>) -> Record {
    Record(
        obj.iter()
            .filter_map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k.clone(), text))
            })
            .collect(),
    )
}

/// Parses an endpoint's body into records (a bare object is one record).
pub fn parse(body: &[u8]) -> Result<Vec<Record>, RecordError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| RecordError::NotJson(e.to_string()))?;
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Object(o) => Ok(record(o)),
                _ => Err(RecordError::Shape("an array of non-objects")),
            })
            .collect(),
        Value::Object(o) => Ok(vec![record(&o)]),
        _ => Err(RecordError::Shape("neither an array nor an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_objects_numbers_and_garbage() {
        let r = parse(br#"[{"a":"1","b":2,"c":null}]"#).expect("array");
        assert_eq!(
            (r[0].get("a"), r[0].get("b"), r[0].get("c")),
            ("1", "2", "")
        );
        assert!(!r[0].has("c"));
        let o = parse(br#"{"modelName":"CGNV4-FX4"}"#).expect("object");
        assert_eq!(o[0].get("modelName"), "CGNV4-FX4");
        assert!(matches!(parse(b"<html>"), Err(RecordError::NotJson(_))));
        assert_eq!(
            parse(b"[1]"),
            Err(RecordError::Shape("an array of non-objects"))
        );
        assert_eq!(
            parse(b"3"),
            Err(RecordError::Shape("neither an array nor an object"))
        );
    }
}
