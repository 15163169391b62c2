#!/usr/bin/env bash
# The binding figures from issue 6, in one run against the RELEASE library
# (no fault-injection; bindings generated into <target>/bindings-release/):
#   - push cost of one 1280×720 frame from Kotlin beside the same push from
#     Rust, measured in one JVM process (bench/PushCost.kt), pinned to one
#     CPU with `taskset -c 0` when taskset exists;
#   - the size of the stripped release cdylib (the release profile strips).
# Usage: bash bindings/bench.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

bash "$here/install-tools.sh"
EGOCAP_FFI_FEATURES="" bash "$here/generate.sh" --release >/dev/null
. "$here/paths.sh"

kotlin="$tools/kotlin/node_modules/kotlin-compiler"
jna=/usr/share/java/jna.jar
out="$target_dir/bindings-release"
lib="$target_dir/release/libegocap_ffi.so"

mkdir -p "$out/kotlin-bench"
"$kotlin/bin/kotlinc" -nowarn -cp "$jna" \
    "$out/kotlin/uniffi/egocap_ffi/egocap_ffi.kt" "$here/tests/kotlin/Frames.kt" "$here/bench/PushCost.kt" \
    -d "$out/kotlin-bench/bench.jar"

pin=()
command -v taskset >/dev/null 2>&1 && pin=(taskset -c 0)
echo "== push cost (${pin[*]:-unpinned}, release library $lib)"
"${pin[@]}" java -Djna.library.path="$target_dir/release" \
    -cp "$out/kotlin-bench/bench.jar:$jna:$kotlin/lib/kotlin-stdlib.jar" \
    egocap.bench.PushCostKt

echo "== release cdylib size"
if command -v file >/dev/null 2>&1; then file -b "$lib" | grep -q "not stripped" && strip "$lib"; fi
echo "libegocap_ffi.so (release, stripped): $(stat -c %s "$lib") bytes"
