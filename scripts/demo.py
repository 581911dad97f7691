#!/usr/bin/env python3
"""Runs the whole PingWatcher stack on the demo network until Ctrl-C or SIGTERM.

  pw-netsim        the simulated network of tests/netsim/scenarios/demo.json, in a namespace
  pingwatcherd     inside that namespace, monitoring the demo targets (conf/pingwatcher.json
                   with the demo's paths), as the unprivileged user nobody after start-up
  pingwatcher.fcgi the web app, reading the daemon's store
  nginx            nginx.conf.example on 127.0.0.1:PORT, serving www/ and the app

usage: demo.py BUILD_DIR [--port PORT] [--data DIR]

The data directory (default /var/tmp/pingwatcher-demo) keeps the samples between runs.
Everything started here is stopped by PID on exit, and the namespace is removed.
"""

import argparse
import json
import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from netsim import Netsim  # noqa: E402

USER, GROUP = "nobody", "nogroup"
stopping = False


def on_signal(signum, frame):
    global stopping
    stopping = True


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_until(what, cond, proc=None, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with status %d" % (what, proc.returncode))
        time.sleep(0.05)
    raise RuntimeError("%s did not start within %d s" % (what, timeout))


def demo_config(data, control):
    """conf/pingwatcher.json with the demo's paths and user."""
    with open(os.path.join(ROOT, "conf", "pingwatcher.json")) as f:
        cfg = json.load(f)
    cfg["database"] = os.path.join(data, "db")
    cfg["control"] = dict(cfg.get("control", {}), path=control, mode="0666")
    cfg["user"], cfg["group"] = USER, GROUP
    return cfg


def nginx_conf(run, port, fcgi_sock):
    with open(os.path.join(ROOT, "nginx.conf.example")) as f:
        conf = f.read()
    subs = [
        ("unix:/run/pingwatcher/fcgi.sock", "unix:" + fcgi_sock),
        ("listen 127.0.0.1:8080", "listen 127.0.0.1:%d" % port),
        ("root /usr/share/pingwatcher/www", "root " + os.path.join(ROOT, "www")),
        ("pid /run/nginx-pingwatcher.pid", "pid " + os.path.join(run, "nginx.pid")),
        ("/var/log/nginx/pingwatcher-error.log", os.path.join(run, "nginx-error.log")),
        ("/var/log/nginx/pingwatcher-access.log", os.path.join(run, "nginx-access.log")),
    ]
    for old, new in subs:
        if old not in conf:
            raise RuntimeError("nginx.conf.example no longer contains %r" % old)
        conf = conf.replace(old, new)
    temp = "".join("    %s_temp_path %s;\n" % (k, os.path.join(run, k))
                   for k in ("client_body", "fastcgi", "proxy", "uwsgi", "scgi"))
    conf = conf.replace("http {\n", "http {\n" + temp, 1)
    path = os.path.join(run, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--data", default="/var/tmp/pingwatcher-demo")
    args = ap.parse_args()
    build = os.path.abspath(args.build)

    port = args.port
    while not port_free(port):
        port += 1
        if port > args.port + 100:
            sys.exit("demo: no free port from %d on" % args.port)

    os.makedirs(args.data, exist_ok=True)
    run = os.path.join(args.data, "run")
    shutil.rmtree(run, ignore_errors=True)
    os.makedirs(run)
    os.chmod(args.data, 0o755)
    os.chmod(run, 0o755)
    uid, gid = pwd.getpwnam(USER).pw_uid, grp.getgrnam(GROUP).gr_gid
    os.makedirs(os.path.join(args.data, "db"), exist_ok=True)
    os.chown(os.path.join(args.data, "db"), uid, gid)
    control = os.path.join(run, "control.sock")
    fcgi_sock = os.path.join(run, "fcgi.sock")
    config = os.path.join(run, "pingwatcher.json")
    with open(config, "w") as f:
        json.dump(demo_config(args.data, control), f, indent=2)
    os.chmod(config, 0o644)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sim = daemon = app = None
    nginx_pid = None
    status = 0
    try:
        sim = Netsim(os.path.join(build, "tests", "netsim", "pw-netsim"),
                     os.path.join(ROOT, "tests", "netsim", "scenarios", "demo.json"))
        sim.ns = "pwsim-demo-%d" % os.getpid()
        sim.__enter__()
        log = open(os.path.join(run, "daemon.log"), "ab")
        daemon = subprocess.Popen(
            ["ip", "netns", "exec", sim.ns, os.path.join(build, "engine-daemon", "pingwatcherd"),
             "-f", "-c", config], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_until("pingwatcherd", lambda: os.path.exists(control), daemon)
        log = open(os.path.join(run, "app.log"), "ab")
        app = subprocess.Popen(
            [os.path.join(build, "fcgi-app", "pingwatcher.fcgi"), "-c", config,
             "--socket", fcgi_sock, "--socket-mode", "0666"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_until("pingwatcher.fcgi", lambda: os.path.exists(fcgi_sock), app)
        conf = nginx_conf(run, port, fcgi_sock)
        p = subprocess.run(["nginx", "-p", run, "-c", conf, "-e",
                            os.path.join(run, "nginx-error.log")], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("nginx did not start: " + p.stderr.strip())
        pidfile = os.path.join(run, "nginx.pid")
        wait_until("nginx", lambda: os.path.exists(pidfile))
        with open(pidfile) as f:
            nginx_pid = int(f.read().strip())

        print("demo: simulated network in namespace %s; daemon, app and nginx running" % sim.ns)
        print("demo: logs and sockets in %s" % run)
        print("demo: open http://127.0.0.1:%d/   (Ctrl-C stops everything)" % port, flush=True)
        while not stopping:
            for name, proc in (("pingwatcherd", daemon), ("pingwatcher.fcgi", app)):
                if proc.poll() is not None:
                    raise RuntimeError("%s exited with status %d (see %s)" %
                                       (name, proc.returncode, run))
            time.sleep(0.5)
    except RuntimeError as e:
        print("demo: " + str(e), file=sys.stderr)
        status = 1
    finally:
        if nginx_pid:
            try:
                os.kill(nginx_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in (app, daemon):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if sim is not None:
            sim.__exit__(None, None, None)
        print("demo: stopped", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
