#!/usr/bin/env bash
# Set up, build the dtr1 CLI, and run the main job on the example that ships in the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked -p dtr1-cli
target/release/dtr1 twin examples/desk.twin.json
