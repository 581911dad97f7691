#!/usr/bin/env python3
"""End-to-end tests of pingwatcherd (the daemon), its control socket and the CLI on top.

Each case starts pw-netsim on a scenario, runs pingwatcherd inside its namespace with a
temporary configuration, store and control socket (dropping to user nobody), drives it with
`pingwatcher` and raw control requests, stops it and checks the store against netsim's
ground truth. Every process started here is stopped by PID and every namespace removed, also
on failure.

usage: test_daemon.py PINGWATCHERD PINGWATCHER PW_NETSIM SCENARIO_DIR CASE
"""

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsim import Netsim  # noqa: E402

RTT_TOLERANCE_MS = 0.3
USER, GROUP = "nobody", "nogroup"
FAST = {"timeout": 1, "inter_packet_delay": 1, "max_hops": 16}


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Daemon:
    """One pingwatcherd in a netsim namespace, with its own temporary directory."""

    def __init__(self, ctx, sim, config):
        self.ctx = ctx
        self.sim = sim
        self.dir = tempfile.mkdtemp(prefix="pwd-e2e-")
        os.chmod(self.dir, 0o755)  # the daemon reads its configuration again as nobody
        self.db = os.path.join(self.dir, "db")
        self.sock = os.path.join(self.dir, "control.sock")
        self.cfg_path = os.path.join(self.dir, "pingwatcher.json")
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.proc = None
        self.logf = None
        base = {"database": self.db, "control": {"path": self.sock}, "user": USER,
                "group": GROUP, "log_level": "info"}
        base.update(config)
        self.write_config(base)

    def write_config(self, config):
        self.config = config
        tmp = self.cfg_path + ".new"
        with open(tmp, "w") as f:
            json.dump(config, f, indent=1)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.cfg_path)

    def start(self, timeout=10.0, wrapper=()):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.sim.ns] + list(wrapper) +
            [self.ctx.daemon, "-f", "-c", self.cfg_path],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure("pingwatcherd exited with %d: %s" % (self.proc.returncode,
                                                                  self.log()[-2000:]))
            try:
                self.request({"cmd": "stats"}, timeout=1)
                return self
            except OSError:
                time.sleep(0.05)
        raise Failure("pingwatcherd did not answer on %s: %s" % (self.sock, self.log()[-2000:]))

    def request_raw(self, data, timeout=10.0, replies=1):
        """Sends raw bytes, returns the first `replies` response lines (parsed)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
            s.sendall(data)
            buf = b""
            while buf.count(b"\n") < replies:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        finally:
            s.close()
        lines = buf.split(b"\n")[:replies]
        return [json.loads(x) for x in lines if x]

    def request(self, obj, timeout=10.0):
        out = self.request_raw(json.dumps(obj).encode() + b"\n", timeout)
        if not out:
            raise OSError("no answer")
        return out[0]

    def ok(self, obj):
        r = self.request(obj)
        check(r.get("ok") is True, "%s failed: %s" % (obj["cmd"], r))
        return r["result"]

    def cli(self, args, check_rc=True):
        p = subprocess.run([self.ctx.cli, "--db", self.db, "--control", self.sock] + args,
                           capture_output=True, text=True, timeout=60)
        if check_rc and p.returncode != 0:
            raise Failure("pingwatcher %s exited %d: %s" % (" ".join(args), p.returncode,
                                                           p.stderr.strip()))
        return p

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=15.0):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise Failure("pingwatcherd did not exit within %.0f s of SIGTERM" % timeout)
        if self.logf:
            self.logf.close()
            self.logf = None
        return self.proc.returncode

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.logf.close()
        self.logf = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.logf:
            self.logf.close()
        log = self.log()
        shutil.rmtree(self.dir, ignore_errors=True)
        # A sanitizer build reports memory errors and leaks in the log.
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in log:
                i = log.index(marker)
                raise Failure("pingwatcherd: %s" % log[max(0, i - 200):i + 3000])

    # ---- store reads through the CLI ----

    def export(self, tid):
        out = json.loads(self.cli(["export", str(tid), "--format", "json"]).stdout)
        samples = {}
        for r in out["rows"]:
            samples.setdefault(r["time_us"], {})[r["hop"]] = (r["ip"], r["rtt_ms"])
        return sorted(samples.items())

    def hops(self, tid, focus=0):
        return json.loads(self.cli(["hops", str(tid), "--focus", str(focus), "--json"]).stdout)

    def route_changes(self, tid):
        return json.loads(self.cli(["route-changes", str(tid), "--json"]).stdout)

    def targets(self):
        return {t["label"]: t for t in self.ok({"cmd": "target.list"})["targets"]}


class Ctx:
    def __init__(self, daemon, cli, netsim_bin, scenario_dir):
        self.daemon, self.cli, self.netsim_bin, self.scenario_dir = (daemon, cli, netsim_bin,
                                                                     scenario_dir)

    def netsim(self, scenario, seed=1):
        return Netsim(self.netsim_bin, os.path.join(self.scenario_dir, scenario), seed=seed)


def run_daemon(ctx, sim, config, body):
    d = Daemon(ctx, sim, config)
    try:
        d.start()
        return body(d)
    finally:
        d.cleanup()


def compare_with_truth(truth, samples, dst, proto, interval_s):
    """Stored samples against netsim's log: every stored probe has its truth row, lost counts
    per hop are equal, average RTTs per hop within RTT_TOLERANCE_MS, responders equal.

    Probes of one TTL leave in sample order, so per TTL the n-th stored sample is matched with
    the first truth row at or after its start that no earlier sample took (a loop that stalled
    still sends them in that order; a time window alone would not survive a stall)."""
    rows = {}
    for r in truth:
        if r["dst"] == dst and r["proto"] == proto:
            rows.setdefault(int(r["ttl"]), []).append((int(r["recv_ns"]), r))
    check(rows, "ground truth has no %s rows for %s" % (proto, dst))
    check(len(samples) >= 5, "only %d samples stored for %s" % (len(samples), dst))
    for lst in rows.values():
        lst.sort(key=lambda x: x[0])
    cursor = {ttl: 0 for ttl in rows}
    per_hop = {}
    for t_us, hops in samples:
        for ttl, (ip, rtt) in sorted(hops.items()):
            lst = rows.get(ttl, [])
            i = cursor.get(ttl, 0)
            while i < len(lst) and lst[i][0] < t_us * 1000 - 1000000:
                i += 1
            check(i < len(lst) and lst[i][0] < t_us * 1000 + 2 * 10**9,
                  "%s: the probe of hop %d of the sample at %d us is not in the ground truth" %
                  (dst, ttl, t_us))
            r = lst[i][1]
            cursor[ttl] = i + 1
            h = per_hop.setdefault(ttl, {"n": 0, "lost": 0, "tlost": 0, "sum": 0.0, "tsum": 0.0,
                                         "ips": set(), "tips": set()})
            h["n"] += 1
            replied = r["outcome"] == "replied"
            h["tlost"] += not replied
            if rtt is None:
                h["lost"] += 1
            else:
                h["sum"] += rtt
                h["ips"].add(ip)
            if replied:
                h["tsum"] += (int(r["sent_ns"]) - int(r["recv_ns"])) / 1e6
                h["tips"].add(r["responder"])
    for ttl, h in sorted(per_hop.items()):
        check(h["lost"] == h["tlost"], "%s hop %d: %d of %d stored as lost, ground truth %d" %
              (dst, ttl, h["lost"], h["n"], h["tlost"]))
        answered = h["n"] - h["lost"]
        if answered:
            avg, tavg = h["sum"] / answered, h["tsum"] / answered
            check(abs(avg - tavg) <= RTT_TOLERANCE_MS,
                  "%s hop %d: stored average %.3f ms, ground truth %.3f ms" % (dst, ttl, avg,
                                                                                tavg))
            check(h["ips"] == h["tips"], "%s hop %d: stored responders %s, ground truth %s" %
                  (dst, ttl, h["ips"], h["tips"]))
    return per_hop


# ---- cases ----

def case_truth(ctx):
    """Four targets of the demo network (a host name, IPv4 and IPv6, ICMP and TCP, loss,
    deprioritised and silent hops), each on its own interval: stored samples = ground truth."""
    targets = [
        {"host": "web.sim.example", "label": "web", "trace_interval": 0.2},
        {"host": "198.18.101.10", "label": "lossy", "trace_interval": 0.1},
        {"host": "198.18.102.10", "label": "api", "trace_interval": 0.25},
        {"host": "2001:db8:103::10", "label": "vpn", "trace_interval": 0.3, "packet_type": "tcp"},
    ]
    with ctx.netsim("demo.json") as sim:
        def body(d):
            time.sleep(8)
            listed = d.targets()
            rc = d.stop()
            check(rc == 0, "pingwatcherd exited %s on SIGTERM" % rc)
            return ({label: t["ip"] for label, t in listed.items()},
                    {label: d.export(t["id"]) for label, t in listed.items()},
                    {label: d.hops(t["id"]) for label, t in listed.items()})
        ips, exports, hops = run_daemon(ctx, sim, {"defaults": FAST, "targets": targets}, body)
    paths = sim.scenario["paths"]
    # The daemon resolves the name as getaddrinfo would (RFC 6724: IPv6 first when usable).
    check(ips["web"] in ("198.18.100.10", "2001:db8:100::10"), "web resolved to %s" % ips["web"])
    dsts = {"web": (ips["web"], "icmp", 0.2, paths[0]),
            "lossy": ("198.18.101.10", "icmp", 0.1, paths[1]),
            "api": ("198.18.102.10", "icmp", 0.25, paths[2]),
            "vpn": ("2001:db8:103::10", "tcp", 0.3, paths[3])}
    for label, (dst, proto, interval, path) in dsts.items():
        per_hop = compare_with_truth(sim.truth, exports[label], dst, proto, interval)
        # Every sample of one interval: no gaps in the sequence.
        times = [t for t, _ in exports[label]]
        gaps = [b - a for a, b in zip(times, times[1:])]
        check(max(gaps) < interval * 3e6, "%s: a gap of %.3f s between samples" %
              (label, max(gaps) / 1e6))
        key = "addr6" if ":" in dst else "addr"
        for i, hop in enumerate(path["hops"]):
            h = hops[label]["hops"][i]
            if hop.get("silent"):
                check(h["ip"] is None and h["loss_pct"] == 100,
                      "%s hop %d is silent but shows %s" % (label, i + 1, h["ip"]))
                continue
            check(h["ip"] == hop[key], "%s hop %d: %s, scenario %s" % (label, i + 1, h["ip"],
                                                                       hop[key]))
        check(hops[label]["hops"][-1]["ip"] == dst, "%s: last hop is not the destination" %
              label)
        check(sum(h["n"] for h in per_hop.values()) > 0, "%s: nothing compared" % label)
    # Reverse DNS of hop addresses went into the store (sanitised).
    web = hops["web"]["hops"]
    check(web[0]["dns"] == "gw.home.sim.example", "web hop 1 DNS is %r" % web[0]["dns"])
    check(web[6]["dns"] == "----------", "web hop 7 (no PTR) DNS is %r" % web[6]["dns"])
    # The hostile PTR name arrives cleaned: only printable ASCII without blanks (pw_dns_sanitize).
    want = "".join(ch for ch in paths[2]["hops"][4]["name"] if 0x21 <= ord(ch) <= 0x7e)
    api5 = hops["api"]["hops"][4]["dns"]
    check(api5 == want, "api hop 5 DNS is %r, expected %r" % (api5, want))
    check(hops["web"]["ip"] == ips["web"], "web's hop table is for %s" % hops["web"]["ip"])


def case_route_change(ctx):
    with ctx.netsim("route_change.json") as sim:
        t0 = time.time()
        at_s = sim.scenario["route_changes"][0]["at_s"]
        interval = 0.5

        def body(d):
            time.sleep(max(0, t0 + at_s + 5 - time.time()))
            tid = d.targets()["rc"]["id"]
            check(d.stop() == 0, "pingwatcherd did not exit cleanly")
            return tid, d.route_changes(tid), d.log()
        tid, changes, log = run_daemon(ctx, sim, {
            "defaults": dict(FAST, trace_interval=interval),
            "route_change": {"persist_samples": 3},
            "targets": [{"host": "198.18.100.10", "label": "rc"}]}, body)
    check(len(changes) == 1, "expected exactly one route change, got %d: %s" % (len(changes),
                                                                                changes))
    c = changes[0]
    when = c["time_us"] / 1e6
    check(abs(when - (t0 + at_s)) <= interval,
          "route change logged at +%.3f s, the scenario changes at +%d s (±%.1f s)" %
          (when - t0, at_s, interval))
    check(c["first_hop"] == 4, "first differing hop %d, expected 4" % c["first_hop"])
    check(len(c["old_route"]) == 11 and len(c["new_route"]) == 11 and
          c["old_route"][3] == "198.18.1.4" and c["new_route"][3] == "198.18.3.4",
          "routes: %s" % c)
    lines = [x for x in log.splitlines() if "route changed" in x]
    check(len(lines) == 1, "expected one 'route changed' log line, got %d" % len(lines))


def case_silent_hop(ctx):
    with ctx.netsim("silent_hop.json") as sim:
        def body(d):
            time.sleep(4)
            tid = d.targets()["s"]["id"]
            check(d.stop() == 0, "pingwatcherd did not exit cleanly")
            return d.route_changes(tid), d.hops(tid), d.log()
        changes, hops, log = run_daemon(ctx, sim, {
            "defaults": dict(FAST, trace_interval=0.1),
            "route_change": {"persist_samples": 1},
            "targets": [{"host": "198.18.100.10", "label": "s"}]}, body)
    check(changes == [], "a silent hop caused route changes: %s" % changes)
    check("route changed" not in log, "a silent hop logged a route change")
    h3 = hops["hops"][2]
    check(h3["ip"] is None and h3["loss_pct"] == 100, "hop 3 shows %s" % h3)
    check(hops["samples"] >= 20, "only %d samples" % hops["samples"])


def count_samples(d, tid):
    return d.hops(tid)["samples"]


def case_cli(ctx):
    with ctx.netsim("plain.json") as sim:
        def body(d):
            p = d.cli(["targets", "add", "198.18.100.10", "-i", "0.2", "-t", "1", "-d", "1",
                       "--label", "cli"])
            tid = int(p.stdout.strip())
            p = d.cli(["targets", "add", "target.sim.example", "-P", "udp", "-i", "0.5",
                       "--label", "named"])
            tid2 = int(p.stdout.strip())
            listed = json.loads(d.cli(["targets", "list", "--json"]).stdout)
            byid = {t["id"]: t for t in listed}
            check(tid in byid and byid[tid]["options"]["trace_interval"] == 0.2,
                  "targets list: %s" % listed)
            check(byid[tid2]["ip"] in ("198.18.100.10", "2001:db8:100::10") and
                  byid[tid2]["options"]["packet_type"] == "udp",
                  "the named target is %s" % byid[tid2])
            time.sleep(2)
            n1 = count_samples(d, tid)
            check(n1 >= 5, "only %d samples after 2 s" % n1)
            d.cli(["targets", "pause", str(tid)])
            time.sleep(1.3)  # in-flight samples settle (timeout 1 s)
            n2 = count_samples(d, tid)
            time.sleep(1.5)
            n3 = count_samples(d, tid)
            check(n3 == n2, "paused target still sampled: %d -> %d" % (n2, n3))
            check(json.loads(d.cli(["targets", "list", "--json"]).stdout)[0]["paused"],
                  "pause not stored")
            d.cli(["targets", "resume", str(tid)])
            time.sleep(1.5)
            n4 = count_samples(d, tid)
            check(n4 >= n3 + 3, "resumed target not sampled: %d -> %d" % (n3, n4))
            d.cli(["targets", "rm", str(tid)])
            time.sleep(1.3)
            n5 = count_samples(d, tid)
            time.sleep(1.2)
            n6 = count_samples(d, tid)
            check(n6 == n5, "removed target still sampled: %d -> %d" % (n5, n6))
            ids = [t["id"] for t in json.loads(d.cli(["targets", "list", "--json"]).stdout)]
            check(ids == [tid2], "after rm the list is %s" % ids)
            # Errors: one line, the documented exit statuses.
            p = d.cli(["targets", "add", "nosuchhost.sim.example"], check_rc=False)
            check(p.returncode == 2 and "nosuchhost.sim.example" in p.stderr and
                  p.stderr.count("\n") == 1, "unknown host: %d %r" % (p.returncode, p.stderr))
            p = d.cli(["targets", "add", "198.18.100.10", "-i", "-3"], check_rc=False)
            check(p.returncode == 2 and "interval" in p.stderr, "bad interval: %r" % p.stderr)
            p = d.cli(["targets", "rm", "9999"], check_rc=False)
            check(p.returncode == 1 and "does not exist" in p.stderr, "rm 9999: %r" % p.stderr)
            p = subprocess.run([ctx.cli, "--control", d.dir + "/nope.sock", "--db", d.db,
                                "targets", "pause", "1"], capture_output=True, text=True)
            check(p.returncode == 1 and "cannot reach pingwatcherd at" in p.stderr,
                  "unreachable daemon: %d %r" % (p.returncode, p.stderr))
            table = d.cli(["hops", str(tid2)]).stdout
            check(byid[tid2]["ip"] in table, "hops table:\n%s" % table)
            csv = d.cli(["export", str(tid2), "--format", "csv"]).stdout.splitlines()
            check(csv[0] == "time,time_us,hop,ip,dns,rtt_ms,timeout" and len(csv) > 5,
                  "csv export: %s" % csv[:3])
        run_daemon(ctx, sim, {"defaults": FAST}, body)


def case_privileges(ctx):
    nobody = pwd.getpwnam(USER)
    with ctx.netsim("plain.json") as sim:
        def body(d):
            with open("/proc/%d/status" % d.proc.pid) as f:
                st = dict(line.split(":", 1) for line in f if ":" in line)
            uids = st["Uid"].split()
            gids = st["Gid"].split()
            check(all(int(u) == nobody.pw_uid for u in uids), "Uid: %s" % st["Uid"].strip())
            check(all(int(g) == nobody.pw_gid for g in gids[:3]), "Gid: %s" % st["Gid"].strip())
            for cap in ("CapEff", "CapPrm", "CapAmb", "CapInh"):
                check(int(st[cap], 16) == 0, "%s is %s" % (cap, st[cap].strip()))
            check(st["NoNewPrivs"].strip() == "1", "NoNewPrivs %s" % st["NoNewPrivs"].strip())
            check(st["Groups"].split() == [str(nobody.pw_gid)] or
                  st["Groups"].split() == [], "Groups: %s" % st["Groups"].strip())
            check(os.stat(d.db).st_uid == nobody.pw_uid, "the store is not owned by nobody")
            sst = os.stat(d.sock)
            check(oct(sst.st_mode & 0o777) == oct(0o660), "socket mode %o" % (sst.st_mode & 0o777))
            check("no capabilities" in d.log(), "log: %s" % d.log())
            # And it still measures, unprivileged.
            time.sleep(1.5)
            tid = d.targets()["p"]["id"]
            check(count_samples(d, tid) >= 5, "no samples after the drop")
        run_daemon(ctx, sim, {"defaults": dict(FAST, trace_interval=0.2),
                              "targets": [{"host": "198.18.100.10", "label": "p"}]}, body)
    # The systemd way: started as the user with CAP_NET_RAW as its only, ambient capability
    # (AmbientCapabilities=CAP_NET_RAW); it opens the sockets and drops that too.
    with ctx.netsim("plain.json") as sim:
        d = Daemon(ctx, sim, {"defaults": dict(FAST, trace_interval=0.2),
                              "targets": [{"host": "198.18.100.10", "label": "s"}]})
        try:
            os.chown(d.dir, nobody.pw_uid, nobody.pw_gid)  # StateDirectory/RuntimeDirectory
            d.start(wrapper=["setpriv", "--reuid", str(nobody.pw_uid), "--regid",
                             str(nobody.pw_gid), "--clear-groups", "--inh-caps", "+net_raw",
                             "--ambient-caps", "+net_raw"])
            with open("/proc/%d/status" % d.proc.pid) as f:
                st = dict(line.split(":", 1) for line in f if ":" in line)
            for cap in ("CapEff", "CapPrm", "CapAmb", "CapInh"):
                check(int(st[cap], 16) == 0, "systemd mode: %s is %s" % (cap, st[cap].strip()))
            check(st["Uid"].split()[0] == str(nobody.pw_uid), "systemd mode: Uid %s" % st["Uid"])
            time.sleep(1.5)
            check(count_samples(d, d.targets()["s"]["id"]) >= 5, "systemd mode: no samples")
            check(d.stop() == 0, "systemd mode: pingwatcherd did not exit cleanly")
        finally:
            d.cleanup()
    # A user that does not exist: refuses to start, says why.
    with ctx.netsim("plain.json") as sim:
        d = Daemon(ctx, sim, {"user": "pw-no-such-user"})
        try:
            try:
                d.start(timeout=5)
                raise Failure("started with a user that does not exist")
            except Failure as e:
                check("does not exist" in str(e) and "exited with 2" in str(e), str(e))
        finally:
            d.cleanup()


def case_reload(ctx):
    with ctx.netsim("plain.json") as sim:
        def body(d):
            time.sleep(2)
            a = d.targets()["a"]
            d.write_config(dict(d.config, targets=d.config["targets"] + [
                {"host": "198.18.100.10", "label": "b", "packet_type": "udp",
                 "trace_interval": 0.2}]))
            t_reload = time.time()
            d.signal(signal.SIGHUP)
            time.sleep(2)
            ts = d.targets()
            check("b" in ts and ts["b"]["samples"] >= 5, "b did not start: %s" % ts)
            check(ts["a"]["id"] == a["id"] and ts["a"]["running_since"] == a["running_since"],
                  "a was restarted by the reload: %s -> %s" % (a, ts["a"]))
            check(ts["a"]["samples"] > a["samples"], "a stopped")
            # A bad file is refused, the running configuration kept.
            with open(d.cfg_path, "w") as f:
                f.write('{"targets": [{"host": "198.18.100.10", "trace_interval": -3}]}')
            d.signal(signal.SIGHUP)
            time.sleep(0.8)
            check("reload failed" in d.log() and '"trace_interval" must be between' in d.log(),
                  "bad reload not logged: %s" % d.log()[-800:])
            ts2 = d.targets()
            check(set(ts2) == {"a", "b"} and ts2["b"]["samples"] > ts["b"]["samples"],
                  "bad reload changed targets: %s" % ts2)
            # b removed again, a's interval unchanged: a keeps running.
            d.write_config(dict(d.config, targets=d.config["targets"][:1]))
            d.signal(signal.SIGHUP)
            time.sleep(1)
            ts3 = d.targets()
            check(set(ts3) == {"a"}, "b not removed")
            check(ts3["a"]["running_since"] == a["running_since"], "a restarted")
            check(d.stop() == 0, "pingwatcherd did not exit cleanly")
            return a["id"], t_reload, d.export(a["id"])
        aid, t_reload, samples = run_daemon(ctx, sim, {
            "defaults": dict(FAST, trace_interval=0.2),
            "targets": [{"host": "198.18.100.10", "label": "a"}]}, body)
    times = [t / 1e6 for t, _ in samples]
    before = [t for t in times if t < t_reload]
    after = [t for t in times if t >= t_reload]
    check(before and after, "no samples around the reload")
    # No sample slot lost around the reload (a restart would also have shown above as a new
    # running_since). Two intervals allow for a loaded machine delaying one sample.
    near = [t for t in times if abs(t - t_reload) < 1.0]
    gaps = [b - a for a, b in zip(near, near[1:])]
    check(gaps and max(gaps) < 0.2 * 2, "a's samples have a gap of %.3f s at the reload" %
          max(gaps))


def case_bad_requests(ctx):
    bad = [
        ("bad JSON", b'{"cmd": "target.add", "args": {"host": ', "invalid_argument",
         "not valid JSON"),
        ("huge line", b'{"cmd":"target.add","args":{"label":"' + b"x" * 70000 + b'"}}',
         "invalid_argument", "longer than 65536"),
        ("unknown field", {"cmd": "target.add",
                           "args": {"host": "198.18.100.10", "colour": "red"}},
         "invalid_argument", 'unknown field "colour"'),
        ("wrong type", {"cmd": "target.add",
                        "args": {"host": "198.18.100.10", "max_hops": "thirty"}},
         "invalid_argument", '"max_hops" must be a number'),
        ("negative interval", {"cmd": "target.add",
                               "args": {"host": "198.18.100.10", "trace_interval": -3}},
         "invalid_argument", '"trace_interval" must be between 0.01 and 86400 s (got -3)'),
        ("unresolvable host", {"cmd": "target.add", "args": {"host": "nosuchhost.sim.example"}},
         "invalid_argument", "nosuchhost.sim.example"),
        ("unknown id", {"cmd": "target.remove", "args": {"id": 999}}, "not_found",
         "target 999 does not exist"),
        ("unknown command", {"cmd": "target.explode"}, "invalid_argument", "unknown command"),
        ("missing host", {"cmd": "target.add", "args": {}}, "invalid_argument", 'needs "host"'),
        ("packet too big", {"cmd": "target.add",
                            "args": {"host": "198.18.100.10", "packet_size": 9000}},
         "invalid_argument", "packet size"),
        ("unknown configuration", {"cmd": "target.add",
                                   "args": {"host": "198.18.100.10", "config": "nope"}},
         "not_found", '"nope"'),
        ("file target", {"cmd": "target.remove", "args": {"id": 1}}, "conflict",
         "configuration file"),
        ("bad time", {"cmd": "session.create", "args": {"target": 1, "name": "x",
                                                        "start": "yesterday", "end": 5}},
         "invalid_argument", "RFC 3339"),
        ("not an object", b'["target.list"]', "invalid_argument", "JSON object"),
        ("args not an object", {"cmd": "stats", "args": [1]}, "invalid_argument",
         '"args" must be an object'),
    ]
    with ctx.netsim("plain.json") as sim:
        def body(d):
            before = d.ok({"cmd": "target.list"})
            for name, req, code, text in bad:
                data = req if isinstance(req, bytes) else json.dumps(req).encode()
                r = d.request_raw(data + b"\n")
                check(len(r) == 1 and r[0].get("ok") is False, "%s: answer %s" % (name, r))
                e = r[0]["error"]
                check(e["code"] == code and text in e["message"],
                      "%s: got %s, want %s containing %r" % (name, e, code, text))
                after = d.ok({"cmd": "target.list"})
                for t in after["targets"] + before["targets"]:
                    t.pop("samples", None)
                    t.pop("last_sample", None)
                check(after == before, "%s changed the targets" % name)
            # The connection survives an over-long line: the next request is answered.
            r = d.request_raw(b"x" * 100000 + b'\n{"cmd":"target.list"}\n', replies=2)
            check(len(r) == 2 and r[0]["ok"] is False and r[1]["ok"] is True,
                  "after a huge line: %s" % r)
            # Several requests on one connection are answered in order, a DNS one included.
            r = d.request_raw(b'{"cmd":"target.add","args":{"host":"target.sim.example",'
                              b'"label":"n","paused":true}}\n{"cmd":"target.list"}\n',
                              replies=2)
            check(r[0]["ok"] and len(r[1]["result"]["targets"]) == 2, "pipelined: %s" % r)
            # The positive paths of the other commands.
            d.ok({"cmd": "config.create", "args": {"name": "slow", "trace_interval": 5}})
            tid = d.ok({"cmd": "target.add", "args": {"host": "198.18.100.10",
                                                      "config": "slow"}})["id"]
            check(d.targets()[""]["options"]["trace_interval"] == 5, "config not applied")
            d.ok({"cmd": "config.update", "args": {"name": "slow", "trace_interval": 4}})
            d.ok({"cmd": "config.apply", "args": {"name": "slow", "target": tid}})
            check(d.targets()[""]["options"]["trace_interval"] == 4, "config.apply")
            sid = d.ok({"cmd": "session.create", "args": {
                "target": tid, "name": "outage", "start": "2024-05-01T12:00:00Z",
                "end": 1714572000.5}})["id"]
            cid = d.ok({"cmd": "comment.add", "args": {"target": tid, "time": time.time(),
                                                       "text": "maintenance"}})["id"]
            d.ok({"cmd": "comment.delete", "args": {"id": cid}})
            d.ok({"cmd": "session.delete", "args": {"id": sid}})
            r = d.request({"cmd": "session.delete", "args": {"id": sid}})
            check(r["error"]["code"] == "not_found", "second delete: %s" % r)
            d.ok({"cmd": "target.update", "args": {"id": tid, "trace_interval": 0.5,
                                                   "label": "u"}})
            check(d.targets()["u"]["options"]["trace_interval"] == 0.5, "target.update")
            d.ok({"cmd": "config.delete", "args": {"name": "slow"}})
            st = d.ok({"cmd": "stats"})
            check(st["request_errors"] >= len(bad), "stats: %s" % st)
            check(d.proc.poll() is None, "pingwatcherd died")
        run_daemon(ctx, sim, {"defaults": dict(FAST, trace_interval=0.5),
                              "targets": [{"host": "198.18.100.10", "label": "f"}]}, body)


def case_crash(ctx):
    """kill -9 during heavy ingest, then restart on the same store, twenty times: the store
    opens every time and holds everything committed before the kill."""
    ntargets = 10
    targets = [{"host": "198.18.100.10", "label": "t%d" % i, "trace_interval": 0.02,
                "timeout": 0.5, "inter_packet_delay": 0, "max_hops": 12}
               for i in range(ntargets)]
    rounds = 20
    started = time.monotonic()
    with ctx.netsim("plain.json") as sim:
        d = Daemon(ctx, sim, {"targets": targets, "batch": {"max_ms": 100, "max_samples": 5000},
                              "dns": {"enabled": False}})
        try:
            committed = 0
            ids = None
            for i in range(rounds):
                d.start()
                if ids is None:
                    ids = [t["id"] for t in d.targets().values()]
                time.sleep(0.6)
                st = d.ok({"cmd": "stats"})
                check(st["samples_flushed"] > 0, "round %d: nothing committed: %s" % (i, st))
                d.kill9()
                committed += st["samples_flushed"]
                stored = sum(count_samples(d, t) for t in ids)
                check(stored >= committed,
                      "round %d: %d samples stored, %d were committed before kill -9" %
                      (i, stored, committed))
            check(time.monotonic() - started < 60, "the crash loop took %.0f s" %
                  (time.monotonic() - started))
        finally:
            d.cleanup()


CASES = {
    "daemon-truth": case_truth,
    "daemon-route-change": case_route_change,
    "daemon-silent-hop": case_silent_hop,
    "daemon-cli": case_cli,
    "daemon-privileges": case_privileges,
    "daemon-reload": case_reload,
    "daemon-bad-requests": case_bad_requests,
    "daemon-crash": case_crash,
}


def main():
    if len(sys.argv) != 6 or sys.argv[5] not in CASES:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        print("cases: " + " ".join(CASES), file=sys.stderr)
        return 2
    ctx = Ctx(*sys.argv[1:5])
    try:
        CASES[sys.argv[5]](ctx)
    except Failure as e:
        print("FAIL %s: %s" % (sys.argv[5], e))
        return 1
    print("ok %s" % sys.argv[5])
    return 0


if __name__ == "__main__":
    sys.exit(main())
