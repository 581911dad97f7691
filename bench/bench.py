#!/usr/bin/env python3
"""PingWatcher probe-engine benchmark: everything measured in one run, printed as ratios.

Run through bench/run.sh, which builds the router bed (routerbed.sh) and calls this inside
it with the bed described in PWB_* environment variables:

    routerbed.sh -g "BUILD/bench/bench_probe gro" -- bench.py BUILD_DIR

Figures, all on the same bed in the same run, every prober pinned to CPU 0 (the routers run
on the other CPUs, see routerbed.sh):

  * maximum sustained rate — the highest offered rate at which a prober sends what it is
    asked to (>= 98 %) with fewer than 0.1 % of its probes lost, unmatched, late, duplicated
    or dropped by the capture; found by doubling, then bisection. Each failing rate is tried
    twice (the machine is shared), the rate passes if either attempt does.
  * CPU microseconds per probe — user + system time of the prober (getrusage; for mtr and
    fping of the peer and everything it forks) over the probes it sent (the namespace's ICMP
    OutEchos counter: the same count for every tool).
  * RTT error on pw-netsim's ground truth, pingwatcher against mtr: per hop, the tool's mean
    RTT minus the mean delay netsim really applied to that tool's probes, averaged in
    absolute value over the hops.

Peers: mtr and fping at their fastest settings and at ordinary fast settings (the ratio uses
the peer's lowest CPU per probe, so it never flatters us), and a bare raw-socket send loop
(sendto and sendmmsg) sending the same packets at the same rate: the kernel's own cost.

Figures are reported, not asserted: the script prints PASS/MISS against the targets and
exits 0 whenever it could measure (77 when it cannot run here, 1 on a harness failure).
"""

import csv
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

TARGET_RATE = 150000        # probes/s sustained on one core
TARGET_US_PER_PROBE = 10.0  # CPU microseconds per probe
LOSS_LIMIT = 0.001          # "sustained": fewer than 0.1 % bad probes
KEEP_UP = 0.98              # ... and at least 98 % of the offered rate sent
PROBER_CPU = "0"
FULL_INTERVAL_MS = 100      # engine, full traces: targets x hops per 100 ms
FINAL_INTERVAL_MS = 100     # engine, final hop only: targets per 100 ms
TRIAL_S = 2.0
BISECT_STEPS = 4
NETSIM_SAMPLES = 20
NETSIM_ROUNDS = 2


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def kv(line):
    """Parses the key=value line bench_probe prints."""
    out = {}
    for tok in line.split():
        k, sep, v = tok.partition("=")
        if not sep:
            continue
        try:
            out[k] = float(v) if re.fullmatch(r"-?[0-9.]+(e[-+]?[0-9]+)?", v) else v
        except ValueError:
            out[k] = v
    return out


class Bed:
    def __init__(self, build):
        self.build = build
        self.bench_probe = os.path.join(build, "bench", "bench_probe")
        self.host_ns = os.environ["PWB_HOST_NS"]
        self.dests = os.environ["PWB_DESTS"].split()
        self.hops = int(os.environ["PWB_HOPS"])
        self.offload = os.environ.get("PWB_OFFLOAD") == "1"
        self.bed_cpu = os.environ.get("PWB_BED_CPU", "?")

    def run(self, argv, timeout=120):
        """Runs argv in the host namespace on the prober CPU; returns its stdout."""
        cmd = ["ip", "netns", "exec", self.host_ns, "taskset", "-c", PROBER_CPU] + argv
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if p.returncode not in (0, 1) or "kind=" not in p.stdout:
            raise BenchError("%s failed (%d): %s" % (" ".join(argv[:3]), p.returncode,
                                                     p.stderr.strip()[-400:]))
        return p.stdout

    def probe(self, *args, timeout=120):
        out = self.run([self.bench_probe] + [str(a) for a in args], timeout=timeout)
        line = [x for x in out.splitlines() if x.startswith("kind=")][-1]
        return kv(line)


# ---- trials: one run of one prober at one offered rate ----

def engine_trial(bed, rate, final_hop_only=False):
    interval = FINAL_INTERVAL_MS if final_hop_only else FULL_INTERVAL_MS
    per_target = 1000.0 / interval * (1 if final_hop_only else bed.hops)
    targets = max(1, round(rate / per_target))
    args = ["engine", "--dests", " ".join(bed.dests), "--targets", targets,
            "--interval-ms", interval, "--timeout-ms", 1000, "--max-hops", bed.hops,
            "--duration", TRIAL_S]
    if final_hop_only:
        args.append("--final-hop-only")
    r = bed.probe(*args)
    bad = sum(r[k] for k in ("lost", "unmatched", "late", "duplicates", "malformed",
                             "send_errors", "capture_drops"))
    r["bad"] = bad
    r["bad_frac"] = bad / r["sent"] if r["sent"] else 1.0
    r["rate"] = r["achieved_pps"]
    r["ok"] = r["sent"] > 0 and r["bad_frac"] < LOSS_LIMIT and \
        r["achieved_pps"] >= KEEP_UP * r["offered_pps"]
    return r


def raw_trial(bed, rate, mode="sendmmsg", final_hop_only=False, duration=TRIAL_S):
    args = ["raw", "--mode", mode, "--rate", int(rate), "--dests", " ".join(bed.dests),
            "--duration", duration]
    args += ["--final-hop-only"] if final_hop_only else ["--max-hops", bed.hops]
    r = bed.probe(*args)
    replies = r["snmp_in_time_excds"] + r["snmp_in_echo_reps"]
    r["bad"] = max(0, r["sent"] - replies)
    r["bad_frac"] = r["bad"] / r["sent"] if r["sent"] else 1.0
    r["rate"] = r["achieved_pps"]
    r["ok"] = r["sent"] > 0 and r["bad_frac"] < LOSS_LIMIT and \
        (rate == 0 or r["achieved_pps"] >= KEEP_UP * rate)
    return r


def search(name, trial, start, cap):
    """Highest passing rate: double from start, then bisect. Returns the passing trial's
    result (with 'rate'), or None when even the lowest rate fails."""
    def attempt(rate):
        for i in range(2):
            r = trial(rate)
            log("  %-22s offered %8.0f/s  sent %8.0f/s  bad %.4f%%  %s%s" % (
                name, rate, r["rate"], 100 * r["bad_frac"], "ok" if r["ok"] else "FAIL",
                "" if i == 0 else " (retry)"))
            if r["ok"]:
                return r
        return None

    best, lo, hi, rate = None, None, None, start
    while rate <= cap:
        r = attempt(rate)
        if r:
            best, lo = r, rate
            rate *= 2
        else:
            hi = rate
            break
    if lo is None:
        rate = start / 2
        while rate >= start / 16 and best is None:
            r = attempt(rate)
            if r:
                best, lo = r, rate
            else:
                hi = rate
                rate /= 2
        if best is None:
            return None
    if hi is None:
        return best
    for _ in range(BISECT_STEPS):
        mid = (lo + hi) / 2
        r = attempt(mid)
        if r:
            best, lo = r, mid
        else:
            hi = mid
    return best


# ---- peers ----

def peer_exec(bed, argv, out_path):
    return bed.probe("exec", "--out", out_path, "--", *argv, timeout=300)


def peer_diff(bed, make_argv, counts, parse_lost, tmp):
    """Runs a peer at two counts. Its rate is the probes over its sending window (sampled
    from the namespace's counters, so start-up and the wait for the last replies are left
    out); its CPU per probe is the difference between the two runs' CPU over the difference
    of their probes, which cancels start-up costs. Loss is the longer run's."""
    runs = []
    for c in counts:
        out_path = os.path.join(tmp, "peer.out")
        r = peer_exec(bed, make_argv(c), out_path)
        with open(out_path, errors="replace") as f:
            r["lost"] = parse_lost(f.read())
        runs.append(r)
    a, b = runs
    d_probes = b["snmp_out_echos"] - a["snmp_out_echos"]
    d_cpu = b["cpu_us"] - a["cpu_us"]
    return {
        "probes": b["snmp_out_echos"],
        "rate": b["active_pps"],
        "us_per_probe": d_cpu / d_probes if d_probes > 0 and d_cpu > 0
        else b["cpu_us"] / max(1, b["snmp_out_echos"]),
        "lost": b["lost"],
        "bad_frac": b["lost"] / max(1, b["snmp_out_echos"]),
    }


def mtr_lost(text):
    """Lost probes in an `mtr --json` report: sum of Snt x Loss% over the hops."""
    try:
        hubs = json.loads(text)["report"]["hubs"]
    except (ValueError, KeyError):
        return float("nan")
    return sum(round(h["Snt"] * h["Loss%"] / 100.0) for h in hubs)


def fping_lost(text):
    """Lost pings in fping's -q summary ("xmt/rcv/%loss = 1000/998/0%")."""
    lost = 0
    for m in re.finditer(r"xmt/rcv/%loss = (\d+)/(\d+)/", text):
        lost += int(m.group(1)) - int(m.group(2))
    return lost


def measure_mtr(bed, tmp):
    dest = bed.dests[0]

    def argv(interval):
        return lambda c: ["mtr", "-n", "--json", "-G", "0.2", "-c", str(c), "-i", interval,
                          dest]
    fast = peer_diff(bed, argv("0.0001"), (100, 1000), mtr_lost, tmp)
    fast["setting"] = "mtr -i 0.0001 -G 0.2"
    usual = peer_diff(bed, argv("0.1"), (10, 40), mtr_lost, tmp)
    usual["setting"] = "mtr -i 0.1 -G 0.2"
    return fast, usual


def measure_fping(bed, tmp):
    """fping's fastest lossless rate: -p 1 (1 ms per target: its floor, shorter periods send
    no faster) and -i 0, over as many destinations as sustain < 0.1 % loss; plus an ordinary
    setting."""
    def argv(ndest, period):
        return lambda c: (["fping", "-q", "-c", str(c), "-t", "500", "-p", str(period), "-i",
                           "0"] + bed.dests[:ndest])

    def trial(rate):
        ndest = max(1, min(len(bed.dests), round(rate / 1000)))
        # fping keeps at most 65535 pings in its sequence map (10 s expiry).
        count = min(1000, 60000 // ndest)
        r = peer_diff(bed, argv(ndest, 1), (count // 5, count), fping_lost, tmp)
        r["setting"] = "fping -p 1 -i 0, %d targets" % ndest
        r["ok"] = r["bad_frac"] < LOSS_LIMIT and r["rate"] >= KEEP_UP * ndest * 1000
        return r
    best = search("fping", trial, 8000, 1000 * len(bed.dests))
    usual = peer_diff(bed, argv(min(8, len(bed.dests)), 10), (20, 100), fping_lost, tmp)
    usual["setting"] = "fping -p 10 -i 0, 8 targets"
    return best, usual


# ---- RTT accuracy on pw-netsim ----

class Netsim:
    def __init__(self, binary, scenario, name, truth, extra=()):
        self.binary, self.scenario, self.name, self.truth = binary, scenario, name, truth
        self.extra = list(extra)
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            [self.binary, "-s", self.scenario, "-n", self.name, "-t", self.truth,
             "--die-with-parent"] + self.extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        r, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if r else ""
        if line.strip() != "READY " + self.name:
            self.stop()
            raise BenchError("pw-netsim did not start: %r" % line)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # netsim removes its namespace; make sure of it (only the name we gave it).
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def __exit__(self, *exc):
        self.stop()
        return False

    def run(self, argv, timeout=120):
        p = subprocess.run(["ip", "netns", "exec", self.name] + argv, capture_output=True,
                           text=True, timeout=timeout)
        if p.returncode != 0:
            raise BenchError("%s exited %d: %s" % (argv[0], p.returncode, p.stderr.strip()))
        return p.stdout


def truth_per_ttl(path, dest, max_ttl):
    """Mean true RTT (microseconds) per TTL: netsim's reply send time minus probe read time,
    over the replied probes to dest."""
    sums = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["dst"] != dest or row["proto"] != "icmp" or row["outcome"] != "replied":
                continue
            ttl = int(row["ttl"])
            if ttl > max_ttl:
                continue
            s = sums.setdefault(ttl, [0.0, 0])
            s[0] += (int(row["sent_ns"]) - int(row["recv_ns"])) / 1000.0
            s[1] += 1
    return {t: s[0] / s[1] for t, s in sums.items() if s[1]}


def mae(measured, truth):
    """Mean absolute and mean signed per-hop error (microseconds), and the hops compared."""
    common = sorted(set(measured) & set(truth))
    if not common:
        return float("nan"), float("nan"), 0
    err = [measured[t] - truth[t] for t in common]
    return sum(abs(e) for e in err) / len(err), sum(err) / len(err), len(err)


def accuracy_round(build, scenario, tmp, dest, nhops, tag):
    """One pingwatcher run and one mtr run, each on a fresh pw-netsim."""
    netsim = os.path.join(build, "tests", "netsim", "pw-netsim")
    pingwatcher = os.path.join(build, "engine-daemon", "pingwatcher")
    res = {}

    truth = os.path.join(tmp, "truth-pw.tsv")
    with Netsim(netsim, scenario, "pwsim-b%d-%sp" % (os.getpid(), tag), truth) as sim:
        out = sim.run([pingwatcher, "trace", "--json", "-n", "-c", str(NETSIM_SAMPLES),
                       "-i", "0.2", dest])
    rep = json.loads(out)
    ours = {h["hop"]: h["avg_ms"] * 1000.0 for h in rep["hops"] if h["avg_ms"] is not None}
    res["pw"] = mae(ours, truth_per_ttl(truth, dest, nhops))

    truth = os.path.join(tmp, "truth-mtr.tsv")
    with Netsim(netsim, scenario, "pwsim-b%d-%sm" % (os.getpid(), tag), truth) as sim:
        out = sim.run(["mtr", "-n", "--raw", "-c", str(NETSIM_SAMPLES), "-i", "0.2",
                       "-G", "1", dest])
    per = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[0] == "p":  # p <ttl - 1> <rtt in us> <seq>
            per.setdefault(int(f[1]) + 1, []).append(int(f[2]))
    theirs = {t: sum(v) / len(v) for t, v in per.items()}
    res["mtr"] = mae(theirs, truth_per_ttl(truth, dest, nhops))
    return res


def measure_accuracy(build, scenario, tmp):
    """pingwatcher and mtr, alternately, NETSIM_ROUNDS times each; the errors are averaged
    over the rounds (they vary from run to run with the machine's load)."""
    with open(scenario) as f:
        sc = json.load(f)
    dest = sc["dest"]["addr"]
    nhops = len(sc["hops"]) + 1
    rounds = [accuracy_round(build, scenario, tmp, dest, nhops, "a%d" % i)
              for i in range(NETSIM_ROUNDS)]
    out = {}
    for tool in ("pw", "mtr"):
        runs = [r[tool] for r in rounds]
        out[tool] = (sum(x[0] for x in runs) / len(runs), sum(x[1] for x in runs) / len(runs),
                     min(x[2] for x in runs), [x[0] for x in runs])
    return out


# ---- report ----

def machine_busy(seconds=1.0):
    """Share of all CPUs busy (not idle or iowait) over a short sample: other work on this
    machine makes the rate figures noisy, and the table says so."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1.0 - (i1 - i0) / (t1 - t0) if t1 > t0 else 0.0


def competing_work(bed):
    """Names of other benchmark-like work running now (other router beds, pw-netsim), which
    shares the routers' CPU and makes the rate figures meaningless. Only looked at."""
    ours = "napi/p%sk" % bed.host_ns[3:-1]
    seen = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % pid) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm.startswith("napi/p") and not comm.startswith(ours):
            seen.add("another router bed")
        elif comm in ("pw-netsim", "pingwatcherd", "bench_probe"):
            seen.add(comm)
    return sorted(seen)


def fmt_rate(x):
    return "%.0f/s" % x if x is not None else "n/a"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return "%.3f" % (a / b)


def verdict(ok):
    return "PASS" if ok else "MISS"


def main():
    if len(sys.argv) != 2:
        print("usage: bench.py BUILD_DIR (run through bench/run.sh)", file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    scenario = os.path.join(src, "tests", "netsim", "scenarios", "plain.json")
    bed = Bed(build)
    t_start = time.monotonic()
    load0 = os.getloadavg()
    busy0 = machine_busy()
    others = competing_work(bed)

    with tempfile.TemporaryDirectory(prefix="pwbench-") as tmp:
        log("raw-socket send loop, flat out (one core):")
        flat = {m: raw_trial(bed, 0, mode=m, duration=1.0) for m in ("sendto", "sendmmsg")}
        for m, r in flat.items():
            log("  %-8s %8.0f/s  %.3f us/packet" % (m, r["achieved_pps"], r["us_per_probe"]))

        log("maximum sustained rate, full traces (TTL 1..%d):" % bed.hops)
        raw_max = search("raw sendmmsg", lambda r: raw_trial(bed, r), 25000, 1600000)
        eng_max = search("pingwatcher engine", lambda r: engine_trial(bed, r), 25000, 1600000)
        if eng_max is None:
            raise BenchError("the engine sustains no rate at all on this bed")
        rate = eng_max["offered_pps"]
        log("raw send loop at the engine's maximum rate (%.0f/s):" % rate)
        same = {m: raw_trial(bed, rate, mode=m) for m in ("sendto", "sendmmsg")}
        # The bed's limit is the highest rate any raw-loop run sustained in this run: near
        # the limit one trial more or less is noise on a shared machine.
        for r in same.values():
            if r["ok"] and (raw_max is None or r["rate"] > raw_max["rate"]):
                raw_max = r

        log("maximum sustained rate, final hop only (the packets fping sends):")
        raw_fin = search("raw sendmmsg final", lambda r: raw_trial(bed, r, final_hop_only=True),
                         25000, 1600000)
        eng_fin = search("engine final-hop", lambda r: engine_trial(bed, r, True), 25000,
                         1600000)

        log("mtr:")
        mtr_fast, mtr_usual = measure_mtr(bed, tmp)
        log("fping:")
        fping_fast, fping_usual = measure_fping(bed, tmp)

        log("RTT accuracy on pw-netsim (%s):" % os.path.relpath(scenario, src))
        acc = measure_accuracy(build, scenario, tmp)

    # ---- the table ----
    us = eng_max["us_per_probe"]
    core_share = eng_max["cpu_us"] / 1e6 / eng_max["span_s"]
    one_core = eng_max["rate"] / core_share if core_share > 0 else None
    mtr_best = min(mtr_fast["us_per_probe"], mtr_usual["us_per_probe"])
    fping_best = min(x["us_per_probe"] for x in (fping_fast, fping_usual) if x)
    us_fin = eng_fin["us_per_probe"] if eng_fin else None
    line = "-" * 100
    print("=" * 100)
    print("PingWatcher probe engine benchmark: %d routers + destination (%d addresses)" % (
        bed.hops - 1, len(bed.dests)))
    print("routers on CPU %s (%s), every prober on CPU %s" % (
        bed.bed_cpu, "threaded NAPI, SCHED_FIFO" if bed.offload
        else "NOT offloaded: router work is charged to the prober", PROBER_CPU))
    print("kernel %s, load average at start %.2f %.2f %.2f, run took %.0f s" % (
        os.uname().release, *load0, time.monotonic() - t_start))
    if others:
        print("WARNING: running beside %s: rate figures are not trustworthy" %
              ", ".join(others))
    if busy0 > 0.10:
        print("WARNING: %.0f %% of the CPUs were busy with other work before the run: rates"
              " (not CPU per probe) are noisy" % (100 * busy0))
    print(line)
    print("%-46s %12s %10s %9s %9s" % ("prober (setting)", "max rate", "us/probe", "bad %",
                                        "probes"))

    def row(name, rate_, us_, bad, n):
        print("%-46s %12s %10.3f %9s %9d" % (name, fmt_rate(rate_), us_,
                                             "-" if bad is None else "%.4f" % (100 * bad), n))
    for name, r in (("pingwatcher engine, full traces", eng_max),
                    ("pingwatcher engine, final hop only", eng_fin),
                    ("raw loop, full traces: bed limit (best run)", raw_max),
                    ("raw sendmmsg loop, final hop: bed limit", raw_fin)):
        if r is None:
            print("%-46s %12s" % (name, "none"))
        else:
            row(name, r["rate"], r["us_per_probe"], r["bad_frac"], r["sent"])
    for m in ("sendto", "sendmmsg"):
        r = same[m]
        row("raw %s loop at the engine's max rate" % m, r["rate"], r["us_per_probe"],
            r["bad_frac"], r["sent"])
    for m in ("sendto", "sendmmsg"):
        r = flat[m]
        row("raw %s loop flat out: send ceiling" % m, r["rate"], r["us_per_probe"], None,
            r["sent"])
    for r in (mtr_fast, mtr_usual, fping_fast, fping_usual):
        if r is not None:
            row(r["setting"], r["rate"], r["us_per_probe"], r["bad_frac"], r["probes"])
    print(line)
    print("%-46s %12s %10s" % ("ratios, ours / theirs", "max rate", "us/probe"))
    print("%-46s %12s %10s" % ("  mtr (us/probe: its best setting)",
                               ratio(eng_max["rate"], mtr_fast["rate"]), ratio(us, mtr_best)))
    print("%-46s %12s %10s" % ("  fping (both: our final-hop mode, same packets)",
                               ratio(eng_fin["rate"] if eng_fin else None,
                                     fping_fast["rate"] if fping_fast else None),
                               ratio(us_fin, fping_best)))
    print("%-46s %12s %10s" % ("  raw loop (rate: bed limit; us: same rate)",
                               ratio(eng_max["rate"], raw_max["rate"] if raw_max else None),
                               ratio(us, same["sendmmsg"]["us_per_probe"])))
    print("%-46s %12s %10s" % ("  raw sendto loop at the same rate", "",
                               ratio(us, same["sendto"]["us_per_probe"])))
    print(line)
    pw_mae, pw_bias, pw_n, pw_runs = acc["pw"]
    mtr_mae, mtr_bias, mtr_n, mtr_runs = acc["mtr"]
    print("RTT error on netsim's ground truth: per hop |tool's mean - true mean|, averaged over"
          " %d hops;" % min(pw_n, mtr_n))
    print("%d runs of %d samples per tool, alternating (signed mean in brackets)" % (
        NETSIM_ROUNDS, NETSIM_SAMPLES))
    print("  pingwatcher %6.1f us (%+.1f)   runs: %s" % (
        pw_mae, pw_bias, ", ".join("%.1f" % x for x in pw_runs)))
    print("  mtr         %6.1f us (%+.1f)   runs: %s" % (
        mtr_mae, mtr_bias, ", ".join("%.1f" % x for x in mtr_runs)))
    print("  ratio       %s" % ratio(pw_mae, mtr_mae))
    print(line)
    print("targets")
    print("  %-40s %10s %7.3f x   %s" % ("CPU per probe <= %.0f us" % TARGET_US_PER_PROBE,
                                         "%.3f us" % us, us / TARGET_US_PER_PROBE,
                                         verdict(us <= TARGET_US_PER_PROBE)))
    bed_bound = raw_max is not None and raw_max["rate"] < TARGET_RATE
    print("  %-40s %10s %7.3f x   %s%s" % (
        "sustained >= %d/s, measured" % TARGET_RATE, fmt_rate(eng_max["rate"]),
        eng_max["rate"] / TARGET_RATE, verdict(eng_max["rate"] >= TARGET_RATE),
        "  (bed-bound: raw loop %s)" % fmt_rate(raw_max["rate"])
        if bed_bound and eng_max["rate"] < TARGET_RATE else ""))
    if one_core:
        print("  %-40s %10s %7.3f x   %s  (engine used %.1f %% of CPU %s)" % (
            "sustained >= %d/s, one-core capacity" % TARGET_RATE, fmt_rate(one_core),
            one_core / TARGET_RATE, verdict(one_core >= TARGET_RATE), 100 * core_share,
            PROBER_CPU))
    print("  %-40s %10s %7.3f x   %s" % ("RTT error <= mtr's", "%.1f us" % pw_mae,
                                         pw_mae / mtr_mae if mtr_mae else float("nan"),
                                         verdict(pw_mae <= mtr_mae)))
    print("=" * 100)
    return 0


def on_signal(signum, frame):
    # An exception unwinds through subprocess.run, which kills the child it started.
    raise KeyboardInterrupt("signal %d" % signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sys.exit(main())
    except (BenchError, subprocess.TimeoutExpired, OSError) as exc:
        print("bench: %s" % exc, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
