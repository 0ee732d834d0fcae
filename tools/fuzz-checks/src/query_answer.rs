//! Prometheus `/api/v1/query` answers (what every request reads): never a panic, whatever the bytes, and
//! a vector's samples are the answer's samples.
use adapter_config::query_answer::{QueryResult, read_query_answer};

/// One input: panics on a finding.
pub fn check(body: &[u8]) {
    if let Ok(QueryResult::Vector(samples)) = read_query_answer(body) {
        // Every sample came from an object of the result array: there cannot be more than '{'s.
        assert!(samples.len() <= body.iter().filter(|b| **b == b'{').count());
    }
}
