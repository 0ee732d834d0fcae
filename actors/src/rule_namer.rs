//! **RuleNamer**: the compiled rules, one generation at a time.
//!
//! Owns the current [`Generation`]. Answers [`CurrentRules`], [`NameSeries`] (series → metrics),
//! [`BuildCustomQuery`], [`BuildExternalQuery`], [`BuildResourceQuery`] (request → PromQL), and [`Reload`],
//! which swaps the generation only if the new text compiles. Sends nothing; no timers. A restart keeps the
//! current generation. All the logic is `adapter_config`'s; this actor only holds the generation.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, Supervised};
use adapter_config::discovery::{MetricSource, RuleOutcome, name_rule};
use adapter_config::query::{self, CustomRequest, ResourceTarget};
use adapter_config::{
    Config, ConfigErrors, GroupResource, ResourceMap, Route, RouteError, RuleKind, Selector,
    SeriesSet, rules,
};

use crate::Crash;

/// A compiled config and its number; numbers only grow.
#[derive(Debug)]
pub struct Generation {
    /// 1 for the config the adapter started with, +1 per successful reload.
    pub number: u64,
    /// The rules.
    pub config: Config,
}

impl Generation {
    /// The rule a source names, if this generation has it.
    pub fn rule(&self, kind: RuleKind, index: usize) -> Option<&adapter_config::DiscoveryRule> {
        self.config.rule(kind, index)
    }
}

/// The current generation.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Arc<Generation>")]
pub struct CurrentRules;

/// Replace the rules with `text`, if it compiles; answers the new generation number or every error.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<u64, ConfigErrors>")]
pub struct Reload {
    /// The file name, for messages.
    pub file: String,
    /// Its text.
    pub text: String,
    /// Refuse warnings too (`--strict-config`).
    pub strict: bool,
}

/// Name one rule's series.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<RuleOutcome>")]
pub struct NameSeries {
    /// The generation the rule belongs to (`None` answer when it is no longer current).
    pub generation: u64,
    /// Which list.
    pub kind: RuleKind,
    /// Which rule.
    pub index: usize,
    /// Its series.
    pub series: Arc<SeriesSet>,
    /// Resources known now.
    pub map: Arc<ResourceMap>,
}

/// Queries built for a request, with what is needed to read their results.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltQueries {
    /// The PromQL, one or more (results merged).
    pub queries: Vec<String>,
    /// The label holding object names in results (custom: the resource label; resource: pod or node).
    pub object_label: String,
    /// The label holding container names (resource metrics of pods).
    pub container_label: Option<String>,
    /// The window of the query's range selector, if any.
    pub window: Option<Duration>,
    /// The backend (and tenant) the rule's queries go to.
    pub route: Route,
    /// The rule's `missingValue`: what to answer when there is no sample (one named object, or an
    /// external metric's whole answer).
    pub missing_value: Option<f64>,
}

/// Why a query could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The metric's rule is not in the current generation (a reload happened in between).
    #[error("the rule behind this metric is gone")]
    StaleRule,
    /// The config has no resource rules.
    #[error("no resourceRules are configured")]
    NoResourceRules,
    /// The core refused.
    #[error(transparent)]
    Query(#[from] query::Error),
    /// No backend or tenant for the request (a tenant rendered from the namespace is not a valid header).
    #[error(transparent)]
    Route(#[from] RouteError),
}

/// Build the queries for a custom-metrics request.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<BuiltQueries, BuildError>")]
pub struct BuildCustomQuery {
    /// The generation the source was discovered with (the snapshot's): a request that started before a
    /// reload finishes on the rules it started with.
    pub generation: u64,
    /// The discovered source of the metric.
    pub source: MetricSource,
    /// Canonical resource.
    pub resource: GroupResource,
    /// Namespace of namespaced objects.
    pub namespace: Option<String>,
    /// Object names.
    pub names: Vec<String>,
    /// `metricLabelSelector`.
    pub metric_selector: Selector,
    /// Resources known now.
    pub map: Arc<ResourceMap>,
    /// Byte budget per query.
    pub budget: usize,
}

/// Build the query for an external-metrics request.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<BuiltQueries, BuildError>")]
pub struct BuildExternalQuery {
    /// The generation the source was discovered with (the snapshot's).
    pub generation: u64,
    /// The discovered source of the metric.
    pub source: MetricSource,
    /// Request namespace.
    pub namespace: String,
    /// `labelSelector`.
    pub selector: Selector,
    /// Resources known now.
    pub map: Arc<ResourceMap>,
    /// Byte budget.
    pub budget: usize,
}

/// cpu or memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// CPU cores.
    Cpu,
    /// Memory bytes.
    Memory,
}

/// Build the queries for resource metrics of pods in one namespace, or of nodes (`namespace: None`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<BuiltQueries, BuildError>")]
pub struct BuildResourceQuery {
    /// cpu or memory.
    pub usage: Usage,
    /// Pods' namespace; `None` for nodes.
    pub namespace: Option<String>,
    /// Pod or node names.
    pub names: Vec<String>,
    /// Resources known now.
    pub map: Arc<ResourceMap>,
    /// Byte budget per query.
    pub budget: usize,
}

/// The rule namer actor.
pub struct RuleNamer {
    generation: Arc<Generation>,
    /// The generation before the last reload, for requests discovered with it until the relist that
    /// follows the reload publishes the new one.
    previous: Option<Arc<Generation>>,
}

impl RuleNamer {
    /// Starts with `config` as generation 1.
    pub fn new(config: Config) -> Self {
        Self {
            generation: Arc::new(Generation { number: 1, config }),
            previous: None,
        }
    }

    /// The rule `kind`/`index` of generation `number` (the current or the previous one), with the route
    /// of a request in `namespace` to its backend, by that generation's backends.
    fn rule_of(
        &self,
        number: u64,
        kind: RuleKind,
        index: usize,
        namespace: Option<&str>,
    ) -> Result<(&adapter_config::DiscoveryRule, Route), BuildError> {
        let (config, rule) = [Some(&self.generation), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|g| g.number == number)
            .and_then(|g| Some((&g.config, g.rule(kind, index)?)))
            .ok_or(BuildError::StaleRule)?;
        Ok((rule, config.route(rule.backend.as_deref(), namespace)?))
    }
}

impl Actor for RuleNamer {
    type Context = Context<Self>;
}

impl Supervised for RuleNamer {}

impl Handler<CurrentRules> for RuleNamer {
    type Result = Arc<Generation>;

    fn handle(&mut self, _: CurrentRules, _: &mut Context<Self>) -> Arc<Generation> {
        self.generation.clone()
    }
}

impl Handler<Reload> for RuleNamer {
    type Result = Result<u64, ConfigErrors>;

    fn handle(&mut self, msg: Reload, _: &mut Context<Self>) -> Self::Result {
        let config = rules::load(&msg.file, &msg.text)?;
        if msg.strict && !config.warnings.is_empty() {
            return Err(ConfigErrors(config.warnings));
        }
        for warning in &config.warnings {
            tracing::warn!(%warning, "rule disabled: upstream starts with this and fails later");
        }
        let number = self.generation.number + 1;
        let previous = std::mem::replace(
            &mut self.generation,
            Arc::new(Generation { number, config }),
        );
        self.previous = Some(previous);
        tracing::info!(generation = number, file = %msg.file, "rules reloaded");
        Ok(number)
    }
}

impl Handler<NameSeries> for RuleNamer {
    type Result = Option<RuleOutcome>;

    fn handle(&mut self, msg: NameSeries, _: &mut Context<Self>) -> Self::Result {
        if msg.generation != self.generation.number {
            return None;
        }
        let rule = self.generation.rule(msg.kind, msg.index)?;
        Some(name_rule(rule, &msg.series, &msg.map))
    }
}

impl Handler<BuildCustomQuery> for RuleNamer {
    type Result = Result<BuiltQueries, BuildError>;

    fn handle(&mut self, msg: BuildCustomQuery, _: &mut Context<Self>) -> Self::Result {
        let (rule, route) = self.rule_of(
            msg.generation,
            RuleKind::Custom,
            msg.source.rule,
            msg.namespace.as_deref(),
        )?;
        let names: Vec<&str> = msg.names.iter().map(String::as_str).collect();
        let req = CustomRequest {
            series: &msg.source.series,
            resource: &msg.resource,
            namespace: msg.namespace.as_deref(),
            names: &names,
            metric_selector: &msg.metric_selector,
        };
        let queries = query::custom(rule, &msg.map, req, msg.budget)?;
        let object_label = rule
            .resources
            .label_for(&msg.resource, &msg.map)
            .map_err(query::Error::from)?;
        let mut out = built(queries, object_label, None, route);
        out.missing_value = rule.missing_value;
        Ok(out)
    }
}

impl Handler<BuildExternalQuery> for RuleNamer {
    type Result = Result<BuiltQueries, BuildError>;

    fn handle(&mut self, msg: BuildExternalQuery, _: &mut Context<Self>) -> Self::Result {
        let (rule, route) = self.rule_of(
            msg.generation,
            RuleKind::External,
            msg.source.rule,
            Some(&msg.namespace),
        )?;
        let query = query::external(
            rule,
            &msg.map,
            &msg.source.series,
            Some(&msg.namespace),
            &msg.selector,
            msg.budget,
        )?;
        let mut out = built(vec![query], String::new(), None, route);
        out.missing_value = rule.missing_value;
        Ok(out)
    }
}

impl Handler<BuildResourceQuery> for RuleNamer {
    type Result = Result<BuiltQueries, BuildError>;

    fn handle(&mut self, msg: BuildResourceQuery, _: &mut Context<Self>) -> Self::Result {
        let rules = self
            .generation
            .config
            .resource_rules
            .as_ref()
            .ok_or(BuildError::NoResourceRules)?;
        let rule = if msg.usage == Usage::Cpu {
            &rules.cpu
        } else {
            &rules.memory
        };
        let route = self
            .generation
            .config
            .route(rules.backend.as_deref(), msg.namespace.as_deref())?;
        let names: Vec<&str> = msg.names.iter().map(String::as_str).collect();
        let (target, resource, container) = match &msg.namespace {
            Some(namespace) => (
                ResourceTarget::Pods { namespace },
                "pods",
                Some(rule.container_label.clone()),
            ),
            None => (ResourceTarget::Nodes, "nodes", None),
        };
        let queries = query::resource(rule, &msg.map, target, &names, msg.budget)?;
        let object_label = rule
            .resources
            .label_for(&GroupResource::new("", resource), &msg.map)
            .map_err(query::Error::from)?;
        let mut out = built(queries, object_label, container, route);
        out.window = Some(rules.window);
        Ok(out)
    }
}

fn built(
    queries: Vec<String>,
    object_label: String,
    container_label: Option<String>,
    route: Route,
) -> BuiltQueries {
    let window = queries
        .first()
        .and_then(|q| adapter_config::promql::range_window(q));
    BuiltQueries {
        queries,
        object_label,
        container_label,
        window,
        route,
        missing_value: None,
    }
}

impl Handler<Crash> for RuleNamer {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        actix::ActorContext::stop(ctx);
    }
}
