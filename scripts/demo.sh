#!/usr/bin/env bash
# Builds PingWatcher and runs it on the demo network: pw-netsim simulates several paths
# (tests/netsim/scenarios/demo.json) inside a network namespace of its own, and
# `pingwatcher trace` reports on each demo target. Ctrl-C stops everything and removes the
# namespace.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh build

scenario=tests/netsim/scenarios/demo.json
ns="pwsim-demo-$$"
fifo=$(mktemp -u)
mkfifo "$fifo"
netsim_pid=
cleanup() {
    if [ -n "$netsim_pid" ] && kill -0 "$netsim_pid" 2>/dev/null; then
        kill -TERM "$netsim_pid" 2>/dev/null || true
        wait "$netsim_pid" 2>/dev/null || true
    fi
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns" "$fifo"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build/tests/netsim/pw-netsim -s "$scenario" -n "$ns" >"$fifo" &
netsim_pid=$!
read -r -t 15 ready <"$fifo" || true
if [ "${ready:-}" != "READY $ns" ]; then
    echo "demo: the simulated network did not start" >&2
    exit 1
fi

# The demo targets are the scenario's destinations, named through netsim's DNS when a name
# is given in "names".
mapfile -t targets < <(python3 - "$scenario" <<'PY'
import json, sys
sc = json.load(open(sys.argv[1]))
names = {a: n for n, addrs in sc.get("names", {}).items() for a in addrs}
for p in sc.get("paths", [sc]):
    addr = p["dest"]["addr"]
    print(names.get(addr, addr))
PY
)

echo "demo: simulated network up in namespace $ns; tracing ${#targets[@]} targets"
for t in "${targets[@]}"; do
    echo
    ip netns exec "$ns" build/engine-daemon/pingwatcher trace -c 10 -i 0.5 "$t" || true
done
echo
echo "demo: done (the web interface arrives with pingwatcherd and the FastCGI app)"
