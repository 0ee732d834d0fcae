//! Any selector value, quoted into a matcher, stays exactly one matcher with exactly that value (no
//! PromQL injection), for `=`, `!=` and the regex alternation of `in`.
use adapter_config::label_selector::{Operator, Requirement};
use adapter_config::promql::requirement_matcher;
use adapter_config::series_selector::{MatchOp, SeriesSelector};

/// One input: panics on a finding.
pub fn check(value: &str) {
    for (operator, values) in [
        (Operator::Equals, vec![value.to_string()]),
        (Operator::NotEquals, vec![value.to_string()]),
        (Operator::In, vec![value.to_string(), "plain".to_string()]),
    ] {
        let requirement = Requirement {
            key: "app".into(),
            operator,
            values,
        };
        let Ok((matcher, _)) = requirement_matcher(&requirement) else {
            continue;
        };
        let query = format!("metric{{{matcher}}}");
        let parsed = SeriesSelector::parse(&query)
            .unwrap_or_else(|e| panic!("{value:?}: {query:?} does not parse: {e}"));
        assert_eq!(parsed.matchers.len(), 2, "{query:?}");
        let added = &parsed.matchers[1];
        assert_eq!(added.label, "app");
        if matches!(added.op, MatchOp::Equal | MatchOp::NotEqual) {
            assert_eq!(added.value, value, "{query:?}");
        }
    }
}
