#!/usr/bin/env bash
# Installs the system tools the tests and optional features need, from
# Debian's packages. Idempotent and non-interactive (CI runs it as root with
# no stdin); when everything is already present it returns at once, without
# touching the network.
#
#   nasm        OpenH264's assembly (the `openh264` crate builds it from source)
#   ffmpeg      ffmpeg + ffprobe: the e2e tests decode and probe our MP4s
#   pkg-config  -sys crates locate system libraries with it
#   libclang-dev  bindgen (via v4l2-sys-mit) for the `camera` feature (nokhwa → V4L2)
#   g++         OpenH264 is C++ (built by the `openh264-sys2` crate)
#   age         the reference age tool: our sealed files must interoperate with it
#   rfc8785 (PyPI, pinned)  an independent canonical-JSON implementation
set -euo pipefail

commands=(nasm ffmpeg ffprobe pkg-config g++ age)
packages=(nasm ffmpeg pkg-config libclang-dev g++ age)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
done
for cmd in "${commands[@]}"; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        # The command may come from a package under another name; reinstall
        # the set rather than guess which.
        missing+=("${cmd/ffprobe/ffmpeg}")
    fi
done

# Python packages the tests compare our output with (pinned).
python_packages=(rfc8785==0.1.4)
for spec in "${python_packages[@]}"; do
    if ! python3 -m pip show -q "${spec%%==*}" >/dev/null 2>&1; then
        python3 -m pip install -q --disable-pip-version-check "$spec" </dev/null
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-test-deps: all present (${packages[*]})"
    exit 0
fi

# De-duplicate while keeping order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
echo "install-test-deps: installing ${missing[*]}"

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
    else
        echo "install-test-deps: need root (or sudo) to install ${missing[*]}" >&2
        exit 1
    fi
else
    SUDO=()
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q </dev/null
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null

for cmd in "${commands[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "install-test-deps: $cmd still missing" >&2; exit 1; }
done
echo "install-test-deps: done"
