//! `<<` `>>` Go templates (metricsQuery, resource templates): compiling and rendering never panic.
use adapter_config::resource_labels::LabelTemplate;
use adapter_config::template::{Template, data, string_list, string_map};
use gotmpl::Value;

/// One input: panics on a finding.
pub fn check(text: &str) {
    let fields = [
        "Series",
        "LabelMatchers",
        "GroupBy",
        "LabelValuesByName",
        "GroupBySlice",
    ];
    if let Ok(template) = Template::compile(text, &fields) {
        let values = data([
            ("Series", Value::String("m".into())),
            ("LabelMatchers", Value::String("a=\"b\"".into())),
            ("GroupBy", Value::String("pod".into())),
            ("GroupBySlice", string_list(&["pod".to_string()])),
            (
                "LabelValuesByName",
                string_map(&[("pod".to_string(), "web-1".to_string())].into()),
            ),
        ]);
        let _ = template.render(&values);
    }
    let _ = LabelTemplate::compile(text);
}
