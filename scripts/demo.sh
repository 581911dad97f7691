#!/usr/bin/env bash
# Installs what is missing, builds PingWatcher and runs the whole product on the simulated
# demo network: pw-netsim, pingwatcherd, pingwatcher.fcgi and nginx. Prints the URL to open;
# Ctrl-C stops everything and removes the namespace (see scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "demo: run as root (it creates a network namespace and opens raw sockets)" >&2
    exit 1
fi
bash scripts/setup.sh build
exec python3 scripts/demo.py build "$@"
