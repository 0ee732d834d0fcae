//! Kubernetes label selectors (labelSelector, metricLabelSelector): never a panic, and what parses prints
//! back to a selector that parses to the same requirements.
use adapter_config::Selector;

/// One input: panics on a finding.
pub fn check(text: &str) {
    if let Ok(selector) = Selector::parse(text) {
        let printed = selector.to_string();
        let again = Selector::parse(&printed).unwrap_or_else(|e| {
            panic!("{text:?} printed as {printed:?}, which does not parse: {e}")
        });
        assert_eq!(
            again.requirements, selector.requirements,
            "{text:?} → {printed:?}"
        );
        let _ = selector.matches(&Default::default());
    }
}
