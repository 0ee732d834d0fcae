//! Prometheus `/api/v1/series` answers (what the relister streams): never a panic, whatever the bytes.
use adapter_config::SeriesSet;
use adapter_config::series_answer::{read_answer, read_answer_labeled};

/// One input: panics on a finding.
pub fn check(body: &[u8]) {
    let mut set = SeriesSet::new();
    let _ = read_answer(body, &mut set);
    let _ = read_answer_labeled(body);
}
