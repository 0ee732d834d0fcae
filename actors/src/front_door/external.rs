//! `external.metrics.k8s.io`: values of metrics that describe no object.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::{Context, Handler, Message, ResponseFuture};
use adapter_config::{ResourceMap, Selector};

use super::{FlowError, Flows, FrontDoor, PREVIEW, Recorder, mailbox};
use crate::object_lister::CurrentResources;
use crate::prom::QueryResult;
use crate::prom_querier::InstantQuery;
use crate::rule_namer::BuildExternalQuery;

thread_local! {
    /// The standard Kubernetes resources, parsed once per thread.
    static STANDARD_RESOURCES: Arc<ResourceMap> = Arc::new(ResourceMap::standard());
}

/// One external-metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalValue {
    /// Metric name.
    pub metric: String,
    /// Every label of the sample (`None` for a scalar result).
    pub labels: Option<BTreeMap<String, String>>,
    /// Value.
    pub value: f64,
    /// Sample time, Unix seconds.
    pub timestamp: f64,
}
/// External metric values.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<ExternalValue>, FlowError>")]
pub struct GetExternalMetric {
    /// Request namespace.
    pub namespace: String,
    /// The metric.
    pub metric: String,
    /// `labelSelector` (series).
    pub selector: Selector,
}
impl Flows {
    pub(super) async fn external(
        &self,
        msg: GetExternalMetric,
        trace: &Recorder,
    ) -> Result<Vec<ExternalValue>, FlowError> {
        let snapshot = self.reader.load();
        let not_found = || FlowError::MetricNotFound {
            metric: msg.metric.clone(),
            resource: String::new(),
            name: None,
        };
        let source = snapshot
            .registry
            .external
            .get(&msg.metric)
            .cloned()
            .ok_or_else(not_found)?;
        trace.record(|t| t.rule = Some(source.kind.location(source.rule)));
        // External metrics name no object: Kubernetes being slow or down must not hold them up. Before
        // any discovery succeeded, the standard resources stand in (rules name `namespaces`).
        let map = self
            .peers
            .current_resources
            .send(CurrentResources)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| STANDARD_RESOURCES.with(Arc::clone));
        let build = BuildExternalQuery {
            generation: snapshot.generation,
            source,
            namespace: msg.namespace,
            selector: msg.selector,
            map,
            budget: self.options.budget,
        };
        let built = self
            .peers
            .external_query
            .send(build)
            .await
            .map_err(mailbox)?
            .map_err(FlowError::from)?;
        let time = self.clock.unix_seconds();
        let route = built.route;
        let promql = built.queries.first().cloned().unwrap_or_default();
        trace.record(|t| t.queries.push(promql.clone()));
        let answer = self
            .peers
            .query
            .send(InstantQuery {
                promql,
                time,
                route,
            })
            .await
            .map_err(mailbox)??;
        let metric = msg.metric;
        trace.record(|t| {
            if let QueryResult::Vector(samples) = &*answer {
                t.samples = samples.len();
                t.preview = samples.iter().take(PREVIEW).cloned().collect();
            }
        });
        match &*answer {
            // No sample at all: the rule's missingValue, one item at the evaluation time (a queue with
            // no series can then scale its workload to zero), else upstream's empty list.
            QueryResult::Vector(samples) if samples.is_empty() => Ok(built
                .missing_value
                .map(|value| ExternalValue {
                    metric,
                    labels: Some(BTreeMap::new()),
                    value: self.missing_value(value, trace),
                    timestamp: time,
                })
                .into_iter()
                .collect()),
            QueryResult::Vector(samples) => Ok(samples
                .iter()
                .filter(|s| s.value.is_finite())
                .map(|s| ExternalValue {
                    metric: metric.clone(),
                    labels: Some(s.labels.clone()),
                    value: s.value,
                    timestamp: s.timestamp,
                })
                .collect()),
            QueryResult::Scalar(value, timestamp) => Ok(value
                .is_finite()
                .then_some(ExternalValue {
                    metric,
                    labels: None,
                    value: *value,
                    timestamp: *timestamp,
                })
                .into_iter()
                .collect()),
            QueryResult::Unexpected(_) => Err(FlowError::QueryFailed(
                "encountered an unexpected query result type".into(),
            )),
        }
    }
}

impl Handler<GetExternalMetric> for FrontDoor {
    type Result = ResponseFuture<Result<Vec<ExternalValue>, FlowError>>;

    fn handle(&mut self, msg: GetExternalMetric, _: &mut Context<Self>) -> Self::Result {
        self.run(|flows| Box::pin(async move { flows.external(msg, &Recorder::default()).await }))
    }
}
