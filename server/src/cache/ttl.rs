//! A small in-process map whose entries expire: the local half of every shared cache.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlMap<K, V> {
    lifetime: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlMap<K, V> {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.lifetime)
            .map(|(_, v)| v.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 50_000 {
            let lifetime = self.lifetime;
            entries.retain(|_, (at, _)| at.elapsed() < lifetime);
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Drops every entry for which `doomed` holds.
    pub fn remove_where(&self, doomed: impl Fn(&K, &V) -> bool) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, (_, v)| !doomed(k, v));
    }

    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
