#!/usr/bin/env bash
# Installs the tus 1.0 server the upload tests run against, without
# downloading from URLs:
#   - node/npm (Debian `nodejs`, `npm`) and curl (Debian `curl`) when the
#     commands are missing; the harness tests drive the server with curl;
#   - @tus/server and @tus/file-store from the npm registry, pinned, into
#     <target>/tools/tus (tests/tus/server.mjs loads them from there).
#     Both need node >= 20.19 (their `engines` field).
# Idempotent and quick when everything is present. Non-interactive (CI runs
# it as root with no stdin; otherwise `sudo -n`, which fails rather than asks).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
. "$root/bindings/paths.sh"
server_version="2.4.5"
file_store_version="2.1.1"

installer=install-tus-server
. "$root/scripts/install-helpers.sh"

# Is node_modules/$1 installed at version $2?
installed() {
    grep -qs "\"version\": *\"$2\"" "$tools/tus/node_modules/$1/package.json"
}

packages=()
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
command -v curl >/dev/null 2>&1 || packages+=(curl)
[ ${#packages[@]} -eq 0 ] || apt_install "${packages[@]}"

if ! installed @tus/server "$server_version" || ! installed @tus/file-store "$file_store_version"; then
    echo "install-tus-server: @tus/server $server_version and @tus/file-store $file_store_version from npm into $tools/tus"
    npm_install "$tools/tus" --save-exact "@tus/server@$server_version" "@tus/file-store@$file_store_version"
fi
echo "install-tus-server: @tus/server $server_version, @tus/file-store $file_store_version in $tools/tus"
