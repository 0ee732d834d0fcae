#![no_main]
//! `adapter_fuzz_checks::template` under libFuzzer (what it checks: that module).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| adapter_fuzz_checks::template::check(input));
