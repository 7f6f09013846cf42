#!/usr/bin/env bash
# dt-r1's sampling beside llama.cpp's, in one run on one machine: `dtr1 bench-policy
# --decode-only --kernels int8` and scripts/ref/bench_llamacpp.py (llama-cpp-python) on the
# same GGUF with the same thread count, then both and their ratios as a Markdown table.
#
# Not part of the tests or CI: llama-cpp-python builds llama.cpp from source on first use
# (several minutes on 2 cores) into its own venv, .venv-llamacpp, kept apart from .venv.
# Machines of one kind differ by up to 1.5×, so only ratios from one run on a quiet machine
# mean anything; the script prints the load average it started under.
#
# Usage: bash scripts/bench_llamacpp.sh [MODEL.gguf]   (THREADS=2 DECODE_TOKENS=64 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

model=${1:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
threads=${THREADS:-2}
steps=${DECODE_TOKENS:-64}
venv=.venv-llamacpp
version=0.3.36

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import llama_cpp, numpy" 2>/dev/null; then
  echo "bench_llamacpp: installing llama-cpp-python $version into $venv (pip; builds llama.cpp)" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "llama-cpp-python==$version" numpy
fi

cargo build --release -q -p dtr1-cli
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

ours=$(RAYON_NUM_THREADS=$threads target/release/dtr1 bench-policy --model "$model" \
  --decode-only --kernels int8 --decode-tokens "$steps")
theirs=$("$venv/bin/python" scripts/ref/bench_llamacpp.py "$model" "$threads" "$steps")
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

OURS="$ours" THEIRS="$theirs" python3 - <<'EOF'
import json, os, re

ours, theirs = os.environ["OURS"], json.loads(os.environ["THEIRS"])

def row(prefix):
    for line in ours.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].startswith(prefix):
            return float(re.match(r"[0-9.]+", cells[1]).group())
    raise SystemExit(f"no bench-policy row starting with {prefix!r}:\n{ours}")

rows = [
    ("prefill, 512-token prompt, batch 1", "tokens/s", row("prefill, 512-token prompt, batch 1"), theirs["prefill_tok_s"]),
    ("decode, batch 1, after the 512-token prompt", "tokens/s", row("decode, batch 1"), theirs["decode1_tok_s"]),
    ("decode, 8 sequences sharing a 320-token prompt", "tokens/s aggregate", row("decode, batch 8"), theirs["decode8_tok_s"]),
]
print(ours.splitlines()[0])
print(f"llama.cpp: llama-cpp-python {theirs['version']}, {theirs['threads']} threads, same GGUF\n")
print("| what | unit | dt-r1 (int8 kernels) | llama.cpp | dt-r1 / llama.cpp |")
print("|---|---|---:|---:|---:|")
for what, unit, a, b in rows:
    print(f"| {what} | {unit} | {a:.1f} | {b:.1f} | {a / b:.2f}× |")
EOF
