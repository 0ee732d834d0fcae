//! Delegated authentication and authorization, as k8s.io/apiserver does it for aggregated API servers:
//! every request except the always-allowed paths must name a user (front-proxy headers on a trusted
//! connection, a client certificate, or a bearer token reviewed by kube-apiserver — else 401) and that
//! user must be allowed by a SubjectAccessReview (else 403; `system:masters` always is). The middleware
//! only asks and answers; trust, reviews and request attributes live in the submodules.
//!
//! `--delegated-auth=false` (never the default, logged loudly) is for running without a cluster: callers
//! then need a certificate from a configured CA if there is one, and everything they ask is allowed.

pub mod attributes;
mod cache;
pub mod identity;
mod impersonation;
pub mod peer;
mod reviews;
pub mod trust;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServiceRequest;
use anyhow::{Context, bail};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

use crate::flags::ServeFlags;
use attributes::Attributes;
use identity::User;
use reviews::{Reviews, Ttls};
use trust::{HeaderNames, Sources, Trust};

/// Why a request is not let in; the API side answers each with its Status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400: impersonation headers that cannot be honoured.
    BadRequest(String),
    /// 401: nobody vouched for the caller.
    Unauthorized,
    /// 403, with Kubernetes' wording of what was denied.
    Forbidden(String),
    /// 500: a review could not be had; the cause is for the log.
    Internal(String),
}

/// The group whose members are never asked about (built into Go's apiserver).
const MASTERS: &str = "system:masters";

/// How requests are let in.
enum Mode {
    /// TokenReview and SubjectAccessReview against kube-apiserver.
    Delegated(Box<Reviews>),
    /// No cluster to ask: everything allowed, to anyone with a certificate from a configured CA — or to
    /// anyone at all when no CA was configured (decided at start: loaded CA files are only ever replaced).
    Local { certificate_required: bool },
}

/// Shared by all workers.
pub struct Auth {
    trust: Arc<Trust>,
    mode: Mode,
    /// `--authorization-always-allow-paths`: exact paths, or prefixes ending in `*`.
    always_allow: Vec<String>,
}

impl Auth {
    /// Builds the authenticator from the flags: loads the CA files (watched), and unless delegation is
    /// switched off, connects to kube-apiserver and looks up the ConfigMap for what the flags leave open.
    pub async fn start(
        flags: &ServeFlags,
        telemetry: Arc<crate::telemetry::Telemetry>,
    ) -> anyhow::Result<Arc<Auth>> {
        let file = |path: &str| (!path.is_empty()).then(|| PathBuf::from(path));
        let sources = Sources {
            client_ca_file: file(&flags.client_ca_file),
            request_header_file: file(&flags.requestheader_client_ca_file).map(|path| {
                (
                    path,
                    HeaderNames {
                        allowed_names: flags.requestheader_allowed_names.clone(),
                        username_headers: flags.requestheader_username_headers.clone(),
                        group_headers: flags.requestheader_group_headers.clone(),
                        extra_prefixes: flags.requestheader_extra_headers_prefix.clone(),
                    },
                )
            }),
        };
        let trust = Arc::new(Trust::default());
        trust.load_files(&sources)?;
        if sources.client_ca_file.is_some() || sources.request_header_file.is_some() {
            actix_web::rt::spawn(trust::watch_files(trust.clone(), sources.clone()));
        }
        let mode = if flags.delegated_auth {
            let authentication = crate::backends::kube_objects::client(
                &flags.authentication_kubeconfig,
                "--authentication-kubeconfig",
            )
            .await
            .context("delegated authentication needs a cluster (--delegated-auth=false runs without one)")?;
            // An unset --authorization-kubeconfig follows --authentication-kubeconfig (Go would go
            // in-cluster for each separately; outside a cluster that only fails).
            let authorization = if flags.authorization_kubeconfig.is_empty()
                || flags.authorization_kubeconfig == flags.authentication_kubeconfig
            {
                authentication.clone()
            } else {
                crate::backends::kube_objects::client(
                    &flags.authorization_kubeconfig,
                    "--authorization-kubeconfig",
                )
                .await?
            };
            let missing = sources.client_ca_file.is_none() || sources.request_header_file.is_none();
            if missing && flags.authentication_skip_lookup {
                tracing::info!(
                    "--authentication-skip-lookup: client CA and requestheader settings come from flags only"
                );
            } else if missing {
                follow_config_map(
                    authentication.clone(),
                    trust.clone(),
                    sources,
                    flags.authentication_tolerate_lookup_failure,
                )
                .await?;
            }
            Mode::Delegated(Box::new(Reviews::new(
                authentication,
                authorization,
                Ttls {
                    token: flags.authentication_token_webhook_cache_ttl,
                    allowed: flags.authorization_webhook_cache_authorized_ttl,
                    denied: flags.authorization_webhook_cache_unauthorized_ttl,
                },
                telemetry,
            )))
        } else {
            let certificate_required =
                trust.client_ca.load().is_some() || trust.request_header.load().is_some();
            if certificate_required {
                tracing::warn!(
                    "--delegated-auth=false: requests need a client certificate from the configured CA, and then \
                     EVERY request is allowed — no TokenReview, no SubjectAccessReview. Not for clusters."
                );
            } else {
                tracing::warn!(
                    "--delegated-auth=false without --client-ca-file: EVERY request is served WITHOUT \
                     authentication or authorization. Only for local demos on a trusted machine."
                );
            }
            Mode::Local {
                certificate_required,
            }
        };
        Ok(Arc::new(Auth {
            trust,
            mode,
            always_allow: flags.authorization_always_allow_paths.clone(),
        }))
    }

    /// Everything allowed to anyone, as `--delegated-auth=false` without a client CA: for the in-process
    /// tests and fuzzing of the `App`, which have no cluster to ask.
    pub fn allow_all() -> Arc<Auth> {
        Arc::new(Auth {
            trust: Arc::default(),
            mode: Mode::Local {
                certificate_required: false,
            },
            always_allow: Vec::new(),
        })
    }

    fn always_allowed(&self, path: &str) -> bool {
        self.always_allow.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == p,
        })
    }

    /// Who the caller is; 401 when nobody vouches for them.
    async fn authenticate(&self, req: &ServiceRequest) -> Result<User, Refusal> {
        if let Some(peer) = peer::of_request(req) {
            let peer = &*peer;
            if let Some(settings) = self.trust.request_header.load_full() {
                match identity::from_request_header(peer, &settings, req.headers()) {
                    Ok(Some(user)) => return Ok(user),
                    Ok(None) => {}
                    Err(why) => tracing::debug!(%why, "front-proxy headers not trusted"),
                }
            }
            if let Some(pool) = self.trust.client_ca.load_full() {
                match identity::from_client_certificate(peer, &pool) {
                    Ok(user) => return Ok(user),
                    Err(why) => tracing::debug!(%why, "client certificate not accepted"),
                }
            }
        }
        match (&self.mode, identity::bearer_token(req.headers())) {
            (Mode::Delegated(reviews), Some(token)) => match reviews.token(token).await {
                Ok(Some(user)) => Ok(user),
                Ok(None) => Err(Refusal::Unauthorized),
                Err(cause) => {
                    tracing::warn!(%cause, "token review failed");
                    Err(Refusal::Unauthorized)
                }
            },
            (
                Mode::Local {
                    certificate_required: false,
                },
                _,
            ) => Ok(User {
                name: "system:anonymous".into(),
                uid: String::new(),
                groups: vec!["system:unauthenticated".into()],
                extra: Default::default(),
            }),
            _ => Err(Refusal::Unauthorized),
        }
    }

    /// Lets the request in (as the user it runs as; none on always-allowed paths) or says why not.
    pub async fn admit(&self, req: &ServiceRequest) -> Result<Option<User>, Refusal> {
        // The path as the router sees it (percent-escapes of unreserved characters decoded), as Go uses
        // the decoded `URL.Path`: `pods/%2A/m` is asked about as name `*`, the name the handler serves.
        let path = req.match_info().as_str();
        if self.always_allowed(path) {
            return Ok(None);
        }
        let mut user = self.authenticate(req).await.inspect_err(|_| {
            tracing::debug!(path, "request not authenticated");
        })?;
        let asked = impersonation::requested(req.headers())?;
        let Mode::Delegated(reviews) = &self.mode else {
            return Ok(Some(user));
        };
        if let Some(asked) = asked {
            if !user.groups.iter().any(|g| g == MASTERS) {
                for attributes in asked.checks() {
                    match reviews.access(&user, &attributes).await {
                        Ok(decision) if decision.allowed => {}
                        Ok(decision) => {
                            let message =
                                attributes.forbidden_message(&user.name, &decision.reason);
                            tracing::info!(user = %user.name, %message, "impersonation denied");
                            return Err(Refusal::Forbidden(message));
                        }
                        Err(cause) => {
                            return Err(Refusal::Internal(cause));
                        }
                    }
                }
            }
            // From here on the request is the impersonated user's, authorized as them.
            user = asked.user();
        }
        if user.groups.iter().any(|g| g == MASTERS) {
            return Ok(Some(user));
        }
        let attributes = Attributes::of(req.method().as_str(), path, req.query_string());
        match reviews.access(&user, &attributes).await {
            Ok(decision) if decision.allowed => Ok(Some(user)),
            Ok(decision) => {
                let message = attributes.forbidden_message(&user.name, &decision.reason);
                tracing::info!(user = %user.name, groups = ?user.groups, %message, "request denied");
                Err(Refusal::Forbidden(message))
            }
            Err(cause) => Err(Refusal::Internal(cause)),
        }
    }
}

/// Reads `kube-system/extension-apiserver-authentication` once (a failure stops start-up unless
/// tolerated) and then follows it with a watch, so a rotated CA applies without a restart.
async fn follow_config_map(
    client: kube::Client,
    trust: Arc<Trust>,
    sources: Sources,
    tolerate_failure: bool,
) -> anyhow::Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client, trust::CONFIG_MAP_NAMESPACE);
    let name = trust::CONFIG_MAP_NAME;
    let first = tokio::time::timeout(Duration::from_secs(10), api.get_opt(name)).await;
    match first {
        Ok(Ok(Some(map))) => apply(&trust, &sources, &map),
        Ok(Ok(None)) => tracing::warn!(
            "ConfigMap kube-system/{name} not found: client certificates and front-proxy headers are not \
             trusted until it exists"
        ),
        failed => {
            let error = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out after 10s".to_string(),
            };
            if !tolerate_failure {
                bail!(
                    "unable to load ConfigMap kube-system/{name}: {error} (the adapter needs the \
                     extension-apiserver-authentication-reader Role; --authentication-tolerate-lookup-failure \
                     or --authentication-skip-lookup start without it)"
                );
            }
            tracing::warn!(%error, "unable to load ConfigMap kube-system/{name}; continuing without it");
        }
    }
    let events = watcher(
        api,
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    )
    .default_backoff()
    .applied_objects();
    actix_web::rt::spawn(async move {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(map) => apply(&trust, &sources, &map),
                Err(e) => tracing::warn!(error = %e, "watching ConfigMap kube-system/{name}"),
            }
        }
    });
    Ok(())
}

fn apply(trust: &Trust, sources: &Sources, map: &ConfigMap) {
    let data = map.data.clone().unwrap_or_default();
    let problems = trust.apply_config_map(sources, &data);
    for problem in &problems {
        tracing::warn!(%problem, "ConfigMap extension-apiserver-authentication: keeping the previous value");
    }
    tracing::info!(
        client_ca_certificates = trust
            .client_ca
            .load()
            .as_ref()
            .map_or(0, |p| p.certificates),
        requestheader_ca_certificates = trust
            .request_header
            .load()
            .as_ref()
            .map_or(0, |r| r.ca.certificates),
        "authentication settings from ConfigMap kube-system/extension-apiserver-authentication"
    );
}
