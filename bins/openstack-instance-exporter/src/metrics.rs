//! The exposition of one collection: the original's `oie_*` families with its label
//! sets, plus an info metric and host totals. Pure: built from the collected instances.
//!
//! Units: `*_gbytes` keep the original's names and unit (GiB) but not its rounding to
//! 0.01 (which lost every increment below 10 MiB); they and `oie_disk_*_requests` are
//! typed gauge because a counter's name must end in `_total` in OpenMetrics and the
//! names must not change. `rate()` works on them all the same.

use exporter_core::Family;

use crate::collect::{ConntrackView, Instance};
use crate::config::Config;

const GIB: f64 = 1_073_741_824.0;

/// Process-wide counts the collector keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub timeouts: u64,
    pub xml_errors: u64,
}

const DISK_LABELS: [&str; 7] = [
    "domain",
    "instance_uuid",
    "user_uuid",
    "project_uuid",
    "disk_uuid",
    "disk_type",
    "disk_path",
];
const NET_LABELS: [&str; 5] = [
    "domain",
    "interface",
    "instance_uuid",
    "user_uuid",
    "project_uuid",
];

#[allow(
    clippy::similar_names,
    reason = "the bindings mirror the metric names (rx/tx, r/w)"
)]
pub fn families(
    instances: &[Instance],
    config: &Config,
    totals: &Totals,
    conntrack: Option<&Option<ConntrackView>>,
    lists: &[Option<std::sync::Arc<crate::threat::feed::List>>],
) -> Vec<Family> {
    let disk = |name: &str, help: String| Family::gauge(name, help).with_labels(DISK_LABELS);
    let mut r_threshold = disk(
        "oie_disk_r_alert_threshold",
        "Read alert threshold of the disk's type (-read.thresholds).".into(),
    );
    let mut w_threshold = disk(
        "oie_disk_w_alert_threshold",
        "Write alert threshold of the disk's type (-write.thresholds).".into(),
    );
    let suppressed = if config.zero_suppression {
        " Left out while the disk's four I/O values are all 0."
    } else {
        ""
    };
    let mut r_gbytes = disk(
        "oie_disk_r_gbytes",
        format!("Bytes read from the disk, in GiB (not rounded; a counter).{suppressed}"),
    );
    let mut w_gbytes = disk(
        "oie_disk_w_gbytes",
        format!("Bytes written to the disk, in GiB (not rounded; a counter).{suppressed}"),
    );
    let mut r_req = disk(
        "oie_disk_r_requests",
        format!("Read requests of the disk (a counter).{suppressed}"),
    );
    let mut w_req = disk(
        "oie_disk_w_requests",
        format!("Write requests of the disk (a counter).{suppressed}"),
    );
    let mut cpu = Family::gauge(
        "oie_cpu_percent",
        format!(
            "CPU use over the last interval, per flavor vCPU (0-100). Left out below {} (-cpu.min) and on the first reading.",
            config.cpu_min
        ),
    )
    .with_labels(["domain", "instance_uuid", "user_uuid", "project_uuid"]);
    let net_suppressed = if config.zero_suppression {
        " Left out while the interface's eight values are all 0."
    } else {
        ""
    };
    let net_gauge = |name: &str, help: &str| {
        Family::gauge(name, format!("{help}{net_suppressed}")).with_labels(NET_LABELS)
    };
    let net_counter = |name: &str, help: &str| {
        Family::counter(name, format!("{help}{net_suppressed}")).with_labels(NET_LABELS)
    };
    let mut rx_gbytes = net_gauge(
        "oie_net_rx_gbytes",
        "Bytes received by the interface, in GiB (not rounded; a counter).",
    );
    let mut tx_gbytes = net_gauge(
        "oie_net_tx_gbytes",
        "Bytes sent by the interface, in GiB (not rounded; a counter).",
    );
    let mut rx_pkt = net_counter("oie_net_rx_pkt_total", "Packets received by the interface.");
    let mut tx_pkt = net_counter("oie_net_tx_pkt_total", "Packets sent by the interface.");
    let mut rx_er = net_counter("oie_net_rx_er_total", "Receive errors of the interface.");
    let mut tx_er = net_counter("oie_net_tx_er_total", "Send errors of the interface.");
    let mut rx_drp = net_counter("oie_net_rx_drp_total", "Received packets dropped.");
    let mut tx_drp = net_counter("oie_net_tx_drp_total", "Sent packets dropped.");
    let mut info = Family::info(
        "oie_instance_info",
        "Nova's metadata of an active instance (join on instance_uuid).",
    )
    .with_labels([
        "domain",
        "instance_uuid",
        "name",
        "flavor",
        "vcpus",
        "user_uuid",
        "user_name",
        "project_uuid",
        "project_name",
    ]);
    let mut ct_ip = Family::gauge(
        "oie_conntrack_ip_total",
        format!(
            "Conntrack flows whose original source or destination is the fixed IP. Left out below {} flows (-conntrack.min).",
            config.conntrack.min
        ),
    )
    .with_labels([
        "domain",
        "instance_uuid",
        "ip",
        "family",
        "project_uuid",
        "user_uuid",
    ]);
    let counts = conntrack.and_then(Option::as_ref).map(|c| &c.counts);
    let mut vcpus_total = 0u64;
    for i in instances {
        let d = &i.domain;
        let (user, project) = (d.user_uuid.as_str(), d.project_uuid.as_str());
        let vcpus = d.vcpus.to_string();
        vcpus_total += u64::from(d.vcpus);
        info.push(
            [
                i.name.as_str(),
                &i.uuid,
                &d.nova_name,
                &d.flavor,
                &vcpus,
                user,
                &d.user_name,
                project,
                &d.project_name,
            ],
            1.0,
        );
        if let Some(counts) = counts {
            for ip in &d.fixed_ips {
                let n = counts.get(ip).copied().unwrap_or(0);
                if n >= config.conntrack.min {
                    let family = if ip.is_ipv4() { "ipv4" } else { "ipv6" };
                    let ip = ip.to_string();
                    ct_ip.push(
                        [i.name.as_str(), &i.uuid, &ip, family, project, user],
                        n as f64,
                    );
                }
            }
        }
        for disk in &d.disks {
            let labels = [
                i.name.as_str(),
                &i.uuid,
                user,
                project,
                &disk.disk_uuid,
                &disk.disk_type,
                &disk.path,
            ];
            let (r, w) = config.thresholds.resolve(&disk.disk_type);
            r_threshold.push(labels, r as f64);
            w_threshold.push(labels, w as f64);
        }
        for (disk, s) in &i.disks {
            if config.zero_suppression
                && s.rd_bytes == 0
                && s.wr_bytes == 0
                && s.rd_req == 0
                && s.wr_req == 0
            {
                continue;
            }
            let labels = [
                i.name.as_str(),
                &i.uuid,
                user,
                project,
                &disk.disk_uuid,
                &disk.disk_type,
                &disk.path,
            ];
            r_gbytes.push(labels, s.rd_bytes.max(0) as f64 / GIB);
            w_gbytes.push(labels, s.wr_bytes.max(0) as f64 / GIB);
            r_req.push(labels, s.rd_req.max(0) as f64);
            w_req.push(labels, s.wr_req.max(0) as f64);
        }
        if let Some(p) = i.cpu_percent
            && p >= config.cpu_min
        {
            cpu.push([i.name.as_str(), &i.uuid, user, project], p);
        }
        for (dev, s) in &i.interfaces {
            let values = [
                s.rx_bytes,
                s.tx_bytes,
                s.rx_packets,
                s.tx_packets,
                s.rx_errs,
                s.tx_errs,
                s.rx_drop,
                s.tx_drop,
            ];
            if config.zero_suppression && values.iter().all(|v| *v == 0) {
                continue;
            }
            let labels = [i.name.as_str(), dev, &i.uuid, user, project];
            // libvirt reports -1 for a value the driver does not know.
            let n = |v: i64| v.max(0) as f64;
            rx_gbytes.push(labels, n(s.rx_bytes) / GIB);
            tx_gbytes.push(labels, n(s.tx_bytes) / GIB);
            rx_pkt.push(labels, n(s.rx_packets));
            tx_pkt.push(labels, n(s.tx_packets));
            rx_er.push(labels, n(s.rx_errs));
            tx_er.push(labels, n(s.tx_errs));
            rx_drp.push(labels, n(s.rx_drop));
            tx_drp.push(labels, n(s.tx_drop));
        }
    }
    let mut vms = Family::gauge("oie_host_active_vms", "Active domains on this host.");
    vms.set(instances.len() as f64);
    let mut vcpus = Family::gauge(
        "oie_host_active_vcpus",
        "Flavor vCPUs of the active domains on this host.",
    );
    vcpus.set(vcpus_total as f64);
    let mut timeouts = Family::counter(
        "oie_libvirt_domain_timeouts_total",
        "Domain reads that exceeded libvirt.call_timeout (their last values were served).",
    );
    timeouts.set(totals.timeouts as f64);
    let mut xml_errors = Family::counter(
        "oie_libvirt_xml_errors_total",
        "Domain XML documents that could not be parsed.",
    );
    xml_errors.set(totals.xml_errors as f64);
    let mut out = vec![
        r_threshold,
        w_threshold,
        r_gbytes,
        w_gbytes,
        r_req,
        w_req,
        cpu,
        rx_gbytes,
        tx_gbytes,
        rx_pkt,
        tx_pkt,
        rx_er,
        tx_er,
        rx_drp,
        tx_drp,
        info,
        vms,
        vcpus,
        timeouts,
        xml_errors,
    ];
    out.extend(threat_families(
        instances,
        conntrack.and_then(Option::as_ref),
        lists,
    ));
    if let Some(view) = conntrack {
        let mut up = Family::gauge(
            "oie_conntrack_up",
            "1 if the last conntrack dump succeeded (needs CAP_NET_ADMIN).",
        );
        up.set(if view.is_some() { 1.0 } else { 0.0 });
        out.push(up);
        if let Some(v) = view {
            out.push(ct_ip);
            let mut flows = Family::gauge(
                "oie_conntrack_flows",
                "Entries of the conntrack table at the last dump.",
            );
            flows.set(v.flows as f64);
            out.push(flows);
            let mut took = Family::gauge(
                "oie_host_conntrack_read_duration_seconds",
                "How long the last conntrack dump and its matching took.",
            );
            took.set(v.seconds);
            out.push(took);
        }
    }
    out
}

/// The original's `oie_<list>_contact` (1 while an instance has a flow with a listed
/// address), flows per direction, and each list's refresh state.
fn threat_families(
    instances: &[Instance],
    view: Option<&ConntrackView>,
    lists: &[Option<std::sync::Arc<crate::threat::feed::List>>],
) -> Vec<Family> {
    use std::collections::BTreeMap;
    let mut out = Vec::new();
    if lists.iter().all(Option::is_none) {
        return out;
    }
    let mut entries = Family::gauge(
        "oie_threat_list_entries",
        "Addresses and prefixes in the list's last good copy.",
    )
    .with_labels(["list"]);
    let mut success = Family::gauge(
        "oie_threat_list_last_success_timestamp_seconds",
        "When the list was last refreshed successfully (or found unchanged).",
    )
    .with_labels(["list"]);
    let mut errors = Family::counter(
        "oie_threat_list_refresh_errors_total",
        "Refreshes that failed (the previous copy stayed in use).",
    )
    .with_labels(["list"]);
    let mut unchanged = Family::counter(
        "oie_threat_list_not_modified_total",
        "Downloads answered 304 Not Modified.",
    )
    .with_labels(["list"]);
    let mut flows = Family::gauge(
        "oie_threat_contact_flows",
        "Conntrack flows between the instance and addresses on the list, by who opened them (outbound: the instance).",
    )
    .with_labels(["domain", "instance_uuid", "list", "direction"]);
    let mut per: BTreeMap<(usize, usize, bool), u64> = BTreeMap::new();
    for h in view.map(|v| v.hits.as_slice()).unwrap_or_default() {
        *per.entry((h.instance, h.list, h.outbound)).or_default() += 1;
    }
    for (n, list) in lists.iter().enumerate() {
        let Some(list) = list else { continue };
        let name = crate::threat::NAMES[n];
        let st = list.stats();
        entries.push([name], st.entries as f64);
        if let Some(t) = st.last_success {
            success.push([name], t);
        }
        errors.push([name], st.errors as f64);
        unchanged.push([name], st.not_modified as f64);
        let mut contact = Family::gauge(
            format!("oie_{name}_contact"),
            format!(
                "1 while the instance has a conntrack flow with an address on the {name} list."
            ),
        )
        .with_labels(["domain", "instance_uuid", "project_uuid", "user_uuid"]);
        for (i, inst) in instances.iter().enumerate() {
            let (out_n, in_n) = (
                per.get(&(i, n, true)).copied().unwrap_or(0),
                per.get(&(i, n, false)).copied().unwrap_or(0),
            );
            if out_n + in_n > 0 {
                contact.push(
                    [
                        inst.name.as_str(),
                        &inst.uuid,
                        &inst.domain.project_uuid,
                        &inst.domain.user_uuid,
                    ],
                    1.0,
                );
            }
            for (dir, count) in [("outbound", out_n), ("inbound", in_n)] {
                if count > 0 {
                    flows.push([inst.name.as_str(), &inst.uuid, name, dir], count as f64);
                }
            }
        }
        out.push(contact);
    }
    out.extend([entries, success, errors, unchanged, flows]);
    out
}
