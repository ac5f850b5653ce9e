//! openstack-instance-exporter's parts, as a library so that its benchmarks and tests
//! can reach them: libvirt I/O (`libvirt`) and parsing (`domain`, `cpu`), conntrack over
//! netlink (`conntrack`), threat lists (`threat`), and the collector and exposition that
//! join them (`collect`, `metrics`). The binary (`main.rs`) only wires them into
//! `exporter-core`.

pub mod collect;
pub mod config;
pub mod conntrack;
pub mod cpu;
pub mod domain;
pub mod libvirt;
pub mod metrics;
pub mod threat;
