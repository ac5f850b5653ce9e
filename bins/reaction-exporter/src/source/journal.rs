//! Following reaction's journal through `journalctl --follow --output=json`.
//!
//! Why a child process: the `systemd-journal-reader` crate reads closed journal files
//! only (no follow, no cursors, no merging of rotated files), and linking libsystemd
//! would tie the binary to it. journalctl follows across rotation, merges files, and
//! resumes exactly after a cursor (`--after-cursor`), which is what the checkpoint
//! stores. vector's journald source works the same way.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

use crate::pipeline::{Batch, Engine, Line, Position};

#[derive(Debug, Clone)]
pub struct JournalSource {
    pub journalctl: PathBuf,
    /// `_SYSTEMD_UNIT` to read, e.g. `reaction.service` or `reaction@reaction.jsonnet.service`.
    pub unit: String,
    /// A journal directory instead of the system journal.
    pub directory: Option<PathBuf>,
}

/// Why an entry was not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("not a JSON object: {0}")]
    Json(String),
    #[error("entry without __CURSOR")]
    NoCursor,
}

impl JournalSource {
    /// journalctl's arguments: resume after `cursor`, or start with new entries only.
    pub fn args(&self, cursor: Option<&str>) -> Vec<String> {
        let mut args = vec![
            "--follow".to_owned(),
            "--output=json".to_owned(),
            "--all".to_owned(),
            "--no-pager".to_owned(),
            "--quiet".to_owned(),
        ];
        if let Some(dir) = &self.directory {
            args.push(format!("--directory={}", dir.display()));
        }
        match cursor {
            // `--follow` implies `--lines=10`: without `--lines=all` a backlog after the
            // cursor would be cut to its last 10 entries.
            Some(c) => {
                args.push("--lines=all".to_owned());
                args.push(format!("--after-cursor={c}"));
            }
            None => args.push("--lines=0".to_owned()),
        }
        // An exact field match: `-u` would also pick up systemd's own lines about the unit.
        args.push(format!("_SYSTEMD_UNIT={}", self.unit));
        args
    }

    /// Runs until `stop`, restarting journalctl (after the last processed cursor) if it
    /// exits. `resume` is the cursor to start after, if any.
    pub async fn run(
        self,
        engine: Arc<Mutex<Engine>>,
        resume: Option<String>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut cursor = resume;
        let mut backoff = Duration::from_secs(1);
        loop {
            let args = self.args(cursor.as_deref());
            tracing::info!(journalctl = %self.journalctl.display(), unit = %self.unit, resume = cursor.is_some(), "following the journal");
            let child = Command::new(&self.journalctl)
                .args(&args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn();
            match child {
                Ok(mut child) => {
                    let stopped = self.pump(&mut child, &engine, &mut stop).await;
                    let _ = child.start_kill();
                    let status = child.wait().await;
                    if stopped {
                        return;
                    }
                    let mut err = String::new();
                    if let Some(mut stderr) = child.stderr.take() {
                        use tokio::io::AsyncReadExt;
                        let _ = stderr.read_to_string(&mut err).await;
                    }
                    tracing::warn!(status = ?status.ok(), stderr = %err.trim(), "journalctl ended; restarting");
                }
                Err(e) => {
                    tracing::error!(error = %e, journalctl = %self.journalctl.display(), "cannot run journalctl");
                }
            }
            cursor = match &engine
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .position
            {
                Some(Position::Journal { cursor }) => Some(cursor.clone()),
                _ => cursor,
            };
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// Reads entries until journalctl ends (false) or `stop` fires (true).
    async fn pump(
        &self,
        child: &mut tokio::process::Child,
        engine: &Arc<Mutex<Engine>>,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let Some(stdout) = child.stdout.take() else {
            return false;
        };
        let mut lines = BufReader::with_capacity(256 * 1024, stdout).lines();
        let mut batch = Batch::default();
        loop {
            // Fill the batch with what is already there; flush when the pipe is idle.
            let next = if batch.is_empty() {
                tokio::select! {
                    l = lines.next_line() => l,
                    _ = stop.changed() => return true,
                }
            } else if let Ok(l) = tokio::time::timeout(Duration::ZERO, lines.next_line()).await {
                l
            } else {
                super::process_batch(engine, std::mem::take(&mut batch));
                continue;
            };
            if let Ok(Some(json)) = next {
                match parse_entry(&json) {
                    Ok(line) => {
                        batch.push_line(line);
                        if batch.len() >= super::BATCH {
                            super::process_batch(engine, std::mem::take(&mut batch));
                            tokio::task::yield_now().await;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "unusable journal entry"),
                }
            } else {
                super::process_batch(engine, batch);
                return false;
            }
        }
    }
}

/// One line of `journalctl --output=json`: MESSAGE (a string, or an array of bytes when
/// it is not UTF-8), __CURSOR, __REALTIME_TIMESTAMP (microseconds, as a string).
pub fn parse_entry(json: &str) -> Result<Line, EntryError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| EntryError::Json(e.to_string()))?;
    let cursor = v
        .get("__CURSOR")
        .and_then(serde_json::Value::as_str)
        .ok_or(EntryError::NoCursor)?
        .to_owned();
    let time_us = v
        .get("__REALTIME_TIMESTAMP")
        .and_then(serde_json::Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let text = match v.get("MESSAGE") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(bytes)) => {
            let raw: Vec<u8> = bytes
                .iter()
                .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            String::from_utf8_lossy(&raw).into_owned()
        }
        _ => String::new(),
    };
    Ok(Line {
        text,
        time_us,
        position: Position::Journal { cursor },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_string_bytes_and_broken() {
        let l = parse_entry(r#"{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1700000000123456","MESSAGE":"INFO a.b: match [\"x\"]","_SYSTEMD_UNIT":"reaction.service"}"#)
            .expect("entry");
        assert_eq!(l.text, r#"INFO a.b: match ["x"]"#);
        assert_eq!(l.time_us, 1_700_000_000_123_456);
        assert_eq!(
            l.position,
            Position::Journal {
                cursor: "s=1;i=2".into()
            }
        );
        let bytes =
            parse_entry(r#"{"__CURSOR":"c","MESSAGE":[73,78,70,79,32,255]}"#).expect("bytes");
        assert_eq!(bytes.text, "INFO \u{fffd}");
        assert_eq!(
            parse_entry(r#"{"MESSAGE":"x"}"#).map(|_| ()),
            Err(EntryError::NoCursor)
        );
        assert!(parse_entry("not json").is_err());
    }

    #[test]
    fn arguments() {
        let s = JournalSource {
            journalctl: "journalctl".into(),
            unit: "reaction@reaction.jsonnet.service".into(),
            directory: Some("/var/log/journal".into()),
        };
        let a = s.args(Some("s=abc"));
        assert!(a.contains(&"--after-cursor=s=abc".to_owned()));
        assert!(
            a.contains(&"--lines=all".to_owned()),
            "a backlog is not cut to 10"
        );
        assert!(a.contains(&"--directory=/var/log/journal".to_owned()));
        assert_eq!(
            a.last().map(String::as_str),
            Some("_SYSTEMD_UNIT=reaction@reaction.jsonnet.service")
        );
        assert!(s.args(None).contains(&"--lines=0".to_owned()));
    }
}
