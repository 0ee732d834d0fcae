//! Label selectors evaluated independently of the adapter's own parser, so that the test API server does not
//! judge the adapter's selectors with the adapter's code. Written from Kubernetes' documented semantics and
//! checked against a table transcribed from Kubernetes' own selector tests (`TestSelectorMatches`,
//! `TestRequirementSelectorMatching`, `TestSelectorParse` in k8s.io/apimachinery/pkg/labels); the adapter's
//! parser is checked against the same table.

/// One requirement: a key, what is asked of it.
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A parsed selector: every requirement must hold.
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses `selector`; an error for a selector Kubernetes refuses.
    pub fn parse(selector: &str) -> Result<Self, String> {
        parse(selector).map(Self)
    }

    /// Whether it selects an object carrying `labels` (each key once, as an object's labels are): read
    /// as the test API server holds them, so that no map is built per object and list.
    pub fn matches(&self, labels: &[(&str, &str)]) -> bool {
        let get = |key: &str| labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        self.0.iter().all(|requirement| match requirement {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|l| !vs.iter().any(|v| v == l)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
            Requirement::GreaterThan(k, n) => get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l > *n),
            Requirement::LessThan(k, n) => get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l < *n),
        })
    }
}

fn parse(selector: &str) -> Result<Vec<Requirement>, String> {
    let mut requirements = Vec::new();
    let (mut depth, mut start) = (0, 0);
    let mut parts = Vec::new();
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&selector[start..]);
    if parts.len() == 1 && parts[0].trim().is_empty() {
        return Ok(requirements);
    }
    for part in parts {
        requirements.push(requirement(part.trim())?);
    }
    Ok(requirements)
}

fn requirement(text: &str) -> Result<Requirement, String> {
    let bad = || Err(format!("unparsable requirement {text:?}"));
    let words: Vec<&str> = text.split_whitespace().collect();
    if let Some(rest) = text.strip_prefix('!') {
        let key = rest.trim();
        return if key.is_empty() || key.contains(['=', '!', '<', '>', ' ']) {
            bad()
        } else {
            Ok(Requirement::DoesNotExist(key.to_string()))
        };
    }
    // `key in (a,b)`, `key notin (a,b)`: the operator a word of its own.
    if words.len() >= 2
        && (words[1] == "in"
            || words[1].starts_with("in(")
            || words[1] == "notin"
            || words[1].starts_with("notin("))
    {
        let key = words[0].to_string();
        let after_key = text[words[0].len()..].trim_start();
        let (negated, list) = match after_key.strip_prefix("notin") {
            Some(list) => (true, list),
            None => (false, &after_key[2..]),
        };
        let Some(inner) = list
            .trim()
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
        else {
            return bad();
        };
        let values = inner.split(',').map(|v| v.trim().to_string()).collect();
        return Ok(if negated {
            Requirement::NotIn(key, values)
        } else {
            Requirement::In(key, values)
        });
    }
    for (operator, make) in [
        (
            "!=",
            Requirement::NotEquals as fn(String, String) -> Requirement,
        ),
        ("==", Requirement::Equals),
        ("=", Requirement::Equals),
    ] {
        if let Some((key, value)) = text.split_once(operator) {
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() || key.contains(' ') || value.contains(['=', '!', ' ', '(', ')']) {
                return bad();
            }
            return Ok(make(key.to_string(), value.to_string()));
        }
    }
    for (operator, greater) in [('>', true), ('<', false)] {
        if let Some((key, value)) = text.split_once(operator) {
            let Ok(n) = value.trim().parse::<i64>() else {
                return bad();
            };
            let key = key.trim().to_string();
            return Ok(if greater {
                Requirement::GreaterThan(key, n)
            } else {
                Requirement::LessThan(key, n)
            });
        }
    }
    if words.len() == 1 && !text.contains(['(', ')']) {
        return Ok(Requirement::Exists(text.to_string()));
    }
    bad()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A selector, labels, and whether it selects them.
    type Case = (&'static str, &'static [(&'static str, &'static str)], bool);

    /// From Kubernetes' own selector tests.
    const TABLE: &[Case] = &[
        ("", &[("x", "y")], true),
        ("x=y", &[("x", "y")], true),
        ("x=y,z=w", &[("x", "y"), ("z", "w")], true),
        ("x!=y,z!=w", &[("x", "z"), ("z", "a")], true),
        ("notin=in", &[("notin", "in")], true),
        ("x", &[("x", "z")], true),
        ("!x", &[("y", "z")], true),
        ("x>1", &[("x", "2")], true),
        ("x<1", &[("x", "0")], true),
        ("x=z", &[], false),
        ("x=y", &[("x", "z")], false),
        ("x=y,z=w", &[("x", "w"), ("z", "w")], false),
        ("x!=y,z!=w", &[("x", "z"), ("z", "w")], false),
        ("x", &[("y", "z")], false),
        ("!x", &[("x", "z")], false),
        ("x>1", &[("x", "0")], false),
        ("x<1", &[("x", "2")], false),
        ("foo=bar", &[("foo", "bar"), ("baz", "blah")], true),
        ("baz=blah", &[("foo", "bar"), ("baz", "blah")], true),
        ("foo=bar,baz=blah", &[("foo", "bar"), ("baz", "blah")], true),
        ("foo=blah", &[("foo", "bar"), ("baz", "blah")], false),
        ("baz=bar", &[("foo", "bar"), ("baz", "blah")], false),
        (
            "foo=bar,foobar=bar,baz=blah",
            &[("foo", "bar"), ("baz", "blah")],
            false,
        ),
        (
            "x in (foo),y notin (alpha)",
            &[("x", "foo"), ("y", "baz")],
            true,
        ),
        (
            "x in (foo),y in (alpha)",
            &[("x", "foo"), ("y", "baz")],
            false,
        ),
        ("x notin (),y", &[("y", "")], true),
        ("!x,y", &[("y", "")], true),
        ("x notin (),!y", &[("y", "")], false),
        ("x in ()", &[("y", "baz")], false),
        ("z>1", &[("z", "2")], true),
        ("z>1", &[("z", "v2")], false),
        ("x,y in (a)", &[("y", "b")], false),
        ("x in (abc,)", &[("x", "")], true),
        ("foo  in\t (abc)", &[("foo", "abc")], true),
        ("x notin\n (abc)", &[("x", "abd")], true),
    ];

    /// Selectors Kubernetes refuses.
    const BAD: &[&str] = &["x=a||y=b", "x==a==b", "!x=a", "x<a"];

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn this_evaluator_agrees_with_kubernetes_own_table() {
        for (selector, set, selects) in TABLE {
            let parsed =
                LabelSelector::parse(selector).unwrap_or_else(|e| panic!("{selector:?}: {e}"));
            assert_eq!(parsed.matches(set), *selects, "{selector:?} on {set:?}");
        }
        for selector in BAD {
            assert!(LabelSelector::parse(selector).is_err(), "{selector:?}");
        }
    }

    #[test]
    fn the_adapters_parser_agrees_with_kubernetes_own_table() {
        for (selector, set, selects) in TABLE {
            let parsed = adapter_config::Selector::parse(selector)
                .unwrap_or_else(|e| panic!("{selector:?}: {e}"));
            assert_eq!(
                parsed.matches(&labels(set)),
                *selects,
                "{selector:?} on {set:?}"
            );
        }
        for selector in BAD {
            assert!(
                adapter_config::Selector::parse(selector).is_err(),
                "{selector:?}"
            );
        }
    }
}
