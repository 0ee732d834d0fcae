//! The prometheus-adapter actor system: each metrics API request is a supervised message flow ending in
//! a metric value list, and discovery is kept fresh in the background.
//!
//! ```text
//!                    ┌──────────── RegistryReader (lock-free snapshot) ◀── publish ──┐
//!                    ▼                                                               │
//!  HTTP ──▶ FrontDoor ──ResolveResource/ListObjects/Resources──▶ ObjectLister ──▶ Kubernetes
//!              │      ──BuildCustomQuery/External/Resource─────▶ RuleNamer (rules generation)
//!              │      ──InstantQuery───────────────────────────▶ PromQuerier ──▶ Prometheus
//!              │                                                     ▲
//!           Relister ──CurrentRules/NameSeries──▶ RuleNamer           │
//!              (timer) ──Resources──▶ ObjectLister   ──Series─────────┘
//! ```
//!
//! Every actor runs under an `actix::Supervisor`; a stopped actor restarts with its state, its address
//! stays valid and queued messages are served after the restart. Every backend call has a timeout and
//! every front-door flow a deadline, so no request waits forever. Actors hold their peers as
//! `Recipient<M>`; only [`start`] names the concrete actors. Time comes from an injected [`Clock`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod clock;
pub mod front_door;
mod inflight;
pub mod object_lister;
pub mod objects;
pub mod prom;
pub mod prom_querier;
pub mod registry;
pub mod relist_fetch;
pub mod relister;
pub mod rule_namer;
pub mod sim;
pub mod value_cache;

use std::time::Duration;

use actix::{Addr, Message, Supervisor};
use adapter_config::Config;

pub use clock::Clock;
use front_door::{FlowOptions, FlowPeers, FrontDoor};
use object_lister::ObjectLister;
use objects::SharedObjectBackend;
use prom::Backends;
use prom_querier::PromQuerier;
use registry::RegistryReader;
use relister::{Peers, Relister};
use rule_namer::RuleNamer;

/// Stops the receiving actor, as a crash would; its supervisor restarts it. For failure testing.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Crash;

/// Timing and limits of the whole system.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Relisting.
    pub relist: relister::Options,
    /// Each Kubernetes call.
    pub kube_timeout: Duration,
    /// How often resources are rediscovered.
    pub discovery_refresh: Duration,
    /// Request flows.
    pub flows: FlowOptions,
    /// The value cache (off by default).
    pub values: value_cache::CacheOptions,
}

impl Default for Options {
    /// Upstream's defaults where it has them (relist 10 m, max age = relist), ours elsewhere.
    fn default() -> Self {
        Self {
            relist: relister::Options {
                interval: Duration::from_secs(600),
                max_age: Duration::from_secs(600),
                parallelism: 4,
                mode: adapter_config::label_discovery::RelistMode::Auto,
            },
            kube_timeout: Duration::from_secs(10),
            discovery_refresh: Duration::from_secs(600),
            flows: FlowOptions {
                deadline: Duration::from_secs(30),
                budget: adapter_config::query::DEFAULT_BUDGET,
                parallelism: 8,
            },
            values: value_cache::CacheOptions::default(),
        }
    }
}

/// The running actors.
pub struct Adapter {
    /// Where requests go.
    pub front_door: Addr<FrontDoor>,
    /// Discovery.
    pub relister: Addr<Relister>,
    /// Rules.
    pub namer: Addr<RuleNamer>,
    /// Prometheus.
    pub querier: Addr<PromQuerier>,
    /// Kubernetes.
    pub lister: Addr<ObjectLister>,
    /// Discovery snapshots.
    pub registry: RegistryReader,
    /// The value cache's counters.
    pub cache_stats: std::sync::Arc<value_cache::CacheStats>,
    /// The flows' counters.
    pub flow_stats: std::sync::Arc<front_door::FlowStats>,
}

/// Starts every actor under a supervisor, on the current arbiter. Call inside a running actix System.
pub fn start(
    config: Config,
    prom: Backends,
    kube: SharedObjectBackend,
    clock: Clock,
    options: Options,
) -> Adapter {
    let served = registry::Served::of(&config);
    let namer = Supervisor::start(move |_| RuleNamer::new(config));
    let cache_stats = std::sync::Arc::<value_cache::CacheStats>::default();
    let stats = cache_stats.clone();
    let querier =
        Supervisor::start(move |_| PromQuerier::new(prom).with_cache(options.values, stats));
    let lister = Supervisor::start(move |_| {
        ObjectLister::new(kube, options.kube_timeout, options.discovery_refresh)
    });
    let (writer, registry) = registry::registry(served);
    let peers = Peers {
        rules: namer.clone().recipient(),
        namer: namer.clone().recipient(),
        questions: relist_fetch::Questions {
            series: querier.clone().recipient(),
            labels: querier.clone().recipient(),
        },
        resources: lister.clone().recipient(),
    };
    let relister = Supervisor::start(move |_| Relister::new(writer, peers, clock, options.relist));
    let flow_peers = FlowPeers {
        resolve: lister.clone().recipient(),
        list: lister.clone().recipient(),
        resources: lister.clone().recipient(),
        current_resources: lister.clone().recipient(),
        custom_query: namer.clone().recipient(),
        external_query: namer.clone().recipient(),
        resource_query: namer.clone().recipient(),
        query: querier.clone().recipient(),
    };
    let reader = registry.clone();
    let flow_stats = std::sync::Arc::<front_door::FlowStats>::default();
    let stats = flow_stats.clone();
    let front_door = Supervisor::start(move |_| {
        FrontDoor::new(flow_peers, reader, clock, options.flows, stats.clone())
    });
    Adapter {
        front_door,
        relister,
        namer,
        querier,
        lister,
        registry,
        cache_stats,
        flow_stats,
    }
}
