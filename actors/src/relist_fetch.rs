//! How the relister learns one `seriesQuery`'s metrics: every series (`/api/v1/series`, as upstream), or
//! the label questions of [`adapter_config::label_discovery`], which give naming the same input at a
//! fraction of the backend's cost. And whether a backend can be asked label questions at all.
//!
//! Async functions over the PromQuerier's recipients, run inside the relister's future: they hold no
//! state of their own.

use std::sync::Arc;

use actix::Recipient;
use adapter_config::label_discovery::{
    self, LabelQuestion, PROBE_SELECTOR, RelistMode, requires_label, resource_labels,
};
use adapter_config::{DiscoveryRule, ResourceMap, Route, SeriesSet};
use futures_util::{StreamExt, TryStreamExt};

use crate::prom::PromError;
use crate::prom_querier::{Labels, Series};

/// The PromQuerier, as the relister asks it.
pub struct Questions {
    /// Series calls.
    pub series: Recipient<Series>,
    /// Label questions.
    pub labels: Recipient<Labels>,
}

/// The look-back window of a relist (Unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// `now − --metrics-max-age`.
    pub start: f64,
    /// Now.
    pub end: f64,
}

/// Questions a relist asked, by mode and endpoint (the probe counts as a label question).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    /// `/api/v1/series`.
    pub series: u64,
    /// `/api/v1/labels`.
    pub label_names: u64,
    /// `/api/v1/label/__name__/values`.
    pub metric_names: u64,
}

impl Asked {
    /// Adds another count.
    pub fn add(&mut self, other: Asked) {
        self.series += other.series;
        self.label_names += other.label_names;
        self.metric_names += other.metric_names;
    }

    fn one(question: LabelQuestion) -> Asked {
        match question {
            LabelQuestion::LabelNames => Asked {
                label_names: 1,
                ..Asked::default()
            },
            LabelQuestion::MetricNames => Asked {
                metric_names: 1,
                ..Asked::default()
            },
        }
    }
}

/// What a relist asked the backends, by the mode each question served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelistQuestions {
    /// Questions of `seriesQuery`s asked for series.
    pub series: Asked,
    /// Questions of `seriesQuery`s asked in label mode, and the probes.
    pub labels: Asked,
    /// `seriesQuery`s asked for series because their backend refused label questions, since start.
    pub fallbacks_total: u64,
}

impl RelistQuestions {
    /// The count of questions serving `mode`.
    pub fn by_mode(&mut self, mode: RelistMode) -> &mut Asked {
        match mode {
            RelistMode::Labels => &mut self.labels,
            _ => &mut self.series,
        }
    }
}

/// Whether a backend answers label questions with `match[]` honoured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelSupport {
    /// It does: the probe selector matched nothing.
    Honours,
    /// It does not, and why: series it is.
    Refuses(String),
    /// The probe failed for a reason that says nothing about support (the backend is down or slow).
    Unknown,
}

impl Questions {
    async fn ask(
        &self,
        question: LabelQuestion,
        matcher: String,
        window: Window,
        route: &Route,
    ) -> Result<Arc<Vec<String>>, PromError> {
        let msg = Labels {
            question,
            matcher,
            start: window.start,
            end: window.end,
            route: route.clone(),
        };
        answered(self.labels.send(msg).await)
    }

    /// Every series of `query`, reduced to names and label names.
    pub async fn series(
        &self,
        query: &str,
        window: Window,
        route: &Route,
    ) -> (Result<Arc<SeriesSet>, PromError>, Asked) {
        let msg = Series {
            matcher: query.to_string(),
            start: window.start,
            end: window.end,
            route: route.clone(),
        };
        let result = answered(self.series.send(msg).await);
        let asked = Asked {
            series: 1,
            ..Asked::default()
        };
        (result, asked)
    }

    /// Asks for the metric names of a selector nothing matches: a backend honouring `match[]` answers
    /// none; one ignoring it answers every name it holds (or none, when it holds nothing: that
    /// backend is trusted until it holds something, which the next relist's probe sees).
    pub async fn probe(&self, window: Window, route: &Route) -> (LabelSupport, Asked) {
        let question = LabelQuestion::MetricNames;
        let asked = Asked::one(question);
        let support = match self
            .ask(question, PROBE_SELECTOR.to_string(), window, route)
            .await
        {
            Ok(names) if names.is_empty() => LabelSupport::Honours,
            Ok(names) => LabelSupport::Refuses(format!(
                "it answered {} metric names for a selector matching none: match[] is ignored",
                names.len()
            )),
            Err(error) if error.is_refusal() => LabelSupport::Refuses(error.to_string()),
            Err(_) => LabelSupport::Unknown,
        };
        (support, asked)
    }

    /// The naming input of `query` from label questions: its label names and metric names, then the
    /// metric names carrying each label that a rule in `rules` (all sharing `query`) maps to a
    /// resource — at most `parallelism` questions at a time.
    pub async fn labels(
        &self,
        query: &str,
        rules: &[&DiscoveryRule],
        map: &ResourceMap,
        window: Window,
        route: &Route,
        parallelism: usize,
    ) -> (Result<Arc<SeriesSet>, PromError>, Asked) {
        let mut asked = Asked::one(LabelQuestion::LabelNames);
        asked.add(Asked::one(LabelQuestion::MetricNames));
        let (label_names, names) = futures_util::future::join(
            self.ask(LabelQuestion::LabelNames, query.to_string(), window, route),
            self.ask(LabelQuestion::MetricNames, query.to_string(), window, route),
        )
        .await;
        let (label_names, names) = match (label_names, names) {
            (Ok(label_names), Ok(names)) => (label_names, names),
            (Err(error), _) | (_, Err(error)) => return (Err(error), asked),
        };
        let wanted = resource_labels(&label_names, rules, map);
        // A label the selector already requires is on every series: its carriers are all the names.
        let (given, to_ask): (Vec<&str>, Vec<&str>) = wanted
            .into_iter()
            .partition(|label| rules.first().is_some_and(|r| requires_label(r, label)));
        asked.metric_names += to_ask.len() as u64;
        let names_ref = &names;
        let answers: Result<Vec<Carriers<'_>>, PromError> = futures_util::stream::iter(to_ask)
            .map(|label| async move {
                let matcher = label_discovery::with_label_present(query, label);
                let carrying = self
                    .ask(LabelQuestion::MetricNames, matcher, window, route)
                    .await?;
                Ok((label, carrying))
            })
            .buffer_unordered(parallelism.max(1))
            .try_collect()
            .await;
        let answers = match answers {
            Ok(mut answers) => {
                answers.extend(given.into_iter().map(|label| (label, names_ref.clone())));
                answers
            }
            Err(error) => return (Err(error), asked),
        };
        let carriers: Vec<(&str, &[String])> = answers
            .iter()
            .map(|(label, carrying)| (*label, carrying.as_slice()))
            .collect();
        let set = label_discovery::series_from_label_answers(&names, &carriers);
        (Ok(Arc::new(set)), asked)
    }
}

/// The PromQuerier's answer, or why its mailbox gave none.
fn answered<T>(sent: Result<Result<T, PromError>, actix::MailboxError>) -> Result<T, PromError> {
    sent.unwrap_or_else(|e| Err(PromError::Mailbox(e.to_string())))
}

/// A label and the metric names carrying it.
type Carriers<'a> = (&'a str, Arc<Vec<String>>);

/// The mode a backend is asked in: its `backends:` entry's `relistMode`, else the flag's.
pub fn configured_mode(
    config: &adapter_config::Config,
    route: &Route,
    default: RelistMode,
) -> RelistMode {
    route
        .backend
        .as_deref()
        .and_then(|name| config.backends.get(name))
        .and_then(|backend| backend.relist_mode)
        .unwrap_or(default)
}
