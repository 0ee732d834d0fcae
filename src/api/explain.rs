//! `GET /debug/explain`: what a running adapter makes of its rules, and of one request. Authorized like
//! `/metrics` (a non-resource URL the shipped RBAC grants to no one). With no question: every rule with
//! its last relist (series, named, dropped and why, last success, last error) and the disabled rules.
//! With `custom=`, `external=` or `resource=`: the same flow a request runs, traced — the rule, the
//! objects, the exact PromQL, Prometheus' answer summarised — and for an answer that would be a 404, the
//! step that found nothing and why. `text` is what the offline `explain` prints for the same question.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use adapter_actors::front_door::{
    Explain, Explained, FlowError, GetCustomMetric, GetExternalMetric, GetNodeMetrics,
    GetPodMetrics, Question,
};
use adapter_actors::registry::Snapshot;
use adapter_actors::rule_namer::{CurrentRules, Usage};
use adapter_config::GroupResource;
use adapter_config::explain::{RuleLine, closest, one_line, report};
use adapter_config::label_discovery::RelistMode;
use serde_json::{Value, json};

use super::State;
use super::status::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/debug/explain", web::get().to(explain));
}

/// The questions, as the offline command's flags.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Ask {
    custom: Option<String>,
    external: Option<String>,
    resource: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    names: String,
    #[serde(default)]
    metric_selector: String,
    #[serde(default)]
    label_selector: String,
}

async fn explain(
    state: web::Data<State>,
    query: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    // Unknown parameters are mistakes worth a 400 here, not silence.
    let ask: Ask = serde_json::from_value(json!(query.into_inner()))
        .map_err(|e| ApiError::BadRequest(format!("explain: {e}")))?;
    let snapshot = state.registry.load();
    let selector = super::params::parse_selector;
    let names: Vec<String> = ask
        .names
        .split(',')
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    // The named objects (one query for all, as the offline command builds it), or the selector's.
    let question = match (&ask.custom, &ask.external, &ask.resource) {
        (None, None, None) => return rules_report(&state, &snapshot).await,
        (Some(target), None, None) => {
            let (resource, metric) = target.split_once('/').ok_or_else(|| {
                ApiError::BadRequest(
                    "custom= takes RESOURCE/METRIC, e.g. pods/http_requests".into(),
                )
            })?;
            Question::Custom(GetCustomMetric {
                resource: GroupResource::parse(resource),
                namespace: ask.namespace.clone(),
                name: None,
                metric: metric.to_string(),
                selector: selector(&ask.label_selector, "labelSelector")?,
                metric_selector: selector(&ask.metric_selector, "metricSelector")?,
            })
        }
        (None, Some(metric), None) => {
            // External metrics select by labels: metricSelector is the request's labelSelector.
            let text = if ask.metric_selector.is_empty() {
                &ask.label_selector
            } else {
                &ask.metric_selector
            };
            Question::External(GetExternalMetric {
                namespace: ask.namespace.clone().unwrap_or_else(|| "default".into()),
                metric: metric.clone(),
                selector: selector(text, "metricSelector")?,
            })
        }
        (None, None, Some(usage)) if usage == "cpu" || usage == "memory" => {
            let label_selector = selector(&ask.label_selector, "labelSelector")?;
            match &ask.namespace {
                Some(namespace) => Question::Pods(GetPodMetrics {
                    namespace: Some(namespace.clone()),
                    name: None,
                    selector: label_selector,
                }),
                None => Question::Nodes(GetNodeMetrics {
                    name: None,
                    selector: label_selector,
                }),
            }
        }
        (None, None, Some(other)) => {
            return Err(ApiError::BadRequest(format!(
                "resource= takes cpu or memory, not {other:?}"
            )));
        }
        _ => {
            return Err(ApiError::BadRequest(
                "ask one of custom=, external= or resource=".into(),
            ));
        }
    };
    let explained = state
        .front_door
        .send(Explain {
            question: question.clone(),
            names,
        })
        .await?;
    // The text is the offline command's: for resource metrics, the asked usage's queries only.
    let asked = match ask.resource.as_deref() {
        Some("cpu") => Some(Usage::Cpu),
        Some("memory") => Some(Usage::Memory),
        _ => None,
    };
    let printed: Vec<&String> = match asked {
        Some(usage) => explained
            .trace
            .usage_queries
            .iter()
            .filter(|(u, _)| *u == usage)
            .map(|(_, q)| q)
            .collect(),
        None => explained.trace.queries.iter().collect(),
    };
    let mut text = String::new();
    for query in printed {
        text.push_str(&one_line(query));
        text.push('\n');
    }
    let entry = explanation(&snapshot, &question, &explained);
    if let Some(not_found) = entry.get("notFound") {
        text.push_str(&format!(
            "# not found at {}: {}\n",
            not_found["step"].as_str().unwrap_or_default(),
            not_found["why"].as_str().unwrap_or_default()
        ));
    }
    if let Some(missing) = entry.get("missingValue") {
        text.push_str(&format!(
            "# {}\n",
            missing["why"].as_str().unwrap_or_default()
        ));
    }
    Ok(HttpResponse::Ok().json(json!({
        "kind": "Explanation",
        "generation": snapshot.generation,
        "question": {
            "custom": ask.custom, "external": ask.external, "resource": ask.resource,
            "namespace": ask.namespace, "names": ask.names, "metricSelector": ask.metric_selector,
            "labelSelector": ask.label_selector,
        },
        "explanation": entry,
        "text": text,
    })))
}

/// One traced flow as JSON, with the step that found nothing when the answer would be a 404.
fn explanation(snapshot: &Snapshot, question: &Question, explained: &Explained) -> Value {
    let trace = &explained.trace;
    let preview: Vec<Value> = trace
        .preview
        .iter()
        .map(|s| json!({"labels": s.labels, "value": s.value, "timestamp": s.timestamp}))
        .collect();
    let (status, error) = match &explained.outcome {
        Ok(_) => (200, None),
        Err(error) => (status_of(error), Some(error.to_string())),
    };
    let mut out = json!({
        "rule": trace.rule,
        "objects": trace.objects,
        "queries": trace.queries,
        "prometheus": {"samples": trace.samples, "preview": preview},
        "values": explained.outcome.as_ref().ok(),
        "status": status,
        "error": error,
    });
    if let Some(not_found) = not_found(snapshot, question, explained) {
        out["notFound"] = not_found;
    }
    if let Some(value) = trace.missing_value {
        out["missingValue"] = json!({
            "value": value,
            "why": format!("no sample: answered {value} by rule {}", trace.rule.as_deref().unwrap_or("?")),
        });
    }
    out
}

/// The code the API answers `error` with: the same mapping the metric routes use.
fn status_of(error: &FlowError) -> u16 {
    use actix_web::ResponseError;
    ApiError::from(error.clone()).status_code().as_u16()
}

/// Which step found nothing, and why: discovery (with the closest names), objects, or series.
fn not_found(snapshot: &Snapshot, question: &Question, explained: &Explained) -> Option<Value> {
    let trace = &explained.trace;
    let empty = match &explained.outcome {
        Ok(0) => true,
        Err(error) => status_of(error) == 404,
        Ok(_) => false,
    };
    if !empty {
        return None;
    }
    let is_resource = matches!(question, Question::Pods(_) | Question::Nodes(_));
    if trace.rule.is_none() && !is_resource {
        let (metric, candidates): (&str, Vec<&str>) = match question {
            Question::Custom(q) => (
                &q.metric,
                snapshot
                    .registry
                    .custom
                    .keys()
                    .map(|m| m.metric.as_str())
                    .collect(),
            ),
            Question::External(q) => (
                &q.metric,
                snapshot
                    .registry
                    .external
                    .keys()
                    .map(String::as_str)
                    .collect(),
            ),
            _ => unreachable!("resource questions have no rule"),
        };
        let why = match question {
            Question::Custom(q) => format!(
                "no rule names a metric {metric} for {}{} in the last relist",
                q.resource,
                if q.namespace.is_some() {
                    " (namespaced)"
                } else {
                    " (cluster-scoped)"
                }
            ),
            _ => format!("no rule names an external metric {metric} in the last relist"),
        };
        return Some(json!({
            "step": "discovery",
            "why": why,
            "closest": closest(metric, candidates, 5),
        }));
    }
    if trace.objects.as_ref().is_some_and(Vec::is_empty) {
        return Some(json!({
            "step": "objects",
            "why": "no objects match the request (name or label selector) in the namespace",
        }));
    }
    if trace.samples == 0 {
        return Some(json!({
            "step": "series",
            "why": "Prometheus answered the queries with no series for these objects",
        }));
    }
    Some(json!({
        "step": "values",
        "why": "Prometheus answered, but no sample names a requested object (or only NaN/±Inf values)",
    }))
}

/// What a rule report's counts count: a relist by label values never sees series, only metric names.
fn counted(mode: RelistMode) -> &'static str {
    match mode {
        RelistMode::Labels => "metric names",
        _ => "series",
    }
}

/// Every rule with its last relist, the disabled rules, and the offline report's text.
async fn rules_report(state: &State, snapshot: &Snapshot) -> Result<HttpResponse, ApiError> {
    let generation = state.namer.send(CurrentRules).await?;
    let config = &generation.config;
    let seconds = |t: Option<std::time::SystemTime>| {
        t.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| crate::time::rfc3339(d.as_secs_f64()))
    };
    let rules: Vec<Value> = snapshot
        .rules
        .iter()
        .map(|r| {
            let dropped: BTreeMap<String, u64> = r
                .report
                .dropped
                .iter()
                .map(|(reason, n)| (reason.describe().to_string(), *n))
                .collect();
            json!({
                "rule": r.kind.location(r.index),
                "seriesQuery": r.series_query,
                "relistMode": r.relist_mode.as_str(),
                "counted": counted(r.relist_mode),
                "series": r.report.series,
                "named": r.report.named,
                "metrics": r.report.metrics,
                "dropped": dropped,
                "lastSuccess": seconds(r.last_success),
                "error": r.error,
            })
        })
        .collect();
    let disabled: Vec<Value> = snapshot
        .served
        .disabled
        .iter()
        .map(|(rule, why)| json!({"rule": rule, "why": why}))
        .collect();
    let lines: Vec<RuleLine<'_>> = snapshot
        .rules
        .iter()
        .map(|r| RuleLine {
            location: r.kind.location(r.index),
            series_query: &r.series_query,
            report: &r.report,
            counted: counted(r.relist_mode),
            error: r.error.as_deref(),
            backend: config
                .rule(r.kind, r.index)
                .and_then(|rule| rule.backend.as_deref()),
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "kind": "Explanation",
        "generation": snapshot.generation,
        "relistedAt": seconds(snapshot.relisted_at),
        "rules": rules,
        "disabled": disabled,
        "text": report(config, &snapshot.registry, &lines),
    })))
}
