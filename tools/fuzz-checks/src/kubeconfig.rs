//! Kubeconfig files, as both readers take them: `--prometheus-auth-config` (ours: the current context's
//! CA, client pair and credentials, then the Prometheus client's TLS config built from them) and
//! `--lister-kubeconfig` (kube's parser). Whatever the text: an error or a result, never a panic.
use std::path::Path;

use prometheus_adapter::backends::prometheus_auth::from_kubeconfig_text;

/// One input: panics on a finding.
pub fn check(text: &str) {
    // As the binary does first thing (src/lib.rs says why).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // Files it names are looked for where none exist: only the text is under test.
    if let Ok(auth) = from_kubeconfig_text(text, Path::new("/nonexistent/fuzz")) {
        let _ = prometheus_adapter::backends::client_tls::client_config(
            auth.ca_pem.as_deref(),
            auth.client_pem
                .as_ref()
                .map(|(c, k)| (c.as_slice(), k.as_slice())),
        );
    }
    let _ = kube::config::Kubeconfig::from_yaml(text);
}
