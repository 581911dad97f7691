#!/usr/bin/env python3
"""End-to-end test of conf/apache-pingwatcher.conf: pingwatcher.fcgi behind a real Apache.

The same stack as test_api.py (pw-netsim, pingwatcherd in its namespace, pingwatcher.fcgi on a
unix socket) with Debian's apache2 in front instead of nginx: started directly, in the
foreground, with its own ServerRoot, a minimal httpd.conf (loopback port, pid file and logs in
a temporary directory) that Includes conf/apache-pingwatcher.conf with only its paths and port
substituted. When nginx is installed, nginx.conf.example is started in front of the same app
and the answers through both are compared. Checked through Apache: the static page, the API
(reads, mutations with and without the same-origin header), live streams unbuffered, /metrics,
unknown paths, path traversal. Every process started here is stopped by PID and the netsim
namespace removed, also on failure.

usage: test_apache.py PINGWATCHERD PW_NETSIM SCENARIO_DIR PINGWATCHER_FCGI APACHE_CONF_EXAMPLE
                      NGINX_CONF_EXAMPLE
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_api import (MARK, Failure, Sse, Stack, check, check_hops_timeline,  # noqa: E402
                      check_sse, check_targets, free_port, wait_for)

APACHE = "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
# What the example needs, and what a minimal server needs around it; those compiled into
# the binary (Debian's has unixd and log_config) are not loaded.
MODS = ["mpm_event", "unixd", "authz_core", "authz_host", "mime", "dir", "log_config", "proxy",
        "proxy_fcgi"]


def modules_to_load():
    p = subprocess.run([APACHE, "-l"], capture_output=True, text=True)
    built_in = set(re.findall(r"mod_(\w+)\.c", p.stdout))
    return [m for m in MODS if m not in built_in]


class ApacheStack(Stack):
    """netsim + pingwatcherd + pingwatcher.fcgi + Apache (and nginx, to compare with)."""

    def __init__(self, args):
        daemon, netsim, scenarios, app, apache_example, nginx_example = args
        super().__init__([daemon, netsim, scenarios, app, nginx_example])
        self.apache_example = apache_example
        self.nginx_port = free_port()
        self.apache = None

    def apache_conf(self):
        """A minimal httpd.conf around conf/apache-pingwatcher.conf (paths and port replaced)."""
        with open(self.apache_example) as f:
            site = f.read()
        subs = [
            ("unix:/run/pingwatcher/fcgi.sock|", "unix:%s|" % self.fcgi),
            ("/usr/share/pingwatcher/www", self.www),
            ("<VirtualHost 127.0.0.1:8080>", "<VirtualHost 127.0.0.1:%d>" % self.port),
            ("Listen 127.0.0.1:8080", "Listen 127.0.0.1:%d" % self.port),
        ]
        for old, new in subs:
            check(old in site, "apache-pingwatcher.conf no longer contains %r" % old)
            site = site.replace(old, new)
        live = [ln for ln in site.splitlines() if not ln.lstrip().startswith("#")]
        check(not [ln for ln in live if "/run/pingwatcher" in ln or "/usr/share/pingwatcher" in ln
                   or "/etc/pingwatcher" in ln],
              "apache-pingwatcher.conf has a path this test does not replace")
        site_path = os.path.join(self.dir, "pingwatcher-site.conf")
        with open(site_path, "w") as f:
            f.write(site)
        d = self.dir
        main = ["ServerRoot " + d, "ServerName localhost", "DefaultRuntimeDir " + d,
                "PidFile " + os.path.join(d, "apache.pid"),
                "ErrorLog " + os.path.join(d, "apache-error.log"), "LogLevel warn",
                "Mutex file:" + d + " default"]
        main += ["LoadModule %s_module %s/mod_%s.so" % (m, MODULES, m) for m in modules_to_load()]
        main += ["User nobody", "Group nogroup", "TypesConfig /etc/mime.types",
                 "DirectoryIndex index.html",
                 'LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" timed',
                 "CustomLog %s timed" % os.path.join(d, "apache-access.log"),
                 "<Directory />", "    AllowOverride None", "    Require all denied",
                 "</Directory>", "Include " + site_path]
        path = os.path.join(d, "httpd.conf")
        with open(path, "w") as f:
            f.write("\n".join(main) + "\n")
        return path

    def start_apache(self):
        conf = self.apache_conf()
        p = subprocess.run([APACHE, "-f", conf, "-t"], capture_output=True, text=True)
        check(p.returncode == 0, "apache2 -t refuses the configuration: " + p.stderr)
        log = open(os.path.join(self.dir, "apache-stderr.log"), "ab")
        # In the foreground: the PID is the server's, and SIGTERM stops it and its children.
        self.apache = subprocess.Popen([APACHE, "-f", conf, "-DFOREGROUND"],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while True:
            check(self.apache.poll() is None, "apache2 exited: " + self.log("apache-stderr.log")
                  + self.log("apache-error.log"))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/")
                c.getresponse().read()
                c.close()
                return
            except OSError:
                check(time.monotonic() < deadline, "apache2 does not answer")
                time.sleep(0.1)

    def start_nginx(self):
        """nginx.conf.example on its own port, in front of the same app."""
        port, self.port = self.port, self.nginx_port
        try:
            super().start_nginx()
        finally:
            self.port = port

    def stop(self):
        if self.apache and self.apache.poll() is None:
            os.kill(self.apache.pid, signal.SIGTERM)
            try:
                self.apache.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.apache.pid, signal.SIGKILL)
                self.apache.wait()
        self.apache = None
        super().stop()

    def via_nginx(self, method, path, headers=None):
        port, self.port = self.port, self.nginx_port
        try:
            return self.req(method, path, headers=headers)
        finally:
            self.port = port


def same_as_nginx(st, path):
    """GET path through Apache and nginx: the same status, type and JSON."""
    a = st.req("GET", path)
    if not st.nginx_pid:
        return a
    n = st.via_nginx("GET", path)
    check(a[0] == n[0], "%s: %d through Apache, %d through nginx" % (path, a[0], n[0]))
    check(a[1].get("content-type") == n[1].get("content-type"),
          "%s: Content-Type %r through Apache, %r through nginx" %
          (path, a[1].get("content-type"), n[1].get("content-type")))
    check(json.loads(a[2]) == json.loads(n[2]),
          "%s differs:\nApache %s\nnginx  %s" % (path, a[2][:600], n[2][:600]))
    return a


def check_reads(st, tid):
    # The daemon's target and the ones added through Apache, as nginx lists them too.
    s, _, b = same_as_nginx(st, "/api/targets")
    targets = json.loads(b)["targets"]
    check(s == 200 and {"web", "lossy2"} <= {t["label"] for t in targets} and
          any(t["id"] == tid and t["host"] == "198.18.102.10" for t in targets),
          "targets through Apache: %s" % targets)
    # The hop table at a moment in the past (fixed data), and a target's configuration.
    past = int(time.time()) - 2
    for path in ("/api/targets/%d/hops?focus=5&at=%d" % (tid, past),
                 "/api/targets/%d" % tid, "/api/configs", "/api/targets/%d/hops?at=%d" %
                 (tid, past)):
        s, h, b = same_as_nginx(st, path)
        check(s == 200 and "application/json" in h["content-type"], "%s: %d" % (path, s))
    hops = json.loads(b)
    check(hops["hops"] and hops["hops"][-1]["ip"] == "198.18.102.10" and
          all(h["hop"] == i + 1 for i, h in enumerate(hops["hops"])), "hops: %s" % hops)
    # HEAD, OPTIONS and the query string pass through.
    s, h, b = st.req("HEAD", "/api/targets")
    check(s == 200 and b == b"", "HEAD: %d %r" % (s, b[:50]))
    s, h, _ = st.req("OPTIONS", "/api/targets")
    check(s == 204 and h.get("allow") == "GET, HEAD, POST, OPTIONS", "OPTIONS: %d %s" % (s, h))
    st.error("GET", "/api/targets/%d/hops?focus=-5" % tid, 400)


def check_mutations(st, tid):
    before = json.dumps(st.get("/api/targets"), sort_keys=True)
    # Without the same-origin header, or from another origin: refused by the app, with its
    # JSON error (Apache passes the 403 through), and nothing changes.
    st.error("POST", "/api/targets", 403, {"host": "198.18.100.10"})
    st.error("DELETE", "/api/targets/%d" % tid, 403)
    st.error("POST", "/api/targets", 403, {"host": "198.18.100.10"},
             dict(MARK, Origin="http://evil.example"))
    check(json.dumps(st.get("/api/targets"), sort_keys=True) == before,
          "a refused mutation changed something")
    # With it (and this site's Origin, Host carrying the port): done.
    c = st.json("POST", "/api/targets/%d/comments" % tid, {"text": "through Apache"},
                status=201, headers=dict(MARK, Origin="http://127.0.0.1:%d" % st.port))
    check(any(x["id"] == c["id"] for x in
              st.get("/api/targets/%d/comments" % tid)["comments"]), "comment not listed")
    st.json("DELETE", "/api/targets/%d/comments/%d" % (tid, c["id"]), headers=MARK)
    # A body over the app's limit: its own 413; one over Apache's LimitRequestBody: Apache's.
    st.error("POST", "/api/targets", 413, '{"host": "' + "x" * 70000 + '"}', MARK,
             "application/json")
    s, _, _ = st.req("POST", "/api/targets", '{"host": "' + "x" * 140000 + '"}', MARK,
                     "application/json")
    check(s == 413, "a body over LimitRequestBody: %d" % s)


def check_live_unbuffered(st, tid):
    """Events arrive one by one as the app writes them (every 0.25 s here)."""
    t0 = time.monotonic()
    ev = Sse(st.port, "/api/targets/%d/live" % tid)
    check(ev.status == 200 and "text/event-stream" in ev.headers, "live: %d %s" %
          (ev.status, ev.headers))
    first = ev.event(timeout=5)
    check(time.monotonic() - t0 < 3, "the first event took %.1f s" % (time.monotonic() - t0))
    times, ids = [], [int(first["id"])]
    for _ in range(6):
        e = ev.event(timeout=5)
        times.append(time.monotonic())
        ids.append(int(e["id"]))
    ev.close()
    check(ids == sorted(ids) and len(set(ids)) == len(ids), "event ids %s" % ids)
    # Buffered, they would come in bursts (several events in one read, long gaps).
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(max(gaps) < 1.5 and sum(1 for g in gaps if g > 0.05) >= 3,
          "events arrive in bursts: gaps %s" % ["%.2f" % g for g in gaps])


def check_edges(st):
    s, h, b = st.req("GET", "/metrics")
    check(s == 200 and b"pingwatcher_web_live_streams" in b and
          h["content-type"].startswith("text/plain"), "/metrics: %d %r" % (s, b[:100]))
    st.error("GET", "/metrics?x=1", 400)
    # Nothing else is served under /metrics (the app knows no /metrics/x), nor unknown paths.
    for path in ("/metricsx", "/metrics/x", "/nothing", "/api", "/index.htm"):
        s, _, b = st.req("GET", path)
        check(s == 404, "%s: %d %r" % (path, s, b[:100]))
    st.error("GET", "/api/nothing", 404)
    st.error("PUT", "/api/targets", 405, headers=MARK)
    # Path traversal: Apache resolves or refuses dot-segments and encoded slashes; what
    # reaches the app is refused there. Never a file from outside the web root.
    for path in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/api/../../etc/passwd",
                 "/api/configs/..%2F..%2Fetc%2Fpasswd", "/api/configs/%2e%2e",
                 "/api/%2e%2e/%2e%2e/etc/passwd", "/api/configs/a%5c..%5c..%5cx",
                 "/x/../api/targets", "/api/targets/1%00/hops", "/index.html/../../etc/passwd",
                 "/..%2f..%2fetc/passwd"):
        s, _, b = st.req("GET", path)
        check(s in (400, 403, 404) and b"root:" not in b, "%s: %d %r" % (path, s, b[:100]))
    # Directories are not listed.
    os.mkdir(os.path.join(st.www, "sub"))
    s, _, b = st.req("GET", "/sub/")
    check(s in (403, 404), "directory listing: %d %r" % (s, b[:100]))


def main():
    if len(sys.argv) < 7:
        print(__doc__, file=sys.stderr)
        return 2
    if not os.access(APACHE, os.X_OK):
        print("apache2 is not installed (apt-get install apache2)", file=sys.stderr)
        return 77
    st = ApacheStack(sys.argv[1:7])
    step = "setup"
    try:
        st.start_netsim()
        st.start_daemon()
        st.start_app()
        st.start_apache()
        if shutil.which("nginx"):
            st.start_nginx()
        else:
            print("nginx is not installed: answers not compared with nginx's")
        step = "static page"
        s, h, b = st.req("GET", "/")
        check(s == 200 and b"PingWatcher" in b and h["content-type"].startswith("text/html"),
              "static page: %d %r" % (s, b[:100]))
        s, _, b2 = st.req("GET", "/index.html")
        check(s == 200 and b2 == b, "/index.html: %d" % s)
        step = "targets"
        tid, _ = check_targets(st, st.sim)
        step = "hops"
        check_hops_timeline(st, st.sim, tid)
        step = "reads compared with nginx"
        check_reads(st, tid)
        step = "mutations"
        check_mutations(st, tid)
        step = "live, unbuffered"
        check_live_unbuffered(st, tid)
        wait_for("the stream's slot to be freed", lambda: b"pingwatcher_web_live_streams 0\n"
                 in st.req("GET", "/metrics")[2])
        step = "SSE"
        check_sse(st, tid)
        step = "metrics, 404, traversal"
        check_edges(st)
        st.stop()
        print("ok: conf/apache-pingwatcher.conf serves the page, the API and live streams")
        return 0
    except Failure as e:
        print("FAIL (%s): %s" % (step, e), file=sys.stderr)
        for name in ("app.log", "daemon.log", "apache-stderr.log", "apache-error.log",
                     "apache-access.log", "nginx-error.log"):
            print("---- %s ----\n%s" % (name, st.log(name)), file=sys.stderr)
        return 1
    finally:
        st.cleanup()


if __name__ == "__main__":
    sys.exit(main())
