//! The shapes of the metrics APIs, as serde structs in JSON key order; the same structs
//! encode to protobuf (`super::protobuf`). Times and windows keep their numbers and print as
//! Kubernetes prints them. Nothing here decides anything: values arrive as domain results and leave as
//! these.

use std::collections::BTreeMap;

use adapter_config::label_selector::Operator;
use adapter_config::quantity::{Format, Milli};
use adapter_config::{Selector, duration};
use serde::{Serialize, Serializer};

use crate::time::Rfc3339;

/// Empty `metadata: {}` of lists.
#[derive(Debug, Serialize, Default)]
pub struct ListMeta {}

/// `describedObject`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// Kind.
    pub kind: String,
    /// Namespace, omitted for root objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// `group/version`, or `/v1` for core objects in upstream-compatible mode.
    pub api_version: String,
}

/// A metav1.LabelSelector.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// `a=b` requirements.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Everything else.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Serialize)]
pub struct LabelSelectorRequirement {
    /// Key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: &'static str,
    /// Values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The label-selector form of a parsed selector; `None` (JSON `null`) when none was given.
pub fn label_selector(selector: &Selector) -> Option<LabelSelector> {
    if selector.is_empty() {
        return None;
    }
    let mut out = LabelSelector::default();
    for r in &selector.requirements {
        let expression = |operator| LabelSelectorRequirement {
            key: r.key.clone(),
            operator,
            values: r.values.clone(),
        };
        match r.operator {
            Operator::Equals | Operator::DoubleEquals if r.values.len() == 1 => {
                out.match_labels.insert(r.key.clone(), r.values[0].clone());
            }
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                out.match_expressions.push(expression("In"))
            }
            Operator::NotEquals | Operator::NotIn => {
                out.match_expressions.push(expression("NotIn"))
            }
            Operator::Exists => out.match_expressions.push(expression("Exists")),
            Operator::DoesNotExist => out.match_expressions.push(expression("DoesNotExist")),
            Operator::GreaterThan => out.match_expressions.push(expression("Gt")),
            Operator::LessThan => out.match_expressions.push(expression("Lt")),
        }
    }
    Some(out)
}

/// A quantity string; `None` for values with no quantity form (callers have filtered those).
pub fn quantity(value: f64, format: Format) -> String {
    Milli::from_f64(value)
        .map(|m| m.format(format))
        .unwrap_or_else(|_| "0".to_string())
}

/// `custom.metrics.k8s.io/v1beta1` `MetricValue`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricValueV1beta1 {
    /// The object.
    pub described_object: ObjectReference,
    /// Metric name.
    pub metric_name: String,
    /// Sample time.
    pub timestamp: Time,
    /// Window in seconds, when the query has one.
    #[serde(rename = "window", skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<u64>,
    /// Quantity.
    pub value: String,
    /// The metric selector (`null` when none was given).
    pub selector: Option<LabelSelector>,
}

/// `custom.metrics.k8s.io/v1beta2` `MetricValue`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricValueV1beta2 {
    /// The object.
    pub described_object: ObjectReference,
    /// Name and selector.
    pub metric: MetricIdentifier,
    /// Sample time.
    pub timestamp: Time,
    /// Window in seconds, when the query has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<u64>,
    /// Quantity.
    pub value: String,
}

/// v1beta2 `metric`.
#[derive(Debug, Serialize)]
pub struct MetricIdentifier {
    /// Metric name.
    pub name: String,
    /// The metric selector (`null` when none was given).
    pub selector: Option<LabelSelector>,
}

/// A list envelope: `kind`, `apiVersion`, `metadata: {}`, `items`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    /// Kind.
    pub kind: &'static str,
    /// API version.
    pub api_version: String,
    /// Always `{}`.
    pub metadata: ListMeta,
    /// Items.
    pub items: Vec<T>,
}

impl<T> List<T> {
    /// Builds a list.
    pub fn new(kind: &'static str, api_version: impl Into<String>, items: Vec<T>) -> Self {
        Self {
            kind,
            api_version: api_version.into(),
            metadata: ListMeta {},
            items,
        }
    }
}

/// `external.metrics.k8s.io/v1beta1` `ExternalMetricValue`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalMetricValue {
    /// Metric name.
    pub metric_name: String,
    /// Every label of the sample; `null` for a scalar.
    pub metric_labels: Option<BTreeMap<String, String>>,
    /// Sample time.
    pub timestamp: Time,
    /// Quantity.
    pub value: String,
}

/// Object metadata of PodMetrics / NodeMetrics.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Name.
    pub name: String,
    /// Namespace (pods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Now, as upstream.
    pub creation_timestamp: Time,
    /// The object's labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `cpu` and `memory` quantities.
#[derive(Debug, Serialize)]
pub struct Usage {
    /// CPU, DecimalSI.
    pub cpu: String,
    /// Memory, BinarySI.
    pub memory: String,
}

impl Usage {
    /// Formats cores and bytes.
    pub fn new(cpu: f64, memory: f64) -> Self {
        Self {
            cpu: quantity(cpu, Format::DecimalSI),
            memory: quantity(memory, Format::BinarySI),
        }
    }
}

/// One container of a PodMetrics.
#[derive(Debug, Serialize)]
pub struct ContainerMetrics {
    /// Container name.
    pub name: String,
    /// Usage.
    pub usage: Usage,
}

/// `metrics.k8s.io` PodMetrics.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetrics {
    /// `PodMetrics` on a single object; list items carry none, as upstream and metrics-server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// `metrics.k8s.io/v1beta1` or `/v1`, on a single object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Earliest sample time.
    pub timestamp: Time,
    /// Go duration.
    pub window: GoDuration,
    /// Containers.
    pub containers: Vec<ContainerMetrics>,
}

/// `metrics.k8s.io` NodeMetrics.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeMetrics {
    /// `NodeMetrics` on a single object; list items carry none, as upstream and metrics-server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// `metrics.k8s.io/v1beta1` or `/v1`, on a single object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Earliest sample time.
    pub timestamp: Time,
    /// Go duration.
    pub window: GoDuration,
    /// Usage.
    pub usage: Usage,
}

/// A `metav1.Time`: Unix seconds, printed RFC 3339 at second precision in JSON, seconds and nanoseconds in
/// protobuf.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Time(pub f64);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Rfc3339::new(self.0).as_str())
    }
}

/// A `metav1.Duration`: printed as Go prints it in JSON, nanoseconds in protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub std::time::Duration);

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&duration::format_go(self.0))
    }
}

/// Window.
pub fn window(window: std::time::Duration) -> GoDuration {
    GoDuration(window)
}

/// Timestamp.
pub fn timestamp(unix_seconds: f64) -> Time {
    Time(unix_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_render_as_label_selectors() {
        let json =
            |s: &str| serde_json::to_string(&label_selector(&Selector::parse(s).unwrap())).unwrap();
        assert_eq!(json(""), "null");
        assert_eq!(json("method=GET"), r#"{"matchLabels":{"method":"GET"}}"#);
        assert_eq!(
            json("a in (x,y),b!=z,c,!d"),
            r#"{"matchExpressions":[{"key":"a","operator":"In","values":["x","y"]},{"key":"b","operator":"NotIn","values":["z"]},{"key":"c","operator":"Exists"},{"key":"d","operator":"DoesNotExist"}]}"#
        );
    }
}
