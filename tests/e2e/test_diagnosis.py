#!/usr/bin/env python3
"""End-to-end tests of the path diagnosis against the simulated network's ground truth.

The trace cases start pw-netsim on a scenario with a known problem, run `pingwatcher trace
--json` inside its namespace and check the "diagnosis" object: the verdict, the hop it names
and its figures, compared with netsim's truth log within stated tolerances.

The store cases run pingwatcherd on diag_report.json (a route change at 3 s, then 20 % loss from
hop 5 on from 9 s, a hostile PTR name and a hostile label) and check what the store path makes
of it: `report` writes the evidence report with `pingwatcher report`, checks its content and
escaping and opens it in headless Chromium (no request but the file itself, charts drawn,
screenshot in tests/artifacts/); `api` asks pingwatcher.fcgi behind nginx for the diagnosis
(JSON and HTML), of a past moment, a focus window and a session, for the report download, and
for the errors.

usage: test_diagnosis.py PINGWATCHER PW_NETSIM SCENARIO_DIR CASE
                         [PINGWATCHERD [PINGWATCHER_FCGI NGINX_CONF_EXAMPLE]]
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsim import Netsim  # noqa: E402

# Floors are p10 of measured RTTs; the wire adds ~0.02-0.07 ms to netsim's scheduled delays.
FLOOR_TOLERANCE_MS = 0.3
TARGET = "198.18.100.10"
RUN = ["-n", "-i", "0.05", "-c", "200", "-d", "0", "-t", "1"]


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def wilson(k, n, z=1.96):
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z / den * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, c - h) * 100, min(1.0, c + h) * 100


def p10(values):
    v = sorted(values)
    return v[max(1, math.ceil(0.1 * len(v))) - 1]


class Ctx:
    def __init__(self, pingwatcher, netsim_bin, scenario_dir, daemon=None, app=None,
                 nginx_example=None):
        self.pingwatcher = pingwatcher
        self.netsim_bin = netsim_bin
        self.scenario_dir = scenario_dir
        self.daemon = daemon
        self.app = app
        self.nginx_example = nginx_example
        self.cli = pingwatcher  # what test_daemon.Daemon calls the CLI

    def trace(self, scenario, args, json_out=True):
        with Netsim(self.netsim_bin, os.path.join(self.scenario_dir, scenario)) as sim:
            argv = [self.pingwatcher, "trace"] + (["--json"] if json_out else []) + args
            out = sim.run(argv + [TARGET])
        if not json_out:
            return sim, out.stdout
        report = json.loads(out.stdout)
        check("diagnosis" in report and "hops" in report and "samples" in report,
              "the report lacks fields: %s" % sorted(report))
        return sim, report


def truth_rows(sim, ttl=None, dst=TARGET, proto="icmp"):
    return [r for r in sim.truth if r["dst"] == dst and r["proto"] == proto and
            (ttl is None or int(r["ttl"]) == ttl)]


def truth_floor_ms(sim, ttl, proto="icmp"):
    """p10 of the delays netsim applied to the replies at this TTL."""
    delays = [(int(r["sent_ns"]) - int(r["recv_ns"])) / 1e6 for r in truth_rows(sim, ttl, proto=proto)
              if r["outcome"] == "replied"]
    check(delays, "ground truth has no replies at TTL %d" % ttl)
    return p10(delays)


def note(diag, kind, hop):
    found = [n for n in diag["notes"] if n["kind"] == kind and n["hop"] == hop]
    check(len(found) == 1, "expected one %s note for hop %s, notes: %s" % (
        kind, hop, json.dumps(diag["notes"], indent=1)))
    return found[0]


def show(diag):
    return json.dumps(diag, indent=1)


# ---- cases ----

def case_persistent_loss(ctx):
    """Forwarding loss of 8 % at hop 5: a loss problem from hop 5 to the destination."""
    sim, rep = ctx.trace("persistent_loss.json", RUN)
    d = rep["diagnosis"]
    check(d["verdict"] == "problem", "verdict %s: %s" % (d["verdict"], show(d)))
    p = d["problem"]
    check(p["kind"] == "loss" and p["from_hop"] == 5 and p["ip"] == "198.18.1.5",
          "problem: %s" % show(p))
    check(p["to_destination"] and p["end_hop"] == 11 and p["certain"], "problem: %s" % show(p))
    rows = truth_rows(sim, 11)
    lost = sum(r["outcome"] != "replied" for r in rows)
    check(p["sent"] == len(rows) == 200 and p["lost"] == lost,
          "destination: %d of %d lost, ground truth %d of %d" % (p["lost"], p["sent"], lost,
                                                                  len(rows)))
    check(abs(p["loss_pct"] - 100 * lost / len(rows)) < 0.006, "loss_pct %s" % p["loss_pct"])
    lo, hi = wilson(lost, len(rows))
    check(abs(p["loss_ci"][0] - lo) < 0.006 and abs(p["loss_ci"][1] - hi) < 0.006,
          "loss_ci %s, Wilson of the ground truth [%.2f, %.2f]" % (p["loss_ci"], lo, hi))
    check(p["loss_ci"][0] <= 8.0 <= p["loss_ci"][1],
          "the scenario's 8 %% is outside the interval %s" % p["loss_ci"])
    check("starting at hop 5 (198.18.1.5" in p["text"] and
          "persisting to the destination" in p["text"], "text: %s" % p["text"])
    check(d["summary"].startswith("Packet loss of"), "summary: %s" % d["summary"])
    check(p["since_us"] and p["until_us"] and p["since_us"] <= p["until_us"],
          "span: %s .. %s" % (p["since"], p["until"]))


def case_rate_limited(ctx):
    """Hop 4 answers at most 5 probes per second: a note, no problem; probing hop 4 directly at
    a low rate confirms the limit."""
    sim, rep = ctx.trace("diag_rate_limited.json", RUN)
    d = rep["diagnosis"]
    check(d["verdict"] == "clean" and d["problem"] is None, "verdict: %s" % show(d))
    n = note(d, "rate_limited", 4)
    check(len(d["notes"]) == 1, "other notes: %s" % show(d["notes"]))
    rows = truth_rows(sim, 4)
    limited = sum(r["outcome"] == "rate_limited" for r in rows)
    ev = n["evidence"]
    check(ev["sent"] == len(rows) and ev["lost"] == limited,
          "hop 4: %d of %d lost, ground truth %d of %d rate-limited" % (ev["lost"], ev["sent"],
                                                                         limited, len(rows)))
    check(ev["end_loss_pct"] == 0, "the destination lost probes: %s" % ev)
    check(ev.get("dispersion") is not None and ev["dispersion"] < 0.1,
          "answers per second are not regular: %s" % ev)
    check(abs(ev["answers_per_s"] - 5) < 1.0, "answers per second %s, the limit is 5" %
          ev["answers_per_s"])
    direct = ev.get("direct")
    check(direct and direct["sent"] >= 3 and direct["answered"] == direct["sent"],
          "direct probing: %s" % direct)
    echo = [r for r in sim.truth if r["dst"] == "198.18.1.4" and r["proto"] == "icmp"]
    check(len(echo) == direct["sent"] and all(r["outcome"] == "replied" for r in echo),
          "ground truth of the direct probes: %s" % [r["outcome"] for r in echo])
    check("later hops lose nothing" in n["text"] and "limits the rate of its ICMP answers" in
          n["text"], "text: %s" % n["text"])


def case_latency(ctx):
    """35 ms more from hop 5 on: a latency problem from hop 5, +36.5 ms over hop 4's floor."""
    sim, rep = ctx.trace("diag_latency.json", RUN)
    d = rep["diagnosis"]
    check(d["verdict"] == "problem", "verdict: %s" % show(d))
    p = d["problem"]
    check(p["kind"] == "latency" and p["from_hop"] == 5 and p["ip"] == "198.18.1.5",
          "problem: %s" % show(p))
    want = truth_floor_ms(sim, 5) - truth_floor_ms(sim, 4)
    check(abs(p["added_ms"] - want) <= FLOOR_TOLERANCE_MS,
          "added %.3f ms, ground truth floors differ by %.3f ms" % (p["added_ms"], want))
    check(abs(p["added_ms"] - 36.5) <= 0.5, "added %.3f ms, the scenario adds 36.5" %
          p["added_ms"])
    check(abs(p["base_ms"] - truth_floor_ms(sim, 4)) <= FLOOR_TOLERANCE_MS, "base %s" %
          p["base_ms"])
    check(abs(p["end_ms"] - truth_floor_ms(sim, 11)) <= FLOOR_TOLERANCE_MS, "end %s" %
          p["end_ms"])
    check(p["loss_pct"] == 0, "loss at the destination: %s" % p["loss_pct"])
    check(not [n for n in d["notes"] if n["kind"] == "asymmetric_return"],
          "an asymmetric-return note for a middle hop: %s" % show(d["notes"]))
    check(d["summary"].startswith("Latency +36."), "summary: %s" % d["summary"])


def case_dest_drops_udp(ctx):
    """The destination drops UDP: every router answers, the destination never does."""
    args = ["-P", "udp", "-m", "12", "-n", "-i", "0.05", "-c", "150", "-d", "0", "-t", "1"]
    sim, rep = ctx.trace("diag_dest_drops_udp.json", args)
    d = rep["diagnosis"]
    n = note(d, "dest_drops_probe_type", None)
    check(n["ip"] == TARGET and "try icmp or tcp" in n["text"], "note: %s" % show(n))
    check(not d["dest_reached"] and d["end_hop"] == 10, "path end: %s" % show(d))
    check(d["verdict"] == "clean", "verdict: %s" % show(d))
    dest = truth_rows(sim, None, proto="udp")
    check(dest and not [r for r in dest if r["responder"] == TARGET and
                        r["outcome"] == "replied"],
          "ground truth: the destination answered UDP")


def case_slow_reply(ctx):
    """Hop 4 answers in 40 ms, hop 5 in 7 ms: a slow reply path, not a problem."""
    sim, rep = ctx.trace("diag_slow_reply.json", RUN)
    d = rep["diagnosis"]
    check(d["verdict"] == "clean" and d["problem"] is None, "verdict: %s" % show(d))
    n = note(d, "slow_reply_path", 4)
    ev = n["evidence"]
    check(abs(ev["hop_ms"] - truth_floor_ms(sim, 4)) <= FLOOR_TOLERANCE_MS,
          "hop 4 floor %s, ground truth %.3f" % (ev["hop_ms"], truth_floor_ms(sim, 4)))
    check(abs(ev["ref_ms"] - truth_floor_ms(sim, 5)) <= FLOOR_TOLERANCE_MS,
          "reference floor %s, ground truth hop 5 %.3f" % (ev["ref_ms"], truth_floor_ms(sim, 5)))
    check("slow reply path" in n["text"], "text: %s" % n["text"])


def case_flapping(ctx):
    """Hops 4-6 flap every 2 s: a route_unstable note counting the changes the truth shows."""
    sim, rep = ctx.trace("diag_flapping.json", RUN)
    d = rep["diagnosis"]
    n = note(d, "route_unstable", 4)
    rows = sorted((r for r in truth_rows(sim, 4) if r["outcome"] == "replied"),
                  key=lambda r: int(r["recv_ns"]))
    flips = sum(a["responder"] != b["responder"] for a, b in zip(rows, rows[1:]))
    ev = n["evidence"]
    # A change is confirmed after 3 samples on the new route: one at the very end may not be.
    check(flips - 1 <= ev["changes"] <= flips,
          "%d route changes noted, the ground truth flips %d times" % (ev["changes"], flips))
    check(ev["changes"] >= 3, "only %d changes in 10 s of flapping every 2 s" % ev["changes"])
    check(ev["hops"] == [4, 5, 6], "changing hops %s, the scenario changes 4-6" % ev["hops"])
    check(not d["scoped_to_route"] and d["samples"] == 200,
          "a flapping route must not narrow the window: %s" % show(d))
    check(d["verdict"] == "clean", "verdict: %s" % show(d))
    check("hops 4-6 change" in n["text"], "text: %s" % n["text"])


def case_clean(ctx):
    sim, rep = ctx.trace("plain.json", RUN)
    d = rep["diagnosis"]
    check(d["verdict"] == "clean" and d["problem"] is None and d["problems"] == [] and
          d["notes"] == [], "verdict: %s" % show(d))
    check(d["summary"].startswith("No problem found") and d["samples"] == 200,
          "summary: %s" % d["summary"])
    check(d["need_samples"] is None, "need_samples %s" % d["need_samples"])


def case_few_samples(ctx):
    """Five samples tell nothing yet: no verdict, and how many more would."""
    args = ["-n", "-i", "0.05", "-c", "5", "-d", "0", "-t", "1"]
    sim, rep = ctx.trace("plain.json", args)
    d = rep["diagnosis"]
    check(d["verdict"] == "insufficient_data" and d["problem"] is None, "verdict: %s" % show(d))
    # No loss seen: a clean upper bound under 3 % needs 125 samples.
    check(d["need_samples"] == 120, "need_samples %s, expected 120" % d["need_samples"])
    check("need about 120 more samples" in d["summary"], "summary: %s" % d["summary"])
    # The table form prints the verdict under the table.
    sim, text = ctx.trace("plain.json", args, json_out=False)
    lines = text.splitlines()
    check(lines[0].startswith("PingWatcher trace to") and
          any(x.startswith("Diagnosis: Not enough samples to tell yet (5 so far)")
              for x in lines), "table output:\n%s" % text)


# ---- the store path: pingwatcherd, `pingwatcher report`, the API ----

HOSTILE_LABEL = "<b>\"lab'el</b> & co"
REPORT_RUN_S = 20
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "artifacts")


def check_store_diagnosis(d, t0):
    """The diagnosis of diag_report.json's run, whichever path produced it."""
    check(d["verdict"] == "problem", "verdict: %s" % show(d))
    p = d["problem"]
    check(p["kind"] == "loss" and p["from_hop"] == 5 and p["ip"] == "198.18.1.5" and
          p["to_destination"], "problem: %s" % show(p))
    # Loss starts at 9 s: the change point lies within the first lossy samples.
    since = p["since_us"] / 1e6 - t0
    check(8.0 <= since <= 12.0, "the loss starts at 9 s, the diagnosis says since %.1f s" %
          since)
    # The route changed at 3 s; the newest route has enough samples to be judged alone.
    n = note(d, "route_changed", 7)
    check(n["evidence"]["hops"] == [7], "route note: %s" % show(n))
    check(d["scoped_to_route"] and d["samples"] < d["window_samples"],
          "not scoped to the newest route: %s" % show(d))


def daemon_config():
    return {"defaults": {"timeout": 1, "inter_packet_delay": 1, "max_hops": 16},
            "route_change": {"persist_samples": 3},
            "targets": [{"host": TARGET, "label": HOSTILE_LABEL, "trace_interval": 0.1}]}


def check_report_html(html):
    check(html.startswith("<!DOCTYPE html>"), "not an HTML document: %r" % html[:80])
    check("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline';" in html, "no CSP meta tag")
    # Nothing that could load anything.
    # (every "<" starts a tag: text has them escaped, so only attributes can match)
    m = re.search(r"(?i)<[^>]*\s(src|href|srcset|action|xlink:href|poster|data)\s*=", html)
    check(m is None, "a resource reference: %r" % (html[m.start() - 60:m.end() + 60] if m else ""))
    check("url(" not in html and "@import" not in html and "<script" not in html.lower() and
          "<iframe" not in html.lower() and "<img" not in html.lower(),
          "an external resource or script in the report")
    # Escaped: the PTR name and the label appear only as text.
    check("&lt;script&gt;alert(1)&lt;/script&gt;.sim.example" in html,
          "the hostile PTR name is not shown escaped")
    check("&lt;b&gt;&quot;lab&#39;el&lt;/b&gt; &amp; co" in html, "the label is not escaped")
    check(HOSTILE_LABEL not in html and "<b>" not in html, "the raw label is in the report")
    check("pw-verdict-problem" in html and "starting at hop 5 (198.18.1.5" in html,
          "the verdict is missing")
    check(html.count("<figure class=\"pw-chart\"") == 11, "expected 11 hop charts")
    check("1 change." in html and "<mark>198.18.3.7</mark>" in html and
          "<mark>198.18.1.7</mark>" in html, "the route change is not listed")
    check(re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC to \d{4}-\d\d-\d\d "
                    r"\d\d:\d\d:\d\d UTC</td>", html), "no time span shown")


def browser_check(path):
    node = shutil.which("node")
    here = os.path.dirname(os.path.abspath(__file__))
    pw = os.path.join(here, "..", "..", "node_modules", "playwright-core")
    if not node or not os.path.isdir(pw) or not os.path.exists("/usr/bin/chromium"):
        raise Failure("node, playwright-core (npm ci) or /usr/bin/chromium is missing")
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "diagnosis-report.png")
    p = subprocess.run([node, os.path.join(here, "report_check.mjs"), path, shot],
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "report_check.mjs failed: %s" % p.stderr[-2000:])
    r = json.loads(p.stdout.strip().splitlines()[-1])
    check(r["requests"] == [r["url"]], "the report made requests: %s" % r["requests"])
    check(not [m for m in r["console"] if "Refused" in m or "error" in m.lower()],
          "console: %s" % r["console"])
    check(r["scripts"] == 0 and r["csp"] and r["csp"].startswith("default-src 'none'"),
          "scripts %d, CSP %r" % (r["scripts"], r["csp"]))
    check("pw-verdict-problem" in (r["verdict"] or "") and r["hopRows"] == 11,
          "verdict %r, %d hop rows" % (r["verdict"], r["hopRows"]))
    charts = {c["id"]: c for c in r["charts"]}
    check(len(charts) == 11, "%d charts drawn" % len(charts))
    for ttl in range(1, 12):
        c = charts.get("hop-%d" % ttl)
        check(c and c["width"] > 500 and c["height"] > 50, "hop %d chart size: %s" % (ttl, c))
        check(c["bands"] >= 1 and c["lines"] >= 1 and c["bandFill"] not in (None, "none"),
              "hop %d: no latency drawn: %s" % (ttl, c))
        check(c["routeChanges"] == 1, "hop %d: %d route change marks" % (ttl, c["routeChanges"]))
        if ttl >= 5:
            check(c["lossMarks"] >= 3 and c["spans"] == 1,
                  "hop %d: %d loss marks, %d problem spans" % (ttl, c["lossMarks"], c["spans"]))
        else:
            check(c["lossMarks"] == 0 and c["spans"] == 0,
                  "hop %d: %d loss marks where nothing is lost" % (ttl, c["lossMarks"]))
    check("<script>alert(1)</script>.sim.example" in charts["hop-3"]["caption"],
          "hop 3 caption (the hostile name as text): %r" % charts["hop-3"]["caption"])
    check(os.path.getsize(shot) > 20000, "the screenshot is empty")
    return shot


def case_report(ctx):
    from test_daemon import Daemon, Failure as DaemonFailure

    tmp = tempfile.mkdtemp(prefix="pw-diag-report-")
    try:
        with Netsim(ctx.netsim_bin, os.path.join(ctx.scenario_dir, "diag_report.json")) as sim:
            t0 = time.time()
            d = Daemon(ctx, sim, daemon_config())
            try:
                d.start()
                time.sleep(max(0.0, t0 + REPORT_RUN_S - time.time()))
                tid = d.targets()[HOSTILE_LABEL]["id"]
                check(d.stop() == 0, "pingwatcherd did not exit cleanly")
                end = time.time()
                rng = ["--start", "%.6f" % (t0 - 1), "--end", "%.6f" % end]
                out = os.path.join(tmp, "report.html")
                p = d.cli(["report", str(tid)] + rng + ["-o", out])
                check(p.stdout.startswith(out + ": Packet loss of"), "stdout: %r" % p.stdout)
                with open(out, encoding="utf-8") as f:
                    html = f.read()
                # Without -o the same document goes to standard output.
                p2 = d.cli(["report", str(tid)] + rng)
                gen = re.compile(r"<dt>Generated</dt><dd>[^<]*")
                check(gen.sub("", p2.stdout) == gen.sub("", html),
                      "the report on standard output differs from the file")
                bad = d.cli(["report", "999", "-o", os.path.join(tmp, "x.html")], check_rc=False)
                check(bad.returncode == 1 and "target 999 does not exist" in bad.stderr and
                      not os.path.exists(os.path.join(tmp, "x.html")),
                      "unknown target: %r" % bad.stderr)
                bad = d.cli(["report", str(tid), "--start", "%.0f" % end, "--end", "%.0f" % t0],
                            check_rc=False)
                check(bad.returncode == 2 and "--start must be before --end" in bad.stderr,
                      "reversed range: %r" % bad.stderr)
            except DaemonFailure as e:
                raise Failure(str(e))
            finally:
                d.cleanup()
        check_report_html(html)
        shot = browser_check(out)
        shutil.copy(out, os.path.join(ARTIFACTS, "diagnosis-report.html"))
        print("screenshot: %s" % os.path.abspath(shot))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def case_api(ctx):
    import test_api

    class Stack(test_api.Stack):
        def start_netsim(self):
            self.sim = Netsim(self.netsim_bin, os.path.join(self.scenario_dir,
                                                            "diag_report.json"))
            self.sim.__enter__()

    if shutil.which("nginx") is None:
        raise Failure("nginx is not installed (apt-get install nginx-light)")
    st = Stack([ctx.daemon, ctx.netsim_bin, ctx.scenario_dir, ctx.app, ctx.nginx_example])
    try:
        st.start_netsim()
        t0 = time.time()
        st.start_daemon(daemon_config()["targets"])
        st.start_app()
        st.start_nginx()
        time.sleep(max(0.0, t0 + REPORT_RUN_S - time.time()))
        tid = [t for t in st.get("/api/targets")["targets"] if t["label"] == HOSTILE_LABEL]
        check(len(tid) == 1, "target not listed")
        tid = tid[0]["id"]
        now = time.time()
        base = "/api/targets/%d/diagnosis" % tid
        rng = "start=%.3f&end=%.3f" % (t0 - 1, now)

        r = st.get(base + "?" + rng)
        check(r["id"] == tid and r["label"] == HOSTILE_LABEL and r["packet_type"] == "icmp" and
              r["ip"] == TARGET, "header: %s" % {k: r[k] for k in r if k != "diagnosis"})
        check(abs(r["start_ms"] / 1000 - (t0 - 1)) < 0.01 and
              abs(r["end_ms"] / 1000 - now) < 0.01, "window %s .. %s" % (r["start"], r["end"]))
        check_store_diagnosis(r["diagnosis"], t0)
        # The default window is the hour before now: the same samples and more.
        d2 = st.get(base)["diagnosis"]
        check(d2["window_samples"] >= r["diagnosis"]["window_samples"],
              "default window: %s" % show(d2))

        # The HTML fragment for HTMX, escaped.
        s, h, b = st.req("GET", base + "?" + rng, headers={"HX-Request": "true"})
        html = b.decode()
        check(s == 200 and h["content-type"].startswith("text/html"),
              "HTML: %d %s" % (s, h.get("content-type")))
        check(html.startswith("<section class=\"pw-diagnosis pw-verdict-problem\"") and
              "starting at hop 5 (198.18.1.5" in html and "<script" not in html,
              "fragment: %s" % html[:600])

        # A past moment before the loss began: no problem yet.
        past = st.get(base + "?at=%.3f" % (t0 + 5.5))["diagnosis"]
        check(past["verdict"] != "problem" and past["window_samples"] <= 60,
              "at 5.5 s: %s" % show(past))
        # The focus window: the newest 50 samples.
        foc = st.get(base + "?focus=50")["diagnosis"]
        check(foc["window_samples"] == 50, "focus 50: %d samples" % foc["window_samples"])
        # A session over the lossy part.
        ses = st.json("POST", "/api/targets/%d/sessions" % tid,
                      {"name": "loss <hop5>", "start": "%.3f" % (t0 + 6), "end": "%.3f" % now},
                      status=201, headers=test_api.MARK)
        sid = ses["id"] if "id" in ses else ses["session"]["id"]
        sd = st.get(base + "?session=%d" % sid)
        check(sd["session"] == sid and sd["diagnosis"]["verdict"] == "problem" and
              sd["diagnosis"]["problem"]["from_hop"] == 5, "session: %s" % show(sd))

        # The report download, whatever the page asked.
        s, h, b = st.req("GET", "/api/targets/%d/report?%s" % (tid, rng),
                         headers={"HX-Request": "true"})
        check(s == 200 and h["content-type"] == "text/html; charset=utf-8",
              "report: %d %s" % (s, h.get("content-type")))
        cd = h.get("content-disposition", "")
        check(re.fullmatch(r'attachment; filename="pingwatcher-%d-[A-Za-z0-9._-]+-\d{8}T\d{6}Z-'
                           r'\d{8}T\d{6}Z\.html"' % tid, cd), "Content-Disposition: %r" % cd)
        check_report_html(b.decode())
        s, h, b = st.req("GET", "/api/targets/%d/report?session=%d" % (tid, sid))
        check(s == 200 and "-loss_hop5_-" in h.get("content-disposition", ""),
              "session report: %d %r" % (s, h.get("content-disposition")))

        # Errors: clear 4xx answers.
        st.error("GET", base + "?at=%.0f&start=%.0f" % (now, t0), 400)
        st.error("GET", base + "?start=%.0f&end=%.0f" % (now, t0), 400)
        st.error("GET", base + "?session=%d&start=%.0f" % (sid, t0), 400)
        st.error("GET", base + "?at=%.0f" % (now + 3600), 400)
        st.error("GET", base + "?focus=0", 400)
        st.error("GET", base + "?start=yesterday", 400)
        st.error("GET", base + "?bogus=1", 400)
        st.error("GET", base + "?session=99999", 404)
        st.error("GET", "/api/targets/99999/diagnosis", 404)
        st.error("GET", "/api/targets/abc/diagnosis", 400)
        st.error("GET", "/api/targets/99999/report", 404)
        st.error("GET", "/api/targets/%d/report?focus=5" % tid, 400)
        st.error("POST", base, 405)
        st.stop()
        log = st.log("app.log")
        check("AddressSanitizer" not in log and "runtime error:" not in log, "app.log: %s" % log)
    except test_api.Failure as e:
        raise Failure(str(e))
    finally:
        st.cleanup()


CASES = {
    "persistent-loss": case_persistent_loss,
    "rate-limited": case_rate_limited,
    "latency": case_latency,
    "dest-drops-udp": case_dest_drops_udp,
    "slow-reply": case_slow_reply,
    "flapping": case_flapping,
    "clean": case_clean,
    "few-samples": case_few_samples,
    "report": case_report,
    "api": case_api,
}


def main():
    if len(sys.argv) < 5 or sys.argv[4] not in CASES:
        print("\n".join(__doc__.strip().splitlines()[-2:]), file=sys.stderr)
        print("cases: " + " ".join(CASES), file=sys.stderr)
        return 2
    ctx = Ctx(*(sys.argv[1:4] + sys.argv[5:]))
    try:
        CASES[sys.argv[4]](ctx)
    except Failure as e:
        print("FAIL %s: %s" % (sys.argv[4], e))
        return 1
    print("ok %s" % sys.argv[4])
    return 0


if __name__ == "__main__":
    sys.exit(main())
