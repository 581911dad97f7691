#!/usr/bin/env python3
"""End-to-end tests of the alerts API (/api/alerts...) through a real nginx.

The stack of test_api.py (pw-netsim, pingwatcherd as nobody, pingwatcher.fcgi, nginx on a
loopback port) on the alert_episodes scenario (the destination loses every probe from 6 s to
12 s), with an `alerts` configuration and an HTTP sink inside the namespace. Checked: create,
list, get, patch (disable/enable), delete through the API; the firing list during the episode;
history (trigger then recover, filters, limit) after it; the comment action's comment in
/api/targets/{id}/comments; HTML fragments escaped; every bad input a clear 4xx that changes
nothing; mutations answer 503 with the daemon down while reads keep working. Every process is
stopped by PID and the namespace removed, also on failure.

usage: test_alerts_api.py PINGWATCHERD PW_NETSIM SCENARIO_DIR PINGWATCHER_FCGI NGINX_CONF_EXAMPLE
"""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsim import Netsim  # noqa: E402
from test_api import FAST, GROUP, MARK, USER, Failure, Stack, check, wait_for  # noqa: E402
from test_alerts import HTTP_PORT, Sinks, world_dir  # noqa: E402

HX = {"HX-Request": "true"}


class AlertStack(Stack):
    def start_netsim(self):
        self.sim = Netsim(self.netsim_bin, os.path.join(self.scenario_dir, "alert_episodes.json"))
        self.sim.__enter__()
        self.t0 = time.time()

    def start_daemon(self, targets=None):
        w = self.world
        cfg = {"database": self.db, "control": {"path": self.ctl}, "user": USER,
               "group": GROUP, "log_level": "info",
               "defaults": dict(FAST, trace_interval=0.5),
               "targets": [{"host": "198.18.100.10", "label": "t"},
                           {"host": "198.18.1.2", "label": "mid"}],
               "alerts": {"log_path": os.path.join(w, "alerts.log"),
                          "commands": {"notify": [os.path.join(w, "notify.sh")]},
                          "webhook_allow": ["http://127.0.0.1:*"],
                          "webhook_timeout_s": 2, "webhook_retries": 0}}
        path = os.path.join(self.dir, "pingwatcher.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        os.chmod(path, 0o644)
        log = open(os.path.join(self.dir, "daemon.log"), "ab")
        self.daemon = subprocess.Popen(
            ["ip", "netns", "exec", self.sim.ns, self.daemon_bin, "-f", "-c", path],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        wait_for("pingwatcherd's control socket",
                 lambda: self.daemon.poll() is not None or (
                     os.path.exists(self.ctl) and
                     os.path.exists(os.path.join(self.db, "data.mdb"))), timeout=10,
                 interval=0.05)
        check(self.daemon.poll() is None, "pingwatcherd exited: " + self.log("daemon.log"))
        time.sleep(0.2)


def rule_body(tid, **kw):
    r = {"name": "dest-loss", "targets": [tid], "metric": "packet_loss_pct",
         "operator": ">=", "threshold": 100, "focus": 2, "duration_samples": 2,
         "hop": "final", "repeat_interval_s": 0,
         "actions": [{"type": "comment"}, {"type": "log"},
                     {"type": "webhook", "url": "http://127.0.0.1:%d/hook" % HTTP_PORT}]}
    r.update(kw)
    return r


def rules(st):
    return st.get("/api/alerts")["rules"]


def bad_inputs(st, tid, rid):
    """(method, path, body, status, words in the message, extra headers)."""
    good = rule_body(tid)
    acts = [{"type": "log"}]
    b = lambda **kw: dict(good, **kw)  # noqa: E731
    return [
        ("POST", "/api/alerts", b(metric="loss_pct"), 400, "\"metric\" must be", None),
        ("POST", "/api/alerts", b(operator="=>"), 400, "\"operator\" must be", None),
        ("POST", "/api/alerts", b(operator="=="), 400, "\"operator\"", None),
        ("POST", "/api/alerts", b(threshold=-1), 400, "0 or more", None),
        ("POST", "/api/alerts", b(threshold=150), 400, "0 to 100", None),
        ("POST", "/api/alerts", b(threshold="10"), 400, "\"threshold\" must be a number", None),
        ("POST", "/api/alerts", b(targets=[tid, 999999]), 404, "target 999999 does not exist",
         None),
        ("POST", "/api/alerts", b(targets="some"), 400, "\"targets\"", None),
        ("POST", "/api/alerts", b(targets=5), 400, "\"targets\"", None),
        ("POST", "/api/alerts", b(focus=0), 400, "focus", None),
        ("POST", "/api/alerts", b(focus="ten"), 400, "focus", None),
        ("POST", "/api/alerts", b(colour="red"), 400, "unknown key \"colour\"", None),
        ("POST", "/api/alerts", b(actions=[{"type": "command", "name": "rm"}]), 400,
         "command", None),
        ("POST", "/api/alerts", b(actions=[{"type": "webhook", "url": "http://192.0.2.10/x"}]),
         400, "webhook_allow", None),
        ("POST", "/api/alerts", b(actions=[{"type": "email", "to": "ops@sim.example"}]), 400,
         "smtp", None),
        ("POST", "/api/alerts", b(actions=[{"type": "log", "to": "x"}]), 400,
         "unknown key \"to\"", None),
        ("POST", "/api/alerts", b(actions=[{"type": "sms"}]), 400, "\"type\" must be", None),
        ("POST", "/api/alerts", b(actions=[]), 400, "actions", None),
        ("POST", "/api/alerts", b(name=""), 400, "\"name\"", None),
        ("POST", "/api/alerts", b(name=7), 400, "\"name\"", None),
        ("POST", "/api/alerts", {"name": "x"}, 400, "is required", None),
        ("POST", "/api/alerts", [good], 400, "must be a JSON object", None),
        ("POST", "/api/alerts", "{\"name\": ", 400, "not valid JSON", "json"),
        ("POST", "/api/alerts", b"{\"name\": \"\xff\"}", 400, "UTF-8", "json"),
        ("POST", "/api/alerts", None, 400, "JSON object in the body", None),
        ("POST", "/api/alerts", {"name": "x"}, 415, "application/json", "form"),
        ("POST", "/api/alerts", "x" * 70000, 413, "at most", "json"),
        ("POST", "/api/alerts?x=1", good, 400, "x", None),
        ("PATCH", "/api/alerts/%d" % rid, {}, 400, "nothing to change", None),
        ("PATCH", "/api/alerts/%d" % rid, {"enabled": "no"}, 400, "\"enabled\"", None),
        ("PATCH", "/api/alerts/%d" % rid, {"threshold": -3}, 400, "0 or more", None),
        ("PATCH", "/api/alerts/%d" % rid, {"nope": 1}, 400, "unknown key", None),
        ("PATCH", "/api/alerts/%d" % rid, {"targets": [424242]}, 404, "target 424242", None),
        ("PATCH", "/api/alerts/999999", {"enabled": False}, 404, "999999 does not exist", None),
        ("PATCH", "/api/alerts/abc", {"enabled": False}, 400, "alert rule id", None),
        ("DELETE", "/api/alerts/999999", None, 404, "does not exist", None),
        ("DELETE", "/api/alerts/0", None, 400, "alert rule id", None),
        ("GET", "/api/alerts/999999", None, 404, "does not exist", None),
        ("GET", "/api/alerts/-1", None, 400, "alert rule id", None),
        ("PUT", "/api/alerts/%d" % rid, good, 405, "not allowed", None),
        ("DELETE", "/api/alerts", None, 405, "not allowed", None),
        ("GET", "/api/alerts/history?start=20&end=10", None, 400, "start must be before end",
         None),
        ("GET", "/api/alerts/history?limit=0", None, 400, "limit", None),
        ("GET", "/api/alerts/history?rule=x", None, 400, "rule", None),
        ("GET", "/api/alerts/history?color=1", None, 400, "color", None),
        ("GET", "/api/alerts/firing?x=1", None, 400, "x", None),
        # Mutations need the same-origin marker.
        ("POST", "/api/alerts", good, 403, "HX-Request", "nomark"),
        ("DELETE", "/api/alerts/%d" % rid, None, 403, "HX-Request", "nomark"),
    ]


def check_bad_inputs(st, tid, rid):
    before = json.dumps(rules(st), sort_keys=True)
    for method, path, body, status, words, how in bad_inputs(st, tid, rid):
        headers = {} if how == "nomark" else dict(MARK)
        ctype = None
        if how == "json":
            ctype = "application/json"
        elif how == "form":
            ctype = "application/x-www-form-urlencoded"
        e, _ = st.error(method, path, status, body, headers, ctype)
        check(words.lower() in e["message"].lower(),
              "%s %s (%d): message %r lacks %r" % (method, path, status, e["message"], words))
    after = json.dumps(rules(st), sort_keys=True)
    check(before == after, "a bad request changed the rules:\n%s\n%s" % (before, after))


def main():
    if len(sys.argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    if shutil.which("nginx") is None:
        print("nginx is not installed (apt-get install nginx-light)", file=sys.stderr)
        return 77
    st = AlertStack(sys.argv[1:6])
    st.world = world_dir()
    sinks = None
    step = "setup"
    try:
        st.start_netsim()
        sinks = Sinks(st.sim, st.world)
        st.start_daemon()
        st.start_app()
        st.start_nginx()
        tgts = {t["label"]: t["id"] for t in st.get("/api/targets")["targets"]}
        tid, mid = tgts["t"], tgts["mid"]

        step = "create"
        check(rules(st) == [], "rules before any was created")
        s, h, b = st.req("POST", "/api/alerts", rule_body(str(tid)), MARK)
        check(s == 201, "create: %d %s" % (s, b[:300]))
        loss = json.loads(b)
        rid = loss["id"]
        check(h.get("location") == "/api/alerts/%d" % rid, "Location: %s" % h.get("location"))
        check(loss["name"] == "dest-loss" and loss["targets"] == [str(tid)] and
              loss["metric"] == "packet_loss_pct" and loss["operator"] == ">=" and
              loss["threshold"] == 100 and loss["focus"] == 2 and
              loss["duration_samples"] == 2 and loss["hop"] == "final" and
              loss["repeat_interval_s"] == 0 and loss["enabled"] is True and
              loss["firing"] is False and
              [a["type"] for a in loss["actions"]] == ["comment", "log", "webhook"],
              "created rule: %s" % loss)
        other = st.json("POST", "/api/alerts", {
            "name": "<b>mid</b> latency", "targets": "all", "metric": "avg_rtt_ms",
            "operator": ">", "threshold": 500, "actions": [
                {"type": "command", "name": "notify"}, {"type": "log"}]},
            status=201, headers=MARK)
        oid = other["id"]
        check(other["targets"] == "all" and other["focus"] == 10 and
              other["duration_samples"] == 1 and other["repeat_interval_s"] == 300,
              "defaults: %s" % other)

        step = "list and get"
        lst = rules(st)
        check([r["id"] for r in lst] == [rid, oid], "list: %s" % lst)
        got = st.get("/api/alerts/%d" % rid)
        check(got["name"] == "dest-loss" and got["id"] == rid and
              all(x["target"] == tid for x in got["states"]), "get: %s" % got)

        step = "patch"
        p = st.json("PATCH", "/api/alerts/%d" % oid, {"enabled": False}, headers=MARK)
        check(p["enabled"] is False and p["name"] == "<b>mid</b> latency", "disable: %s" % p)
        check(st.get("/api/alerts/%d" % oid)["enabled"] is False, "disabled rule reads enabled")
        p = st.json("PATCH", "/api/alerts/%d" % oid,
                    {"enabled": True, "targets": [mid], "threshold": 400.5}, headers=MARK)
        check(p["enabled"] is True and p["targets"] == [str(mid)] and p["threshold"] == 400.5 and
              p["metric"] == "avg_rtt_ms", "enable and change: %s" % p)

        step = "html"
        s, h, b = st.req("GET", "/api/alerts", headers=HX)
        html = b.decode()
        check(s == 200 and h.get("content-type", "").startswith("text/html") and
              '<table class="pw-alerts">' in html and "&lt;b&gt;mid&lt;/b&gt; latency" in html
              and "<b>mid" not in html and 'id="alert-%d"' % rid in html,
              "HTML list: %d %s" % (s, html[:600]))

        step = "bad inputs"
        check_bad_inputs(st, tid, rid)

        step = "firing"
        fired = wait_for("the loss rule to fire", lambda: [
            f for f in st.get("/api/alerts/firing")["firing"] if f["rule"] == rid], timeout=20)
        f = fired[0]
        check(f["target"] == tid and f["name"] == "dest-loss" and f["target_name"] == "t" and
              f["since"].endswith("Z") and st.t0 + 5 <= f["since_ms"] / 1000 <= st.t0 + 12,
              "firing: %s (t0 %.3f)" % (f, st.t0))
        got = st.get("/api/alerts/%d" % rid)
        check(got["firing"] is True and any(x["firing"] and x["target"] == tid
                                            for x in got["states"]), "rule while firing: %s" % got)
        s, h, b = st.req("GET", "/api/alerts/firing", headers=HX)
        check(s == 200 and "dest-loss" in b.decode() and 'id="firing-%d-%d"' % (rid, tid)
              in b.decode(), "firing HTML: %s" % b[:400])

        step = "history"
        hist = wait_for("the recovery in the history", lambda: (lambda h: h if any(
            e["state"] == "recover" for e in h) else None)(
            st.get("/api/alerts/history?rule=%d" % rid)["history"]), timeout=25)
        check([e["state"] for e in hist] == ["recover", "trigger"],
              "history newest first: %s" % [e["state"] for e in hist])
        trig = hist[1]
        check(trig["rule"] == rid and trig["rule_name"] == "dest-loss" and
              trig["target"] == tid and trig["target_name"] == "t" and trig["value"] == 100 and
              trig["metric"] == "packet_loss_pct" and trig["time"].endswith("Z") and
              trig["time_ms"] <= hist[0]["time_ms"], "trigger record: %s" % trig)
        outcomes = {a["type"]: a for a in trig["actions"]}
        check(outcomes["comment"].get("ok") is True and outcomes["log"].get("ok") is True and
              outcomes["webhook"].get("ok") is True, "action outcomes: %s" % trig["actions"])
        check(st.get("/api/alerts/firing")["firing"] == [], "still firing after recovery")
        check(st.get("/api/alerts/%d" % rid)["firing"] is False, "rule still firing")
        # Filters: target, other rule, time range, limit.
        check(len(st.get("/api/alerts/history?target=%d" % tid)["history"]) >= 2,
              "history by target")
        check(st.get("/api/alerts/history?rule=%d" % oid)["history"] == [], "other rule")
        check(st.get("/api/alerts/history?target=%d&rule=%d" % (mid, rid))["history"] == [],
              "other target")
        one = st.get("/api/alerts/history?rule=%d&limit=1" % rid)
        check(len(one["history"]) == 1 and one["history"][0]["state"] == "recover" and
              one["truncated"] is True, "limit=1: %s" % one)
        t_trig = trig["time_ms"] / 1000.0
        rng = st.get("/api/alerts/history?rule=%d&start=%.6f&end=%.6f" %
                     (rid, t_trig, t_trig + 0.001))["history"]
        check([e["state"] for e in rng] == ["trigger"], "time range: %s" % rng)
        check(st.get("/api/alerts/history?rule=%d&end=%.6f" % (rid, t_trig))["history"] == [],
              "end is exclusive")
        s, h, b = st.req("GET", "/api/alerts/history?rule=%d" % rid, headers=HX)
        check(s == 200 and '<table class="pw-alert-history">' in b.decode() and
              "comment: ok" in b.decode(), "history HTML: %s" % b[:500])

        step = "comment action"
        comments = st.get("/api/targets/%d/comments" % tid)["comments"]
        mine = [c for c in comments if c["author"] == "alert:dest-loss"]
        check(len(mine) == 2 and any("trigger" in c["text"] for c in mine) and
              any("recover" in c["text"] for c in mine), "comments: %s" % comments)
        hooks = [x["body"]["state"] for x in sinks.read("http")]
        check(hooks == ["trigger", "recover"], "webhooks: %s" % hooks)

        step = "delete"
        d = st.json("DELETE", "/api/alerts/%d" % oid, headers=MARK)
        check(d == {"deleted": oid}, "delete: %s" % d)
        check([r["id"] for r in rules(st)] == [rid], "after delete: %s" % rules(st))
        st.error("GET", "/api/alerts/%d" % oid, 404)
        s, _, b = st.req("DELETE", "/api/alerts/%d" % oid, headers=MARK)
        check(s == 404, "second delete: %d" % s)

        step = "daemon down"
        before = json.dumps(rules(st), sort_keys=True)
        st.stop_daemon()
        for method, path, body in [("POST", "/api/alerts", rule_body(tid, name="x")),
                                   ("PATCH", "/api/alerts/%d" % rid, {"enabled": False}),
                                   ("DELETE", "/api/alerts/%d" % rid, None)]:
            e, _ = st.error(method, path, 503, body, MARK, code="unavailable")
            check("pingwatcherd" in e["message"], "503 message: %s" % e["message"])
        # A bad rule is still refused for what it is.
        st.error("POST", "/api/alerts", 400, rule_body(tid, metric="nope"), MARK)
        check(json.dumps(rules(st), sort_keys=True) == before, "rules changed with the daemon down")
        check(len(st.get("/api/alerts/history")["history"]) >= 2, "history with the daemon down")
        st.stop()
        print("ok: alerts API through nginx (create, list, patch, delete, firing, history, "
              "comment action, %d bad inputs, daemon down)" % len(bad_inputs(st, tid, rid)))
        return 0
    except Failure as e:
        print("FAIL (%s): %s" % (step, e), file=sys.stderr)
        for name in ("app.log", "daemon.log", "nginx-error.log"):
            print("---- %s ----\n%s" % (name, st.log(name)), file=sys.stderr)
        return 1
    finally:
        if sinks:
            sinks.stop()
        st.cleanup()
        shutil.rmtree(st.world, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
