#![no_main]
//! `adapter_fuzz_checks::rules_file` under libFuzzer (what it checks: that module).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| adapter_fuzz_checks::rules_file::check(input));
