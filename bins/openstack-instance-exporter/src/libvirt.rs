//! libvirt I/O: one shared connection (read-only by default), re-opened after it is
//! lost, and the blocking calls of one collection. Everything here blocks; the collector
//! runs it on blocking threads under a time limit, so the async runtime never waits on
//! libvirt. Parsing lives in `domain`, arithmetic in `cpu`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use virt::connect::Connect;
use virt::domain::{BlockStats, InterfaceStats};
use virt::error::Error;

/// A domain as listed: enough to look it up in the caches.
pub struct Listed {
    pub uuid: String,
    pub name: String,
    pub handle: virt::domain::Domain,
}

/// One domain's counters, read in one go.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// `virDomainGetXMLDesc`, when asked for.
    pub xml: Option<String>,
    /// Per target device; a device whose call failed is left out.
    pub blocks: Vec<(String, BlockStats)>,
    pub interfaces: Vec<(String, InterfaceStats)>,
    /// Total CPU time (ns) and the wall clock (ns since the epoch) it was read at.
    pub cpu: Option<(u64, u64)>,
}

pub struct Libvirt {
    uri: String,
    read_only: bool,
    conn: Mutex<Option<Arc<Connect>>>,
}

impl Libvirt {
    pub fn new(uri: &str, read_only: bool) -> Self {
        // libvirt prints every error to stderr by default; errors are returned instead.
        virt::error::clear_error_callback();
        Self {
            uri: uri.to_owned(),
            read_only,
            conn: Mutex::new(None),
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The connection, opened if there is none.
    pub(crate) fn connection(&self) -> Result<Arc<Connect>, Error> {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = guard.as_ref() {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(if self.read_only {
            Connect::open_read_only(Some(&self.uri))?
        } else {
            Connect::open(Some(&self.uri))?
        });
        tracing::info!(uri = %self.uri, read_only = self.read_only, "connected to libvirt");
        *guard = Some(Arc::clone(&c));
        Ok(c)
    }

    /// Forgets the connection (after an error): the next call opens a new one.
    pub fn reset(&self) {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// The active domains.
    pub fn list_active(&self) -> Result<Vec<Listed>, Error> {
        let conn = self.connection()?;
        let domains = conn.list_all_domains(virt::sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)?;
        let mut out = Vec::with_capacity(domains.len());
        for handle in domains {
            // A domain that vanished between the list and these calls is skipped.
            let (Ok(uuid), Ok(name)) = (handle.uuid_string(), handle.name()) else {
                continue;
            };
            out.push(Listed { uuid, name, handle });
        }
        Ok(out)
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Reads one domain: its XML if `xml` (then its devices from it), else the stats of the
/// given devices. A device's failure leaves that device out; the XML's failure is the
/// domain's.
pub fn read(
    dom: &virt::domain::Domain,
    xml: bool,
    disks: &[String],
    interfaces: &[String],
) -> Result<Reading, Error> {
    let mut r = Reading::default();
    let parsed;
    let (disks, interfaces) = if xml {
        let text = dom.xml_desc(0)?;
        parsed = crate::domain::parse(&text).ok();
        r.xml = Some(text);
        match &parsed {
            Some(d) => (
                d.disks.iter().map(|x| x.path.clone()).collect::<Vec<_>>(),
                d.interfaces.clone(),
            ),
            None => (Vec::new(), Vec::new()),
        }
    } else {
        (disks.to_vec(), interfaces.to_vec())
    };
    for dev in disks {
        match dom.block_stats(&dev) {
            Ok(s) => r.blocks.push((dev, s)),
            Err(e) => tracing::debug!(device = %dev, error = %e, "block stats"),
        }
    }
    for dev in interfaces {
        match dom.interface_stats(&dev) {
            Ok(s) => r.interfaces.push((dev, s)),
            Err(e) => tracing::debug!(device = %dev, error = %e, "interface stats"),
        }
    }
    // ncpus = 1 with start -1: the domain's total (the crate sizes its buffer by ncpus).
    match dom.cpu_stats(-1, 1, 0) {
        Ok(stats) => {
            r.cpu = stats
                .first()
                .and_then(|s| s.cpu_time)
                .map(|t| (t, now_ns()));
        }
        Err(e) => tracing::debug!(error = %e, "cpu stats"),
    }
    Ok(r)
}
