//! Kubernetes label selectors (`app=web,tier in (a,b),!canary`): the parser Kubernetes' `labels.Parse`
//! implements, with its validation and its canonical order (requirements sorted by key, values sorted),
//! and matching against an object's labels.

use std::collections::BTreeMap;

/// A selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
    /// `in (…)`
    In,
    /// `notin (…)`
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `gt N`
    GreaterThan,
    /// `lt N`
    LessThan,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: Operator,
    /// Values, sorted and unique.
    pub values: Vec<String>,
}

/// A parsed selector: requirements sorted by key. Empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    /// The requirements, all of which must hold.
    pub requirements: Vec<Requirement>,
}

/// A selector that does not parse or validate, with the message Kubernetes would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub struct Error(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Ident(&'a str),
    Not,
    NotEquals,
    Equals,
    DoubleEquals,
    Open,
    Close,
    Comma,
    Greater,
    Less,
}

fn tokenize(input: &str) -> Result<Vec<Token<'_>>, Error> {
    let mut tokens = Vec::new();
    let bytes = input.as_bytes();
    let mut i = 0;
    while let Some(c) = input[i..].chars().next() {
        // Whitespace is skipped by the same test that ends identifiers (Unicode whitespace, as Go's
        // lexer's isWhitespace covers more than ASCII space), so every token below is at least one
        // character and the loop always advances.
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let (token, len) = match bytes[i] {
            b'!' if bytes.get(i + 1) == Some(&b'=') => (Token::NotEquals, 2),
            b'!' => (Token::Not, 1),
            b'=' if bytes.get(i + 1) == Some(&b'=') => (Token::DoubleEquals, 2),
            b'=' => (Token::Equals, 1),
            b'(' => (Token::Open, 1),
            b')' => (Token::Close, 1),
            b',' => (Token::Comma, 1),
            b'>' => (Token::Greater, 1),
            b'<' => (Token::Less, 1),
            _ => {
                let len = input[i..]
                    .find(|ch: char| ch.is_whitespace() || "!=(),<>".contains(ch))
                    .unwrap_or(input.len() - i);
                (Token::Ident(&input[i..i + len]), len)
            }
        };
        tokens.push(token);
        i += len;
    }
    Ok(tokens)
}

impl Selector {
    /// Parses a selector string; the empty string selects everything.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let tokens = tokenize(input)?;
        let mut parser = Parser {
            tokens: &tokens,
            pos: 0,
        };
        let mut requirements = Vec::new();
        if !tokens.is_empty() {
            loop {
                requirements.push(parser.requirement()?);
                match parser.next() {
                    None => break,
                    Some(Token::Comma) => {
                        if parser.peek().is_none() {
                            return Err(Error("found '', expected: identifier after ','".into()));
                        }
                    }
                    Some(t) => {
                        return Err(Error(format!(
                            "found '{}', expected: ',' or 'end of string'",
                            show(t)
                        )));
                    }
                }
            }
        }
        requirements.sort_by(|a: &Requirement, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    /// Whether `labels` satisfy this requirement (Kubernetes semantics: `!=`/`notin` hold when absent).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let has = |v: &String| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => value.is_some_and(has),
            Operator::NotEquals | Operator::NotIn => !value.is_some_and(has),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(actual), Some(bound)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

impl std::fmt::Display for Selector {
    /// The canonical string form, as Kubernetes prints a parsed selector.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            // A set of only the empty value (`in (,)`) prints as `(,)`: Go prints `()`, which does not
            // parse back, and this string is what a LIST sends to kube-apiserver (found by fuzzing).
            let values = if r.values.len() == 1
                && r.values[0].is_empty()
                && matches!(r.operator, Operator::In | Operator::NotIn)
            {
                ",".to_string()
            } else {
                r.values.join(",")
            };
            match r.operator {
                Operator::Equals => write!(f, "{}={values}", r.key)?,
                Operator::DoubleEquals => write!(f, "{}=={values}", r.key)?,
                Operator::NotEquals => write!(f, "{}!={values}", r.key)?,
                Operator::In => write!(f, "{} in ({values})", r.key)?,
                Operator::NotIn => write!(f, "{} notin ({values})", r.key)?,
                Operator::Exists => write!(f, "{}", r.key)?,
                Operator::DoesNotExist => write!(f, "!{}", r.key)?,
                Operator::GreaterThan => write!(f, "{}>{values}", r.key)?,
                Operator::LessThan => write!(f, "{}<{values}", r.key)?,
            }
        }
        Ok(())
    }
}

fn show(token: &Token<'_>) -> String {
    match token {
        Token::Ident(s) => (*s).to_string(),
        Token::Not => "!".into(),
        Token::NotEquals => "!=".into(),
        Token::Equals => "=".into(),
        Token::DoubleEquals => "==".into(),
        Token::Open => "(".into(),
        Token::Close => ")".into(),
        Token::Comma => ",".into(),
        Token::Greater => ">".into(),
        Token::Less => "<".into(),
    }
}

struct Parser<'t, 'a> {
    tokens: &'t [Token<'a>],
    pos: usize,
}

impl<'a> Parser<'_, 'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<&Token<'a>> {
        let token = self.tokens.get(self.pos);
        self.pos += 1;
        token
    }

    fn key(&mut self) -> Result<String, Error> {
        match self.next() {
            Some(Token::Ident(key)) => {
                validate_key(key)?;
                Ok((*key).to_string())
            }
            Some(t) => Err(Error(format!("found '{}', expected: identifier", show(t)))),
            None => Err(Error("found '', expected: identifier".into())),
        }
    }

    fn requirement(&mut self) -> Result<Requirement, Error> {
        if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            let key = self.key()?;
            return Ok(Requirement {
                key,
                operator: Operator::DoesNotExist,
                values: Vec::new(),
            });
        }
        let key = self.key()?;
        let operator = match self.peek() {
            None | Some(Token::Comma) => {
                return Ok(Requirement {
                    key,
                    operator: Operator::Exists,
                    values: Vec::new(),
                });
            }
            Some(Token::Equals) => Operator::Equals,
            Some(Token::DoubleEquals) => Operator::DoubleEquals,
            Some(Token::NotEquals) => Operator::NotEquals,
            Some(Token::Ident("in")) => Operator::In,
            Some(Token::Ident("notin")) => Operator::NotIn,
            // As Go's lexer: `>` and `<` (the words gt and lt are only names in the error message).
            Some(Token::Greater) => Operator::GreaterThan,
            Some(Token::Less) => Operator::LessThan,
            Some(t) => {
                return Err(Error(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    show(t)
                )));
            }
        };
        self.pos += 1;
        let mut values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => vec![self.single_value()?],
        };
        for value in &values {
            validate_value(value)?;
        }
        if matches!(operator, Operator::GreaterThan | Operator::LessThan)
            && values[0].parse::<i64>().is_err()
        {
            return Err(Error(format!(
                "{key}: for 'Gt', 'Lt' operators, the value must be an integer"
            )));
        }
        values.sort();
        values.dedup();
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    fn single_value(&mut self) -> Result<String, Error> {
        match self.peek() {
            Some(Token::Ident(v)) => {
                let v = (*v).to_string();
                self.pos += 1;
                Ok(v)
            }
            // `a=` selects the empty value.
            None | Some(Token::Comma) => Ok(String::new()),
            Some(t) => Err(Error(format!("found '{}', expected: identifier", show(t)))),
        }
    }

    fn value_set(&mut self) -> Result<Vec<String>, Error> {
        if self.next() != Some(&Token::Open) {
            return Err(Error("expected: '('".into()));
        }
        let mut values = Vec::new();
        let mut expect_value = true;
        loop {
            match self.next() {
                Some(Token::Ident(v)) if expect_value => {
                    values.push((*v).to_string());
                    expect_value = false;
                }
                Some(Token::Comma) => {
                    if expect_value {
                        values.push(String::new());
                    }
                    expect_value = true;
                }
                // `()` is the set of the empty value, as Kubernetes parses it (and `(a,)` holds it too).
                Some(Token::Close) => {
                    if expect_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                Some(t) => {
                    return Err(Error(format!(
                        "found '{}', expected: ',', ')' or identifier",
                        show(t)
                    )));
                }
                None => return Err(Error("found '', expected: ')'".into())),
            }
        }
    }
}

/// `[prefix/]name`: prefix a DNS subdomain (≤ 253), name ≤ 63 alphanumerics with `-_.` inside.
fn validate_key(key: &str) -> Result<(), Error> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let ok = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !ok {
            return Err(Error(format!(
                "invalid label key {key:?}: prefix part must be a DNS subdomain"
            )));
        }
    }
    if name.is_empty() || !is_label_token(name) {
        return Err(Error(format!(
            "invalid label key {key:?}: name part must consist of alphanumeric characters, '-', '_' or '.', \
             and must start and end with an alphanumeric character (at most 63)"
        )));
    }
    Ok(())
}

/// A label value: empty, or ≤ 63 alphanumerics with `-_.` inside.
fn validate_value(value: &str) -> Result<(), Error> {
    if value.is_empty() || is_label_token(value) {
        Ok(())
    } else {
        Err(Error(format!(
            "invalid label value: {value:?}: a valid label must be an empty string or consist of alphanumeric \
             characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)"
        )))
    }
}

fn is_label_token(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    /// Found by fuzzing (tools/fuzz, label_selector): a form feed — Unicode whitespace the tokenizer did
    /// not skip but ended identifiers at — made an empty token that never advanced: an endless loop that
    /// ate memory, from one `labelSelector=a%0Cb` request.
    #[test]
    fn every_whitespace_separates_and_the_tokenizer_always_advances() {
        assert_eq!(
            Selector::parse("a\u{c}=\u{c}b").unwrap(),
            Selector::parse("a=b").unwrap()
        );
        assert!(Selector::parse("a\u{c}\0\0o\0\0n (d)").is_err());
        assert!(
            Selector::parse("a\u{a0}in\u{2003}(x)").is_ok(),
            "non-ASCII whitespace too"
        );
        // A set of only the empty value prints so that it parses back (fuzzing found `in ()`).
        let empty = Selector::parse("ier in (,)").unwrap();
        assert_eq!(empty.to_string(), "ier in (,)");
        assert_eq!(Selector::parse(&empty.to_string()).unwrap(), empty);
    }

    #[test]
    fn every_operator_parses() {
        let cases = [
            ("a=b", req("a", Operator::Equals, &["b"])),
            ("a==b", req("a", Operator::DoubleEquals, &["b"])),
            ("a!=b", req("a", Operator::NotEquals, &["b"])),
            ("a in (c,b)", req("a", Operator::In, &["b", "c"])),
            ("a notin (b)", req("a", Operator::NotIn, &["b"])),
            ("a", req("a", Operator::Exists, &[])),
            ("!a", req("a", Operator::DoesNotExist, &[])),
            ("a>5", req("a", Operator::GreaterThan, &["5"])),
            ("a < 5", req("a", Operator::LessThan, &["5"])),
            ("a=", req("a", Operator::Equals, &[""])),
            ("a in ()", req("a", Operator::In, &[""])),
            ("a notin (b,)", req("a", Operator::NotIn, &["", "b"])),
            (
                "example.com/app-name=v1.2_3",
                req("example.com/app-name", Operator::Equals, &["v1.2_3"]),
            ),
            (
                "  a  in ( x , y , x )  ",
                req("a", Operator::In, &["x", "y"]),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                Selector::parse(input).unwrap().requirements,
                vec![want],
                "{input}"
            );
        }
    }

    #[test]
    fn requirements_are_sorted_by_key() {
        let selector = Selector::parse("z=1,a in (y,x),m").unwrap();
        let keys: Vec<_> = selector
            .requirements
            .iter()
            .map(|r| r.key.as_str())
            .collect();
        assert_eq!(keys, ["a", "m", "z"]);
        assert_eq!(selector.to_string(), "a in (x,y),m,z=1");
    }

    #[test]
    fn empty_selector_selects_everything() {
        let selector = Selector::parse("").unwrap();
        assert!(selector.is_empty());
        assert!(selector.matches(&BTreeMap::new()));
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        for input in [
            "a in (b",
            "a=b,",
            ",a",
            "a=b c",
            "a b",
            "=b",
            "a>x",
            "a=b=c",
            "!",
            "a in b",
            "a=\"b\"",
            "a=b}",
            "a=b\nor",
            "-a=b",
            "a=-b",
            "a/=b",
            "Bad_Prefix/a=b",
            "a=é",
            &format!("a={}", "x".repeat(64)),
        ] {
            assert!(Selector::parse(input).is_err(), "{input:?} should fail");
        }
    }

    #[test]
    fn matching_follows_kubernetes_semantics() {
        let labels: BTreeMap<String, String> =
            [("app", "web"), ("tier", "front"), ("replicas", "3")]
                .map(|(k, v)| (k.into(), v.into()))
                .into();
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("tier in (front,back)", true),
            ("tier notin (front)", false),
            ("missing notin (x)", true),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("replicas>2", true),
            ("replicas<3", false),
            ("app>1", false),
            ("app=web,tier=back", false),
        ];
        for (input, want) in cases {
            assert_eq!(
                Selector::parse(input).unwrap().matches(&labels),
                want,
                "{input}"
            );
        }
    }
}
