//! The adapter's own metrics (`/metrics`): request latency by group, verb and code; Prometheus query
//! latency by path and server (upstream's name, exposed whatever the rules, unlike upstream); and, read
//! from the discovery snapshot at scrape time, registry size, relist duration, per-rule series counts,
//! failures and freshness.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use adapter_actors::front_door::FlowStats;
use adapter_actors::registry::Snapshot;
use adapter_actors::value_cache::CacheStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    group: String,
    verb: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PromLabels {
    path: String,
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendUrlLabels {
    backend: String,
    url: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KubeLabels {
    call: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KubeCallLabels {
    call: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectCacheLabels {
    resource: String,
    /// `Running` for the resource metrics' pods cache (a `status.phase=Running` watch), else empty.
    phase: &'static str,
}

/// What one object cache holds, in `/metrics`.
pub struct ObjectCacheGauges {
    objects: Gauge,
    bytes: Gauge,
}

impl ObjectCacheGauges {
    /// Records the objects and estimated bytes after a watch event.
    pub fn set(&self, objects: usize, bytes: usize) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.objects.set(gauge(objects));
        self.bytes.set(gauge(bytes));
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReviewLabels {
    review: &'static str,
    source: &'static str,
    outcome: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every self-metric; cheap to share.
pub struct Telemetry {
    registry: Registry,
    requests: Histograms<RequestLabels>,
    prometheus: Histograms<PromLabels>,
    registry_size: Family<ApiLabels, Gauge>,
    relist_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    relist_questions: Family<QuestionLabels, Gauge>,
    missing_value_answers: Counter,
    relist_fallbacks: Counter,
    rule_relist_mode: Family<RuleModeLabels, Gauge>,
    rule_series: Family<RuleLabels, Gauge>,
    rule_failing: Family<RuleLabels, Gauge>,
    rule_last_success: Family<RuleLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    rule_disabled: Family<RuleLabels, Gauge>,
    reload_successful: Gauge,
    reload_success_at: Gauge<f64, std::sync::atomic::AtomicU64>,
    reloads: Family<ResultLabels, Counter>,
    reviews: Family<ReviewLabels, Counter>,
    kube_requests: Family<KubeLabels, Counter>,
    kube_latency: Histograms<KubeCallLabels>,
    kube_rate_limit: Histogram,
    cache_answers: Family<ResultLabels, Counter>,
    cache_entries: Gauge,
    cache_bytes: Gauge,
    object_cache_objects: Family<ObjectCacheLabels, Gauge>,
    object_cache_bytes: Family<ObjectCacheLabels, Gauge>,
    backend_up: Family<BackendUrlLabels, Gauge>,
    backend_failovers: Family<BackendUrlLabels, Counter>,
    backend_auth_failures: Family<AuthLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    backend: String,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuestionLabels {
    mode: &'static str,
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleModeLabels {
    rule: String,
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

impl Telemetry {
    /// Registers every family.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("prometheus_adapter");
        let requests: Histograms<RequestLabels> = Family::new_with_constructor(latency_histogram);
        let prometheus: Histograms<PromLabels> = Family::new_with_constructor(latency_histogram);
        let registry_size = Family::<ApiLabels, Gauge>::default();
        let relist_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let rule_series = Family::<RuleLabels, Gauge>::default();
        let rule_failing = Family::<RuleLabels, Gauge>::default();
        let rule_last_success =
            Family::<RuleLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "request_duration_seconds",
            "API request latency by group, verb and code",
            requests.clone(),
        );
        registry.register(
            "prometheus_client_request_duration_seconds",
            "Prometheus request latency by path and server",
            prometheus.clone(),
        );
        registry.register(
            "registry_metrics",
            "Metrics advertised, by API",
            registry_size.clone(),
        );
        registry.register(
            "relist_duration_seconds",
            "Duration of the last relist",
            relist_seconds.clone(),
        );
        let relist_questions = Family::<QuestionLabels, Gauge>::default();
        registry.register(
            "relist_questions",
            "Questions the last relist asked the backends, by the mode they served (series or labels; auto's probes count as labels) and endpoint",
            relist_questions.clone(),
        );
        let missing_value_answers = Counter::default();
        registry.register(
            "missing_value_answers",
            "Answers made of a rule's missingValue because Prometheus had no sample (an external metric's whole answer, one named object's custom metric)",
            missing_value_answers.clone(),
        );
        let relist_fallbacks = Counter::default();
        registry.register(
            "relist_fallbacks",
            "seriesQuery relists asked for every series because, in --relist-mode=auto, their backend refused label questions",
            relist_fallbacks.clone(),
        );
        let rule_relist_mode = Family::<RuleModeLabels, Gauge>::default();
        registry.register(
            "rule_relist_mode",
            "How the rule's seriesQuery was asked at its last relist (1 for the mode used)",
            rule_relist_mode.clone(),
        );
        registry.register(
            "rule_series",
            "Series the rule's seriesQuery returned at its last success (metric names in label mode)",
            rule_series.clone(),
        );
        registry.register(
            "rule_failing",
            "Whether the rule's last relist failed (its previous metrics are served)",
            rule_failing.clone(),
        );
        registry.register(
            "rule_last_success_timestamp_seconds",
            "When the rule last relisted successfully",
            rule_last_success.clone(),
        );
        let rule_disabled = Family::<RuleLabels, Gauge>::default();
        registry.register(
            "rule_disabled",
            "Rules left out for a warning in the rules file (see /debug/explain for why)",
            rule_disabled.clone(),
        );
        let reload_successful = Gauge::default();
        registry.register(
            "config_last_reload_successful",
            "Whether the last load of the rules file succeeded (1) or failed and the running rules stayed (0)",
            reload_successful.clone(),
        );
        let reload_success_at = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "config_last_reload_success_timestamp_seconds",
            "When the rules file was last loaded successfully (start-up counts)",
            reload_success_at.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Reloads of the rules file by result: success or failure",
            reloads.clone(),
        );
        let reviews = Family::<ReviewLabels, Counter>::default();
        registry.register(
            "auth_reviews",
            "TokenReview and SubjectAccessReview answers by source (cache or apiserver) and outcome",
            reviews.clone(),
        );
        let kube_requests = Family::<KubeLabels, Counter>::default();
        registry.register(
            "kubernetes_requests",
            "Kubernetes API calls (discovery, list; watch failures) by result: success, error, timeout",
            kube_requests.clone(),
        );
        let kube_latency: Histograms<KubeCallLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "kubernetes_request_duration_seconds",
            "Kubernetes API call latency by call, after the client rate limiter",
            kube_latency.clone(),
        );
        let kube_rate_limit = latency_histogram();
        registry.register(
            "kubernetes_rate_limiter_wait_seconds",
            "Time Kubernetes calls waited for the --client-qps/--client-burst limiter",
            kube_rate_limit.clone(),
        );
        let cache_answers = Family::<ResultLabels, Counter>::default();
        registry.register(
            "value_cache_lookups",
            "Value cache lookups by result: hit, miss, stale (a failed query answered with the last good value), stale_expired (none young enough: 503), evicted (for the entry or byte bound)",
            cache_answers.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register(
            "value_cache_entries",
            "Answers held by the value cache",
            cache_entries.clone(),
        );
        let cache_bytes = Gauge::default();
        registry.register(
            "value_cache_bytes",
            "Estimated bytes held by the value cache",
            cache_bytes.clone(),
        );
        let object_cache_objects = Family::<ObjectCacheLabels, Gauge>::default();
        registry.register(
            "object_cache_objects",
            "Objects held by the watch-fed Kubernetes object caches, by resource (and phase, for the resource metrics' Running pods)",
            object_cache_objects.clone(),
        );
        let object_cache_bytes = Family::<ObjectCacheLabels, Gauge>::default();
        registry.register(
            "object_cache_bytes",
            "Estimated heap bytes held by the object caches (names, distinct label sets, index entries; a relist in progress included)",
            object_cache_bytes.clone(),
        );
        let backend_up = Family::<BackendUrlLabels, Gauge>::default();
        registry.register(
            "backend_url_up",
            "Whether the backend URL answered its last call (0: skipped for its back-off, the next URL is tried)",
            backend_up.clone(),
        );
        let backend_failovers = Family::<BackendUrlLabels, Counter>::default();
        registry.register(
            "backend_url_failures",
            "Calls to a backend URL that failed or timed out (the next URL of the backend was tried, if any)",
            backend_failovers.clone(),
        );
        let backend_auth_failures = Family::<AuthLabels, Counter>::default();
        registry.register(
            "backend_auth_failures",
            "Calls to a backend that failed because its credentials (basicAuth, oauth2, sigv4, googleIam, azureAd) could not be had: a secret file unreadable, a token endpoint or credential chain failing",
            backend_auth_failures.clone(),
        );
        Arc::new(Self {
            backend_up,
            backend_failovers,
            backend_auth_failures,
            cache_answers,
            cache_entries,
            cache_bytes,
            object_cache_objects,
            object_cache_bytes,
            kube_requests,
            kube_latency,
            kube_rate_limit,
            reviews,
            registry,
            requests,
            prometheus,
            registry_size,
            relist_seconds,
            relist_questions,
            missing_value_answers,
            relist_fallbacks,
            rule_relist_mode,
            rule_series,
            rule_failing,
            rule_last_success,
            rule_disabled,
            reload_successful,
            reload_success_at,
            reloads,
        })
    }

    /// Records one API request.
    pub fn observe_request(&self, path: &str, method: &str, code: u16, elapsed: Duration) {
        let group = match path.strip_prefix("/apis/") {
            Some(rest) => rest.split('/').next().unwrap_or_default().to_string(),
            None if path.starts_with("/api/") || path == "/api" => "core".to_string(),
            None => "nonresource".to_string(),
        };
        let labels = RequestLabels {
            group,
            verb: method.to_lowercase(),
            code: code.to_string(),
        };
        self.requests
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one review answer: `review` is `token` or `access`, `source` `cache` or `apiserver`.
    pub fn count_review(&self, review: &'static str, source: &'static str, outcome: &'static str) {
        self.reviews
            .get_or_create(&ReviewLabels {
                review,
                source,
                outcome,
            })
            .inc();
    }

    /// Records one Kubernetes call (`discovery`, `list`, or a failed `watch` with no latency) and its
    /// result (`success`, `error`, `timeout`).
    pub fn observe_kube_call(&self, call: &'static str, result: &'static str, elapsed: Duration) {
        self.kube_requests
            .get_or_create(&KubeLabels { call, result })
            .inc();
        if call != "watch" {
            self.kube_latency
                .get_or_create(&KubeCallLabels { call })
                .observe(elapsed.as_secs_f64());
        }
    }

    /// The gauges of one object cache, looked up once when the cache starts: its watch sets them after
    /// every event (100,000 of them in a large relist), without a label lookup each time.
    pub fn object_cache_gauges(&self, resource: &str, phase: &'static str) -> ObjectCacheGauges {
        let labels = ObjectCacheLabels {
            resource: resource.to_string(),
            phase,
        };
        ObjectCacheGauges {
            objects: self.object_cache_objects.get_or_create(&labels).clone(),
            bytes: self.object_cache_bytes.get_or_create(&labels).clone(),
        }
    }

    /// Records how long a Kubernetes call waited for the client rate limiter.
    pub fn observe_kube_rate_limit(&self, waited: Duration) {
        self.kube_rate_limit.observe(waited.as_secs_f64());
    }

    /// The rules file loaded at start (`at` Unix seconds).
    pub fn observe_start(&self, at: f64) {
        self.reload_successful.set(1);
        self.reload_success_at.set(at);
    }

    /// Records a reload of the rules file.
    pub fn observe_reload(&self, ok: bool, at: f64) {
        let result = if ok { "success" } else { "failure" };
        self.reloads.get_or_create(&ResultLabels { result }).inc();
        self.reload_successful.set(i64::from(ok));
        if ok {
            self.reload_success_at.set(at);
        }
    }

    /// Records one Prometheus call.
    pub fn observe_prometheus(&self, path: &str, server: &str, elapsed: Duration) {
        let labels = PromLabels {
            path: path.to_string(),
            server: server.to_string(),
        };
        self.prometheus
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a call that failed for want of its backend's credentials.
    pub fn observe_auth_failure(&self, backend: &str, method: &'static str) {
        self.backend_auth_failures
            .get_or_create(&AuthLabels {
                backend: backend.to_string(),
                method,
            })
            .inc();
    }

    /// Records whether a backend URL answered (`up`) or failed, counting failures.
    pub fn observe_backend_url(&self, backend: &str, url: &str, up: bool) {
        let labels = BackendUrlLabels {
            backend: backend.to_string(),
            url: url.to_string(),
        };
        self.backend_up.get_or_create(&labels).set(i64::from(up));
        if !up {
            self.backend_failovers.get_or_create(&labels).inc();
        }
    }

    /// The text exposition, with the snapshot-derived gauges refreshed first.
    pub fn render(&self, snapshot: &Snapshot, cache: &CacheStats, flows: &FlowStats) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        for (result, counter) in [
            ("hit", &cache.hits),
            ("miss", &cache.misses),
            ("stale", &cache.stale_served),
            ("stale_expired", &cache.stale_expired),
            ("evicted", &cache.evictions),
        ] {
            catch_up(
                &self.cache_answers.get_or_create(&ResultLabels { result }),
                counter.load(Relaxed),
            );
        }
        catch_up(
            &self.missing_value_answers,
            flows.missing_value_answers.load(Relaxed),
        );
        self.cache_entries.set(cache.entries.load(Relaxed) as i64);
        self.cache_bytes.set(cache.bytes.load(Relaxed) as i64);
        let set = |api: &str, n: usize| {
            self.registry_size
                .get_or_create(&ApiLabels { api: api.into() })
                .set(n as i64)
        };
        set("custom", snapshot.registry.custom.len());
        set("external", snapshot.registry.external.len());
        self.relist_seconds
            .set(snapshot.relist_duration.as_secs_f64());
        self.rule_disabled.clear();
        for (rule, _) in &snapshot.served.disabled {
            self.rule_disabled
                .get_or_create(&RuleLabels { rule: rule.clone() })
                .set(1);
        }
        let questions = &snapshot.relist_questions;
        for (mode, asked) in [("series", questions.series), ("labels", questions.labels)] {
            for (endpoint, n) in [
                ("series", asked.series),
                ("labels", asked.label_names),
                ("label_values", asked.metric_names),
            ] {
                self.relist_questions
                    .get_or_create(&QuestionLabels { mode, endpoint })
                    .set(n as i64);
            }
        }
        catch_up(&self.relist_fallbacks, questions.fallbacks_total);
        self.rule_relist_mode.clear();
        self.rule_series.clear();
        self.rule_failing.clear();
        self.rule_last_success.clear();
        for rule in &snapshot.rules {
            let labels = RuleLabels {
                rule: format!("{:?}[{}]", rule.kind, rule.index).to_lowercase(),
            };
            self.rule_series
                .get_or_create(&labels)
                .set(rule.report.series as i64);
            self.rule_relist_mode
                .get_or_create(&RuleModeLabels {
                    rule: labels.rule.clone(),
                    mode: rule.relist_mode.as_str(),
                })
                .set(1);
            self.rule_failing
                .get_or_create(&labels)
                .set(i64::from(rule.error.is_some()));
            if let Some(at) = rule.last_success {
                let seconds = at
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                self.rule_last_success.get_or_create(&labels).set(seconds);
            }
        }
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The actors count; the exposition's counter catches up with their `total` at each scrape.
fn catch_up(exposed: &Counter, total: u64) {
    exposed.inc_by(total.saturating_sub(exposed.get()));
}
