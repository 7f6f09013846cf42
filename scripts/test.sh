#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, reference vectors, lint, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/ref/generate.sh
# TF.js reference for dtr1-tfjs: the human-models graphs under @tensorflow/tfjs in Node (~1 min).
node scripts/ref/tfjs_nanodet.mjs "${DTR1_REF_VECTORS:-target/ref-vectors}/tfjs_nanodet.json"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
# The Python package, installed with the README command and tested the way trainers call it.
.venv/bin/python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./crates/python
.venv/bin/python -m pytest crates/python/tests -q -p no:cacheprovider 2>&1 | tee -a "$log"
# One closing line for the whole workspace (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 }
     /^[0-9]+ (passed|failed).* in [0-9.]+s/ { for (i = 2; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
