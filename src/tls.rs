//! The serving certificate: `--tls-cert-file`/`--tls-private-key-file`, else `apiserver.crt`/`.key` in
//! `--cert-dir`, else a self-signed certificate for localhost/127.0.0.1 generated there (as upstream).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
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
    let chain = CertificateDer::pem_file_iter(&cert)
        .with_context(|| format!("unable to read {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not PEM certificates", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&key)
        .with_context(|| format!("unable to read a private key from {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
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
