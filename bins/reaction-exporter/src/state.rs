//! The checkpoint: source position and counts saved together, atomically (temporary
//! file, fsync, rename, fsync of the directory), so that after SIGTERM, a crash or
//! `kill -9` reading resumes where the counts stop: nothing lost, and nothing counted
//! twice beyond what was scraped during one checkpoint interval.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::counters::Counters;
use crate::pipeline::Position;

const FILE: &str = "reaction-exporter.state.json";
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(clippy::struct_field_names, reason = "`saved_at` reads best")]
pub struct Saved {
    pub version: u32,
    /// Unix seconds.
    pub saved_at: u64,
    /// Which source the position belongs to (`journal:<unit>` or `file:<path>`).
    pub source: String,
    pub position: Option<Position>,
    pub counters: Counters,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is not a valid state: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

pub fn save(
    dir: &Path,
    source: &str,
    position: Option<Position>,
    counters: Counters,
    now: u64,
) -> Result<(), StateError> {
    let saved = Saved {
        version: VERSION,
        saved_at: now,
        source: source.to_owned(),
        position,
        counters,
    };
    let target = path(dir);
    let tmp = dir.join(format!(".{FILE}.tmp"));
    let io = |source| StateError::Io {
        path: target.clone(),
        source,
    };
    let json = serde_json::to_vec(&saved).map_err(|source| StateError::Format {
        path: target.clone(),
        source,
    })?;
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(&json).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    fs::rename(&tmp, &target).map_err(io)?;
    // The rename is durable only once the directory is.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

/// The saved state, if there is one. A corrupt file is an error (the caller logs it and
/// starts fresh); it is never executed or trusted beyond its JSON shape.
pub fn load(dir: &Path) -> Result<Option<Saved>, StateError> {
    let target = path(dir);
    let bytes = match fs::read(&target) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                path: target,
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StateError::Format {
            path: target,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::{Key, Metric};

    #[test]
    fn save_load_round_trip_and_corruption() {
        let dir = tempfile::tempdir().expect("tmp");
        assert!(load(dir.path()).expect("empty").is_none());
        let mut c = Counters::default();
        c.add(Metric::Matches, &Key::new(&["s", "f"], &[]), 1, 10);
        let pos = Some(Position::Journal {
            cursor: "s=1".into(),
        });
        save(
            dir.path(),
            "journal:reaction.service",
            pos.clone(),
            c.clone(),
            42,
        )
        .expect("save");
        let back = load(dir.path()).expect("load").expect("some");
        assert_eq!((back.position, back.counters, back.saved_at), (pos, c, 42));
        fs::write(path(dir.path()), b"{\"version\":").expect("corrupt");
        assert!(matches!(load(dir.path()), Err(StateError::Format { .. })));
    }
}
