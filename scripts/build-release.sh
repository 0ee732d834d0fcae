#!/usr/bin/env bash
# The release binary, built the one way: CI (.ci/run) and the image (deploy/Dockerfile) both run this.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin prometheus-adapter
# The binary runs and loads the shipped rules.
for rules in config/rules/*.yaml deploy/base/config.yaml; do
  target/release/prometheus-adapter check-config --config "$rules" >/dev/null
done
