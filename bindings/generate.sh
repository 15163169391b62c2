#!/usr/bin/env bash
# Builds the egocap-ffi library and generates from it:
#   kotlin/   uniffi/egocap_ffi/egocap_ffi.kt (JNA; package uniffi.egocap_ffi)
#   swift/    egocap_ffi.swift, egocap_ffiFFI.h, egocap_ffiFFI.modulemap
# into <target>/bindings/ (debug library) or, with --release, into
# <target>/bindings-release/ (release library, what apps ship and the
# benchmark measures). Generated code is never committed.
# Usage: bindings/generate.sh [--release]
# EGOCAP_FFI_FEATURES=fault-injection adds the test-only exports (run-tests.sh;
# refused in a release build).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
. "$here/paths.sh"

features="${EGOCAP_FFI_FEATURES:-}"
profile_flag=()
profile_dir=debug
out="$target_dir/bindings"
if [ "${1:-}" = "--release" ]; then
    profile_flag=(--release)
    profile_dir=release
    out="$target_dir/bindings-release"
fi

# The generator is a dev build whatever the library's profile. It reads the
# API from the metadata symbols of a dev build of the library with the same
# features: the release profile strips those symbols, and the metadata (and
# the checksums the bindings verify at load) do not depend on the profile.
# Then the library in the requested profile, without the generator feature,
# so the library on disk is the one apps link.
# EGOCAP_FFI_PREBUILT=1: the caller (scripts/test.sh) has built the
# generator and the debug library already, with these features, as part of
# the workspace; building them here alone would resolve features differently
# and compile the core a second time.
if [ "${EGOCAP_FFI_PREBUILT:-}" != 1 ]; then
    cargo build -p egocap-ffi --bin uniffi-bindgen --features "bindgen"
    cargo build -p egocap-ffi --lib --features "$features"
fi
[ "$profile_dir" = release ] && cargo build -p egocap-ffi --lib --features "$features" "${profile_flag[@]}"

lib="$target_dir/debug/libegocap_ffi.so"
[ "$(uname)" = "Darwin" ] && lib="$target_dir/debug/libegocap_ffi.dylib"
bindgen="$target_dir/debug/uniffi-bindgen"

rm -rf "$out/kotlin" "$out/swift"
"$bindgen" generate --library "$lib" --language kotlin --out-dir "$out/kotlin" --no-format
"$bindgen" generate --library "$lib" --language swift --out-dir "$out/swift" --no-format
echo "generate: bindings for the $profile_dir library (API read from $lib) in $out"
find "$out/kotlin" "$out/swift" -type f | sort
