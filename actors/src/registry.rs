//! The registry of discovered metrics as the request path reads it: an immutable [`Snapshot`] swapped
//! atomically once per relist. One [`RegistryWriter`] (the relister's, not `Clone`), many cheap
//! [`RegistryReader`]s; a read is one atomic load, no lock.

use std::sync::Arc;
use std::time::SystemTime;

use adapter_config::discovery::RuleReport;
use adapter_config::label_discovery::RelistMode;
use adapter_config::{Config, Registry, RuleKind};
use arc_swap::ArcSwap;

pub use crate::relist_fetch::RelistQuestions;

/// One rule's relist state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStatus {
    /// Which list.
    pub kind: RuleKind,
    /// Which rule.
    pub index: usize,
    /// Its `seriesQuery`.
    pub series_query: String,
    /// When its series were last fetched and named.
    pub last_success: Option<SystemTime>,
    /// The last failure, if the last attempt failed (its previous metrics are still served).
    pub error: Option<String>,
    /// Counts from the last success (in [`RelistMode::Labels`] its "series" are metric names).
    pub report: RuleReport,
    /// How its `seriesQuery` was asked the last time.
    pub relist_mode: RelistMode,
}

/// A discovery entry, in the order discovery documents list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryEntry {
    /// `pods/http_requests`, `deployments.apps/hits`, or the external metric name.
    pub name: String,
    /// Served under `namespaces/{ns}/`.
    pub namespaced: bool,
}

/// What was discovered, as of one relist.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The metrics and where they come from.
    pub registry: Registry,
    /// Per-rule state.
    pub rules: Vec<RuleStatus>,
    /// When the relist that made this finished; `None` before the first.
    pub relisted_at: Option<SystemTime>,
    /// The rules generation it was made with.
    pub generation: u64,
    /// How long the relist that made this took.
    pub relist_duration: std::time::Duration,
    /// What that relist asked the backends.
    pub relist_questions: RelistQuestions,
    /// What the rules it was made with serve.
    pub served: Served,
}

/// What a rules file serves: the API groups (as upstream: custom with `rules`, external with
/// `externalRules`, resource metrics with `resourceRules`) and the rules left out for a warning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// `custom.metrics.k8s.io`.
    pub custom: bool,
    /// `external.metrics.k8s.io`.
    pub external: bool,
    /// `metrics.k8s.io`.
    pub resource: bool,
    /// Disabled rules (`rules[1]`, `resourceRules`), each with why.
    pub disabled: Vec<(String, Vec<String>)>,
}

impl Served {
    /// What `config` serves. A group whose rules are all disabled is still served (empty), as upstream
    /// serves it with rules that fail.
    pub fn of(config: &Config) -> Self {
        let listed = |prefix: &str| config.disabled.iter().any(|d| d.starts_with(prefix));
        Self {
            custom: !config.rules.is_empty() || listed("rules["),
            external: !config.external_rules.is_empty() || listed("externalRules["),
            resource: config.resource_rules.is_some() || listed("resourceRules"),
            disabled: config
                .disabled
                .iter()
                .map(|location| {
                    let why = config
                        .warnings_for(location)
                        .map(|w| format!("{}: {}", w.location, w.message))
                        .collect();
                    (location.clone(), why)
                })
                .collect(),
        }
    }
}

impl Snapshot {
    /// Builds a snapshot.
    pub fn new(
        registry: Registry,
        rules: Vec<RuleStatus>,
        relisted_at: Option<SystemTime>,
        generation: u64,
        served: Served,
    ) -> Self {
        Self {
            registry,
            rules,
            relisted_at,
            generation,
            relist_duration: std::time::Duration::ZERO,
            relist_questions: RelistQuestions::default(),
            served,
        }
    }

    /// The custom discovery entries, sorted. Made when asked, not held: the documents listing them are
    /// rendered once per snapshot (and cached there), and a copy of every name per snapshot is memory
    /// the registry already holds.
    pub fn custom_entries(&self) -> impl Iterator<Item = DiscoveryEntry> + '_ {
        self.registry.custom.keys().map(|m| DiscoveryEntry {
            name: m.display(),
            namespaced: m.namespaced,
        })
    }

    /// The external discovery entries, sorted.
    pub fn external_entries(&self) -> impl Iterator<Item = DiscoveryEntry> + '_ {
        self.registry.external.keys().map(|m| DiscoveryEntry {
            name: m.clone(),
            namespaced: true,
        })
    }

    /// Whether a relist has completed.
    pub fn ready(&self) -> bool {
        self.relisted_at.is_some()
    }
}

/// The relister's handle: publishes snapshots.
pub struct RegistryWriter(Arc<ArcSwap<Snapshot>>);

/// A reader's handle: loads the current snapshot.
#[derive(Clone)]
pub struct RegistryReader(Arc<ArcSwap<Snapshot>>);

/// A new, empty registry.
pub fn registry(served: Served) -> (RegistryWriter, RegistryReader) {
    let shared = Arc::new(ArcSwap::from_pointee(Snapshot {
        served,
        ..Snapshot::default()
    }));
    (RegistryWriter(shared.clone()), RegistryReader(shared))
}

impl RegistryWriter {
    /// Replaces the snapshot readers see.
    pub fn publish(&self, snapshot: Snapshot) {
        self.0.store(Arc::new(snapshot));
    }

    /// The snapshot last published.
    pub fn current(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }
}

impl RegistryReader {
    /// The current snapshot.
    pub fn load(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }
}
