//! `custom.metrics.k8s.io`: values of objects' metrics, by name or by selector.

use std::collections::HashMap;
use std::time::Duration;

use actix::{Context, Handler, Message, ResponseFuture};
use adapter_config::{GroupResource, ResourceInfo, Selector};

use super::{FlowError, Flows, FrontDoor, Recorder, mailbox};
use crate::object_lister::{ResolveError, ResolveResource};
use crate::prom::Sample;
use crate::rule_namer::{BuildCustomQuery, BuildError};

/// The object a custom metric describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedObject {
    /// Kind from discovery (`Pod`).
    pub kind: String,
    /// `group/version` or `v1`.
    pub api_version: String,
    /// Namespace of namespaced objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

/// One custom-metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomValue {
    /// The object.
    pub object: DescribedObject,
    /// Metric name.
    pub metric: String,
    /// Value.
    pub value: f64,
    /// Sample time, Unix seconds.
    pub timestamp: f64,
    /// The query's range window, if it has one.
    pub window: Option<Duration>,
}
/// Custom metric values: objects by selector (`name: None`, `*` in the path) or one named object. The
/// Namespace-object path is `resource = namespaces`, `name = Some(ns)`, `namespace = None`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<CustomValue>, FlowError>")]
pub struct GetCustomMetric {
    /// `resource` or `resource.group`, plural or singular, as in the path.
    pub resource: GroupResource,
    /// Namespace of the objects; `None` for cluster-scoped ones.
    pub namespace: Option<String>,
    /// One object, or `None` for every object matching `selector`.
    pub name: Option<String>,
    /// The metric.
    pub metric: String,
    /// `labelSelector` (objects).
    pub selector: Selector,
    /// `metricLabelSelector` (series).
    pub metric_selector: Selector,
}
impl Flows {
    pub(super) async fn custom(
        &self,
        msg: GetCustomMetric,
        only: Option<Vec<String>>,
        trace: &Recorder,
    ) -> Result<Vec<CustomValue>, FlowError> {
        let not_found = |name: Option<String>| FlowError::MetricNotFound {
            metric: msg.metric.clone(),
            resource: msg.resource.to_string(),
            name,
        };
        let info: ResourceInfo = match self
            .peers
            .resolve
            .send(ResolveResource {
                resource: msg.resource.clone(),
            })
            .await
        {
            Ok(Ok(info)) => info,
            Ok(Err(ResolveError::Unknown(_))) => return Err(not_found(msg.name.clone())),
            Ok(Err(ResolveError::Kube(error))) => return Err(error.into()),
            Err(error) => return Err(mailbox(error)),
        };
        let resource = info.group_resource();
        let snapshot = self.reader.load();
        let source = snapshot
            .registry
            .custom(&resource, msg.namespace.is_some(), &msg.metric)
            .cloned()
            .ok_or_else(|| not_found(msg.name.clone()))?;
        trace.record(|t| t.rule = Some(source.kind.location(source.rule)));
        let names: Vec<String> = match (only, &msg.name) {
            (Some(names), _) => names,
            (None, Some(name)) => vec![name.clone()],
            (None, None) => self
                .list(
                    resource.clone(),
                    msg.namespace.clone(),
                    msg.selector.clone(),
                    false,
                )
                .await
                .map_err(|e| match e {
                    FlowError::Unavailable(m) => FlowError::ListFailed(m),
                    other => other,
                })?
                .into_iter()
                .map(|o| o.name)
                .collect(),
        };
        trace.record(|t| t.objects = Some(names.clone()));
        if names.is_empty() {
            return Err(not_found(None));
        }
        let map = self.map().await?;
        let build = BuildCustomQuery {
            generation: snapshot.generation,
            source,
            resource,
            namespace: msg.namespace.clone(),
            names: names.clone(),
            metric_selector: msg.metric_selector.clone(),
            map,
            budget: self.options.budget,
        };
        let built = match self.peers.custom_query.send(build).await.map_err(mailbox)? {
            Ok(built) => built,
            Err(
                error
                @ (BuildError::Query(_) | BuildError::StaleRule | BuildError::NoResourceRules),
            ) => {
                tracing::info!(metric = %msg.metric, %error, "custom query could not be built");
                return Err(not_found(msg.name.clone()));
            }
            Err(error @ BuildError::Route(_)) => return Err(error.into()),
        };
        let answers = self.samples(&built, trace).await?;
        // A later sample for the same object overwrites an earlier one, as upstream.
        let by_name: HashMap<&str, &Sample, foldhash::fast::RandomState> = answers
            .samples()
            .map(|s| {
                (
                    s.labels
                        .get(&built.object_label)
                        .map(String::as_str)
                        .unwrap_or(""),
                    s,
                )
            })
            .collect();
        let api_version = info.api_version();
        // The names move into the values (a 1,000-pod answer has 1,000).
        let values: Vec<CustomValue> = names
            .into_iter()
            .filter_map(|name| {
                let sample = by_name.get(name.as_str())?;
                // NaN and ±Inf have no quantity: the object is reported as having no value.
                sample.value.is_finite().then(|| CustomValue {
                    object: DescribedObject {
                        kind: info.kind.clone(),
                        api_version: api_version.clone(),
                        namespace: msg.namespace.clone(),
                        name,
                    },
                    metric: msg.metric.clone(),
                    value: sample.value,
                    timestamp: sample.timestamp,
                    window: built.window,
                })
            })
            .collect();
        if let (Some(name), true) = (&msg.name, values.is_empty()) {
            // One named object without a sample: the rule's missingValue (the HPA's Object metrics can
            // then scale to zero), else upstream's 404. A NaN sample is a sample: still a 404.
            return match built.missing_value {
                Some(value) if by_name.is_empty() => Ok(vec![CustomValue {
                    object: DescribedObject {
                        kind: info.kind.clone(),
                        api_version,
                        namespace: msg.namespace.clone(),
                        name: name.clone(),
                    },
                    metric: msg.metric.clone(),
                    value: self.missing_value(value, trace),
                    timestamp: answers.time,
                    window: built.window,
                }]),
                _ => Err(not_found(msg.name.clone())),
            };
        }
        Ok(values)
    }
}

impl Handler<GetCustomMetric> for FrontDoor {
    type Result = ResponseFuture<Result<Vec<CustomValue>, FlowError>>;

    fn handle(&mut self, msg: GetCustomMetric, _: &mut Context<Self>) -> Self::Result {
        self.run(|flows| {
            Box::pin(async move { flows.custom(msg, None, &Recorder::default()).await })
        })
    }
}
