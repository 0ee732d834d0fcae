#![no_main]
//! `adapter_fuzz_checks::request` under libFuzzer (what it checks: that module).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| adapter_fuzz_checks::request::check(input));
