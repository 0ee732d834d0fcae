//! Everything that talks outward. The Prometheus-compatible backends the adapter queries — the HTTP client
//! and how it authenticates, and the set of them a rules file asks for: the `--prometheus-*` flags'
//! backend plus each `backends:` entry (ours), built on the actors' thread — the Kubernetes object source
//! (or the objects file standing in for one), router mode's forwarder, and their client TLS.

pub mod client_tls;
pub mod credentials;
pub mod forward;
pub mod kube_objects;
pub mod object_index;
pub mod objects_file;
pub mod prometheus;
pub mod prometheus_auth;
pub mod sigv4;
pub mod token_grants;

use std::rc::Rc;
use std::sync::Arc;

use adapter_actors::prom::Backends;
use adapter_config::Config;
use anyhow::Context;

use prometheus::{HttpPrometheus, Settings};

/// Builds every backend `config` names, with `default` (the flags) as the default one, able to build
/// them anew on reload. Fails naming the backend whose TLS files or token cannot be read.
pub fn start(
    default: Settings,
    config: &Config,
    telemetry: Arc<crate::telemetry::Telemetry>,
) -> anyhow::Result<Backends> {
    let backends = build(&default, config, &telemetry)?;
    let rebuild: adapter_actors::prom::BuildBackends =
        Rc::new(move |config| build(&default, config, &telemetry).map_err(|e| format!("{e:#}")));
    Ok(backends.rebuilt_by(rebuild))
}

fn build(
    default: &Settings,
    config: &Config,
    telemetry: &Arc<crate::telemetry::Telemetry>,
) -> anyhow::Result<Backends> {
    let client = HttpPrometheus::new(default, telemetry.clone())?;
    let mut backends = Backends::single(Rc::new(client), default.timeout);
    for (name, spec) in &config.backends {
        let settings = Settings::for_backend(spec, default.timeout);
        let client = HttpPrometheus::new(&settings, telemetry.clone())
            .with_context(|| format!("{}: backends.{name}", config.file))?;
        tracing::info!(backend = %name, urls = ?spec.urls, tenant = ?spec.tenant.as_ref().map(|t| &t.header), "backend configured");
        backends = backends.with(name, Rc::new(client), settings.timeout);
    }
    Ok(backends)
}
