//! reaction 2.x, as far as its exporter sees it: a stand-in `reaction` command answering
//! `-V`, `show` and `test-config`, writers of journal files (through the real
//! `systemd-journal-remote`), and a generator of the log lines reaction prints.
//!
//! The stand-in is a small POSIX shell program reading its answers from files next to
//! it, so a test can change reaction's state (or make it fail) while the exporter runs.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A reaction 2.x configuration as `reaction test-config` prints it: two streams, one
/// with dots in its names (which the Python exporter mis-split).
pub const TEST_CONFIG: &str = r"patterns:
  ip:
    type: ipv4
  user:
    regex: '[a-z]+'
streams:
  ssh:
    cmd: ['journalctl', '-fu', 'ssh.service']
    filters:
      failedlogin:
        regex:
          - '^Failed password for .* from <ip>'
        retry: 3
        retryperiod: 6h
        actions:
          ban:
            cmd: ['nft', 'add', 'element', 'inet', 'reaction', 'v4', '{ <ip> }']
          unban:
            cmd: ['nft', 'delete', 'element', 'inet', 'reaction', 'v4', '{ <ip> }']
            after: 48h
      invaliduser:
        regex:
          - '^Invalid user <user> from <ip>'
        actions:
          notify:
            cmd: ['logger', 'invalid user']
  web.v2:
    cmd: ['tail', '-F', '/var/log/nginx/access.log']
    filters:
      ai.bots:
        regex:
          - '^<ip> .* GPTBot'
        actions:
          ban.long:
            cmd: ['nft', 'add', 'element', 'inet', 'reaction', 'v4', '{ <ip> }']
";

/// `reaction show` for [`TEST_CONFIG`]: one IP with two pending runs of one action, one
/// with a pending action and retries, one only with retries.
pub const SHOW: &str = r#"ssh:
  failedlogin:
    1.2.3.4:
      actions:
        unban:
          - "2026-11-23 12:00:00"
          - "2026-11-23 13:00:00"
    5.6.7.8:
      matches: 2
      actions:
        unban:
          - "2026-11-23 14:00:00"
    9.9.9.9:
      matches: 1
"#;

const SCRIPT: &str = r#"#!/bin/sh
# Stand-in for reaction 2.x: answers from the files next to this script.
d=$(dirname "$0")
echo "$*" >> "$d/calls.log"
case "$1" in
  -V|--version) cat "$d/version" ;;
  show)
    if [ -f "$d/show.fail" ]; then cat "$d/show.fail" >&2; exit 1; fi
    if [ -f "$d/show.sleep" ]; then sleep "$(cat "$d/show.sleep")"; fi
    cat "$d/show.yaml" ;;
  test-config) cat "$d/config.yaml" ;;
  *) echo "error: unknown command: $1" >&2; exit 2 ;;
esac
"#;

/// A stand-in `reaction` command in a directory of its own.
#[derive(Debug)]
pub struct StandIn {
    dir: PathBuf,
}

impl StandIn {
    /// Installs the stand-in into `dir` with reaction 2.2.1, [`TEST_CONFIG`] and [`SHOW`].
    pub fn install(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let script = dir.join("reaction");
        std::fs::write(&script, SCRIPT)?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        let me = Self {
            dir: dir.to_owned(),
        };
        me.set_version("reaction 2.2.1\n")?;
        me.set_config(TEST_CONFIG)?;
        me.set_show(SHOW)?;
        Ok(me)
    }

    /// The command to configure as `exporter.reaction_command`.
    pub fn command(&self) -> PathBuf {
        self.dir.join("reaction")
    }

    pub fn set_version(&self, text: &str) -> std::io::Result<()> {
        std::fs::write(self.dir.join("version"), text)
    }

    pub fn set_config(&self, yaml: &str) -> std::io::Result<()> {
        std::fs::write(self.dir.join("config.yaml"), yaml)
    }

    pub fn set_show(&self, yaml: &str) -> std::io::Result<()> {
        std::fs::write(self.dir.join("show.yaml"), yaml)
    }

    /// Makes `show` fail with `message` on stderr (like a daemon that is down), or work again.
    pub fn fail_show(&self, message: Option<&str>) -> std::io::Result<()> {
        let path = self.dir.join("show.fail");
        match message {
            Some(m) => std::fs::write(path, m),
            None => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }

    /// Every command line the stand-in was called with, one per line.
    pub fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("calls.log")).unwrap_or_default()
    }
}

/// A deterministic stream of reaction 2.x log lines: matches from `distinct_ips`
/// addresses, and every `action_every`-th line a ban action for the last IP.
#[derive(Debug, Clone)]
pub struct LogGen {
    pub distinct_ips: u32,
    pub action_every: u32,
    n: u32,
}

impl LogGen {
    pub fn new(distinct_ips: u32, action_every: u32) -> Self {
        Self {
            distinct_ips: distinct_ips.max(1),
            action_every: action_every.max(1),
            n: 0,
        }
    }

    /// The i-th IP, in 10.0.0.0/8.
    pub fn ip(i: u32) -> String {
        let i = i % (1 << 24);
        format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)
    }
}

impl Iterator for LogGen {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.n = self.n.wrapping_add(1);
        let ip = Self::ip(self.n % self.distinct_ips);
        Some(if self.n.is_multiple_of(self.action_every) {
            format!(
                r#"INFO ssh.failedlogin.ban: run ["nft" "add" "element" "inet" "reaction" "v4" "{{ {ip} }}"]"#
            )
        } else {
            format!(r#"INFO ssh.failedlogin: match ["{ip}"]"#)
        })
    }
}

/// One journal entry: a message of `unit` at `realtime_us`.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub realtime_us: u64,
    pub unit: String,
    pub message: String,
}

/// The realtime clock at the simulated boot (2020-09-13): monotonic time counts from here.
const BOOT_REALTIME_US: u64 = 1_600_000_000_000_000;

/// Where Debian installs systemd-journal-remote (package `systemd-journal-remote`).
pub const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// Writes `entries` into the journal file `output` (which must end in `.journal`) with
/// the real systemd-journal-remote, from the journal export format.
pub fn write_journal(output: &Path, entries: &[JournalEntry]) -> std::io::Result<()> {
    let mut export = String::new();
    for e in entries {
        // journalctl orders entries of one boot by monotonic time: keep it consistent
        // with the realtime clock across files and writes.
        let monotonic = e.realtime_us.saturating_sub(BOOT_REALTIME_US);
        let _ = write!(
            export,
            "__REALTIME_TIMESTAMP={rt}\n__MONOTONIC_TIMESTAMP={monotonic}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_SYSTEMD_UNIT={unit}\nSYSLOG_IDENTIFIER=reaction\n_TRANSPORT=stdout\nPRIORITY=6\nMESSAGE={msg}\n\n",
            rt = e.realtime_us,
            unit = e.unit,
            msg = e.message.replace('\n', " "),
        );
    }
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", output.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(export.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "systemd-journal-remote failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_bounded() {
        let lines: Vec<String> = LogGen::new(3, 4).take(8).collect();
        assert_eq!(lines[0], r#"INFO ssh.failedlogin: match ["10.0.0.1"]"#);
        assert!(lines[3].contains("ssh.failedlogin.ban: run"));
        assert_eq!(LogGen::ip(65_536 + 258), "10.1.1.2");
    }

    #[test]
    fn stand_in_answers_like_reaction() {
        let dir = std::env::temp_dir().join(format!("testbed-reaction-{}", std::process::id()));
        let s = StandIn::install(&dir).expect("install");
        let run = |args: &[&str]| Command::new(s.command()).args(args).output().expect("run");
        assert_eq!(
            String::from_utf8_lossy(&run(&["-V"]).stdout),
            "reaction 2.2.1\n"
        );
        assert!(
            String::from_utf8_lossy(&run(&["show", "--socket", "/x"]).stdout).contains("1.2.3.4")
        );
        s.fail_show(Some("cannot connect")).expect("fail");
        assert!(!run(&["show"]).status.success());
        s.fail_show(None).expect("unfail");
        assert!(s.calls().contains("show --socket /x"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
