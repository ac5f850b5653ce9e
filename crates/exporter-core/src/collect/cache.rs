//! Caches with a time-to-live and a size bound, so memory is bounded whatever the input.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::metrics::{Family, merge_families};

/// A map whose entries expire `ttl` after insertion and which never holds more than
/// `capacity` entries: when full, expired entries go first, then the oldest tenth.
///
/// Used for the exporters' slow-changing lookups (domain metadata, lock-outs, feeds).
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<K, (Instant, V)>,
}

impl<K: Eq + Hash + Clone, V> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// The value for `key` if present and not expired at `now`.
    pub fn get_at(&self, key: &K, now: Instant) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(_, v)| v)
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.get_at(key, Instant::now())
    }

    pub fn insert_at(&mut self, key: K, value: V, now: Instant) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.sweep_at(now);
            if self.entries.len() >= self.capacity {
                self.evict_oldest(self.capacity.div_ceil(10));
            }
        }
        self.entries.insert(key, (now, value));
    }

    pub fn insert(&mut self, key: K, value: V) {
        self.insert_at(key, value, Instant::now());
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|(_, v)| v)
    }

    /// Drops expired entries; returns how many.
    pub fn sweep_at(&mut self, now: Instant) -> usize {
        let before = self.entries.len();
        let ttl = self.ttl;
        self.entries
            .retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
        before - self.entries.len()
    }

    pub fn sweep(&mut self) -> usize {
        self.sweep_at(Instant::now())
    }

    /// Keeps only the entries for which `keep` is true (e.g. objects that still exist).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.entries.retain(|k, (_, v)| keep(k, v));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn evict_oldest(&mut self, n: usize) {
        let mut by_age: Vec<(Instant, K)> = self
            .entries
            .iter()
            .map(|(k, (at, _))| (*at, k.clone()))
            .collect();
        by_age.sort_by_key(|(at, _)| *at);
        for (_, k) in by_age.into_iter().take(n) {
            self.entries.remove(&k);
        }
    }
}

#[derive(Debug)]
struct Published {
    families: Vec<Family>,
    expires: Instant,
}

/// The latest snapshot of every collector. The HTTP server encodes from here, so a scrape
/// never waits for a source. Expired snapshots are evicted; the merged view is cached
/// until something changes.
#[derive(Debug, Default)]
pub struct SnapshotStore {
    inner: Mutex<StoreInner>,
}

#[derive(Debug, Default)]
struct StoreInner {
    by_collector: BTreeMap<String, Published>,
    merged: Option<Arc<Vec<Family>>>,
    next_expiry: Option<Instant>,
}

impl SnapshotStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces `collector`'s snapshot; it is served until `now + ttl`.
    pub fn publish(&self, collector: &str, families: Vec<Family>, ttl: Duration) {
        let now = Instant::now();
        let mut inner = self.lock();
        let expires = now + ttl;
        inner
            .by_collector
            .insert(collector.to_owned(), Published { families, expires });
        inner.merged = None;
        inner.next_expiry = Some(inner.next_expiry.map_or(expires, |e| e.min(expires)));
    }

    /// Drops `collector`'s snapshot at once (e.g. a collector removed by a reload).
    pub fn remove(&self, collector: &str) {
        let mut inner = self.lock();
        if inner.by_collector.remove(collector).is_some() {
            inner.merged = None;
        }
    }

    /// All current families, merged by name and sorted.
    pub fn gather(&self) -> Arc<Vec<Family>> {
        self.gather_at(Instant::now())
    }

    pub(crate) fn gather_at(&self, now: Instant) -> Arc<Vec<Family>> {
        let mut inner = self.lock();
        if inner.next_expiry.is_some_and(|e| e <= now) {
            let before = inner.by_collector.len();
            inner.by_collector.retain(|name, p| {
                let keep = p.expires > now;
                if !keep {
                    tracing::warn!(collector = %name, "snapshot expired: no successful run within its TTL, its series are no longer served");
                }
                keep
            });
            if inner.by_collector.len() != before {
                inner.merged = None;
            }
            inner.next_expiry = inner.by_collector.values().map(|p| p.expires).min();
        }
        if let Some(merged) = &inner.merged {
            return Arc::clone(merged);
        }
        let merged = Arc::new(merge_families(
            inner
                .by_collector
                .values()
                .flat_map(|p| p.families.iter().cloned()),
        ));
        inner.merged = Some(Arc::clone(&merged));
        merged
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreInner> {
        // The data is plain values; a panic elsewhere cannot leave it half-written.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_cache_expires_and_bounds_size() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(Duration::from_secs(10), 20);
        for i in 0..20 {
            c.insert_at(i, i * 10, t0 + Duration::from_millis(i));
        }
        assert_eq!(c.get_at(&3, t0 + Duration::from_secs(5)), Some(&30));
        assert_eq!(c.get_at(&3, t0 + Duration::from_secs(11)), None);
        // Full: inserting a new key evicts the oldest 10 % (keys 0 and 1).
        c.insert_at(100, 1, t0 + Duration::from_secs(1));
        assert_eq!(c.len(), 19);
        assert!(c.get_at(&0, t0).is_none() && c.get_at(&1, t0).is_none());
        assert!(c.get_at(&2, t0 + Duration::from_secs(1)).is_some());
        // Full of expired entries: all of them go, not just a tenth.
        for i in 200..300 {
            c.insert_at(i, 0, t0 + Duration::from_secs(60));
        }
        let n = c.len();
        assert!((19..=20).contains(&n));
        assert_eq!(c.sweep_at(t0 + Duration::from_secs(120)), n);
        c.insert_at(1, 1, t0);
        c.retain(|k, _| *k != 1);
        assert!(c.is_empty());
    }

    #[test]
    fn snapshot_store_merges_caches_and_expires() {
        let store = SnapshotStore::new();
        let mut a = Family::gauge("m", "h").with_labels(["c"]);
        a.push(["a"], 1.0);
        let mut b = Family::gauge("m", "h").with_labels(["c"]);
        b.push(["b"], 2.0);
        store.publish("a", vec![a], Duration::from_secs(60));
        store.publish("b", vec![b], Duration::from_millis(0));
        let now = Instant::now();
        // "b" has already expired: only "a"'s sample is served.
        let got = store.gather_at(now + Duration::from_millis(1));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples().len(), 1);
        // Same Arc until something changes.
        let again = store.gather_at(now + Duration::from_millis(2));
        assert!(Arc::ptr_eq(&got, &again));
        store.remove("a");
        assert!(store.gather().is_empty());
    }
}
