//! Router mode (ours): a cluster registers one APIService per group-version, so a user of KEDA (external
//! metrics) or metrics-server (`metrics.k8s.io`) could not also run us for that group. With
//! `--forward-unknown-metrics-to GROUP=URL`, requests for metrics of GROUP that our rules do not serve go
//! to that server, as kube-apiserver's aggregator would send them: over TLS with our front-proxy client
//! certificate, the caller's identity (already authenticated and authorized by us) in
//! `X-Remote-User`/`-Group`/`-Extra-*`, and a deadline. The **Forwarder** actor owns the client; the
//! HTTP side decides what is ours ([`crate::api`]).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, ResponseFuture, Supervised};
use actix_web::web::Bytes;
use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::groups::{CUSTOM, EXTERNAL, RESOURCE};

/// How long their discovery document is reused before it is asked again.
const DISCOVERY_TTL: Duration = Duration::from_secs(30);
/// How soon a failed discovery call is tried again (meanwhile their last answer, if any, is used).
const DISCOVERY_RETRY: Duration = Duration::from_secs(5);
/// Largest answer taken from them.
const BODY_LIMIT: usize = 64 << 20;

/// Where each group's unknown metrics go, from `--forward-unknown-metrics-to GROUP=URL`.
pub fn parse_targets(flags: &[String]) -> anyhow::Result<HashMap<&'static str, url::Url>> {
    let mut targets = HashMap::new();
    for flag in flags {
        let Some((group, url)) = flag.split_once('=') else {
            bail!("--forward-unknown-metrics-to {flag:?}: use GROUP=https://host:port");
        };
        let Some(group) = [CUSTOM, EXTERNAL, RESOURCE]
            .into_iter()
            .find(|g| *g == group)
        else {
            bail!(
                "--forward-unknown-metrics-to {flag:?}: the group must be {CUSTOM}, {EXTERNAL} or {RESOURCE}"
            );
        };
        let url = url::Url::parse(url)
            .with_context(|| format!("--forward-unknown-metrics-to {flag:?}: invalid URL"))?;
        if !matches!(url.scheme(), "https" | "http") {
            bail!("--forward-unknown-metrics-to {flag:?}: the URL must be https://");
        }
        if targets.insert(group, url).is_some() {
            bail!("--forward-unknown-metrics-to: {group} is given twice");
        }
    }
    Ok(targets)
}

/// The forwarding settings from the flags.
pub struct Settings {
    /// Group → base URL.
    pub targets: HashMap<&'static str, url::Url>,
    /// `--forward-ca-file`.
    pub ca_file: Option<String>,
    /// `--forward-client-cert-file` and key.
    pub client_cert: Option<(String, String)>,
    /// `--forward-timeout`.
    pub timeout: Duration,
}

impl Settings {
    /// Router mode's settings, when `--forward-unknown-metrics-to` is given (checked before anything
    /// starts).
    pub fn from_flags(flags: &crate::flags::ServeFlags) -> anyhow::Result<Option<Self>> {
        if flags.forward_unknown_metrics_to.is_empty() {
            return Ok(None);
        }
        let file = |path: &str| (!path.is_empty()).then(|| path.to_string());
        let client_cert = match (
            file(&flags.forward_client_cert_file),
            file(&flags.forward_client_key_file),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("--forward-client-cert-file and --forward-client-key-file go together"),
        };
        Ok(Some(Self {
            targets: parse_targets(&flags.forward_unknown_metrics_to)?,
            ca_file: file(&flags.forward_ca_file),
            client_cert,
            timeout: flags.forward_timeout,
        }))
    }
}

/// Send this request to the group's other server.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Forwarded, ForwardError>")]
pub struct Forward {
    /// The API group the request is for.
    pub group: &'static str,
    /// Path and query as the caller sent them.
    pub path_and_query: String,
    /// The caller's `Accept` (JSON or protobuf).
    pub accept: Option<String>,
    /// Who the caller is, as we authenticated them, in the aggregator's headers (`X-Remote-User`,
    /// `-Group`, `-Extra-*`; none on always-allowed paths).
    pub caller: Vec<(String, String)>,
}

/// Their answer.
#[derive(Debug, Clone)]
pub struct Forwarded {
    /// Their status code.
    pub status: u16,
    /// Their `Content-Type`.
    pub content_type: Option<String>,
    /// Their body (decompressed).
    pub body: Bytes,
}

/// Why there is no answer from them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ForwardError {
    /// No target for the group.
    #[error("no forwarding target for {0}")]
    NoTarget(&'static str),
    /// They could not be reached, or answered garbage.
    #[error("the metrics server for {group} at {url} is unavailable: {cause}")]
    Unavailable {
        /// The group.
        group: &'static str,
        /// Their URL.
        url: String,
        /// What failed.
        cause: String,
    },
}

/// Their resources of `group/version` for our discovery document; `None` when they have none (or never
/// answered). A failed refresh keeps the last answer. Asked as the caller of our discovery (their
/// answer is shared by every caller for its TTL: discovery does not differ by user).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<Arc<Vec<Value>>>")]
pub struct TheirResources {
    /// The group.
    pub group: &'static str,
    /// The version.
    pub version: String,
    /// Who asked us, as in `Forward::caller`.
    pub caller: Vec<(String, String)>,
}

/// A name both of us serve: ours is listed, theirs is not (logged once per name).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Clash {
    /// `group/version/resource`.
    pub name: String,
}

/// The forwarder actor.
pub struct Forwarder {
    client: awc::Client,
    targets: Rc<HashMap<&'static str, url::Url>>,
    timeout: Duration,
    discovery: Rc<RefCell<HashMap<String, Discovered>>>,
    clashes: HashSet<String>,
}

/// Their discovery of one group-version and when it was asked.
struct Discovered {
    /// When it is to be asked again.
    until: tokio::time::Instant,
    resources: Option<Arc<Vec<Value>>>,
}

impl Forwarder {
    /// Reads the CA and client certificate and builds the client (on the actors' thread: awc is not
    /// `Send`).
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let read = |path: &str| {
            std::fs::read(path).with_context(|| format!("unable to read {path} (--forward-*)"))
        };
        let ca = settings.ca_file.as_deref().map(read).transpose()?;
        let identity = match &settings.client_cert {
            Some((cert, key)) => Some((read(cert)?, read(key)?)),
            None => None,
        };
        let tls = crate::backends::client_tls::client_config(
            ca.as_deref(),
            identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        )
        .context("--forward-ca-file / --forward-client-cert-file")?;
        let client = crate::backends::client_tls::http_client(tls, settings.timeout);
        Ok(Self {
            client,
            targets: Rc::new(settings.targets.clone()),
            timeout: settings.timeout,
            discovery: Rc::default(),
            clashes: HashSet::new(),
        })
    }
}

impl Actor for Forwarder {
    type Context = Context<Self>;
}

impl Supervised for Forwarder {}

/// The caller's identity as the aggregator passes it on.
fn as_caller(mut request: awc::ClientRequest, caller: &[(String, String)]) -> awc::ClientRequest {
    for (name, value) in caller {
        request = request.append_header((name.as_str(), value.as_str()));
    }
    request
}

impl Handler<Forward> for Forwarder {
    type Result = ResponseFuture<Result<Forwarded, ForwardError>>;

    fn handle(&mut self, msg: Forward, _: &mut Context<Self>) -> Self::Result {
        let Some(base) = self.targets.get(msg.group) else {
            let group = msg.group;
            return Box::pin(async move { Err(ForwardError::NoTarget(group)) });
        };
        let url = format!(
            "{}{}",
            base.as_str().trim_end_matches('/'),
            msg.path_and_query
        );
        let mut request = self.client.get(&url).timeout(self.timeout);
        if let Some(accept) = &msg.accept {
            request = request.insert_header(("Accept", accept.as_str()));
        }
        let request = as_caller(request, &msg.caller);
        let group = msg.group;
        Box::pin(async move {
            let unavailable = |cause: String| ForwardError::Unavailable {
                group,
                url: url.clone(),
                cause,
            };
            let mut response = request
                .send()
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            let body = response
                .body()
                .limit(BODY_LIMIT)
                .await
                .map_err(|e| unavailable(format!("reading the answer: {e}")))?;
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            Ok(Forwarded {
                status: response.status().as_u16(),
                content_type,
                body,
            })
        })
    }
}

impl Handler<TheirResources> for Forwarder {
    type Result = ResponseFuture<Option<Arc<Vec<Value>>>>;

    fn handle(&mut self, msg: TheirResources, _: &mut Context<Self>) -> Self::Result {
        let key = format!("{}/{}", msg.group, msg.version);
        let now = tokio::time::Instant::now();
        if let Some(known) = self.discovery.borrow().get(&key)
            && now < known.until
        {
            let resources = known.resources.clone();
            return Box::pin(async move { resources });
        }
        let Some(base) = self.targets.get(msg.group) else {
            return Box::pin(async { None });
        };
        let url = format!("{}/apis/{key}", base.as_str().trim_end_matches('/'));
        // Discovery is ours to answer quickly: theirs gets a short deadline, and a failure keeps the
        // last answer for another TTL.
        let request = self
            .client
            .get(&url)
            .timeout(self.timeout.min(Duration::from_secs(2)));
        let request = as_caller(request, &msg.caller);
        let discovery = self.discovery.clone();
        Box::pin(async move {
            let fetched = async {
                let mut response = request.send().await.map_err(|e| e.to_string())?;
                match response.status().as_u16() {
                    200 => {}
                    404 => return Ok(None),
                    other => return Err(format!("answered {other}")),
                }
                let body = response
                    .body()
                    .limit(BODY_LIMIT)
                    .await
                    .map_err(|e| e.to_string())?;
                let list: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                let resources = list["resources"].as_array().cloned().unwrap_or_default();
                Ok::<_, String>(Some(Arc::new(resources)))
            }
            .await;
            let mut known = discovery.borrow_mut();
            let (resources, ttl) = match fetched {
                Ok(resources) => (resources, DISCOVERY_TTL),
                Err(error) => {
                    tracing::warn!(%url, %error, "discovery of the forwarding target failed; its last answer is used");
                    let last = known.get(&key).and_then(|k| k.resources.clone());
                    (last, DISCOVERY_RETRY)
                }
            };
            known.insert(
                key,
                Discovered {
                    until: tokio::time::Instant::now() + ttl,
                    resources: resources.clone(),
                },
            );
            resources
        })
    }
}

impl Handler<Clash> for Forwarder {
    type Result = ();

    fn handle(&mut self, msg: Clash, _: &mut Context<Self>) {
        if self.clashes.insert(msg.name.clone()) {
            tracing::warn!(name = %msg.name, "a forwarding target serves a metric we serve too: ours is served");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_metrics_group_and_a_url_once() {
        let targets = parse_targets(&[
            "external.metrics.k8s.io=https://keda-operator-metrics-apiserver.keda:443".into(),
            "metrics.k8s.io=https://metrics-server.kube-system/".into(),
        ])
        .unwrap();
        assert_eq!(
            targets[EXTERNAL].as_str(),
            "https://keda-operator-metrics-apiserver.keda/"
        );
        assert_eq!(targets.len(), 2);
        for (bad, says) in [
            ("external.metrics.k8s.io", "use GROUP=https://host:port"),
            ("apps=https://x", "the group must be"),
            ("metrics.k8s.io=ftp://x", "must be https://"),
            ("metrics.k8s.io=::", "invalid URL"),
        ] {
            let error = parse_targets(&[bad.into()]).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
        let twice = parse_targets(&[
            "metrics.k8s.io=https://a".into(),
            "metrics.k8s.io=https://b".into(),
        ]);
        assert!(twice.unwrap_err().to_string().contains("given twice"));
    }
}
