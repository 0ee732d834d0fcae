//! Go `text/template` with `<<` `>>` delimiters, on top of the `gotmpl` crate, with the checks gotmpl
//! leaves out so that every template error is found when the config loads rather than per request:
//! unbalanced `if`/`range`/`with`/`end` (gotmpl accepts `<<if .X>>` without `end` and silently truncates at
//! a stray `end`), and references to fields the data does not have (Go fails at execution). `index` on a
//! missing map key renders `""` as in Go, not gotmpl's `<no value>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::parse::{Expr, ListNode, Node, PipeNode};
use gotmpl::{MissingKey, Value};

/// A template that failed to parse, check or render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The template text is not a valid template.
    #[error("template does not parse: {0}")]
    Parse(String),
    /// A block is opened without `end`, or `end`/`else` appears outside a block.
    #[error("template blocks are unbalanced: {0}")]
    Unbalanced(String),
    /// The template reads a field the data does not have.
    #[error("template references unknown field .{field} (available: {available})")]
    UnknownField {
        /// The field as written.
        field: String,
        /// The fields this kind of template offers.
        available: String,
    },
    /// The template failed while rendering.
    #[error("template failed to render: {0}")]
    Render(String),
}

/// A parsed and checked template.
#[derive(Clone)]
pub struct Template {
    source: String,
    inner: Arc<gotmpl::Template>,
    fields: Vec<String>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Template").field(&self.source).finish()
    }
}

impl Template {
    /// Parses `source` and checks that it only reads the top-level fields in `allowed`.
    pub fn compile(source: &str, allowed: &[&str]) -> Result<Self, Error> {
        check_blocks(source)?;
        let inner = gotmpl::Template::new("t")
            .delims("<<", ">>")
            .missing_key(MissingKey::Error)
            .func("index", go_index)
            .parse(source)
            .map_err(|e| Error::Parse(e.to_string()))?;
        let mut refs = References::default();
        if let Some(tree) = inner.lookup("t") {
            refs.list(tree, true);
        }
        if let Some(func) = refs
            .functions
            .iter()
            .find(|f| !FUNCTIONS.contains(&f.as_str()))
        {
            return Err(Error::Parse(format!("function {func:?} not defined")));
        }
        let mut fields = refs.fields;
        fields.sort();
        fields.dedup();
        if let Some(unknown) = fields.iter().find(|f| !allowed.contains(&f.as_str())) {
            return Err(Error::UnknownField {
                field: unknown.clone(),
                available: allowed
                    .iter()
                    .map(|f| format!(".{f}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            });
        }
        Ok(Self {
            source: source.to_string(),
            inner: Arc::new(inner),
            fields,
        })
    }

    /// The template text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template reads the top-level field `name` anywhere.
    pub fn uses(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f == name)
    }

    /// Renders with `data`, a map of the allowed fields.
    pub fn render(&self, data: &Value) -> Result<String, Error> {
        self.inner
            .execute_to_string(data)
            .map_err(|e| Error::Render(e.to_string()))
    }
}

/// Builds the template data map from field names and values.
pub fn data<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Map(Arc::new(
        fields.into_iter().map(|(k, v)| (Arc::from(k), v)).collect(),
    ))
}

/// A Go `[]string` as template data.
pub fn string_list(items: &[String]) -> Value {
    Value::List(
        items
            .iter()
            .map(|s| Value::String(Arc::from(s.as_str())))
            .collect(),
    )
}

/// A Go `map[string]string` as template data.
pub fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Map(Arc::new(
        map.iter()
            .map(|(k, v)| (Arc::from(k.as_str()), Value::String(Arc::from(v.as_str()))))
            .collect(),
    ))
}

/// Go's `index`: a missing map key yields the zero value (`""` for the adapter's string maps).
fn go_index(args: &[Value]) -> gotmpl::Result<Value> {
    let exec = |m: String| gotmpl::TemplateError::Exec(m);
    let (first, keys) = args
        .split_first()
        .ok_or_else(|| exec("index of nothing".into()))?;
    let mut current = first.clone();
    for key in keys {
        current = match (&current, key) {
            (Value::Map(map), Value::String(k)) => map
                .get(k.as_ref())
                .cloned()
                .unwrap_or_else(|| Value::String(Arc::from(""))),
            (Value::List(list), Value::Int(i)) => usize::try_from(*i)
                .ok()
                .and_then(|i| list.get(i).cloned())
                .ok_or_else(|| exec(format!("index out of range: {i}")))?,
            (Value::String(s), Value::Int(i)) => usize::try_from(*i)
                .ok()
                .and_then(|i| s.as_bytes().get(i).copied())
                .map(|b| Value::Int(i64::from(b)))
                .ok_or_else(|| exec(format!("index out of range: {i}")))?,
            (Value::Nil, _) => return Err(exec("index of untyped nil".into())),
            (container, key) => return Err(exec(format!("cannot index {container} with {key}"))),
        };
    }
    Ok(current)
}

/// The functions Go's `text/template` defines; gotmpl only finds an unknown one when it runs.
const FUNCTIONS: [&str; 19] = [
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "js", "urlquery", "call",
];

/// What a template refers to: `.Field`s read while dot is still the root data (outside `with`/`range`
/// bodies) plus every `$.Field`, and the functions it calls.
#[derive(Default)]
struct References {
    fields: Vec<String>,
    functions: Vec<String>,
}

impl References {
    fn list(&mut self, list: &ListNode, dot_is_root: bool) {
        for node in &list.nodes {
            match node {
                Node::List(inner) => self.list(inner, dot_is_root),
                Node::Action(action) => self.pipe(&action.pipe, dot_is_root),
                Node::If(branch) => {
                    self.pipe(&branch.pipe, dot_is_root);
                    self.list(&branch.body, dot_is_root);
                    if let Some(e) = &branch.else_body {
                        self.list(e, dot_is_root);
                    }
                }
                Node::Range(branch) | Node::With(branch) => {
                    self.pipe(&branch.pipe, dot_is_root);
                    self.list(&branch.body, false);
                    if let Some(e) = &branch.else_body {
                        self.list(e, dot_is_root);
                    }
                }
                Node::Template(t) => {
                    if let Some(pipe) = &t.pipe {
                        self.pipe(pipe, dot_is_root);
                    }
                }
                Node::Text(_) | Node::Define(_) | Node::Break(_) | Node::Continue(_) => {}
            }
        }
    }

    fn pipe(&mut self, pipe: &PipeNode, dot_is_root: bool) {
        for command in &pipe.commands {
            for arg in &command.args {
                self.expr(arg, dot_is_root);
            }
        }
    }

    fn expr(&mut self, expr: &Expr, dot_is_root: bool) {
        match expr {
            Expr::Field(_, chain) if dot_is_root => {
                self.fields.extend(chain.first().map(ToString::to_string))
            }
            Expr::Variable(_, name, chain) if name == "$" => {
                self.fields.extend(chain.first().map(ToString::to_string))
            }
            Expr::Identifier(_, name) => self.functions.push(name.to_string()),
            Expr::Pipe(_, pipe) => self.pipe(pipe, dot_is_root),
            Expr::Chain(_, inner, _) => self.expr(inner, dot_is_root),
            _ => {}
        }
    }
}

/// Checks that every `if`/`range`/`with`/`define`/`block` has its `end`, and `else`/`end` stand in a block.
fn check_blocks(source: &str) -> Result<(), Error> {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("<<") {
        let after = &rest[start + 2..];
        let (body, consumed) =
            action_body(after).ok_or_else(|| Error::Parse("unclosed action: missing >>".into()))?;
        rest = &after[consumed..];
        let body = body.strip_prefix('-').unwrap_or(body).trim_start();
        if body.starts_with("/*") {
            continue;
        }
        let keyword: &str = &body[..body
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(body.len())];
        match keyword {
            "if" | "range" | "with" | "define" | "block" => open.push(keyword),
            "end" => {
                open.pop()
                    .ok_or_else(|| Error::Unbalanced("<<end>> without an open block".into()))?;
            }
            "else" if open.is_empty() => {
                return Err(Error::Unbalanced("<<else>> outside a block".into()));
            }
            _ => {}
        }
    }
    match open.last() {
        Some(block) => Err(Error::Unbalanced(format!("<<{block}>> without <<end>>"))),
        None => Ok(()),
    }
}

/// The text of one action up to its closing `>>` (skipping quoted strings and comments), and how many
/// bytes including the delimiter it spans.
fn action_body(text: &str) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => {
                let quote = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => i += text[i + 1..].find('`')? + 1,
            b'/' if bytes.get(i + 1) == Some(&b'*') => i += text[i + 2..].find("*/")? + 3,
            b'>' if bytes.get(i + 1) == Some(&b'>') => return Some((&text[..i], i + 2)),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [&str; 5] = [
        "Series",
        "LabelMatchers",
        "GroupBy",
        "GroupBySlice",
        "LabelValuesByName",
    ];

    fn sample() -> Value {
        let values: BTreeMap<String, String> = [
            ("pod".to_string(), "a|b".to_string()),
            ("namespace".to_string(), "prod".to_string()),
        ]
        .into();
        data([
            ("Series", Value::String("http_requests_total".into())),
            (
                "LabelMatchers",
                Value::String(r#"namespace="prod",pod=~"a|b""#.into()),
            ),
            ("GroupBy", Value::String("pod,container".into())),
            (
                "GroupBySlice",
                string_list(&["pod".into(), "container".into()]),
            ),
            ("LabelValuesByName", string_map(&values)),
        ])
    }

    fn render(source: &str) -> Result<String, Error> {
        Template::compile(source, &FIELDS)?.render(&sample())
    }

    #[test]
    fn adapter_style_templates_render_like_go() {
        let cases = [
            (
                "sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)",
                r#"sum(rate(http_requests_total{namespace="prod",pod=~"a|b"}[2m])) by (pod,container)"#,
            ),
            ("<<.GroupBySlice>>", "[pod container]"),
            ("<<.LabelValuesByName>>", "map[namespace:prod pod:a|b]"),
            (r#"<<index .LabelValuesByName "pod">>"#, "a|b"),
            (r#"<<index .LabelValuesByName "missing">>"#, ""),
            (r#"<<printf "%s_%d" .Series 2>>"#, "http_requests_total_2"),
            (r#"<<printf "%q" .GroupBy>>"#, r#""pod,container""#),
            (r#"<<printf "%v" .GroupBySlice>>"#, "[pod container]"),
            (r#"<<print "a" 1 2 "b">>"#, "a1 2b"),
            ("<<len .GroupBySlice>>", "2"),
            (
                "<<range $i, $l := .GroupBySlice>><<if $i>>,<<end>>x_<<$l>><<end>>",
                "x_pod,x_container",
            ),
            ("<<with .Series>>[<<.>>]<<end>>", "[http_requests_total]"),
            (
                r#"<<if eq .GroupBy "pod">>a<<else if ne .Series "">>b<<else>>c<<end>>"#,
                "b",
            ),
            ("<<if and .Series (not .GroupBy)>>a<<else>>b<<end>>", "b"),
            ("<<if or (lt 1 2) (gt 1 2)>>y<<end>>", "y"),
            ("<<$s := .Series>><<$s>>", "http_requests_total"),
            ("a <<- /* comment */ ->> b", "ab"),
            ("<<.Series | printf \"%s!\">>", "http_requests_total!"),
            ("<<le 2 2>> <<ge 1 2>>", "true false"),
        ];
        for (source, want) in cases {
            assert_eq!(render(source).as_deref(), Ok(want), "{source}");
        }
    }

    #[test]
    fn range_over_an_empty_list_takes_else() {
        let template =
            Template::compile("<<range .GroupBySlice>>x<<else>>none<<end>>", &FIELDS).unwrap();
        let empty = data([("GroupBySlice", string_list(&[]))]);
        assert_eq!(template.render(&empty).as_deref(), Ok("none"));
    }

    #[test]
    fn unbalanced_blocks_are_load_errors() {
        for source in [
            "<<if .Series>>x",
            "a<<end>>b",
            "<<else>>",
            "<<range .GroupBySlice>>x<<if .Series>><<end>>",
        ] {
            assert!(
                matches!(
                    Template::compile(source, &FIELDS),
                    Err(Error::Unbalanced(_))
                ),
                "{source}"
            );
        }
        assert!(Template::compile(r#"<<if eq .Series "<<end>>">>x<<end>>"#, &FIELDS).is_ok());
        assert!(Template::compile("<<.Series", &FIELDS).is_err());
    }

    #[test]
    fn unknown_fields_are_load_errors_even_in_untaken_branches() {
        let err =
            Template::compile("<<if false>><<.LabelMatchersByName>><<end>>", &FIELDS).unwrap_err();
        assert!(
            matches!(&err, Error::UnknownField { field, .. } if field == "LabelMatchersByName"),
            "{err}"
        );
        assert!(Template::compile("<<$.Nope>>", &FIELDS).is_err());
        // Inside range dot is an element, so fields there are not root fields.
        assert!(Template::compile("<<range .GroupBySlice>><<.>><<end>>", &FIELDS).is_ok());
    }

    #[test]
    fn syntax_errors_are_load_errors() {
        assert!(matches!(
            Template::compile("<<.Series | >>", &FIELDS),
            Err(Error::Parse(_))
        ));
        assert!(matches!(
            Template::compile("<<nofunc .Series>>", &FIELDS),
            Err(Error::Parse(_))
        ));
    }

    #[test]
    fn render_errors_are_errors_not_empty_strings() {
        let template = Template::compile(r#"<<index .GroupBySlice 5>>"#, &FIELDS).unwrap();
        assert!(template.render(&sample()).is_err());
    }

    #[test]
    fn uses_reports_fields_read() {
        let template = Template::compile("x by (<<.GroupBy>>)", &FIELDS).unwrap();
        assert!(template.uses("GroupBy"));
        assert!(!template.uses("Series"));
    }
}
