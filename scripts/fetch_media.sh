#!/usr/bin/env bash
# Idempotent: fetch the real test media into data/media/ (git-ignored) from package registries
# only, nothing from the web at large:
#   - PyPI wheel scikit-image==0.24.0 (BSD-3): skimage/data/ astronaut, coffee, chelsea,
#     motorcycle_left/right and the motorcycle ground-truth disparity (motorcycle_disp.npz);
#   - Debian package opencv-doc (BSD/Apache-2.0): examples/data/ vtest.avi (pedestrians) and
#     the aloe stereo pair with its ground-truth disparity (aloeL.jpg, aloeR.jpg, aloeGT.png).
# Each file is written to a .tmp first and renamed, so an interrupted run never leaves a
# partial file; a re-run with every file present does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

dest=data/media
skimage_files=(astronaut.png coffee.png chelsea.png motorcycle_left.png motorcycle_right.png motorcycle_disp.npz)
opencv_files=(vtest.avi aloeL.jpg aloeR.jpg aloeGT.png)

missing() { for f in "$@"; do [ -s "$dest/$f" ] || return 0; done; return 1; }

mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if missing "${skimage_files[@]}"; then
  echo "fetch_media: downloading scikit-image==0.24.0 wheel (pip)" >&2
  py=python3; [ -x .venv/bin/python ] && py=.venv/bin/python
  # One fixed wheel whatever the local Python: the data files are the same in every wheel,
  # and pinning the platform keeps pip from falling back to building an sdist.
  "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
    scikit-image==0.24.0 -d "$tmp/skimage"
  "$py" - "$tmp/skimage" "$dest" "${skimage_files[@]}" <<'PY'
import glob, os, shutil, sys, zipfile
src, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
wheels = glob.glob(src + "/scikit_image-*.whl")
if len(wheels) != 1:
    sys.exit(f"fetch_media: expected one scikit-image wheel in {src}, found {wheels}")
with zipfile.ZipFile(wheels[0]) as z:
    members = set(z.namelist())
    for name in names:
        member = "skimage/data/" + name
        if member not in members:
            sys.exit(f"fetch_media: {member} is missing from {os.path.basename(wheels[0])}")
        out = os.path.join(dest, name)
        with z.open(member) as s, open(out + ".tmp", "wb") as d:
            shutil.copyfileobj(s, d)
        os.replace(out + ".tmp", out)
PY
fi

if missing "${opencv_files[@]}"; then
  # apt-get download needs the package lists (a fresh container has none); it needs no root.
  if ! apt-cache show opencv-doc >/dev/null 2>&1; then
    echo "fetch_media: updating the apt package lists" >&2
    as_root apt-get update -qq
  fi
  echo "fetch_media: downloading the Debian package opencv-doc (apt-get download, ~95 MB)" >&2
  mkdir -p "$tmp/deb"
  (cd "$tmp/deb" && apt-get download -q opencv-doc 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
  debs=("$tmp"/deb/opencv-doc_*.deb)
  if [ ! -s "${debs[0]}" ]; then
    echo "fetch_media: apt-get download opencv-doc produced no .deb" >&2
    exit 1
  fi
  members=()
  for f in "${opencv_files[@]}"; do members+=("./usr/share/doc/opencv-doc/examples/data/$f"); done
  mkdir -p "$tmp/x"
  if ! dpkg-deb --fsys-tarfile "${debs[0]}" | tar -x -C "$tmp/x" "${members[@]}"; then
    echo "fetch_media: $(basename "${debs[0]}") lacks one of: ${opencv_files[*]}" >&2
    exit 1
  fi
  for f in "${opencv_files[@]}"; do
    cp "$tmp/x/usr/share/doc/opencv-doc/examples/data/$f" "$dest/$f.tmp"
    mv "$dest/$f.tmp" "$dest/$f"
  done
fi

for f in "${skimage_files[@]}" "${opencv_files[@]}"; do
  if [ ! -s "$dest/$f" ]; then
    echo "fetch_media: $dest/$f is missing after the fetch" >&2
    exit 1
  fi
done
echo "fetch_media: media in $dest (${#skimage_files[@]} from scikit-image, ${#opencv_files[@]} from opencv-doc)" >&2
