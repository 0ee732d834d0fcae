//! Prometheus series selectors (`{__name__=~"^container_.*",namespace!=""}`): parsed and evaluated
//! against label sets, so discovery can run offline (`explain`) and simulated backends can answer
//! `/api/v1/series` as Prometheus would.

use regex::Regex;

/// One label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name (`__name__` for the metric name).
    pub label: String,
    /// Operator.
    pub op: MatchOp,
    /// Value or regex source as written.
    pub value: String,
    regex: Option<Regex>,
}

/// A matcher operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

/// A parsed series selector.
#[derive(Debug, Clone)]
pub struct SeriesSelector {
    /// All matchers, the metric name as `__name__="…"` first when written before the braces.
    pub matchers: Vec<Matcher>,
}

/// A series selector that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid series selector at byte {at}: {reason}")]
pub struct Error {
    /// Byte offset of the problem.
    pub at: usize,
    /// What was expected.
    pub reason: String,
}

impl Matcher {
    /// Whether a label value (`""` when the label is absent, as in Prometheus) satisfies this matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

impl SeriesSelector {
    /// Parses `name`, `name{…}` or `{…}`. At least one matcher must not match the empty string, as
    /// Prometheus requires.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let mut p = Cursor { input, pos: 0 };
        let mut matchers = Vec::new();
        p.skip_ws();
        let name = p.ident();
        if !name.is_empty() {
            matchers.push(Matcher::new("__name__", MatchOp::Equal, name, 0)?);
        }
        p.skip_ws();
        if p.eat("{") {
            loop {
                p.skip_ws();
                if p.eat("}") {
                    break;
                }
                let at = p.pos;
                let label = if p.peek() == Some('"') {
                    p.string()?
                } else {
                    p.ident().to_string()
                };
                if label.is_empty() {
                    return Err(p.error("expected a label name"));
                }
                p.skip_ws();
                let op = if p.eat("=~") {
                    MatchOp::Regex
                } else if p.eat("!~") {
                    MatchOp::NotRegex
                } else if p.eat("!=") {
                    MatchOp::NotEqual
                } else if p.eat("=") {
                    MatchOp::Equal
                } else {
                    return Err(p.error("expected one of = != =~ !~"));
                };
                p.skip_ws();
                let value = p.string()?;
                matchers.push(Matcher::new(&label, op, &value, at)?);
                p.skip_ws();
                if p.eat(",") {
                    continue;
                }
                if p.eat("}") {
                    break;
                }
                return Err(p.error("expected , or }"));
            }
        }
        p.skip_ws();
        if p.pos != input.len() {
            return Err(p.error("unexpected text after the selector"));
        }
        if matchers.is_empty() || matchers.iter().all(|m| m.matches("")) {
            return Err(Error {
                at: 0,
                reason: "vector selector must contain at least one non-empty matcher".into(),
            });
        }
        Ok(Self { matchers })
    }

    /// Whether a series with metric name `name` and labels looked up by `label` is selected.
    pub fn matches<'a>(&self, name: &str, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.matchers.iter().all(|m| {
            let value = if m.label == "__name__" {
                name
            } else {
                label(&m.label).unwrap_or("")
            };
            m.matches(value)
        })
    }
}

impl Matcher {
    fn new(label: &str, op: MatchOp, value: &str, at: usize) -> Result<Self, Error> {
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(Regex::new(&format!("^(?s:{value})$")).map_err(|e| Error {
                    at,
                    reason: crate::error::regex_error(value, &e),
                })?)
            }
            _ => None,
        };
        Ok(Self {
            label: label.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }
}

struct Cursor<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error(&self, reason: &str) -> Error {
        Error {
            at: self.pos,
            reason: reason.to_string(),
        }
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.input.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        let found = self.rest().starts_with(token);
        if found {
            self.pos += token.len();
        }
        found
    }

    fn ident(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
            })
            .map_or(rest.len(), |(i, _)| i);
        self.pos += len;
        &rest[..len]
    }

    /// A PromQL string: `"…"` or `'…'` with Go escapes, or a raw `` `…` ``.
    fn string(&mut self) -> Result<String, Error> {
        let quote = self
            .peek()
            .ok_or_else(|| self.error("expected a quoted string"))?;
        if !matches!(quote, '"' | '\'' | '`') {
            return Err(self.error("expected a quoted string"));
        }
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(out);
            }
            if c != '\\' || quote == '`' {
                out.push(c);
                continue;
            }
            let Some((_, e)) = chars.next() else { break };
            let simple = match e {
                'a' => Some('\u{7}'),
                'b' => Some('\u{8}'),
                'f' => Some('\u{c}'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\u{b}'),
                '\\' | '"' | '\'' => Some(e),
                _ => None,
            };
            if let Some(c) = simple {
                out.push(c);
                continue;
            }
            let digits = match e {
                'x' => 2,
                'u' => 4,
                'U' => 8,
                _ => return Err(self.error(&format!("unknown escape \\{e}"))),
            };
            let hex: String = chars.by_ref().take(digits).map(|(_, c)| c).collect();
            let code = u32::from_str_radix(&hex, 16)
                .ok()
                .and_then(char::from_u32)
                .filter(|_| hex.len() == digits)
                .ok_or_else(|| self.error("invalid escape"))?;
            out.push(code);
        }
        Err(self.error("unterminated string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn selects(selector: &str, name: &str, labels: &[(&str, &str)]) -> bool {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        SeriesSelector::parse(selector)
            .unwrap()
            .matches(name, |l| labels.get(l).copied())
    }

    #[test]
    fn selectors_match_like_prometheus() {
        let pod = [
            ("namespace", "prod"),
            ("pod", "web-1"),
            ("container", "app"),
        ];
        let cases = [
            (
                r#"{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}"#,
                "container_cpu_usage_seconds_total",
                true,
            ),
            (
                r#"{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}"#,
                "http_requests_total",
                false,
            ),
            (r#"{__name__=~"container_.*"}"#, "x_container_y", false),
            (
                r#"http_requests_total{namespace!="",pod!=""}"#,
                "http_requests_total",
                true,
            ),
            (
                r#"http_requests_total{namespace!="",pod!=""}"#,
                "http_requests",
                false,
            ),
            (
                r#"{namespace!="",__name__!~"^container_.*"}"#,
                "http_requests_total",
                true,
            ),
            (r#"{namespace="prod", pod=~'web-.*'}"#, "m", true),
            (r#"{missing="",namespace="prod"}"#, "m", true),
            (r#"{__name__="m",missing!=""}"#, "m", false),
            ("m", "m", true),
            ("{__name__=`m`}", "m", true),
        ];
        for (selector, name, want) in cases {
            assert_eq!(selects(selector, name, &pod), want, "{selector} on {name}");
        }
    }

    #[test]
    fn strings_unescape_like_promql() {
        let s = SeriesSelector::parse(r#"{a="x\"y\\z\n\u00e9\x41"}"#).unwrap();
        assert_eq!(s.matchers[0].value, "x\"y\\z\né\x41");
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        for input in [
            "",
            "{}",
            r#"{a=""}"#,
            r#"{a="b""#,
            r#"{a~"b"}"#,
            r#"{a="b" c="d"}"#,
            r#"{a=~"("}"#,
            "m{",
            r#"m x"#,
            r#"{a="\q"}"#,
        ] {
            assert!(
                SeriesSelector::parse(input).is_err(),
                "{input:?} should fail"
            );
        }
    }
}
