//! Following a log file like `tail -F`: survives rotation by rename (the old file is read
//! to its end, then the new one from its start) and by truncation (copytruncate), never
//! hands out a half-written line, skips overlong lines, and decodes invalid UTF-8
//! lossily. Its position is the file's identity (device, inode) and the offset after the
//! last complete line.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::pipeline::{Batch, Position};

/// How reading starts when there is no position to resume from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Beginning,
    End,
}

pub struct FileTail {
    path: PathBuf,
    open: Option<Open>,
    resume: Option<Position>,
    start_at: StartAt,
    max_line: usize,
}

struct Open {
    file: File,
    dev: u64,
    ino: u64,
    /// Offset after the last complete line handed out.
    offset: u64,
    /// Bytes read past `offset`: the start of a line not yet complete.
    partial: Vec<u8>,
    /// Inside an overlong line: drop bytes until its newline.
    skipping: bool,
    /// The bytes just before `offset`: if they change, the file was truncated and
    /// rewritten past our offset between two polls (copytruncate then fast writes).
    fingerprint: Vec<u8>,
}

const FINGERPRINT: u64 = 64;

fn fingerprint(file: &File, offset: u64) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let n = offset.min(FINGERPRINT);
    let mut buf = vec![0u8; n as usize];
    match file.read_exact_at(&mut buf, offset - n) {
        Ok(()) => buf,
        Err(_) => Vec::new(),
    }
}

/// What one poll saw besides lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollStats {
    pub rotated: bool,
    pub truncated: bool,
    pub skipped_long_lines: u64,
}

impl FileTail {
    pub fn new(
        path: PathBuf,
        resume: Option<Position>,
        start_at: StartAt,
        max_line: usize,
    ) -> Self {
        Self {
            path,
            open: None,
            resume,
            start_at,
            max_line: max_line.max(64),
        }
    }

    /// Appends up to `limit` complete lines to `out`. Call again until it returns fewer
    /// than `limit` to drain a backlog; a missing file is not an error (it may be
    /// between rotation steps).
    pub fn poll(&mut self, out: &mut Batch, limit: usize) -> io::Result<PollStats> {
        let mut stats = PollStats::default();
        if self.open.is_none() && !self.try_open()? {
            // A file that appears later is read from its start: nothing in it is lost.
            self.start_at = StartAt::Beginning;
            return Ok(stats);
        }
        let before = out.len();
        self.read_lines(out, limit, &mut stats)?;
        if out.len() - before >= limit {
            return Ok(stats);
        }
        // At the end of what is there: has the file been replaced or truncated?
        let current = std::fs::metadata(&self.path).ok();
        let Some(open) = self.open.as_mut() else {
            return Ok(stats);
        };
        let replaced = current
            .as_ref()
            .is_some_and(|m| m.dev() != open.dev || m.ino() != open.ino);
        let len = open.file.metadata()?.len();
        let rewritten = open.offset > 0
            && len >= open.offset
            && fingerprint(&open.file, open.offset) != open.fingerprint;
        if len < open.offset + open.partial.len() as u64 || rewritten {
            tracing::info!(path = %self.path.display(), "log file truncated; reading from its start");
            open.file.seek(SeekFrom::Start(0))?;
            open.offset = 0;
            open.partial.clear();
            open.skipping = false;
            open.fingerprint.clear();
            stats.truncated = true;
            self.read_lines(out, limit.saturating_sub(out.len() - before), &mut stats)?;
        } else if replaced {
            // Drain whatever the writer added to the old file before it switched.
            self.read_lines(out, usize::MAX, &mut stats)?;
            if let Some(old) = self.open.take()
                && !old.partial.is_empty()
                && !old.skipping
            {
                // The old file is finished: its last line will never get a newline.
                push_line(
                    out,
                    &old.partial,
                    old.dev,
                    old.ino,
                    old.offset + old.partial.len() as u64,
                    now_us(),
                );
            }
            tracing::info!(path = %self.path.display(), "log file rotated; following the new file");
            stats.rotated = true;
            self.start_at = StartAt::Beginning;
            if self.try_open()? {
                let room = limit.saturating_sub(out.len() - before);
                self.read_lines(out, room, &mut stats)?;
            }
        }
        Ok(stats)
    }

    fn try_open(&mut self) -> io::Result<bool> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let (dev, ino, len) = (meta.dev(), meta.ino(), meta.len());
        let offset = match self.resume.take() {
            Some(Position::File {
                dev: d,
                ino: i,
                offset,
            }) if d == dev && i == ino && offset <= len => offset,
            _ => match self.start_at {
                StartAt::Beginning => 0,
                StartAt::End => len,
            },
        };
        file.seek(SeekFrom::Start(offset))?;
        let fingerprint = fingerprint(&file, offset);
        self.open = Some(Open {
            file,
            dev,
            ino,
            offset,
            partial: Vec::new(),
            skipping: false,
            fingerprint,
        });
        Ok(true)
    }

    fn read_lines(
        &mut self,
        out: &mut Batch,
        limit: usize,
        stats: &mut PollStats,
    ) -> io::Result<()> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let mut buf = vec![0u8; 64 * 1024];
        let mut produced = 0;
        let start_offset = open.offset;
        let read_at = now_us();
        while produced < limit {
            let n = match open.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut chunk = &buf[..n];
            while let Some(nl) = memchr(b'\n', chunk) {
                let consumed = open.partial.len() + nl + 1;
                if open.skipping {
                    open.skipping = false;
                    open.partial.clear();
                } else if open.partial.len() + nl > self.max_line {
                    tracing::warn!(path = %self.path.display(), max_bytes = self.max_line, "line too long; skipped");
                    stats.skipped_long_lines += 1;
                    open.partial.clear();
                } else {
                    let end = open.offset + consumed as u64;
                    // Usually the whole line is in this chunk: no copy through `partial`.
                    let text = if open.partial.is_empty() {
                        &chunk[..nl]
                    } else {
                        open.partial.extend_from_slice(&chunk[..nl]);
                        &open.partial[..]
                    };
                    push_line(out, text, open.dev, open.ino, end, read_at);
                    produced += 1;
                    open.partial.clear();
                }
                open.offset += consumed as u64;
                chunk = &chunk[nl + 1..];
            }
            if open.skipping {
                open.offset += chunk.len() as u64;
            } else {
                open.partial.extend_from_slice(chunk);
                if open.partial.len() > self.max_line {
                    tracing::warn!(path = %self.path.display(), max_bytes = self.max_line, "line too long; skipped");
                    stats.skipped_long_lines += 1;
                    open.offset += open.partial.len() as u64;
                    open.partial.clear();
                    open.skipping = true;
                }
            }
        }
        if open.offset != start_offset {
            open.fingerprint = fingerprint(&open.file, open.offset);
        }
        Ok(())
    }
}

fn push_line(out: &mut Batch, bytes: &[u8], dev: u64, ino: u64, offset: u64, time_us: u64) {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let position = Position::File { dev, ino, offset };
    // Valid UTF-8 (the norm) is checked fast; only broken bytes take the lossy path.
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push(s, time_us, position),
        Err(_) => out.push(&String::from_utf8_lossy(bytes), time_us, position),
    }
}

/// Files carry no timestamps: a line's time is when it was read (once per read call).
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn texts(lines: &Batch) -> Vec<&str> {
        lines.texts().collect()
    }

    fn append(path: &std::path::Path, data: &[u8]) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open")
            .write_all(data)
            .expect("write");
    }

    fn drain(t: &mut FileTail) -> Batch {
        let mut out = Batch::default();
        t.poll(&mut out, usize::MAX).expect("poll");
        out
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("r.log");
        append(&p, b"INFO a: match [\"1.1");
        let mut t = FileTail::new(p.clone(), None, StartAt::Beginning, 1024);
        assert!(drain(&mut t).is_empty());
        append(&p, b".1.1\"]\n\nsecond\r\n");
        let got = drain(&mut t);
        assert_eq!(texts(&got), ["INFO a: match [\"1.1.1.1\"]", "", "second"]);
        let Position::File { offset, .. } = got.position(2) else {
            panic!()
        };
        assert_eq!(offset, std::fs::metadata(&p).expect("meta").len());
    }

    #[test]
    fn rotation_by_rename_reads_old_tail_then_new_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("r.log");
        append(&p, b"one\n");
        let mut t = FileTail::new(p.clone(), None, StartAt::Beginning, 1024);
        assert_eq!(texts(&drain(&mut t)), ["one"]);
        append(&p, b"two\nunfinished");
        std::fs::rename(&p, dir.path().join("r.log.1")).expect("rename");
        append(&p, b"three\n");
        let got = drain(&mut t);
        assert_eq!(texts(&got), ["two", "unfinished", "three"]);
    }

    #[test]
    fn copytruncate_starts_over() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("r.log");
        append(&p, b"one\ntwo\n");
        let mut t = FileTail::new(p.clone(), None, StartAt::Beginning, 1024);
        assert_eq!(drain(&mut t).len(), 2);
        std::fs::copy(&p, dir.path().join("r.log.1")).expect("copy");
        File::create(&p).expect("truncate");
        append(&p, b"x\n");
        let mut out = Batch::default();
        let stats = t.poll(&mut out, usize::MAX).expect("poll");
        assert!(stats.truncated);
        assert_eq!(texts(&out), ["x"]);
        assert!(drain(&mut t).is_empty());
    }

    #[test]
    fn truncate_and_regrow_to_the_same_size_is_noticed() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("r.log");
        append(
            &p, b"aaaa
",
        );
        let mut t = FileTail::new(p.clone(), None, StartAt::Beginning, 1024);
        assert_eq!(texts(&drain(&mut t)), ["aaaa"]);
        std::fs::write(
            &p, b"bbbb
",
        )
        .expect("rewrite");
        assert_eq!(texts(&drain(&mut t)), ["bbbb"]);
        append(
            &p, b"cc
",
        );
        assert_eq!(texts(&drain(&mut t)), ["cc"]);
    }

    #[test]
    fn long_lines_are_skipped_and_garbage_is_decoded() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("r.log");
        let mut data = vec![b'a'; 5000];
        data.extend_from_slice(b"\nok\n\xff\xfe bytes\n");
        append(&p, &data);
        let mut t = FileTail::new(p.clone(), None, StartAt::Beginning, 100);
        let mut out = Batch::default();
        let stats = t.poll(&mut out, usize::MAX).expect("poll");
        assert_eq!(stats.skipped_long_lines, 1);
        assert_eq!(texts(&out), ["ok", "\u{fffd}\u{fffd} bytes"]);
    }

    #[test]
    fn resumes_from_a_position_of_the_same_file_only() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("r.log");
        append(&p, b"one\ntwo\n");
        let mut t = FileTail::new(p.clone(), None, StartAt::Beginning, 1024);
        let first = drain(&mut t);
        let after_one = first.position(0);
        let mut resumed = FileTail::new(p.clone(), Some(after_one), StartAt::End, 1024);
        assert_eq!(texts(&drain(&mut resumed)), ["two"]);
        // A position of another file (rotated away): start at the configured end.
        let foreign = Position::File {
            dev: 0,
            ino: 0,
            offset: 4,
        };
        let mut other = FileTail::new(p.clone(), Some(foreign), StartAt::End, 1024);
        assert!(drain(&mut other).is_empty());
        append(&p, b"three\n");
        assert_eq!(texts(&drain(&mut other)), ["three"]);
    }

    #[test]
    fn missing_file_is_waited_for() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("later.log");
        let mut t = FileTail::new(p.clone(), None, StartAt::End, 1024);
        assert!(drain(&mut t).is_empty());
        append(&p, b"first\n");
        // A file that appears after start is read from its start: nothing is lost.
        assert_eq!(texts(&drain(&mut t)), ["first"]);
    }
}
