//! A load run: fixed concurrency, a request count or a duration, a round-robin URL mix on one endpoint;
//! the answer is every latency, status counts and errors. HTTP/2 runs share one connection among all
//! workers (Go's transport does the same); HTTP/1.1 runs open one connection per worker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::connection::{Connection, Endpoint, Options};

/// When a run ends.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// After this many requests in all.
    Requests(u64),
    /// After this long.
    After(Duration),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// URLs, requested round-robin; all on one endpoint.
    pub urls: Vec<String>,
    /// Workers, each with one request in flight.
    pub concurrency: usize,
    /// When to stop.
    pub stop: Stop,
    /// Requests per worker before measuring (connections and caches warm).
    pub warmup: u64,
    /// Requests per second over all workers (a fixed rate, for soaks); `None`: as fast as answers come.
    pub rate: Option<f64>,
    /// How to connect.
    pub options: Options,
    /// Each request asks every URL at once and ends when all answered (the baseline of an adapter request
    /// that runs several queries at once); otherwise URLs are asked round-robin.
    pub together: bool,
}

/// What a run saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Protocol the server agreed to.
    pub protocol: &'static str,
    /// Every measured latency, sorted.
    pub latencies: Vec<Duration>,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Failed requests by error text.
    pub errors: BTreeMap<String, u64>,
    /// Wall time of the measured part.
    pub elapsed: Duration,
}

impl Report {
    /// The `q`-quantile (0..=1) of the latencies, nearest rank.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies.len() as f64) * q).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// Requests per second over the measured part.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// `p50 p90 p99 max` in milliseconds, rate, statuses and errors on one line.
    pub fn line(&self) -> String {
        let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1000.0);
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(code, n)| format!("{code}:{n}"))
            .collect();
        let errors: u64 = self.errors.values().sum();
        format!(
            "{:<8} n={:<7} p50={:<8} p90={:<8} p99={:<8} max={:<9} rate={:<9.0} codes={} errors={}",
            self.protocol,
            self.latencies.len(),
            ms(self.quantile(0.5)),
            ms(self.quantile(0.9)),
            ms(self.quantile(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.rate(),
            statuses.join(","),
            errors
        )
    }
}

/// Runs `plan` on the current tokio runtime.
pub async fn run(plan: &Plan) -> anyhow::Result<Report> {
    if plan.urls.is_empty() {
        bail!("no URL to request");
    }
    let mut endpoint = None;
    let mut targets = Vec::new();
    for url in &plan.urls {
        let (this, target) = Endpoint::parse(url)?;
        if endpoint.as_ref().is_some_and(|e| *e != this) {
            bail!("all URLs of one run must be on one endpoint: {url}");
        }
        endpoint = Some(this);
        targets.push(target);
    }
    let endpoint = endpoint.expect("at least one URL");
    let concurrency = plan.concurrency.max(1);
    // Together, a worker asks every URL at once: one connection (or h2 handle) per URL.
    let per_worker = if plan.together { targets.len() } else { 1 };
    let first = Connection::open(&endpoint, &plan.options).await?;
    let protocol = first.protocol();
    let mut connections: Vec<Vec<Connection>> = Vec::with_capacity(concurrency);
    let mut spare = Some(first);
    for _ in 0..concurrency {
        let mut own = Vec::with_capacity(per_worker);
        for _ in 0..per_worker {
            let next = match spare.as_ref().and_then(Connection::share) {
                Some(shared) => shared,
                None => match spare.take() {
                    Some(own) => own,
                    None => Connection::open(&endpoint, &plan.options).await?,
                },
            };
            own.push(next);
        }
        connections.push(own);
    }
    let targets = Arc::new(targets);
    for own in &mut connections {
        for i in 0..plan.warmup {
            let _ = own[0].get(&targets[i as usize % targets.len()]).await;
        }
    }
    let together = plan.together;
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = match plan.stop {
        Stop::After(d) => Some(started + d),
        Stop::Requests(_) => None,
    };
    let limit = match plan.stop {
        Stop::Requests(n) => n,
        Stop::After(_) => u64::MAX,
    };
    let interval = plan
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let workers: Vec<_> = connections
        .into_iter()
        .map(|mut own| {
            let (targets, issued) = (targets.clone(), issued.clone());
            tokio::spawn(async move {
                let mut seen = Report::default();
                loop {
                    let i = issued.fetch_add(1, Ordering::Relaxed);
                    if i >= limit || deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    // At a fixed rate, request i leaves at start + i × interval.
                    if let Some(interval) = interval {
                        let at = started + interval.mul_f64(i as f64);
                        if deadline.is_some_and(|d| at >= d) {
                            break;
                        }
                        tokio::time::sleep_until(at.into()).await;
                    }
                    let sent = Instant::now();
                    let answer = if together {
                        // All at once; the request's status is the worst of its answers.
                        let all = own.iter_mut().zip(targets.iter()).map(|(c, t)| c.get(t));
                        futures_util::future::join_all(all)
                            .await
                            .into_iter()
                            .try_fold(0, |worst, a| a.map(|a| a.status.max(worst)))
                    } else {
                        let target = &targets[i as usize % targets.len()];
                        own[0].get(target).await.map(|a| a.status)
                    };
                    match answer {
                        Ok(status) => {
                            seen.latencies.push(sent.elapsed());
                            *seen.statuses.entry(status).or_default() += 1;
                        }
                        Err(error) => {
                            *seen.errors.entry(format!("{error:#}")).or_default() += 1;
                        }
                    }
                }
                seen
            })
        })
        .collect();
    let mut report = Report {
        protocol,
        ..Report::default()
    };
    for worker in workers {
        let seen = worker.await?;
        report.latencies.extend(seen.latencies);
        for (code, n) in seen.statuses {
            *report.statuses.entry(code).or_default() += n;
        }
        for (error, n) in seen.errors {
            *report.errors.entry(error).or_default() += n;
        }
    }
    report.elapsed = started.elapsed();
    report.latencies.sort_unstable();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let report = Report {
            latencies: (1..=100).map(Duration::from_millis).collect(),
            elapsed: Duration::from_secs(2),
            ..Report::default()
        };
        assert_eq!(report.quantile(0.5), Duration::from_millis(50));
        assert_eq!(report.quantile(0.99), Duration::from_millis(99));
        assert_eq!(report.quantile(1.0), Duration::from_millis(100));
        assert_eq!(report.quantile(0.0), Duration::from_millis(1));
        assert_eq!(report.rate(), 50.0);
        assert_eq!(Report::default().quantile(0.5), Duration::ZERO);
    }
}
