#!/usr/bin/env python3
"""End-to-end tests of `pingwatcher trace` error handling: every bad input is one clear line
on stderr and a documented exit status (2: usage, 3: missing CAP_NET_RAW), and no probe is
sent for it.

usage: test_cli.py PINGWATCHER PW_NETSIM SCENARIO_DIR
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsim import Netsim  # noqa: E402

BAD = [
    (["-c", "0"], "count must be a whole number between 1 and 1000000 (got '0')"),
    (["-c", "ten"], "count must be a whole number between 1 and 1000000 (got 'ten')"),
    (["-i", "-3"], "interval (seconds) must be between 0.01 and 86400 (got '-3')"),
    (["-i", "nan"], "interval (seconds) must be between 0.01 and 86400 (got 'nan')"),
    (["-m", "65"], "max hops must be a whole number between 1 and 64 (got '65')"),
    (["-t", "0"], "timeout (seconds) must be between 0.001 and 60 (got '0')"),
    (["-p", "70000"], "port must be a whole number between 1 and 65535 (got '70000')"),
    (["-P", "sctp"], "packet type must be icmp, udp or tcp (got 'sctp')"),
    (["-s", "9000"], "packet size must be between 2 and 1472 bytes for ICMP over IPv4 (got 9000)"),
    (["-P", "udp", "-s", "1"],
     "packet size must be between 2 and 1472 bytes for UDP over IPv4 (got 1)"),
    (["-P", "tcp", "-s", "1461"],
     "packet size must be between 0 and 1460 bytes for TCP over IPv4 (got 1461)"),
]


def main():
    pingwatcher, netsim_bin, scenario_dir = sys.argv[1:4]
    failures = []

    def expect(argv, status, message, sim):
        p = sim.run([pingwatcher, "trace"] + argv, check=False, timeout=30)
        err = p.stderr.strip()
        if p.returncode != status or err.count("\n") != 0 or message not in err:
            failures.append("%s: exit %d, stderr %r; want exit %d and %r" % (
                " ".join(argv), p.returncode, err, status, message))

    with Netsim(netsim_bin, os.path.join(scenario_dir, "plain.json")) as sim:
        dest = sim.scenario.get("paths", [sim.scenario])[0]["dest"]["addr"]
        for argv, message in BAD:
            expect(argv + ["-n", dest], 2, message, sim)
        expect(["-n", "no-such-host.sim.example"], 2,
               "cannot resolve host 'no-such-host.sim.example'", sim)
        expect(["-n"], 2, "exactly one HOST is needed", sim)
        expect(["-n", "-6", dest], 2, "is not an IPv6 address", sim)
        expect(["--bogus", dest], 2, "unknown option '--bogus'", sim)
        expect(["-c"], 2, "option '-c' needs a value", sim)
        # Without CAP_NET_RAW: an unprivileged user gets a clear message and status 3.
        expect_argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "--inh-caps=-all", pingwatcher, "trace", "-n", "-c", "1", dest]
        p = sim.run(expect_argv, check=False, timeout=30)
        if p.returncode != 3 or "CAP_NET_RAW" not in p.stderr or p.stderr.strip().count("\n"):
            failures.append("unprivileged: exit %d, stderr %r" % (p.returncode, p.stderr))
        # A good run still works after all that.
        p = sim.run([pingwatcher, "trace", "--json", "-n", "-c", "2", "-i", "0.1", "-d", "1",
                     dest], timeout=30)
        report = json.loads(p.stdout)
        if report["hops"][-1]["ip"] != dest:
            failures.append("good run did not reach %s" % dest)
    # No probe was sent for any rejected command: only the good run's flow is in the truth.
    flows = {(r["proto"], r["sport"]) for r in sim.truth if r["dst"] == dest}
    if len(flows) != 1:
        failures.append("rejected commands sent probes: flows seen %s" % sorted(flows))

    for f in failures:
        print("FAIL " + f)
    print("ok cli" if not failures else "%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
