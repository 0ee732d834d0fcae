use super::*;

/// The shipped rule files, by name.
pub(crate) const SHIPPED: [(&str, &str); 4] = [
    ("default.yaml", include_str!("../../rules/default.yaml")),
    (
        "default-modern.yaml",
        include_str!("../../rules/default-modern.yaml"),
    ),
    (
        "resource-metrics.yaml",
        include_str!("../../rules/resource-metrics.yaml"),
    ),
    ("example.yaml", include_str!("../../rules/example.yaml")),
];

/// Every finding of `text`: a failed load's errors and warnings, or a loaded config's warnings.
fn errors(text: &str) -> Vec<(String, String)> {
    match load("c.yaml", text) {
        Ok(config) => config
            .warnings
            .into_iter()
            .map(|w| (w.location, w.message))
            .collect(),
        Err(e) => e.0.into_iter().map(|e| (e.location, e.message)).collect(),
    }
}

/// The severity of the finding at `location` in `text`.
fn severity(text: &str, location: &str) -> crate::Severity {
    let all = match load("c.yaml", text) {
        Ok(config) => config.warnings,
        Err(e) => e.0,
    };
    all.into_iter()
        .find(|f| f.location == location)
        .unwrap_or_else(|| panic!("no finding at {location} for\n{text}"))
        .severity
}

fn rule(extra: &str) -> String {
    format!(
        "rules:\n- seriesQuery: 'm{{namespace!=\"\"}}'\n  metricsQuery: 'sum(<<.Series>>{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)'\n{extra}"
    )
}

#[test]
fn every_shipped_rule_file_loads_and_resolves_its_resources() {
    let map = ResourceMap::standard();
    for (name, text) in SHIPPED {
        let config = load(name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(config.check_resources(&map), vec![], "{name}");
    }
    let default = load("default.yaml", SHIPPED[0].1).unwrap();
    assert_eq!((default.rules.len(), default.external_rules.len()), (6, 0));
    assert_eq!(
        default.resource_rules.unwrap().window,
        Duration::from_secs(300)
    );
    let example = load("example.yaml", SHIPPED[3].1).unwrap();
    assert_eq!(example.external_rules.len(), 2);
    assert!(!example.external_rules[1].namespaced);
    assert!(
        example.external_rules[0].namespaced,
        "namespaced defaults to true"
    );
}

#[test]
fn empty_and_null_files_load_as_empty_configs() {
    for text in ["", "\n", "rules:\n", "rules: []\nexternalRules: null\n"] {
        let config = load("c.yaml", text).unwrap();
        assert!(
            config.rules.is_empty()
                && config.external_rules.is_empty()
                && config.resource_rules.is_none()
        );
    }
    // resourceRules without queries: upstream starts and fails every request; ours disables them.
    let config = load("c.yaml", "resourceRules:\n  cpu: null\n").unwrap();
    assert!(config.resource_rules.is_none());
    assert_eq!(config.disabled, ["resourceRules"]);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.location == "resourceRules.cpu.containerQuery"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn unknown_and_duplicate_keys_are_rejected_with_their_line() {
    let unknown = load("c.yaml", "rules:\n- seriesQuery: m\n  metricQuery: x\n")
        .unwrap_err()
        .to_string();
    assert!(
        unknown
            .starts_with("c.yaml: rules[0].metricQuery: unknown field (known here: seriesQuery,"),
        "named by rule and field: {unknown}"
    );
    // Every shape problem at once: an unknown top-level key and rules given as a map.
    let both = load("c.yaml", "rulez: []\nrules: {seriesQuery: m}\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        both,
        "c.yaml: rules: must be a list, not a map\n\
         c.yaml: rulez: unknown field (known here: rules, externalRules, resourceRules, backends)"
    );
    let duplicate = load("c.yaml", "rules: []\nrules: []\n")
        .unwrap_err()
        .to_string();
    assert!(
        duplicate.to_lowercase().contains("duplicate"),
        "{duplicate}"
    );
    assert!(load("c.yaml", "rule: []\n").is_err());
    assert!(load("c.yaml", "rules:\n- name: {matches: a, as: b, extra: c}\n").is_err());
}

#[test]
fn rule_errors_name_the_rule_and_field() {
    let cases: Vec<(String, &str, &str)> = vec![
        ("rules:\n- metricsQuery: x\n".into(), "rules[0].seriesQuery", "must not be empty"),
        ("rules:\n- seriesQuery: 'm'\n".into(), "rules[0].metricsQuery", "must not be empty"),
        ("rules:\n- seriesQuery: '{a=\"\"}'\n  metricsQuery: x\n".into(), "rules[0].seriesQuery", "non-empty matcher"),
        (rule("  seriesFilters: [{is: a, isNot: b}]\n"), "rules[0].seriesFilters[0]", "exactly one of is and isNot"),
        (rule("  seriesFilters: [{}]\n"), "rules[0].seriesFilters[0]", "exactly one of is and isNot"),
        (rule("  seriesFilters: [{is: '('}]\n"), "rules[0].seriesFilters[0]", "invalid regex"),
        (rule("  name: {matches: '(a)(b)'}\n"), "rules[0].name.as", "must specify an 'as' value"),
        (rule("  name: {matches: '(?P<x>a)(?P<y>b)'}\n"), "rules[0].name.as", "must specify an 'as' value"),
        (rule("  name: {matches: '['}\n"), "rules[0].name.matches", "invalid regex"),
        (rule("  resources: {template: '<<.Group>>'}\n"), "rules[0].resources.template", "<<.Resource>>"),
        (rule("  resources: {template: '<<.Kind>>'}\n"), "rules[0].resources.template", "unknown field .Kind"),
        (rule("  resources: {overrides: {pod: {group: apps}}}\n"), "rules[0].resources.overrides.pod.resource", "must not be empty"),
        (
            "rules:\n- seriesQuery: m\n  metricsQuery: '<<.LabelMatchersByName>>'\n".into(),
            "rules[0].metricsQuery",
            "unknown field .LabelMatchersByName",
        ),
        ("rules:\n- seriesQuery: m\n  metricsQuery: '<<if .Series>>x'\n".into(), "rules[0].metricsQuery", "without <<end>>"),
        ("rules:\n- seriesQuery: m\n  metricsQuery: 'x<<end>>'\n".into(), "rules[0].metricsQuery", "<<end>> without"),
        ("rules:\n- seriesQuery: m\n  metricsQuery: '<<.Series | >>'\n".into(), "rules[0].metricsQuery", "does not parse"),
        ("rules:\n- seriesQuery: m\n  metricsQuery: '<<nope .Series>>'\n".into(), "rules[0].metricsQuery", "\"nope\" not defined"),
        ("externalRules:\n- seriesQuery: m\n".into(), "externalRules[0].metricsQuery", "must not be empty"),
        (
            "resourceRules:\n  cpu: {nodeQuery: x, containerLabel: c}\n  memory: {containerQuery: x, nodeQuery: x, containerLabel: c}\n".into(),
            "resourceRules.cpu.containerQuery",
            "must not be empty",
        ),
        (
            "resourceRules:\n  cpu: {containerQuery: x, nodeQuery: x}\n  memory: {containerQuery: x, nodeQuery: x, containerLabel: c}\n".into(),
            "resourceRules.cpu.containerLabel",
            "container names",
        ),
        (
            "resourceRules:\n  cpu: {containerQuery: x, nodeQuery: x, containerLabel: c}\n  memory: {containerQuery: x, nodeQuery: x, containerLabel: c}\n  window: 5 minutes\n".into(),
            "resourceRules.window",
            "invalid duration",
        ),
    ];
    for (text, location, message) in cases {
        let found = errors(&text);
        assert!(
            found
                .iter()
                .any(|(l, m)| l == location && m.contains(message)),
            "expected {location}: …{message}… in {found:?} for\n{text}"
        );
    }
}

#[test]
fn all_errors_are_collected_not_just_the_first() {
    let text = "rules:\n- seriesQuery: ''\n  metricsQuery: ''\n- seriesQuery: m\n  metricsQuery: '<<.Nope>>'\n\
                externalRules:\n- seriesQuery: m\n  metricsQuery: x\n  name: {matches: '(a)(b)'}\n";
    let locations: Vec<String> = errors(text).into_iter().map(|(l, _)| l).collect();
    // The error first (upstream refuses to start with it), then the warnings.
    assert_eq!(
        locations,
        [
            "externalRules[0].name.as",
            "rules[0].seriesQuery",
            "rules[0].metricsQuery",
            "rules[1].metricsQuery",
        ]
    );
    let error = load("c.yaml", text).unwrap_err().to_string();
    assert!(
        error.contains(
            "c.yaml: rules[1].metricsQuery: warning: template references unknown field .Nope"
        ),
        "{error}"
    );
}

#[test]
fn what_upstream_starts_with_is_a_warning_that_disables_only_its_rule() {
    use crate::Severity::{Error, Warning};
    for (text, location, expected) in [
        (
            "rules:\n- metricsQuery: x\n",
            "rules[0].seriesQuery",
            Warning,
        ),
        (
            "rules:\n- seriesQuery: m\n",
            "rules[0].metricsQuery",
            Warning,
        ),
        (
            "rules:\n- seriesQuery: m\n  metricsQuery: '<<.LabelMatchersByName>>'\n",
            "rules[0].metricsQuery",
            Warning,
        ),
        (
            "rules:\n- seriesQuery: m\n  metricsQuery: '<<if .Series>>x'\n",
            "rules[0].metricsQuery",
            Error,
        ),
        (
            "rules:\n- seriesQuery: m\n  metricsQuery: '<<nope .Series>>'\n",
            "rules[0].metricsQuery",
            Error,
        ),
        (
            "rules:\n- seriesQuery: m\n  metricsQuery: x\n  name: {matches: '(a)(b)'}\n",
            "rules[0].name.as",
            Error,
        ),
        (
            "rules:\n- seriesQuery: m\n  metricsQuery: x\n  seriesFilters: [{is: '('}]\n",
            "rules[0].seriesFilters[0]",
            Error,
        ),
    ] {
        assert_eq!(severity(text, location), expected, "{location} in\n{text}");
    }
    // The published GPU example: a rule without metricsQuery beside working ones.
    let text = format!(
        "{}- seriesQuery: 'DCGM_FI_DEV_GPU_UTIL{{namespace!=\"\"}}'\n  resources: {{template: '<<.Resource>>'}}\n",
        rule("")
    );
    let config = load("c.yaml", &text).unwrap();
    assert_eq!(config.disabled, ["rules[1]"]);
    assert_eq!(
        config.rules.iter().map(|r| r.index).collect::<Vec<_>>(),
        [0],
        "rules[0] is served"
    );
    assert!(config.rule(crate::RuleKind::Custom, 0).is_some());
    assert!(config.rule(crate::RuleKind::Custom, 1).is_none());
    assert_eq!(config.warnings_for("rules[1]").count(), 1);
    assert_eq!(config.warnings_for("rules[0]").count(), 0);
}

#[test]
fn default_name_expansion_follows_capture_groups() {
    let config = load(
        "c.yaml",
        &format!("{}{}", rule("  name: {matches: '^(.*)_total$'}\n"), ""),
    )
    .unwrap();
    assert_eq!(
        config.rules[0].name.metric_name("a_total").as_deref(),
        Ok("a")
    );
    let config = load("c.yaml", &rule("  name: {matches: '_total$'}\n")).unwrap();
    assert_eq!(
        config.rules[0].name.metric_name("a_total").as_deref(),
        Ok("_total")
    );
    let config = load("c.yaml", &rule("")).unwrap();
    assert_eq!(
        config.rules[0].name.metric_name("a_total").as_deref(),
        Ok("a_total")
    );
}

#[test]
fn unknown_override_resources_are_reported_against_the_map() {
    let config = load(
        "c.yaml",
        &rule("  resources: {overrides: {widget: {group: example.com, resource: widgets}}}\n"),
    )
    .unwrap();
    let errors = config.check_resources(&ResourceMap::standard());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].location, "rules[0].resources.overrides.widget");
    assert!(
        errors[0]
            .message
            .contains("unable to normalize group-resource widgets.example.com"),
        "{}",
        errors[0]
    );
    let with_crd = ResourceMap::new(vec![crate::ResourceInfo {
        group: "example.com".into(),
        version: "v1".into(),
        resource: "widgets".into(),
        singular: "widget".into(),
        kind: "Widget".into(),
        namespaced: false,
    }]);
    assert_eq!(config.check_resources(&with_crd), vec![]);
}

#[test]
fn resource_rules_without_required_labels_are_reported() {
    let text = "resourceRules:\n  cpu: {containerQuery: x, nodeQuery: x, containerLabel: c, resources: {overrides: {pod: {resource: pod}}}}\n  \
                memory: {containerQuery: x, nodeQuery: x, containerLabel: c, resources: {template: '<<.Resource>>'}}\n";
    let config = load("c.yaml", text).unwrap();
    let errors = config.check_resources(&ResourceMap::standard());
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains("resourceRules.cpu.resources")
            && messages[0].contains("resource namespaces")
    );
    assert!(messages[1].contains("resource nodes"));
}

#[test]
fn a_missing_value_is_a_quantity_written_as_text_or_number() {
    let load_one = |value: &str| {
        load(
            "c.yaml",
            &format!(
                "externalRules:\n- seriesQuery: 'queue_depth'\n  metricsQuery: 'sum(<<.Series>>)'\n  missingValue: {value}\n"
            ),
        )
    };
    for (written, want) in [
        ("'0'", 0.0),
        ("0", 0.0),
        ("2.5", 2.5),
        ("'250m'", 0.25),
        ("1Ki", 1024.0),
    ] {
        let config = load_one(written).unwrap_or_else(|e| panic!("{written}: {e:?}"));
        assert_eq!(
            config.external_rules[0].missing_value,
            Some(want),
            "{written}"
        );
    }
    let absent = load(
        "c.yaml",
        "externalRules:\n- seriesQuery: 'q'\n  metricsQuery: 'x'\n",
    )
    .unwrap();
    assert_eq!(
        absent.external_rules[0].missing_value, None,
        "off by default"
    );
    assert_eq!(
        errors("rules:\n- seriesQuery: 'up'\n  metricsQuery: 'x'\n  missingValue: zero\n"),
        [(
            "rules[0].missingValue".to_string(),
            "\"zero\" is not a quantity (e.g. 0, 1.5, 250m, 2k, 1Ki)".to_string()
        )]
    );
}
