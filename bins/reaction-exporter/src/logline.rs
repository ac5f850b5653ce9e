//! Parser of the lines reaction 2.x prints (to journald or a file): pure, allocation-light,
//! never panicking. Names that may contain dots (`<stream>.<filter>.<action>`) are kept
//! as one dotted string here and split later with the names from `reaction test-config`
//! (see [`crate::topology`]).

use std::borrow::Cow;

/// Severity word that starts every line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// start/stop command of the daemon's `start:` and `stop:` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandState {
    Start,
    Stop,
}

impl CommandState {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandState::Start => "start",
            CommandState::Stop => "stop",
        }
    }
}

/// What happened to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamEvent {
    /// Started successfully.
    Start,
    /// Exited.
    Exit,
    /// Its command could not be executed.
    Exec,
    /// Its output could not be read.
    Read,
    /// It did not terminate in time at shutdown.
    Timeout,
}

impl StreamEvent {
    pub const ALL: [StreamEvent; 5] = [
        StreamEvent::Start,
        StreamEvent::Exit,
        StreamEvent::Exec,
        StreamEvent::Read,
        StreamEvent::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StreamEvent::Start => "start",
            StreamEvent::Exit => "exit",
            StreamEvent::Exec => "exec",
            StreamEvent::Read => "read",
            StreamEvent::Timeout => "timeout",
        }
    }
}

/// One recognised line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// `INFO <stream>.<filter>: match ["m1", "m2"]`
    Match {
        target: &'a str,
        matches: Matches<'a>,
    },
    /// `INFO <stream>.<filter>.<action>: run ["cmd" "arg"]`
    Action { target: &'a str, argv: Argv<'a> },
    /// `INFO start command: run ["nft", "-f", "x"]` or
    /// `ERROR stop command: run ["false"]: exit code: 1`
    Command {
        state: CommandState,
        argv: Argv<'a>,
        ok: bool,
        code: i64,
    },
    /// Stream lifecycle lines.
    Stream { stream: &'a str, event: StreamEvent },
    /// `INFO received SIGTERM, closing streams...`
    Sigterm,
}

/// Why a line was not recognised. Counted, logged at debug level, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unparsed {
    #[error("empty line")]
    Empty,
    #[error("no INFO/ERROR level word")]
    NoLevel,
    #[error("unknown line shape")]
    Unknown,
    #[error("malformed argument list: {0}")]
    BadList(String),
}

/// A match's values (a filter has a few patterns: no allocation for them).
pub type Matches<'a> = smallvec::SmallVec<[Cow<'a, str>; 4]>;

/// A command line as reaction prints it, borrowed from the line unless escaped.
pub type Argv<'a> = smallvec::SmallVec<[Cow<'a, str>; 8]>;

/// Parses one line (without its newline).
pub fn parse(line: &str) -> Result<Event<'_>, Unparsed> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Err(Unparsed::Empty);
    }
    let (level, rest) = if let Some(r) = line.strip_prefix("INFO ") {
        (Level::Info, r.trim_start_matches(' '))
    } else if let Some(r) = line.strip_prefix("ERROR ") {
        (Level::Error, r.trim_start_matches(' '))
    } else {
        return Err(Unparsed::NoLevel);
    };

    if rest == "received SIGTERM, closing streams..." {
        return Ok(Event::Sigterm);
    }
    for (prefix, state) in [
        ("start command: run ", CommandState::Start),
        ("stop command: run ", CommandState::Stop),
    ] {
        if let Some(args) = rest.strip_prefix(prefix) {
            return parse_command(level, state, args);
        }
    }
    if level == Level::Error
        && let Some(ev) = parse_stream_error(rest)
    {
        return Ok(ev);
    }
    // `<name>: match [..]` / `<name>: run [..]`: the first such marker after the name.
    // Names never contain ": " in reaction configs; matches may contain anything.
    if let Some((i, is_match)) = find_marker(rest) {
        let target = &rest[..i];
        if target.is_empty() {
            return Err(Unparsed::Unknown);
        }
        return if is_match {
            let matches = parse_match_list(&rest[i + ": match ".len()..])?;
            Ok(Event::Match { target, matches })
        } else {
            let argv = parse_argv(&rest[i + ": run ".len()..])?;
            Ok(Event::Action { target, argv })
        };
    }
    if level == Level::Info
        && let Some(i) = rest.find(": start")
    {
        let stream = &rest[..i];
        if !stream.is_empty() && !stream.contains(' ') {
            return Ok(Event::Stream {
                stream,
                event: StreamEvent::Start,
            });
        }
    }
    Err(Unparsed::Unknown)
}

/// The first `: match [` (true) or `: run [` (false), by a scan over the colons: cheaper
/// than building a substring searcher per marker per line.
fn find_marker(rest: &str) -> Option<(usize, bool)> {
    let bytes = rest.as_bytes();
    let mut from = 0;
    while let Some(off) = bytes[from..].iter().position(|&b| b == b':') {
        let i = from + off;
        let tail = &bytes[i..];
        if tail.starts_with(b": match [") {
            return Some((i, true));
        }
        if tail.starts_with(b": run [") {
            return Some((i, false));
        }
        from = i + 1;
    }
    None
}

fn parse_stream_error(rest: &str) -> Option<Event<'_>> {
    let shapes: [(&str, &str, StreamEvent); 4] = [
        ("could not execute stream ", " cmd:", StreamEvent::Exec),
        (
            "impossible to read output from stream ",
            ":",
            StreamEvent::Read,
        ),
        (
            "child process of stream ",
            " did not terminate",
            StreamEvent::Timeout,
        ),
        ("stream ", " exited", StreamEvent::Exit),
    ];
    for (prefix, suffix, event) in shapes {
        if let Some(after) = rest.strip_prefix(prefix)
            && let Some(end) = after.find(suffix)
        {
            let stream = &after[..end];
            if !stream.is_empty() {
                return Some(Event::Stream { stream, event });
            }
        }
    }
    None
}

fn parse_command(level: Level, state: CommandState, text: &str) -> Result<Event<'_>, Unparsed> {
    // `[..]` optionally followed by `: exit code: <n>` (failures are ERROR lines).
    let (arg_list, code) = match text.rfind("]: exit code: ") {
        Some(i) => {
            let code = text[i + "]: exit code: ".len()..]
                .trim()
                .parse::<i64>()
                .map_err(|e| Unparsed::BadList(format!("exit code: {e}")))?;
            (&text[..=i], Some(code))
        }
        None => (text, None),
    };
    let argv = parse_argv(arg_list)?;
    let ok = level == Level::Info && code.unwrap_or(0) == 0;
    Ok(Event::Command {
        state,
        argv,
        ok,
        code: code.unwrap_or(if ok { 0 } else { -1 }),
    })
}

/// A match list: a JSON array of strings. Without a backslash in it no string can hold
/// a quote, so the strings are borrowed straight from the line (the common case, and
/// the hot path); otherwise serde_json decodes the escapes.
fn parse_match_list(list: &str) -> Result<Matches<'_>, Unparsed> {
    if !list.contains('\\')
        && let Some(v) = borrowed_strings(list)
    {
        return Ok(v);
    }
    let owned: Vec<String> =
        serde_json::from_str(list).map_err(|e| Unparsed::BadList(e.to_string()))?;
    Ok(owned.into_iter().map(Cow::Owned).collect())
}

/// `["a", "b"]` (no escapes) as borrowed slices; `None` if it is not exactly that shape.
fn borrowed_strings(list: &str) -> Option<Matches<'_>> {
    let mut rest = list.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
    let mut out = Matches::new();
    while !rest.is_empty() {
        let body = rest.strip_prefix('"')?;
        let end = body.find('"')?;
        let s = &body[..end];
        if s.bytes().any(|b| b < 0x20) {
            return None;
        }
        out.push(Cow::Borrowed(s));
        rest = body[end + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return None;
            }
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// An argument list as reaction prints it: JSON strings in brackets, separated by commas
/// (`["a", "b"]`) or by single spaces (`["a" "b"]`, the action `run` form).
pub fn parse_argv(list: &str) -> Result<Argv<'_>, Unparsed> {
    let list = list.trim();
    let inner = list
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .ok_or_else(|| Unparsed::BadList("not enclosed in [ ]".into()))?;
    let mut out = Argv::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        if !rest.starts_with('"') {
            return Err(Unparsed::BadList(format!(
                "expected a quoted string at {rest:.20?}"
            )));
        }
        let end =
            closing_quote(rest).ok_or_else(|| Unparsed::BadList("unterminated string".into()))?;
        let body = &rest[1..end];
        // Without escapes the JSON string is its own text: borrow it.
        let token = if body.bytes().any(|b| b == b'\\' || b < 0x20) {
            Cow::Owned(
                serde_json::from_str::<String>(&rest[..=end])
                    .map_err(|e| Unparsed::BadList(e.to_string()))?,
            )
        } else {
            Cow::Borrowed(body)
        };
        out.push(token);
        rest = rest[end + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        }
    }
    Ok(out)
}

/// Index of the quote that closes the JSON string starting at `s[0]`.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate().skip(1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_including_brackets_and_dots() {
        assert_eq!(
            parse(r#"INFO ssh.failedlogin: match ["1.2.3.4"]"#),
            Ok(Event::Match {
                target: "ssh.failedlogin",
                matches: smallvec::smallvec!["1.2.3.4".into()]
            })
        );
        // `]` inside a match and dotted names: the original dropped both.
        assert_eq!(
            parse(r#"INFO web.v2.aibots: match ["GET /a]b", "x\"y"]"#),
            Ok(Event::Match {
                target: "web.v2.aibots",
                matches: smallvec::smallvec!["GET /a]b".into(), "x\"y".into()]
            })
        );
        assert!(matches!(
            parse(r#"INFO ssh.f: match ["unterminated"#),
            Err(Unparsed::BadList(_))
        ));
        // Fast path and serde_json agree, escapes included.
        for list in [
            r#"["a", "b"]"#,
            r#"["a","b"]"#,
            "[]",
            r#"["x\"y", "\u0041"]"#,
            r#"[ "sp ace" ]"#,
        ] {
            let fast: Vec<String> = parse_match_list(list)
                .expect("parse")
                .into_iter()
                .map(Cow::into_owned)
                .collect();
            let slow: Vec<String> = serde_json::from_str(list).expect("json");
            assert_eq!(fast, slow, "{list}");
        }
        for bad in [r#"["a",]"#, r#"["a" "b"]"#, r#"["a"] x"#, "[1]"] {
            assert!(parse_match_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_marker_decides() {
        let Ok(Event::Action { target, argv }) = parse(r#"INFO a.b.c: run ["x: match [y"]"#) else {
            panic!("action")
        };
        assert_eq!((target, argv), ("a.b.c", args(&["x: match [y"])));
    }

    #[test]
    fn actions() {
        assert_eq!(
            parse(
                r#"INFO ssh.failedlogin.ban: run ["nft" "add" "element" "inet" "reaction" "v4" "{ 1.2.3.4 }"]"#
            ),
            Ok(Event::Action {
                target: "ssh.failedlogin.ban",
                argv: args(&[
                    "nft",
                    "add",
                    "element",
                    "inet",
                    "reaction",
                    "v4",
                    "{ 1.2.3.4 }"
                ])
            })
        );
    }

    #[test]
    fn commands_ok_and_failed_both_list_forms() {
        assert_eq!(
            parse(r#"INFO start command: run ["nft", "-f", "/etc/x"]"#),
            Ok(Event::Command {
                state: CommandState::Start,
                argv: args(&["nft", "-f", "/etc/x"]),
                ok: true,
                code: 0
            })
        );
        // The space-separated form is not concatenated (the original made "nft-f/etc/x").
        let Ok(Event::Command { argv, .. }) =
            parse(r#"INFO start command: run ["nft" "-f" "/etc/x"]"#)
        else {
            panic!("command")
        };
        assert_eq!(argv, args(&["nft", "-f", "/etc/x"]));
        assert_eq!(
            parse(r#"ERROR stop command: run ["false"]: exit code: 1"#),
            Ok(Event::Command {
                state: CommandState::Stop,
                argv: args(&["false"]),
                ok: false,
                code: 1
            })
        );
    }

    #[test]
    fn stream_events() {
        let cases = [
            (
                r#"INFO ssh: start ["journalctl", "-fu", "ssh.service"]"#,
                "ssh",
                StreamEvent::Start,
            ),
            (
                "ERROR stream ssh exited: status 1",
                "ssh",
                StreamEvent::Exit,
            ),
            (
                "ERROR could not execute stream web.v2 cmd: No such file",
                "web.v2",
                StreamEvent::Exec,
            ),
            (
                "ERROR impossible to read output from stream ssh: bad utf8",
                "ssh",
                StreamEvent::Read,
            ),
            (
                "ERROR child process of stream ssh did not terminate",
                "ssh",
                StreamEvent::Timeout,
            ),
        ];
        for (line, stream, event) in cases {
            assert_eq!(parse(line), Ok(Event::Stream { stream, event }), "{line}");
        }
        assert_eq!(
            parse("INFO received SIGTERM, closing streams..."),
            Ok(Event::Sigterm)
        );
    }

    #[test]
    fn garbage_is_reported_not_fatal() {
        assert_eq!(parse(""), Err(Unparsed::Empty));
        assert_eq!(parse("   \r"), Err(Unparsed::Empty));
        assert_eq!(parse(".1.1\"]"), Err(Unparsed::NoLevel));
        assert_eq!(parse("DEBUG something"), Err(Unparsed::NoLevel));
        assert_eq!(parse("INFO something else"), Err(Unparsed::Unknown));
        assert_eq!(parse("INFO : match []"), Err(Unparsed::Unknown));
        assert!(parse("INFO \u{fffd}\u{fffd}: run [\"\\u12\"]").is_err());
        // Very long lines are parsed, not truncated.
        let long = format!("INFO s.f: match [\"{}\"]", "a".repeat(100_000));
        assert!(matches!(parse(&long), Ok(Event::Match { .. })));
    }

    fn args(items: &[&'static str]) -> Argv<'static> {
        items.iter().map(|s| Cow::Borrowed(*s)).collect()
    }

    #[test]
    fn argv_forms() {
        assert_eq!(parse_argv("[]"), Ok(Argv::new()));
        assert_eq!(
            parse_argv(r#"["a" "b"]"#),
            Ok(smallvec::smallvec!["a".into(), "b".into()])
        );
        assert_eq!(parse_argv(r#"["a", "b\\"]"#), Ok(args(&["a", "b\\"])));
        assert!(parse_argv(r"[a b]").is_err());
        assert!(parse_argv(r#"["a""#).is_err());
    }
}
