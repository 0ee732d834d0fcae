//! The wall clock, injected. Actors never read `SystemTime::now()`: they ask a [`Clock`], which counts
//! from a fixed start on tokio's clock, so simulation tests move time with `tokio::time::pause`/`advance`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Wall-clock time derived from a start point and tokio's (pausable) monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall_at_start: SystemTime,
    start: Instant,
}

impl Clock {
    /// A clock that reads `wall_at_start` now and advances with tokio's clock.
    pub fn starting_at(wall_at_start: SystemTime) -> Self {
        Self {
            wall_at_start,
            start: Instant::now(),
        }
    }

    /// The current wall-clock time.
    pub fn now(&self) -> SystemTime {
        self.wall_at_start + self.start.elapsed()
    }

    /// The current time as Unix seconds, as Prometheus' API takes it.
    pub fn unix_seconds(&self) -> f64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs_f64()
    }
}
