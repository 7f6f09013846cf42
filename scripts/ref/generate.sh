#!/usr/bin/env bash
# Generates the reference test vectors with the reference implementations in .venv.
# Output: $DTR1_REF_VECTORS (default target/ref-vectors), one JSON file per *_vectors.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${DTR1_REF_VECTORS:-target/ref-vectors}
mkdir -p "$out"
for script in scripts/ref/*_vectors.py; do
  name=$(basename "$script" _vectors.py)
  echo "vectors: $name" >&2
  .venv/bin/python "$script" "$out/$name.json.tmp"
  mv "$out/$name.json.tmp" "$out/$name.json"
done
