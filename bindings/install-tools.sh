#!/usr/bin/env bash
# Installs what the binding checks need, without downloading from URLs:
#   - java (Debian `openjdk-17-jdk-headless`) and node/npm (Debian `nodejs`,
#     `npm`) when the commands are missing;
#   - the Kotlin compiler from the npm registry package `kotlin-compiler`
#     (its lib/ holds kotlin-compiler.jar, kotlin-stdlib, kotlinx-coroutines);
#   - JNA from Debian's `libjna-java`;
#   - clang (checks the generated C header);
#   - tree-sitter 0.22 and tree-sitter-swift 0.7 from npm, installed with
#     --ignore-scripts: their install scripts try to download a prebuilt
#     binary, while the parsers shipped inside the packages load fine.
# Idempotent and quick when everything is present. Non-interactive (CI runs
# it as root with no stdin; otherwise `sudo -n`, which fails rather than asks).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
. "$here/paths.sh"
kotlin_version="2.2.20"

installer=install-tools
. "$root/scripts/install-helpers.sh"

packages=(libjna-java clang)
command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jdk-headless)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
apt_install "${packages[@]}"

if [ ! -f "$tools/kotlin/node_modules/kotlin-compiler/lib/kotlin-compiler.jar" ]; then
    echo "install-tools: kotlin-compiler $kotlin_version from npm into $tools/kotlin"
    npm_install "$tools/kotlin" "kotlin-compiler@$kotlin_version"
fi

if [ ! -d "$tools/swift/node_modules/tree-sitter-swift" ] || [ ! -d "$tools/swift/node_modules/tree-sitter" ]; then
    echo "install-tools: tree-sitter and tree-sitter-swift from npm into $tools/swift"
    npm_install "$tools/swift" "tree-sitter@0.22" "tree-sitter-swift@0.7"
fi
