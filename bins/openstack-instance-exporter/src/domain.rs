//! What a domain's XML says, parsed without libvirt: Nova's metadata (owner, flavor
//! vCPUs, fixed IPs of `nova:ports`), the disks with the original's disk-type rule, and
//! the interfaces. Pure, so it is tested on its own; namespace-aware (Nova 1.1, and 1.0
//! for older guests), unlike the original, which matched local names only.

use std::net::IpAddr;

use roxmltree::Node;

/// Nova's metadata namespaces, newest first.
pub const NOVA_NS: [&str; 2] = [
    "http://openstack.org/xmlns/libvirt/nova/1.1",
    "http://openstack.org/xmlns/libvirt/nova/1.0",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Domain {
    /// `nova:name`: the instance's name in OpenStack.
    pub nova_name: String,
    pub flavor: String,
    /// `nova:flavor/nova:vcpus` (0 if absent).
    pub vcpus: u32,
    pub user_uuid: String,
    pub user_name: String,
    pub project_uuid: String,
    pub project_name: String,
    /// Every `nova:ip` of every port.
    pub fixed_ips: Vec<IpAddr>,
    pub disks: Vec<Disk>,
    /// Target devices (the tap names).
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::struct_field_names,
    reason = "named after the original's labels disk_type, disk_uuid"
)]
pub struct Disk {
    /// `local` for a file, the Ceph pool for RBD, `unknown` otherwise.
    pub disk_type: String,
    /// The file path, or the RBD image (the part after the pool).
    pub disk_uuid: String,
    /// The target device (`vda`).
    pub path: String,
}

#[derive(Debug, thiserror::Error)]
#[error("domain XML: {0}")]
pub struct ParseError(String);

/// Parses `virDomainGetXMLDesc`'s output.
pub fn parse(xml: &str) -> Result<Domain, ParseError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| ParseError(e.to_string()))?;
    read(&doc)
}

#[allow(
    clippy::assigning_clones,
    reason = "each field is filled from an optional element"
)]
fn read<'a>(doc: &'a roxmltree::Document<'a>) -> Result<Domain, ParseError> {
    let root = doc.root_element();
    if !root.has_tag_name("domain") {
        return Err(ParseError(format!(
            "root element is <{}>, not <domain>",
            root.tag_name().name()
        )));
    }
    let mut d = Domain::default();
    if let Some(nova) = root
        .children()
        .filter(|n| n.has_tag_name("metadata"))
        .flat_map(|m| m.children())
        .find(|n| {
            n.tag_name().name() == "instance"
                && NOVA_NS.contains(&n.tag_name().namespace().unwrap_or(""))
        })
    {
        let ns = nova.tag_name().namespace().unwrap_or("");
        let child = |parent: Node<'a, 'a>, name: &str| -> Option<Node<'a, 'a>> {
            parent.children().find(|n| n.has_tag_name((ns, name)))
        };
        d.nova_name = child(nova, "name")
            .and_then(|n| n.text())
            .unwrap_or_default()
            .trim()
            .to_owned();
        if let Some(flavor) = child(nova, "flavor") {
            d.flavor = flavor.attribute("name").unwrap_or_default().to_owned();
            d.vcpus = child(flavor, "vcpus")
                .and_then(|n| n.text())
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
        }
        if let Some(owner) = child(nova, "owner") {
            if let Some(u) = child(owner, "user") {
                d.user_uuid = u.attribute("uuid").unwrap_or_default().to_owned();
                d.user_name = u.text().unwrap_or_default().trim().to_owned();
            }
            if let Some(p) = child(owner, "project") {
                d.project_uuid = p.attribute("uuid").unwrap_or_default().to_owned();
                d.project_name = p.text().unwrap_or_default().trim().to_owned();
            }
        }
        if let Some(ports) = child(nova, "ports") {
            // Any element under ports, as the original; every ip of it.
            for ip in ports
                .children()
                .filter(Node::is_element)
                .flat_map(|port| port.children())
                .filter(|n| n.has_tag_name((ns, "ip")))
            {
                if let Some(addr) = ip.attribute("address").and_then(|a| a.parse().ok())
                    && !d.fixed_ips.contains(&addr)
                {
                    d.fixed_ips.push(addr);
                }
            }
        }
    }
    let Some(devices) = root.children().find(|n| n.has_tag_name("devices")) else {
        return Ok(d);
    };
    for disk in devices
        .children()
        .filter(|n| n.has_tag_name("disk") && n.attribute("device") == Some("disk"))
    {
        let Some(path) = disk
            .children()
            .find(|n| n.has_tag_name("target"))
            .and_then(|t| t.attribute("dev"))
        else {
            continue;
        };
        let source = disk.children().find(|n| n.has_tag_name("source"));
        let (disk_type, disk_uuid) = disk_kind(
            disk.attribute("type").unwrap_or_default(),
            source.and_then(|s| s.attribute("file")),
            source.and_then(|s| s.attribute("name")),
        );
        // The original dropped duplicate (type, path) pairs.
        if d.disks
            .iter()
            .any(|x| x.disk_type == disk_type && x.path == path)
        {
            continue;
        }
        d.disks.push(Disk {
            disk_type,
            disk_uuid,
            path: path.to_owned(),
        });
    }
    for dev in devices
        .children()
        .filter(|n| n.has_tag_name("interface"))
        .filter_map(|i| i.children().find(|n| n.has_tag_name("target")))
        .filter_map(|t| t.attribute("dev"))
    {
        if !d.interfaces.iter().any(|i| i == dev) {
            d.interfaces.push(dev.to_owned());
        }
    }
    Ok(d)
}

/// The original's rule: a file is `local` with its path as the uuid; otherwise the
/// source name `pool/image` gives the pool and the image; without a `/`, `unknown`.
pub fn disk_kind(kind: &str, file: Option<&str>, name: Option<&str>) -> (String, String) {
    if kind == "file" {
        return ("local".into(), file.unwrap_or_default().to_owned());
    }
    match name.and_then(|n| n.split_once('/')) {
        Some((pool, rest)) => {
            // `pool/namespace/image`: the original took the second part.
            let image = rest.split('/').next().unwrap_or(rest);
            (pool.to_owned(), image.to_owned())
        }
        None => ("unknown".into(), "unknown".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/compute-node.xml");

    /// The fixture's domains, each as its own document (what `xml_desc` returns).
    fn domain(n: usize) -> String {
        let doc = roxmltree::Document::parse(FIXTURE).expect("fixture");
        let node = doc
            .root_element()
            .children()
            .filter(|c| c.has_tag_name("domain"))
            .nth(n)
            .expect("domain");
        FIXTURE[node.range()].to_owned()
    }

    #[test]
    fn nova_metadata_disks_and_interfaces() {
        let a = parse(&domain(0)).expect("a001");
        assert_eq!(a.nova_name, "web-01");
        assert_eq!(a.vcpus, 2);
        assert_eq!(a.user_uuid, "9a1b2c3d4e5f40718293a4b5c6d7e8f9");
        assert_eq!(a.project_uuid, "1f2e3d4c5b6a47988776655443322110");
        assert_eq!(a.project_name, "webshop");
        assert_eq!(a.fixed_ips, ["10.20.0.11".parse::<IpAddr>().expect("ip")]);
        assert_eq!(
            a.disks,
            [
                Disk {
                    disk_type: "vms".into(),
                    disk_uuid: "0b3f8c1e-5a7d-4c2e-9f10-1a2b3c4d5e01_disk".into(),
                    path: "vda".into()
                },
                Disk {
                    disk_type: "volumes".into(),
                    disk_uuid: "volume-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9".into(),
                    path: "vdb".into()
                }
            ]
        );
        assert_eq!(a.interfaces, ["tapaa11bb22-cc"]);
        let b = parse(&domain(1)).expect("a002");
        assert_eq!(b.vcpus, 4);
        assert_eq!(b.fixed_ips.len(), 3);
        assert!(
            b.fixed_ips
                .contains(&"2001:db8:20::12".parse().expect("v6"))
        );
        // The config drive (cdrom) is not a disk.
        assert_eq!(b.disks.len(), 1);
        assert_eq!(b.disks[0].disk_type, "local");
        assert_eq!(
            b.disks[0].disk_uuid,
            "/var/lib/nova/instances/0b3f8c1e-5a7d-4c2e-9f10-1a2b3c4d5e02/disk"
        );
        assert_eq!(b.interfaces, ["tapbb22cc33-dd", "tapcc33dd44-ee"]);
    }

    #[test]
    fn disk_type_rule() {
        assert_eq!(
            disk_kind("network", None, Some("vms/x_disk")),
            ("vms".into(), "x_disk".into())
        );
        assert_eq!(
            disk_kind("network", None, Some("pool/ns/img")),
            ("pool".into(), "ns".into())
        );
        assert_eq!(
            disk_kind("block", None, None),
            ("unknown".into(), "unknown".into())
        );
        assert_eq!(
            disk_kind("file", Some("/a/b"), None),
            ("local".into(), "/a/b".into())
        );
    }

    #[test]
    fn other_namespaces_and_garbage() {
        let old = domain(0).replace("nova/1.1", "nova/1.0");
        assert_eq!(parse(&old).expect("1.0").vcpus, 2);
        // A foreign namespace with the same local names is not Nova's.
        let foreign = domain(0).replace("http://openstack.org/xmlns/libvirt/nova/1.1", "urn:other");
        let f = parse(&foreign).expect("foreign");
        assert_eq!((f.vcpus, f.fixed_ips.len()), (0, 0));
        assert!(parse("<domain").is_err());
        assert!(parse("<node/>").is_err());
        // A domain without metadata or devices is still a domain.
        assert_eq!(
            parse("<domain><name>x</name></domain>").expect("bare"),
            Domain::default()
        );
    }
}
