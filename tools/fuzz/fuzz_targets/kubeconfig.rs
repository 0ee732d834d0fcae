#![no_main]
//! `adapter_fuzz_checks::kubeconfig` under libFuzzer (what it checks: that module).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| adapter_fuzz_checks::kubeconfig::check(input));
