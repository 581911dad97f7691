#!/usr/bin/env python3
"""Self-test of pw-netsim against real probers (mtr, getent) and hand-built packets.

usage: selftest.py PATH/TO/pw-netsim [-v]

Starts pw-netsim on several scenarios, each in its own namespace pwsim-st<pid><tag>, probes it
from inside the namespace and compares what the probers see with the scenario and with the
truth log. Needs root (namespaces, raw sockets), mtr, ip. Python standard library only.
Every netsim it starts is stopped by PID and every namespace checked gone in a finally block.

The same file runs inside the namespace as a helper (`--inner JSON`): it sends probes with
raw/UDP/TCP sockets and reports every answer, with checksums and quoted headers verified.
"""

import errno
import ipaddress
import json
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(HERE, "scenarios")
PROBER4 = "198.18.0.1"
PROBER6 = "2001:db8::1"
DNS4 = "198.18.0.53"
DNS6 = "2001:db8::53"
TRUTH_HEADER = ("recv_ns\tfamily\tproto\tsrc\tdst\tsport\tdport\tprobe_id\tttl\thop\t"
                "responder\toutcome\tdelay_us\tsent_ns")
RTT_TOLERANCE_MS = 1.0       # mtr average vs scenario rtt_ms
LATENESS_P99_LIMIT_NS = 100_000


# --------------------------------------------------------------------------- packet helpers

def csum(data):
    """Internet checksum of data (bytes); 0 when data already includes a correct checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def pseudo6(src, dst, length, nh):
    return (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) +
            struct.pack("!I3xB", length, nh))


def parse_icmp4(pkt):
    """Parse an IPv4 packet carrying ICMP as read from a raw socket; verify every checksum."""
    r = {"errors": []}
    ihl = (pkt[0] & 0x0F) * 4
    r["total_len"] = len(pkt)
    if struct.unpack("!H", pkt[2:4])[0] != len(pkt):
        r["errors"].append("IP total length field != packet length")
    if csum(pkt[:ihl]) != 0:
        r["errors"].append("bad IPv4 header checksum")
    r["ttl"] = pkt[8]
    r["src"] = socket.inet_ntop(socket.AF_INET, pkt[12:16])
    icmp = pkt[ihl:]
    if csum(icmp) != 0:
        r["errors"].append("bad ICMP checksum")
    r["type"], r["code"] = icmp[0], icmp[1]
    if r["type"] in (0, 8):
        r["id"], r["seq"] = struct.unpack("!HH", icmp[4:8])
        r["payload"] = icmp[8:].hex()
        return r
    q = icmp[8:]
    r["quote_len"] = len(q)
    if len(q) < 20:
        r["errors"].append("quote shorter than an IP header")
        return r
    qihl = (q[0] & 0x0F) * 4
    r["quoted_ttl"] = q[8]
    r["quoted_proto"] = q[9]
    r["quoted_dst"] = socket.inet_ntop(socket.AF_INET, q[16:20])
    if csum(q[:qihl]) != 0:
        r["errors"].append("bad checksum in the quoted IPv4 header")
    if len(q) >= qihl + 8:
        a, b = struct.unpack("!HH", q[qihl:qihl + 4])
        if q[9] == 1:
            r["quoted_id"], r["quoted_seq"] = struct.unpack("!HH", q[qihl + 4:qihl + 8])
        else:
            r["quoted_sport"], r["quoted_dport"] = a, b
    return r


def parse_icmp6(data, src, hlim):
    """Parse an ICMPv6 message from a raw socket (no IP header) and verify its checksum."""
    r = {"errors": [], "src": src, "ttl": hlim, "total_len": 40 + len(data)}
    if csum(pseudo6(src, PROBER6, len(data), 58) + data) != 0:
        r["errors"].append("bad ICMPv6 checksum")
    r["type"], r["code"] = data[0], data[1]
    if r["type"] in (128, 129):
        r["id"], r["seq"] = struct.unpack("!HH", data[4:8])
        r["payload"] = data[8:].hex()
        return r
    q = data[8:]
    r["quote_len"] = len(q)
    if len(q) < 40:
        r["errors"].append("quote shorter than an IPv6 header")
        return r
    r["quoted_ttl"] = q[7]
    r["quoted_proto"] = q[6]
    r["quoted_dst"] = socket.inet_ntop(socket.AF_INET6, q[24:40])
    if len(q) >= 48:
        a, b = struct.unpack("!HH", q[40:44])
        if q[6] == 58:
            r["quoted_id"], r["quoted_seq"] = struct.unpack("!HH", q[44:48])
        else:
            r["quoted_sport"], r["quoted_dport"] = a, b
    return r


def open_icmp_rx(fam):
    if fam == 4:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    # Replies are read only after all probes went out; a default-sized buffer would drop
    # some of a few hundred and make them look lost. SO_RCVBUFFORCE (33) needs root.
    s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
    return s


def recv_icmp(rx, fam, until):
    """Yield parsed ICMP messages until the monotonic deadline."""
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return
        if not select.select([rx], [], [], left)[0]:
            return
        if fam == 4:
            pkt = rx.recv(65535)
            yield parse_icmp4(pkt)
        else:
            data, anc, _, addr = rx.recvmsg(65535, socket.CMSG_SPACE(4))
            hlim = -1
            for level, typ, val in anc:
                if level == socket.IPPROTO_IPV6 and typ == socket.IPV6_HOPLIMIT:
                    hlim = struct.unpack("i", val[:4])[0]
            yield parse_icmp6(data, addr[0], hlim)


def set_ttl(s, fam, ttl):
    if fam == 4:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)


# --------------------------------------------------------------------------- inner helpers

def inner_udp(a):
    """Send UDP probes; report every ICMP error quoting one of them."""
    fam = a["fam"]
    af = socket.AF_INET if fam == 4 else socket.AF_INET6
    rx = open_icmp_rx(fam)
    sport = a.get("sport", 40000 + random.randrange(10000))
    payload = b"\xa5" * a.get("size", 32)
    socks, sent = {}, []
    for i in range(a["count"]):
        sp = sport + (i if a.get("vary_sport") else 0)
        dp = a.get("dport", 33434) + (i if a.get("vary_dport") else 0)
        if sp not in socks:
            s = socket.socket(af, socket.SOCK_DGRAM)
            s.bind(("", sp))
            socks[sp] = s
        set_ttl(socks[sp], fam, a["ttl"])
        socks[sp].sendto(payload, (a["dst"], dp))
        sent.append([sp, dp])
        if a.get("gap"):
            time.sleep(a["gap"])
    mine = {tuple(x) for x in sent}
    replies = [r for r in recv_icmp(rx, fam, time.monotonic() + a.get("wait", 0.5))
               if (r.get("quoted_sport"), r.get("quoted_dport")) in mine]
    return {"sent": sent, "replies": replies}


def inner_wire(a):
    """RTT on the wire: kernel timestamps (SO_TIMESTAMPNS on an AF_PACKET socket, what pcap
    sees) of each UDP probe leaving pwsim0 and of the ICMP error coming back."""
    fam = a["fam"]
    af = socket.AF_INET if fam == 4 else socket.AF_INET6
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
    cap.bind(("pwsim0", 0))
    cap.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
    cap.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
    # The kernel turns packet timestamping on asynchronously (a deferred static key); a packet
    # that passes before then is stamped when it is read, after the whole send loop. Let it
    # settle before the first probe.
    time.sleep(0.2)
    tx = socket.socket(af, socket.SOCK_DGRAM)
    tx.bind(("", 0))
    sport = tx.getsockname()[1]
    t_start = time.time_ns()
    for i in range(a["count"]):
        set_ttl(tx, fam, 1 + i % a["max_ttl"])
        tx.sendto(b"w" * 24, (a["dst"], 33434 + i))
        time.sleep(a.get("gap", 0.002))
    out, back, strays = {}, {}, 0
    until = time.monotonic() + a.get("wait", 0.5)
    while time.monotonic() < until:
        if not select.select([cap], [], [], 0.05)[0]:
            continue
        data, anc, _, addr = cap.recvmsg(2048, 64)
        ts = next((struct.unpack("qq", v[:16]) for lvl, typ, v in anc if typ == 35), None)
        if ts is None:
            continue
        ts = ts[0] * 10**9 + ts[1]
        if fam == 4 and data[0] >> 4 == 4:
            l3, proto, q_off = (data[0] & 15) * 4, data[9], None
            if proto == 1 and len(data) >= l3 + 28:
                q = data[l3 + 8:]
                q_off = (l3 + 8 + (q[0] & 15) * 4) if q[9] == 17 else None
        elif fam == 6 and data[0] >> 4 == 6:
            # ICMPv6 error: 40 IPv6 + 8 ICMPv6 + quoted IPv6 header (next header at 48 + 6).
            l3, proto = 40, data[6]
            q_off = 88 if proto == 58 and len(data) >= 92 and data[54] == 17 else None
        else:
            continue
        # Each probe is paired with the first error quoting it that came after it. Anything
        # else quoting our ports (an error stamped before its probe, or a late answer to an
        # earlier tool's probe from the same source port) is counted, not measured.
        if addr[2] == socket.PACKET_OUTGOING and proto == 17:
            sp, dp = struct.unpack("!HH", data[l3:l3 + 4])
            if sp == sport:
                out.setdefault(dp, ts)
        elif addr[2] != socket.PACKET_OUTGOING and q_off is not None:
            sp, dp = struct.unpack("!HH", data[q_off:q_off + 4])
            if sp == sport:
                if dp in out and dp not in back and ts >= out[dp]:
                    back[dp] = ts
                else:
                    strays += 1
    # The window lets the caller ignore truth rows of other probes that used the same ports.
    return {"sport": sport, "rtt_ns": {dp: back[dp] - out[dp] for dp in out if dp in back},
            "strays": strays, "sent": a["count"], "t_start": t_start, "t_end": time.time_ns()}


def echo_request(fam, ident, seq, payload):
    if fam == 4:
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        return struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, seq) + payload
    # For ICMPv6 raw sockets the kernel fills in the checksum.
    return struct.pack("!BBHHH", 128, 0, 0, ident, seq) + payload


def paris_payload(seq, base=b"pw-netsim selftest"):
    """Payload whose first word compensates seq, so the ICMP checksum stays the same."""
    target = 0x4321
    w = (target - seq) % 0xFFFF
    return struct.pack("!H", w) + base


def inner_echo(a):
    """Send ICMP echo requests; report echo replies and errors matching our identifier."""
    fam = a["fam"]
    af = socket.AF_INET if fam == 4 else socket.AF_INET6
    proto = socket.IPPROTO_ICMP if fam == 4 else socket.IPPROTO_ICMPV6
    tx = socket.socket(af, socket.SOCK_RAW, proto)
    rx = open_icmp_rx(fam)
    ident = a.get("id", random.randrange(1, 65535))
    set_ttl(tx, fam, a["ttl"])
    cksums = set()
    for i in range(a["count"]):
        seq = a.get("seq", 1000) + i
        payload = paris_payload(seq) if a.get("paris") else bytes(range(48))
        pkt = echo_request(fam, ident, seq, payload)
        if fam == 4:
            cksums.add(struct.unpack("!H", pkt[2:4])[0])
        else:
            cksums.add(csum(pseudo6(PROBER6, a["dst"], len(pkt), 58) + pkt))
        tx.sendto(pkt, (a["dst"], 0))
    out = []
    for r in recv_icmp(rx, fam, time.monotonic() + a.get("wait", 0.5)):
        if r.get("id") == ident and r["type"] in (0, 129):
            r["sent_payload_ok"] = (r["payload"] == (paris_payload(r["seq"]) if a.get("paris")
                                                     else bytes(range(48))).hex())
            out.append(r)
        elif r.get("quoted_id") == ident:
            out.append(r)
    return {"id": ident, "replies": out, "distinct_checksums": len(cksums)}


def inner_tcp(a):
    """Non-blocking connect(): 'established' (SYN-ACK), 'refused' (RST) or 'timeout'."""
    af = socket.AF_INET if a["fam"] == 4 else socket.AF_INET6
    s = socket.socket(af, socket.SOCK_STREAM)
    s.setblocking(False)
    rc = s.connect_ex((a["dst"], a["port"]))
    if rc not in (0, errno.EINPROGRESS):
        return {"result": errno.errorcode.get(rc, str(rc))}
    if not select.select([], [s], [], a.get("wait", 1.0))[1]:
        return {"result": "timeout"}
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    s.close()
    return {"result": {0: "established", errno.ECONNREFUSED: "refused"}.get(
        err, errno.errorcode.get(err, str(err)))}


def dns_query_bytes(qid, name, qtype):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.encode("utf-8").rstrip(b".").split(b"."):
        q += bytes([len(label)]) + label
    return q + b"\0" + struct.pack("!HH", qtype, 1)


def dns_read_name(msg, off):
    labels, jumps = [], 0
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            off = ((n & 0x3F) << 8 | msg[off + 1])
            jumps += 1
            if jumps > 10:
                raise ValueError("pointer loop")
            continue
        if n == 0:
            return labels
        labels.append(msg[off + 1:off + 1 + n])
        off += 1 + n


def inner_dns(a):
    """Send DNS queries (or raw bytes) to the simulated resolver; report the answers."""
    af = socket.AF_INET if ":" not in a["server"] else socket.AF_INET6
    s = socket.socket(af, socket.SOCK_DGRAM)
    s.settimeout(a.get("wait", 1.0))
    qid = random.randrange(65536)
    q = bytes.fromhex(a["raw"]) if "raw" in a else dns_query_bytes(qid, a["name"], a["qtype"])
    s.sendto(q, (a["server"], 53))
    try:
        msg = s.recv(4096)
    except socket.timeout:
        return {"answered": False}
    r = {"answered": True, "id_ok": msg[:2] == q[:2]}
    flags, qd, an = struct.unpack("!HHH", msg[2:8])
    r["rcode"] = flags & 0xF
    r["aa"] = bool(flags & 0x0400)
    off = 12
    while msg[off] != 0:
        off += 1 + msg[off]
    off += 5
    r["question_echoed"] = msg[12:off] == q[12:off]
    r["answers"] = []
    for _ in range(an):
        off += 2
        typ, _cls, ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if typ == 12:
            val = [lab.hex() for lab in dns_read_name(msg, off)]
        elif typ == 1:
            val = socket.inet_ntop(socket.AF_INET, rdata)
        elif typ == 28:
            val = socket.inet_ntop(socket.AF_INET6, rdata)
        else:
            val = rdata.hex()
        r["answers"].append({"type": typ, "ttl": ttl, "value": val})
        off += rdlen
    return r


def inner_main(arg):
    """Run a JSON list of operations in order; print the list of their results."""
    fns = {"udp": inner_udp, "echo": inner_echo, "tcp": inner_tcp, "dns": inner_dns,
           "wire": inner_wire,
           "sleep": lambda a: time.sleep(a["s"])}
    print(json.dumps([fns[a["op"]](a) for a in json.loads(arg)]))
    return 0


# --------------------------------------------------------------------------- outer harness

class Report:
    def __init__(self, verbose):
        self.failures = []
        self.passes = 0
        self.verbose = verbose

    def check(self, cond, what, detail=""):
        if cond:
            self.passes += 1
            if self.verbose:
                print(f"  ok   {what}")
        else:
            self.failures.append(f"{what}: {detail}" if detail else what)
            print(f"  FAIL {what}" + (f": {detail}" if detail else ""), flush=True)
        return cond


def ns_exists(ns):
    return os.path.exists(f"/run/netns/{ns}") or os.path.exists(f"/etc/netns/{ns}")


class Netsim:
    """One pw-netsim process in a namespace named by us."""

    def __init__(self, binary, scenario, tag, tmpdir, extra=()):
        self.binary, self.scenario, self.extra = binary, scenario, list(extra)
        self.ns = f"pwsim-st{os.getpid()}{tag}"
        self.truth = os.path.join(tmpdir, f"{tag}.tsv")
        self.errpath = os.path.join(tmpdir, f"{tag}.stderr")
        self.proc = None
        self.scn = json.load(open(scenario))

    def start(self):
        with open(self.errpath, "w") as err:
            self.proc = subprocess.Popen(
                [self.binary, "-s", self.scenario, "-n", self.ns, "-t", self.truth,
                 "--die-with-parent", "--duration", "300"] + self.extra,
                stdout=subprocess.PIPE, stderr=err, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline() if ready else ""
        if line != f"READY {self.ns}\n":
            raise RuntimeError(f"pw-netsim did not print READY {self.ns} (got {line!r}); "
                               f"stderr: {self.stderr().strip()}")

    def stderr(self):
        try:
            return open(self.errpath).read()
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM):
        """Stop by PID; returns the exit status. Kills hard if the signal is not enough."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode

    def force_cleanup(self):
        """Last resort if netsim failed to remove its own namespace (only our own name)."""
        if os.path.exists(f"/run/netns/{self.ns}"):
            subprocess.run(["ip", "netns", "del", self.ns], check=False)
        shutil.rmtree(f"/etc/netns/{self.ns}", ignore_errors=True)

    def run(self, cmd, timeout=60):
        return subprocess.run(["ip", "netns", "exec", self.ns] + cmd, capture_output=True,
                              text=True, timeout=timeout)

    def inner_many(self, ops):
        """Run helper operations inside the namespace (one Python start for all of them)."""
        r = self.run([sys.executable, os.path.abspath(__file__), "--inner", json.dumps(ops)])
        if r.returncode != 0:
            raise RuntimeError(f"helper {[o['op'] for o in ops]} failed: {r.stderr.strip()}")
        return json.loads(r.stdout)

    def inner(self, **args):
        return self.inner_many([args])[0]

    def mtr(self, dst, extra=(), count=5, fmt="-j"):
        # -G: wait 0.5 s for late answers instead of the default 5 s.
        r = self.run(["mtr", "-n", fmt, "-c", str(count), "-i", "0.1", "-G", "0.5"] +
                     list(extra) + [dst])
        if r.returncode != 0:
            raise RuntimeError(f"mtr {' '.join(extra)} failed: {r.stderr.strip()}")
        return json.loads(r.stdout)["report"]["hubs"] if fmt == "-j" else r.stdout

    def truth_rows(self):
        with open(self.truth) as f:
            lines = f.read().splitlines()
        rows = []
        for ln in lines[1:]:
            v = ln.split("\t")
            rows.append({"recv_ns": int(v[0]), "family": int(v[1]), "proto": v[2], "src": v[3],
                         "dst": v[4], "sport": int(v[5]), "dport": int(v[6]),
                         "probe_id": int(v[7]), "ttl": int(v[8]), "hop": int(v[9]),
                         "responder": v[10], "outcome": v[11], "delay_us": int(v[12]),
                         "sent_ns": int(v[13])})
        return (lines[0] if lines else ""), rows


def path_of(scn, i=0):
    return scn["paths"][i] if "paths" in scn else scn


def hop_nodes(hop):
    return hop["ecmp"] if "ecmp" in hop else [hop]


def node_addr(node, fam):
    return node.get("addr" if fam == 4 else "addr6")


def expected_route(scn, fam, route_hops=None):
    """Per hop the list of addresses that may answer, plus the destination last."""
    p = path_of(scn)
    hops = route_hops if route_hops is not None else p["hops"]
    out = [[node_addr(n, fam) for n in hop_nodes(h)] for h in hops]
    return out + [[node_addr(p["dest"], fam)]]


def rtt_range(scn, hop_index, route_hops=None):
    p = path_of(scn)
    hops = route_hops if route_hops is not None else p["hops"]
    nodes = hop_nodes(hops[hop_index]) if hop_index < len(hops) else [p["dest"]]
    return (min(n.get("rtt_ms", 0) - n.get("jitter_ms", 0) for n in nodes),
            max(n.get("rtt_ms", 0) + n.get("jitter_ms", 0) for n in nodes))


def mtr_avg(hub):
    """mtr's average, or its average without the worst sample when that one is an outlier.

    mtr (UDP mode above all) now and then reads an answer many ms late on a busy machine,
    while kernel timestamps show netsim answered on time (see test_wire); one such sample in
    five moves the average by milliseconds. The wire test checks netsim's own precision."""
    n = hub["Snt"] * (100 - hub["Loss%"]) / 100
    if n < 3:
        return hub["Avg"], False
    return (hub["Avg"] * n - hub["Wrst"]) / (n - 1), True


def avg_ok(sim, i, avg):
    lo, hi = rtt_range(sim.scn, i)
    return lo - RTT_TOLERANCE_MS <= avg <= hi + RTT_TOLERANCE_MS


def run_mtr(sim, label, dst, extra=(), count=5):
    """mtr --json hubs; a run whose averages are off even without outliers is repeated once."""
    hubs = sim.mtr(dst, extra, count)
    if not all(hub["host"] == "???" or avg_ok(sim, i, hub["Avg"]) or
               avg_ok(sim, i, mtr_avg(hub)[0]) for i, hub in enumerate(hubs)):
        print(f"  note {label}: averages off by more than {RTT_TOLERANCE_MS} ms, running mtr "
              "again", flush=True)
        hubs = sim.mtr(dst, extra, count)
    return hubs


def check_mtr(rep, sim, label, hubs, fam, expect_loss=None):
    """Hop count, addresses, loss and average RTT of an mtr --json report."""
    exp = expected_route(sim.scn, fam)
    rep.check(len(hubs) == len(exp), f"{label}: {len(exp)} hops",
              f"mtr saw {len(hubs)}: {[h['host'] for h in hubs]}")
    for i, (hub, want) in enumerate(zip(hubs, exp)):
        node = (hop_nodes(path_of(sim.scn)["hops"][i]) if i < len(exp) - 1
                else [path_of(sim.scn)["dest"]])
        if any(n.get("silent") for n in node):
            rep.check(hub["host"] == "???" and hub["Loss%"] == 100.0,
                      f"{label}: hop {i + 1} silent", f"got {hub['host']} {hub['Loss%']}%")
            continue
        rep.check(hub["host"] in want, f"{label}: hop {i + 1} address",
                  f"got {hub['host']}, want one of {want}")
        lo, hi = rtt_range(sim.scn, i)
        trimmed, can_trim = mtr_avg(hub)
        ok = avg_ok(sim, i, hub["Avg"]) or (can_trim and avg_ok(sim, i, trimmed))
        rep.check(ok, f"{label}: hop {i + 1} avg RTT",
                  f"mtr avg {hub['Avg']:.3f} ms ({trimmed:.3f} without its worst sample "
                  f"{hub['Wrst']:.3f}), scenario {lo:.2f}..{hi:.2f} ms")
        want_loss = (expect_loss or {}).get(i + 1, 0.0)
        if want_loss is not None:
            rep.check(hub["Loss%"] == want_loss, f"{label}: hop {i + 1} loss {want_loss}%",
                      f"got {hub['Loss%']}%")


def check_truth(rep, sim, label, route_hops=None):
    """Every truth row agrees with the scenario; returns the rows."""
    header, rows = sim.truth_rows()
    rep.check(header == TRUTH_HEADER, f"{label}: truth header", repr(header))
    rep.check(len(rows) > 0, f"{label}: truth log has rows")
    p = path_of(sim.scn)
    hops = route_hops if route_hops is not None else p["hops"]
    dests = {p["dest"].get("addr"), p["dest"].get("addr6")}
    bad = []
    for r in rows:
        if r["outcome"] == "not_dest":
            if r["dst"] in dests:
                bad.append(f"not_dest for a destination: {r}")
            continue
        fam = r["family"]
        want_hop = min(r["ttl"], len(hops) + 1)
        if r["hop"] != want_hop:
            bad.append(f"ttl {r['ttl']} logged at hop {r['hop']}, want {want_hop}")
            continue
        exp = expected_route(sim.scn, fam, hops)[want_hop - 1]
        if r["responder"] != "-" and r["responder"] not in exp:
            bad.append(f"hop {want_hop} responder {r['responder']} not in {exp}")
        if r["outcome"] == "replied":
            lo, hi = rtt_range(sim.scn, want_hop - 1, hops)
            if not (max(lo, 0) * 1000 - 1 <= r["delay_us"] <= hi * 1000 + 1):
                bad.append(f"hop {want_hop} delay {r['delay_us']} us outside {lo}..{hi} ms")
            if r["sent_ns"] < r["recv_ns"] + r["delay_us"] * 1000:
                bad.append(f"reply sent before its time: {r}")
        elif r["sent_ns"] != 0:
            bad.append(f"sent_ns set for outcome {r['outcome']}")
    rep.check(not bad, f"{label}: {len(rows)} truth rows consistent with the scenario",
              "; ".join(bad[:5]))
    return rows


def lateness(rows):
    return [r["sent_ns"] - r["recv_ns"] - r["delay_us"] * 1000 for r in rows
            if r["outcome"] == "replied"]


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else 0


def check_stopped(rep, sim, label, sig=signal.SIGTERM):
    rc = sim.stop(sig)
    rep.check(rc == 0, f"{label}: exits 0 on {signal.Signals(sig).name}",
              f"status {rc}; stderr: {sim.stderr().strip()[-300:]}")
    gone = not ns_exists(sim.ns)
    rep.check(gone, f"{label}: namespace {sim.ns} and /etc/netns/{sim.ns} removed")
    if not gone:
        sim.force_cleanup()


def udp_checks(rep, sim, label, fam, dst):
    """One probe per TTL: exact reply type, source, TTL, quote and checksums."""
    p = path_of(sim.scn)
    nh = len(p["hops"])
    exp = expected_route(sim.scn, fam)
    ttls = list(range(1, nh + 1)) + [nh + 4]
    size = 1000 if fam == 4 else 1400
    limit = 576 if fam == 4 else 1280
    ops = [dict(op="udp", fam=fam, dst=dst, ttl=ttl, count=1, size=32, wait=0.3) for ttl in ttls]
    # A big probe: the error must stop at 576 (IPv4) / 1280 (IPv6) bytes.
    ops.append(dict(op="udp", fam=fam, dst=dst, ttl=2, count=1, size=size, wait=0.3))
    results = sim.inner_many(ops)
    for ttl, res in zip(ttls, results):
        hop = min(ttl, nh + 1)
        node = hop_nodes(p["hops"][hop - 1])[0] if hop <= nh else p["dest"]
        what = f"{label}: UDP ttl {ttl}"
        if not rep.check(len(res["replies"]) == 1, f"{what}: one answer",
                         f"got {len(res['replies'])}"):
            continue
        r = res["replies"][0]
        rep.check(not r["errors"], f"{what}: checksums and lengths", "; ".join(r["errors"]))
        if hop <= nh:
            want_tc = (11, 0) if fam == 4 else (3, 0)
            want_qttl = 1
        else:
            want_tc = (3, 3) if fam == 4 else (1, 4)
            want_qttl = ttl - nh
        rep.check((r["type"], r["code"]) == want_tc, f"{what}: ICMP type/code {want_tc}",
                  f"got {(r['type'], r['code'])}")
        rep.check(r["src"] in exp[hop - 1], f"{what}: from {exp[hop - 1]}", r["src"])
        want_ttl = node.get("ttl", 64) - (hop - 1)
        rep.check(r["ttl"] == want_ttl, f"{what}: reply TTL {want_ttl}", str(r["ttl"]))
        rep.check(r.get("quoted_ttl") == want_qttl, f"{what}: quoted TTL {want_qttl}",
                  str(r.get("quoted_ttl")))
        qlen = (20 if fam == 4 else 40) + 8 + 32
        if node.get("quote_bytes") is not None:
            qlen = (20 if fam == 4 else 40) + min(node["quote_bytes"], 8 + 32)
        rep.check(r["quote_len"] == qlen, f"{what}: quotes {qlen} bytes", str(r["quote_len"]))
        rep.check(r.get("quoted_dst") == dst, f"{what}: quoted destination", r.get("quoted_dst"))
    res = results[-1]
    if rep.check(len(res["replies"]) == 1, f"{label}: {size}-byte UDP probe answered"):
        r = res["replies"][0]
        rep.check(r["total_len"] == limit and not r["errors"],
                  f"{label}: error for a big probe is {limit} bytes with valid checksums",
                  f"{r['total_len']} bytes, {r['errors']}")


def echo_checks(rep, sim, label, fam, dst):
    p = path_of(sim.scn)
    nh = len(p["hops"])
    res, err = sim.inner_many([dict(op="echo", fam=fam, dst=dst, ttl=nh + 5, count=3, wait=0.3),
                               dict(op="echo", fam=fam, dst=dst, ttl=3, count=1, seq=777,
                                    wait=0.3)])
    reps = res["replies"]
    ok = len(reps) == 3 and all(r["type"] in (0, 129) and r["src"] == dst for r in reps)
    rep.check(ok, f"{label}: echo replies from {dst}", json.dumps(reps)[:300])
    for r in reps:
        rep.check(not r["errors"] and r["sent_payload_ok"], f"{label}: echo reply seq {r['seq']} "
                  "checksum and payload", str(r["errors"]))
        want = p["dest"].get("ttl", 64) - nh
        rep.check(r["ttl"] == want, f"{label}: echo reply TTL {want}", str(r["ttl"]))
    ok = (len(err["replies"]) == 1 and err["replies"][0].get("quoted_seq") == 777 and
          err["replies"][0].get("quoted_id") == err["id"] and not err["replies"][0]["errors"])
    rep.check(ok, f"{label}: time exceeded for an echo quotes its id/seq",
              json.dumps(err["replies"])[:300])


def dns_checks(rep, sim, label, fam):
    p = path_of(sim.scn)
    ptr = []  # (node, addr, server)
    for hop in p["hops"]:
        for node in hop_nodes(hop):
            addr = node_addr(node, fam)
            if addr is not None:
                ptr += [(node, addr, server) for server in (DNS4, DNS6)]
    fwd = [(name, addrs, qtype) for name, addrs in sim.scn.get("names", {}).items()
           for qtype in (1, 28)]
    # Malformed queries must be ignored, and netsim must keep answering afterwards.
    junk = ["00", "1234010000010000000000003f", "123401000001000000000000c00c00010001",
            "1234810000010000000000000000010001", "ff" * 600]
    ops = [dict(op="dns", server=server, name=ipaddress.ip_address(addr).reverse_pointer,
                qtype=12) for _, addr, server in ptr]
    ops += [dict(op="dns", server=DNS4, name=name.upper(), qtype=qtype)
            for name, _, qtype in fwd]
    ops.append(dict(op="dns", server=DNS4, name="nothing.sim.example", qtype=1))
    ops += [dict(op="dns", server=DNS4, raw=raw, wait=0.2) for raw in junk]
    ops.append(dict(op="dns", server=DNS6, name="nothing.sim.example", qtype=28))
    results = sim.inner_many(ops)

    for (node, addr, server), res in zip(ptr, results):
        what = f"{label}: PTR {addr} via {server}"
        if not rep.check(res["answered"] and res["id_ok"] and res["question_echoed"] and
                         res["aa"], f"{what} answered"):
            continue
        if node.get("name"):
            want = [lab.hex() for lab in node["name"].encode().rstrip(b".").split(b".")]
            got = res["answers"][0]["value"] if res["answers"] else None
            rep.check(res["rcode"] == 0 and got == want and
                      res["answers"][0]["ttl"] == node.get("name_ttl", 300),
                      f"{what} = {node['name']!r}", json.dumps(res))
        else:
            rep.check(res["rcode"] == 3, f"{what} = NXDOMAIN", json.dumps(res))
    results = results[len(ptr):]
    for (name, addrs, qtype), res in zip(fwd, results):
        want = sorted(a for a in addrs if (":" in a) == (qtype == 28))
        got = sorted(x["value"] for x in res.get("answers", []))
        rep.check(res["answered"] and res["rcode"] == 0 and got == want,
                  f"{label}: {'A' if qtype == 1 else 'AAAA'} {name} = {want}", json.dumps(res))
    results = results[len(fwd):]
    rep.check(results[0]["answered"] and results[0]["rcode"] == 3,
              f"{label}: unknown name is NXDOMAIN")
    for raw, res in zip(junk, results[1:]):
        rep.check(not res["answered"], f"{label}: malformed DNS query {raw[:24]}... ignored")
    rep.check(results[-1]["answered"], f"{label}: resolver still answers after malformed queries")
    # The resolv.conf netsim writes is what `ip netns exec` programs use.
    for name, addrs in sim.scn.get("names", {}).items():
        r = sim.run(["getent", "ahosts", name])
        rep.check(r.returncode == 0 and all(a in r.stdout for a in addrs),
                  f"{label}: getent ahosts {name} via /etc/netns resolv.conf",
                  r.stdout + r.stderr)


# --------------------------------------------------------------------------- scenarios

def test_plain(rep, binary, tmp, all_rows):
    sim = Netsim(binary, os.path.join(SCENARIOS, "plain.json"), "p", tmp)
    wire = None
    try:
        sim.start()
        dst = sim.scn["dest"]["addr"]
        for label, d, extra, fam in (("ICMP", dst, [], 4), ("UDP", dst, ["-u"], 4),
                                     ("TCP", dst, ["-T", "-P", "80"], 4),
                                     ("ICMPv6", sim.scn["dest"]["addr6"], ["-6"], 6)):
            label = f"plain mtr {label}"
            check_mtr(rep, sim, label, run_mtr(sim, label, d, extra), fam)
        wire = wire_checks(rep, sim, "plain wire", 4, dst)
        udp_checks(rep, sim, "plain", 4, dst)
        echo_checks(rep, sim, "plain", 4, dst)
        res, nd = sim.inner_many([
            dict(op="tcp", fam=4, dst=dst, port=80),
            dict(op="udp", fam=4, dst="198.18.77.77", ttl=64, count=1, wait=0.2)])
        rep.check(res["result"] == "established", "plain: TCP connect gets a SYN-ACK", res)
        rep.check(not nd["replies"], "plain: probe to a non-destination is not answered")
        dns_checks(rep, sim, "plain", 4)
    finally:
        check_stopped(rep, sim, "plain")
    if wire is not None:
        finish_wire(rep, sim, "plain wire", wire)
    rows = check_truth(rep, sim, "plain")
    rep.check(any(r["outcome"] == "not_dest" and r["dst"] == "198.18.77.77" for r in rows),
              "plain: truth logs the non-destination probe as not_dest")
    rep.check(all(r["outcome"] in ("replied", "not_dest") for r in rows),
              "plain: nothing lost on a lossless path",
              str({r["outcome"] for r in rows}))
    all_rows += rows


def test_ecmp(rep, binary, tmp, all_rows):
    sim = Netsim(binary, os.path.join(SCENARIOS, "ecmp.json"), "e", tmp)
    try:
        sim.start()
        dst = sim.scn["dest"]["addr"]
        hops = sim.scn["hops"]
        out = sim.mtr(dst, count=12, fmt="-r")
        seen = {}
        cur = 0
        for ln in out.splitlines():
            parts = ln.split()
            if len(parts) >= 2 and parts[0].endswith(".|--"):
                cur = int(parts[0].split(".")[0])
                seen.setdefault(cur, set()).add(parts[1])
            elif cur and len(parts) == 1:
                seen[cur].add(parts[0])
        for h in (3, 6):
            alts = {n["addr"] for n in hops[h - 1]["ecmp"]}
            rep.check(len(seen.get(h, set())) >= 2 and seen[h] <= alts,
                      f"ecmp: classic mtr sees several routers at hop {h}",
                      f"saw {sorted(seen.get(h, []))}, alternatives {sorted(alts)}")
        for h in (1, 2, 4, 5, 7):
            rep.check(len(seen.get(h, set())) == 1, f"ecmp: one router at hop {h}",
                      str(seen.get(h)))
        ops = []
        for h in (3, 6):
            ops += [dict(op="udp", fam=4, dst=dst, ttl=h, count=8, wait=0.3),
                    dict(op="udp", fam=4, dst=dst, ttl=h, count=16, vary_dport=True, wait=0.3),
                    dict(op="echo", fam=4, dst=dst, ttl=h, count=8, paris=True, wait=0.3)]
        results = sim.inner_many(ops)
        for i, h in enumerate((3, 6)):
            alts = {n["addr"] for n in hops[h - 1]["ecmp"]}
            fixed, vary, paris = results[3 * i:3 * i + 3]
            src = {r["src"] for r in fixed["replies"]}
            rep.check(len(fixed["replies"]) == 8 and len(src) == 1 and src <= alts,
                      f"ecmp: fixed UDP flow (Paris) sees one router at hop {h}", str(src))
            src = {r["src"] for r in vary["replies"]}
            rep.check(len(src) >= 2 and src <= alts,
                      f"ecmp: varying UDP ports sees several routers at hop {h}", str(src))
            src = {r["src"] for r in paris["replies"]}
            rep.check(paris["distinct_checksums"] == 1 and len(paris["replies"]) == 8 and
                      len(src) == 1, f"ecmp: ICMP with fixed id+checksum, varying seq, sees "
                      f"one router at hop {h}", f"{src}, {paris['distinct_checksums']} checksums")
    finally:
        check_stopped(rep, sim, "ecmp", signal.SIGINT)
    all_rows += check_truth(rep, sim, "ecmp")


def test_ipv6(rep, binary, tmp, all_rows):
    sim = Netsim(binary, os.path.join(SCENARIOS, "ipv6.json"), "6", tmp)
    wire = None
    try:
        sim.start()
        dst = sim.scn["dest"]["addr6"]
        for label, extra in (("ICMPv6", []), ("UDP", ["-u"]), ("TCP", ["-T", "-P", "443"])):
            label = f"ipv6 mtr {label}"
            check_mtr(rep, sim, label, run_mtr(sim, label, dst, ["-6"] + extra), 6)
        wire = wire_checks(rep, sim, "ipv6 wire", 6, dst)
        udp_checks(rep, sim, "ipv6", 6, dst)
        echo_checks(rep, sim, "ipv6", 6, dst)
        res, v4 = sim.inner_many([
            dict(op="tcp", fam=6, dst=dst, port=443),
            dict(op="udp", fam=4, dst="198.18.100.10", ttl=64, count=1, wait=0.2)])
        rep.check(res["result"] == "established", "ipv6: TCP connect gets a SYN-ACK", res)
        rep.check(not v4["replies"], "ipv6: IPv4 probe to a v6-only scenario is not answered")
        dns_checks(rep, sim, "ipv6", 6)
    finally:
        check_stopped(rep, sim, "ipv6")
    if wire is not None:
        finish_wire(rep, sim, "ipv6 wire", wire)
    all_rows += check_truth(rep, sim, "ipv6")


def test_deprioritised(rep, binary, tmp, all_rows):
    sim = Netsim(binary, os.path.join(SCENARIOS, "deprioritised.json"), "d", tmp)
    try:
        sim.start()
        dst = sim.scn["dest"]["addr"]
        hubs = run_mtr(sim, "deprioritised mtr ICMP", dst, count=30)
        check_mtr(rep, sim, "deprioritised mtr ICMP", hubs, 4, expect_loss={4: None})
    finally:
        check_stopped(rep, sim, "deprioritised")
    rows = check_truth(rep, sim, "deprioritised")
    at4 = [r for r in rows if r["hop"] == 4]
    lost = sum(r["outcome"] == "reply_lost" for r in at4)
    mtr_lost = round(hubs[3]["Loss%"] * hubs[3]["Snt"] / 100)
    rep.check(0 < lost < len(at4) and abs(mtr_lost - lost) <= 1,
              "deprioritised: hop 4 loss seen by mtr matches the truth log",
              f"mtr {hubs[3]['Loss%']}% of {hubs[3]['Snt']}, truth {lost}/{len(at4)}")
    rep.check(all(r["outcome"] == "replied" for r in rows if r["hop"] != 4),
              "deprioritised: no loss at any other hop")
    all_rows += rows


def test_silent_and_rate(rep, binary, tmp, all_rows):
    sim = Netsim(binary, os.path.join(SCENARIOS, "silent_hop.json"), "s", tmp)
    try:
        sim.start()
        label = "silent_hop mtr ICMP"
        check_mtr(rep, sim, label, run_mtr(sim, label, sim.scn["dest"]["addr"]), 4)
    finally:
        check_stopped(rep, sim, "silent_hop")
    rows = check_truth(rep, sim, "silent_hop")
    rep.check(all(r["outcome"] == "silent" for r in rows if r["hop"] == 3),
              "silent_hop: hop 3 logged as silent")
    all_rows += rows

    sim = Netsim(binary, os.path.join(SCENARIOS, "rate_limited.json"), "r", tmp)
    try:
        sim.start()
        dst = sim.scn["dest"]["addr"]
        first, _, second, third = sim.inner_many([
            dict(op="udp", fam=4, dst=dst, ttl=2, count=10, wait=0.2),
            dict(op="sleep", s=0.8),
            dict(op="udp", fam=4, dst=dst, ttl=2, count=10, wait=0.2),
            dict(op="udp", fam=4, dst=dst, ttl=3, count=10, wait=0.2)])
        rep.check(len(first["replies"]) == 2, "rate_limited: burst of 10 gets 2 answers",
                  str(len(first["replies"])))
        rep.check(len(second["replies"]) == 2, "rate_limited: 2 more after a second",
                  str(len(second["replies"])))
        rep.check(len(third["replies"]) == 10, "rate_limited: the next hop is not limited")
    finally:
        check_stopped(rep, sim, "rate_limited")
    rows = check_truth(rep, sim, "rate_limited")
    rep.check(sum(r["outcome"] == "rate_limited" for r in rows) == 16,
              "rate_limited: truth logs 16 rate_limited probes")
    all_rows += rows


def test_loss(rep, binary, tmp, all_rows):
    sim = Netsim(binary, os.path.join(SCENARIOS, "persistent_loss.json"), "l", tmp)
    n = 600
    try:
        sim.start()
        dst = sim.scn["dest"]["addr"]
        ttls = (4, 5, 8, 20)
        res = sim.inner_many([dict(op="udp", fam=4, dst=dst, ttl=ttl, count=n, wait=0.4)
                              for ttl in ttls])
        got = {ttl: len(r["replies"]) for ttl, r in zip(ttls, res)}
    finally:
        check_stopped(rep, sim, "persistent_loss")
    rep.check(got[4] == n, "persistent_loss: no loss before hop 5", str(got))
    # 8% of 600 = 48 +- 3 sigma (20)
    for ttl in (5, 8, 20):
        rep.check(28 <= n - got[ttl] <= 68, f"persistent_loss: ~8% lost at ttl {ttl}",
                  f"lost {n - got[ttl]} of {n}")
    rows = check_truth(rep, sim, "persistent_loss")
    for ttl in (5, 8, 20):
        lost = sum(r["outcome"] == "fwd_lost" for r in rows if r["ttl"] == ttl)
        rep.check(lost == n - got[ttl], f"persistent_loss: truth fwd_lost equals what the "
                  f"prober missed at ttl {ttl}", f"truth {lost}, prober {n - got[ttl]}")
    all_rows += rows


def test_timed(rep, binary, tmp, all_rows):
    """Route change, events and per-node options, on a temporary scenario with short times."""
    scn = json.load(open(os.path.join(SCENARIOS, "route_change.json")))
    at = 2.5  # the checks before it take ~0.5 s; leave room on a loaded machine
    scn["route_changes"][0]["at_s"] = at
    for hops in (scn["hops"], scn["route_changes"][0]["hops"]):
        hops[0].update({"quote_bytes": 8, "ttl": 255})
    scn["dest"].update({"tcp": "rst", "udp": "none"})
    scn["events"] = [{"at_s": at, "hop": 2, "set": {"reply_loss": 1}},
                     {"at_s": at, "hop": "dest", "set": {"icmp": "none"}}]
    path = os.path.join(tmp, "timed.json")
    json.dump(scn, open(path, "w"))
    sim = Netsim(binary, path, "t", tmp)
    try:
        sim.start()
        t0 = time.monotonic()
        dst = scn["dest"]["addr"]
        before, r1, res, dn, echo = sim.inner_many([
            dict(op="udp", fam=4, dst=dst, ttl=4, count=1, wait=0.2),
            dict(op="udp", fam=4, dst=dst, ttl=1, count=1, wait=0.2),
            dict(op="tcp", fam=4, dst=dst, port=80),
            dict(op="udp", fam=4, dst=dst, ttl=30, count=1, wait=0.2),
            dict(op="echo", fam=4, dst=dst, ttl=30, count=1, wait=0.2)])
        r1 = r1["replies"]
        rep.check(len(r1) == 1 and r1[0]["quote_len"] == 28 and r1[0]["ttl"] == 255 and
                  not r1[0]["errors"], "timed: quote_bytes 8 and ttl 255 at hop 1",
                  json.dumps(r1)[:200])
        rep.check(res["result"] == "refused", "timed: tcp rst refuses the connection", res)
        rep.check(not dn["replies"], "timed: udp none stays silent")
        rep.check(len(echo["replies"]) == 1, "timed: echo answered before the event")
        rep.check(time.monotonic() - t0 < at, "timed: checks before the change finished in time")
        time.sleep(max(0, at + 0.3 - (time.monotonic() - t0)))
        after, hop2, echo = sim.inner_many([
            dict(op="udp", fam=4, dst=dst, ttl=4, count=1, wait=0.2),
            dict(op="udp", fam=4, dst=dst, ttl=2, count=3, wait=0.2),
            dict(op="echo", fam=4, dst=dst, ttl=30, count=1, wait=0.2)])
        rep.check([r["src"] for r in before["replies"]] == [scn["hops"][3]["addr"]],
                  "timed: hop 4 before the route change", json.dumps(before["replies"])[:200])
        rep.check([r["src"] for r in after["replies"]] ==
                  [scn["route_changes"][0]["hops"][3]["addr"]],
                  "timed: hop 4 after the route change", json.dumps(after["replies"])[:200])
        rep.check(not hop2["replies"], "timed: event silences hop 2 replies")
        rep.check(not echo["replies"], "timed: event stops echo replies")
    finally:
        check_stopped(rep, sim, "timed")
    header, rows = sim.truth_rows()
    outcomes = {r["outcome"] for r in rows}
    rep.check({"replied", "reply_lost", "dest_none"} <= outcomes,
              "timed: truth has replied, reply_lost and dest_none rows", str(outcomes))
    all_rows += rows


def wire_checks(rep, sim, label, fam, dst):
    """What a pcap-based prober measures: RTT on the wire vs the delay netsim scheduled."""
    nh = len(path_of(sim.scn)["hops"])
    res = sim.inner(op="wire", fam=fam, dst=dst, count=200, max_ttl=nh + 1, gap=0.002)
    rep.check(len(res["rtt_ns"]) == res["sent"], f"{label}: every wire probe answered",
              f"{len(res['rtt_ns'])} of {res['sent']}")
    if res["strays"]:
        print(f"  {label}: {res['strays']} errors quoting our source port left out: none of "
              "this run's probes came before them")
    return res


def finish_wire(rep, sim, label, res):
    """After stop: pair wire RTTs with the truth log's scheduled delays."""
    _, rows = sim.truth_rows()
    delay = {r["dport"]: r["delay_us"] * 1000 for r in rows
             if r["proto"] == "udp" and r["sport"] == res["sport"] and
             res["t_start"] <= r["recv_ns"] <= res["t_end"]}
    extra = [rtt - delay[int(dp)] for dp, rtt in res["rtt_ns"].items() if int(dp) in delay]
    rep.check(len(extra) == len(res["rtt_ns"]) and extra,
              f"{label}: wire probes found in the truth log")
    if extra:
        p50, p99 = pct(extra, 0.5), pct(extra, 0.99)
        print(f"  {label}: wire RTT minus scheduled delay over {len(extra)} probes: "
              f"p50 {p50 / 1000:.1f} us, p99 {p99 / 1000:.1f} us, max {max(extra) / 1000:.1f} us")
        for dp, rtt in sorted(res["rtt_ns"].items()):
            if int(dp) in delay and rtt < delay[int(dp)]:
                print(f"  {label}: port {dp}: wire RTT {rtt / 1000:.1f} us is less than the "
                      f"scheduled delay {delay[int(dp)] / 1000:.1f} us")
        rep.check(min(extra) >= 0 and p99 < 200_000,
                  f"{label}: wire RTT = scheduled delay + < 0.2 ms (p99)",
                  f"min {min(extra) / 1000:.1f} us, p99 {p99 / 1000:.1f} us")


def test_lifecycle(rep, binary, tmp):
    for f in sorted(os.listdir(SCENARIOS)):
        r = subprocess.run([binary, "--check", "-s", os.path.join(SCENARIOS, f)],
                           capture_output=True, text=True)
        rep.check(r.returncode == 0, f"lifecycle: scenarios/{f} is valid", r.stderr.strip())
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as fh:
        fh.write('{"hops": [{"addr": "198.18.1.1", "rtt": 1}], '
                 '"dest": {"addr": "198.18.100.10", "rtt_ms": 2}}')
    ns = f"pwsim-st{os.getpid()}x"
    r = subprocess.run([binary, "-s", bad, "-n", ns], capture_output=True, text=True, timeout=10)
    rep.check(r.returncode == 2 and r.stderr.count("\n") == 1 and "rtt" in r.stderr and
              not r.stdout and not ns_exists(ns),
              "lifecycle: bad scenario -> one-line error, exit 2, nothing created",
              f"status {r.returncode}, stderr {r.stderr!r}")
    r = subprocess.run([binary, "-s", os.path.join(SCENARIOS, "plain.json"), "-n", "pwsim-a b"],
                       capture_output=True, text=True, timeout=10)
    rep.check(r.returncode == 2 and r.stderr.count("\n") == 1,
              "lifecycle: bad namespace name -> exit 2", r.stderr)
    # A second netsim must not adopt (and later delete) a namespace that exists already.
    sim = Netsim(binary, os.path.join(SCENARIOS, "plain.json"), "u", tmp, ["--duration", "1"])
    try:
        sim.start()
        t0 = time.monotonic()
        r = subprocess.run([binary, "-s", os.path.join(SCENARIOS, "plain.json"), "-n", sim.ns],
                           capture_output=True, text=True, timeout=10)
        rep.check(r.returncode == 1 and ns_exists(sim.ns),
                  "lifecycle: an existing namespace is refused and left alone",
                  f"status {r.returncode}, {r.stderr.strip()}")
        sim.proc.wait(timeout=10)
        rep.check(sim.proc.returncode == 0 and time.monotonic() - t0 < 3,
                  "lifecycle: --duration exits by itself with status 0")
    finally:
        check_stopped(rep, sim, "lifecycle --duration")


def main(argv):
    if len(argv) >= 2 and argv[1] == "--inner":
        return inner_main(argv[2])
    if len(argv) < 2 or argv[1].startswith("-"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    binary = os.path.abspath(argv[1])
    verbose = "-v" in argv[2:]
    if os.geteuid() != 0:
        print("selftest: needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    for tool in ("ip", "mtr", "getent"):
        if shutil.which(tool) is None:
            print(f"selftest: {tool} not found", file=sys.stderr)
            return 2
    rep = Report(verbose)
    all_rows = []
    started = time.monotonic()
    tests = [test_lifecycle, test_plain, test_ecmp, test_ipv6, test_deprioritised,
             test_silent_and_rate, test_loss, test_timed]
    with tempfile.TemporaryDirectory(prefix="pw-netsim-selftest-") as tmp:
        for t in tests:
            name = t.__name__[5:]
            print(f"== {name}", flush=True)
            t_start = time.monotonic()
            try:
                if t is test_lifecycle:
                    t(rep, binary, tmp)
                else:
                    t(rep, binary, tmp, all_rows)
            except Exception as e:  # report and carry on with the next scenario
                rep.check(False, f"{name}: ran to completion", f"{type(e).__name__}: {e}")
            if verbose:
                print(f"   ({time.monotonic() - t_start:.1f} s)")
    late = lateness(all_rows)
    p50, p99, mx = pct(late, 0.5), pct(late, 0.99), max(late or [0])
    print(f"send lateness over {len(late)} replies (truth logs): p50 {p50 / 1000:.1f} us, "
          f"p99 {p99 / 1000:.1f} us, max {mx / 1000:.1f} us")
    # A sanitizer build of netsim runs several times slower and its p99 follows the machine's
    # hiccups (831 us once on CI, 30-250 us usually): it is held to 1 ms, which still catches a
    # per-packet sleep or a missed timer. The 0.1 ms bound is the plain build's, where the
    # accuracy tests that depend on precision run too.
    limit = LATENESS_P99_LIMIT_NS * (10 if "--sanitized" in argv[2:] else 1)
    rep.check(len(late) > 500 and p99 < limit,
              f"scheduled vs actual send time: p99 < {limit / 1000:.0f} us",
              f"p99 {p99 / 1000:.1f} us")
    leftovers = [n for n in os.listdir("/run/netns") if n.startswith(f"pwsim-st{os.getpid()}")] \
        if os.path.isdir("/run/netns") else []
    rep.check(not leftovers, "no namespace of this run is left", str(leftovers))
    took = time.monotonic() - started
    if rep.failures:
        print(f"FAILED: {len(rep.failures)} of {len(rep.failures) + rep.passes} checks "
              f"({took:.1f} s)")
        for f in rep.failures:
            print(f"  - {f}")
        return 1
    print(f"OK: {rep.passes} checks passed ({took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
