//! The real Prometheus backend: `/api/v1/series` and `/api/v1/query` over awc and rustls, GET or POST
//! (POST whenever a query would make a long URL), extra headers, a bearer token file re-read on every call
//! (so rotation is picked up), and `timeout=` sent with every query. Answers are decoded as upstream's
//! client does, with its error texts.

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use adapter_actors::prom::{PromBackend, PromError, QueryResult};
use adapter_config::SeriesSet;
use adapter_config::label_discovery::{LabelQuestion, read_string_list};
use adapter_config::series_answer::{AnswerError, read_answer_from};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;

use crate::backends::credentials::{AuthError, Authorization, Credentials};

/// Above this many bytes of parameters, GET becomes POST.
const LONG_QUERY: usize = 4096;
/// Largest answer read.
const BODY_LIMIT: usize = 1 << 30;

/// Connection settings of one backend: from the `--prometheus-*` flags, or a rules file's `backends:`
/// entry ([`Settings::for_backend`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `default` for the flags' backend, else its `backends:` key (messages and metrics).
    pub name: String,
    /// `--prometheus-url`, or the backend's URLs: replicas tried in order.
    pub urls: Vec<String>,
    /// `--prometheus-verb`.
    pub verb: String,
    /// `--prometheus-header` (`name=value`).
    pub headers: Vec<String>,
    /// `--prometheus-token-file`.
    pub token_file: Option<PathBuf>,
    /// `--prometheus-ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--prometheus-client-tls-cert-file` and key.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Per-call timeout.
    pub timeout: Duration,
    /// From `--prometheus-auth-config` or `--prometheus-auth-incluster`; ignored with `ca_file`.
    pub auth: Option<crate::backends::prometheus_auth::Auth>,
    /// Extra query parameters for every call.
    pub query_params: Vec<(String, String)>,
    /// The tenant header's name, when the backend has one.
    pub tenant_header: Option<String>,
    /// How long a failed URL is skipped while others are tried first.
    pub backoff: Duration,
    /// How calls authenticate: a `backends:` entry's method, or the flags' (`--prometheus-sigv4-*`, …).
    pub credentials: Option<adapter_config::backend_credentials::Credentials>,
}

impl Settings {
    /// The `--prometheus-*` flags' backend, the default one.
    pub fn from_flags(flags: &crate::flags::ServeFlags) -> anyhow::Result<Self> {
        Ok(Self {
            name: "default".to_string(),
            urls: vec![flags.prometheus_url.clone()],
            verb: flags.prometheus_verb.clone(),
            headers: flags.prometheus_headers.clone(),
            token_file: (!flags.prometheus_token_file.is_empty())
                .then(|| flags.prometheus_token_file.clone().into()),
            ca_file: (!flags.prometheus_ca_file.is_empty())
                .then(|| flags.prometheus_ca_file.clone().into()),
            client_cert: (!flags.prometheus_client_tls_cert_file.is_empty()
                && !flags.prometheus_client_tls_key_file.is_empty())
            .then(|| {
                (
                    flags.prometheus_client_tls_cert_file.clone().into(),
                    flags.prometheus_client_tls_key_file.clone().into(),
                )
            }),
            timeout: flags.prometheus_timeout,
            auth: match (
                flags.prometheus_auth_incluster,
                flags.prometheus_auth_config.as_str(),
            ) {
                (true, "") => Some(crate::backends::prometheus_auth::in_cluster()?),
                (true, _) => bail!(
                    "may not use both in-cluster auth and an explicit kubeconfig at the same time"
                ),
                (false, "") => None,
                (false, path) => Some(crate::backends::prometheus_auth::from_kubeconfig(
                    std::path::Path::new(path),
                )?),
            },
            query_params: Vec::new(),
            tenant_header: None,
            backoff: adapter_config::backend_routes::DEFAULT_BACKOFF,
            credentials: flags
                .credentials
                .credentials(&flags.prometheus_token_file)?,
        })
    }

    /// The settings of a rules-file backend; `default_timeout` (`--prometheus-timeout`) when it has none.
    pub fn for_backend(spec: &adapter_config::Backend, default_timeout: Duration) -> Self {
        Self {
            name: spec.name.clone(),
            urls: spec.urls.clone(),
            verb: if spec.post { "POST" } else { "GET" }.to_string(),
            headers: spec
                .headers
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            token_file: spec.token_file.as_ref().map(PathBuf::from),
            ca_file: spec.ca_file.as_ref().map(PathBuf::from),
            client_cert: spec
                .client_cert
                .as_ref()
                .map(|(c, k)| (PathBuf::from(c), PathBuf::from(k))),
            timeout: spec.timeout.unwrap_or(default_timeout),
            auth: None,
            query_params: spec.query_params.clone(),
            tenant_header: spec.tenant.as_ref().map(|t| t.header.clone()),
            backoff: spec.backoff,
            credentials: spec.credentials.clone(),
        }
    }

    /// How to name a setting in messages: the flag for the default backend, the key for the others.
    fn setting(&self, flag: &str, key: &str) -> String {
        if self.name == "default" {
            format!("--prometheus-{flag}")
        } else {
            format!("backends.{}.{key}", self.name)
        }
    }
}

/// One URL of a backend, and until when it is skipped after a failure.
struct Replica {
    base: url::Url,
    down_until: Cell<Option<tokio::time::Instant>>,
}

/// What every call of one backend shares.
struct Inner {
    name: String,
    client: awc::Client,
    replicas: Vec<Replica>,
    post: bool,
    headers: Vec<(String, String)>,
    token_file: Option<PathBuf>,
    query_params: Vec<(String, String)>,
    tenant_header: Option<String>,
    timeout: Duration,
    backoff: Duration,
    telemetry: Arc<crate::telemetry::Telemetry>,
    credentials: Option<Credentials>,
    /// Whether the last authentication failed: a change of state is logged, not every failure.
    auth_failing: Cell<bool>,
}

/// The awc-based backend. Not `Send` (awc is not): build it on the actors' thread.
pub struct HttpPrometheus {
    inner: Rc<Inner>,
}

impl HttpPrometheus {
    /// Validates the settings and builds the client (fatal errors as upstream: bad URL, verb, CA).
    pub fn new(
        settings: &Settings,
        telemetry: Arc<crate::telemetry::Telemetry>,
    ) -> anyhow::Result<Self> {
        let mut replicas = Vec::new();
        for url in &settings.urls {
            let base = url::Url::parse(url)
                .with_context(|| format!("invalid {} {url:?}", settings.setting("url", "url")))?;
            telemetry.observe_backend_url(&settings.name, base.as_str(), true);
            replicas.push(Replica {
                base,
                down_until: Cell::new(None),
            });
        }
        if replicas.is_empty() {
            bail!("{} needs a URL", settings.setting("url", "url"));
        }
        let post = match settings.verb.as_str() {
            "GET" => false,
            "POST" => true,
            other => bail!(
                "unsupported {} {other:?}: use GET or POST",
                settings.setting("verb", "verb")
            ),
        };
        // As upstream: a CA file builds a fresh transport and the auth flags are ignored.
        let auth = if settings.ca_file.is_some() {
            None
        } else {
            settings.auth.clone()
        };
        let mut headers: Vec<(String, String)> =
            auth.as_ref().map(|a| a.headers.clone()).unwrap_or_default();
        headers.extend(settings.headers.iter().map(|h| {
            let (name, value) = h.split_once('=').unwrap_or((h.as_str(), ""));
            (name.to_string(), value.to_string())
        }));
        let tls = client_tls(settings, auth.as_ref())?;
        let token_file = settings
            .token_file
            .clone()
            .or_else(|| auth.as_ref().and_then(|a| a.token_file.clone()));
        let client = crate::backends::client_tls::http_client(tls, settings.timeout);
        let credentials = settings
            .credentials
            .as_ref()
            .map(|c| Credentials::new(&settings.name, c, client.clone(), settings.timeout));
        if let Some(file) = &token_file {
            std::fs::read(file).with_context(|| {
                format!(
                    "unable to read {} {}",
                    settings.setting("token-file", "tokenFile"),
                    file.display()
                )
            })?;
        }
        Ok(Self {
            inner: Rc::new(Inner {
                name: settings.name.clone(),
                client,
                replicas,
                post,
                headers,
                token_file,
                query_params: settings.query_params.clone(),
                tenant_header: settings.tenant_header.clone(),
                timeout: settings.timeout,
                backoff: settings.backoff,
                telemetry,
                credentials,
                auth_failing: Cell::new(false),
            }),
        })
    }

    fn call(
        &self,
        endpoint: &'static str,
        mut params: Vec<(String, String)>,
        tenant: Option<&str>,
    ) -> LocalBoxFuture<'static, Result<(u16, Body), PromError>> {
        let inner = self.inner.clone();
        params.extend(inner.query_params.iter().cloned());
        let tenant = tenant.map(str::to_string);
        // The verb and encoded parameters are the same at every URL tried: made once.
        let long = params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > LONG_QUERY;
        // The label-values endpoint is GET only (`/api/v1/labels` takes both).
        let post = (inner.post || long) && endpoint != LabelQuestion::MetricNames.endpoint();
        // Encoded as SigV4 canonicalizes (RFC 3986's unreserved characters kept, all else %XX), so a
        // signature computed over the URL or body is the one any verifier recomputes; Prometheus reads
        // it alike.
        let encoded = encode_params(&params);
        Box::pin(async move {
            let now = tokio::time::Instant::now();
            let deadline = now + inner.timeout;
            let authorization = inner.authorization(deadline).await?;
            // Healthy URLs first, in their order; skipped ones after, in case every URL failed lately.
            let (healthy, skipped): (Vec<usize>, Vec<usize>) = (0..inner.replicas.len())
                .partition(|&i| inner.replicas[i].down_until.get().is_none_or(|t| t <= now));
            let order: Vec<usize> = healthy.into_iter().chain(skipped).collect();
            let mut last_error = None;
            for (attempt, &i) in order.iter().enumerate() {
                let left = order.len() - attempt;
                let last = left == 1;
                // Each URL still to try gets an equal share of what is left of the deadline.
                let share = deadline
                    .saturating_duration_since(tokio::time::Instant::now())
                    .checked_div(left as u32)
                    .unwrap_or_default();
                if share.is_zero() {
                    break;
                }
                let replica = &inner.replicas[i];
                match inner
                    .attempt(
                        replica,
                        endpoint,
                        (post, &encoded),
                        (tenant.as_deref(), authorization.as_ref()),
                        share,
                    )
                    .await
                {
                    Ok((status, body)) if last || status < 500 => {
                        inner.mark(replica, None);
                        return Ok((status, body));
                    }
                    Ok((status, _)) => {
                        let error =
                            PromError::Unavailable(format!("{} answered {status}", replica.base));
                        inner.mark(replica, Some(&error));
                        last_error = Some(error);
                    }
                    Err(error) => {
                        inner.mark(replica, Some(&error));
                        if last {
                            return Err(error);
                        }
                        last_error = Some(error);
                    }
                }
            }
            Err(last_error.unwrap_or(PromError::Timeout(inner.timeout)))
        })
    }
}

impl Inner {
    fn url(base: &url::Url, endpoint: &str) -> url::Url {
        let mut url = base.clone();
        let path = format!("{}/api/v1/{endpoint}", base.path().trim_end_matches('/'));
        url.set_path(&path);
        url.set_query(None);
        url
    }

    /// Records a URL's result: `failed` marks it skipped for the back-off, success clears that.
    fn mark(&self, replica: &Replica, failed: Option<&PromError>) {
        let url = replica.base.as_str();
        match failed {
            Some(error) => {
                if self.replicas.len() > 1 {
                    tracing::warn!(backend = %self.name, %url, %error, backoff = ?self.backoff, "backend URL failed; it is tried last until its back-off ends");
                }
                replica
                    .down_until
                    .set(Some(tokio::time::Instant::now() + self.backoff));
                self.telemetry.observe_backend_url(&self.name, url, false);
            }
            None => {
                if replica.down_until.take().is_some() && self.replicas.len() > 1 {
                    tracing::info!(backend = %self.name, %url, "backend URL answers again");
                }
                self.telemetry.observe_backend_url(&self.name, url, true);
            }
        }
    }

    /// What a call carries to authenticate, had within `deadline`. A failure fails the call (a 503 for
    /// this backend's metrics naming the step that failed), is counted, and logged when the state
    /// changes (not at every call while a token endpoint is down).
    async fn authorization(
        &self,
        deadline: tokio::time::Instant,
    ) -> Result<Option<Authorization>, PromError> {
        let Some(credentials) = &self.credentials else {
            return Ok(None);
        };
        let result = match tokio::time::timeout_at(deadline, credentials.authorization()).await {
            Ok(result) => result,
            Err(_) => Err(AuthError {
                method: credentials.method(),
                backend: self.name.clone(),
                step: "fetching credentials",
                detail: format!("no answer within {:?}", self.timeout),
            }),
        };
        match result {
            Ok(authorization) => {
                if self.auth_failing.replace(false) {
                    tracing::info!(backend = %self.name, method = credentials.method(), "backend authentication works again");
                }
                Ok(Some(authorization))
            }
            Err(error) => {
                self.telemetry
                    .observe_auth_failure(&self.name, credentials.method());
                if !self.auth_failing.replace(true) {
                    tracing::warn!(backend = %self.name, %error, "backend authentication failed; its metrics answer 503 until it works");
                }
                Err(PromError::Auth {
                    public: error.public(),
                    cause: error.detail,
                })
            }
        }
    }

    /// One request to one URL, bounded by `timeout`: POST with `encoded` as its body, or GET with it as
    /// the query.
    async fn attempt(
        &self,
        replica: &Replica,
        endpoint: &'static str,
        (post, encoded): (bool, &str),
        (tenant, authorization): (Option<&str>, Option<&Authorization>),
        timeout: Duration,
    ) -> Result<(u16, Body), PromError> {
        let mut url = Self::url(&replica.base, endpoint);
        let body = if post {
            encoded.to_string()
        } else {
            url.set_query(Some(encoded));
            String::new()
        };
        let mut request = if post {
            self.client.post(url.as_str())
        } else {
            self.client.get(url.as_str())
        };
        request = request.timeout(timeout);
        if endpoint != "series" {
            // Query and label answers are small: compressing them costs more than it saves. Series
            // answers (discovery, up to hundreds of MB) keep gzip.
            request = request.insert_header(("Accept-Encoding", "identity"));
        }
        for (name, value) in &self.headers {
            request = request.append_header((name.as_str(), value.as_str()));
        }
        if let (Some(header), Some(tenant)) = (&self.tenant_header, tenant) {
            request = request.insert_header((header.as_str(), tenant));
        }
        let token = self
            .token_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok());
        if let Some(token) = token {
            request =
                request.insert_header(("Authorization", format!("Bearer {}", token.trim_end())));
        }
        let verb = if post { "POST" } else { "GET" };
        if let Some(authorization) = authorization {
            let headers = authorization
                .headers(verb, url.as_str(), body.as_bytes())
                .map_err(PromError::Unavailable)?;
            for (name, value) in headers {
                request = request.insert_header((name, value));
            }
        }
        // Wall time for a self-metric, on the HTTP side of the actors.
        #[allow(clippy::disallowed_methods, reason = "latency self-metric")]
        let started = std::time::Instant::now();
        let sent = if post {
            request
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .send_body(body)
                .await
        } else {
            request.send().await
        };
        let response = sent.map_err(|e| match e {
            awc::error::SendRequestError::Timeout => PromError::Timeout(timeout),
            e => PromError::Unavailable(format!("{verb} {url}: {e}")),
        })?;
        let status = response.status().as_u16();
        let path = format!("/api/v1/{endpoint}");
        self.telemetry
            .observe_prometheus(&path, replica.base.as_str(), started.elapsed());
        tracing::debug!(verb, %url, status, "prometheus request");
        let body: Body = Box::pin(response.map(|chunk| {
            chunk.map_err(|e| PromError::Unavailable(format!("reading answer: {e}")))
        }));
        Ok((status, body))
    }
}

impl PromBackend for HttpPrometheus {
    fn series(
        &self,
        matcher: &str,
        start: f64,
        end: f64,
        tenant: Option<&str>,
    ) -> LocalBoxFuture<'static, Result<SeriesSet, PromError>> {
        let params = selector_params(matcher, start, end);
        let call = self.call("series", params, tenant);
        Box::pin(async move {
            let (status, body) = call.await?;
            check_status(status)?;
            read_series_streaming(body).await
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
        let params = selector_params(matcher, start, end);
        let call = self.call(question.endpoint(), params, tenant);
        Box::pin(async move {
            let (status, body) = call.await?;
            check_status(status)?;
            let body = collect(body).await?;
            read_string_list(&body).map_err(answer_error)
        })
    }

    fn query(
        &self,
        promql: &str,
        time: f64,
        timeout: Duration,
        tenant: Option<&str>,
    ) -> LocalBoxFuture<'static, Result<QueryResult, PromError>> {
        let params = vec![
            ("query".into(), promql.to_string()),
            ("time".into(), format!("{time:.3}")),
            ("timeout".into(), format!("{}ms", timeout.as_millis())),
        ];
        let call = self.call("query", params, tenant);
        Box::pin(async move {
            let (status, body) = call.await?;
            check_status(status)?;
            let body = collect(body).await?;
            decode_query(&body)
        })
    }
}

/// The parameters of the metadata endpoints (series, labels, label values): a selector over a window.
fn selector_params(matcher: &str, start: f64, end: f64) -> Vec<(String, String)> {
    vec![
        ("match[]".into(), matcher.to_string()),
        ("start".into(), format!("{start:.3}")),
        ("end".into(), format!("{end:.3}")),
    ]
}

/// A response body as a stream of chunks.
type Body = futures_util::stream::LocalBoxStream<'static, Result<actix_web::web::Bytes, PromError>>;

/// Reads a whole (small) body, up to the limit.
async fn collect(mut body: Body) -> Result<Vec<u8>, PromError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk?);
        if out.len() > BODY_LIMIT {
            return Err(PromError::Unavailable(format!(
                "answer larger than {BODY_LIMIT} bytes"
            )));
        }
    }
    Ok(out)
}

/// Parses a `/api/v1/series` answer as it arrives: chunks go through a small bounded channel to a
/// blocking task running the streaming reader, so memory holds a few chunks and the distinct
/// (name, label-name set) entries — never the answer (hundreds of MB for a million series).
async fn read_series_streaming(mut body: Body) -> Result<SeriesSet, PromError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<actix_web::web::Bytes>(8);
    let parser = tokio::task::spawn_blocking(move || {
        let mut set = SeriesSet::new();
        let reader = std::io::BufReader::with_capacity(
            1 << 16,
            ChunkReader {
                rx,
                current: Default::default(),
            },
        );
        read_answer_from(reader, &mut set).map(|()| set)
    });
    let mut failed = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            // A closed channel means the parser already stopped (on an error it reports below).
            Ok(chunk) => {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Err(error) => {
                failed = Some(error);
                break;
            }
        }
    }
    drop(tx);
    let parsed = parser
        .await
        .map_err(|e| PromError::Unavailable(format!("series parser failed: {e}")))?;
    if let Some(error) = failed {
        return Err(error);
    }
    parsed.map_err(answer_error)
}

/// `io::Read` over chunks arriving on a channel (used on a blocking thread).
struct ChunkReader {
    rx: tokio::sync::mpsc::Receiver<actix_web::web::Bytes>,
    current: actix_web::web::Bytes,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Upstream's client decodes 2xx, 400, 422 and 503 answers; anything else is an unknown code.
fn check_status(status: u16) -> Result<(), PromError> {
    match status {
        200..=299 | 400 | 422 | 503 => Ok(()),
        other => Err(PromError::Status(other)),
    }
}

/// Decodes an `/api/v1/query` answer (the core reads it; errors become the client's, as for series).
pub fn decode_query(body: &[u8]) -> Result<QueryResult, PromError> {
    adapter_config::query_answer::read_query_answer(body).map_err(answer_error)
}

/// A Prometheus answer the core could not read, or an error Prometheus answered.
fn answer_error(error: AnswerError) -> PromError {
    match error {
        AnswerError::Decode(m) => PromError::Unavailable(format!("bad_response: {m}")),
        AnswerError::Prometheus { error_type, error } => PromError::Api {
            error_type,
            message: error,
        },
    }
}

fn client_tls(
    settings: &Settings,
    auth: Option<&crate::backends::prometheus_auth::Auth>,
) -> anyhow::Result<rustls::ClientConfig> {
    let ca_pem = match (&settings.ca_file, auth.and_then(|a| a.ca_pem.clone())) {
        (Some(file), _) => Some(std::fs::read(file).with_context(|| {
            format!(
                "unable to read {} {}",
                settings.setting("ca-file", "caFile"),
                file.display()
            )
        })?),
        (None, pem) => pem,
    };
    let client_pem = match (&settings.ca_file, &settings.client_cert) {
        // Upstream uses the client pair only together with --prometheus-ca-file (a backend's too).
        (Some(_), Some((cert, key))) => Some((
            std::fs::read(cert).with_context(|| format!("unable to read {}", cert.display()))?,
            std::fs::read(key).with_context(|| format!("unable to read {}", key.display()))?,
        )),
        (Some(_), None) => None,
        (None, _) => auth.and_then(|a| a.client_pem.clone()),
    };
    crate::backends::client_tls::client_config(
        ca_pem.as_deref(),
        client_pem
            .as_ref()
            .map(|(c, k)| (c.as_slice(), k.as_slice())),
    )
    .context("the Prometheus TLS settings")
}

/// RFC 3986's unreserved characters: what SigV4's canonical query leaves unencoded.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `params` as a query string or form body, every byte outside the unreserved set percent-encoded.
fn encode_params(params: &[(String, String)]) -> String {
    let encode = |text: &str| percent_encoding::utf8_percent_encode(text, QUERY_VALUE).to_string();
    params
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_answers_decode() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1700000000.5,"1.25"]},{"metric":{},"value":[1,"NaN"]}]}}"#;
        let QueryResult::Vector(samples) = decode_query(vector).unwrap() else {
            panic!("vector")
        };
        assert_eq!(
            (
                samples[0].labels["pod"].as_str(),
                samples[0].value,
                samples[0].timestamp
            ),
            ("a", 1.25, 1_700_000_000.5)
        );
        assert!(samples[1].value.is_nan());
        assert_eq!(
            decode_query(
                br#"{"status":"success","data":{"resultType":"scalar","result":[2,"+Inf"]}}"#
            )
            .unwrap(),
            QueryResult::Scalar(f64::INFINITY, 2.0)
        );
        assert_eq!(
            decode_query(br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#)
                .unwrap(),
            QueryResult::Unexpected("matrix")
        );
        assert_eq!(
            decode_query(
                br#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#
            ),
            Err(PromError::Api {
                error_type: "bad_data".into(),
                message: "parse error at char 3".into()
            })
        );
        assert!(
            matches!(decode_query(b"<html>"), Err(PromError::Unavailable(m)) if m.contains("bad_response"))
        );
        assert!(check_status(414).is_err());
        assert!(check_status(422).is_ok());
    }
}
