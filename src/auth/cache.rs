//! A small time-bounded cache for review answers, shared by all worker threads: each entry lives for the
//! TTL it was stored with (allowed and denied decisions have their own TTLs, as upstream), and the map
//! never holds more than `capacity` entries (expired ones are swept first, then everything is dropped —
//! a flood of distinct identities costs reviews, never memory). Concurrent misses for one key share one
//! fetch, so an expired entry under load costs one review, not one per request.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

/// A fetch in flight, joined by every concurrent caller for its key.
type Flight<V> = Arc<OnceCell<Result<V, String>>>;

/// Entries keyed by `K`, each with its own expiry.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    in_flight: Mutex<HashMap<K, Flight<V>>>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The live value for `key`, or what `fetch` answers — one fetch for all concurrent callers of a key,
    /// its success kept for `ttl(&value)`. The flag is true for the caller whose `fetch` ran.
    pub async fn get_or_fetch<Fut>(
        &self,
        key: K,
        ttl: impl Fn(&V) -> Duration,
        fetch: impl FnOnce() -> Fut,
    ) -> (Result<V, String>, bool)
    where
        Fut: Future<Output = Result<V, String>>,
    {
        if let Some(value) = self.get(&key) {
            return (Ok(value), false);
        }
        let flight = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            // Again under the lock: a fetch that finished meanwhile stored its value before leaving.
            if let Some(value) = self.get(&key) {
                return (Ok(value), false);
            }
            in_flight.entry(key.clone()).or_default().clone()
        };
        let mut fetched = false;
        let result = flight
            .get_or_init(|| async {
                fetched = true;
                let result = fetch().await;
                if let Ok(value) = &result {
                    self.put(key.clone(), value.clone(), ttl(value));
                }
                result
            })
            .await
            .clone();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if in_flight
            .get(&key)
            .is_some_and(|current| Arc::ptr_eq(current, &flight))
        {
            in_flight.remove(&key);
        }
        (result, fetched)
    }

    /// The live value for `key`, if any.
    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(expiry, _)| *expiry > Instant::now())
            .map(|(_, value)| value.clone())
    }

    /// Stores `value` for `ttl`; a zero TTL stores nothing.
    fn put(&self, key: K, value: V, ttl: Duration) {
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
    async fn concurrent_misses_share_one_fetch_and_errors_are_not_kept() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cache: TtlCache<&str, u32> = TtlCache::new(10);
        let calls = AtomicUsize::new(0);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(7)
        };
        let ttl = |_: &u32| Duration::from_secs(10);
        let answers = futures_util::future::join_all(
            (0..20).map(|_| cache.get_or_fetch("alice", ttl, fetch)),
        )
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(answers.iter().all(|(v, _)| *v == Ok(7)));
        assert_eq!(answers.iter().filter(|(_, fetched)| *fetched).count(), 1);
        assert_eq!(
            cache.get_or_fetch("alice", ttl, fetch).await,
            (Ok(7), false)
        );

        let failing = || async { Err::<u32, _>("down".to_string()) };
        assert_eq!(
            cache.get_or_fetch("bob", ttl, failing).await,
            (Err("down".into()), true)
        );
        assert_eq!(cache.get(&"bob"), None, "errors are not cached");
        assert!(cache.in_flight.lock().unwrap().is_empty());
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
