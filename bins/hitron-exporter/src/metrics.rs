//! Families from the modem's records: the original's names, types and labels first
//! (yrro/hitron-exporter), then what its peers export (CM init steps, DOCSIS WAN,
//! codeword counters, DOCSIS 3.1 OFDM/OFDMA). A field that is absent or a placeholder
//! leaves its sample out; it is never reported as 0.

use exporter_core::Family;

use crate::records::Record;
use crate::values::{self, BytePrefixes};

/// What one probe read.
#[derive(Debug, Default, Clone)]
pub struct Data {
    pub usinfo: Vec<Record>,
    pub dsinfo: Vec<Record>,
    pub sysinfo: Option<Record>,
    pub model: Option<Record>,
    pub cminit: Option<Record>,
    pub docsis_wan: Option<Record>,
    pub ds_ofdm: Vec<Record>,
    pub us_ofdm: Vec<Record>,
}

const CHANNEL_LABELS: [&str; 3] = ["port", "channel", "frequency"];

fn channel_labels(r: &Record) -> [String; 3] {
    [
        r.get("portId").trim().to_owned(),
        r.get("channelId").trim().to_owned(),
        r.get("frequency").trim().to_owned(),
    ]
}

fn channel_gauge(
    name: &str,
    help: &str,
    records: &[Record],
    value: impl Fn(&Record) -> Option<f64>,
) -> Family {
    let mut f = Family::gauge(name, help).with_labels(CHANNEL_LABELS);
    for r in records {
        if let Some(v) = value(r) {
            f.push(channel_labels(r), v);
        }
    }
    f
}

fn channel_counter(name: &str, help: &str, records: &[Record], field: &str) -> Option<Family> {
    if !records.iter().any(|r| r.has(field)) {
        return None;
    }
    let mut f = Family::counter(name, help).with_labels(CHANNEL_LABELS);
    for r in records {
        if let Some(v) = values::wrapped_counter(r.get(field)) {
            f.push(channel_labels(r), v);
        }
    }
    Some(f)
}

pub fn families(d: &Data, prefixes: BytePrefixes) -> Vec<Family> {
    let mut out = vec![
        channel_gauge(
            "hitron_channel_upstream_signal_strength_dbmv",
            "Upstream channel transmit power (dBmV).",
            &d.usinfo,
            |r| values::number(r.get("signalStrength")),
        ),
        channel_gauge(
            "hitron_channel_upstream_bandwidth",
            "Upstream channel width (Hz).",
            &d.usinfo,
            |r| values::number(r.get("bandwidth")),
        ),
        channel_gauge(
            "hitron_channel_downstream_signal_strength_dbmv",
            "Downstream channel receive power (dBmV).",
            &d.dsinfo,
            |r| values::number(r.get("signalStrength")),
        ),
        channel_gauge(
            "hitron_channel_downstream_snr",
            "Downstream channel signal-to-noise ratio (dB).",
            &d.dsinfo,
            |r| values::number(r.get("snr")),
        ),
    ];
    let mut modulation = Family::info(
        "hitron_channel_downstream_modulation_info",
        "Downstream channel modulation.",
    )
    .with_labels(["port", "channel", "frequency", "modulation"]);
    for r in &d.dsinfo {
        if let Some(m) = values::modulation(r.get("modulation")) {
            let [p, c, f] = channel_labels(r);
            modulation.push([p, c, f, m], 1.0);
        }
    }
    out.push(modulation);
    out.extend(channel_counter(
        "hitron_channel_downstream_corrected_codewords_total",
        "Downstream codewords with errors corrected (where the model reports them; reset on reboot).",
        &d.dsinfo,
        "correcteds",
    ));
    out.extend(channel_counter(
        "hitron_channel_downstream_uncorrectable_codewords_total",
        "Downstream codewords with uncorrectable errors (where the model reports them; reset on reboot).",
        &d.dsinfo,
        "uncorrect",
    ));
    out.extend(channel_counter(
        "hitron_channel_downstream_received_bytes_total",
        "Downstream bytes received per channel (where the model reports them; reset on reboot).",
        &d.dsinfo,
        "dsoctets",
    ));

    if let Some(s) = &d.sysinfo {
        out.extend(system(s, d.model.as_ref(), prefixes));
    }
    if let Some(c) = &d.cminit {
        out.extend(cm_init(c));
    }
    if let Some(w) = &d.docsis_wan {
        out.extend(docsis_wan(w));
    }
    if !d.ds_ofdm.is_empty() {
        out.extend(ds_ofdm(&d.ds_ofdm));
    }
    if !d.us_ofdm.is_empty() {
        out.extend(us_ofdma(&d.us_ofdm));
    }
    out
}

fn system(s: &Record, model: Option<&Record>, prefixes: BytePrefixes) -> Vec<Family> {
    let mut out = Vec::new();
    let mut uptime = Family::counter(
        "hitron_system_uptime_seconds_total",
        "Time since the modem started (seconds).",
    );
    // The original leaves out an uptime of 0 (not yet known after boot).
    if let Some(u) = values::duration(s.get("systemUptime")).filter(|u| *u > 0.0) {
        uptime.set(u);
    }
    out.push(uptime);
    let mut clock = Family::gauge(
        "hitron_system_clock_timestamp_seconds",
        "The modem's clock, read as UTC (the modem gives no time zone).",
    );
    if let Some(t) = values::system_time(s.get("systemTime")) {
        clock.set(t);
    }
    out.push(clock);
    for (name, help, lan, wan) in [
        (
            "hitron_network_transmit_bytes_total",
            "Bytes sent by the modem's LAN and WAN sides (coarse: the modem rounds to 2 decimals of its unit).",
            "LSendPkt",
            "WSendPkt",
        ),
        (
            "hitron_network_receive_bytes_total",
            "Bytes received by the modem's LAN and WAN sides (coarse: the modem rounds to 2 decimals of its unit).",
            "LRecPkt",
            "WRecPkt",
        ),
    ] {
        let mut f = Family::counter(name, help).with_labels(["device"]);
        for (device, field) in [("lan", lan), ("wan", wan)] {
            // The original leaves out 0 (a counter not yet known).
            if let Some(v) = values::bytes(s.get(field), prefixes).filter(|v| *v > 0.0) {
                f.push([device], v);
            }
        }
        out.push(f);
    }
    let mut info = Family::info("hitron_system_info", "Modem identity.").with_labels([
        "serial_number",
        "software_version",
        "hardware_version",
        "model_name",
    ]);
    info.push(
        [
            s.get("serialNumber").trim(),
            s.get("swVersion").trim(),
            s.get("hwVersion").trim(),
            model.map_or("", |m| m.get("modelName").trim()),
        ],
        1.0,
    );
    out.push(info);
    out
}

/// The CM init steps, in the modem's order.
const STEPS: [(&str, &str); 10] = [
    ("hwInit", "hw_init"),
    ("findDownstream", "find_downstream"),
    ("ranging", "ranging"),
    ("dhcp", "dhcp"),
    ("timeOfday", "time_of_day"),
    ("downloadCfg", "download_config"),
    ("registration", "registration"),
    ("eaeStatus", "eae"),
    ("networkAccess", "network_access"),
    ("trafficStatus", "traffic"),
];

fn cm_init(c: &Record) -> Vec<Family> {
    let mut bpi = Family::info(
        "hitron_cm_bpi_info",
        "Cable Modem Baseline Privacy Interface",
    )
    .with_labels(["auth", "tek"]);
    let pairs = values::bpi(c.get("bpiStatus"));
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    if !pairs.is_empty() {
        bpi.push([get("auth"), get("tek")], 1.0);
    }
    let mut steps = Family::gauge(
        "hitron_cm_init_step_success",
        "1 if the cable modem's initialisation step succeeded (Success, Permitted, Enable), 0 if not (yet); steps the modem hides (Secret) are left out.",
    )
    .with_labels(["step"]);
    for (field, step) in STEPS {
        // `Disable` (EAE on CODA) is a feature turned off, not a step that failed.
        if c.get(field)
            .trim()
            .to_ascii_lowercase()
            .starts_with("disable")
        {
            continue;
        }
        if let Some(v) = values::step(c.get(field)) {
            steps.push([step], v);
        }
    }
    vec![bpi, steps]
}

fn docsis_wan(w: &Record) -> Vec<Family> {
    let mut access = Family::gauge(
        "hitron_cm_network_access",
        "1 if the provisioning system permits network access (NetworkAccess: Permitted).",
    );
    if let Some(v) = values::step(w.get("NetworkAccess")) {
        access.set(v);
    }
    let mut info = Family::info(
        "hitron_cm_docsis_wan_info",
        "The cable modem's own DOCSIS address and config file.",
    )
    .with_labels(["ip", "netmask", "gateway", "config_file"]);
    let config = if w.has("ConfignameDisplay") {
        w.get("ConfignameDisplay")
    } else {
        w.get("Configname")
    };
    let text = |v: &str| values::present(v).unwrap_or_default().to_owned();
    info.push(
        [
            text(w.get("CmIpAddress")),
            text(w.get("CmNetMask")),
            text(w.get("CmGateway")),
            text(config),
        ],
        1.0,
    );
    let mut lease = Family::gauge(
        "hitron_cm_dhcp_lease_remaining_seconds",
        "Time left on the cable modem's DHCP lease.",
    );
    if let Some(v) = values::duration(w.get("CmIpLeaseDuration")) {
        lease.set(v);
    }
    vec![access, info, lease]
}

/// A field's parser.
type Parse = fn(&str) -> Option<f64>;

fn ds_ofdm(records: &[Record]) -> Vec<Family> {
    let labels = ["receiver"];
    let recv = |r: &Record| r.get("receive").trim().to_owned();
    let mut lock = Family::gauge(
        "hitron_ofdm_downstream_lock",
        "1 if the DOCSIS 3.1 OFDM receiver has locked this stage (plc, ncp, mdc1).",
    )
    .with_labels(["receiver", "stage"]);
    let mut gauges: Vec<(Family, &str, Parse)> = vec![
        (
            Family::gauge(
                "hitron_ofdm_downstream_plc_power_dbmv",
                "OFDM PLC receive power (dBmV).",
            )
            .with_labels(labels),
            "plcpower",
            values::number,
        ),
        (
            Family::gauge(
                "hitron_ofdm_downstream_snr",
                "OFDM signal-to-noise ratio (dB).",
            )
            .with_labels(labels),
            "SNR",
            values::number,
        ),
        (
            Family::gauge(
                "hitron_ofdm_downstream_subcarrier0_frequency_hertz",
                "Frequency of the OFDM channel's subcarrier 0.",
            )
            .with_labels(labels),
            "Subcarr0freqFreq",
            values::number,
        ),
        (
            Family::counter(
                "hitron_ofdm_downstream_received_bytes_total",
                "OFDM bytes received (reset on reboot).",
            )
            .with_labels(labels),
            "dsoctets",
            values::wrapped_counter,
        ),
        (
            Family::counter(
                "hitron_ofdm_downstream_corrected_codewords_total",
                "OFDM codewords with errors corrected (reset on reboot).",
            )
            .with_labels(labels),
            "correcteds",
            values::wrapped_counter,
        ),
        (
            Family::counter(
                "hitron_ofdm_downstream_uncorrectable_codewords_total",
                "OFDM codewords with uncorrectable errors (reset on reboot).",
            )
            .with_labels(labels),
            "uncorrect",
            values::wrapped_counter,
        ),
    ];
    for r in records {
        for (stage, field) in [("plc", "plclock"), ("ncp", "ncplock"), ("mdc1", "mdc1lock")] {
            if let Some(v) = values::step(r.get(field)) {
                lock.push([recv(r), stage.to_owned()], v);
            }
        }
        for (family, field, parse) in &mut gauges {
            if let Some(v) = parse(r.get(field)) {
                family.push([recv(r)], v);
            }
        }
    }
    std::iter::once(lock)
        .chain(gauges.into_iter().map(|(f, _, _)| f))
        .collect()
}

fn us_ofdma(records: &[Record]) -> Vec<Family> {
    let mut enabled = Family::gauge(
        "hitron_ofdma_upstream_enabled",
        "1 if the DOCSIS 3.1 OFDMA upstream channel operates (often 0: not a fault).",
    )
    .with_labels(["channel"]);
    let mut power = Family::gauge(
        "hitron_ofdma_upstream_power_dbmv",
        "OFDMA transmit power per 1.6 MHz (dBmV; the modem reports quarter dBmV in repPower1_6).",
    )
    .with_labels(["channel"]);
    let mut width = Family::gauge(
        "hitron_ofdma_upstream_bandwidth_hertz",
        "OFDMA channel width.",
    )
    .with_labels(["channel"]);
    for r in records {
        let ch = r.get("uschindex").trim().to_owned();
        let state = values::step(r.get("state"));
        if let Some(v) = state {
            enabled.push([ch.clone()], v);
        }
        // A disabled channel reports zeros that mean nothing.
        if state != Some(1.0) {
            continue;
        }
        if let Some(v) = values::number(r.get("repPower1_6")) {
            power.push([ch.clone()], v / 4.0);
        }
        if let Some(v) = values::number(r.get("channelBw")) {
            width.push([ch], v * 1e6);
        }
    }
    vec![enabled, power, width]
}
