//! PromQL series selectors (`seriesQuery`): never a panic, matching never panics.
use adapter_config::series_selector::SeriesSelector;

/// One input: panics on a finding.
pub fn check(text: &str) {
    if let Ok(selector) = SeriesSelector::parse(text) {
        let _ = selector.matches("m", |l| (l == "namespace").then_some("prod"));
    }
}
