#![no_main]
//! `adapter_fuzz_checks::quantity` under libFuzzer (what it checks: that module).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: f64| adapter_fuzz_checks::quantity::check(input));
