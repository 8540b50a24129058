//! A small in-process map whose entries expire: the local half of every shared cache.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct TtlMap<K, V> {
    lifetime: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
    /// Bumped by every removal, so a value read from the database before an invalidation
    /// is not cached after it.
    generation: AtomicU64,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlMap<K, V> {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.lifetime)
            .map(|(_, v)| v.clone())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Caches `value` unless something was invalidated since `generation` was read.
    pub fn insert_unless_invalidated(&self, generation: u64, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() > 50_000 {
            let lifetime = self.lifetime;
            entries.retain(|_, (at, _)| at.elapsed() < lifetime);
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Drops every entry for which `doomed` holds.
    pub fn remove_where(&self, doomed: impl Fn(&K, &V) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.retain(|k, (_, v)| !doomed(k, v));
    }

    pub fn clear(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_read_before_an_invalidation_is_not_cached_after_it() {
        let map: TtlMap<u32, &str> = TtlMap::new(Duration::from_secs(30));
        let generation = map.generation();
        map.remove_where(|k, _| *k == 1); // the invalidation lands while the value is being read
        map.insert_unless_invalidated(generation, 1, "stale");
        assert_eq!(map.get(&1), None);
        let generation = map.generation();
        map.insert_unless_invalidated(generation, 1, "fresh");
        assert_eq!(map.get(&1), Some("fresh"));
    }
}
