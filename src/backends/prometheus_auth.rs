//! `--prometheus-auth-config` (a kubeconfig whose auth and TLS settings reach Prometheus; its server URL
//! is ignored) and `--prometheus-auth-incluster` (the pod's service-account token and cluster CA), as
//! upstream. `--prometheus-ca-file` overrides both, also as upstream.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use serde::Deserialize;

/// What reaches Prometheus from a kubeconfig or the service account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// PEM CA bundle.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate and key.
    pub client_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// Extra headers (basic auth, static token).
    pub headers: Vec<(String, String)>,
    /// A token file re-read per request.
    pub token_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<KubeContext>>,
    #[serde(default)]
    current_context: String,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    #[serde(default)]
    certificate_authority: Option<String>,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct User {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    token_file: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
}

#[derive(Deserialize, Default)]
struct KubeContext {
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    user: String,
}

/// Inline `*-data` (base64) or a file path relative to the kubeconfig.
fn material(
    base: &Path,
    data: &Option<String>,
    file: &Option<String>,
    what: &str,
) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(data) = data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .with_context(|| format!("{what}-data is not base64"))?;
        return Ok(Some(bytes));
    }
    match file {
        Some(file) => {
            let path = base.join(file);
            Ok(Some(std::fs::read(&path).with_context(|| {
                format!("unable to read {what} {}", path.display())
            })?))
        }
        None => Ok(None),
    }
}

/// Reads the current context's cluster TLS and user credentials.
pub fn from_kubeconfig(path: &Path) -> anyhow::Result<Auth> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("unable to read --prometheus-auth-config {}", path.display()))?;
    from_kubeconfig_text(&text, path.parent().unwrap_or(Path::new(".")))
        .with_context(|| format!("--prometheus-auth-config {}", path.display()))
}

/// As `from_kubeconfig`, for the file's `text`; files it names are read relative to `base`.
pub fn from_kubeconfig_text(text: &str, base: &Path) -> anyhow::Result<Auth> {
    let config: Kubeconfig = serde_saphyr::from_str(text)?;
    let context = config
        .contexts
        .iter()
        .find(|c| c.name == config.current_context)
        .or(config.contexts.first())
        .map(|c| &c.value);
    let cluster = context
        .and_then(|ctx| config.clusters.iter().find(|c| c.name == ctx.cluster))
        .map(|c| &c.value);
    let user = context
        .and_then(|ctx| config.users.iter().find(|u| u.name == ctx.user))
        .map(|u| &u.value);
    let mut auth = Auth::default();
    if let Some(cluster) = cluster {
        if cluster.insecure_skip_tls_verify {
            bail!("insecure-skip-tls-verify is not supported; give certificate-authority");
        }
        auth.ca_pem = material(
            base,
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
            "certificate-authority",
        )?;
    }
    if let Some(user) = user {
        let cert = material(
            base,
            &user.client_certificate_data,
            &user.client_certificate,
            "client-certificate",
        )?;
        let key = material(base, &user.client_key_data, &user.client_key, "client-key")?;
        auth.client_pem = cert.zip(key);
        if let Some(token) = &user.token {
            auth.headers
                .push(("Authorization".into(), format!("Bearer {token}")));
        } else if let Some(file) = &user.token_file {
            auth.token_file = Some(base.join(file));
        } else if let (Some(user), Some(password)) = (&user.username, &user.password) {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            auth.headers
                .push(("Authorization".into(), format!("Basic {basic}")));
        }
    }
    Ok(auth)
}

/// The pod's service account: its token (re-read per request) and the cluster CA.
pub fn in_cluster() -> anyhow::Result<Auth> {
    let dir = Path::new("/var/run/secrets/kubernetes.io/serviceaccount");
    let ca = std::fs::read(dir.join("ca.crt"))
        .context("--prometheus-auth-incluster: no service-account CA")?;
    Ok(Auth {
        ca_pem: Some(ca),
        client_pem: None,
        headers: Vec::new(),
        token_file: Some(dir.join("token")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_credentials_are_read_from_the_current_context() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "CA").unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let config = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: prom\nclusters:\n- name: other\n  cluster: {{server: https://x}}\n- name: p\n  cluster: {{server: https://ignored, certificate-authority: ca.pem}}\n\
             users:\n- name: u\n  user: {{client-certificate-data: {}, client-key-data: {}}}\n- name: b\n  user: {{username: ann, password: secret}}\n\
             contexts:\n- name: first\n  context: {{cluster: other, user: b}}\n- name: prom\n  context: {{cluster: p, user: u}}\n",
            b64("CERT"),
            b64("KEY")
        );
        std::fs::write(dir.path().join("kubeconfig"), config).unwrap();
        let auth = from_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
        assert_eq!(auth.ca_pem.as_deref(), Some(&b"CA"[..]));
        assert_eq!(auth.client_pem, Some((b"CERT".to_vec(), b"KEY".to_vec())));
        assert!(auth.headers.is_empty());

        let basic = std::fs::read_to_string(dir.path().join("kubeconfig"))
            .unwrap()
            .replace("current-context: prom", "current-context: first");
        std::fs::write(dir.path().join("kubeconfig"), basic).unwrap();
        let auth = from_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
        assert_eq!(
            auth.headers,
            [(
                "Authorization".to_string(),
                format!("Basic {}", b64("ann:secret"))
            )]
        );
        assert_eq!(auth.ca_pem, None);
    }
}
