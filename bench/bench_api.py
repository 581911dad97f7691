#!/usr/bin/env python3
"""Benchmark of the web API through nginx (loopback only, a few seconds per run).

Seeds a store with 7 days of samples every 2.5 s (10 hops) through the store API
(seed_store), runs pingwatcher.fcgi on a unix socket and nginx with a configuration derived
from nginx.conf.example, then measures with wrk (2 threads, 64 connections):

  * GET /api/targets/1/hops?focus=10
  * GET /api/targets/1/timeline?hop=last&start=<7 days ago>   (automatic resolution)

each next to nginx serving a static file of exactly the same size in the same run, printed
as a ratio (target >= 0.5) with p99 latency; and the app's own time for the 7-day timeline
(its Server-Timing header over sequential requests; target < 5 ms), as served (from the app's
answer cache, since nothing is committed meanwhile) and with the cache off.

usage: bench_api.py PINGWATCHER_FCGI SEED_STORE NGINX_CONF_EXAMPLE [SECONDS]
"""

import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def nginx_conf(example, d, port, fcgi, www):
    with open(example) as f:
        conf = f.read()
    for old, new in [
            ("unix:/run/pingwatcher/fcgi.sock", "unix:" + fcgi),
            ("listen 127.0.0.1:8080", "listen 127.0.0.1:%d" % port),
            ("root /usr/share/pingwatcher/www", "root " + www),
            ("pid /run/nginx-pingwatcher.pid", "pid " + os.path.join(d, "nginx.pid")),
            ("/var/log/nginx/pingwatcher-error.log", os.path.join(d, "error.log")),
            # The access log costs the same for both sides; off, the runs measure serving.
            ("access_log /var/log/nginx/pingwatcher-access.log", "access_log off")]:
        if old not in conf:
            raise SystemExit("bench_api: nginx.conf.example lacks %r" % old)
        conf = conf.replace(old, new)
    temp = "".join("    %s_temp_path %s;\n" % (k, os.path.join(d, k))
                   for k in ("client_body", "fastcgi", "proxy", "uwsgi", "scgi"))
    conf = conf.replace("http {\n", "http {\n" + temp, 1)
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


def start_app(app_bin, db, d, fcgi, extra=()):
    app = subprocess.Popen([app_bin, "--db", db, "--control", os.path.join(d, "none.sock"),
                            "--socket", fcgi, "--socket-mode", "0666", "--threads", "8"] +
                           list(extra), stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(fcgi):
        if app.poll() is not None:
            raise SystemExit("bench_api: pingwatcher.fcgi exited")
        time.sleep(0.05)
    return app


def stop_app(app):
    os.kill(app.pid, signal.SIGTERM)
    try:
        app.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(app.pid, signal.SIGKILL)
        app.wait()


def server_times(port, path, label):
    times = []
    for _ in range(200):
        _, timing = get(port, path)
        times.append(float(re.search(r"dur=([\d.]+)", timing).group(1)))
    times.sort()
    print("server time, 7-day timeline%s (Server-Timing, 200 sequential requests): median "
          "%.2f ms, p99 %.2f ms, max %.2f ms (target < 5 ms)" %
          (label, statistics.median(times), times[int(len(times) * 0.99) - 1], times[-1]))


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    timing = r.getheader("Server-Timing") or ""
    c.close()
    if r.status != 200:
        raise SystemExit("bench_api: GET %s: %d %r" % (path, r.status, body[:300]))
    return body, timing


def wrk(port, path, seconds):
    out = subprocess.run(["wrk", "-t2", "-c64", "-d%ds" % seconds, "--latency",
                          "http://127.0.0.1:%d%s" % (port, path)],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit("bench_api: %s answered %s errors under load" % (path, bad.group(1)))
    return rps, p99


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    app_bin, seed_bin, example = sys.argv[1:4]
    seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            print("bench_api: %s is not installed (apt-get install nginx-light wrk)" % tool,
                  file=sys.stderr)
            return 77
    d = tempfile.mkdtemp(prefix="pw-bench-api-")
    os.chmod(d, 0o755)
    app = None
    nginx_pid = None
    try:
        db, fcgi, www = os.path.join(d, "db"), os.path.join(d, "fcgi.sock"), os.path.join(d, "www")
        os.mkdir(www)
        t0 = time.monotonic()
        tid = subprocess.run([seed_bin, db, "7", "2.5", "10"], capture_output=True, text=True,
                             check=True).stdout.strip()
        seed_s = time.monotonic() - t0
        app = start_app(app_bin, db, d, fcgi)
        port = free_port()
        conf = nginx_conf(example, d, port, fcgi, www)
        subprocess.run(["nginx", "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                       check=True)
        for _ in range(100):
            if os.path.exists(os.path.join(d, "nginx.pid")):
                break
            time.sleep(0.05)
        with open(os.path.join(d, "nginx.pid")) as f:
            nginx_pid = int(f.read())
        start = int(time.time()) - 7 * 86400
        cases = [("hops", "/api/targets/%s/hops?focus=10" % tid),
                 ("timeline 7 d", "/api/targets/%s/timeline?hop=last&start=%d" % (tid, start))]
        print("pingwatcher.fcgi behind nginx, wrk -t2 -c64 -d%ds, loopback; store seeded with "
              "7 days x 2.5 s x 10 hops in %.1f s" % (seconds, seed_s))
        for name, path in cases:
            body, _ = get(port, path)
            static = "/static-%s.json" % name.split()[0]
            with open(os.path.join(www, static[1:]), "wb") as f:
                f.write(body)  # the same bytes, so the same size
            get(port, static)
            api_rps, api_p99 = wrk(port, path, seconds)
            st_rps, st_p99 = wrk(port, static, seconds)
            print("%-13s %6d B  api %8.0f req/s p99 %6.2f ms | static %8.0f req/s p99 %6.2f ms"
                  " | ratio %.2f (target >= 0.5)" % (name, len(body), api_rps, api_p99, st_rps,
                                                     st_p99, api_rps / st_rps))
        # The app's own time for a 7-day timeline, request after request (no load). Nothing
        # is committed meanwhile, so these are answered from the app's cache; the same again
        # with the cache off shows what computing the answer from the store costs.
        server_times(port, cases[1][1], "")
        stop_app(app)
        if os.path.exists(fcgi):
            os.unlink(fcgi)
        app = start_app(app_bin, db, d, fcgi, ["--cache-mb", "0"])
        time.sleep(0.2)  # nginx drops its connections to the old app
        server_times(port, cases[1][1], ", no cache (--cache-mb 0)")
        return 0
    finally:
        if nginx_pid:
            try:
                os.kill(nginx_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            for _ in range(100):
                try:
                    os.kill(nginx_pid, 0)
                    time.sleep(0.05)
                except ProcessLookupError:
                    break
        if app and app.poll() is None:
            stop_app(app)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
