//! Simulated backends: a Prometheus holding series and answers, a Kubernetes holding objects, both able
//! to be slowed, failed or hung. Series selectors and label selectors are evaluated for real (the same
//! parsers the adapter uses), so simulations exercise the true matching semantics.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use adapter_config::label_discovery::LabelQuestion;
use adapter_config::series_answer::LabeledSeries;
use adapter_config::series_selector::SeriesSelector;
use adapter_config::{GroupResource, ResourceInfo, ResourceMap, Selector, SeriesSet};
use futures_util::future::LocalBoxFuture;

use crate::objects::{KubeError, ObjectBackend, ObjectMeta};
use crate::prom::{PromBackend, PromError, QueryResult, Sample};

/// How a simulated backend behaves right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    /// Answers at once.
    #[default]
    Up,
    /// Refuses at once.
    Down,
    /// Never answers.
    Hang,
    /// Answers after a delay.
    Slow(Duration),
}

impl Health {
    async fn apply<E>(self, down: impl FnOnce() -> E) -> Result<(), E> {
        match self {
            Health::Up => Ok(()),
            Health::Down => Err(down()),
            Health::Hang => futures_util::future::pending().await,
            Health::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
        }
    }
}

/// How a simulated Prometheus treats `match[]` on its label endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelSupport {
    /// As Prometheus 2.24 and later: only the matched series' labels.
    #[default]
    Honours,
    /// As Prometheus before 2.24: `match[]` silently ignored, every label answered.
    Ignores,
    /// The endpoints are missing (a 404).
    Missing,
}

#[derive(Default)]
struct PromState {
    series: Vec<LabeledSeries>,
    answers: HashMap<String, QueryResult>,
    health: Health,
    failing_matchers: Vec<String>,
    series_calls: Vec<(String, f64, f64)>,
    label_calls: Vec<(LabelQuestion, String, f64, f64)>,
    label_support: LabelSupport,
    query_calls: Vec<String>,
    tenants: Vec<Option<String>>,
}

/// A simulated Prometheus. Clones share state, so a test keeps one to steer and inspect.
#[derive(Clone, Default)]
pub struct SimPrometheus(Rc<RefCell<PromState>>);

impl SimPrometheus {
    /// An empty, healthy Prometheus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a series.
    pub fn add_series(&self, name: &str, labels: &[(&str, &str)]) {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0.borrow_mut().series.push(LabeledSeries {
            name: name.to_string(),
            labels,
        });
    }

    /// Removes every series named `name`.
    pub fn remove_series(&self, name: &str) {
        self.0.borrow_mut().series.retain(|s| s.name != name);
    }

    /// Sets the answer to exactly this PromQL; other queries get an empty vector.
    pub fn answer(&self, promql: &str, result: QueryResult) {
        self.0
            .borrow_mut()
            .answers
            .insert(promql.to_string(), result);
    }

    /// Sets how it behaves.
    pub fn set_health(&self, health: Health) {
        self.0.borrow_mut().health = health;
    }

    /// Makes series calls for this exact matcher fail (others keep working).
    pub fn fail_matcher(&self, matcher: &str, failing: bool) {
        let mut s = self.0.borrow_mut();
        s.failing_matchers.retain(|m| m != matcher);
        if failing {
            s.failing_matchers.push(matcher.to_string());
        }
    }

    /// Every series call so far: (matcher, start, end).
    pub fn series_calls(&self) -> Vec<(String, f64, f64)> {
        self.0.borrow().series_calls.clone()
    }

    /// Every label question so far: (question, matcher, start, end).
    pub fn label_calls(&self) -> Vec<(LabelQuestion, String, f64, f64)> {
        self.0.borrow().label_calls.clone()
    }

    /// Sets how the label endpoints treat `match[]`.
    pub fn set_label_support(&self, support: LabelSupport) {
        self.0.borrow_mut().label_support = support;
    }

    /// Every instant query so far.
    pub fn query_calls(&self) -> Vec<String> {
        self.0.borrow().query_calls.clone()
    }

    /// The tenant of every call so far (series and queries, in call order).
    pub fn tenants(&self) -> Vec<Option<String>> {
        self.0.borrow().tenants.clone()
    }
}

/// A vector sample, for answers.
pub fn sample(labels: &[(&str, &str)], value: f64, timestamp: f64) -> Sample {
    Sample {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value,
        timestamp,
    }
}

/// Records a call (`record`, and its tenant), then behaves as the backend's health says.
async fn arrive(
    state: &Rc<RefCell<PromState>>,
    tenant: Option<String>,
    record: impl FnOnce(&mut PromState),
) -> Result<(), PromError> {
    let health = {
        let mut s = state.borrow_mut();
        record(&mut s);
        s.tenants.push(tenant);
        s.health
    };
    health
        .apply(|| PromError::Unavailable("connection refused".into()))
        .await
}

/// The answer Prometheus gives a bad selector.
fn bad_data(message: impl Into<String>) -> PromError {
    PromError::Api {
        error_type: "bad_data".into(),
        message: message.into(),
    }
}

fn parse_selector(matcher: &str) -> Result<SeriesSelector, PromError> {
    SeriesSelector::parse(matcher).map_err(|e| bad_data(e.to_string()))
}

/// The series `selector` matches (all of them without one).
fn matching<'a>(
    series: &'a [LabeledSeries],
    selector: Option<&'a SeriesSelector>,
) -> impl Iterator<Item = &'a LabeledSeries> {
    series.iter().filter(move |series| {
        selector.is_none_or(|selector| {
            selector.matches(&series.name, |l| series.labels.get(l).map(String::as_str))
        })
    })
}

impl PromBackend for SimPrometheus {
    fn series(
        &self,
        matcher: &str,
        start: f64,
        end: f64,
        tenant: Option<&str>,
    ) -> LocalBoxFuture<'static, Result<SeriesSet, PromError>> {
        let state = self.0.clone();
        let matcher = matcher.to_string();
        let tenant = tenant.map(str::to_string);
        Box::pin(async move {
            arrive(&state, tenant, |s| {
                s.series_calls.push((matcher.clone(), start, end));
            })
            .await?;
            let s = state.borrow();
            if s.failing_matchers.contains(&matcher) {
                return Err(bad_data("simulated failure"));
            }
            let selector = parse_selector(&matcher)?;
            let mut set = SeriesSet::new();
            for series in matching(&s.series, Some(&selector)) {
                set.insert(&series.name, series.labels.keys().map(String::as_str));
            }
            Ok(set)
        })
    }

    fn labels(
        &self,
        question: LabelQuestion,
        matcher: &str,
        start: f64,
        end: f64,
        tenant: Option<&str>,
    ) -> LocalBoxFuture<'static, Result<Vec<String>, PromError>> {
        let state = self.0.clone();
        let matcher = matcher.to_string();
        let tenant = tenant.map(str::to_string);
        Box::pin(async move {
            arrive(&state, tenant, |s| {
                s.label_calls.push((question, matcher.clone(), start, end));
            })
            .await?;
            let s = state.borrow();
            // A failing seriesQuery fails the questions derived from it too.
            if s.failing_matchers
                .iter()
                .any(|m| matcher == *m || matcher.starts_with(m.trim_end_matches('}')))
            {
                return Err(bad_data("simulated failure"));
            }
            let selector = match s.label_support {
                LabelSupport::Missing => return Err(PromError::Status(404)),
                LabelSupport::Ignores => None,
                LabelSupport::Honours => Some(parse_selector(&matcher)?),
            };
            let matched = matching(&s.series, selector.as_ref());
            let answer: std::collections::BTreeSet<String> = match question {
                LabelQuestion::MetricNames => matched.map(|s| s.name.clone()).collect(),
                LabelQuestion::LabelNames => matched
                    .flat_map(|s| s.labels.keys().cloned().chain(["__name__".to_string()]))
                    .collect(),
            };
            Ok(answer.into_iter().collect())
        })
    }

    fn query(
        &self,
        promql: &str,
        _time: f64,
        _timeout: Duration,
        tenant: Option<&str>,
    ) -> LocalBoxFuture<'static, Result<QueryResult, PromError>> {
        let state = self.0.clone();
        let promql = promql.to_string();
        let tenant = tenant.map(str::to_string);
        Box::pin(async move {
            arrive(&state, tenant, |s| {
                s.query_calls.push(promql.clone());
            })
            .await?;
            Ok(state
                .borrow()
                .answers
                .get(&promql)
                .cloned()
                .unwrap_or(QueryResult::Vector(Vec::new())))
        })
    }
}

#[derive(Default)]
struct KubeState {
    map: ResourceMap,
    objects: Vec<(GroupResource, ObjectMeta)>,
    health: Health,
    list_calls: usize,
    discovery_calls: usize,
    /// Overrides `health` for discovery calls.
    discovery_health: Option<Health>,
}

/// A simulated Kubernetes API. Clones share state.
#[derive(Clone, Default)]
pub struct SimKube(Rc<RefCell<KubeState>>);

impl SimKube {
    /// A cluster knowing the standard resources and no objects.
    pub fn new() -> Self {
        let kube = Self::default();
        kube.0.borrow_mut().map = ResourceMap::standard();
        kube
    }

    /// Replaces the resource map (to add a CRD).
    pub fn set_resources(&self, map: ResourceMap) {
        self.0.borrow_mut().map = map;
    }

    /// Adds an object; pods get phase `Running` unless `phase` says otherwise.
    pub fn add(&self, resource: &str, namespace: &str, name: &str, labels: &[(&str, &str)]) {
        self.add_with_phase(
            resource,
            namespace,
            name,
            labels,
            if resource == "pods" { "Running" } else { "" },
        );
    }

    /// Adds an object with a phase.
    pub fn add_with_phase(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        labels: &[(&str, &str)],
        phase: &str,
    ) {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let meta = ObjectMeta {
            namespace: namespace.into(),
            name: name.into(),
            labels: labels.into(),
            phase: phase.into(),
        };
        self.0
            .borrow_mut()
            .objects
            .push((GroupResource::parse(resource), meta));
    }

    /// Sets how it behaves.
    pub fn set_health(&self, health: Health) {
        self.0.borrow_mut().health = health;
    }

    /// Sets how discovery behaves, apart from lists (`None`: as everything else).
    pub fn set_discovery_health(&self, health: Option<Health>) {
        self.0.borrow_mut().discovery_health = health;
    }

    /// How many list calls were made.
    pub fn list_calls(&self) -> usize {
        self.0.borrow().list_calls
    }

    /// How many discovery calls were made.
    pub fn discovery_calls(&self) -> usize {
        self.0.borrow().discovery_calls
    }
}

impl ObjectBackend for SimKube {
    fn resources(&self) -> LocalBoxFuture<'static, Result<ResourceMap, KubeError>> {
        let state = self.0.clone();
        Box::pin(async move {
            let health = {
                let mut s = state.borrow_mut();
                s.discovery_calls += 1;
                s.discovery_health.unwrap_or(s.health)
            };
            health
                .apply(|| KubeError::Unavailable("connection refused".into()))
                .await?;
            Ok(state.borrow().map.clone())
        })
    }

    fn list(
        &self,
        resource: &ResourceInfo,
        namespace: Option<&str>,
        selector: &Selector,
        running_only: bool,
    ) -> LocalBoxFuture<'static, Result<Vec<ObjectMeta>, KubeError>> {
        let (state, resource, namespace, selector) = (
            self.0.clone(),
            resource.group_resource(),
            namespace.map(str::to_string),
            selector.clone(),
        );
        Box::pin(async move {
            let health = {
                let mut s = state.borrow_mut();
                s.list_calls += 1;
                s.health
            };
            health
                .apply(|| KubeError::Unavailable("connection refused".into()))
                .await?;
            let s = state.borrow();
            Ok(crate::objects::select(
                &s.objects,
                &resource,
                namespace.as_deref(),
                &selector,
                running_only,
            ))
        })
    }
}
