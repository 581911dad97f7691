#!/usr/bin/env python3
"""End-to-end tests of pingwatcher.fcgi, the web API, through a real nginx.

The stack as deployed: pw-netsim (demo network), pingwatcherd inside its namespace (as user
nobody, own temporary store and control socket), pingwatcher.fcgi reading that store
read-only and sending mutations to the control socket, and nginx with a configuration
derived from nginx.conf.example (loopback port, temporary prefix, pid and logs). Every
endpoint and every error path is exercised; bad inputs must give a clear 4xx and change
nothing. Every process started here is stopped by PID and the namespace removed, also on
failure.

usage: test_api.py PINGWATCHERD PW_NETSIM SCENARIO_DIR PINGWATCHER_FCGI NGINX_CONF_EXAMPLE [CASE]
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsim import Netsim  # noqa: E402

USER, GROUP = "nobody", "nogroup"
FAST = {"timeout": 1, "inter_packet_delay": 1, "max_hops": 12, "trace_interval": 0.25}
MARK = {"X-Requested-With": "XMLHttpRequest"}
SSE_MAX = 3


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Stack:
    """netsim + pingwatcherd + pingwatcher.fcgi + nginx, in one temporary directory."""

    def __init__(self, args):
        self.daemon_bin, self.netsim_bin, self.scenario_dir, self.app_bin, self.example = args
        self.dir = tempfile.mkdtemp(prefix="pw-api-")
        os.chmod(self.dir, 0o755)
        self.db = os.path.join(self.dir, "db")
        self.ctl = os.path.join(self.dir, "control.sock")
        self.fcgi = os.path.join(self.dir, "fcgi.sock")
        self.www = os.path.join(self.dir, "www")
        os.mkdir(self.www)
        with open(os.path.join(self.www, "index.html"), "w") as f:
            f.write("<!DOCTYPE html><title>PingWatcher</title>\n")
        self.port = free_port()
        self.sim = None
        self.daemon = self.app = self.nginx_pid = None
        self.logs = {}

    # ---- processes ----

    def start_netsim(self):
        self.sim = Netsim(self.netsim_bin, os.path.join(self.scenario_dir, "demo.json"))
        self.sim.__enter__()

    def start_daemon(self, targets=None):
        cfg = {"database": self.db, "control": {"path": self.ctl}, "user": USER,
               "group": GROUP, "log_level": "info", "defaults": FAST,
               "configurations": {"filecfg": {"trace_interval": 1}},
               "targets": targets if targets is not None else
               [{"host": "198.18.100.10", "label": "web"}]}
        path = os.path.join(self.dir, "pingwatcher.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        os.chmod(path, 0o644)
        log = open(os.path.join(self.dir, "daemon.log"), "ab")
        self.daemon = subprocess.Popen(
            ["ip", "netns", "exec", self.sim.ns, self.daemon_bin, "-f", "-c", path],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            check(self.daemon.poll() is None, "pingwatcherd exited: " + self.log("daemon.log"))
            if os.path.exists(self.ctl) and os.path.exists(os.path.join(self.db, "data.mdb")):
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(self.ctl)
                    s.close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise Failure("pingwatcherd did not start: " + self.log("daemon.log"))

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            os.kill(self.daemon.pid, signal.SIGTERM)
            try:
                self.daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.daemon.pid, signal.SIGKILL)
                self.daemon.wait()
        self.daemon = None

    def start_app(self):
        log = open(os.path.join(self.dir, "app.log"), "ab")
        self.app = subprocess.Popen(
            [self.app_bin, "--db", self.db, "--control", self.ctl, "--socket", self.fcgi,
             "--socket-mode", "0666", "--threads", "8", "--sse-max", str(SSE_MAX),
             "--sse-heartbeat", "2"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while not os.path.exists(self.fcgi):
            check(self.app.poll() is None, "pingwatcher.fcgi exited: " + self.log("app.log"))
            check(time.monotonic() < deadline, "pingwatcher.fcgi did not listen")
            time.sleep(0.05)

    def nginx_conf(self):
        """nginx.conf.example with this test's paths and port."""
        with open(self.example) as f:
            conf = f.read()
        subs = [
            ("unix:/run/pingwatcher/fcgi.sock", "unix:" + self.fcgi),
            ("listen 127.0.0.1:8080", "listen 127.0.0.1:%d" % self.port),
            ("root /usr/share/pingwatcher/www", "root " + self.www),
            ("pid /run/nginx-pingwatcher.pid", "pid " + os.path.join(self.dir, "nginx.pid")),
            ("/var/log/nginx/pingwatcher-error.log", os.path.join(self.dir, "nginx-error.log")),
            ("/var/log/nginx/pingwatcher-access.log", os.path.join(self.dir, "nginx-access.log")),
        ]
        for old, new in subs:
            check(old in conf, "nginx.conf.example no longer contains %r" % old)
            conf = conf.replace(old, new)
        temp = "".join("    %s_temp_path %s;\n" % (k, os.path.join(self.dir, k))
                       for k in ("client_body", "fastcgi", "proxy", "uwsgi", "scgi"))
        conf = conf.replace("http {\n", "http {\n" + temp, 1)
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        return path

    def start_nginx(self):
        conf = self.nginx_conf()
        p = subprocess.run(["nginx", "-p", self.dir, "-c", conf, "-e",
                            os.path.join(self.dir, "nginx-error.log")],
                           capture_output=True, text=True)
        check(p.returncode == 0, "nginx did not start: " + p.stderr)
        pidfile = os.path.join(self.dir, "nginx.pid")
        deadline = time.monotonic() + 5
        while not os.path.exists(pidfile) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(pidfile) as f:
            self.nginx_pid = int(f.read().strip())

    def stop(self):
        if self.nginx_pid:
            try:
                os.kill(self.nginx_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            for _ in range(100):
                try:
                    os.kill(self.nginx_pid, 0)
                    time.sleep(0.05)
                except ProcessLookupError:
                    break
            self.nginx_pid = None
        if self.app and self.app.poll() is None:
            os.kill(self.app.pid, signal.SIGTERM)
            try:
                self.app.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.app.pid, signal.SIGKILL)
                self.app.wait()
        self.stop_daemon()
        if self.sim:
            self.sim.__exit__(None, None, None)
            self.sim = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    # ---- HTTP ----

    def req(self, method, path, body=None, headers=None, ctype=None, timeout=20):
        """Returns (status, headers dict (lower-case names), body bytes)."""
        h = dict(headers or {})
        data = None
        if body is not None:
            if isinstance(body, (dict, list)) and ctype is None:
                data = json.dumps(body).encode()
                h["Content-Type"] = "application/json"
            elif isinstance(body, dict):
                data = urllib.parse.urlencode(body).encode()
                h["Content-Type"] = ctype
            else:
                data = body if isinstance(body, bytes) else body.encode()
                if ctype:
                    h["Content-Type"] = ctype
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def json(self, method, path, body=None, status=200, headers=None, ctype=None):
        st, h, b = self.req(method, path, body, headers, ctype)
        check(st == status, "%s %s: status %d, expected %d: %s" % (method, path, st, status,
                                                                    b[:400]))
        return json.loads(b) if b else None

    def get(self, path, status=200):
        return self.json("GET", path, status=status)

    def error(self, method, path, status, body=None, headers=None, ctype=None, code=None):
        """A request that must fail with status and a JSON error."""
        st, h, b = self.req(method, path, body, headers, ctype)
        check(st == status, "%s %s: status %d, expected %d: %s" % (method, path, st, status,
                                                                    b[:300]))
        try:
            e = json.loads(b)["error"]
        except (ValueError, KeyError, TypeError):
            raise Failure("%s %s: %d without a JSON error: %r" % (method, path, st, b[:300]))
        check(isinstance(e.get("code"), str) and isinstance(e.get("message"), str) and
              e["message"], "%s %s: malformed error %r" % (method, path, e))
        if code:
            check(e["code"] == code, "%s %s: code %s, expected %s" % (method, path, e["code"],
                                                                        code))
        return e, h


def wait_for(what, fn, timeout=15.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out waiting for " + what)
        time.sleep(interval)


def snapshot(st, tid):
    """Everything a bad request could have changed."""
    return (json.dumps(st.get("/api/targets"), sort_keys=True),
            json.dumps(st.get("/api/configs"), sort_keys=True),
            json.dumps(st.get("/api/sessions"), sort_keys=True),
            json.dumps(st.get("/api/targets/%d/comments" % tid), sort_keys=True))


class Sse:
    """A minimal Server-Sent Events reader on a raw socket."""

    def __init__(self, port, path, last_id=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" % path
        if last_id is not None:
            req += "Last-Event-ID: %s\r\n" % last_id
        self.s.sendall((req + "\r\n").encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        self.headers = head.decode(errors="replace").lower()
        self.chunked = "transfer-encoding: chunked" in self.headers
        self.text = ""

    def _until(self, sep):
        while sep not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise Failure("SSE connection closed")
            self.buf += d
        i = self.buf.index(sep)
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def _more(self):
        if self.chunked:
            size = int(self._until(b"\r\n").split(b";")[0], 16)
            while len(self.buf) < size + 2:
                d = self.s.recv(65536)
                if not d:
                    raise Failure("SSE connection closed")
                self.buf += d
            self.text += self.buf[:size].decode()
            self.buf = self.buf[size + 2:]
        else:
            d = self.s.recv(65536)
            if not d:
                raise Failure("SSE connection closed")
            self.text += d.decode()

    def event(self, timeout=10.0):
        """Next event as a dict of its fields (comments skipped)."""
        self.s.settimeout(timeout)
        while True:
            while "\n\n" not in self.text:
                self._more()
            block, self.text = self.text.split("\n\n", 1)
            ev = {}
            for line in block.split("\n"):
                if not line or line.startswith(":"):
                    continue
                k, _, v = line.partition(":")
                ev[k] = v[1:] if v.startswith(" ") else v
            if "data" in ev:
                return ev

    def close(self):
        self.s.close()


# ---- the checks ----

def check_targets(st, sim):
    ts = st.get("/api/targets")["targets"]
    check(len(ts) == 1 and ts[0]["label"] == "web" and ts[0]["from_config"] is True,
          "the file's target is not listed: %s" % ts)
    # Add through the API: JSON and form bodies, HX and XHR markers.
    t = st.json("POST", "/api/targets", {"host": "198.18.102.10", "label": "api <b>&amp;",
                                         "trace_interval": 0.25, "max_hops": 10, "timeout": 1,
                                         "inter_packet_delay": 1}, status=201, headers=MARK)
    check(t["host"] == "198.18.102.10" and t["label"] == "api <b>&amp;" and t["max_hops"] == 10,
          "created target: %s" % t)
    st2, h, b = st.req("POST", "/api/targets",
                       {"host": "198.18.101.10", "label": "lossy", "trace_interval": "0.5",
                        "final_hop_only": "false", "timeout": "1"},
                       headers={"HX-Request": "true"},
                       ctype="application/x-www-form-urlencoded")
    check(st2 == 201 and b.startswith(b"<tr id=\"target-"), "form add (HTMX): %d %r" % (st2, b))
    check("text/html" in h["content-type"], "HTMX answer is %s" % h["content-type"])
    lossy = int(re.search(rb'id="target-(\d+)"', b).group(1))
    check(h.get("location") == "/api/targets/%d" % lossy, "Location: %s" % h.get("location"))
    one = st.get("/api/targets/%d" % t["id"])
    check(one["id"] == t["id"] and one["packet_type"] == "icmp", "GET one target: %s" % one)
    # HTML list: labels escaped.
    s, h, b = st.req("GET", "/api/targets", headers={"HX-Request": "true"})
    check(s == 200 and b"api &lt;b&gt;&amp;amp;" in b and b"<b>" not in b,
          "target list fragment does not escape labels: %r" % b[:600])
    # PATCH: options, pause, resume, named configuration.
    u = st.json("PATCH", "/api/targets/%d" % lossy, {"label": "lossy2", "max_hops": 9},
                headers=MARK)
    check(u["label"] == "lossy2" and u["max_hops"] == 9, "PATCH: %s" % u)
    u = st.json("PATCH", "/api/targets/%d" % lossy, {"paused": True}, headers=MARK)
    check(u["paused"] is True, "pause: %s" % u)
    u = st.json("PATCH", "/api/targets/%d" % lossy, {"paused": False}, headers=MARK)
    check(u["paused"] is False, "resume: %s" % u)
    return t["id"], lossy


def check_hops_timeline(st, sim, tid):
    path = sim.scenario["paths"][2]
    hops = wait_for("10 samples of the api target", lambda: (
        lambda d: d if d["samples"] >= 10 and d["hops"] and
        d["hops"][-1]["ip"] == "198.18.102.10" else None)(
        st.get("/api/targets/%d/hops?focus=10" % tid)), timeout=20)
    check(hops["focus"] == 10 and hops["samples"] == 10, "focus: %s" % hops)
    for i, hop in enumerate(path["hops"]):
        h = hops["hops"][i]
        check(h["hop"] == i + 1, "hop numbering: %s" % h)
        if hop.get("silent"):
            check(h["ip"] is None and h["loss_pct"] == 100 and h["cur_lost"] is True and
                  h["cur_ms"] is None, "silent hop %d: %s" % (i + 1, h))
        else:
            check(h["ip"] == hop["addr"], "hop %d: %s, scenario %s" % (i + 1, h["ip"],
                                                                     hop["addr"]))
            for k in ("avg_ms", "min_ms", "max_ms", "jitter_ms", "loss_pct", "sent"):
                check(k in h, "hop %d lacks %s" % (i + 1, k))
    dest = hops["hops"][-1]
    check(abs(dest["avg_ms"] - path["dest"]["rtt_ms"]) < 3,
          "destination avg %.3f ms, scenario %.1f" % (dest["avg_ms"], path["dest"]["rtt_ms"]))
    # The hostile PTR name: exact in JSON, escaped in HTML.
    named = wait_for("DNS names", lambda: [h for h in st.get("/api/targets/%d/hops" % tid)["hops"]
                                           if h["dns"] and "onerror" in h["dns"]])
    check(named[0]["dns"] == "hop<imgsrc=xonerror=alert(1)>.sim.example",
          "PTR name in JSON: %r" % named[0]["dns"])
    s, _, b = st.req("GET", "/api/targets/%d/hops?focus=all" % tid,
                     headers={"HX-Request": "true"})
    check(s == 200 and b.startswith(b"<table"), "hops fragment: %r" % b[:200])
    # (The daemon strips the bytes outside printable ASCII: spaces and the BEL go.)
    check(b"hop&lt;imgsrc=xonerror=alert(1)&gt;.sim.example" in b and b"<img" not in b,
          "the PTR name is not escaped in HTML: %r" % b)
    # at: the table as it was a few seconds ago.
    past = int(time.time()) - 1
    old = st.get("/api/targets/%d/hops?focus=3&at=%d" % (tid, past))
    check(old["at_ms"] == past * 1000 and old["samples"] == 3, "at: %s" % str(old)[:300])
    rfc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(past))
    check(st.get("/api/targets/%d/hops?focus=3&at=%s" % (tid, rfc))["at_ms"] == past * 1000,
          "at as RFC 3339")
    # Timeline: final hop, one hop, all hops, explicit and automatic resolution.
    now = int(time.time())
    tl = st.get("/api/targets/%d/timeline?hop=last&start=%d&end=%d&resolution=1s" %
                (tid, now - 30, now + 1))
    check(tl["buckets"]["start_ms"] and tl["resolution_s"] == 1, "timeline: %s" % str(tl)[:300])
    # One array per field, all as long; a bucket is the same index in each.
    cols = tl["buckets"]
    fields = ("start_ms", "hop", "count", "lost", "min_ms", "avg_ms", "max_ms", "p10_ms",
              "p50_ms", "p90_ms", "stddev_ms")
    check(sorted(cols) == sorted(fields), "bucket fields: %s" % sorted(cols))
    check(len({len(cols[k]) for k in fields}) == 1, "bucket columns differ in length")
    b0 = {k: cols[k][-2] for k in fields}
    check(b0["count"] >= 3 and b0["lost"] <= b0["count"] and
          b0["min_ms"] <= b0["p10_ms"] <= b0["p50_ms"] <= b0["p90_ms"] <= b0["max_ms"] and
          b0["min_ms"] <= b0["avg_ms"] <= b0["max_ms"] and b0["start_ms"] % 1000 == 0,
          "bucket %s" % b0)
    check(all(b - a >= 1000 for a, b in zip(cols["start_ms"], cols["start_ms"][1:])),
          "bucket starts not increasing by whole seconds: %s" % cols["start_ms"][:10])
    # The same request again is answered from the cache (nothing new committed) or afresh:
    # either way the same buckets.
    again = st.get("/api/targets/%d/timeline?hop=last&start=%d&end=%d&resolution=1s" %
                   (tid, now - 30, now + 1))
    n = min(len(cols["start_ms"]), len(again["buckets"]["start_ms"])) - 1
    check(all(again["buckets"][k][:n] == cols[k][:n] for k in fields), "timeline changed")
    tl = st.get("/api/targets/%d/timeline?hop=3&start=%d" % (tid, now - 60))
    check(tl["buckets"]["hop"] and all(h == 3 for h in tl["buckets"]["hop"]), "hop=3 timeline")
    tl = st.get("/api/targets/%d/timeline?hop=all&start=%d&resolution=5s" % (tid, now - 20))
    check(len(set(tl["buckets"]["hop"])) >= 5, "hop=all timeline has few hops")
    tl = st.get("/api/targets/%d/timeline" % tid)
    check(tl["end_ms"] - tl["start_ms"] == 3600 * 1000 and tl["buckets"]["start_ms"],
          "default timeline")
    s, _, b = st.req("GET", "/api/targets/%d/timeline" % tid, headers={"HX-Request": "true"})
    check(s == 200 and b.startswith(b"<table class=\"pw-timeline\""), "timeline fragment")
    rc = st.get("/api/targets/%d/route_changes" % tid)
    check(isinstance(rc["route_changes"], list), "route_changes: %s" % rc)
    # Summary: every target, final-hop stats and a sparkline.
    sm = st.get("/api/summary?points=10")
    row = [r for r in sm["targets"] if r["id"] == tid][0]
    check(row["ip"] == "198.18.102.10" and row["avg_ms"] is not None and
          len(row["sparkline"]["avg_ms"]) >= 1, "summary row: %s" % row)
    s, _, b = st.req("GET", "/api/summary", headers={"HX-Request": "true"})
    check(s == 200 and b"<svg class=\"pw-spark\"" in b and b"api &lt;b&gt;" in b,
          "summary fragment: %r" % b[:300])


def check_notes_export(st, tid):
    now = time.time()
    c = st.json("POST", "/api/targets/%d/comments" % tid,
                {"time": int(now) - 5, "text": "<script>alert('x')</script> link flap"},
                status=201, headers=MARK)
    cs = st.get("/api/targets/%d/comments" % tid)["comments"]
    check(any(x["id"] == c["id"] and x["text"].startswith("<script>") for x in cs),
          "comment not listed: %s" % cs)
    s, _, b = st.req("GET", "/api/targets/%d/comments" % tid, headers={"HX-Request": "true"})
    check(b"&lt;script&gt;" in b and b"<script>" not in b, "comment not escaped: %r" % b)
    st.json("DELETE", "/api/targets/%d/comments/%d" % (tid, c["id"]), headers=MARK)
    check(not st.get("/api/targets/%d/comments" % tid)["comments"], "comment not deleted")
    ss = st.json("POST", "/api/targets/%d/sessions" % tid,
                 {"name": "../../etc/passwd \"evil\"", "start": int(now) - 10,
                  "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))},
                 status=201, headers=MARK)
    check(ss["name"] == "../../etc/passwd \"evil\"" and ss["end_ms"] - ss["start_ms"] == 10000,
          "session: %s" % ss)
    check(st.get("/api/targets/%d/sessions/%d" % (tid, ss["id"]))["id"] == ss["id"],
          "GET session")
    check(any(x["id"] == ss["id"] for x in st.get("/api/sessions")["sessions"]),
          "/api/sessions lacks the session")
    check(any(x["id"] == ss["id"] for x in
              st.get("/api/targets/%d/sessions" % tid)["sessions"]), "target sessions")
    # Export of the session: a download with a safe name, every row of the range.
    s, h, b = st.req("GET", "/api/targets/%d/sessions/%d/export?format=csv" % (tid, ss["id"]))
    check(s == 200 and h["content-type"].startswith("text/csv"), "CSV export %d" % s)
    cd = h.get("content-disposition", "")
    m = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"', cd)
    check(m and ".." not in m.group(1) and m.group(1).endswith(".csv") and
          "/" not in m.group(1), "Content-Disposition: %r" % cd)
    lines = b.decode().strip().split("\r\n")
    check(lines[0] == "time,time_ms,hop,ip,dns,rtt_ms,timeout", "CSV header %r" % lines[0])
    check(len(lines) > 10 * 5, "CSV export has %d lines for 10 s" % len(lines))
    for line in lines[1:]:
        t_ms = int(line.split(",")[1])
        check(ss["start_ms"] <= t_ms < ss["end_ms"], "CSV row outside the session: %s" % line)
    s, h, b = st.req("POST", "/api/targets/%d/sessions/export" % tid,
                     {"format": "json", "start": int(now) - 10, "end": int(now)})
    check(s == 200 and "application/json" in h["content-type"], "JSON export %d" % s)
    doc = json.loads(b)
    check(doc["complete"] is True and doc["rows_count"] == len(doc["rows"]) > 20,
          "JSON export: %s" % str(doc)[:300])
    lost = [r for r in doc["rows"] if r["timeout"]]
    check(all(r["rtt_ms"] is None for r in lost), "a lost row has an RTT")
    check(re.search(r'filename="pingwatcher-%d-api_b_amp_-' % tid,
                    h["content-disposition"]), "range export name %r" % h["content-disposition"])
    st.json("DELETE", "/api/targets/%d/sessions/%d" % (tid, ss["id"]), headers=MARK)
    st.error("GET", "/api/targets/%d/sessions/%d" % (tid, ss["id"]), 404)


def check_configs(st, tid):
    names = {c["name"] for c in st.get("/api/configs")["configs"]}
    check("filecfg" in names, "configs: %s" % names)
    c = st.json("POST", "/api/configs", {"name": "web-fast", "trace_interval": 0.5,
                                         "timeout": 1}, status=201, headers=MARK)
    check(c["name"] == "web-fast" and c["trace_interval"] == 0.5, "config create: %s" % c)
    c = st.json("PUT", "/api/configs/web-fast", {"max_hops": 11}, headers=MARK)
    check(c["max_hops"] == 11, "config update: %s" % c)
    check(st.get("/api/configs/web-fast")["max_hops"] == 11, "GET config")
    t = st.json("POST", "/api/configs/web-fast/apply", {"target": tid}, headers=MARK)
    check(t["max_hops"] == 11 and t["trace_interval"] == 0.5, "apply: %s" % t)
    st.error("POST", "/api/configs", 409, {"name": "web-fast"}, headers=MARK)
    st.error("PUT", "/api/configs/filecfg", 409, {"max_hops": 5}, headers=MARK)
    st.json("DELETE", "/api/configs/web-fast", headers=MARK)
    st.error("GET", "/api/configs/web-fast", 404)


def check_metrics(st, tid):
    def ready():
        text = st.req("GET", "/metrics")[2].decode()
        m = re.search(r'pingwatcher_probes_sent_total\{target="%d"\} (\d+)' % tid, text)
        return text if m and int(m.group(1)) > 0 else None
    text = wait_for("metrics counters", ready)
    for name in ("pingwatcher_probes_lost_total", "pingwatcher_samples_total",
                 "pingwatcher_final_hop_rtt_seconds_bucket", "pingwatcher_final_hop_rtt_seconds_sum",
                 "pingwatcher_hop_rtt_avg_seconds", "pingwatcher_hop_loss_ratio"):
        check(re.search(r'^%s\{target="%d"' % (name, tid), text, re.M), "metrics lack " + name)
    check(re.search(r'pingwatcher_final_hop_rtt_seconds_bucket\{target="%d",le="\+Inf"\} [1-9]'
                    % tid, text), "histogram empty")
    check(re.search(r'pingwatcher_hop_rtt_avg_seconds\{target="%d",hop="3"\} 0\.00' % tid, text),
          "per-hop gauge by TTL missing")
    check("198.18.1." not in text and "198.18.22." not in text, "an IP address in metrics")
    st2, h, b = st.req("GET", "/metrics", headers={"Accept": "application/openmetrics-text"})
    check(st2 == 200 and b.endswith(b"# EOF\n") and "openmetrics" in h["content-type"],
          "OpenMetrics negotiation")


def check_sse(st, tid):
    ev_stream = Sse(st.port, "/api/targets/%d/live" % tid)
    check(ev_stream.status == 200 and "text/event-stream" in ev_stream.headers,
          "live: %d %s" % (ev_stream.status, ev_stream.headers))
    # Another request is served while the stream is open.
    t0 = time.monotonic()
    check(st.get("/api/targets")["targets"], "targets during SSE")
    check(time.monotonic() - t0 < 1.0, "a request waited %.2f s behind an SSE stream" %
          (time.monotonic() - t0))
    ev = ev_stream.event()
    check(ev.get("event") == "sample" and ev.get("id", "").isdigit(), "event: %s" % ev)
    data = json.loads(ev["data"])
    check(data["id"] == tid and data["hops"] and "rtt_ms" in data["hops"][0], "data %s" % data)
    first_id = int(ev["id"])
    ev2 = ev_stream.event()
    check(int(ev2["id"]) > first_id, "event ids not increasing")
    # A concurrent request while events flow, and a heartbeat-friendly close.
    results = []
    th = threading.Thread(target=lambda: results.append(st.req("GET", "/api/summary")[0]))
    th.start()
    ev_stream.event()
    th.join(10)
    check(results == [200], "summary during SSE: %s" % results)
    ev_stream.close()
    # Last-Event-ID: the stream resumes after that sample, none skipped.
    again = Sse(st.port, "/api/targets/%d/live" % tid, last_id=first_id)
    ev3 = again.event()
    check(int(ev3["id"]) == int(ev2["id"]), "resume after %d gave %s, expected %s" %
          (first_id, ev3["id"], ev2["id"]))
    again.close()
    s = Sse(st.port, "/api/targets/%d/live" % tid, last_id="abc")
    check(s.status == 400, "bad Last-Event-ID: %d" % s.status)
    s.close()
    # The summary stream starts with every target's state.
    summ = Sse(st.port, "/api/summary/live")
    e = summ.event()
    check(e.get("event") == "summary" and "avg_ms" in json.loads(e["data"]), "summary %s" % e)
    # Closed streams free their slots when nginx hangs up on the app (or a write fails).
    def open_streams():
        text = st.req("GET", "/metrics")[2].decode()
        return int(re.search(r"^pingwatcher_web_live_streams (\d+)$", text, re.M).group(1))
    wait_for("closed streams to free their slots", lambda: open_streams() == 1)
    # The cap: SSE_MAX streams at once, the next one is refused with 503.
    extra = [Sse(st.port, "/api/targets/%d/live" % tid) for _ in range(SSE_MAX - 1)]
    check(all(x.status == 200 for x in extra), "streams under the cap refused")
    over = Sse(st.port, "/api/targets/%d/live" % tid)
    check(over.status == 503, "stream over the cap: %d" % over.status)
    over.close()
    check(st.get("/api/targets")["targets"], "a request with every stream slot taken")
    for x in extra + [summ]:
        x.close()
    wait_for("every stream slot to be freed", lambda: open_streams() == 0, timeout=10)


def bad_inputs(st, tid):
    """(method, path, body, headers, ctype, status) that must all fail and change nothing."""
    big = "x" * 70000
    t = "/api/targets/%d" % tid
    cases = [
        ("GET", "/api/targets/abc", None, None, None, 400),
        ("GET", "/api/targets/0/hops", None, None, None, 400),
        ("GET", "/api/targets/-1", None, None, None, 400),
        ("GET", "/api/targets/99999999999999999999/hops", None, None, None, 400),
        ("GET", "/api/targets/4294967295/hops", None, None, None, 404),
        ("GET", "/api/targets/123456/timeline", None, None, None, 404),
        ("GET", "/api/targets/1%2F2/hops", None, None, None, 400),
        ("GET", "/api/nothing", None, None, None, 404),
        ("GET", t + "/hops?focus=0", None, None, None, 400),
        ("GET", t + "/hops?focus=-5", None, None, None, 400),
        ("GET", t + "/hops?focus=1e9", None, None, None, 400),
        ("GET", t + "/hops?focus=99999999999999999999999", None, None, None, 400),
        ("GET", t + "/hops?focus=10&focus=20", None, None, None, 400),
        ("GET", t + "/hops?focsu=10", None, None, None, 400),
        ("GET", t + "/hops?at=yesterday", None, None, None, 400),
        ("GET", t + "/hops?at=4102444800", None, None, None, 400),
        ("GET", t + "/hops?at=1714564800000", None, None, None, 400),
        ("GET", t + "/hops?at=%27%20OR%201%3D1--", None, None, None, 400),
        ("GET", t + "/timeline?start=100&end=50", None, None, None, 400),
        ("GET", t + "/timeline?start=-100", None, None, None, 400),
        ("GET", t + "/timeline?start=0&end=253402300799", None, None, None, 400),
        ("GET", t + "/timeline?hop=65", None, None, None, 400),
        ("GET", t + "/timeline?hop=first", None, None, None, 400),
        ("GET", t + "/timeline?resolution=1s&start=1", None, None, None, 400),
        ("GET", t + "/timeline?resolution=0s", None, None, None, 400),
        ("GET", t + "/timeline?resolution=fast", None, None, None, 400),
        ("GET", t + "/timeline?points=5000", None, None, None, 400),
        ("GET", t + "/timeline?start=2024-13-45T99:00:00Z", None, None, None, 400),
        ("GET", t + "/comments?limit=0", None, None, None, 400),
        ("GET", t + "/sessions/export?format=xml", None, None, None, 400),
        ("GET", t + "/sessions/export?start=10&end=5", None, None, None, 400),
        ("GET", "/api/summary?points=100000", None, None, None, 400),
        ("GET", "/api/summary?window=1y", None, None, None, 400),
        ("GET", "/metrics?x=1", None, None, None, 400),
        ("GET", "/api/targets?%zz=1", None, None, None, 400),
        # wrong methods
        ("PUT", "/api/targets", None, MARK, None, 405),
        ("DELETE", "/api/targets", None, MARK, None, 405),
        ("POST", t + "/hops", None, MARK, None, 405),
        ("PATCH", "/api/configs", None, MARK, None, 405),
        ("PROPFIND", "/api/targets", None, None, None, 405),
        # the same-origin marker and origin checks
        ("POST", "/api/targets", {"host": "198.18.100.10"}, None, None, 403),
        ("DELETE", t, None, None, None, 403),
        ("PATCH", t, {"paused": True}, {"HX-Request": "false"}, None, 403),
        ("POST", "/api/targets", {"host": "198.18.100.10"},
         dict(MARK, Origin="http://evil.example"), None, 403),
        ("POST", "/api/targets", {"host": "198.18.100.10"},
         dict(MARK, **{"Sec-Fetch-Site": "cross-site"}), None, 403),
        # bodies
        ("POST", "/api/targets", '{"host": "198.18.100.10"', MARK, "application/json", 400),
        ("POST", "/api/targets", '[1,2]', MARK, "application/json", 400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "bogus": 1}, MARK, None, 400),
        ("POST", "/api/targets", {"label": "no host"}, MARK, None, 400),
        ("POST", "/api/targets", {"host": "a b;rm -rf /"}, MARK, None, 400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "max_hops": 65}, MARK, None, 400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "max_hops": 1.5}, MARK, None, 400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "timeout": -3}, MARK, None, 400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "trace_interval": 1e308}, MARK,
         None, 400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "packet_type": "gre"}, MARK, None,
         400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "port": 0}, MARK, None, 400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "label": 5}, MARK, None, 400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "label": None}, MARK, None, 400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "label": "a\u0007b"}, MARK, None,
         400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "label": "x" * 200}, MARK, None,
         400),
        ("POST", "/api/targets", {"host": "198.18.100.10", "config": "../x"}, MARK, None, 400),
        ("POST", "/api/targets", b"host=198.18.100.10&label=%ff%fe", MARK,
         "application/x-www-form-urlencoded", 400),
        ("POST", "/api/targets", "host=198.18.100.10", MARK, "text/plain", 415),
        ("POST", "/api/targets", "host=198.18.100.10", MARK, "application/json; charset=latin1",
         415),
        ("POST", "/api/targets", '{"host": "' + big + '"}', MARK, "application/json", 413),
        ("POST", "/api/targets", {"host": "198.18.100.10", "host2": big[:9000]}, MARK, None,
         400),
        ("PATCH", t, {}, MARK, None, 400),
        ("PATCH", t, {"paused": "maybe"}, MARK, None, 400),
        ("PATCH", t, {"id": 5}, MARK, None, 400),
        ("PATCH", "/api/targets/777777", {"paused": True}, MARK, None, 404),
        ("DELETE", "/api/targets/777777", None, MARK, None, 404),
        ("POST", t + "/comments", {"text": ""}, MARK, None, 400),
        ("POST", t + "/comments", {"text": "x" * 1024}, MARK, None, 400),
        ("POST", t + "/comments", {"text": "ok", "time": "soon"}, MARK, None, 400),
        ("DELETE", t + "/comments/999999", None, MARK, None, 404),
        ("DELETE", t + "/comments/abc", None, MARK, None, 400),
        ("POST", t + "/sessions", {"name": "s", "start": 20, "end": 10}, MARK, None, 400),
        ("POST", t + "/sessions", {"name": "s", "start": 10}, MARK, None, 400),
        ("POST", t + "/sessions", {"name": "", "start": 1, "end": 2}, MARK, None, 400),
        ("DELETE", t + "/sessions/999999", None, MARK, None, 404),
        ("POST", "/api/configs", {"name": ".hidden"}, MARK, None, 400),
        ("POST", "/api/configs", {"name": "ok", "max_hops": "many"}, MARK, None, 400),
        ("PUT", "/api/configs/nosuch", {"max_hops": 5}, MARK, None, 404),
        ("PUT", "/api/configs/filecfg", {"name": "other"}, MARK, None, 400),
        ("POST", "/api/configs/filecfg/apply", {"target": "x"}, MARK, None, 400),
        ("POST", "/api/configs/filecfg/apply", {}, MARK, None, 400),
        ("GET", t + "/hops", "x=1", None, "application/x-www-form-urlencoded", 400),
    ]
    return cases


def check_bad_inputs(st, tid):
    before = snapshot(st, tid)
    for method, path, body, headers, ctype, status in bad_inputs(st, tid):
        try:
            if isinstance(body, dict) and ctype is None:
                st.error(method, path, status, body, headers)
            else:
                st.error(method, path, status, body, headers, ctype)
        except Failure as e:
            raise Failure("%s (body %r, headers %r)" % (e, str(body)[:100], headers))
    # Path traversal: nginx resolves dot-segments itself (then nothing matches), the app
    # refuses what reaches it; either way a 4xx and nothing served.
    for path in ("/api/configs/..%2F..%2Fetc%2Fpasswd", "/api/configs/%2e%2e",
                 "/api/../../etc/passwd", "/api/targets/%d/sessions/..%%2f..%%2f1/export" % tid,
                 "/api/configs/a%5c..%5c..%5cx", "/api/targets/%d/sessions/1%%00/export" % tid):
        s, _, b = st.req("GET", path)
        check(s in (400, 404) and b"root:" not in b, "%s: %d %r" % (path, s, b[:100]))
    # 405 carries Allow.
    e, h = st.error("PUT", "/api/targets", 405, headers=MARK)
    check(h.get("allow") == "GET, HEAD, POST, OPTIONS", "Allow: %r" % h.get("allow"))
    # HTMX errors are escaped fragments.
    s, _, b = st.req("GET", "/api/targets/%3Cscript%3E/hops", headers={"HX-Request": "true"})
    check(s == 400 and b.startswith(b"<div class=\"pw-error\"") and b"<script>" not in b,
          "HTMX error fragment: %r" % b)
    after = snapshot(st, tid)
    check(before == after, "a bad request changed something")


def check_daemon_down(st, tid):
    before = snapshot(st, tid)
    st.stop_daemon()
    check(st.get("/api/targets/%d/hops" % tid)["hops"], "hops with the daemon down")
    # Nothing is committed any more: the same questions are answered from the cache, with
    # the same answers.
    def hits():
        text = st.req("GET", "/metrics")[2].decode()
        return int(re.search(r'^pingwatcher_web_cache_lookups_total\{result="hit"\} (\d+)',
                             text, re.M).group(1))
    h0 = hits()
    now = int(time.time())
    for path in ("/api/targets/%d/hops?focus=5" % tid,
                 "/api/targets/%d/timeline?hop=2&start=%d&end=%d" % (tid, now - 600, now - 5)):
        a, b = st.req("GET", path), st.req("GET", path)
        check(a[0] == b[0] == 200 and a[2] == b[2], "a cached answer differs: %s" % path)
    check(hits() >= h0 + 2, "no cache hits with the daemon down (%d, then %d)" % (h0, hits()))
    check(st.get("/api/summary")["targets"], "summary with the daemon down")
    for method, path, body in [("POST", "/api/targets", {"host": "198.18.100.10"}),
                               ("PATCH", "/api/targets/%d" % tid, {"paused": True}),
                               ("DELETE", "/api/targets/%d" % tid, None),
                               ("POST", "/api/targets/%d/comments" % tid, {"text": "x"}),
                               ("POST", "/api/configs", {"name": "x"})]:
        e, _ = st.error(method, path, 503, body, MARK, code="unavailable")
        check("pingwatcherd" in e["message"], "503 message: %s" % e["message"])
    check(before == snapshot(st, tid), "state changed with the daemon down")


def check_delete(st, tid):
    st.json("DELETE", "/api/targets/%d" % tid, headers=MARK)
    wait_for("the target to disappear",
             lambda: st.req("GET", "/api/targets/%d" % tid)[0] == 404, timeout=5)
    st.error("GET", "/api/targets/%d/hops" % tid, 404)


def main():
    if len(sys.argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    if shutil.which("nginx") is None:
        print("nginx is not installed (apt-get install nginx-light)", file=sys.stderr)
        return 77
    st = Stack(sys.argv[1:6])
    step = "setup"
    try:
        st.start_netsim()
        st.start_daemon()
        st.start_app()
        st.start_nginx()
        s, _, b = st.req("GET", "/")
        check(s == 200 and b"PingWatcher" in b, "static page: %d" % s)
        step = "targets"
        tid, lossy = check_targets(st, st.sim)
        step = "hops and timeline"
        check_hops_timeline(st, st.sim, tid)
        step = "comments, sessions, export"
        check_notes_export(st, tid)
        step = "configurations"
        check_configs(st, lossy)
        step = "metrics"
        check_metrics(st, tid)
        step = "SSE"
        check_sse(st, tid)
        step = "bad inputs"
        check_bad_inputs(st, tid)
        step = "delete"
        check_delete(st, lossy)
        step = "daemon down"
        check_daemon_down(st, tid)
        st.stop()
        print("ok: every endpoint and error path through nginx")
        return 0
    except Failure as e:
        print("FAIL (%s): %s" % (step, e), file=sys.stderr)
        for name in ("app.log", "daemon.log", "nginx-error.log"):
            print("---- %s ----\n%s" % (name, st.log(name)), file=sys.stderr)
        return 1
    finally:
        st.cleanup()


if __name__ == "__main__":
    sys.exit(main())
