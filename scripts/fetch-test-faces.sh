#!/usr/bin/env bash
# Puts real test photographs at $EGOCAP_TEST_FACES_DIR (default:
# target/test-faces/), taken from one package by name and exact version,
# never from a URL: the scikit-image 0.24.0 wheel ships
#   astronaut.png: Eileen Collins, NASA photograph, public domain;
#   camera.png:    a man behind a camera, CC0 by the photographer Lav
#                  Varshney (per the docstrings in skimage/data/_fetchers.py).
# The wheel is platform-specific but only its data files are used, so the
# platform and Python version are pinned: the same bytes on any host.
# The wheel and each extracted file are pinned by SHA-256.
#
# Idempotent: when the files are present with the right hashes, it only
# checks the hashes.
set -euo pipefail
cd "$(dirname "$0")/.."

out_dir="${EGOCAP_TEST_FACES_DIR:-target/test-faces}"
wheel_sha256="fa27b3a0dbad807b966b8db2d78da734cb812ca4787f7fbb143764800ce2fa9c"
# name:sha256 of each file taken from skimage/data/.
files="astronaut.png:88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5
camera.png:b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"

sha256_of() {
    python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
}

all_present() {
    local entry
    for entry in $files; do
        [ -f "$out_dir/${entry%%:*}" ] && [ "$(sha256_of "$out_dir/${entry%%:*}")" = "${entry##*:}" ] || return 1
    done
}

if all_present; then
    echo "test faces present: $out_dir"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "scikit-image==0.24.0 --hash=sha256:$wheel_sha256" >"$tmp/requirements.txt"
python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    --platform manylinux_2_17_x86_64 --python-version 3.11 --implementation cp \
    --dest "$tmp/wheel" -r "$tmp/requirements.txt"

mkdir -p "$out_dir"
for entry in $files; do
    name="${entry%%:*}"
    python3 - "$tmp/wheel" "$name" "$tmp/$name" <<'PY'
import glob, sys, zipfile

(wheel,) = glob.glob(sys.argv[1] + "/scikit_image-0.24.0-*.whl")
with open(sys.argv[3], "wb") as out:
    out.write(zipfile.ZipFile(wheel).read("skimage/data/" + sys.argv[2]))
PY
    got="$(sha256_of "$tmp/$name")"
    if [ "$got" != "${entry##*:}" ]; then
        echo "error: $name has SHA-256 $got, expected ${entry##*:}" >&2
        exit 1
    fi
    mv "$tmp/$name" "$out_dir/$name"
done
echo "test faces written: $out_dir"
