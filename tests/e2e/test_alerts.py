#!/usr/bin/env python3
"""End-to-end tests of pingwatcherd's alerts on the simulated network, with real sinks.

Inside the netsim namespace (its own loopback) the test starts an SMTP server that records
messages, an HTTP server that records webhooks and one that never answers; the daemon runs
there too. Cases:
  alerts-episodes  loss then latency episodes: exactly one trigger and one recovery per
                   episode, repeats no sooner than the interval, a restart in the middle of
                   an episode neither re-fires nor forgets it; every action's sink checked
                   (mail, webhook payload, log line, named command with its environment,
                   SVG image parsed as XML, comment recorded)
  alerts-route     a route_change rule fires once on an early route change
  alerts-hang      a webhook that hangs: probing stays on schedule (sample times from the store)
                   and another alert's actions are delivered on time meanwhile
  alerts-diagnosis a `diagnosis` rule on 8 % forwarding loss from hop 5 ("> 0" refused): one
                   trigger naming hop 5, the diagnosis's sentence in the webhook, no recovery

usage: test_alerts.py PINGWATCHERD PINGWATCHER PW_NETSIM SCENARIO_DIR CASE
   or: test_alerts.py --sink smtp|http|hang PORT OUTFILE   (internal: a sink process)
"""

import http.server
import json
import os
import signal
import socketserver
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import Ctx, Daemon, Failure, check, FAST  # noqa: E402

SMTP_PORT, HTTP_PORT, HANG_PORT = 2525, 8081, 8082
INTERVAL = 0.5


# ---- sinks (run inside the namespace, on 127.0.0.1 only) ----

def sink_main(kind, port, out):
    def record(obj):
        with open(out, "a") as f:
            f.write(json.dumps(obj) + "\n")

    class Smtp(socketserver.StreamRequestHandler):
        def handle(self):
            w = lambda s: (self.wfile.write(s.encode() + b"\r\n"), self.wfile.flush())
            w("220 sink ESMTP")
            msg = {"from": None, "to": [], "data": ""}
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                cmd = line.decode(errors="replace").rstrip("\r\n")
                up = cmd.upper()
                if up.startswith("EHLO") or up.startswith("HELO"):
                    w("250 sink")
                elif up.startswith("MAIL FROM:"):
                    msg["from"] = cmd[10:].strip()
                    w("250 ok")
                elif up.startswith("RCPT TO:"):
                    msg["to"].append(cmd[8:].strip())
                    w("250 ok")
                elif up == "DATA":
                    w("354 go")
                    data = []
                    while True:
                        l2 = self.rfile.readline().decode(errors="replace")
                        if l2 in (".\r\n", ".\n", ""):
                            break
                        data.append(l2)
                    msg["data"] = "".join(data)
                    record(msg)
                    msg = {"from": None, "to": [], "data": ""}
                    w("250 queued")
                elif up == "QUIT":
                    w("221 bye")
                    return
                else:
                    w("250 ok")

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            if kind == "hang":
                record({"t": time.time(), "hang": True})
                time.sleep(3600)
                return
            record({"t": time.time(), "path": self.path,
                    "ctype": self.headers.get("Content-Type"), "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    class TS(socketserver.ThreadingMixIn, socketserver.TCPServer):
        allow_reuse_address = True
        daemon_threads = True

    srv = TS(("127.0.0.1", port), Smtp if kind == "smtp" else Hook)
    srv.serve_forever()


class Sinks:
    def __init__(self, sim, dirpath):
        self.procs = []
        self.files = {}
        for kind, port in (("smtp", SMTP_PORT), ("http", HTTP_PORT), ("hang", HANG_PORT)):
            path = os.path.join(dirpath, kind + ".jsonl")
            open(path, "w").close()
            self.files[kind] = path
            self.procs.append(subprocess.Popen(
                ["ip", "netns", "exec", sim.ns, sys.executable, os.path.abspath(__file__),
                 "--sink", kind, str(port), path]))
        time.sleep(0.5)

    def read(self, kind):
        with open(self.files[kind]) as f:
            return [json.loads(x) for x in f if x.strip()]

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()


def world_dir():
    d = tempfile.mkdtemp(prefix="pw-alerts-")
    os.chmod(d, 0o777)  # the daemon runs as nobody and writes the log, images, command output
    for sub in ("images", "cmd"):
        os.mkdir(os.path.join(d, sub))
        os.chmod(os.path.join(d, sub), 0o777)
    script = os.path.join(d, "notify.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nenv | grep '^PW_ALERT_' | sort > \"%s/cmd/$PW_ALERT_STATE-$$\"\n"
                "echo \"$1\" >> \"%s/cmd/args\"\n" % (d, d))
    os.chmod(script, 0o755)
    return d


def alerts_config(w, extra=None):
    a = {"smtp": {"url": "smtp://127.0.0.1:%d" % SMTP_PORT, "starttls": False,
                  "from": "pingwatcher@sim.example"},
         "log_path": os.path.join(w, "alerts.log"),
         "image_dir": os.path.join(w, "images"),
         "commands": {"notify": [os.path.join(w, "notify.sh"), "first-arg"]},
         "command_timeout_s": 5,
         "webhook_allow": ["http://127.0.0.1:*"],
         "webhook_timeout_s": 2, "webhook_retries": 1}
    a.update(extra or {})
    return a


def log_events(w):
    try:
        with open(os.path.join(w, "alerts.log")) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for ln in lines:
        kv = dict(x.split("=", 1) for x in ln.split(" ")[1:] if "=" in x)
        out.append((ln.split(" ")[0], kv.get("name", "").strip('"'), kv.get("state")))
    return out


def create_rule(d, rule):
    r = d.request({"cmd": "alert.create", "args": {"rule": rule}})
    check(r.get("ok") is True, "alert.create failed: %s" % r)
    return r["result"]["id"]


def case_episodes(ctx):
    w = world_dir()
    with ctx.netsim("alert_episodes.json") as sim:
        t0 = time.time()
        sinks = Sinks(sim, w)
        d = Daemon(ctx, sim, {"defaults": dict(FAST, trace_interval=INTERVAL),
                              "targets": [{"host": "198.18.100.10", "label": "t"}],
                              "alerts": alerts_config(w)})
        try:
            d.start()
            tid = d.targets()["t"]["id"]
            loss_id = create_rule(d, {
                "name": "dest-loss", "targets": [str(tid)], "metric": "packet_loss_pct",
                "operator": ">=", "threshold": 100, "focus": 2, "duration_samples": 2,
                "hop": "final", "repeat_interval_s": 0,
                "actions": [{"type": "webhook", "url": "http://127.0.0.1:%d/hook" % HTTP_PORT},
                            {"type": "email", "to": "ops@sim.example"}, {"type": "log"},
                            {"type": "command", "name": "notify"}, {"type": "image"},
                            {"type": "comment"}]})
            create_rule(d, {
                "name": "dest-latency", "targets": "all", "metric": "cur_rtt_ms",
                "operator": ">", "threshold": 40, "focus": 1, "duration_samples": 2,
                "hop": "final", "repeat_interval_s": 3, "actions": [{"type": "log"}]})
            # Refused: a command the configuration does not name; a URL outside the allowlist.
            for bad, what in ((
                    {"type": "command", "name": "rm"}, "no command"),
                    ({"type": "webhook", "url": "http://192.0.2.10/x"}, "webhook_allow")):
                r = d.request({"cmd": "alert.create", "args": {"rule": {
                    "name": "bad", "targets": "all", "metric": "avg_rtt_ms", "operator": ">",
                    "threshold": 1, "actions": [bad]}}})
                check(r.get("ok") is False and what in r["error"]["message"],
                      "bad rule accepted or wrong message: %s" % r)
            rules = d.ok({"cmd": "alert.list"})["rules"]
            check(len(rules) == 2, "alert.list: %s" % rules)

            # Restart in the middle of the loss episode (6..12 s), after the trigger.
            time.sleep(max(0, t0 + 9.5 - time.time()))
            check(any(e[2] == "trigger" for e in log_events(w)), "no trigger before the restart")
            check(d.stop() == 0, "pingwatcherd did not exit cleanly")
            d.start()
            time.sleep(max(0, t0 + 32 - time.time()))
            check(d.stop() == 0, "pingwatcherd did not exit cleanly")
            log = d.log()
        finally:
            d.cleanup()
            sinks.stop()
        ev = log_events(w)
        loss = [e[2] for e in ev if e[1] == "dest-loss"]
        lat = [e for e in ev if e[1] == "dest-latency"]
        check(loss == ["trigger", "recover"], "dest-loss events %s (log: %s)" % (loss, log[-1500:]))
        lat_states = [e[2] for e in lat]
        check(lat_states.count("trigger") == 1 and lat_states.count("recover") == 1 and
              lat_states[0] == "trigger" and lat_states[-1] == "recover",
              "dest-latency events %s" % lat_states)
        repeats = lat_states.count("repeat")
        check(1 <= repeats <= 2, "expected 1-2 repeats in an 8 s episode at 3 s, got %d" % repeats)
        times = [time.mktime(time.strptime(e[0][:19], "%Y-%m-%dT%H:%M:%S")) +
                 float("0" + e[0][19:-1]) for e in lat if e[2] in ("trigger", "repeat")]
        for a, b in zip(times, times[1:]):
            check(b - a >= 3.0 - 1e-3, "repeats %.3f s apart, the interval is 3 s" % (b - a))
        # Webhook: one POST per loss event, documented payload.
        hooks = sinks.read("http")
        check([h["body"]["state"] for h in hooks] == ["trigger", "recover"],
              "webhooks: %s" % hooks)
        b = hooks[0]["body"]
        check(hooks[0]["ctype"] == "application/json" and b["rule"]["id"] == loss_id and
              b["rule"]["name"] == "dest-loss" and b["target"]["id"] == tid and
              b["metric"] == "packet_loss_pct" and b["value"] == 100 and b["threshold"] == 100 and
              b["operator"] == ">=" and b["time"].endswith("Z") and b["hop"] >= 5,
              "webhook payload: %s" % b)
        # Mail: two messages to the recipient.
        mails = sinks.read("smtp")
        check(len(mails) == 2 and mails[0]["to"] == ["<ops@sim.example>"] and
              "Subject: [PingWatcher] dest-loss trigger" in mails[0]["data"] and
              "dest-loss" in mails[1]["data"] and "recover" in mails[1]["data"],
              "mails: %s" % mails)
        # Command: the named program, its configured argument, the documented environment.
        cmd_dir = os.path.join(w, "cmd")
        files = sorted(os.listdir(cmd_dir))
        check(len([f for f in files if f.startswith("trigger-")]) == 1 and
              len([f for f in files if f.startswith("recover-")]) == 1, "command runs: %s" % files)
        with open(os.path.join(cmd_dir, [f for f in files if f.startswith("trigger-")][0])) as f:
            env = dict(x.split("=", 1) for x in f.read().splitlines())
        check(env.get("PW_ALERT_RULE") == "dest-loss" and env.get("PW_ALERT_STATE") == "trigger"
              and env.get("PW_ALERT_TARGET_ID") == str(tid) and
              env.get("PW_ALERT_METRIC") == "packet_loss_pct" and
              float(env.get("PW_ALERT_VALUE", "0")) == 100.0, "command environment: %s" % env)
        with open(os.path.join(cmd_dir, "args")) as f:
            check(f.read().split() == ["first-arg", "first-arg"], "command arguments")
        # Images: valid SVG, one per event, with points.
        imgs = sorted(os.listdir(os.path.join(w, "images")))
        check(len(imgs) == 2 and all(i.endswith(".svg") for i in imgs), "images: %s" % imgs)
        for i in imgs:
            root = ET.parse(os.path.join(w, "images", i)).getroot()
            check(root.tag == "{http://www.w3.org/2000/svg}svg", "not SVG: %s" % root.tag)
            pts = root.findall("{http://www.w3.org/2000/svg}circle")
            check(len(pts) >= 5, "image %s has %d points" % (i, len(pts)))
        # Comment action: recorded (its id is in the daemon's log of outcomes when it fails).
        check("comment action failed" not in log, "comment action failed: %s" % log[-800:])
    print("episodes: loss %s, latency %s" % (loss, lat_states))


def case_route(ctx):
    w = world_dir()
    with ctx.netsim("alert_route.json") as sim:
        t0 = time.time()
        d = Daemon(ctx, sim, {"defaults": dict(FAST, trace_interval=INTERVAL),
                              "route_change": {"persist_samples": 3},
                              "targets": [{"host": "198.18.100.10", "label": "rc"}],
                              "alerts": alerts_config(w)})
        try:
            d.start()
            create_rule(d, {"name": "route", "targets": "all", "metric": "route_change",
                            "operator": ">", "threshold": 0, "focus": 1, "duration_samples": 1,
                            "actions": [{"type": "log"}]})
            time.sleep(max(0, t0 + 12 - time.time()))
            check(d.stop() == 0, "pingwatcherd did not exit cleanly")
        finally:
            d.cleanup()
    ev = [e[2] for e in log_events(w) if e[1] == "route"]
    check(ev == ["trigger", "recover"], "route_change events: %s" % ev)


def case_hang(ctx):
    w = world_dir()
    with ctx.netsim("alert_hang.json") as sim:
        t0 = time.time()
        sinks = Sinks(sim, w)
        d = Daemon(ctx, sim, {"defaults": dict(FAST, trace_interval=INTERVAL),
                              "targets": [{"host": "198.18.100.10", "label": "h"}],
                              "alerts": alerts_config(w, {"webhook_timeout_s": 4,
                                                          "webhook_retries": 1})})
        try:
            d.start()
            tid = d.targets()["h"]["id"]
            create_rule(d, {"name": "hang", "targets": "all", "metric": "packet_loss_pct",
                            "operator": ">=", "threshold": 100, "focus": 2,
                            "duration_samples": 2, "actions": [
                                {"type": "webhook", "url": "http://127.0.0.1:%d/" % HANG_PORT},
                                {"type": "log"}]})
            # The same condition, a sink that answers: its events must not queue behind the hang.
            create_rule(d, {"name": "other", "targets": "all", "metric": "packet_loss_pct",
                            "operator": ">=", "threshold": 100, "focus": 2,
                            "duration_samples": 2, "actions": [
                                {"type": "webhook", "url": "http://127.0.0.1:%d/" % HTTP_PORT}]})
            time.sleep(max(0, t0 + 22 - time.time()))
            check(d.stop() == 0, "pingwatcherd did not exit cleanly")
            samples = d.export(tid)
            log = d.log()
        finally:
            d.cleanup()
            sinks.stop()
    check(len(sinks.read("hang")) >= 1, "the hanging sink was never called")
    check("webhook action failed" in log, "the hung webhook's failure was not logged")
    times = [t / 1e6 for t, _ in samples]
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(max(gaps) <= INTERVAL * 1.5, "probing stalled: a %.3f s gap between samples" % max(gaps))
    span = [t for t in times if t0 + 4 <= t <= t0 + 18]
    check(len(span) >= 0.95 * 14 / INTERVAL,
          "only %d samples in 14 s at %.1f s while the webhook hung" % (len(span), INTERVAL))
    ev = [e[2] for e in log_events(w) if e[1] == "hang"]
    check(ev == ["trigger", "recover"], "events: %s" % ev)
    # The hung webhook holds its worker for 2 x 4 s; the other alert's trigger arrives at once
    # and its recovery when the loss ends, not after the hang.
    hung = sinks.read("hang")
    other = [h for h in sinks.read("http") if h["body"]["rule"]["name"] == "other"]
    check([h["body"]["state"] for h in other] == ["trigger", "recover"],
          "the other alert's webhooks: %s" % [h["body"]["state"] for h in other])
    if other and hung:
        lag = other[0]["t"] - hung[0]["t"]
        check(abs(lag) < 1.5, "the other alert's trigger came %.2f s after the hung webhook's "
              "first call: it waited behind it" % lag)


def case_diagnosis(ctx):
    w = world_dir()
    with ctx.netsim("persistent_loss.json") as sim:
        t0 = time.time()
        sinks = Sinks(sim, w)
        d = Daemon(ctx, sim, {"defaults": dict(FAST, trace_interval=0.2),
                              "targets": [{"host": "198.18.100.10", "label": "lossy"}],
                              "alerts": alerts_config(w)})
        try:
            d.start()
            r = d.request({"cmd": "alert.create", "args": {"rule": {
                "name": "diag", "targets": "all", "metric": "diagnosis", "operator": ">",
                "threshold": 0, "actions": [{"type": "log"}]}}})
            check(r.get("ok") is False and "threshold" in json.dumps(r),
                  "a diagnosis rule with \"> 0\" was accepted: %s" % r)
            create_rule(d, {"name": "diag", "targets": "all", "metric": "diagnosis",
                            "operator": ">=", "threshold": 1, "focus": 150,
                            "repeat_interval_s": 0,
                            "actions": [{"type": "log"}, {"type": "webhook",
                                                          "url": "http://127.0.0.1:%d/" % HTTP_PORT}]})
            # 150 samples take 30 s; judged every 10 s, a verdict needs 20 samples or more.
            time.sleep(max(0, t0 + 32 - time.time()))
            check(d.stop() == 0, "pingwatcherd did not exit cleanly")
        finally:
            d.cleanup()
            sinks.stop()
    with open(os.path.join(w, "alerts.log")) as f:
        lines = [ln for ln in f.read().splitlines() if 'name="diag"' in ln]
    check(len(lines) == 1 and "state=trigger" in lines[0], "diagnosis events: %s" % lines)
    check(" hop=5 " in lines[0] and " metric=diagnosis " in lines[0] and " value=1.000 " in lines[0],
          "the trigger: %s" % lines[0])
    hooks = sinks.read("http")
    check(len(hooks) == 1 and hooks[0]["body"]["metric"] == "diagnosis" and
          hooks[0]["body"]["hop"] == 5 and "198.18.1.5" in hooks[0]["body"].get("detail", ""),
          "the webhook carries the diagnosis's sentence: %s" % hooks)
    print("diagnosis: %s" % hooks[0]["body"]["detail"])


CASES = {"alerts-episodes": case_episodes, "alerts-route": case_route, "alerts-hang": case_hang,
         "alerts-diagnosis": case_diagnosis}


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--sink":
        sink_main(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return 0
    if len(sys.argv) != 6 or sys.argv[5] not in CASES:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
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
