//! TLS for our own outgoing calls (Prometheus-compatible backends, forwarding targets): the client
//! configuration and the HTTP client built on it.

use std::sync::{Arc, LazyLock};

use anyhow::{Context, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// An HTTP client for our own outgoing calls over `tls`, every connect and request bounded by `timeout`.
pub fn http_client(tls: rustls::ClientConfig, timeout: std::time::Duration) -> awc::Client {
    awc::Client::builder()
        .connector(
            awc::Connector::new()
                .rustls_0_23(Arc::new(tls))
                .timeout(timeout),
        )
        .timeout(timeout)
        .finish()
}

/// The system's trust roots, read once per process: every client without a CA bundle of its own (each
/// backend, the forwarder) shares them, rather than each parsing the whole system store again.
static SYSTEM_ROOTS: LazyLock<Arc<rustls::RootCertStore>> = LazyLock::new(|| {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    Arc::new(roots)
});

/// A TLS client configuration for our own outgoing calls (Prometheus-compatible backends, forwarding
/// targets): the CA bundle given, or the system roots; and a client certificate and key, all PEM.
pub fn client_config(
    ca_pem: Option<&[u8]>,
    identity_pem: Option<(&[u8], &[u8])>,
) -> anyhow::Result<rustls::ClientConfig> {
    let roots = match ca_pem {
        Some(pem) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .context("the CA bundle is not PEM")?;
            if certs.is_empty() {
                bail!("the CA bundle holds no certificate");
            }
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs {
                roots.add(cert)?;
            }
            Arc::new(roots)
        }
        None => Arc::clone(&SYSTEM_ROOTS),
    };
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    Ok(match identity_pem {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .context("client certificate is not PEM")?;
            let key = PrivateKeyDer::from_pem_slice(key).context("client key is not PEM")?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    })
}
