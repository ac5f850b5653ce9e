//! reaction's state through its command line, like the original: `reaction -V`,
//! `reaction show` (pending actions) and `reaction test-config` (names and patterns).
//! Run in the background on an interval with a timeout, never inside a scrape.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

use crate::labels::LabelPlan;
use crate::topology::Topology;

#[derive(Debug, Clone)]
pub struct ReactionCli {
    pub command: PathBuf,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` timed out after {timeout:?}")]
    Timeout { command: String, timeout: Duration },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("`{command}` printed something unexpected: {detail}")]
    Output { command: String, detail: String },
}

impl ReactionCli {
    async fn run(&self, args: &[&str]) -> Result<String, CliError> {
        let command = format!("{} {}", self.command.display(), args.join(" "));
        let child = Command::new(&self.command)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(self.timeout, child)
            .await
            .map_err(|_| CliError::Timeout {
                command: command.clone(),
                timeout: self.timeout,
            })?
            .map_err(|source| CliError::Spawn {
                command: command.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(CliError::Failed {
                command,
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr)
                    .trim()
                    .chars()
                    .take(500)
                    .collect(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `reaction -V` prints `reaction <version>`.
    pub async fn version(&self) -> Result<String, CliError> {
        let out = self.run(&["-V"]).await?;
        parse_version(&out).ok_or_else(|| CliError::Output {
            command: "reaction -V".into(),
            detail: out.trim().chars().take(100).collect(),
        })
    }

    pub async fn show(&self) -> Result<String, CliError> {
        let socket = self.socket.display().to_string();
        self.run(&["show", "--socket", &socket]).await
    }

    pub async fn test_config(&self) -> Result<Topology, CliError> {
        let config = self.config.display().to_string();
        let out = self.run(&["test-config", "-c", &config]).await?;
        Topology::parse(&out).map_err(|e| CliError::Output {
            command: "reaction test-config".into(),
            detail: e.to_string(),
        })
    }
}

pub fn parse_version(out: &str) -> Option<String> {
    let mut words = out.split_whitespace();
    match (words.next(), words.next()) {
        (Some(_), Some(v)) => Some(v.to_owned()),
        (Some(v), None) if v.starts_with(|c: char| c.is_ascii_digit()) => Some(v.to_owned()),
        _ => None,
    }
}

/// One pending action of one match, from `reaction show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub stream: String,
    pub filter: String,
    pub action: String,
    pub labels: Vec<(String, String)>,
    /// How many runs of this action are waiting.
    pub runs: usize,
    /// How many distinct actions are waiting for this match (the original's value).
    pub actions_of_match: usize,
}

/// Parses `reaction show` (YAML: stream → filter → match key → {matches, actions:
/// {action: [times]}}). The key is the matches joined by spaces; it is split only when
/// that gives as many parts as the filter has patterns, so a match containing a space
/// stays whole for a one-pattern filter.
pub fn parse_show(
    yaml: &str,
    topology: &Topology,
    labels: &LabelPlan,
    extra: bool,
) -> Result<Vec<Pending>, String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let Some(streams) = doc.as_mapping() else {
        return if doc.is_null() {
            Ok(out)
        } else {
            Err("not a map of streams".into())
        };
    };
    for (stream, filters) in streams {
        let Some(stream) = stream.as_str() else {
            continue;
        };
        for (filter, keys) in filters.as_mapping().into_iter().flatten() {
            let Some(filter) = filter.as_str() else {
                continue;
            };
            for (key, entry) in keys.as_mapping().into_iter().flatten() {
                let key = match key {
                    serde_yaml::Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                let Some(actions) = entry.get("actions").and_then(serde_yaml::Value::as_mapping)
                else {
                    continue;
                };
                let pending: Vec<(String, usize)> = actions
                    .iter()
                    .filter_map(|(a, times)| {
                        let n = times.as_sequence().map_or(1, Vec::len);
                        a.as_str().filter(|_| n > 0).map(|a| (a.to_owned(), n))
                    })
                    .collect();
                let pattern_labels = if extra {
                    let patterns = topology
                        .filter(stream, filter)
                        .map(|f| f.patterns.clone())
                        .unwrap_or_default();
                    let parts: Vec<String> = if patterns.len() > 1 {
                        key.split(' ').map(str::to_owned).collect()
                    } else {
                        vec![key.clone()]
                    };
                    labels
                        .labels_owned(stream, filter, &patterns, &parts)
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                for (action, runs) in &pending {
                    out.push(Pending {
                        stream: stream.to_owned(),
                        filter: filter.to_owned(),
                        action: action.clone(),
                        labels: pattern_labels.clone(),
                        runs: *runs,
                        actions_of_match: pending.len(),
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Metrics;

    #[test]
    fn versions() {
        assert_eq!(parse_version("reaction 2.2.1\n").as_deref(), Some("2.2.1"));
        assert_eq!(parse_version("2.4.0").as_deref(), Some("2.4.0"));
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn show_output() {
        let topology = Topology::parse(
            "patterns: {ip: {}, user: {}}\nstreams:\n  ssh:\n    filters:\n      failedlogin:\n        regex: ['<ip>']\n      multi:\n        regex: ['<user> <ip>']\n",
        )
        .expect("topology");
        let labels = LabelPlan::new(&Metrics::default()).expect("labels");
        let show = r#"
ssh:
  failedlogin:
    1.2.3.4:
      actions:
        unban:
          - "2025-06-01 12:00:00"
          - "2025-06-01 13:00:00"
        notify:
          - "2025-06-01 12:00:00"
    5.6.7.8:
      matches: 2
  multi:
    9.9.9.9 bob:
      actions:
        unban: ["2025-06-01 12:00:00"]
"#;
        let p = parse_show(show, &topology, &labels, true).expect("parse");
        assert_eq!(p.len(), 3);
        let unban = p
            .iter()
            .find(|p| p.action == "unban" && p.filter == "failedlogin")
            .expect("unban");
        assert_eq!(unban.runs, 2);
        assert_eq!(unban.actions_of_match, 2);
        assert_eq!(unban.labels, [("ip".to_owned(), "1.2.3.4".to_owned())]);
        let multi = p.iter().find(|p| p.filter == "multi").expect("multi");
        assert_eq!(
            multi.labels,
            [
                ("ip".to_owned(), "9.9.9.9".to_owned()),
                ("user".to_owned(), "bob".to_owned())
            ]
        );
        assert!(
            parse_show("{}", &topology, &labels, true)
                .expect("empty")
                .is_empty()
        );
        assert!(
            parse_show("", &topology, &labels, true)
                .expect("empty")
                .is_empty()
        );
        assert!(parse_show("- a", &topology, &labels, true).is_err());
    }
}
