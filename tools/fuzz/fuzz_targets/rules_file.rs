//! Whole rules files: loading never panics; a file that loads reports its findings with a location.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match adapter_config::rules::load("f.yaml", text) {
        Ok(config) => {
            for warning in &config.warnings {
                assert!(!warning.location.is_empty(), "{warning}");
            }
            let _ = config.check_resources(&adapter_config::ResourceMap::standard());
        }
        Err(errors) => assert!(!errors.0.is_empty(), "an error without findings"),
    }
});
