#!/usr/bin/env bash
# PingWatcher bench — a path of real Linux routers in network namespaces.
#
#   routerbed.sh [-r ROUTERS] [-d NDEST] [-c CPUS] [-g GROTOOL] -- COMMAND [ARGS...]
#
# Builds, for the lifetime of COMMAND only:
#
#   host ─ r1 ─ r2 ─ … ─ rN ─ dest          (N = ROUTERS, default 6)
#
# one namespace per node, chained with veth pairs. Link k (0..N) joins node k and node k+1 and
# carries 198.19.k.1/24 (upstream end) and 198.19.k.2/24 (downstream end); the destination
# answers on 198.19.200.1 … 198.19.200.NDEST (a /24 on its loopback, so every address of it is
# local). Every router forwards; ICMP rate limits are off in every namespace, so each probe
# gets its reply and the bed itself loses nothing it can carry.
#
# Router work runs where a real router's would: on its own CPUs. GRO on every veth gives each
# one a NAPI instance; threaded NAPI runs it in a kernel thread, pinned to one of CPUS (a
# comma-separated list, default every CPU but 0; link k goes to the k-th, round robin), so
# forwarding and ICMP generation are not charged to the prober, which the caller pins to a
# CPU not in the list. GROTOOL is a command that switches GRO on for an interface
# ("GROTOOL IFNAME", run inside the namespace, e.g. "bench_probe gro"); without it the routers
# run in softirq wherever the packets were sent from, which PWB_OFFLOAD=0 reports.
#
# COMMAND runs in the caller's namespace with these variables set:
#   PWB_HOST_NS   namespace to run probers in (ip netns exec "$PWB_HOST_NS" …)
#   PWB_DEST_NS   the destination's namespace
#   PWB_DESTS     space-separated destination addresses
#   PWB_HOPS      hops from host to the destination (ROUTERS + 1)
#   PWB_ROUTERS   router addresses, hop 1 first (the address that answers on the host side)
#   PWB_OFFLOAD   1 when router work is in pinned NAPI threads, 0 otherwise
#   PWB_BED_CPU   the CPUs the routers run on
# Exits with COMMAND's status. Every namespace created here is deleted on any exit (normal,
# error, INT, TERM); namespaces it did not create are never touched.
set -euo pipefail

routers=6
ndest=64
bed_cpu=$(seq -s, 1 $(($(nproc) - 1)))
grotool=()

usage() {
    echo "usage: routerbed.sh [-r ROUTERS] [-d NDEST] [-c CPUS] [-g GROTOOL] -- COMMAND [ARGS...]" >&2
    exit 2
}

while getopts "r:d:c:g:h" opt; do
    case $opt in
    r) routers=$OPTARG ;;
    d) ndest=$OPTARG ;;
    c) bed_cpu=$OPTARG ;;
    g) read -ra grotool <<<"$OPTARG" ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
[ $# -ge 1 ] || usage
if ! [[ $routers =~ ^[1-9]$ ]]; then
    echo "routerbed: ROUTERS must be 1..9 (got '$routers')" >&2
    exit 2
fi
if ! [[ $ndest =~ ^[0-9]{1,3}$ ]] || [ "$ndest" -lt 1 ] || [ "$ndest" -gt 254 ]; then
    echo "routerbed: NDEST must be 1..254 (got '$ndest')" >&2
    exit 2
fi
[[ $bed_cpu =~ ^[0-9]+(,[0-9]+)*$ ]] ||
    { echo "routerbed: CPUS must be a comma-separated list of CPU numbers (got '$bed_cpu')" >&2; exit 2; }
IFS=, read -ra bed_cpus <<<"$bed_cpu"
[ "$(id -u)" -eq 0 ] || { echo "routerbed: needs root (network namespaces)" >&2; exit 2; }

# Names: pwb<pid><node>, at most 3 + 7 + 2 = 12 characters (IFNAMSIZ-safe, unique per run).
tag="pwb$$"
nodes=("${tag}h")
for ((i = 1; i <= routers; i++)); do nodes+=("${tag}r$i"); done
nodes+=("${tag}d")
last=$((${#nodes[@]} - 1))
created=()

# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
    local rc=$? ns
    trap - EXIT INT TERM
    for ns in "${created[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    exit "$rc"
}
# The command runs in the background so that a signal interrupts `wait` at once; the command
# (only the one started here, by its pid) gets the signal too before the namespaces go.
child=""
# shellcheck disable=SC2317 # called through the INT and TERM traps
on_signal() {
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null || true
    fi
    exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

inns() { ip netns exec "$1" "${@:2}"; }

for ns in "${nodes[@]}"; do
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
        echo "routerbed: namespace $ns exists already (not ours): giving up" >&2
        exit 1
    fi
    # Recorded first, so that a signal arriving right after the add still removes it (the
    # name carries our pid, and it did not exist a moment ago).
    created+=("$ns")
    ip netns add "$ns"
    inns "$ns" ip link set lo up
    inns "$ns" sysctl -qw \
        net.ipv4.ip_forward=1 \
        net.ipv4.icmp_ratelimit=0 \
        net.ipv4.icmp_msgs_per_sec=100000000 \
        net.ipv4.icmp_msgs_burst=100000000 \
        net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.default.rp_filter=0 \
        net.ipv6.icmp.ratelimit=0
done

# Interface names carry the run's pid so their NAPI threads ("napi/<ifname>-<id>") are ours
# to find: p<pid>k<link>u (upstream end) and p<pid>k<link>d (downstream end).
ifup() { echo "p$$k${1}u"; }
ifdn() { echo "p$$k${1}d"; }

for ((k = 0; k < last; k++)); do
    a=${nodes[$k]} b=${nodes[$((k + 1))]}
    ip link add name "$(ifup $k)" netns "$a" type veth peer name "$(ifdn $k)" netns "$b"
    inns "$a" ip addr add "198.19.$k.1/24" dev "$(ifup $k)"
    inns "$b" ip addr add "198.19.$k.2/24" dev "$(ifdn $k)"
    inns "$a" ip link set "$(ifup $k)" up
    inns "$b" ip link set "$(ifdn $k)" up
done

# Host: everything via r1. Router k: downstream by default, upstream links via k-1.
inns "${nodes[0]}" ip route add default via 198.19.0.2
for ((k = 1; k < last; k++)); do
    inns "${nodes[$k]}" ip route add default via "198.19.$k.2"
    for ((j = 0; j < k - 1; j++)); do
        inns "${nodes[$k]}" ip route add "198.19.$j.0/24" via "198.19.$((k - 1)).1"
    done
done
inns "${nodes[$last]}" ip route add default via "198.19.$((last - 1)).1"
inns "${nodes[$last]}" ip addr add 198.19.200.1/24 dev lo

dests=""
for ((i = 1; i <= ndest; i++)); do dests+="198.19.200.$i "; done
hops=""
for ((k = 0; k < last - 1; k++)); do hops+="198.19.$k.2 "; done

# Router work into NAPI threads, pinned to the bed CPUs.
offload=0
if [ ${#grotool[@]} -gt 0 ]; then
    offload=1
    for ((k = 0; k < last; k++)); do
        for side in u d; do
            if [ $side = u ]; then ns=${nodes[$k]} ifn=$(ifup $k); else ns=${nodes[$((k + 1))]} ifn=$(ifdn $k); fi
            if ! inns "$ns" "${grotool[@]}" "$ifn" >/dev/null ||
                ! inns "$ns" sh -c "echo 1 > /sys/class/net/$ifn/threaded" 2>/dev/null; then
                offload=0
            fi
        done
    done
    pinned=0
    for d in /proc/[0-9]*; do
        comm=$(cat "$d/comm" 2>/dev/null) || continue
        case $comm in
        "napi/p$$k"*)
            # napi/p<pid>k<link>…: the link number picks the CPU. Real-time priority: the
            # routers keep their CPU even when other work lands on it, as a router's
            # forwarding plane would (RT throttling still leaves 5 % to others).
            link=${comm#"napi/p$$k"}
            link=${link%%[!0-9]*}
            cpu=${bed_cpus[$((link % ${#bed_cpus[@]}))]}
            taskset -pc "$cpu" "${d#/proc/}" >/dev/null &&
                chrt -f -p 10 "${d#/proc/}" &&
                pinned=$((pinned + 1))
            ;;
        esac
    done
    [ "$pinned" -eq $((2 * last)) ] || offload=0
    [ $offload = 1 ] || echo "routerbed: could not move router work to NAPI threads;" \
        "routers run in softirq of the sender" >&2
fi

# The path must be whole before anything is measured.
inns "${nodes[0]}" fping -q -r 3 -t 1000 198.19.200.1 >/dev/null 2>&1 ||
    { echo "routerbed: the destination does not answer through the routers" >&2; exit 1; }

export PWB_HOST_NS=${nodes[0]} PWB_DEST_NS=${nodes[$last]} PWB_DESTS=${dests% }
export PWB_HOPS=$last PWB_ROUTERS=${hops% } PWB_OFFLOAD=$offload PWB_BED_CPU=$bed_cpu
set +e
"$@" &
child=$!
wait "$child"
rc=$?
child=""
set -e
exit $rc
