#!/usr/bin/env bash
# Installs what PingWatcher needs to build, run and test on Debian 12, then configures and
# builds it. Safe to run again: it installs only what is missing.
#   scripts/setup.sh [BUILD_DIR] [extra meson options...]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    build-essential meson ninja-build pkg-config clang libclang-rt-14-dev clang-format
    libnet1-dev libpcap-dev liblmdb-dev lmdb-utils libcjson-dev libcurl4-openssl-dev libfcgi-dev
    libc-ares-dev
    libsqlite3-dev
    python3 iproute2 nftables mtr-tiny fping nginx-light apache2 wrk chromium
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing packages (${missing[*]}); run as root to install them" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The tests start nginx and Apache with configurations of their own: keep the packages'
    # system services from starting (both would want port 80) while installing.
    own_policy=false
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=true
    fi
    rc=0
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >/dev/null || rc=$?
    if $own_policy; then
        rm -f /usr/sbin/policy-rc.d
    fi
    if [ "$rc" -ne 0 ]; then
        echo "setup: installing packages failed (apt-get status $rc)" >&2
        exit 1
    fi
fi

build=${1:-build}
shift || true
# --no-build: configure only (the caller builds the targets it needs).
no_build=false
args=()
for a in "$@"; do
    if [ "$a" = --no-build ]; then no_build=true; else args+=("$a"); fi
done
# Node.js for the page's libraries and the browser tests: the machine's own when present,
# else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "setup: installing nodejs npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends nodejs npm >/dev/null
fi
# The page's libraries (htmx, uPlot) and playwright-core come from npm (package-lock.json) and
# are served from www/vendor/, never from a CDN.
if [ ! -d node_modules/playwright-core ] || ! node scripts/vendor.js --check >/dev/null 2>&1; then
    echo "setup: installing npm packages"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    node scripts/vendor.js >/dev/null
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" ${args[@]+"${args[@]}"} >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi
if $no_build; then
    echo "setup: configured $build"
    exit 0
fi
ninja -C "$build" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
echo "setup: built in $build"
