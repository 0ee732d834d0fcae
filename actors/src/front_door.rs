//! **FrontDoor**: one message per API operation, each a flow over the other actors that ends in domain
//! results (objects, values, sample timestamps, windows) or a typed [`FlowError`]. The HTTP layer only
//! translates requests into these messages and the answers into wire JSON.
//!
//! Owns nothing but its peers and a registry reader. Every flow runs under `deadline`: no request waits
//! longer, whatever a backend or actor does. A restart loses nothing.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, Recipient, ResponseFuture, Supervised};
use adapter_config::{GroupResource, ResourceInfo, ResourceMap, RouteError, Selector};
use futures_util::StreamExt;

use crate::object_lister::{
    CurrentResources, ListObjects, ResolveError, ResolveResource, Resources,
};
use crate::objects::{KubeError, ObjectMeta};
use crate::prom::{PromError, QueryResult, Sample};
use crate::prom_querier::InstantQuery;
use crate::registry::{RegistryReader, Snapshot};
use crate::rule_namer::{
    BuildCustomQuery, BuildError, BuildExternalQuery, BuildResourceQuery, BuiltQueries, Usage,
};
use crate::{Clock, Crash};

/// Why an operation has no answer; the HTTP layer maps each to a Status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// Unknown metric, no matching objects, or no value for a named object (404).
    #[error("the server could not find the metric {metric} for {resource}{}", name.as_ref().map(|n| format!(" {n}")).unwrap_or_default())]
    MetricNotFound {
        /// The metric.
        metric: String,
        /// The resource as requested (empty for external metrics).
        resource: String,
        /// The object, for single-object requests.
        name: Option<String>,
    },
    /// A named object (or its metrics) does not exist (404), e.g. `pods "web-1" not found`.
    #[error("{0} not found")]
    ObjectNotFound(String),
    /// The request cannot be served as asked (400).
    #[error("{0}")]
    BadRequest(String),
    /// Prometheus answered with an error, or something that is not a metric value (500).
    #[error("unable to fetch metrics: {0}")]
    QueryFailed(String),
    /// Kubernetes failed listing objects (500).
    #[error("unable to list matching resources: {0}")]
    ListFailed(String),
    /// A backend or actor is down (503).
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The flow did not finish within its deadline (503).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl From<BuildError> for FlowError {
    /// A tenant the request's namespace cannot make is the request's fault (400); a backend a reload
    /// removed is unavailable (503); anything else is a query that failed.
    fn from(error: BuildError) -> Self {
        match error {
            BuildError::Route(RouteError::InvalidTenant { .. }) => {
                FlowError::BadRequest(error.to_string())
            }
            BuildError::Route(RouteError::UnknownBackend(_)) => {
                FlowError::Unavailable(error.to_string())
            }
            other => FlowError::QueryFailed(other.to_string()),
        }
    }
}

impl From<PromError> for FlowError {
    fn from(error: PromError) -> Self {
        match error {
            PromError::Api { .. } => FlowError::QueryFailed(error.to_string()),
            PromError::Unavailable(_) | PromError::Mailbox(_) | PromError::Timeout(_) => {
                FlowError::Unavailable(error.to_string())
            }
        }
    }
}

impl From<KubeError> for FlowError {
    fn from(error: KubeError) -> Self {
        FlowError::Unavailable(error.to_string())
    }
}

fn mailbox(error: actix::MailboxError) -> FlowError {
    FlowError::Unavailable(format!("actor unavailable: {error}"))
}

thread_local! {
    /// The standard Kubernetes resources, parsed once per thread.
    static STANDARD_RESOURCES: Arc<ResourceMap> = Arc::new(ResourceMap::standard());
}

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

/// CPU (cores) and memory (bytes) of one container or node.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResourceUsage {
    /// CPU cores.
    pub cpu: f64,
    /// Memory bytes.
    pub memory: f64,
}

/// Resource usage of one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodMetrics {
    /// The pod.
    pub pod: ObjectMeta,
    /// Earliest sample time, Unix seconds.
    pub timestamp: f64,
    /// The configured window.
    pub window: Duration,
    /// Containers by name, sorted.
    pub containers: Vec<(String, ResourceUsage)>,
}

/// Resource usage of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMetrics {
    /// The node.
    pub node: ObjectMeta,
    /// Earliest sample time, Unix seconds.
    pub timestamp: f64,
    /// The configured window.
    pub window: Duration,
    /// Usage.
    pub usage: ResourceUsage,
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

/// Pod metrics: all namespaces or one, by selector, or one pod by name.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<PodMetrics>, FlowError>")]
pub struct GetPodMetrics {
    /// Namespace, or all.
    pub namespace: Option<String>,
    /// One pod, or all matching.
    pub name: Option<String>,
    /// `labelSelector`.
    pub selector: Selector,
}

/// Node metrics: all matching, or one by name.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<NodeMetrics>, FlowError>")]
pub struct GetNodeMetrics {
    /// One node, or all matching.
    pub name: Option<String>,
    /// `labelSelector`.
    pub selector: Selector,
}

/// What a flow did, step by step: for `/debug/explain`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// The rule that serves the metric (`rules[0]`), once discovery found it.
    pub rule: Option<String>,
    /// The objects the request covers, once listed or named.
    pub objects: Option<Vec<String>>,
    /// Every PromQL sent, in order.
    pub queries: Vec<String>,
    /// For resource metrics: which of them are cpu and which memory.
    pub usage_queries: Vec<(Usage, String)>,
    /// Samples Prometheus answered, over all queries.
    pub samples: usize,
    /// The first samples, as a summary of the answer.
    pub preview: Vec<Sample>,
}

/// How many samples a trace keeps.
const PREVIEW: usize = 10;

/// Records a flow's steps when explaining; does nothing for ordinary requests.
#[derive(Default)]
struct Recorder(Option<RefCell<Trace>>);

impl Recorder {
    fn on() -> Self {
        Self(Some(RefCell::default()))
    }

    fn record(&self, step: impl FnOnce(&mut Trace)) {
        if let Some(trace) = &self.0 {
            step(&mut trace.borrow_mut());
        }
    }

    fn finish(self) -> Trace {
        self.0.map(RefCell::into_inner).unwrap_or_default()
    }
}

/// A request to explain: the same flows, traced.
#[derive(Debug, Clone)]
pub enum Question {
    /// A custom metric.
    Custom(GetCustomMetric),
    /// An external metric.
    External(GetExternalMetric),
    /// Pods' resource metrics.
    Pods(GetPodMetrics),
    /// Nodes' resource metrics.
    Nodes(GetNodeMetrics),
}

/// Run a question's flow and say what each step did.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Explained")]
pub struct Explain {
    /// The request.
    pub question: Question,
    /// Objects to cover instead of the request's name or selector (`explain --names a,b`); empty: as
    /// the request says.
    pub names: Vec<String>,
}

/// The steps and the outcome: how many values the answer would have, or why there is none.
#[derive(Debug, Clone)]
pub struct Explained {
    /// What the flow did.
    pub trace: Trace,
    /// Values in the answer, or the error the API would answer with.
    pub outcome: Result<usize, FlowError>,
}

/// The current discovery snapshot.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Arc<Snapshot>")]
pub struct GetDiscovery;

/// Who the flows talk to.
pub struct FlowPeers {
    /// ObjectLister.
    pub resolve: Recipient<ResolveResource>,
    /// ObjectLister.
    pub list: Recipient<ListObjects>,
    /// ObjectLister.
    pub resources: Recipient<Resources>,
    /// ObjectLister, for flows that must not wait for Kubernetes.
    pub current_resources: Recipient<CurrentResources>,
    /// RuleNamer.
    pub custom_query: Recipient<BuildCustomQuery>,
    /// RuleNamer.
    pub external_query: Recipient<BuildExternalQuery>,
    /// RuleNamer.
    pub resource_query: Recipient<BuildResourceQuery>,
    /// PromQuerier.
    pub query: Recipient<InstantQuery>,
}

/// Limits of the flows.
#[derive(Debug, Clone, Copy)]
pub struct FlowOptions {
    /// Longest any flow may take.
    pub deadline: Duration,
    /// Largest query in bytes.
    pub budget: usize,
    /// Prometheus queries at once per request.
    pub parallelism: usize,
}

/// The front door actor.
pub struct FrontDoor {
    flows: Rc<Flows>,
}

struct Flows {
    peers: FlowPeers,
    reader: RegistryReader,
    clock: Clock,
    options: FlowOptions,
}

impl FrontDoor {
    /// A front door over `peers`, reading discovery from `reader`.
    pub fn new(
        peers: FlowPeers,
        reader: RegistryReader,
        clock: Clock,
        options: FlowOptions,
    ) -> Self {
        Self {
            flows: Rc::new(Flows {
                peers,
                reader,
                clock,
                options,
            }),
        }
    }

    fn run<T: 'static>(
        &self,
        flow: impl FnOnce(
            Rc<Flows>,
        )
            -> futures_util::future::LocalBoxFuture<'static, Result<T, FlowError>>,
    ) -> ResponseFuture<Result<T, FlowError>> {
        let deadline = self.flows.options.deadline;
        let fut = flow(self.flows.clone());
        Box::pin(async move {
            tokio::time::timeout(deadline, fut)
                .await
                .unwrap_or(Err(FlowError::Timeout(deadline)))
        })
    }
}

impl Actor for FrontDoor {
    type Context = Context<Self>;
}

impl Supervised for FrontDoor {}

impl Flows {
    async fn map(&self) -> Result<Arc<ResourceMap>, FlowError> {
        Ok(self
            .peers
            .resources
            .send(Resources)
            .await
            .map_err(mailbox)??)
    }

    async fn list(
        &self,
        resource: GroupResource,
        namespace: Option<String>,
        selector: Selector,
        running_only: bool,
    ) -> Result<Vec<ObjectMeta>, FlowError> {
        let msg = ListObjects {
            resource,
            namespace,
            selector,
            running_only,
        };
        Ok(self.peers.list.send(msg).await.map_err(mailbox)??)
    }

    /// Runs the queries (at most `parallelism` at once) and merges their samples.
    async fn samples(
        &self,
        built: &BuiltQueries,
        trace: &Recorder,
    ) -> Result<Vec<Sample>, FlowError> {
        trace.record(|t| t.queries.extend(built.queries.iter().cloned()));
        let time = self.clock.unix_seconds();
        let results: Vec<Result<Arc<QueryResult>, FlowError>> =
            futures_util::stream::iter(built.queries.clone())
                .map(|promql| async move {
                    let route = built.route.clone();
                    let answer = self
                        .peers
                        .query
                        .send(InstantQuery {
                            promql,
                            time,
                            route,
                        })
                        .await
                        .map_err(mailbox)?;
                    Ok(answer?)
                })
                .buffered(self.options.parallelism.max(1))
                .collect()
                .await;
        let mut samples = Vec::new();
        for result in results {
            match &*result? {
                QueryResult::Vector(vector) => {
                    trace.record(|t| {
                        t.samples += vector.len();
                        let room = PREVIEW.saturating_sub(t.preview.len());
                        t.preview.extend(vector.iter().take(room).cloned());
                    });
                    samples.extend(vector.iter().cloned())
                }
                QueryResult::Scalar(..) | QueryResult::Unexpected(_) => {
                    return Err(FlowError::QueryFailed(
                        "encountered an unexpected query result type".into(),
                    ));
                }
            }
        }
        Ok(samples)
    }

    async fn custom(
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
        let samples = self.samples(&built, trace).await?;
        // A later sample for the same object overwrites an earlier one, as upstream.
        let by_name: HashMap<&str, &Sample> = samples
            .iter()
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
        let values: Vec<CustomValue> = names
            .iter()
            .filter_map(|name| {
                let sample = by_name.get(name.as_str())?;
                // NaN and ±Inf have no quantity: the object is reported as having no value.
                sample.value.is_finite().then(|| CustomValue {
                    object: DescribedObject {
                        kind: info.kind.clone(),
                        api_version: info.api_version(),
                        namespace: msg.namespace.clone(),
                        name: name.clone(),
                    },
                    metric: msg.metric.clone(),
                    value: sample.value,
                    timestamp: sample.timestamp,
                    window: built.window,
                })
            })
            .collect();
        if msg.name.is_some() && values.is_empty() {
            return Err(not_found(msg.name.clone()));
        }
        Ok(values)
    }

    async fn external(
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
        let promql = built.queries.into_iter().next().unwrap_or_default();
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

    /// cpu and memory for `names` (pods of `namespace`, or nodes), queried concurrently.
    async fn usage(
        &self,
        namespace: Option<String>,
        names: Vec<String>,
        map: Arc<ResourceMap>,
        trace: &Recorder,
    ) -> Result<(BuiltQueries, Vec<Sample>, Vec<Sample>), FlowError> {
        let build = |usage| BuildResourceQuery {
            usage,
            namespace: namespace.clone(),
            names: names.clone(),
            map: map.clone(),
            budget: self.options.budget,
        };
        let (cpu, memory) = futures_util::future::join(
            self.peers.resource_query.send(build(Usage::Cpu)),
            self.peers.resource_query.send(build(Usage::Memory)),
        )
        .await;
        let cpu = cpu.map_err(mailbox)?.map_err(FlowError::from)?;
        let memory = memory.map_err(mailbox)?.map_err(FlowError::from)?;
        trace.record(|t| {
            for (usage, built) in [(Usage::Cpu, &cpu), (Usage::Memory, &memory)] {
                t.usage_queries
                    .extend(built.queries.iter().map(|q| (usage, q.clone())));
            }
        });
        let (cpu_samples, memory_samples) =
            futures_util::future::join(self.samples(&cpu, trace), self.samples(&memory, trace))
                .await;
        Ok((cpu, cpu_samples?, memory_samples?))
    }

    async fn pods(
        &self,
        msg: GetPodMetrics,
        only: Option<Vec<String>>,
        trace: &Recorder,
    ) -> Result<Vec<PodMetrics>, FlowError> {
        let mut pods = self
            .list(
                GroupResource::new("", "pods"),
                msg.namespace.clone(),
                msg.selector.clone(),
                true,
            )
            .await?;
        pods.retain(|p| msg.name.as_ref().is_none_or(|n| *n == p.name));
        if let Some(only) = &only {
            pods.retain(|p| only.contains(&p.name));
        }
        trace.record(|t| t.objects = Some(pods.iter().map(|p| p.name.clone()).collect()));
        if let (Some(name), true) = (&msg.name, pods.is_empty()) {
            return Err(FlowError::ObjectNotFound(format!("pods {name:?}")));
        }
        let mut by_namespace: BTreeMap<String, Vec<ObjectMeta>> = BTreeMap::new();
        for pod in pods {
            by_namespace
                .entry(pod.namespace.clone())
                .or_default()
                .push(pod);
        }
        let map = self.map().await?;
        let results: Vec<(Vec<ObjectMeta>, Result<_, FlowError>)> =
            futures_util::stream::iter(by_namespace)
                .map(|(namespace, pods)| {
                    let names = pods.iter().map(|p| p.name.clone()).collect();
                    let map = map.clone();
                    async move { (pods, self.usage(Some(namespace), names, map, trace).await) }
                })
                .buffered(self.options.parallelism.max(1))
                .collect()
                .await;
        let mut out = Vec::new();
        let mut last_error = None;
        for (pods, result) in results {
            match result {
                Ok((built, cpu, memory)) => out.extend(pod_usage(&built, pods, &cpu, &memory)),
                // A namespace whose queries fail is skipped, as upstream.
                Err(error) => {
                    tracing::warn!(%error, "pod metrics of a namespace could not be fetched");
                    last_error = Some(error);
                }
            }
        }
        if out.is_empty()
            && let Some(error) = last_error
        {
            return Err(error);
        }
        if let (Some(name), true) = (&msg.name, out.is_empty()) {
            let namespace = msg.namespace.unwrap_or_default();
            return Err(FlowError::ObjectNotFound(format!(
                "podmetrics.metrics.k8s.io \"{namespace}/{name}\""
            )));
        }
        Ok(out)
    }

    async fn nodes(
        &self,
        msg: GetNodeMetrics,
        only: Option<Vec<String>>,
        trace: &Recorder,
    ) -> Result<Vec<NodeMetrics>, FlowError> {
        let mut nodes = self
            .list(
                GroupResource::new("", "nodes"),
                None,
                msg.selector.clone(),
                false,
            )
            .await?;
        nodes.retain(|n| msg.name.as_ref().is_none_or(|name| *name == n.name));
        if let Some(only) = &only {
            nodes.retain(|n| only.contains(&n.name));
        }
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        trace.record(|t| t.objects = Some(nodes.iter().map(|n| n.name.clone()).collect()));
        let not_found =
            |name: &str| FlowError::ObjectNotFound(format!("nodemetrics.metrics.k8s.io {name:?}"));
        if nodes.is_empty() {
            return match &msg.name {
                Some(name) => Err(not_found(name)),
                None => Ok(Vec::new()),
            };
        }
        let map = self.map().await?;
        let names = nodes.iter().map(|n| n.name.clone()).collect();
        let (built, cpu, memory) = self.usage(None, names, map, trace).await?;
        let window = built.window.unwrap_or_default();
        let first = |samples: &[Sample]| {
            let mut by_node: HashMap<String, (f64, f64)> = HashMap::new();
            for s in samples {
                let node = s
                    .labels
                    .get(&built.object_label)
                    .cloned()
                    .unwrap_or_default();
                by_node
                    .entry(node)
                    .or_insert((sanitize(s.value), s.timestamp));
            }
            by_node
        };
        let (cpu, memory) = (first(&cpu), first(&memory));
        let out: Vec<NodeMetrics> = nodes
            .into_iter()
            .filter_map(|node| {
                let (c, ct) = *cpu.get(&node.name)?;
                let (m, mt) = *memory.get(&node.name)?;
                Some(NodeMetrics {
                    node,
                    timestamp: ct.min(mt),
                    window,
                    usage: ResourceUsage { cpu: c, memory: m },
                })
            })
            .collect();
        if let (Some(name), true) = (&msg.name, out.is_empty()) {
            return Err(not_found(name));
        }
        Ok(out)
    }
}

/// NaN and negative usage have no meaning: they count as 0, as upstream.
fn sanitize(value: f64) -> f64 {
    if value.is_nan() || value < 0.0 {
        0.0
    } else {
        value
    }
}

/// What the samples say about one pod.
struct PodSamples {
    containers: BTreeMap<String, ResourceUsage>,
    earliest: f64,
    has_cpu: bool,
    has_memory: bool,
}

impl Default for PodSamples {
    fn default() -> Self {
        Self {
            containers: BTreeMap::new(),
            earliest: f64::INFINITY,
            has_cpu: false,
            has_memory: false,
        }
    }
}

/// Per pod: containers from the container label; a pod needs ≥ 1 cpu and ≥ 1 memory sample; a container
/// missing one gets 0 for it; the timestamp is the earliest sample's.
fn pod_usage(
    built: &BuiltQueries,
    pods: Vec<ObjectMeta>,
    cpu: &[Sample],
    memory: &[Sample],
) -> Vec<PodMetrics> {
    let container_label = built.container_label.as_deref().unwrap_or("container");
    let mut usage: HashMap<&str, PodSamples> = HashMap::new();
    for (samples, is_cpu) in [(cpu, true), (memory, false)] {
        for s in samples {
            let Some(pod) = s.labels.get(&built.object_label) else {
                continue;
            };
            let container = s.labels.get(container_label).cloned().unwrap_or_default();
            let entry = usage.entry(pod.as_str()).or_default();
            let slot = entry.containers.entry(container).or_default();
            if is_cpu {
                slot.cpu = sanitize(s.value);
                entry.has_cpu = true;
            } else {
                slot.memory = sanitize(s.value);
                entry.has_memory = true;
            }
            entry.earliest = entry.earliest.min(s.timestamp);
        }
    }
    let window = built.window.unwrap_or_default();
    let mut out: Vec<PodMetrics> = pods
        .into_iter()
        .filter_map(|pod| {
            let samples = usage.get(pod.name.as_str())?;
            (samples.has_cpu && samples.has_memory).then(|| PodMetrics {
                containers: samples
                    .containers
                    .iter()
                    .map(|(n, u)| (n.clone(), *u))
                    .collect(),
                timestamp: samples.earliest,
                window,
                pod,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.pod.namespace, &a.pod.name).cmp(&(&b.pod.namespace, &b.pod.name)));
    out
}

impl Handler<GetCustomMetric> for FrontDoor {
    type Result = ResponseFuture<Result<Vec<CustomValue>, FlowError>>;

    fn handle(&mut self, msg: GetCustomMetric, _: &mut Context<Self>) -> Self::Result {
        self.run(|flows| {
            Box::pin(async move { flows.custom(msg, None, &Recorder::default()).await })
        })
    }
}

impl Handler<GetExternalMetric> for FrontDoor {
    type Result = ResponseFuture<Result<Vec<ExternalValue>, FlowError>>;

    fn handle(&mut self, msg: GetExternalMetric, _: &mut Context<Self>) -> Self::Result {
        self.run(|flows| Box::pin(async move { flows.external(msg, &Recorder::default()).await }))
    }
}

impl Handler<GetPodMetrics> for FrontDoor {
    type Result = ResponseFuture<Result<Vec<PodMetrics>, FlowError>>;

    fn handle(&mut self, msg: GetPodMetrics, _: &mut Context<Self>) -> Self::Result {
        self.run(|flows| Box::pin(async move { flows.pods(msg, None, &Recorder::default()).await }))
    }
}

impl Handler<GetNodeMetrics> for FrontDoor {
    type Result = ResponseFuture<Result<Vec<NodeMetrics>, FlowError>>;

    fn handle(&mut self, msg: GetNodeMetrics, _: &mut Context<Self>) -> Self::Result {
        self.run(|flows| {
            Box::pin(async move { flows.nodes(msg, None, &Recorder::default()).await })
        })
    }
}

impl Handler<Explain> for FrontDoor {
    type Result = ResponseFuture<Explained>;

    fn handle(&mut self, msg: Explain, _: &mut Context<Self>) -> Self::Result {
        let (flows, deadline) = (self.flows.clone(), self.flows.options.deadline);
        Box::pin(async move {
            let trace = Recorder::on();
            let only = (!msg.names.is_empty()).then_some(msg.names);
            let flow = async {
                match msg.question {
                    Question::Custom(q) => flows.custom(q, only, &trace).await.map(|v| v.len()),
                    Question::External(q) => flows.external(q, &trace).await.map(|v| v.len()),
                    Question::Pods(q) => flows.pods(q, only, &trace).await.map(|v| v.len()),
                    Question::Nodes(q) => flows.nodes(q, only, &trace).await.map(|v| v.len()),
                }
            };
            let outcome = tokio::time::timeout(deadline, flow)
                .await
                .unwrap_or(Err(FlowError::Timeout(deadline)));
            Explained {
                trace: trace.finish(),
                outcome,
            }
        })
    }
}

impl Handler<GetDiscovery> for FrontDoor {
    type Result = Arc<Snapshot>;

    fn handle(&mut self, _: GetDiscovery, _: &mut Context<Self>) -> Arc<Snapshot> {
        self.flows.reader.load()
    }
}

impl Handler<Crash> for FrontDoor {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        actix::ActorContext::stop(ctx);
    }
}
