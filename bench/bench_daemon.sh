#!/usr/bin/env bash
# PingWatcher daemon benchmark — how many targets pingwatcherd holds on this machine.
#
#   bench/bench_daemon.sh BUILD_DIR        (as root; builds nothing: run ninja -C BUILD_DIR)
#
# Builds a path of real Linux routers in network namespaces of its own (routerbed.sh: 9
# routers, so every target is 10 hops away, 254 destination addresses), runs pingwatcherd in
# the bed's host namespace with more and more targets (2.5 s interval each) and prints, per
# step, scheduling lag, missed samples, CPU and memory, with PASS/MISS against the target of
# 10,000 targets at p99 lag < 5 ms without a missed sample. Every namespace and process it
# creates is removed. Takes about 4-5 minutes.
# Exit status: 0 measured, 77 cannot run here (not root, a tool missing), 1 harness failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: bench_daemon.sh BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)

skip() {
    echo "bench: skipped: $*" >&2
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (it creates network namespaces)"
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs (routers on one, the daemon on the other)"
for tool in ip taskset chrt fping python3; do
    command -v "$tool" >/dev/null || skip "'$tool' is not installed"
done
for bin in bench/bench_probe engine-daemon/pingwatcherd; do
    [ -x "$build/$bin" ] || skip "$build/$bin is missing (build first: ninja -C $build)"
done

exec "$here/routerbed.sh" -r 9 -d 254 -g "$build/bench/bench_probe gro" -- \
    python3 "$here/bench_daemon.py" "$build"
