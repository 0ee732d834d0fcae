//! Whom the adapter trusts to vouch for a caller: the client CA (certificates whose CN/O are the user) and
//! the requestheader (front-proxy) CA with its allowed names and header names. Each comes from a flag's file
//! (re-read when it changes) or, by default, from the ConfigMap `kube-system/extension-apiserver-authentication`
//! (watched), and is swapped in whole, so a rotated CA applies to the next request without a restart.
//!
//! Certificates are checked here, per pool, after the handshake (the TLS layer accepts any client
//! certificate whose handshake signature is valid — see `peer`), as Go's apiserver does.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use arc_swap::ArcSwapOption;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};

/// A set of CA certificates client chains are verified against (for client-auth usage).
#[derive(Debug)]
pub struct CaPool {
    /// Unique per loaded bundle, so verifications cached per connection end with a rotation.
    pub id: u64,
    verifier: Arc<dyn ClientCertVerifier>,
    /// How many CA certificates the bundle held, for logs.
    pub certificates: usize,
}

impl CaPool {
    /// Parses a PEM bundle; a bundle without certificates is an error.
    pub fn from_pem(pem: &[u8]) -> anyhow::Result<Self> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots
                .add(cert.context("reading a PEM certificate")?)
                .context("adding a CA certificate")?;
        }
        if roots.is_empty() {
            bail!("no CA certificates found");
        }
        let certificates = roots.len();
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .build()
        .context("building a certificate verifier")?;
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Self {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            verifier,
            certificates,
        })
    }

    /// Whether `chain` (leaf first) leads to one of the pool's CAs and may be used for client auth.
    pub fn verify(&self, chain: &[CertificateDer<'static>]) -> Result<(), String> {
        let (leaf, intermediates) = chain.split_first().ok_or("no certificate")?;
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The front-proxy settings: whose certificate may assert a user in headers, and which headers.
#[derive(Debug)]
pub struct RequestHeader {
    pub ca: CaPool,
    pub names: HeaderNames,
}

/// The header names and allowed CNs for requestheader authentication (upstream's flag defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderNames {
    /// Accepted CNs of the proxy's certificate; empty = any certificate from the CA.
    pub allowed_names: Vec<String>,
    pub username_headers: Vec<String>,
    pub group_headers: Vec<String>,
    pub extra_prefixes: Vec<String>,
}

/// The current trust, read by every request, written by the sources below.
#[derive(Debug, Default)]
pub struct Trust {
    pub client_ca: ArcSwapOption<CaPool>,
    pub request_header: ArcSwapOption<RequestHeader>,
}

/// Where each part of the trust comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--client-ca-file`.
    pub client_ca_file: Option<PathBuf>,
    /// `--requestheader-client-ca-file` with the other `--requestheader-*` flags.
    pub request_header_file: Option<(PathBuf, HeaderNames)>,
}

/// The ConfigMap kube-apiserver publishes for extension API servers.
pub const CONFIG_MAP_NAMESPACE: &str = "kube-system";
pub const CONFIG_MAP_NAME: &str = "extension-apiserver-authentication";

impl Trust {
    /// Loads the file-backed parts; an unreadable or empty bundle is a start-up error naming the flag.
    pub fn load_files(&self, sources: &Sources) -> anyhow::Result<()> {
        if let Some(path) = &sources.client_ca_file {
            let pool =
                read_pool(path).with_context(|| format!("--client-ca-file {}", path.display()))?;
            self.client_ca.store(Some(Arc::new(pool)));
        }
        if let Some((path, names)) = &sources.request_header_file {
            let ca = read_pool(path)
                .with_context(|| format!("--requestheader-client-ca-file {}", path.display()))?;
            self.request_header.store(Some(Arc::new(RequestHeader {
                ca,
                names: names.clone(),
            })));
        }
        Ok(())
    }

    /// Applies the ConfigMap's data to the parts not set by flags. Parts the ConfigMap lacks are removed
    /// (a cluster without a front proxy has no requestheader CA); a part that does not parse is kept as
    /// it was and reported.
    pub fn apply_config_map(
        &self,
        sources: &Sources,
        data: &std::collections::BTreeMap<String, String>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if sources.client_ca_file.is_none() {
            match data.get("client-ca-file").filter(|v| !v.trim().is_empty()) {
                None => self.client_ca.store(None),
                Some(pem) => match CaPool::from_pem(pem.as_bytes()) {
                    Ok(pool) => self.client_ca.store(Some(Arc::new(pool))),
                    Err(e) => problems.push(format!("client-ca-file: {e:#}")),
                },
            }
        }
        if sources.request_header_file.is_none() {
            let list = |key: &str, default: &[&str]| -> Result<Vec<String>, String> {
                match data.get(key).filter(|v| !v.trim().is_empty()) {
                    None => Ok(default.iter().map(|s| s.to_string()).collect()),
                    Some(json) => serde_json::from_str(json).map_err(|e| format!("{key}: {e}")),
                }
            };
            match data
                .get("requestheader-client-ca-file")
                .filter(|v| !v.trim().is_empty())
            {
                None => self.request_header.store(None),
                Some(pem) => {
                    let names = (|| {
                        Ok::<_, String>(HeaderNames {
                            allowed_names: list("requestheader-allowed-names", &[])?,
                            username_headers: list(
                                "requestheader-username-headers",
                                &["x-remote-user"],
                            )?,
                            group_headers: list(
                                "requestheader-group-headers",
                                &["x-remote-group"],
                            )?,
                            extra_prefixes: list(
                                "requestheader-extra-headers-prefix",
                                &["x-remote-extra-"],
                            )?,
                        })
                    })();
                    match (CaPool::from_pem(pem.as_bytes()), names) {
                        (Ok(ca), Ok(names)) => self
                            .request_header
                            .store(Some(Arc::new(RequestHeader { ca, names }))),
                        (Err(e), _) => {
                            problems.push(format!("requestheader-client-ca-file: {e:#}"))
                        }
                        (_, Err(e)) => problems.push(e),
                    }
                }
            }
        }
        problems
    }
}

fn read_pool(path: &std::path::Path) -> anyhow::Result<CaPool> {
    CaPool::from_pem(&std::fs::read(path)?)
}

/// Re-reads the flag files every second when their modification time or size changed; a broken file is
/// logged and the previous pool kept.
pub async fn watch_files(trust: Arc<Trust>, sources: Sources) {
    let stamp = |path: &std::path::Path| {
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    let mut paths: Vec<PathBuf> = sources.client_ca_file.iter().cloned().collect();
    paths.extend(sources.request_header_file.iter().map(|(p, _)| p.clone()));
    let mut stamps: Vec<_> = paths.iter().map(|p| stamp(p)).collect();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now: Vec<_> = paths.iter().map(|p| stamp(p)).collect();
        if now == stamps {
            continue;
        }
        stamps = now;
        match trust.load_files(&sources) {
            Ok(()) => tracing::info!("client CA files reloaded"),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "a client CA file changed but does not load; keeping the previous one")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn the_config_map_fills_only_what_flags_left_open() {
        let trust = Trust::default();
        let mut data = std::collections::BTreeMap::new();
        data.insert("client-ca-file".to_string(), ca_pem());
        data.insert("requestheader-client-ca-file".to_string(), ca_pem());
        data.insert(
            "requestheader-allowed-names".to_string(),
            r#"["front-proxy-client"]"#.to_string(),
        );
        data.insert(
            "requestheader-username-headers".to_string(),
            r#"["X-Remote-User"]"#.to_string(),
        );
        assert!(
            trust
                .apply_config_map(&Sources::default(), &data)
                .is_empty()
        );
        let rh = trust.request_header.load_full().unwrap();
        assert_eq!(rh.names.allowed_names, ["front-proxy-client"]);
        assert_eq!(rh.names.username_headers, ["X-Remote-User"]);
        assert_eq!(
            rh.names.group_headers,
            ["x-remote-group"],
            "defaults when a key is absent"
        );
        assert!(trust.client_ca.load().is_some());

        let from_flags = Sources {
            client_ca_file: Some("/flag/ca.crt".into()),
            request_header_file: None,
        };
        data.insert(
            "requestheader-client-ca-file".to_string(),
            "garbage".to_string(),
        );
        data.remove("client-ca-file");
        let problems = trust.apply_config_map(&from_flags, &data);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("requestheader-client-ca-file"));
        assert!(
            trust.request_header.load().is_some(),
            "a broken CA keeps the previous one"
        );
        assert!(
            trust.client_ca.load().is_some(),
            "the flag's part is not touched by the ConfigMap"
        );
        data.remove("requestheader-client-ca-file");
        assert!(trust.apply_config_map(&from_flags, &data).is_empty());
        assert!(
            trust.request_header.load().is_none(),
            "removed from the ConfigMap"
        );
    }

    #[test]
    fn a_bundle_without_certificates_is_an_error() {
        assert!(CaPool::from_pem(b"not a certificate").is_err());
        assert!(CaPool::from_pem(ca_pem().as_bytes()).is_ok());
    }
}
