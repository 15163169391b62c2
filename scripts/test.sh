#!/usr/bin/env bash
# Runs every test on a fresh machine: installs the tools the tests check our
# output with (ffmpeg, ffprobe, nasm, ...), builds the workspace once in the
# dev profile (dependencies optimised), then runs lints, unit tests and the
# end-to-end tests against that one build.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

echo "== format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== build"
cargo build --workspace --all-targets
export EGOCAP_BIN="$PWD/target/debug/egocap"

echo "== tests"
cargo test --workspace
