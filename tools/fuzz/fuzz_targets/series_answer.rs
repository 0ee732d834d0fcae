//! Prometheus `/api/v1/series` answers (what the relister streams): never a panic, whatever the bytes.
#![no_main]
use adapter_config::SeriesSet;
use adapter_config::series::{read_answer, read_answer_labeled};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let mut set = SeriesSet::new();
    let _ = read_answer(body, &mut set);
    let _ = read_answer_labeled(body);
});
