//! A small time-bounded cache for review answers, shared by all worker threads: each entry lives for the
//! TTL it was stored with (allowed and denied decisions have their own TTLs, as upstream), and the map
//! never holds more than `capacity` entries (expired ones are swept first, then everything is dropped —
//! a flood of distinct identities costs reviews, never memory).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Entries keyed by `K`, each with its own expiry.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    capacity: usize,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The live value for `key`, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(expiry, _)| *expiry > Instant::now())
            .map(|(_, value)| value.clone())
    }

    /// Stores `value` for `ttl`; a zero TTL stores nothing.
    pub fn put(&self, key: K, value: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, (expiry, _)| *expiry > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (now + ttl, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_their_own_ttl() {
        let cache = TtlCache::new(10);
        cache.put("allowed", true, Duration::from_secs(10));
        cache.put("denied", false, Duration::from_secs(2));
        cache.put("never", true, Duration::ZERO);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(cache.get(&"allowed"), Some(true));
        assert_eq!(cache.get(&"denied"), None);
        assert_eq!(cache.get(&"never"), None);
        tokio::time::advance(Duration::from_secs(8)).await;
        assert_eq!(cache.get(&"allowed"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_cache_stays_bounded() {
        let cache = TtlCache::new(3);
        for i in 0..10 {
            cache.put(i, i, Duration::from_secs(60));
        }
        assert!(cache.entries.lock().unwrap().len() <= 3);
        assert_eq!(cache.get(&9), Some(9));
    }
}
