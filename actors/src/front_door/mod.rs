//! **FrontDoor**: one message per API operation, each a flow over the other actors that ends in domain
//! results (objects, values, sample timestamps, windows) or a typed [`FlowError`]. The HTTP layer only
//! translates requests into these messages and the answers into wire JSON.
//!
//! Owns nothing but its peers and a registry reader. Every flow runs under `deadline`: no request waits
//! longer, whatever a backend or actor does. A restart loses nothing.
//!
//! This module holds the actor, its errors, the deadline and what every flow shares (the resource map,
//! object lists, queries, the explain trace); each API group's messages and flow are in their own module.

mod custom;
mod external;
mod resource;

pub use custom::{CustomValue, DescribedObject, GetCustomMetric};
pub use external::{ExternalValue, GetExternalMetric};
pub use resource::{GetNodeMetrics, GetPodMetrics, NodeMetrics, PodMetrics, ResourceUsage};

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, Recipient, ResponseFuture, Supervised};
use adapter_config::{GroupResource, ResourceMap, RouteError, Selector};
use futures_util::StreamExt;

use crate::object_lister::{CurrentResources, ListObjects, ResolveResource, Resources};
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
    /// A backend's credentials could not be had (503): `public` names the method, backend and step.
    #[error("{public}: {cause}")]
    BackendAuth {
        /// Method, backend and step: shown to API clients.
        public: String,
        /// What failed there: logged.
        cause: String,
    },
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
            PromError::Auth { public, cause } => FlowError::BackendAuth { public, cause },
            PromError::Unavailable(_)
            | PromError::Status(_)
            | PromError::Mailbox(_)
            | PromError::Timeout(_) => FlowError::Unavailable(error.to_string()),
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
    /// The rule's `missingValue`, when it was answered because there was no sample.
    pub missing_value: Option<f64>,
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
    stats: Arc<FlowStats>,
}

/// What the flows count, read by `/metrics` at scrape time.
#[derive(Debug, Default)]
pub struct FlowStats {
    /// Answers made of a rule's `missingValue` because Prometheus had no sample.
    pub missing_value_answers: std::sync::atomic::AtomicU64,
}

impl FrontDoor {
    /// A front door over `peers`, reading discovery from `reader`.
    pub fn new(
        peers: FlowPeers,
        reader: RegistryReader,
        clock: Clock,
        options: FlowOptions,
        stats: Arc<FlowStats>,
    ) -> Self {
        Self {
            flows: Rc::new(Flows {
                peers,
                reader,
                clock,
                options,
                stats,
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
    /// Answers `value` for want of a sample: counted, and marked in an explanation.
    fn missing_value(&self, value: f64, trace: &Recorder) -> f64 {
        self.stats
            .missing_value_answers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        trace.record(|t| t.missing_value = Some(value));
        value
    }

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
    async fn samples(&self, built: &BuiltQueries, trace: &Recorder) -> Result<Answers, FlowError> {
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
        let mut answers = Vec::with_capacity(results.len());
        for result in results {
            let answer = result?;
            match &*answer {
                QueryResult::Vector(vector) => trace.record(|t| {
                    t.samples += vector.len();
                    let room = PREVIEW.saturating_sub(t.preview.len());
                    t.preview.extend(vector.iter().take(room).cloned());
                }),
                QueryResult::Scalar(..) | QueryResult::Unexpected(_) => {
                    return Err(FlowError::QueryFailed(
                        "encountered an unexpected query result type".into(),
                    ));
                }
            }
            answers.push(answer);
        }
        Ok(Answers {
            vectors: answers,
            time,
        })
    }
}

/// The vectors a request's queries answered, shared with the value cache: their samples are read in
/// place, not copied (a 1,000-pod answer is 1,000 label maps). And the time they were evaluated at.
struct Answers {
    vectors: Vec<Arc<QueryResult>>,
    time: f64,
}

impl Answers {
    /// Every sample, query by query, in the order Prometheus answered.
    fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.vectors.iter().flat_map(|answer| match &**answer {
            QueryResult::Vector(vector) => vector.as_slice(),
            QueryResult::Scalar(..) | QueryResult::Unexpected(_) => &[],
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
