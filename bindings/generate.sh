#!/usr/bin/env bash
# Builds the egocap-ffi library and generates from it, into target/bindings/:
#   kotlin/   uniffi/egocap_ffi/egocap_ffi.kt (JNA; package uniffi.egocap_ffi)
#   swift/    egocap_ffi.swift, egocap_ffiFFI.h, egocap_ffiFFI.modulemap
# Generated code is never committed. Usage: bindings/generate.sh [--release]
# EGOCAP_FFI_FEATURES=fault-injection adds the test-only exports (run-tests.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

features=(--features "${EGOCAP_FFI_FEATURES:-}")
profile_flag=()
profile_dir=debug
if [ "${1:-}" = "--release" ]; then
    profile_flag=(--release)
    profile_dir=release
fi

# The generator first, then the library without the generator feature, so
# the library left on disk is the one apps link.
cargo build -p egocap-ffi --bin uniffi-bindgen --features "bindgen ${EGOCAP_FFI_FEATURES:-}" "${profile_flag[@]}"
cargo build -p egocap-ffi --lib "${features[@]}" "${profile_flag[@]}"

target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
lib="$target_dir/$profile_dir/libegocap_ffi.so"
[ "$(uname)" = "Darwin" ] && lib="$target_dir/$profile_dir/libegocap_ffi.dylib"
bindgen="$target_dir/$profile_dir/uniffi-bindgen"
out="$target_dir/bindings"

rm -rf "$out/kotlin" "$out/swift"
"$bindgen" generate --library "$lib" --language kotlin --out-dir "$out/kotlin" --no-format
"$bindgen" generate --library "$lib" --language swift --out-dir "$out/swift" --no-format
echo "generate: bindings for $lib in $out"
find "$out/kotlin" "$out/swift" -type f | sort
