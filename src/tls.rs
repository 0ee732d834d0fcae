//! The serving certificate: `--tls-cert-file`/`--tls-private-key-file`, else `apiserver.crt`/`.key` in
//! `--cert-dir`, else a self-signed certificate for localhost/127.0.0.1 generated there (as upstream).
//! The files are watched: a changed pair is loaded for the next handshake (cert-manager rotations need no
//! restart); a broken pair is logged and the previous one kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{Context, bail};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Builds the rustls server config; `http2` adds `h2` to ALPN.
pub fn server_config(
    cert_file: &str,
    key_file: &str,
    cert_dir: &Path,
    http2: bool,
) -> anyhow::Result<rustls::ServerConfig> {
    let (cert, key) = match (cert_file.is_empty(), key_file.is_empty()) {
        (false, false) => (PathBuf::from(cert_file), PathBuf::from(key_file)),
        (true, true) => self_signed(cert_dir)?,
        _ => bail!("--tls-cert-file and --tls-private-key-file go together"),
    };
    let resolver = ReloadingCert::new(cert, key)?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("unable to read {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not PEM certificates", cert.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("unable to read a private key from {}", key.display()))?;
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .context("unsupported private key")?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Serves the pair from disk, reloading it when either file changes.
#[derive(Debug)]
struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: Mutex<(Option<SystemTime>, Option<SystemTime>, Arc<CertifiedKey>)>,
}

impl ReloadingCert {
    fn new(cert: PathBuf, key: PathBuf) -> anyhow::Result<Self> {
        let loaded = load(&cert, &key)?;
        let stamps = (modified(&cert), modified(&key));
        Ok(Self {
            current: Mutex::new((stamps.0, stamps.1, loaded)),
            cert,
            key,
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock().ok()?;
        let stamps = (modified(&self.cert), modified(&self.key));
        if (stamps.0, stamps.1) != (current.0, current.1) {
            match load(&self.cert, &self.key) {
                Ok(loaded) => {
                    tracing::info!(cert = %self.cert.display(), "serving certificate reloaded");
                    *current = (stamps.0, stamps.1, loaded);
                }
                // Half-written during a rotation, usually: keep serving the previous pair and retry next time.
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "serving certificate not reloaded")
                }
            }
        }
        Some(current.2.clone())
    }
}

fn self_signed(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("apiserver.crt"), dir.join("apiserver.key"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--cert-dir {} is not writable", dir.display()))?;
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    std::fs::write(&cert, generated.cert.pem())
        .with_context(|| format!("writing {}", cert.display()))?;
    std::fs::write(&key, generated.signing_key.serialize_pem())
        .with_context(|| format!("writing {}", key.display()))?;
    tracing::info!(cert = %cert.display(), "generated a self-signed serving certificate");
    Ok((cert, key))
}
