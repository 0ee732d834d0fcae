//! `metrics.k8s.io`: CPU and memory of pods and nodes, merged from the cpu and memory queries' samples.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::{Context, Handler, Message, ResponseFuture};
use adapter_config::{GroupResource, ResourceMap, Selector};
use futures_util::StreamExt;

use super::{Answers, FlowError, Flows, FrontDoor, Recorder, mailbox};
use crate::objects::ObjectMeta;
use crate::rule_namer::{BuildResourceQuery, BuiltQueries, Usage};

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
impl Flows {
    /// cpu and memory for `names` (pods of `namespace`, or nodes), queried concurrently.
    async fn usage(
        &self,
        namespace: Option<String>,
        names: Vec<String>,
        map: Arc<ResourceMap>,
        trace: &Recorder,
    ) -> Result<(BuiltQueries, Answers, Answers), FlowError> {
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

    pub(super) async fn pods(
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

    pub(super) async fn nodes(
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
        let first = |answers: &Answers| {
            let mut by_node: HashMap<String, (f64, f64)> = HashMap::new();
            for s in answers.samples() {
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
    cpu: &Answers,
    memory: &Answers,
) -> Vec<PodMetrics> {
    let container_label = built.container_label.as_deref().unwrap_or("container");
    let mut usage: HashMap<&str, PodSamples> = HashMap::new();
    for (samples, is_cpu) in [(cpu, true), (memory, false)] {
        for s in samples.samples() {
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
