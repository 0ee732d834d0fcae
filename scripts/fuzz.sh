#!/usr/bin/env bash
# Fuzzes with libFuzzer (cargo-fuzz): label selectors, series selectors, Go templates, whole rules files,
# Prometheus series and query answers, PromQL quoting of any value, quantities, kubeconfig files, and requests
# (method, path, query, Accept) through the adapter's App on simulated backends — each target's check is in
# tools/fuzz-checks, which the test suite also runs over every seed. Each target runs SECONDS (default 10) on its
# corpus (target/fuzz-corpus/<target>, seeded from tools/fuzz/seeds); a crash fails the run and leaves its input
# in tools/fuzz/artifacts/. Prints execs and findings per target (BENCHMARKS.md). Not part of CI's run.
# Usage: scripts/fuzz.sh [SECONDS=10] [TARGET...]
# FUZZ_SANITIZER=none runs without AddressSanitizer for more execs in long runs (the code is safe Rust but for the
# TLS library; a panic still fails the run); address is the default.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
# cargo-fuzz passes -Z flags (sanitizer, coverage); the machine's one toolchain is stable and takes them so.
export RUSTC_BOOTSTRAP=1
fuzz_dir=tools/fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
# The regex engine's crates build without coverage instrumentation: tools/fuzz/rustc-wrapper says why.
export RUSTC_WRAPPER=$PWD/$fuzz_dir/rustc-wrapper
sanitizer=${FUZZ_SANITIZER:-address}
# Each sanitizer builds in its own directory, so switching does not rebuild the other.
build=(--fuzz-dir "$fuzz_dir" -O -s "$sanitizer")
[ "$sanitizer" = address ] || build+=(--target-dir "$fuzz_dir/target-$sanitizer")
cargo fuzz build "${build[@]}"
execs_in() { grep -o 'stat::number_of_executed_units: *[0-9]*' "$1" | grep -o '[0-9]*$' || echo '?'; }
for target in "${targets[@]}"; do
  corpus=target/fuzz-corpus/$target
  mkdir -p "$corpus"
  cp -n "$fuzz_dir/seeds/$target/"* "$corpus/" 2>/dev/null || true
  log=$(mktemp)
  if ! cargo fuzz run "${build[@]}" "$target" "$corpus" -- \
      -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 >"$log" 2>&1; then
    # Interrupted (SIGINT: libFuzzer exits 72) is not a finding: say how far it got and stop.
    if grep -q 'libFuzzer: run interrupted' "$log"; then
      echo "fuzz target $target interrupted after $(execs_in "$log") execs (no crash)" >&2
      exit 130
    fi
    tail -40 "$log"
    echo "fuzz target $target found a crash (input in $fuzz_dir/artifacts/$target/)" >&2
    exit 1
  fi
  printf '%-16s %4ss  execs %-10s corpus %s  crashes 0\n' "$target" "$seconds" "$(execs_in "$log")" "$(ls "$corpus" | wc -l)"
  rm -f "$log"
done
