//! Keeping a threat list fresh: each feed on its own interval, with a time limit,
//! conditional GET (`If-None-Match`, `If-Modified-Since`), and its last good copy on
//! disk so that a restart without network still matches. A failed refresh keeps the
//! list it had and is counted; the lookup side only ever sees a whole list.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use ipnet::IpNet;

use super::list::{Parsed, Set};

/// A list as the collector sees it, with its refresh statistics.
pub struct List {
    pub name: &'static str,
    pub set: ArcSwap<Set>,
    pub stats: Mutex<Stats>,
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub last_success: Option<f64>,
    pub errors: u64,
    pub not_modified: u64,
    pub last_duration: Option<f64>,
    /// Addresses and prefixes read (before merging).
    pub entries: usize,
}

impl List {
    pub fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self {
            name,
            set: ArcSwap::from_pointee(Set::default()),
            stats: Mutex::new(Stats::default()),
        })
    }

    pub fn stats(&self) -> Stats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

pub enum Source {
    /// One or more URLs whose entries together make the list (Spamhaus: v4 and v6).
    Urls(Vec<String>),
    /// A local file, re-read every refresh.
    File(PathBuf),
}

pub struct Feed {
    pub list: Arc<List>,
    pub source: Source,
    pub parse: fn(&[u8]) -> Result<Parsed, String>,
    pub refresh: Duration,
    pub timeout: Duration,
    /// Where the last good copies live; `None`: memory only.
    pub state_dir: Option<PathBuf>,
}

/// What is kept per URL between refreshes.
#[derive(Default, Clone)]
struct Copy {
    nets: Vec<IpNet>,
    etag: Option<String>,
    last_modified: Option<String>,
    have: bool,
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Feed {
    fn cache_path(&self, i: usize) -> Option<(PathBuf, PathBuf)> {
        self.state_dir.as_ref().map(|d| {
            (
                d.join(format!("{}-{i}.body", self.list.name)),
                d.join(format!("{}-{i}.meta", self.list.name)),
            )
        })
    }

    /// The copies left on disk by an earlier run.
    async fn load_disk(&self, n: usize) -> Vec<Copy> {
        let mut copies = vec![Copy::default(); n];
        for (i, copy) in copies.iter_mut().enumerate() {
            let Some((body, meta)) = self.cache_path(i) else {
                continue;
            };
            let Ok(bytes) = tokio::fs::read(&body).await else {
                continue;
            };
            match (self.parse)(&bytes) {
                Ok(p) => {
                    copy.nets = p.nets;
                    copy.have = true;
                    let meta = tokio::fs::read_to_string(&meta).await.unwrap_or_default();
                    for line in meta.lines() {
                        if let Some(v) = line.strip_prefix("etag: ") {
                            copy.etag = Some(v.to_owned());
                        } else if let Some(v) = line.strip_prefix("last-modified: ") {
                            copy.last_modified = Some(v.to_owned());
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(list = self.list.name, file = %body.display(), error = %e, "ignoring the disk copy");
                }
            }
        }
        copies
    }

    async fn save_disk(&self, i: usize, body: &[u8], copy: &Copy) {
        let Some((path, meta)) = self.cache_path(i) else {
            return;
        };
        let mut m = String::new();
        if let Some(e) = &copy.etag {
            m = m + "etag: " + e + "\n";
        }
        if let Some(l) = &copy.last_modified {
            m = m + "last-modified: " + l + "\n";
        }
        // Written aside, then renamed: a crash never leaves half a list.
        let result = async {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            let tmp = path.with_extension("tmp");
            tokio::fs::write(&tmp, body).await?;
            tokio::fs::rename(&tmp, &path).await?;
            tokio::fs::write(&meta, m).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(list = self.list.name, file = %path.display(), error = %e, "cannot keep the list on disk; it stays in memory");
        }
    }

    fn publish(&self, copies: &[Copy]) {
        let nets: Vec<IpNet> = copies.iter().flat_map(|c| c.nets.iter().copied()).collect();
        let entries = nets.len();
        self.list.set.store(Arc::new(Set::new(nets)));
        self.list
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries = entries;
    }

    fn failed(&self, why: &str) {
        self.list
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .errors += 1;
        tracing::warn!(list = self.list.name, error = %why, "cannot refresh the list; the previous one stays in use");
    }

    /// One refresh of a URL: its new copy, or the old one on 304, or an error.
    async fn fetch(
        &self,
        http: &reqwest::Client,
        url: &str,
        old: &Copy,
    ) -> Result<Option<(Copy, Vec<u8>)>, String> {
        let mut req = http.get(url).timeout(self.timeout);
        if old.have {
            if let Some(e) = &old.etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, e);
            }
            if let Some(l) = &old.last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, l);
            }
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{}: {}", redact(url), e.without_url()))?;
        if resp.status() == reqwest::StatusCode::NOT_MODIFIED && old.have {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(format!("{}: HTTP {}", redact(url), resp.status().as_u16()));
        }
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, last_modified) = (
            header(reqwest::header::ETAG),
            header(reqwest::header::LAST_MODIFIED),
        );
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("{}: {}", redact(url), e.without_url()))?;
        let parsed = (self.parse)(&body).map_err(|e| format!("{}: {e}", redact(url)))?;
        if parsed.skipped > 0 {
            tracing::debug!(list = self.list.name, url = %redact(url), skipped = parsed.skipped, "entries that are not addresses were skipped");
        }
        Ok(Some((
            Copy {
                nets: parsed.nets,
                etag,
                last_modified,
                have: true,
            },
            body.to_vec(),
        )))
    }

    /// Runs until `stop`: the disk copy first, then a refresh every `refresh`.
    pub async fn run(self, http: reqwest::Client, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut copies = match &self.source {
            Source::Urls(urls) => {
                let copies = self.load_disk(urls.len()).await;
                if copies.iter().any(|c| c.have) {
                    self.publish(&copies);
                    tracing::info!(
                        list = self.list.name,
                        entries = self.list.stats().entries,
                        "loaded the last good copy from disk"
                    );
                }
                copies
            }
            Source::File(_) => vec![Copy::default()],
        };
        loop {
            let started = Instant::now();
            let ok = match &self.source {
                Source::Urls(urls) => {
                    let mut ok = true;
                    let mut not_modified = 0;
                    for (i, url) in urls.iter().enumerate() {
                        match self.fetch(&http, url, &copies[i]).await {
                            Ok(Some((copy, body))) => {
                                self.save_disk(i, &body, &copy).await;
                                copies[i] = copy;
                            }
                            Ok(None) => not_modified += 1,
                            Err(e) => {
                                ok = false;
                                self.failed(&e);
                            }
                        }
                    }
                    self.list
                        .stats
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .not_modified += not_modified;
                    if ok {
                        self.publish(&copies);
                    }
                    ok
                }
                Source::File(path) => match read_file(path, self.parse).await {
                    Ok(parsed) => {
                        copies[0].nets = parsed.nets;
                        self.publish(&copies);
                        true
                    }
                    Err(e) => {
                        self.failed(&e);
                        false
                    }
                },
            };
            {
                let mut s = self
                    .list
                    .stats
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                s.last_duration = Some(started.elapsed().as_secs_f64());
                if ok {
                    s.last_success = Some(now_unix());
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.refresh) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

async fn read_file(
    path: &Path,
    parse: fn(&[u8]) -> Result<Parsed, String>,
) -> Result<Parsed, String> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// A URL without its query string (feeds may carry an API key there).
fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
