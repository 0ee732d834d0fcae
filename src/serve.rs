//! Serving: flags → config, backends, actors, TLS, HTTP server. Wiring only.

use std::rc::Rc;
use std::time::Duration;

use actix_web::web;
use adapter_actors::{Clock, Options};
use anyhow::{Context, bail};

use crate::api::{self, State};
use crate::backends::kube_objects::{KubeObjects, RateLimit};
use crate::backends::objects_file::ObjectsFile;
use crate::backends::prometheus::Settings;
use crate::flags::ServeFlags;

/// Runs the adapter until SIGTERM/SIGINT.
pub fn run(flags: ServeFlags) -> anyhow::Result<()> {
    for flag in &flags.ignored {
        tracing::warn!(flag = %flag, "flag accepted for compatibility and ignored");
    }
    if flags.config.is_empty() {
        bail!("no metrics discovery configuration file specified (make sure to use --config)");
    }
    let text = std::fs::read_to_string(&flags.config).with_context(|| {
        format!(
            "unable to load metrics discovery config file {}",
            flags.config
        )
    })?;
    let config = crate::reload::load(&flags.config, &text, flags.strict_config)?;
    let (config_path, strict_config) =
        (std::path::PathBuf::from(&flags.config), flags.strict_config);
    if flags.metrics_max_age < flags.metrics_relist_interval && !config.rules.is_empty() {
        bail!("max age must not be less than relist interval");
    }
    let embedded = match &flags.objects {
        Some(path) => {
            let objects = ObjectsFile::load(path)?;
            tracing::info!(objects = objects.len(), file = %path.display(), "serving objects from a file instead of a cluster");
            for problem in config.check_resources(&adapter_config::ResourceMap::standard()) {
                tracing::warn!(%problem, "rules refer to resources the object source does not know");
            }
            Some(objects)
        }
        None => None,
    };
    let kubeconfig = flags.lister_kubeconfig.clone();
    let (qps, burst) = (flags.client_qps, flags.client_burst);
    let tls = crate::server::tls::server_config(
        &flags.tls_cert_file,
        &flags.tls_private_key_file,
        &flags.cert_dir,
        &flags.tls_sni_cert_key,
        !flags.disable_http2,
        &crate::server::tls::Policy::new(&flags.tls_min_version, &flags.tls_cipher_suites)?,
    )?;
    let settings = Settings::from_flags(&flags)?;
    let forwarding = crate::backends::forward::Settings::from_flags(&flags)?;
    let mut options = Options::default();
    options.relist.interval = flags.metrics_relist_interval;
    options.relist.max_age = flags.metrics_max_age;
    options.relist.mode = flags.relist_mode;
    options.discovery_refresh = match flags.discovery_interval {
        Duration::ZERO => flags.metrics_relist_interval,
        interval => interval,
    };
    options.flows.deadline = flags.prometheus_timeout + Duration::from_secs(5);
    options.values = adapter_actors::value_cache::CacheOptions {
        ttl: flags.metrics_cache_ttl,
        serve_stale_for: flags.metrics_serve_stale_for,
        max_entries: flags.metrics_cache_max_entries,
        max_bytes: flags.metrics_cache_max_bytes,
    };
    if options.values.enabled() {
        tracing::info!(ttl = ?options.values.ttl, serve_stale_for = ?options.values.serve_stale_for, "value cache on");
    }
    let address = (flags.bind_address.clone(), flags.secure_port);
    let access_log = flags.verbosity >= crate::ACCESS_LOG_VERBOSITY;

    actix_web::rt::System::new().block_on(async move {
        // The one place the wall clock is read: everything else gets it through `Clock`.
        #[allow(
            clippy::disallowed_methods,
            reason = "the injection point of the wall clock"
        )]
        let clock = Clock::starting_at(std::time::SystemTime::now());
        let telemetry = crate::telemetry::Telemetry::new();
        let backends = crate::backends::start(settings, &config, telemetry.clone())?;
        let embedded_statuses = embedded.as_ref().map(ObjectsFile::statuses);
        let objects: Rc<dyn adapter_actors::objects::ObjectBackend> = match embedded {
            Some(objects) => Rc::new(objects),
            // Built here, on the actors' thread: the kube client lives with the runtime that made it.
            None => Rc::new(
                KubeObjects::connect(&kubeconfig, RateLimit::new(qps, burst), telemetry.clone())
                    .await?,
            ),
        };
        let adapter = adapter_actors::start(config, backends, objects, clock, options);
        telemetry.observe_start(clock.unix_seconds());
        crate::reload::watch(
            config_path,
            strict_config,
            text,
            crate::reload::Peers {
                namer: adapter.namer.clone().recipient(),
                relister: adapter.relister.clone().recipient(),
                querier: adapter.querier.clone().recipient(),
            },
            telemetry.clone(),
            clock,
        );
        let forwarding = match forwarding {
            Some(settings) => {
                let forwarder = crate::backends::forward::Forwarder::new(&settings)?;
                for (group, url) in &settings.targets {
                    tracing::info!(%group, %url, "router mode: metrics our rules do not serve are forwarded");
                }
                Some(api::forward::Forwarding {
                    forwarder: actix::Supervisor::start(move |_| forwarder),
                    groups: settings.targets.keys().copied().collect(),
                })
            }
            None => None,
        };
        let state = web::Data::new(State::new(
            &adapter,
            clock,
            telemetry,
            embedded_statuses,
            forwarding,
        ));
        let auth =
            web::Data::from(crate::auth::Auth::start(&flags, state.telemetry.clone()).await?);
        tracing::info!(address = %address.0, port = address.1, "serving");
        let limits = crate::server::Limits {
            max_streams: match flags.http2_max_streams_per_connection {
                0 => crate::server::DEFAULT_MAX_STREAMS,
                n => n.try_into().unwrap_or(u32::MAX),
            },
            // Idle keep-alive connections stay 120 s: longer than Go's transport keeps them
            // (IdleConnTimeout 90 s), so the client closes first and never reuses a connection the server
            // just dropped; an h2 connection without streams is closed (GOAWAY) after one to two of them.
            // actix's 5 s default cost a TLS handshake per HPA poll over HTTP/1.1. Memory per idle
            // connection: BENCHMARKS.md (scripts/bench-idle.sh).
            keep_alive: Duration::from_secs(120),
        };
        let on_connect = crate::auth::peer::of_connection;
        let server = crate::server::serve(address, tls, limits, on_connect, move || {
            api::app(state.clone(), auth.clone(), access_log)
        })?;
        server.await?;
        anyhow::Ok(())
    })
}
