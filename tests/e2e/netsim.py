"""Runs pw-netsim for a test and reads its ground truth.

Usage:
    with Netsim(netsim_binary, scenario_path) as sim:
        out = sim.run(["pingwatcher", "trace", ...])   # runs inside the namespace
    truth = sim.truth        # rows of the ground-truth log, read after netsim exited

The namespace is named pwsim-e2e-<pid>-<n>; it is removed by netsim on SIGTERM and, should
netsim die, by this module itself. Only the netsim process started here is signalled.
"""

import csv
import itertools
import json
import os
import select
import signal
import subprocess
import tempfile
import time

_counter = itertools.count()


class NetsimError(Exception):
    pass


class Netsim:
    def __init__(self, binary, scenario, seed=1, ready_timeout=15.0):
        self.binary = binary
        self.scenario_path = scenario
        with open(scenario) as f:
            self.scenario = json.load(f)
        self.seed = seed
        self.ready_timeout = ready_timeout
        self.ns = "pwsim-e%d-%d" % (os.getpid() % 100000, next(_counter))
        self.proc = None
        self.truth = []
        self._tmp = tempfile.TemporaryDirectory(prefix="pw-e2e-")
        self.truth_path = os.path.join(self._tmp.name, "truth.tsv")

    def __enter__(self):
        self.proc = subprocess.Popen(
            [self.binary, "-s", self.scenario_path, "-n", self.ns, "-t", self.truth_path,
             "--seed", str(self.seed)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + self.ready_timeout
        line = ""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if line.strip() != "READY " + self.ns:
            err = ""
            if self.proc.poll() is not None:
                err = self.proc.stderr.read()
            self._stop()
            raise NetsimError("netsim did not become ready (got %r): %s" % (line, err.strip()))
        return self

    def run(self, argv, timeout=120, check=True):
        """Runs argv inside the namespace; returns the CompletedProcess."""
        p = subprocess.run(["ip", "netns", "exec", self.ns] + list(argv), capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise NetsimError("%s exited %d: %s" % (" ".join(argv), p.returncode,
                                                    p.stderr.strip()))
        return p

    def _stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # netsim removes its namespace itself; make sure of it even when it crashed.
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["rm", "-rf", "/etc/netns/" + self.ns], capture_output=True)

    def __exit__(self, *exc):
        self._stop()
        if os.path.exists(self.truth_path):
            with open(self.truth_path, newline="") as f:
                self.truth = list(csv.DictReader(f, delimiter="\t"))
        self._tmp.cleanup()
        return False
