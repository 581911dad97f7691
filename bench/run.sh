#!/usr/bin/env bash
# PingWatcher probe-engine benchmark — the one entry point.
#
#   bench/run.sh BUILD_DIR        (as root; builds nothing: run ninja -C BUILD_DIR first)
#
# Builds a bed of real Linux routers in network namespaces of its own (routerbed.sh), measures
# the trace engine, mtr, fping and a bare raw-socket send loop on it in the same run, compares
# RTTs with pw-netsim's ground truth, prints one table of figures and ratios with PASS/MISS
# against the targets, and removes every namespace it created. Takes about 3-5 minutes.
# Exit status: 0 measured, 77 cannot run here (not root, a tool missing), 1 harness failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: run.sh BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)

skip() {
    echo "bench: skipped: $*" >&2
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (it creates network namespaces)"
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs (routers on one, the prober on the other)"
for tool in ip taskset chrt mtr fping python3; do
    command -v "$tool" >/dev/null || skip "'$tool' is not installed"
done
for bin in bench/bench_probe engine-daemon/pingwatcher tests/netsim/pw-netsim; do
    [ -x "$build/$bin" ] || skip "$build/$bin is missing (build first: ninja -C $build)"
done

exec "$here/routerbed.sh" -r 6 -d 128 -g "$build/bench/bench_probe gro" -- \
    python3 "$here/bench.py" "$build"
