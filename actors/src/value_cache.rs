//! The value cache: final PromQL → the last good answer, with bounded staleness. Off by default, so
//! answers stay exactly upstream's. With a TTL, identical PromQL within it is answered from memory (the
//! samples keep their own timestamps); with a stale bound, a Prometheus outage or timeout is answered from
//! the last good value up to that age instead of a 503. Bounded in entries and bytes; the oldest answers
//! go first, and answers older than both bounds are dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::prom::QueryResult;

/// Bounds of the value cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheOptions {
    /// Identical PromQL within this age is answered from memory; zero disables.
    pub ttl: Duration,
    /// When Prometheus fails or times out, a last good answer up to this age is served; zero disables.
    pub serve_stale_for: Duration,
    /// Most answers kept.
    pub max_entries: usize,
    /// Most bytes kept (an estimate of the answers' heap size).
    pub max_bytes: usize,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::ZERO,
            serve_stale_for: Duration::ZERO,
            max_entries: 10_000,
            max_bytes: 16 << 20,
        }
    }
}

impl CacheOptions {
    /// Whether anything is kept at all.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() || !self.serve_stale_for.is_zero()
    }

    /// The age beyond which an answer is of no use.
    fn keep_for(&self) -> Duration {
        self.ttl.max(self.serve_stale_for)
    }
}

/// Counters for `/metrics`, shared with whoever renders them.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Answers served from memory within the TTL.
    pub hits: AtomicU64,
    /// Queries that went to Prometheus while the cache was on.
    pub misses: AtomicU64,
    /// Failed queries answered with a stale value.
    pub stale_served: AtomicU64,
    /// Failed queries with no value young enough to serve.
    pub stale_expired: AtomicU64,
    /// Answers dropped for the entry or byte bound.
    pub evictions: AtomicU64,
    /// Answers held now.
    pub entries: AtomicU64,
    /// Estimated bytes held now.
    pub bytes: AtomicU64,
}

struct Entry {
    answer: Arc<QueryResult>,
    fetched_at: Instant,
    bytes: usize,
}

/// The cache itself; owned by the PromQuerier.
pub struct ValueCache {
    options: CacheOptions,
    /// Keyed by the final PromQL (tens of kB for a large selector): hashed with foldhash, not SipHash.
    entries: HashMap<String, Entry, foldhash::fast::RandomState>,
    /// Keys in the order they were stored (a key stored again appears twice; the older record is
    /// skipped when it comes up because its time no longer matches).
    order: VecDeque<(Instant, String)>,
    bytes: usize,
    stats: Arc<CacheStats>,
}

/// A stale answer and its age.
pub struct Stale {
    /// The last good answer.
    pub answer: Arc<QueryResult>,
    /// How old it is.
    pub age: Duration,
}

impl ValueCache {
    /// An empty cache with `options`, counting into `stats`.
    pub fn new(options: CacheOptions, stats: Arc<CacheStats>) -> Self {
        Self {
            options,
            entries: HashMap::default(),
            order: VecDeque::new(),
            bytes: 0,
            stats,
        }
    }

    /// Whether anything is kept at all.
    pub fn enabled(&self) -> bool {
        self.options.enabled()
    }

    /// The answer for `promql` if it is younger than the TTL.
    pub fn fresh(&mut self, promql: &str) -> Option<Arc<QueryResult>> {
        if self.options.ttl.is_zero() {
            return None;
        }
        self.expire();
        let hit = self
            .entries
            .get(promql)
            .filter(|e| e.fetched_at.elapsed() < self.options.ttl)
            .map(|e| e.answer.clone());
        let counter = if hit.is_some() {
            &self.stats.hits
        } else {
            &self.stats.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// The last good answer for `promql` if it is within the stale bound (for a failed query).
    pub fn stale(&mut self, promql: &str) -> Option<Stale> {
        if self.options.serve_stale_for.is_zero() {
            return None;
        }
        self.expire();
        let found = self
            .entries
            .get(promql)
            .map(|e| (e.answer.clone(), e.fetched_at.elapsed()))
            .filter(|(_, age)| *age <= self.options.serve_stale_for)
            .map(|(answer, age)| Stale { answer, age });
        let counter = if found.is_some() {
            &self.stats.stale_served
        } else {
            &self.stats.stale_expired
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps a good answer, evicting the oldest ones beyond the bounds.
    pub fn store(&mut self, promql: &str, answer: Arc<QueryResult>) {
        if !self.enabled() {
            return;
        }
        let bytes = promql.len() + estimated_size(&answer);
        if bytes > self.options.max_bytes {
            return;
        }
        let now = Instant::now();
        if let Some(old) = self.entries.insert(
            promql.to_string(),
            Entry {
                answer,
                fetched_at: now,
                bytes,
            },
        ) {
            self.bytes -= old.bytes;
        }
        self.bytes += bytes;
        self.order.push_back((now, promql.to_string()));
        while self.entries.len() > self.options.max_entries || self.bytes > self.options.max_bytes {
            if !self.pop_oldest() {
                break;
            }
            self.stats.evictions.fetch_add(1, Ordering::Relaxed);
        }
        self.expire();
    }

    /// Drops answers older than both bounds.
    fn expire(&mut self) {
        let keep_for = self.options.keep_for();
        while self
            .order
            .front()
            .is_some_and(|(at, _)| at.elapsed() > keep_for)
        {
            self.pop_oldest();
        }
        self.publish();
    }

    /// Removes the oldest live entry; false when there is none.
    fn pop_oldest(&mut self) -> bool {
        while let Some((at, key)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|e| e.fetched_at == at) {
                let entry = self.entries.remove(&key).expect("just seen");
                self.bytes -= entry.bytes;
                self.publish();
                return true;
            }
        }
        false
    }

    fn publish(&self) {
        self.stats
            .entries
            .store(self.entries.len() as u64, Ordering::Relaxed);
        self.stats.bytes.store(self.bytes as u64, Ordering::Relaxed);
    }
}

/// Heap bytes of an answer, roughly: labels, values and the containers around them.
fn estimated_size(answer: &QueryResult) -> usize {
    const ENTRY: usize = 48;
    match answer {
        QueryResult::Vector(samples) => {
            samples
                .iter()
                .map(|s| {
                    ENTRY
                        + s.labels
                            .iter()
                            .map(|(k, v)| ENTRY + k.len() + v.len())
                            .sum::<usize>()
                })
                .sum::<usize>()
                + ENTRY
        }
        QueryResult::Scalar(..) | QueryResult::Unexpected(_) => ENTRY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::sample;

    fn cache(ttl: u64, stale: u64, max_entries: usize, max_bytes: usize) -> ValueCache {
        ValueCache::new(
            CacheOptions {
                ttl: Duration::from_secs(ttl),
                serve_stale_for: Duration::from_secs(stale),
                max_entries,
                max_bytes,
            },
            Arc::default(),
        )
    }

    fn answer(value: f64) -> Arc<QueryResult> {
        Arc::new(QueryResult::Vector(vec![sample(
            &[("pod", "web-1")],
            value,
            1.0,
        )]))
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_within_the_ttl_then_gone() {
        let mut c = cache(5, 0, 10, 1 << 20);
        assert!(c.fresh("q").is_none());
        c.store("q", answer(1.0));
        tokio::time::advance(Duration::from_millis(4900)).await;
        assert_eq!(c.fresh("q"), Some(answer(1.0)));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(c.fresh("q").is_none());
        assert_eq!(
            c.stats.entries.load(Ordering::Relaxed),
            0,
            "expired answers are dropped"
        );
        assert_eq!(c.stats.hits.load(Ordering::Relaxed), 1);
        assert_eq!(c.stats.misses.load(Ordering::Relaxed), 2);
        assert!(c.stale("q").is_none(), "no stale serving unless asked for");
    }

    #[tokio::test(start_paused = true)]
    async fn stale_within_its_bound_only() {
        let mut c = cache(0, 60, 10, 1 << 20);
        c.store("q", answer(2.0));
        assert!(
            c.fresh("q").is_none(),
            "no TTL: every request asks Prometheus"
        );
        tokio::time::advance(Duration::from_secs(59)).await;
        let stale = c.stale("q").unwrap();
        assert_eq!(
            (stale.answer, stale.age),
            (answer(2.0), Duration::from_secs(59))
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(c.stale("q").is_none());
        assert_eq!(c.stats.stale_served.load(Ordering::Relaxed), 1);
        assert_eq!(c.stats.stale_expired.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_by_entries_and_bytes_oldest_first() {
        let mut c = cache(60, 0, 3, 1 << 20);
        for q in ["a", "b", "c", "d"] {
            c.store(q, answer(1.0));
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        assert!(c.fresh("a").is_none(), "the oldest went");
        assert!(c.fresh("d").is_some() && c.fresh("b").is_some());
        assert_eq!(c.stats.evictions.load(Ordering::Relaxed), 1);
        // Storing a key again refreshes it: "b" is now the youngest, "c" goes next.
        c.store("b", answer(3.0));
        c.store("e", answer(1.0));
        assert!(c.fresh("c").is_none());
        assert_eq!(c.fresh("b"), Some(answer(3.0)));
        // Bytes: each of these answers is about 150 bytes; a 350-byte bound keeps two.
        let mut small = cache(60, 0, 100, 350);
        for q in ["a", "b", "c"] {
            small.store(q, answer(1.0));
        }
        let held = small.stats.bytes.load(Ordering::Relaxed);
        assert!(held <= 350 && held > 150, "{held}");
        assert!(small.fresh("c").is_some() && small.fresh("a").is_none());
        // An answer larger than the whole bound is not kept at all.
        let mut tiny = cache(60, 0, 100, 10);
        tiny.store("q", answer(1.0));
        assert_eq!(tiny.stats.entries.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn off_keeps_nothing() {
        let mut c = cache(0, 0, 10, 1 << 20);
        c.store("q", answer(1.0));
        assert!(c.fresh("q").is_none() && c.stale("q").is_none());
        assert_eq!(c.stats.entries.load(Ordering::Relaxed), 0);
    }
}
