//! Workspace end-to-end tests: the five binaries as users run them.

// Values read back from Prometheus are compared exactly: they were exact when exported.
#![allow(clippy::float_cmp)]

mod cli;
mod dashboards;
mod prometheus;
