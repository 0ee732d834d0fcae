//! What the adapter needs of a Prometheus-compatible backend, as a trait with two implementations: the
//! real HTTP client (serving issue) and the simulated one in [`crate::sim`].

use std::collections::BTreeMap;
use std::rc::Rc;

use adapter_config::SeriesSet;
use futures_util::future::LocalBoxFuture;

/// One sample of an instant-query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Every label of the sample (`__name__` included when the query keeps it).
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
    /// Sample time, Unix seconds.
    pub timestamp: f64,
}

/// An instant-query result.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// `resultType: vector`.
    Vector(Vec<Sample>),
    /// `resultType: scalar`: value and time.
    Scalar(f64, f64),
    /// `resultType: matrix` or `string`: never what a metrics query should return.
    Unexpected(&'static str),
}

/// Why a backend call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromError {
    /// The backend could not be reached or answered garbage.
    #[error("prometheus unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with an error (`bad_data: parse error …`).
    #[error("prometheus error {error_type}: {message}")]
    Api {
        /// `errorType`.
        error_type: String,
        /// `error`.
        message: String,
    },
    /// No answer within the deadline.
    #[error("prometheus did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The querier actor was restarting or gone.
    #[error("prometheus querier unavailable: {0}")]
    Mailbox(String),
}

/// A Prometheus-compatible HTTP API, reduced to the two calls the adapter makes.
pub trait PromBackend {
    /// `/api/v1/series?match[]=…&start=…&end=…`, reduced to names and label names.
    fn series(
        &self,
        matcher: &str,
        start: f64,
        end: f64,
    ) -> LocalBoxFuture<'static, Result<SeriesSet, PromError>>;
    /// `/api/v1/query?query=…&time=…&timeout=…`.
    fn query(
        &self,
        promql: &str,
        time: f64,
        timeout: std::time::Duration,
    ) -> LocalBoxFuture<'static, Result<QueryResult, PromError>>;
}

/// Shared handle to a backend. Actors share one arbiter, so backends need not be `Send` (awc is not).
pub type SharedPromBackend = Rc<dyn PromBackend>;
