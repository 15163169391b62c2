#!/usr/bin/env bash
# Installs what the binding checks need, without downloading from URLs:
#   - the Kotlin compiler from the npm registry package `kotlin-compiler`
#     (its lib/ holds kotlin-compiler.jar, kotlin-stdlib, kotlinx-coroutines);
#   - JNA from Debian's `libjna-java`;
#   - clang (checks the generated C header);
#   - tree-sitter 0.22 and tree-sitter-swift 0.7 from npm, installed with
#     --ignore-scripts: their install scripts try to download a prebuilt
#     binary, while the parsers shipped inside the packages load fine.
# Idempotent and quick when everything is present. Non-interactive (CI).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
tools="${EGOCAP_TOOLS_DIR:-$root/target/tools}"
kotlin_version="2.2.20"

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "install-tools: apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

npm_install() { # dir, package specs...
    local dir="$1"; shift
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{"private": true}' >"$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --ignore-scripts --silent "$@")
}

apt_install libjna-java clang

if [ ! -f "$tools/kotlin/node_modules/kotlin-compiler/lib/kotlin-compiler.jar" ]; then
    echo "install-tools: kotlin-compiler $kotlin_version from npm"
    npm_install "$tools/kotlin" "kotlin-compiler@$kotlin_version"
fi

if [ ! -d "$tools/swift/node_modules/tree-sitter-swift" ] || [ ! -d "$tools/swift/node_modules/tree-sitter" ]; then
    echo "install-tools: tree-sitter and tree-sitter-swift from npm"
    npm_install "$tools/swift" "tree-sitter@0.22" "tree-sitter-swift@0.7"
fi
