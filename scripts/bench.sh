#!/usr/bin/env bash
# Measures the figures the README quotes, pinned to one core: pipeline
# throughput on synthetic frames and on a real clip (the street video
# vtest.avi from Debian's opencv-doc, scaled to 1280x720), bitrate accuracy,
# resident memory over a 5-minute recording, the CPU share of signing and
# sealing, and our age encryption against the age CLI on the same 100 MB file.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
if ! dpkg -s opencv-doc >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends opencv-doc
fi
clip=$(dpkg -L opencv-doc | grep '/vtest\.avi$' | head -n1)

cargo build --release -p egocap-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ffmpeg -v error -i "$clip" -vf scale=1280:720 -pix_fmt yuv420p -frames:v 600 "$work/vtest-720p.y4m"

lscpu | grep -E '^Model name' || true
taskset -c 0 target/release/egocap bench --y4m "$work/vtest-720p.y4m" "$@"
taskset -c 0 cargo run --release -q -p egocap-core --example age_throughput
