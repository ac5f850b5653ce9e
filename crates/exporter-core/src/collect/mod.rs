//! Background collection: the [`Collector`] trait, the scheduler that runs collectors on
//! their interval, the snapshot store the HTTP server encodes from, and opt-in
//! zero-suppression rules.

pub mod cache;
pub mod collector;
pub mod scheduler;
pub mod suppress;

pub use cache::{SnapshotStore, TtlCache};
pub use collector::{Collector, Schedule};
pub use scheduler::{CollectorStats, Scheduler};
pub use suppress::{Rule, Suppressor};
