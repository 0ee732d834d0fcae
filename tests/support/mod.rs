//! Helpers shared by the end-to-end tests: the environment (Prometheus, Pushgateway, the adapter), the test
//! Kubernetes API server, PKI, a raw HTTP/2 client and RBAC evaluation.

pub mod adapter;
pub mod env;
pub mod kube_api;
pub mod label_selector;
pub mod pki;
pub mod raw_h2;
pub mod rbac;
pub mod simulated;
pub mod victoria;

use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The built binary, run from the repository root: the one way every test starts it. A benchmark run
/// through the tests (`tests/object_caches_bench.rs`) may name another build in `ADAPTER_BIN`.
pub fn adapter_command() -> std::process::Command {
    let binary = std::env::var_os("ADAPTER_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_prometheus-adapter").into());
    let mut command = std::process::Command::new(binary);
    command.current_dir(root());
    command
}

/// Runs the built binary with `args` to its end.
pub fn adapter(args: &[&str]) -> Output {
    adapter_command()
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Every file with `extension` in `dir`, sorted.
pub fn files_in(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

/// Standard output and error as text.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
