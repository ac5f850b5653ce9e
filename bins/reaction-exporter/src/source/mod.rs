//! Where reaction's output comes from: the journal (through `journalctl`) or a log file.

pub mod file;
pub mod journal;

use std::sync::{Arc, Mutex, PoisonError};

use crate::pipeline::{Batch, Engine};

/// Lines processed under one lock: long enough to be efficient, short enough that a
/// scrape waiting for the lock waits about a millisecond.
pub const BATCH: usize = 2048;

/// Counts a batch under the engine lock.
pub fn process_batch(engine: &Arc<Mutex<Engine>>, lines: Batch) {
    if lines.is_empty() {
        return;
    }
    let now = crate::unix_now();
    let mut engine = engine.lock().unwrap_or_else(PoisonError::into_inner);
    lines.process_into(&mut engine, now);
}
