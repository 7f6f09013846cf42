#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, reference vectors, lint, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/ref/generate.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
