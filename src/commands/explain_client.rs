//! `prometheus-adapter explain --server URL`: the same question the offline command answers, asked of a
//! running adapter's `GET /debug/explain`, through the kube client (so kubeconfig credentials — client
//! certificates, tokens, exec plugins — work as with kubectl), printing the answer's `text`: the same
//! text the offline command prints.

use anyhow::{Context, Result, anyhow, bail};

use crate::commands::cli::{Explain, ResourceMetric};

/// Asks the adapter at `args.server` and answers the text to print.
pub fn ask(args: &Explain) -> Result<String> {
    let server = args
        .server
        .as_deref()
        .ok_or_else(|| anyhow!("--server or --config is needed"))?;
    let target = format!("/debug/explain{}", query(args));
    actix_web::rt::System::new().block_on(async move {
        let client = kube::Client::try_from(config(args, server).await?)
            .context("building the client for --server")?;
        let request = http::Request::get(&target)
            .body(Vec::new())
            .context("the explain request")?;
        let body = client
            .request_text(request)
            .await
            .with_context(|| format!("GET {server}{target}"))?;
        let answer: serde_json::Value =
            serde_json::from_str(&body).with_context(|| format!("{server}: not an explanation"))?;
        match answer["text"].as_str() {
            Some(text) => Ok(text.to_string()),
            None => bail!("{server}: the answer has no text: {body}"),
        }
    })
}

/// The question as `/debug/explain` parameters.
fn query(args: &Explain) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(custom) = &args.custom {
        pairs.push(("custom", custom.clone()));
    }
    if let Some(external) = &args.external {
        pairs.push(("external", external.clone()));
    }
    if let Some(which) = args.resource_metric {
        let usage = if which == ResourceMetric::Cpu {
            "cpu"
        } else {
            "memory"
        };
        pairs.push(("resource", usage.to_string()));
    }
    // Resource metrics of nodes are asked without a namespace.
    if let Some(namespace) = args.namespace.as_ref().filter(|_| !args.nodes) {
        pairs.push(("namespace", namespace.clone()));
    }
    if !args.names.is_empty() {
        pairs.push(("names", args.names.join(",")));
    }
    if !args.metric_selector.is_empty() {
        pairs.push(("metricSelector", args.metric_selector.clone()));
    }
    if pairs.is_empty() {
        return String::new();
    }
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect();
    format!("?{}", encoded.join("&"))
}

/// A client config for the adapter at `server`: the kubeconfig's credentials if given, the explicit
/// flags over them.
async fn config(args: &Explain, server: &str) -> Result<kube::Config> {
    let url: http::Uri = server
        .parse()
        .with_context(|| format!("--server {server}"))?;
    let mut config = match &args.kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("--kubeconfig {}", path.display()))?;
            let mut config = kube::Config::from_custom_kubeconfig(file, &Default::default())
                .await
                .with_context(|| format!("--kubeconfig {}", path.display()))?;
            // The kubeconfig's CA is the cluster's, not the adapter's.
            config.root_cert = None;
            config.cluster_url = url;
            config
        }
        None => kube::Config::new(url),
    };
    if let Some(ca) = &args.certificate_authority {
        config.root_cert_file = Some(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&args.client_certificate, &args.client_key) {
        config.auth_info.client_certificate = Some(cert.display().to_string());
        config.auth_info.client_key = Some(key.display().to_string());
        config.auth_info.client_certificate_data = None;
        config.auth_info.client_key_data = None;
    }
    if let Some(token) = &args.token {
        let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .context("--token: not a valid header value")?;
        config.headers.push((http::header::AUTHORIZATION, value));
    }
    config.accept_invalid_certs = args.insecure_skip_tls_verify;
    Ok(config)
}
