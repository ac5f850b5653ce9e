//! Test beds for the exporters: simulators of the upstreams that cannot run on a build
//! machine (self-service portals, Hitron modems, the reaction CLI, threat-intel feed
//! servers) and helpers that make real inputs (mmdb files, journal files, conntrack
//! entries, libvirt test-driver XML). Used by tests, benchmarks and the demo, never by
//! the shipped binaries. Each exporter's issue adds its part.

pub mod conntrack;
#[cfg(feature = "feeds")]
pub mod feeds;
pub mod geoip;
#[cfg(feature = "hitron")]
pub mod hitron;
pub mod netns;
pub mod procstat;
pub mod reaction;
#[cfg(any(feature = "ssp", feature = "hitron", feature = "feeds"))]
pub mod serve;
#[cfg(feature = "ssp")]
pub mod ssp;
