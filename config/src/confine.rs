//! Confining PromQL to one namespace by rewriting it, not by trusting it: the core of namespaced rule
//! objects (issue 25), whose queries come from teams that may only read their own namespace's metrics.
//!
//! The query is parsed by a maintained PromQL parser (`promql-parser`), every vector and range selector in
//! the tree — inside functions, aggregations, binary operations (`or`, `unless` included), subqueries,
//! with `offset` or `@` — gets `label="value"`, any other matcher on that label removed (an `or` of matcher
//! groups gets it in every group), and the tree is printed back. This is what prometheus-community's
//! prom-label-proxy does when it enforces a label. A query the parser refuses is refused, never passed
//! through; `info()`, which reads `target_info` series no selector in the query names, is refused too.
//!
//! ```
//! use adapter_config::confine::confine;
//! assert_eq!(
//!     confine(r#"sum(rate(http_requests_total{namespace="other"}[2m])) or vector(0)"#, "namespace", "team-a").unwrap(),
//!     r#"sum(rate(http_requests_total{namespace="team-a"}[2m])) or vector(0)"#
//! );
//! ```

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, VectorSelector};

/// Why a query cannot be confined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfineError {
    /// The parser refused it: it is not passed through.
    #[error("not PromQL that can be confined: {0}")]
    Unparseable(String),
    /// It calls a function that reads series no selector names.
    #[error("{0}() reads series outside the query's selectors and cannot be confined")]
    Unconfinable(&'static str),
}

/// Functions that select series the query does not name: confining their arguments would not confine them.
const UNCONFINABLE: &[&str] = &["info"];

/// `promql` with every selector forced to `label="value"`, printed by the parser's own printer.
pub fn confine(promql: &str, label: &str, value: &str) -> Result<String, ConfineError> {
    let mut expr = parser::parse(promql).map_err(ConfineError::Unparseable)?;
    enforce(&mut expr, label, value)?;
    Ok(expr.to_string())
}

fn enforce(expr: &mut Expr, label: &str, value: &str) -> Result<(), ConfineError> {
    match expr {
        Expr::Aggregate(aggregate) => {
            enforce(&mut aggregate.expr, label, value)?;
            if let Some(param) = &mut aggregate.param {
                enforce(param, label, value)?;
            }
        }
        Expr::Unary(unary) => enforce(&mut unary.expr, label, value)?,
        Expr::Binary(binary) => {
            enforce(&mut binary.lhs, label, value)?;
            enforce(&mut binary.rhs, label, value)?;
        }
        Expr::Paren(paren) => enforce(&mut paren.expr, label, value)?,
        Expr::Subquery(subquery) => enforce(&mut subquery.expr, label, value)?,
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::VectorSelector(selector) => enforce_selector(selector, label, value),
        Expr::MatrixSelector(matrix) => enforce_selector(&mut matrix.vs, label, value),
        Expr::Call(call) => {
            if let Some(name) = UNCONFINABLE.iter().find(|f| **f == call.func.name) {
                return Err(ConfineError::Unconfinable(name));
            }
            for arg in &mut call.args.args {
                enforce(arg, label, value)?;
            }
        }
        // The parser never makes one; refuse rather than pass through what this code cannot see into.
        Expr::Extension(_) => {
            return Err(ConfineError::Unparseable(
                "an extension node the parser does not make".into(),
            ));
        }
    }
    Ok(())
}

/// The selector's matchers on `label` replaced by `label="value"`, in each `or` group if it has them.
fn enforce_selector(selector: &mut VectorSelector, label: &str, value: &str) {
    let enforced = || Matcher::new(MatchOp::Equal, label, value);
    let matchers = &mut selector.matchers;
    if matchers.or_matchers.is_empty() {
        matchers.matchers.retain(|m| m.name != label);
        matchers.matchers.push(enforced());
    } else {
        // The printer shows only the groups when there are any; a plain list beside them is folded in.
        let plain = std::mem::take(&mut matchers.matchers);
        for group in &mut matchers.or_matchers {
            group.extend(plain.iter().cloned());
            group.retain(|m| m.name != label);
            group.push(enforced());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ConfineError, confine};

    fn ns(promql: &str) -> String {
        confine(promql, "namespace", "team-a").unwrap_or_else(|e| panic!("{promql}: {e}"))
    }

    /// Every selector of the printed query, as the parser sees it again: (metric name, matchers on the
    /// namespace label).
    fn namespace_matchers(promql: &str) -> Vec<Vec<String>> {
        fn walk(expr: &promql_parser::parser::Expr, out: &mut Vec<Vec<String>>) {
            use promql_parser::parser::Expr;
            let selector = |vs: &promql_parser::parser::VectorSelector,
                            out: &mut Vec<Vec<String>>| {
                let groups: Vec<&Vec<promql_parser::label::Matcher>> =
                    if vs.matchers.or_matchers.is_empty() {
                        vec![&vs.matchers.matchers]
                    } else {
                        vs.matchers.or_matchers.iter().collect()
                    };
                for group in groups {
                    out.push(
                        group
                            .iter()
                            .filter(|m| m.name == "namespace")
                            .map(|m| format!("{}{}", m.op, m.value))
                            .collect(),
                    );
                }
            };
            match expr {
                Expr::Aggregate(a) => {
                    walk(&a.expr, out);
                    if let Some(p) = &a.param {
                        walk(p, out);
                    }
                }
                Expr::Unary(u) => walk(&u.expr, out),
                Expr::Binary(b) => {
                    walk(&b.lhs, out);
                    walk(&b.rhs, out);
                }
                Expr::Paren(p) => walk(&p.expr, out),
                Expr::Subquery(s) => walk(&s.expr, out),
                Expr::VectorSelector(vs) => selector(vs, out),
                Expr::MatrixSelector(ms) => selector(&ms.vs, out),
                Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(
            &promql_parser::parser::parse(promql).expect("the printed query parses"),
            &mut out,
        );
        out
    }

    #[test]
    fn every_selector_is_forced_to_the_namespace_and_other_matchers_on_it_are_replaced() {
        let hostile = [
            r#"up"#,
            r#"{__name__=~".+"}"#,
            r#"http_requests_total{namespace="other"}"#,
            r#"http_requests_total{namespace!="team-a"}"#,
            r#"http_requests_total{namespace=~".*"}"#,
            r#"http_requests_total{namespace!~"team-a"}"#,
            r#"rate(http_requests_total{pod="p"}[5m] offset 1h)"#,
            r#"rate(http_requests_total[5m] @ 1700000000)"#,
            r#"max_over_time(rate(x{namespace="kube-system"}[1m])[1h:5m])"#,
            r#"sum by (namespace) (x) / on (namespace) group_left sum(y{namespace="other"})"#,
            r#"x or y{namespace="other"}"#,
            r#"x unless on () y"#,
            r#"absent(x{namespace="other"})"#,
            r#"label_replace(x{namespace="other"}, "namespace", "team-a", "", "")"#,
            r#"topk(3, x) and bottomk(scalar(count(y)), z)"#,
            r#"count_values("namespace", x)"#,
            r#"-x > bool 2 * scalar(y)"#,
            r#"quantile_over_time(0.9, x[10m:])"#,
            r#"{__name__="x", namespace="a" or __name__="y", namespace="b"}"#,
        ];
        for query in hostile {
            let confined = ns(query);
            let selectors = namespace_matchers(&confined);
            assert!(!selectors.is_empty(), "{query} → {confined}");
            for matchers in selectors {
                assert_eq!(matchers, ["=team-a"], "{query} → {confined}");
            }
            // Confining twice changes nothing more: the printed query is a fixed point.
            assert_eq!(ns(&confined), confined, "{query}");
        }
    }

    #[test]
    fn the_query_is_otherwise_unchanged() {
        assert_eq!(
            ns(r#"sum(rate(http_requests_total{namespace="x",pod=~"web-.*"}[2m])) by (pod)"#),
            // The printer sorts matchers.
            r#"sum by (pod) (rate(http_requests_total{namespace="team-a",pod=~"web-.*"}[2m]))"#
        );
        assert_eq!(ns("vector(1)"), "vector(1)");
        assert_eq!(ns("1 + 2"), "1 + 2");
        assert_eq!(
            ns(r#"x{label="a \"quoted\" \\ value"}"#),
            r#"x{label="a \"quoted\" \\ value",namespace="team-a"}"#
        );
    }

    #[test]
    fn what_cannot_be_parsed_or_confined_is_refused() {
        for broken in ["sum(", "x{", "rate(x)", "x{namespace=}", "<<.Series>>"] {
            assert!(
                matches!(
                    confine(broken, "namespace", "a"),
                    Err(ConfineError::Unparseable(_))
                ),
                "{broken}"
            );
        }
        assert_eq!(
            confine(r#"info(rate(x[5m]))"#, "namespace", "a"),
            Err(ConfineError::Unconfinable("info"))
        );
    }
}
