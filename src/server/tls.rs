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

/// Builds the rustls server config; `http2` adds `h2` to ALPN. Client certificates are asked for, not
/// required, and checked per CA pool after the handshake (`auth::peer`).
pub fn server_config(
    cert_file: &str,
    key_file: &str,
    cert_dir: &Path,
    sni: &[String],
    http2: bool,
    policy: &Policy,
) -> anyhow::Result<rustls::ServerConfig> {
    let (cert, key) = match (cert_file.is_empty(), key_file.is_empty()) {
        (false, false) => (PathBuf::from(cert_file), PathBuf::from(key_file)),
        (true, true) => self_signed(cert_dir)?,
        _ => bail!("--tls-cert-file and --tls-private-key-file go together"),
    };
    let resolver = BySni::new(ReloadingCert::new(cert, key)?, sni)?;
    let provider = policy.provider();
    let clients = super::client_certs::AnyClientCertificate::new(&provider);
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(policy.versions())?
        .with_client_cert_verifier(clients)
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// `--tls-min-version` and `--tls-cipher-suites`, with Go's meaning: the suites restrict TLS 1.2 only
/// (TLS 1.3 suites are not configurable in Go either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    tls13_only: bool,
    /// rustls names of the TLS 1.2 suites to offer; empty = rustls' defaults.
    tls12_suites: Vec<String>,
}

/// Go's cipher-suite names that rustls implements, as rustls names them.
const SUPPORTED: &[(&str, &str)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// Go's names rustls deliberately lacks (CBC, static RSA key exchange, RC4, 3DES) or that only apply to
/// TLS 1.3: accepted with a warning, so upstream's manifests (which list CBC suites) keep working.
const KNOWN_UNSUPPORTED: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
];

impl Policy {
    /// Validates the flags: an unknown version or suite name is an error naming it; suites that exist but
    /// rustls does not implement are skipped with a warning; a list that leaves no TLS 1.2 suite is an error.
    pub fn new(min_version: &str, cipher_suites: &[String]) -> anyhow::Result<Self> {
        let tls13_only = match min_version {
            "" | "VersionTLS12" => false,
            "VersionTLS13" => true,
            "VersionTLS10" | "VersionTLS11" => {
                tracing::warn!(
                    min_version,
                    "TLS 1.0 and 1.1 are not implemented; TLS 1.2 is the minimum"
                );
                false
            }
            other => bail!("--tls-min-version {other:?}: use VersionTLS12 or VersionTLS13"),
        };
        let mut tls12_suites = Vec::new();
        for name in cipher_suites
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            if let Some((_, rustls_name)) = SUPPORTED.iter().find(|(go, _)| *go == name) {
                tls12_suites.push(rustls_name.to_string());
            } else if KNOWN_UNSUPPORTED.contains(&name) {
                tracing::warn!(
                    suite = name,
                    "cipher suite not offered: TLS 1.3-only or not implemented by rustls"
                );
            } else {
                bail!("--tls-cipher-suites: unknown cipher suite {name:?}");
            }
        }
        if !cipher_suites.is_empty() && tls12_suites.is_empty() && !tls13_only {
            bail!("--tls-cipher-suites leaves no TLS 1.2 cipher suite that rustls implements");
        }
        Ok(Self {
            tls13_only,
            tls12_suites,
        })
    }

    fn versions(&self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        static TLS12_AND_13: [&rustls::SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        if self.tls13_only {
            &TLS13
        } else {
            &TLS12_AND_13
        }
    }

    fn provider(&self) -> rustls::crypto::CryptoProvider {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        if !self.tls12_suites.is_empty() {
            provider.cipher_suites.retain(|suite| match suite {
                rustls::SupportedCipherSuite::Tls13(_) => true,
                rustls::SupportedCipherSuite::Tls12(_) => {
                    let name = format!("{:?}", suite.suite());
                    self.tls12_suites.contains(&name)
                }
            });
        }
        provider
    }
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

/// `--tls-sni-cert-key cert,key[:name,...]`, repeatable, with Go's precedence: a name the client asks for
/// is looked up exactly, then as the wildcard `*.` + its parent; explicit names override the names read from
/// the certificates (DNS SANs, else the CN); anything else gets the default pair.
#[derive(Debug)]
struct BySni {
    default: ReloadingCert,
    named: std::collections::HashMap<String, Arc<ReloadingCert>>,
}

impl BySni {
    fn new(default: ReloadingCert, flags: &[String]) -> anyhow::Result<Self> {
        let mut extracted = Vec::new();
        let mut explicit = Vec::new();
        for flag in flags {
            let (files, names) = flag.split_once(':').unwrap_or((flag, ""));
            let Some((cert, key)) = files.split_once(',') else {
                bail!("--tls-sni-cert-key {flag:?}: expected cert,key[:name,...]");
            };
            let pair = Arc::new(
                ReloadingCert::new(cert.trim().into(), key.trim().into())
                    .with_context(|| format!("--tls-sni-cert-key {flag}"))?,
            );
            let names: Vec<String> = names
                .split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect();
            if names.is_empty() {
                let read = certificate_names(&std::fs::read(cert.trim())?)
                    .with_context(|| format!("--tls-sni-cert-key {flag}"))?;
                extracted.extend(read.into_iter().map(|n| (n, pair.clone())));
            } else {
                explicit.extend(names.into_iter().map(|n| (n, pair.clone())));
            }
        }
        Ok(Self {
            default,
            named: extracted.into_iter().chain(explicit).collect(),
        })
    }
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name().map(str::to_ascii_lowercase) {
            let wildcard = name
                .split_once('.')
                .map(|(_, parent)| format!("*.{parent}"));
            let pair = self
                .named
                .get(&name)
                .or_else(|| wildcard.and_then(|w| self.named.get(&w)));
            if let Some(pair) = pair {
                return pair.resolve(hello);
            }
        }
        self.default.resolve(hello)
    }
}

/// The DNS names of the first certificate in a PEM file: its DNS SANs, else its CN.
fn certificate_names(pem: &[u8]) -> anyhow::Result<Vec<String>> {
    let der = CertificateDer::pem_slice_iter(pem)
        .next()
        .context("no certificate in the file")??;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow::anyhow!("unreadable certificate: {e}"))?;
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => {
                        Some(d.to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty()
        && let Some(cn) = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
    {
        names.push(cn.to_ascii_lowercase());
    }
    Ok(names)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn suites(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn upstreams_cipher_suite_list_is_accepted_without_its_cbc_suites() {
        let upstream = suites(&[
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
        ]);
        let policy = Policy::new("", &upstream).unwrap();
        assert_eq!(policy.tls12_suites.len(), 4);
        let provider = policy.provider();
        let tls12: Vec<String> = provider
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)))
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(tls12.len(), 4, "{tls12:?}");
        assert!(
            provider
                .cipher_suites
                .iter()
                .any(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)))
        );
    }

    #[test]
    fn typos_and_unusable_lists_are_start_up_errors() {
        let err = Policy::new("", &suites(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA265"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown cipher suite \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA265\""),
            "{err}"
        );
        assert!(Policy::new("", &suites(&["TLS_RSA_WITH_AES_128_CBC_SHA"])).is_err());
        assert!(Policy::new("VersionTLS14", &[]).is_err());
        assert_eq!(
            Policy::new("VersionTLS13", &[]).unwrap().versions().len(),
            1
        );
        assert_eq!(
            Policy::new("VersionTLS10", &[]).unwrap().versions().len(),
            2
        );
    }
}
