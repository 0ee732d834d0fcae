//! **Relister**: keeps discovery fresh.
//!
//! Owns the relist timer and the per-rule state (last outcome, last success, last error), and the
//! registry's only [`RegistryWriter`]. On start and then `interval` after each run *finishes* (sliding, as
//! upstream), it asks the RuleNamer for the current rules and the ObjectLister for resources, asks the
//! PromQuerier about each distinct `seriesQuery` (at most `parallelism` at a time, `start = now − max_age`,
//! `end = now`) — for its series, or in [`RelistMode::Labels`] for its label and metric names
//! ([`crate::relist_fetch`]) — has the RuleNamer name each rule's series, and publishes a new snapshot
//! atomically. In [`RelistMode::Auto`] each backend is probed every relist and asked for series while
//! it does not honour `match[]` on its label endpoints; a change of verdict is logged.
//!
//! Unlike upstream, a failing `seriesQuery` does not discard the others: its rules keep their previous
//! metrics and record the error. [`RelistNow`] runs a relist and answers when one that started after it
//! finished. A restart keeps the per-rule state and the published registry, and relists at once.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, Recipient,
    ResponseFuture, SpawnHandle, Supervised, WrapFuture,
};
use adapter_config::discovery::RuleOutcome;
use adapter_config::label_discovery::RelistMode;
use adapter_config::{DiscoveryRule, Registry, ResourceMap, Route, RuleKind, SeriesSet};
use futures_util::StreamExt;
use tokio::sync::oneshot;

use crate::object_lister::Resources;
use crate::prom::PromError;
use crate::registry::{RegistryWriter, RuleStatus, Served, Snapshot};
use crate::relist_fetch::{LabelSupport, Questions, RelistQuestions, Window, configured_mode};
use crate::rule_namer::{CurrentRules, NameSeries};
use crate::{Clock, Crash};

/// Relist timing and limits.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `--metrics-relist-interval`.
    pub interval: Duration,
    /// `--metrics-max-age` (look-back of series calls).
    pub max_age: Duration,
    /// Series calls (or label questions) at once.
    pub parallelism: usize,
    /// `--relist-mode`: how backends without their own `relistMode` are asked.
    pub mode: RelistMode,
}

/// Run a relist now; answers with its summary once a relist that started after this message finished.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<RelistSummary, RelistError>")]
pub struct RelistNow;

/// What a relist did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelistSummary {
    /// Rules generation used.
    pub generation: u64,
    /// Rules whose series could not be fetched this time.
    pub failed_rules: usize,
    /// Metrics now served.
    pub metrics: usize,
}

/// A relist that could not report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("relister restarted before the relist finished")]
pub struct RelistError;

/// Who the relister talks to.
pub struct Peers {
    /// RuleNamer: the rules.
    pub rules: Recipient<CurrentRules>,
    /// RuleNamer: naming.
    pub namer: Recipient<NameSeries>,
    /// PromQuerier: series calls and label questions.
    pub questions: Questions,
    /// ObjectLister: resources.
    pub resources: Recipient<Resources>,
}

type RuleKey = (RuleKind, usize);

#[derive(Default)]
struct State {
    generation: u64,
    /// What the generation's rules serve.
    served: Served,
    outcomes: BTreeMap<RuleKey, RuleOutcome>,
    statuses: BTreeMap<RuleKey, RuleStatus>,
    last_map: Option<Arc<ResourceMap>>,
    /// The last probe's verdict per route, to log changes only.
    label_support: HashMap<Route, LabelSupport>,
    /// `seriesQuery`s asked for series because their backend refused label questions, since start.
    fallbacks: u64,
}

/// The relister actor.
pub struct Relister {
    writer: RegistryWriter,
    peers: Rc<Peers>,
    clock: Clock,
    options: Options,
    state: Rc<RefCell<State>>,
    running: bool,
    waiting_for_this_run: Vec<oneshot::Sender<RelistSummary>>,
    waiting_for_next_run: Vec<oneshot::Sender<RelistSummary>>,
    next: Option<SpawnHandle>,
}

impl Relister {
    /// A relister publishing through `writer`.
    pub fn new(writer: RegistryWriter, peers: Peers, clock: Clock, options: Options) -> Self {
        Self {
            writer,
            peers: Rc::new(peers),
            clock,
            options,
            state: Rc::default(),
            running: false,
            waiting_for_this_run: Vec::new(),
            waiting_for_next_run: Vec::new(),
            next: None,
        }
    }

    fn start_run(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        if let Some(handle) = self.next.take() {
            ctx.cancel_future(handle);
        }
        self.running = true;
        self.waiting_for_this_run
            .append(&mut self.waiting_for_next_run);
        let started = tokio::time::Instant::now();
        let run = relist(
            self.peers.clone(),
            self.state.clone(),
            self.clock,
            self.options,
        );
        ctx.spawn(run.into_actor(self).map(move |mut snapshot, act, ctx| {
            snapshot.relist_duration = started.elapsed();
            let summary = RelistSummary {
                generation: snapshot.generation,
                failed_rules: snapshot.rules.iter().filter(|r| r.error.is_some()).count(),
                metrics: snapshot.registry.custom.len() + snapshot.registry.external.len(),
            };
            let questions = snapshot.relist_questions;
            tracing::debug!(
                generation = summary.generation,
                metrics = summary.metrics,
                failed_rules = summary.failed_rules,
                duration = ?snapshot.relist_duration,
                series_calls = questions.series.series,
                label_questions = questions.labels.label_names + questions.labels.metric_names,
                "relist finished"
            );
            act.writer.publish(snapshot);
            act.running = false;
            for waiter in act.waiting_for_this_run.drain(..) {
                let _ = waiter.send(summary);
            }
            if act.waiting_for_next_run.is_empty() {
                act.next = Some(ctx.run_later(act.options.interval, |act, ctx| act.start_run(ctx)));
            } else {
                act.start_run(ctx);
            }
        }));
    }
}

/// One relist: fetch each distinct seriesQuery once, name every rule, keep old outcomes for failed ones.
async fn relist(
    peers: Rc<Peers>,
    state: Rc<RefCell<State>>,
    clock: Clock,
    options: Options,
) -> Snapshot {
    let generation = match peers.rules.send(CurrentRules).await {
        Ok(generation) => generation,
        Err(error) => {
            tracing::warn!(%error, "relist skipped: rule namer unavailable");
            let s = state.borrow();
            return Snapshot::new(
                assemble(&s),
                s.statuses.values().cloned().collect(),
                Some(clock.now()),
                s.generation,
                s.served.clone(),
            );
        }
    };
    let map = match peers.resources.send(Resources).await {
        Ok(Ok(map)) => Some(map),
        Ok(Err(error)) => {
            tracing::warn!(%error, "relist uses the last resource map: discovery failed");
            state.borrow().last_map.clone()
        }
        Err(error) => {
            tracing::warn!(%error, "relist uses the last resource map: object lister unavailable");
            state.borrow().last_map.clone()
        }
    };
    let map = map.unwrap_or_default();
    {
        let mut s = state.borrow_mut();
        s.last_map = Some(map.clone());
        if s.generation != generation.number {
            // New rules: old outcomes and statuses belong to rules that no longer exist.
            s.generation = generation.number;
            s.outcomes.clear();
            s.statuses.clear();
            s.served = Served::of(&generation.config);
        }
    }
    let config = &generation.config;
    let rules: Vec<_> = config.rules.iter().chain(&config.external_rules).collect();
    // Each backend is asked only for the series of its own rules; a backend that is down fails its
    // rules alone. A route that cannot be made (it cannot: fallbacks are checked at load) fails the rule.
    let route_of = |rule: &adapter_config::DiscoveryRule| {
        config
            .route(rule.backend.as_deref(), None)
            .map_err(|e| e.to_string())
    };
    let mut sharing: BTreeMap<(Route, &str), Vec<&DiscoveryRule>> = BTreeMap::new();
    for rule in &rules {
        if let Ok(route) = route_of(rule) {
            sharing
                .entry((route, rule.series_query.as_str()))
                .or_default()
                .push(rule);
        }
    }

    let end = clock.unix_seconds();
    let window = Window {
        start: end - options.max_age.as_secs_f64(),
        end,
    };
    let modes = modes_of(&peers, &state, config, &sharing, window, options.mode).await;
    let asked = RefCell::new(modes.asked);
    let fetched: HashMap<(Route, &str), Fetched> = futures_util::stream::iter(&sharing)
        .map(|((route, query), sharing_rules)| {
            let peers = peers.clone();
            let mode = modes.by_route[route];
            let map = map.clone();
            let asked = &asked;
            async move {
                let questions = &peers.questions;
                let (series, used) = match mode {
                    RelistMode::Labels => {
                        questions
                            .labels(
                                query,
                                sharing_rules,
                                &map,
                                window,
                                route,
                                options.parallelism,
                            )
                            .await
                    }
                    _ => questions.series(query, window, route).await,
                };
                asked.borrow_mut().by_mode(mode).add(used);
                ((route.clone(), *query), Fetched { series, mode })
            }
        })
        .buffer_unordered(options.parallelism.max(1))
        .collect()
        .await;

    for rule in &rules {
        let key = (rule.kind, rule.index);
        let status = |error: Option<String>, last_success, report, mode| RuleStatus {
            kind: rule.kind,
            index: rule.index,
            series_query: rule.series_query.clone(),
            last_success,
            error,
            report,
            relist_mode: mode,
        };
        let fetched = route_of(rule).map(|route| &fetched[&(route, rule.series_query.as_str())]);
        let mode = fetched.as_ref().map_or(RelistMode::Series, |f| f.mode);
        let outcome = match fetched.map(|f| &f.series) {
            Err(error) => Err(error),
            Ok(Ok(series)) => {
                let msg = NameSeries {
                    generation: generation.number,
                    kind: rule.kind,
                    index: rule.index,
                    series: series.clone(),
                    map: map.clone(),
                };
                match peers.namer.send(msg).await {
                    Ok(Some(outcome)) => Ok(outcome),
                    Ok(None) => Err("the rules were reloaded during the relist".to_string()),
                    Err(error) => Err(format!("rule namer unavailable: {error}")),
                }
            }
            Ok(Err(error)) => Err(format!(
                "unable to fetch {} for {}: {error}",
                match mode {
                    RelistMode::Labels => "label and metric names",
                    _ => "series",
                },
                rule.series_query
            )),
        };
        let mut s = state.borrow_mut();
        match outcome {
            Ok(outcome) => {
                let report = outcome.report.clone();
                s.outcomes.insert(key, outcome);
                s.statuses
                    .insert(key, status(None, Some(clock.now()), report, mode));
            }
            Err(error) => {
                tracing::warn!(rule = %rule.location(), %error, "relist of rule failed; its previous metrics are kept");
                let previous = s.statuses.get(&key).cloned();
                let (last_success, report) = previous
                    .map(|p| (p.last_success, p.report))
                    .unwrap_or_default();
                s.statuses
                    .insert(key, status(Some(error), last_success, report, mode));
            }
        }
    }
    let s = state.borrow();
    let registry = assemble(&s);
    for collision in &registry.collisions {
        tracing::warn!(metric = %collision.metric, lost = %collision.lost.series, kept = %collision.kept.series, "metric name claimed twice");
    }
    let mut snapshot = Snapshot::new(
        registry,
        s.statuses.values().cloned().collect(),
        Some(clock.now()),
        s.generation,
        s.served.clone(),
    );
    snapshot.relist_questions = RelistQuestions {
        fallbacks_total: s.fallbacks,
        ..asked.into_inner()
    };
    snapshot
}

/// Custom rules before external ones, each in file order: later rules win a name, as upstream.
fn assemble(state: &State) -> Registry {
    Registry::assemble(state.outcomes.values())
}

impl Actor for Relister {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.start_run(ctx);
    }
}

impl Supervised for Relister {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.running = false;
        self.next = None;
        self.waiting_for_this_run.clear();
    }
}

impl Handler<RelistNow> for Relister {
    type Result = ResponseFuture<Result<RelistSummary, RelistError>>;

    fn handle(&mut self, _: RelistNow, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.waiting_for_next_run.push(tx);
        self.start_run(ctx);
        Box::pin(async move { rx.await.map_err(|_| RelistError) })
    }
}

impl Handler<Crash> for Relister {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// What one distinct `seriesQuery` gave, and in which mode it was asked.
struct Fetched {
    series: Result<Arc<SeriesSet>, PromError>,
    mode: RelistMode,
}

/// The mode each route is asked in this relist, and the probes that decided it.
struct Modes {
    by_route: HashMap<Route, RelistMode>,
    asked: RelistQuestions,
}

/// Settles each route's mode: its configured one, or for [`RelistMode::Auto`] labels unless this
/// relist's probe finds the backend refusing them (then series, counted; a change of verdict logged).
/// A probe that fails for another reason (the backend down) leaves labels, whose questions then fail
/// the rules as a series call would.
async fn modes_of(
    peers: &Rc<Peers>,
    state: &Rc<RefCell<State>>,
    config: &adapter_config::Config,
    sharing: &BTreeMap<(Route, &str), Vec<&DiscoveryRule>>,
    window: Window,
    default: RelistMode,
) -> Modes {
    let mut modes = Modes {
        by_route: HashMap::new(),
        asked: RelistQuestions::default(),
    };
    for (route, _) in sharing.keys() {
        if modes.by_route.contains_key(route) {
            continue;
        }
        let mode = match configured_mode(config, route, default) {
            RelistMode::Auto => {
                let (support, asked) = peers.questions.probe(window, route).await;
                modes.asked.labels.add(asked);
                let mut s = state.borrow_mut();
                let previous = s.label_support.insert(route.clone(), support.clone());
                match support {
                    LabelSupport::Refuses(reason) => {
                        if !matches!(previous, Some(LabelSupport::Refuses(_))) {
                            tracing::warn!(backend = %route, %reason, "backend refuses label questions; discovery asks it for every series");
                        }
                        s.fallbacks += sharing.keys().filter(|(r, _)| r == route).count() as u64;
                        RelistMode::Series
                    }
                    LabelSupport::Honours => {
                        if matches!(previous, Some(LabelSupport::Refuses(_))) {
                            tracing::info!(backend = %route, "backend answers label questions again; discovery asks it for label values");
                        }
                        RelistMode::Labels
                    }
                    LabelSupport::Unknown => RelistMode::Labels,
                }
            }
            forced => forced,
        };
        modes.by_route.insert(route.clone(), mode);
    }
    modes
}
