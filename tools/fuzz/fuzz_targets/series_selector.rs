//! PromQL series selectors (`seriesQuery`): never a panic, matching never panics.
#![no_main]
use adapter_config::series_selector::SeriesSelector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(selector) = SeriesSelector::parse(text) {
        let _ = selector.matches("m", |l| (l == "namespace").then_some("prod"));
    }
});
