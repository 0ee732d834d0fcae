//! PromQL text: Go-`%q` string quoting (Rust's `{:?}` is not valid PromQL), regex escaping of object
//! names, and the Kubernetes-selector → PromQL-matcher table of upstream's `metrics_query.go`.

use std::fmt::Write;

use crate::label_selector::{Operator, Requirement, Selector};

/// Quotes `text` as Go's `%q` does, which PromQL's string lexer reads back exactly.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    // Runs that need no escape are copied whole: a 1,000-pod alternation is ~30 kB of them. Printable
    // ASCII is decided by its byte; only other characters are decoded.
    let bytes = text.as_bytes();
    let (mut plain, mut at) = (0, 0);
    while at < bytes.len() {
        let byte = bytes[at];
        if (0x20..0x7f).contains(&byte) && byte != b'"' && byte != b'\\' {
            at += 1;
            continue;
        }
        let c = text[at..].chars().next().expect("a character starts here");
        if !c.is_ascii() && is_go_printable(c) {
            at += c.len_utf8();
            continue;
        }
        out.push_str(&text[plain..at]);
        at += c.len_utf8();
        plain = at;
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push_str(&text[plain..]);
    out.push('"');
    out
}

/// Go's `unicode.IsPrint`, closely enough for label values: no controls, no spaces but U+0020, no
/// invisible format characters.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !c.is_control()
        && !c.is_whitespace()
        && !matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// Escapes RE2 metacharacters, as Go's `regexp.QuoteMeta`: a `.` in a pod name stays a dot.
pub fn escape_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    push_escaped_regex(&mut out, text);
    out
}

/// The length of `text` once [`escape_regex`] has escaped it, without building it.
pub fn escaped_regex_len(text: &str) -> usize {
    text.len() + text.bytes().filter(|b| REGEX_META[usize::from(*b)]).count()
}

/// RE2's metacharacters, by byte.
const REGEX_META: [bool; 256] = {
    let mut table = [false; 256];
    let meta = b"\\.+*?()|[]{}^$";
    let mut i = 0;
    while i < meta.len() {
        table[meta[i] as usize] = true;
        i += 1;
    }
    table
};

/// Appends `text` with RE2 metacharacters escaped, as [`escape_regex`]; an alternation of many names is
/// built in one buffer.
pub fn push_escaped_regex(out: &mut String, text: &str) {
    // The metacharacters are ASCII, and no byte of a multi-byte UTF-8 character is: scanning bytes is
    // exact, and the runs between metacharacters are copied whole.
    let mut plain = 0;
    for (at, byte) in text.bytes().enumerate() {
        if REGEX_META[usize::from(byte)] {
            out.push_str(&text[plain..at]);
            out.push('\\');
            plain = at;
        }
    }
    out.push_str(&text[plain..]);
}

/// A selector requirement that has no PromQL form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    /// `gt` / `lt`.
    #[error("operator not supported by prometheus: {0}")]
    UnsupportedOperator(String),
    /// A requirement without a key.
    #[error("label not specified")]
    NoLabel,
    /// An operator given the wrong number of values.
    #[error("operator {operator} on label {label} needs {expected}")]
    Values {
        /// The label.
        label: String,
        /// The operator as written.
        operator: &'static str,
        /// What it needs.
        expected: &'static str,
    },
}

/// The PromQL matcher for one requirement, and the value it contributes to `LabelValuesByName`.
///
/// Values of `in`/`notin`/multi-value requirements are regex-escaped: a selector value is a literal
/// label value (Kubernetes' value syntax), so `a.b` must not also match `axb` as it does upstream.
pub fn requirement_matcher(requirement: &Requirement) -> Result<(String, String), MatcherError> {
    let label = requirement.key.as_str();
    if label.is_empty() {
        return Err(MatcherError::NoLabel);
    }
    let values = &requirement.values;
    let need = |operator: &'static str, expected: &'static str| MatcherError::Values {
        label: label.to_string(),
        operator,
        expected,
    };
    let alternation = || {
        values
            .iter()
            .map(|v| escape_regex(v))
            .collect::<Vec<_>>()
            .join("|")
    };
    let (op, value) = match requirement.operator {
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
            let negated = requirement.operator == Operator::NotEquals;
            match values.len() {
                0 => return Err(need(if negated { "!=" } else { "=" }, "a value")),
                1 => (if negated { "!=" } else { "=" }, values[0].clone()),
                _ => (if negated { "!~" } else { "=~" }, alternation()),
            }
        }
        Operator::In | Operator::NotIn => {
            if values.is_empty() {
                return Err(need("in", "at least one value"));
            }
            (
                if requirement.operator == Operator::In {
                    "=~"
                } else {
                    "!~"
                },
                alternation(),
            )
        }
        Operator::Exists if values.is_empty() => ("!=", String::new()),
        Operator::DoesNotExist if values.is_empty() => ("=", String::new()),
        Operator::Exists | Operator::DoesNotExist => return Err(need("exists", "no values")),
        Operator::GreaterThan | Operator::LessThan => {
            let op = if requirement.operator == Operator::GreaterThan {
                "gt"
            } else {
                "lt"
            };
            return Err(MatcherError::UnsupportedOperator(op.to_string()));
        }
    };
    Ok((format!("{label}{op}{}", quote(&value)), value))
}

/// Every requirement of a metric selector as matchers, in selector order (sorted by key).
pub fn selector_matchers(
    selector: &Selector,
) -> Result<Vec<(String, String, String)>, MatcherError> {
    selector
        .requirements
        .iter()
        .map(|r| requirement_matcher(r).map(|(matcher, value)| (r.key.clone(), matcher, value)))
        .collect()
}

/// The window of the first range selector in a query (`rate(x[2m])` → 2 minutes; `x[5m:30s]` → 5
/// minutes), reported as the metric's window. `None` for instant-vector queries.
pub fn range_window(query: &str) -> Option<std::time::Duration> {
    let mut rest = query;
    while let Some(open) = rest.find('[') {
        let inner = &rest[open + 1..];
        let close = inner.find(']')?;
        let range = inner[..close].split(':').next().unwrap_or_default().trim();
        if let Ok(window) = crate::duration::parse_prometheus(range) {
            return Some(window);
        }
        rest = &inner[close..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values an attacker might put in `labelSelector`/`metricLabelSelector` to change a query.
    const HOSTILE: &[&str] = &[
        "x\"} or vector(1) #",
        "x\\\"}",
        "a\nb\"}[5m]) or up{",
        "} or on() vector(1)",
        ".*",
        "a|b",
        "\u{202e}\u{0}\u{1f600}\"",
        "\\",
        "x\" or \"",
    ];

    #[test]
    fn hostile_selector_values_are_rejected_by_the_selector_parser() {
        for value in HOSTILE {
            for text in [
                format!("app={value}"),
                format!("app in ({value})"),
                format!("app!={value}"),
            ] {
                assert!(
                    Selector::parse(&text).is_err(),
                    "{text:?} must not parse as a Kubernetes selector"
                );
            }
        }
    }

    /// Defense in depth: even a value the parser would never let through stays one string literal.
    #[test]
    fn any_value_stays_inside_its_matcher() {
        use crate::series_selector::{MatchOp, SeriesSelector};
        for value in HOSTILE {
            for (operator, values) in [
                (Operator::Equals, vec![value.to_string()]),
                (Operator::NotEquals, vec![value.to_string()]),
                (Operator::In, vec![value.to_string(), "plain".to_string()]),
            ] {
                let requirement = Requirement {
                    key: "app".into(),
                    operator,
                    values: values.clone(),
                };
                let (matcher, _) = requirement_matcher(&requirement).unwrap();
                let query = format!("metric{{{matcher}}}");
                let parsed = SeriesSelector::parse(&query)
                    .unwrap_or_else(|e| panic!("{query:?} does not parse: {e}"));
                assert_eq!(
                    parsed.matchers.len(),
                    2,
                    "{query:?}: one matcher added, no more"
                );
                let added = &parsed.matchers[1];
                assert_eq!(added.label, "app");
                match added.op {
                    MatchOp::Equal | MatchOp::NotEqual => assert_eq!(added.value, *value),
                    MatchOp::Regex | MatchOp::NotRegex => {
                        for v in &values {
                            assert!(
                                added.matches(v) == (added.op == MatchOp::Regex),
                                "{query:?} on {v:?}"
                            );
                        }
                        assert!(!added.matches("something else") || added.op == MatchOp::NotRegex);
                    }
                }
            }
        }
    }

    #[test]
    fn range_windows_are_found() {
        use std::time::Duration;
        let cases = [
            (
                "sum(rate(x{a=\"[b]\"}[2m])) by (pod)",
                Some(Duration::from_secs(120)),
            ),
            ("max_over_time(x[5m:30s])", Some(Duration::from_secs(300))),
            ("sum(x) by (pod)", None),
            ("irate(x[1h30m])", Some(Duration::from_secs(5400))),
        ];
        for (query, want) in cases {
            assert_eq!(range_window(query), want, "{query}");
        }
    }

    #[test]
    fn quote_matches_go_percent_q() {
        let cases = [
            ("plain", r#""plain""#),
            (r#"a"b"#, r#""a\"b""#),
            (r"a\b", r#""a\\b""#),
            ("a\nb\tc\r", r#""a\nb\tc\r""#),
            ("\u{1}", r#""\x01""#),
            ("\u{7f}", r#""\x7f""#),
            ("é日本", "\"é日本\""),
            ("\u{200b}", r#""\u200b""#),
            ("\u{a0}", r#""\u00a0""#),
            ("}or{", r#""}or{""#),
            // Escapes between runs of plain text, multi-byte characters on both sides.
            ("héllo\u{200b}wörld\"x\n日", r#""héllo\u200bwörld\"x\n日""#),
            ("\u{1f600}a\u{1}", "\"\u{1f600}a\\x01\""),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), want, "{input:?}");
        }
    }

    #[test]
    fn regex_escape_matches_go_quote_meta() {
        assert_eq!(escape_regex("web-1.prod"), r"web-1\.prod");
        assert_eq!(
            escape_regex(r"a+b*c?(d)|[e]{f}^$\"),
            r"a\+b\*c\?\(d\)\|\[e\]\{f\}\^\$\\"
        );
        assert_eq!(escape_regex("日.本|é"), r"日\.本\|é");
        assert_eq!(escape_regex(".."), r"\.\.");
        for text in ["web-1.prod", "日.本|é", "", r"a+b*c?(d)|[e]{f}^$\"] {
            assert_eq!(
                escaped_regex_len(text),
                escape_regex(text).len(),
                "{text:?}"
            );
        }
    }

    fn matcher(selector: &str) -> Result<String, MatcherError> {
        let selector = Selector::parse(selector).unwrap();
        requirement_matcher(&selector.requirements[0]).map(|(m, _)| m)
    }

    #[test]
    fn selector_to_matcher_table() {
        let cases = [
            ("l=v", r#"l="v""#),
            ("l==v", r#"l="v""#),
            ("l!=v", r#"l!="v""#),
            ("l in (v)", r#"l=~"v""#),
            ("l in (v2,v1)", r#"l=~"v1|v2""#),
            ("l notin (v)", r#"l!~"v""#),
            ("l notin (v1,v2)", r#"l!~"v1|v2""#),
            ("l", r#"l!="""#),
            ("!l", r#"l="""#),
            ("l in (a.b)", r#"l=~"a\\.b""#),
        ];
        for (selector, want) in cases {
            assert_eq!(matcher(selector).as_deref(), Ok(want), "{selector}");
        }
    }

    #[test]
    fn unsupported_requirements_are_errors() {
        assert_eq!(
            matcher("l>1"),
            Err(MatcherError::UnsupportedOperator("gt".into()))
        );
        assert_eq!(
            matcher("l<1"),
            Err(MatcherError::UnsupportedOperator("lt".into()))
        );
        let empty_key = Requirement {
            key: String::new(),
            operator: Operator::Exists,
            values: vec![],
        };
        assert_eq!(requirement_matcher(&empty_key), Err(MatcherError::NoLabel));
        let multi_eq = Requirement {
            key: "l".into(),
            operator: Operator::Equals,
            values: vec!["a".into(), "b".into()],
        };
        assert_eq!(requirement_matcher(&multi_eq).unwrap().0, r#"l=~"a|b""#);
        let exists_with_value = Requirement {
            key: "l".into(),
            operator: Operator::Exists,
            values: vec!["a".into()],
        };
        assert!(requirement_matcher(&exists_with_value).is_err());
        let eq_without_value = Requirement {
            key: "l".into(),
            operator: Operator::Equals,
            values: vec![],
        };
        assert!(requirement_matcher(&eq_without_value).is_err());
    }
}
