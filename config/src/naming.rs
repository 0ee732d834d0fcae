//! Series name → API metric name: `seriesFilters` (unanchored, all must pass) and `name.matches`/`as`
//! with Go's `$1`/`${1}` expansion over the leftmost match. The API name is only the expansion, not a
//! substitution inside the series name.

use regex::Regex;

/// Why a series name yields no metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dropped {
    /// A `seriesFilters` entry rejected it.
    Filtered,
    /// `name.matches` did not match it.
    NameMismatch,
    /// `name.as` expanded to the empty string.
    EmptyName,
}

impl Dropped {
    /// A short phrase for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Dropped::Filtered => "rejected by seriesFilters",
            Dropped::NameMismatch => "did not match name.matches",
            Dropped::EmptyName => "name.as expanded to an empty name",
        }
    }
}

/// A rule's compiled naming: filters, the name pattern and its expansion.
#[derive(Debug, Clone)]
pub struct NameMatcher {
    filters: Vec<(Regex, bool)>,
    matches: Regex,
    as_: String,
}

impl NameMatcher {
    /// Builds a matcher; `filters` are `(regex, is)` pairs, `is = false` for `isNot`.
    pub fn new(filters: Vec<(Regex, bool)>, matches: Regex, as_: String) -> Self {
        Self {
            filters,
            matches,
            as_,
        }
    }

    /// The API metric name for a series name, or why there is none.
    pub fn metric_name(&self, series: &str) -> Result<String, Dropped> {
        if !self
            .filters
            .iter()
            .all(|(re, is)| re.is_match(series) == *is)
        {
            return Err(Dropped::Filtered);
        }
        // `name.matches` is also an implicit filter.
        let captures = self.matches.captures(series).ok_or(Dropped::NameMismatch)?;
        let mut name = String::new();
        captures.expand(&self.as_, &mut name);
        if name.is_empty() {
            Err(Dropped::EmptyName)
        } else {
            Ok(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(filters: &[(&str, bool)], matches: &str, as_: &str) -> NameMatcher {
        let filters = filters
            .iter()
            .map(|(r, is)| (Regex::new(r).unwrap(), *is))
            .collect();
        NameMatcher::new(filters, Regex::new(matches).unwrap(), as_.to_string())
    }

    #[test]
    fn names_expand_like_go() {
        let cases = [
            (
                matcher(&[], "^(.*)_total$", "${1}_per_second"),
                "http_requests_total",
                Ok("http_requests_per_second"),
            ),
            (
                matcher(&[], "^(.*)_total$", "$1"),
                "http_requests_total",
                Ok("http_requests"),
            ),
            (matcher(&[], ".*", "$0"), "queue_depth", Ok("queue_depth")),
            // `$1_x` names a group `1_x`, which does not exist: it expands to nothing, as in Go.
            (
                matcher(&[], "^(.*)_total$", "$1_x"),
                "a_total",
                Err(Dropped::EmptyName),
            ),
            (
                matcher(&[], "^(?P<base>.*)_seconds_total$", "${base}"),
                "cpu_seconds_total",
                Ok("cpu"),
            ),
            // Unanchored: the name is the expansion of the leftmost match only.
            (
                matcher(&[], "requests", "$0"),
                "http_requests_total",
                Ok("requests"),
            ),
            (matcher(&[], "^(.*)_total$", "$$1"), "a_total", Ok("$1")),
            (
                matcher(&[], "^container_(.*)_seconds_total$", "${1}"),
                "container_cpu_usage_seconds_total",
                Ok("cpu_usage"),
            ),
        ];
        for (m, series, want) in cases {
            assert_eq!(
                m.metric_name(series).as_deref().map_err(|e| *e),
                want,
                "{series}"
            );
        }
    }

    #[test]
    fn filters_are_unanchored_and_all_must_pass() {
        let m = matcher(
            &[("^container_", true), ("_seconds_total$", false)],
            ".*",
            "$0",
        );
        assert_eq!(
            m.metric_name("container_memory_usage_bytes").as_deref(),
            Ok("container_memory_usage_bytes")
        );
        assert_eq!(
            m.metric_name("container_cpu_usage_seconds_total"),
            Err(Dropped::Filtered)
        );
        assert_eq!(m.metric_name("node_cpu"), Err(Dropped::Filtered));
        let unanchored = matcher(&[("total", true)], ".*", "$0");
        assert!(unanchored.metric_name("x_total_y").is_ok());
    }

    #[test]
    fn name_matches_acts_as_a_filter() {
        let m = matcher(&[], "^(.*)_total$", "$1");
        assert_eq!(m.metric_name("queue_depth"), Err(Dropped::NameMismatch));
    }
}
