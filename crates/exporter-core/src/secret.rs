//! A string that never shows itself: not in `Debug`, `Display`, serialisation (and so not
//! in `--config.check` output), logs or error messages. Only [`Secret::expose`] reveals it.

use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

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

/// Where an exporter's config says a secret is: inline, in a file, in an environment
/// variable, or printed by a command (run without a shell, e.g. a vault client). The
/// config keys are the exporter's (`password`, `password_file`, …); reading is shared.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretSource<'a> {
    pub inline: Option<&'a Secret>,
    pub file: Option<&'a Path>,
    pub env: Option<&'a str>,
    pub command: &'a [String],
}

impl SecretSource<'_> {
    /// How many sources are given (a config should give at most one).
    pub fn count(&self) -> usize {
        usize::from(self.inline.is_some())
            + usize::from(self.file.is_some())
            + usize::from(self.env.is_some())
            + usize::from(!self.command.is_empty())
    }

    /// Reads the secret (`None` if no source is given), without blocking the runtime; a
    /// command gets `timeout`. A trailing newline is dropped. Errors never contain the
    /// secret, nor a failing command's output (a secret tool may echo what it read).
    pub async fn read(&self, timeout: Duration) -> Result<Option<Secret>, String> {
        let trim = |s: &str| Secret::new(s.trim_end_matches(['\r', '\n']));
        if let Some(s) = self.inline {
            return Ok(Some(s.clone()));
        }
        if let Some(path) = self.file {
            let text = tokio::fs::read_to_string(path)
                .await
                .map_err(|e| format!("password file {}: {e}", path.display()))?;
            return Ok(Some(trim(&text)));
        }
        if let Some(var) = self.env {
            return std::env::var(var)
                .map(Secret::new)
                .map(Some)
                .map_err(|_| format!("environment variable {var} is not set"));
        }
        let Some(program) = self.command.first() else {
            return Ok(None);
        };
        let run = tokio::process::Command::new(program)
            .args(&self.command[1..])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| format!("password command {program:?} did not finish in {timeout:?}"))?
            .map_err(|e| format!("password command {program:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "password command {program:?} failed ({})",
                out.status
            ));
        }
        Ok(Some(trim(&String::from_utf8_lossy(&out.stdout))))
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

    async fn read(s: SecretSource<'_>) -> Result<Option<String>, String> {
        s.read(Duration::from_secs(5))
            .await
            .map(|o| o.map(|s| s.expose().to_owned()))
    }

    #[tokio::test]
    async fn sources() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").expect("write");
        assert_eq!(
            read(SecretSource {
                file: Some(&file),
                ..Default::default()
            })
            .await,
            Ok(Some("from-file".into()))
        );
        let cmd = ["printf".to_owned(), "from-cmd\n".to_owned()];
        assert_eq!(
            read(SecretSource {
                command: &cmd,
                ..Default::default()
            })
            .await,
            Ok(Some("from-cmd".into()))
        );
        assert_eq!(read(SecretSource::default()).await, Ok(None));
        let fails = [
            "sh".to_owned(),
            "-c".to_owned(),
            "echo hunter2; exit 3".to_owned(),
        ];
        let e = read(SecretSource {
            command: &fails,
            ..Default::default()
        })
        .await
        .expect_err("fails");
        assert!(!e.contains("hunter2") && e.contains("failed"), "{e}");
        let e = read(SecretSource {
            env: Some("EXPORTER_CORE_TEST_UNSET"),
            ..Default::default()
        })
        .await
        .expect_err("unset");
        assert!(e.contains("EXPORTER_CORE_TEST_UNSET"), "{e}");
        let slow = ["sleep".to_owned(), "5".to_owned()];
        let e = SecretSource {
            command: &slow,
            ..Default::default()
        }
        .read(Duration::from_millis(100))
        .await
        .expect_err("slow");
        assert!(e.contains("did not finish"), "{e}");
    }
}
