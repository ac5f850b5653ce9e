//! Metric snapshots and their two encodings.

pub mod model;
pub mod negotiate;
pub mod openmetrics;
pub mod process;
pub mod text;

pub use model::{Family, Kind, Sample, merge_families};
pub use negotiate::Format;
