//! Serving certificates: given files are served, and a rotated pair is picked up without a restart.

use std::time::Duration;

use crate::support::env::{Killed, free_port, https, spawn_adapter, wait_until};

fn write_pair(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let (cert, key) = crate::support::pki::self_signed(&["127.0.0.1"]);
    let ca = dir.join(format!("{name}.crt"));
    std::fs::write(&ca, &cert).unwrap();
    std::fs::write(dir.join("tls.crt.new"), &cert).unwrap();
    std::fs::write(dir.join("tls.key.new"), key).unwrap();
    // Replace both files the way a rotation does (a rename each).
    std::fs::rename(dir.join("tls.key.new"), dir.join("tls.key")).unwrap();
    std::fs::rename(dir.join("tls.crt.new"), dir.join("tls.crt")).unwrap();
    ca
}

#[test]
fn a_rotated_serving_certificate_is_served_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_pair(dir.path(), "first");
    let port = free_port();
    let _adapter = spawn_adapter(
        port,
        &[
            format!("--prometheus-url=http://127.0.0.1:{}/", free_port()),
            format!("--tls-cert-file={}", dir.path().join("tls.crt").display()),
            format!(
                "--tls-private-key-file={}",
                dir.path().join("tls.key").display()
            ),
        ],
    );
    wait_until("the adapter", Duration::from_secs(20), || {
        https(port, &first, "GET", "/healthz", &[]).0 == 200
    });
    std::thread::sleep(Duration::from_millis(1100)); // a distinct modification time
    let second = write_pair(dir.path(), "second");
    wait_until("the new certificate", Duration::from_secs(10), || {
        https(port, &second, "GET", "/healthz", &[]).0 == 200
    });
    assert_eq!(
        https(port, &first, "GET", "/healthz", &[]).0,
        0,
        "the old certificate is no longer served"
    );
}

/// Whether a TLS handshake with the given protocol versions and (TLS 1.2) suites succeeds.
fn handshake(
    port: u16,
    name: &str,
    ca: &std::path::Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suite: Option<&str>,
) -> bool {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(suite) = suite {
        provider
            .cipher_suites
            .retain(|s| format!("{:?}", s.suite()) == suite);
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            return false;
        }
    }
    true
}

fn start(dir: &std::path::Path, port: u16, extra: &str) -> Killed {
    let args = [
        format!("--prometheus-url=http://127.0.0.1:{}/", free_port()),
        format!("--cert-dir={}", dir.display()),
        extra.to_string(),
    ];
    spawn_adapter(port, &args)
}

#[test]
fn tls_min_version_and_cipher_suites_are_enforced() {
    use rustls::version::{TLS12, TLS13};
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("apiserver.crt");
    let (strict, suites) = (free_port(), free_port());
    let _a = start(dir.path(), strict, "--tls-min-version=VersionTLS13");
    wait_until("the adapter", Duration::from_secs(20), || {
        https(strict, &ca, "GET", "/healthz", &[]).0 == 200
    });
    let _b = start(
        dir.path(),
        suites,
        "--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    );
    wait_until("the adapter", Duration::from_secs(20), || {
        https(suites, &ca, "GET", "/healthz", &[]).0 == 200
    });

    assert!(handshake(strict, "127.0.0.1", &ca, &[&TLS13], None));
    assert!(
        !handshake(strict, "127.0.0.1", &ca, &[&TLS12], None),
        "TLS 1.2 refused with --tls-min-version=VersionTLS13"
    );
    assert!(handshake(
        suites,
        "127.0.0.1",
        &ca,
        &[&TLS12],
        Some("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
    ));
    assert!(
        !handshake(
            suites,
            "127.0.0.1",
            &ca,
            &[&TLS12],
            Some("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
        ),
        "unlisted suite refused"
    );
    assert!(
        handshake(suites, "127.0.0.1", &ca, &[&TLS13], None),
        "TLS 1.3 suites are not restricted, as in Go"
    );

    let typo = crate::support::adapter(&[
        "--config=config/rules/example.yaml",
        "--objects=deploy/demo/objects.yaml",
        "--secure-port=0",
        "--tls-cipher-suites=TLS_NOPE",
        &format!("--cert-dir={}", dir.path().display()),
    ]);
    assert!(!typo.status.success());
    assert!(String::from_utf8_lossy(&typo.stderr).contains("unknown cipher suite \"TLS_NOPE\""));
}

#[test]
fn sni_certificates_are_served_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let pair = |names: Vec<String>, file: &str| {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let (cert, key) = crate::support::pki::self_signed(&names);
        std::fs::write(dir.path().join(format!("{file}.crt")), cert).unwrap();
        std::fs::write(dir.path().join(format!("{file}.key")), key).unwrap();
        dir.path().join(format!("{file}.crt"))
    };
    let named = pair(vec!["adapter.example.com".into()], "named");
    let wildcard = pair(vec!["*.metrics.test".into()], "wildcard");
    let port = free_port();
    let files = |f: &str| {
        format!(
            "{},{}",
            dir.path().join(format!("{f}.crt")).display(),
            dir.path().join(format!("{f}.key")).display()
        )
    };
    let _adapter = spawn_adapter(
        port,
        &[
            format!("--prometheus-url=http://127.0.0.1:{}/", free_port()),
            format!("--cert-dir={}", dir.path().join("default").display()),
            format!("--tls-sni-cert-key={}", files("named")),
            format!("--tls-sni-cert-key={}:*.metrics.test", files("wildcard")),
        ],
    );
    let default = dir.path().join("default/apiserver.crt");
    wait_until("the adapter", Duration::from_secs(20), || {
        https(port, &default, "GET", "/healthz", &[]).0 == 200
    });
    use rustls::version::TLS13;
    assert!(
        handshake(port, "adapter.example.com", &named, &[&TLS13], None),
        "name from the certificate"
    );
    assert!(
        handshake(port, "a.metrics.test", &wildcard, &[&TLS13], None),
        "explicit wildcard"
    );
    assert!(
        handshake(port, "127.0.0.1", &default, &[&TLS13], None),
        "no SNI: the default pair"
    );
    assert!(!handshake(
        port,
        "other.example.com",
        &named,
        &[&TLS13],
        None
    ));
}
