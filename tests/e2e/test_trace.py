#!/usr/bin/env python3
"""End-to-end tests of `pingwatcher trace` against the simulated network.

Each case starts pw-netsim on a scenario, runs `pingwatcher trace --json` inside its
namespace, stops netsim and compares the report with netsim's ground truth:

  * the hop list is the scenario's (one responder per hop: Paris probing keeps ECMP stable);
  * per hop, the average RTT is within RTT_TOLERANCE_MS of the delays netsim really applied;
  * per hop, the lost count equals the ground truth exactly, and the loss rate is within
    binomial bounds of the scenario's probability.

usage: test_trace.py PINGWATCHER PW_NETSIM SCENARIO_DIR CASE
"""

import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsim import Netsim  # noqa: E402

RTT_TOLERANCE_MS = 0.3


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def path_of(scenario, index=0):
    return scenario["paths"][index] if "paths" in scenario else scenario


def hop_addrs(hop, family):
    """Addresses a scenario hop may answer from (several for an ECMP hop)."""
    key = "addr" if family == 4 else "addr6"
    if "ecmp" in hop:
        return [alt[key] for alt in hop["ecmp"]]
    return [hop[key]]


def hop_names(hop):
    if "ecmp" in hop:
        return [alt.get("name") for alt in hop["ecmp"]]
    return [hop.get("name")]


def binomial_ok(lost, n, p, z=4.0):
    """True when lost is within z standard deviations of n*p (plus one for discreteness)."""
    sd = math.sqrt(n * p * (1 - p))
    return abs(lost - n * p) <= z * sd + 1


class Ctx:
    def __init__(self, pingwatcher, netsim_bin, scenario_dir):
        self.pingwatcher = pingwatcher
        self.netsim_bin = netsim_bin
        self.scenario_dir = scenario_dir

    def trace(self, scenario, args, family=4, path=0, seed=1):
        sc_path = os.path.join(self.scenario_dir, scenario)
        with Netsim(self.netsim_bin, sc_path, seed=seed) as sim:
            dest = path_of(sim.scenario, path)["dest"]
            target = dest["addr" if family == 4 else "addr6"]
            out = sim.run([self.pingwatcher, "trace", "--json"] + args + [target])
        report = json.loads(out.stdout)
        return sim, report, target

    def truth_by_ttl(self, sim, report, target):
        """Ground-truth rows of this run's flow, grouped by TTL (only TTLs the report shows)."""
        rows = [r for r in sim.truth if r["dst"] == target and
                r["proto"] == report["packet_type"]]
        check(rows, "ground truth has no rows for %s" % target)
        by_ttl = {}
        for r in rows:
            by_ttl.setdefault(int(r["ttl"]), []).append(r)
        return by_ttl


def compare_with_truth(ctx, sim, report, target, expect_loss=None):
    """Checks every hop of report against netsim's log of what it did."""
    by_ttl = ctx.truth_by_ttl(sim, report, target)
    for hop in report["hops"]:
        ttl = hop["hop"]
        rows = by_ttl.get(ttl, [])
        check(len(rows) == hop["sent"],
              "hop %d: report says %d probes sent, netsim saw %d" % (ttl, hop["sent"], len(rows)))
        replied = [r for r in rows if r["outcome"] == "replied"]
        lost = len(rows) - len(replied)
        check(lost == hop["lost"],
              "hop %d: report says %d lost, ground truth %d" % (ttl, hop["lost"], lost))
        if replied:
            true_avg = sum(int(r["sent_ns"]) - int(r["recv_ns"]) for r in replied) / len(
                replied) / 1e6
            check(hop["avg_ms"] is not None and abs(hop["avg_ms"] - true_avg) <= RTT_TOLERANCE_MS,
                  "hop %d: average %s ms, ground truth %.3f ms (tolerance %.1f ms)" %
                  (ttl, hop["avg_ms"], true_avg, RTT_TOLERANCE_MS))
            responders = {r["responder"] for r in replied}
            check(len(responders) == 1,
                  "hop %d: ground truth shows responders %s for one flow" % (ttl, responders))
            check(hop["ips"] == list(responders),
                  "hop %d: report shows %s, ground truth %s" % (ttl, hop["ips"], responders))
        else:
            check(hop["avg_ms"] is None and hop["ip"] is None,
                  "hop %d: all lost but the report shows a latency" % ttl)
        if expect_loss is not None:
            p = expect_loss(ttl)
            check(binomial_ok(hop["lost"], hop["sent"], p),
                  "hop %d: %d of %d lost, outside binomial bounds of p=%.2f" %
                  (ttl, hop["lost"], hop["sent"], p))


def check_hop_list(report, scenario_path, family, silent=()):
    hops = scenario_path["hops"]
    check(len(report["hops"]) == len(hops) + 1,
          "expected %d hops (routers + destination), report has %d" %
          (len(hops) + 1, len(report["hops"])))
    for i, hop in enumerate(hops):
        got = report["hops"][i]
        if i + 1 in silent:
            check(got["ip"] is None and got["loss_pct"] == 100,
                  "hop %d is silent but the report shows %s" % (i + 1, got["ip"]))
            continue
        check(len(got["ips"]) == 1 and got["ips"][0] in hop_addrs(hop, family),
              "hop %d: report shows %s, scenario has %s" %
              (i + 1, got["ips"], hop_addrs(hop, family)))
    key = "addr" if family == 4 else "addr6"
    check(report["hops"][-1]["ip"] == scenario_path["dest"][key],
          "last hop is %s, not the destination" % report["hops"][-1]["ip"])


FAST = ["-c", "20", "-i", "0.1", "-d", "1", "-t", "1", "-n"]


def case_plain(ctx, proto, family):
    args = ["-P", proto, "-%d" % family] + FAST
    sim, report, target = ctx.trace("plain.json", args, family)
    check(report["packet_type"] == proto and report["samples"] == 20,
          "report header wrong: %s" % {k: report[k] for k in ("packet_type", "samples")})
    check_hop_list(report, path_of(sim.scenario), family)
    compare_with_truth(ctx, sim, report, target, expect_loss=lambda ttl: 0.0)


def case_dns(ctx):
    """Reverse DNS through netsim's resolver: names as in the scenario, ---------- without."""
    args = ["-c", "3", "-i", "0.1", "-d", "1", "-t", "1"]
    sim, report, _ = ctx.trace("plain.json", args, 4)
    hops = path_of(sim.scenario)["hops"]
    for i, hop in enumerate(hops):
        want = hop_names(hop)[0]
        got = report["hops"][i]["dns"]
        if want is None:
            check(got == "----------", "hop %d has no PTR record but shows %r" % (i + 1, got))
        else:
            check(got == want.rstrip("."), "hop %d: DNS %r, scenario %r" % (i + 1, got, want))


def sanitized(name):
    """What pw_dns_sanitize makes of an untrusted PTR name."""
    return "".join(c for c in name if 0x21 <= ord(c) <= 0x7e)[:253].rstrip(".")


def case_dns_hostile(ctx):
    """A PTR record with control characters and markup arrives cleaned, never raw."""
    args = ["-c", "2", "-i", "0.1", "-d", "1", "-t", "1"]
    sc = json.load(open(os.path.join(ctx.scenario_dir, "demo.json")))
    for index, path in enumerate(sc["paths"]):
        hostile = [(i + 1, h["name"]) for i, h in enumerate(path["hops"])
                   if "name" in h and h["name"] != sanitized(h["name"])]
        if hostile:
            break
    check(hostile, "demo.json has no hostile PTR name to test with")
    sim, report, _ = ctx.trace("demo.json", args, 4, path=index)
    for ttl, name in hostile:
        got = report["hops"][ttl - 1]["dns"]
        check(got == sanitized(name), "hop %d: DNS %r, want %r" % (ttl, got, sanitized(name)))
        check(all(0x21 <= ord(c) <= 0x7e for c in got), "hop %d: unclean name %r" % (ttl, got))


def case_persistent_loss(ctx):
    args = ["-P", "icmp", "-c", "300", "-i", "0.02", "-d", "0", "-t", "1", "-n"]
    sim, report, target = ctx.trace("persistent_loss.json", args, 4)
    path = path_of(sim.scenario)
    check_hop_list(report, path, 4)
    start = next(i + 1 for i, h in enumerate(path["hops"]) if h.get("loss", 0) > 0)
    p = path["hops"][start - 1]["loss"]
    compare_with_truth(ctx, sim, report, target,
                       expect_loss=lambda ttl: p if ttl >= start else 0.0)
    check(all(h["lost"] > 0 for h in report["hops"][start - 1:]),
          "loss from hop %d does not persist to the destination" % start)


def case_deprioritised(ctx):
    args = ["-P", "icmp", "-c", "200", "-i", "0.02", "-d", "0", "-t", "1", "-n"]
    sim, report, target = ctx.trace("deprioritised.json", args, 4)
    path = path_of(sim.scenario)
    check_hop_list(report, path, 4)
    bad = {i + 1: h["reply_loss"] for i, h in enumerate(path["hops"]) if h.get("reply_loss")}
    compare_with_truth(ctx, sim, report, target, expect_loss=lambda ttl: bad.get(ttl, 0.0))
    for h in report["hops"]:
        if h["hop"] not in bad:
            check(h["lost"] == 0, "hop %d lost %d probes; only %s should" % (
                h["hop"], h["lost"], sorted(bad)))


def case_silent(ctx, proto):
    args = ["-P", proto] + FAST
    sim, report, target = ctx.trace("silent_hop.json", args, 4)
    path = path_of(sim.scenario)
    silent = {i + 1 for i, h in enumerate(path["hops"]) if h.get("silent")}
    check_hop_list(report, path, 4, silent=silent)
    compare_with_truth(ctx, sim, report, target,
                       expect_loss=lambda ttl: 1.0 if ttl in silent else 0.0)


def case_ecmp(ctx, proto, family):
    args = ["-P", proto, "-%d" % family] + FAST
    for seed in (1, 2):
        sim, report, target = ctx.trace("ecmp.json", args, family, seed=seed)
        check_hop_list(report, path_of(sim.scenario), family)
        compare_with_truth(ctx, sim, report, target, expect_loss=lambda ttl: 0.0)


def case_rate_limited(ctx):
    args = ["-P", "icmp", "-c", "30", "-i", "0.1", "-d", "0", "-t", "1", "-n"]
    sim, report, target = ctx.trace("rate_limited.json", args, 4)
    path = path_of(sim.scenario)
    compare_with_truth(ctx, sim, report, target)
    limited = [i + 1 for i, h in enumerate(path["hops"]) if h.get("icmp_rate_limit")]
    for ttl in limited:
        h = report["hops"][ttl - 1]
        check(0 < h["lost"] < h["sent"], "rate-limited hop %d: %d of %d lost" % (
            ttl, h["lost"], h["sent"]))
    check(report["hops"][-1]["lost"] == 0, "the destination lost probes")


def case_ipv6(ctx, proto):
    args = ["-P", proto, "-6"] + FAST
    sim, report, target = ctx.trace("ipv6.json", args, 6)
    check_hop_list(report, path_of(sim.scenario), 6)
    compare_with_truth(ctx, sim, report, target, expect_loss=lambda ttl: 0.0)


def case_final_hop_only(ctx):
    args = ["--final-hop-only"] + FAST
    sim, report, target = ctx.trace("plain.json", args, 4)
    hops = path_of(sim.scenario)["hops"]
    check(len(report["hops"]) == 1, "final-hop-only report has %d hops" % len(report["hops"]))
    h = report["hops"][0]
    check(h["ip"] == target and h["hop"] == len(hops) + 1,
          "final hop is %s at %d, want %s at %d" % (h["ip"], h["hop"], target, len(hops) + 1))
    routers = {r["responder"] for r in sim.truth if r["dst"] == target and
               r["outcome"] == "replied" and r["responder"] != target}
    check(not routers, "final-hop-only probed routers %s" % routers)


CASES = {
    "plain-icmp4": lambda c: case_plain(c, "icmp", 4),
    "plain-udp4": lambda c: case_plain(c, "udp", 4),
    "plain-tcp4": lambda c: case_plain(c, "tcp", 4),
    "plain-icmp6": lambda c: case_plain(c, "icmp", 6),
    "plain-udp6": lambda c: case_plain(c, "udp", 6),
    "plain-tcp6": lambda c: case_plain(c, "tcp", 6),
    "dns": case_dns,
    "dns-hostile": case_dns_hostile,
    "persistent-loss": case_persistent_loss,
    "deprioritised": case_deprioritised,
    "silent-icmp": lambda c: case_silent(c, "icmp"),
    "silent-udp": lambda c: case_silent(c, "udp"),
    "ecmp-icmp4": lambda c: case_ecmp(c, "icmp", 4),
    "ecmp-udp4": lambda c: case_ecmp(c, "udp", 4),
    "ecmp-tcp4": lambda c: case_ecmp(c, "tcp", 4),
    "ecmp-udp6": lambda c: case_ecmp(c, "udp", 6),
    "rate-limited": case_rate_limited,
    "ipv6-tcp": lambda c: case_ipv6(c, "tcp"),
    "final-hop-only": case_final_hop_only,
}


def main():
    if len(sys.argv) != 5 or sys.argv[4] not in CASES:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        print("cases: " + " ".join(CASES), file=sys.stderr)
        return 2
    ctx = Ctx(*sys.argv[1:4])
    try:
        CASES[sys.argv[4]](ctx)
    except Failure as e:
        print("FAIL %s: %s" % (sys.argv[4], e))
        return 1
    print("ok %s" % sys.argv[4])
    return 0


if __name__ == "__main__":
    sys.exit(main())
