#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, unit, doc and end-to-end tests, every fuzz target's check over
# its seeds (tools/fuzz-checks/tests/seeds.rs; the libFuzzer runs are scripts/fuzz.sh's). Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

# End-to-end tests run a real Prometheus and Pushgateway (Debian packages) and kubectl as the client.
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
command -v kubectl >/dev/null 2>&1 || missing+=(kubectl)
# A second HTTP/2 client (nghttp2) for tests/http2.rs.
command -v curl >/dev/null 2>&1 || missing+=(curl)
# A second real TSDB for the several-backends tests (tests/backends.rs).
command -v victoria-metrics >/dev/null 2>&1 || missing+=(victoria-metrics)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Manifests are validated against the Kubernetes schemas (tests/deploy.rs); protobuf answers are decoded by
# protoc and Python's protobuf runtime (tests/protobuf.rs); the Helm chart is rendered by Helm's SDK (tests/helm.rs);
# SigV4 signatures are recomputed by botocore and Google's service-account assertions verified by cryptography
# (tests/backend_clouds.rs).
# Run as `python3 -m kubernetes_validate`: a console script may not be on PATH (pyenv shims need a rehash).
if ! python3 -c 'import kubernetes_validate, grpc_tools.protoc, google.protobuf, helm_python, botocore, cryptography' >/dev/null 2>&1; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
  fi
  pip_install() {
    python3 -m pip install --quiet --disable-pip-version-check "$@" \
      kubernetes-validate==1.37.0 grpcio-tools==1.85.1 protobuf==7.36.2 helm-python-sdk==0.2.2 \
      botocore==1.43.11 cryptography==48.0.0
  }
  # Debian's own Python refuses system-wide installs unless told (PEP 668).
  pip_install || pip_install --break-system-packages
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
