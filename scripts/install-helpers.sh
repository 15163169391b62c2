# Sourced by the installer scripts (bindings/install-tools.sh,
# scripts/install-tus-server.sh): Debian packages and npm packages,
# installed only when missing, non-interactively (CI runs as root with no
# stdin; otherwise `sudo -n`, which fails rather than asks).
# Set `installer` to the calling script's name for the log lines.

apt_install() { # packages...
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo -n)
    echo "${installer:-install}: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq </dev/null
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
}

npm_install() { # dir, package specs...
    local dir="$1"; shift
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{"private": true}' >"$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --ignore-scripts --silent "$@" </dev/null)
}
