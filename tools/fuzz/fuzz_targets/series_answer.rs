#![no_main]
//! `adapter_fuzz_checks::series_answer` under libFuzzer (what it checks: that module).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| adapter_fuzz_checks::series_answer::check(input));
