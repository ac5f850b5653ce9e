//! Parsed lines that travel between threads: an [`Event`] whose strings are ranges of
//! the batch's text (or owned, when JSON escapes had to be decoded). The file reader
//! parses a batch on its own thread while the previous batch is being counted, so both
//! cores work on a backlog; the counting side rebuilds borrowed events without
//! allocating.

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::logline::{Argv, CommandState, Event, Matches, StreamEvent, Unparsed};

/// A string of an event: a range of the text, or owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    At(usize, usize),
    Owned(String),
}

impl Piece {
    fn of(s: &str, base: &str) -> Self {
        let start = (s.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
        // A slice of `base` (always, for borrowed strings); anything else is copied.
        if start <= base.len()
            && start + s.len() <= base.len()
            && base.get(start..start + s.len()) == Some(s)
        {
            Piece::At(start, start + s.len())
        } else {
            Piece::Owned(s.to_owned())
        }
    }

    fn of_cow(s: Cow<'_, str>, base: &str) -> Self {
        match s {
            Cow::Borrowed(b) => Self::of(b, base),
            Cow::Owned(o) => Piece::Owned(o),
        }
    }

    fn get<'a>(&'a self, base: &'a str) -> &'a str {
        match self {
            Piece::At(a, b) => base.get(*a..*b).unwrap_or_default(),
            Piece::Owned(s) => s,
        }
    }
}

/// An [`Event`] detached from its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detached {
    Match {
        target: Piece,
        matches: SmallVec<[Piece; 4]>,
    },
    Action {
        target: Piece,
        argv: SmallVec<[Piece; 8]>,
    },
    Command {
        state: CommandState,
        argv: SmallVec<[Piece; 8]>,
        ok: bool,
        code: i64,
    },
    Stream {
        stream: Piece,
        event: StreamEvent,
    },
    Sigterm,
}

/// Parses `line` (a slice of `base`) into a detached event.
pub fn parse(line: &str, base: &str) -> Result<Detached, Unparsed> {
    Ok(match crate::logline::parse(line)? {
        Event::Match { target, matches } => Detached::Match {
            target: Piece::of(target, base),
            matches: matches
                .into_iter()
                .map(|m| Piece::of_cow(m, base))
                .collect(),
        },
        Event::Action { target, argv } => Detached::Action {
            target: Piece::of(target, base),
            argv: argv.into_iter().map(|a| Piece::of_cow(a, base)).collect(),
        },
        Event::Command {
            state,
            argv,
            ok,
            code,
        } => Detached::Command {
            state,
            argv: argv.into_iter().map(|a| Piece::of_cow(a, base)).collect(),
            ok,
            code,
        },
        Event::Stream { stream, event } => Detached::Stream {
            stream: Piece::of(stream, base),
            event,
        },
        Event::Sigterm => Detached::Sigterm,
    })
}

/// The event again, borrowing from `base` and `d`.
pub fn attach<'a>(d: &'a Detached, base: &'a str) -> Event<'a> {
    match d {
        Detached::Match { target, matches } => Event::Match {
            target: target.get(base),
            matches: matches
                .iter()
                .map(|m| Cow::Borrowed(m.get(base)))
                .collect::<Matches<'a>>(),
        },
        Detached::Action { target, argv } => Event::Action {
            target: target.get(base),
            argv: argv
                .iter()
                .map(|a| Cow::Borrowed(a.get(base)))
                .collect::<Argv<'a>>(),
        },
        Detached::Command {
            state,
            argv,
            ok,
            code,
        } => Event::Command {
            state: *state,
            argv: argv
                .iter()
                .map(|a| Cow::Borrowed(a.get(base)))
                .collect::<Argv<'a>>(),
            ok: *ok,
            code: *code,
        },
        Detached::Stream { stream, event } => Event::Stream {
            stream: stream.get(base),
            event: *event,
        },
        Detached::Sigterm => Event::Sigterm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_equals_direct_parse() {
        let text = concat!(
            "INFO ssh.failedlogin: match [\"1.2.3.4\"]\n",
            "INFO s.f: match [\"a\\\"b\", \"c\"]\n",
            "INFO ssh.failedlogin.ban: run [\"nft\" \"add\" \"{ 1.2.3.4 }\"]\n",
            "ERROR stop command: run [\"false\"]: exit code: 1\n",
            "INFO ssh: start\n",
            "INFO received SIGTERM, closing streams...\n",
            "garbage\n",
        );
        for line in text.lines() {
            let direct = crate::logline::parse(line);
            let detached = parse(line, text);
            match (direct, detached) {
                (Ok(e), Ok(d)) => {
                    // Owned copies prove nothing about ranges: detach from the whole text.
                    let back = format!("{:?}", attach(&d, text));
                    assert_eq!(back, format!("{e:?}"), "{line}");
                    if let Detached::Match { target, .. } = &d {
                        assert!(matches!(target, Piece::At(..)), "{line}: {target:?}");
                    }
                }
                (Err(a), Err(b)) => assert_eq!(a, b),
                (a, b) => panic!("{line}: {a:?} vs {b:?}"),
            }
        }
    }
}
