//! `/probe`: the original's parameters (`target` or `address`, `usr`, `pwd`,
//! `fingerprint`, `force`, `_port`) plus `module`. Probes of one target are serialized
//! (the modem serves one session and one request at a time), run in their own task so
//! that a scraper giving up never skips the logout, and a lock-out answer stops logins to
//! that target until it expires.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use exporter_core::probe::{ProbeError, ProbeRequest, Prober};
use exporter_core::{Family, Secret};

use crate::client::{Credentials, ModemError, Session};
use crate::config::{AllowList, Config, Module, Variant};
use crate::metrics::{self, Data};
use crate::tls::{Pin, PinVerifier};

/// Time a password command may take at least.
const SECRET_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Default)]
struct Shared {
    /// One lock per target: probes of a target run one after the other.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Targets that answered `LoginProtect`: no login before this instant.
    locked_until: Mutex<HashMap<String, Instant>>,
    /// Passwords read from commands: (value, read at).
    command_cache: Mutex<HashMap<String, (Secret, Instant)>>,
    failures: Mutex<BTreeMap<&'static str, u64>>,
}

#[derive(Clone)]
pub struct HitronProber {
    config: Arc<Config>,
    allow: Arc<AllowList>,
    shared: Arc<Shared>,
}

impl HitronProber {
    pub fn new(config: Config) -> Result<Self, String> {
        Ok(Self {
            allow: Arc::new(AllowList::parse(&config.allowed_targets)?),
            config: Arc::new(config),
            shared: Arc::default(),
        })
    }

    /// `hitron_exporter_probe_failures_total{reason}`, for `/metrics`.
    pub fn failure_families(&self) -> Vec<Family> {
        let mut f = Family::counter(
            "hitron_exporter_probe_failures_total",
            "Probes that failed, by reason (see the log for details).",
        )
        .with_labels(["reason"]);
        for (reason, n) in self
            .shared
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            f.push([*reason], *n as f64);
        }
        vec![f]
    }

    fn count_failure(&self, e: &ModemError) {
        *self
            .shared
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(e.reason())
            .or_default() += 1;
    }

    /// The module's password; a command's answer is reused for `secret_cache`.
    async fn password(&self, module_name: &str, m: &Module) -> Result<Option<Secret>, String> {
        let source = m.password_source();
        let from_command = source.count() == 1 && !m.password_command.is_empty();
        if from_command
            && let Some((s, at)) = self
                .shared
                .command_cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(module_name)
            && at.elapsed() < m.secret_cache
        {
            return Ok(Some(s.clone()));
        }
        let secret = source.read(m.request_timeout.max(SECRET_TIMEOUT)).await?;
        if from_command && let Some(s) = &secret {
            self.shared
                .command_cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(module_name.to_owned(), (s.clone(), Instant::now()));
        }
        Ok(secret)
    }
}

/// The probe's settings, resolved from the module and the URL.
struct Plan {
    host: String,
    base: String,
    variant: Variant,
    creds: Option<Credentials>,
    pin: Option<Pin>,
    force: bool,
    module: Module,
}

/// `192.168.0.1`, `modem.lan`, `192.168.0.1:8443`, `[2001:db8::1]:443`, `2001:db8::1`:
/// the host (without brackets) and the port if given.
fn split_host_port(target: &str) -> Option<(String, Option<u16>)> {
    if target.is_empty() || target.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    if let Ok(sa) = target.parse::<std::net::SocketAddr>() {
        return Some((sa.ip().to_string(), Some(sa.port())));
    }
    let bare = target.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Some((bare.to_owned(), None));
    }
    match target.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') => {
            Some((h.to_owned(), Some(p.parse().ok()?)))
        }
        Some(_) => None,
        None => Some((target.to_owned(), None)),
    }
}

fn bad(msg: impl Into<String>) -> ProbeError<ModemError> {
    ProbeError::BadRequest(msg.into())
}

impl HitronProber {
    async fn plan(&self, req: &ProbeRequest) -> Result<Plan, ProbeError<ModemError>> {
        if req.get("ipa_vault_namespace").is_some() {
            return Err(bad(
                "ipa_vault_namespace is not supported: use a module with password_command (e.g. ipa vault-retrieve)",
            ));
        }
        let target = req
            .get("target")
            .or_else(|| req.get("address"))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("Missing parameter: 'target'"))?;
        let module_name = req.get("module").unwrap_or("default");
        let module = self
            .config
            .modules
            .get(module_name)
            .cloned()
            .or_else(|| (module_name == "default").then(Module::default))
            .ok_or_else(|| bad(format!("unknown module {module_name:?}")))?;
        let (host, target_port) = split_host_port(target.trim()).ok_or_else(|| {
            bad(format!(
                "target {target:?} is not host, host:port or [ipv6]:port"
            ))
        })?;
        if !self.allow.allows(&host) {
            return Err(bad(format!("target {host:?} is not in allowed_targets")));
        }
        let port = match req.get("_port") {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| bad(format!("_port {p:?} is not a port number")))?,
            None => target_port.unwrap_or_else(|| module.port()),
        };
        let force = match req.get("force") {
            None | Some("" | "0") => module.force_logoff,
            Some("1") => true,
            Some(f) => return Err(bad(format!("force {f:?}: expected 0 or 1"))),
        };
        let url_user = req.get("usr").filter(|u| !u.is_empty());
        let url_pwd = req.get("pwd").filter(|p| !p.is_empty());
        if (url_user.is_some() || url_pwd.is_some()) && !self.config.allow_url_credentials {
            return Err(bad(
                "credentials in the probe URL are disabled (allow_url_credentials: false); use a module",
            ));
        }
        let creds = match (url_user, url_pwd) {
            (Some(u), Some(p)) => Some(Credentials {
                username: u.to_owned(),
                password: Secret::new(p),
            }),
            (Some(_), None) | (None, Some(_)) => {
                return Err(bad("Missing parameters: 'usr', 'pwd' (give both)"));
            }
            (None, None) => {
                let password = self
                    .password(module_name, &module)
                    .await
                    .map_err(|e| bad(format!("module {module_name}: {e}")))?;
                match (&module.username, password) {
                    (Some(u), Some(p)) => Some(Credentials {
                        username: u.clone(),
                        password: p,
                    }),
                    _ => None,
                }
            }
        };
        let pin_text = req
            .get("fingerprint")
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .or_else(|| module.fingerprints.get(&host).cloned())
            .or_else(|| module.fingerprint.clone());
        let pin = pin_text
            .as_deref()
            .map(Pin::parse)
            .transpose()
            .map_err(|e| bad(format!("fingerprint: {e}")))?;
        if module.scheme == "https" && pin.is_none() && module.require_fingerprint {
            return Err(bad(format!(
                "module {module_name} requires a fingerprint for {host}"
            )));
        }
        let bracketed = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Ok(Plan {
            base: format!("{}://{bracketed}:{port}", module.scheme),
            host,
            variant: module.variant,
            creds,
            pin,
            force,
            module,
        })
    }
}

async fn run(plan: Plan, deadline: Instant) -> Result<Data, ModemError> {
    let verifier = PinVerifier::new(plan.pin.clone());
    let mut s = Session::new(
        plan.base.clone(),
        Arc::clone(&verifier),
        plan.module.request_timeout,
        deadline,
    )?;
    let result = collect(&mut s, &plan).await;
    s.logout().await;
    if plan.pin.is_none()
        && plan.module.scheme == "https"
        && let Some(seen) = verifier.seen_sha256()
    {
        tracing::warn!(
            target = %plan.host,
            fingerprint = %seen,
            "communication with the target is insecure because no TLS certificate fingerprint was given; it presented this one (pass it as fingerprint= or in the module)"
        );
    }
    result
}

async fn collect(s: &mut Session, plan: &Plan) -> Result<Data, ModemError> {
    let variant = s.detect(plan.variant).await?;
    s.login(variant, plan.creds.as_ref(), plan.force).await?;
    let mut d = Data {
        usinfo: s.data("usinfo").await?,
        dsinfo: s.data("dsinfo").await?,
        ..Data::default()
    };
    d.sysinfo = s.data("getSysInfo").await?.into_iter().next();
    d.model = s.data("system_model").await?.into_iter().next();
    d.cminit = s.data("getCMInit").await?.into_iter().next();
    // Not on every firmware: its absence is not a failure.
    d.docsis_wan = optional(s.data("getCmDocsisWan").await)?.and_then(|r| r.into_iter().next());
    if variant == Variant::Coda && plan.module.ofdm {
        d.ds_ofdm = optional(s.data("dsofdminfo").await)?.unwrap_or_default();
        d.us_ofdm = optional(s.data("usofdminfo").await)?.unwrap_or_default();
    }
    Ok(d)
}

/// An endpoint the model may not have: 404 or an unparsable body is `None`.
fn optional(
    r: Result<Vec<crate::records::Record>, ModemError>,
) -> Result<Option<Vec<crate::records::Record>>, ModemError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ModemError::Status { status: 404, .. } | ModemError::BadBody { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Prober for HitronProber {
    type Error = ModemError;

    async fn probe(&self, req: ProbeRequest) -> Result<Vec<Family>, ProbeError<ModemError>> {
        let plan = self.plan(&req).await?;
        // One modem per address and port (a lab may forward several modems' ports).
        let host = plan.base.clone();
        let prefixes = plan.module.byte_prefixes;
        if let Some(until) = self
            .shared
            .locked_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&host)
            .copied()
            && until > Instant::now()
        {
            let e = ModemError::LockedOut {
                failures: 0,
                wait: until - Instant::now(),
            };
            self.count_failure(&e);
            return Err(ProbeError::Failed(e));
        }
        let lock = Arc::clone(
            self.shared
                .locks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(host.clone())
                .or_default(),
        );
        let deadline = Instant::now() + req.timeout;
        let this = self.clone();
        // A task of its own: if the scraper gives up, the probe still logs out, and the
        // next probe of this target waits for that.
        let task = tokio::spawn(async move {
            let _guard = lock.lock_owned().await;
            let result = run(plan, deadline).await;
            if let Err(ModemError::LockedOut { wait, .. }) = &result {
                this.shared
                    .locked_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(host.clone(), Instant::now() + *wait);
            }
            if let Err(e) = &result {
                this.count_failure(e);
            }
            result
        });
        let data = task
            .await
            .map_err(|e| ProbeError::Failed(ModemError::LoginFailed(format!("probe task: {e}"))))?
            .map_err(ProbeError::Failed)?;
        Ok(metrics::families(&data, prefixes))
    }
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn target_forms() {
        let s = |t: &str| split_host_port(t);
        assert_eq!(s("192.168.0.1"), Some(("192.168.0.1".into(), None)));
        assert_eq!(
            s("192.168.0.1:8443"),
            Some(("192.168.0.1".into(), Some(8443)))
        );
        assert_eq!(s("modem.lan"), Some(("modem.lan".into(), None)));
        assert_eq!(s("modem.lan:80"), Some(("modem.lan".into(), Some(80))));
        assert_eq!(s("2001:db8::1"), Some(("2001:db8::1".into(), None)));
        assert_eq!(s("[2001:db8::1]"), Some(("2001:db8::1".into(), None)));
        assert_eq!(
            s("[2001:db8::1]:443"),
            Some(("2001:db8::1".into(), Some(443)))
        );
        assert_eq!(s("modem.lan:x"), None);
        assert_eq!(s("http://modem"), None);
        assert_eq!(s(""), None);
    }
}
