//! Whole rules files: loading never panics; a file that loads reports its findings with a location.
use std::sync::LazyLock;

use adapter_config::ResourceMap;

/// The built-in resources the findings are checked against: a constant, not under test (parsed once, not
/// once an input: that parse was 29% of each exec).
static STANDARD: LazyLock<ResourceMap> = LazyLock::new(ResourceMap::standard);

/// One input: panics on a finding.
pub fn check(text: &str) {
    match adapter_config::rules::load("f.yaml", text) {
        Ok(config) => {
            for warning in &config.warnings {
                assert!(!warning.location.is_empty(), "{warning}");
            }
            let _ = config.check_resources(&STANDARD);
        }
        Err(errors) => assert!(!errors.0.is_empty(), "an error without findings"),
    }
}
