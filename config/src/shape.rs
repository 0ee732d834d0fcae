//! The rules file's shape, checked over the parsed YAML before the typed parse, so that every unknown key
//! and every wrongly typed value is reported at once and by its path (`rules[1].nmae`,
//! `rules: must be a list, not a map`) — the typed parse stops at the first and names only a line and
//! column. Mirrors [`crate::raw`]; `null` is accepted anywhere (Go's zero value).

use serde_json::Value;

/// What a value must be.
enum Shape {
    /// A scalar read as a string (YAML numbers and booleans are strings to Go's decoder here).
    Text,
    /// `true`/`false`.
    Bool,
    /// A list of one shape.
    List(&'static Shape),
    /// A map from any key to one shape.
    Dict(&'static Shape),
    /// A map with these keys only.
    Object(&'static [(&'static str, Shape)]),
}

const GROUP_RESOURCE: Shape = Shape::Object(&[("group", Shape::Text), ("resource", Shape::Text)]);
const MAPPING: Shape = Shape::Object(&[
    ("template", Shape::Text),
    ("overrides", Shape::Dict(&GROUP_RESOURCE)),
    ("namespaced", Shape::Bool),
]);
const FILTER: Shape = Shape::Object(&[("is", Shape::Text), ("isNot", Shape::Text)]);
const RULE: Shape = Shape::Object(&[
    ("seriesQuery", Shape::Text),
    ("seriesFilters", Shape::List(&FILTER)),
    ("resources", MAPPING),
    (
        "name",
        Shape::Object(&[("matches", Shape::Text), ("as", Shape::Text)]),
    ),
    ("metricsQuery", Shape::Text),
    ("backend", Shape::Text),
    ("missingValue", Shape::Text),
]);
const RESOURCE_RULE: Shape = Shape::Object(&[
    ("containerQuery", Shape::Text),
    ("nodeQuery", Shape::Text),
    ("resources", MAPPING),
    ("containerLabel", Shape::Text),
]);
const BACKEND: Shape = Shape::Object(&[
    ("url", Shape::Text),
    ("urls", Shape::List(&Shape::Text)),
    ("headers", Shape::Dict(&Shape::Text)),
    ("tokenFile", Shape::Text),
    ("caFile", Shape::Text),
    ("certFile", Shape::Text),
    ("keyFile", Shape::Text),
    ("timeout", Shape::Text),
    ("verb", Shape::Text),
    ("queryParams", Shape::Dict(&Shape::Text)),
    (
        "tenant",
        Shape::Object(&[
            ("header", Shape::Text),
            ("value", Shape::Text),
            ("fallback", Shape::Text),
        ]),
    ),
    ("backoff", Shape::Text),
    ("relistMode", Shape::Text),
    (
        "basicAuth",
        Shape::Object(&[("username", Shape::Text), ("passwordFile", Shape::Text)]),
    ),
    (
        "oauth2",
        Shape::Object(&[
            ("tokenUrl", Shape::Text),
            ("clientId", Shape::Text),
            ("clientSecretFile", Shape::Text),
            ("scopes", Shape::List(&Shape::Text)),
            ("endpointParams", Shape::Dict(&Shape::Text)),
        ]),
    ),
    (
        "sigv4",
        Shape::Object(&[
            ("region", Shape::Text),
            ("service", Shape::Text),
            ("roleArn", Shape::Text),
            ("externalId", Shape::Text),
            ("profile", Shape::Text),
        ]),
    ),
    (
        "googleIam",
        Shape::Object(&[("credentialsFile", Shape::Text)]),
    ),
    (
        "azureAd",
        Shape::Object(&[
            ("cloud", Shape::Text),
            (
                "workloadIdentity",
                Shape::Object(&[
                    ("clientId", Shape::Text),
                    ("tenantId", Shape::Text),
                    ("tokenFile", Shape::Text),
                ]),
            ),
            (
                "managedIdentity",
                Shape::Object(&[("clientId", Shape::Text)]),
            ),
        ]),
    ),
]);
const FILE: Shape = Shape::Object(&[
    ("rules", Shape::List(&RULE)),
    ("externalRules", Shape::List(&RULE)),
    (
        "resourceRules",
        Shape::Object(&[
            ("cpu", RESOURCE_RULE),
            ("memory", RESOURCE_RULE),
            ("window", Shape::Text),
            ("backend", Shape::Text),
        ]),
    ),
    ("backends", Shape::Dict(&BACKEND)),
]);

/// Every place where `file` does not have the rules file's shape: `(location, message)`, sorted by place
/// (map order depends on serde_json's features; the answer must not).
pub fn check(file: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    walk(&FILE, file, "", &mut found);
    found.sort();
    found
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn walk(shape: &Shape, value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    let here = || {
        if at.is_empty() {
            "file".to_string()
        } else {
            at.to_string()
        }
    };
    match (shape, value) {
        (_, Value::Null) => {}
        (Shape::Text, Value::String(_) | Value::Number(_) | Value::Bool(_)) => {}
        (Shape::Bool, Value::Bool(_)) => {}
        (Shape::List(item), Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                walk(item, v, &format!("{}[{i}]", here()), found);
            }
        }
        (Shape::Dict(item), Value::Object(map)) => {
            for (key, v) in map {
                walk(item, v, &join(at, key), found);
            }
        }
        (Shape::Object(fields), Value::Object(map)) => {
            for (key, v) in map {
                match fields.iter().find(|(name, _)| name == key) {
                    Some((_, field)) => walk(field, v, &join(at, key), found),
                    None => {
                        let known: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
                        found.push((
                            join(at, key),
                            format!("unknown field (known here: {})", known.join(", ")),
                        ));
                    }
                }
            }
        }
        (expected, value) => {
            let want = match expected {
                Shape::Text => "a string",
                Shape::Bool => "true or false",
                Shape::List(_) => "a list",
                Shape::Dict(_) | Shape::Object(_) => "a map",
            };
            found.push((here(), format!("must be {want}, not {}", kind(value))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(yaml: &str) -> Vec<String> {
        let value: Value = serde_saphyr::from_str(yaml).unwrap();
        check(&value)
            .into_iter()
            .map(|(at, message)| format!("{at}: {message}"))
            .collect()
    }

    #[test]
    fn every_unknown_key_and_wrong_type_is_named_by_its_path() {
        assert_eq!(
            findings("rulez: []\nrules: {a: 1}\n"),
            [
                "rules: must be a list, not a map",
                "rulez: unknown field (known here: rules, externalRules, resourceRules, backends)",
            ]
        );
        assert_eq!(
            findings(
                "rules:\n- seriesQuery: x\n- nmae: {as: y}\n  resources: {overrides: {pod: {resource: pod, kind: Pod}}, namespaced: maybe}\n\
                 externalRules:\n- seriesFilters: [{is: a}, {isnt: b}]\n\
                 resourceRules: {cpu: {containerQuery: [1]}, window: 2m}\n"
            ),
            [
                "externalRules[0].seriesFilters[1].isnt: unknown field (known here: is, isNot)",
                "resourceRules.cpu.containerQuery: must be a string, not a list",
                "rules[1].nmae: unknown field (known here: seriesQuery, seriesFilters, resources, name, metricsQuery, backend, missingValue)",
                "rules[1].resources.namespaced: must be true or false, not a string",
                "rules[1].resources.overrides.pod.kind: unknown field (known here: group, resource)",
            ]
        );
    }

    #[test]
    fn well_formed_files_and_nulls_pass() {
        for file in [
            include_str!("../rules/default.yaml"),
            include_str!("../rules/default-modern.yaml"),
            include_str!("../rules/example.yaml"),
            include_str!("../rules/resource-metrics.yaml"),
            "rules: null\nexternalRules:\n- seriesQuery: x\n  name: null\n",
        ] {
            assert_eq!(findings(file), Vec::<String>::new());
        }
        assert_eq!(findings("[1, 2]"), ["file: must be a map, not a list"]);
    }
}
