//! A string that never shows itself: not in `Debug`, `Display`, serialisation (and so not
//! in `--config.check` output), logs or error messages. Only [`Secret::expose`] reveals it.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};

/// What a secret prints as.
pub const REDACTED: &str = "<redacted>";

#[derive(Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
#[schemars(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself. Call it only where the value is used (a request, a hash check).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(")?;
        f.write_str(REDACTED)?;
        f.write_str(")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // An empty secret is "not set" and stays distinguishable from a set one.
        serializer.serialize_str(if self.0.is_empty() { "" } else { REDACTED })
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: zero the bytes before the allocation is freed.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), REDACTED);
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&s).expect("json").contains("hunter2"));
        assert_eq!(
            serde_json::to_string(&Secret::default()).expect("json"),
            "\"\""
        );
        assert_eq!(s.expose(), "hunter2");
        let back: Secret = serde_json::from_str("\"x\"").expect("de");
        assert_eq!(back.expose(), "x");
    }
}
