#![no_main]
//! `adapter_fuzz_checks::promql_quoting` under libFuzzer (what it checks: that module).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| adapter_fuzz_checks::promql_quoting::check(input));
