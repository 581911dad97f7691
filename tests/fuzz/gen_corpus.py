#!/usr/bin/env python3
"""Builds PingWatcher's canned packets independently of the C code (own checksum code, no
libnet), for the unit tests and the reply fuzzer's seed corpus.

    gen_corpus.py corpus DIR    write every valid reply as DIR/<name>.bin (the seed corpus)
    gen_corpus.py c probe       print the expected probes as C arrays (tests/unit/test_probe.c)
    gen_corpus.py c reply       print the replies as C arrays (tests/unit/test_reply.c)

Addresses are from the documentation ranges (RFC 5737, RFC 3849); nothing is ever sent.
"""
import ipaddress
import os
import struct
import sys

PATTERN = b"PingWatcher "

V4 = dict(src="192.0.2.1", dst="198.51.100.7", router="203.0.113.5")
V6 = dict(src="2001:db8::1", dst="2001:db8:1::7", router="2001:db8:ff::5")


def a(text):
    return ipaddress.ip_address(text).packed


def ones_sum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def csum(data):
    """Value for a checksum field that was zero while summing."""
    return ~ones_sum(data) & 0xFFFF


def valid(data):
    return csum(data) == 0


def pseudo(v6, src, dst, proto, length):
    if v6:
        return a(src) + a(dst) + struct.pack("!IxxxB", length, proto)
    return a(src) + a(dst) + struct.pack("!xBH", proto, length)


def ipv4(src, dst, proto, payload, ttl=64, ident=0, frag=0, options=b""):
    hl = 20 + len(options)
    assert hl % 4 == 0
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | hl // 4, 0, hl + len(payload), ident, frag, ttl,
                      proto, 0, a(src), a(dst)) + options
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    assert valid(hdr)
    return hdr + payload


def ipv6(src, dst, nh, payload, hlim=64):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hlim, a(src), a(dst)) + payload


def set16(b, off, v):
    return b[:off] + struct.pack("!H", v) + b[off + 2:]


def probe_payload(n, comp=True):
    if not comp:
        return (PATTERN * (n // len(PATTERN) + 1))[:n]
    return b"\0\0" + (PATTERN * (n // len(PATTERN) + 1))[:n - 2]


def probe(proto, v6, src, dst, ttl, pid, sport=0, dport=0, n=0, icmp_csum=0, seq_hi=0):
    """The Paris probe as probe.h describes it, derived from the description."""
    if proto == "icmp":
        l4 = struct.pack("!BBHHH", 128 if v6 else 8, 0, icmp_csum, sport, pid) + probe_payload(n)
        ps = pseudo(v6, src, dst, 58, len(l4)) if v6 else b""
        # Choose the payload word so the checksum field may stay icmp_csum.
        l4 = set16(l4, 8, csum(ps + l4))
        assert valid(ps + l4) and struct.unpack("!H", l4[2:4])[0] == icmp_csum
        ipproto = 58 if v6 else 1
    elif proto == "udp":
        l4 = struct.pack("!HHHH", sport, dport, 8 + n, pid) + probe_payload(n)
        ps = pseudo(v6, src, dst, 17, len(l4))
        l4 = set16(l4, 8, csum(ps + l4))
        assert valid(ps + l4)
        # What an ordinary sender would compute for this datagram must be the probe id.
        std = csum(ps + set16(l4, 6, 0)) or 0xFFFF
        assert std == pid, (std, pid)
        ipproto = 17
    else:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, seq_hi << 16 | pid, 0, 5 << 4, 0x02, 64240,
                         0, 0) + probe_payload(n, comp=False)
        ps = pseudo(v6, src, dst, 6, len(l4))
        l4 = set16(l4, 16, csum(ps + l4))
        assert valid(ps + l4)
        ipproto = 6
    if v6:
        return ipv6(src, dst, ipproto, l4, hlim=ttl)
    return ipv4(src, dst, ipproto, l4, ttl=ttl, ident=pid, frag=0x4000)


def icmp4(typ, code, body, rest=b"\0\0\0\0"):
    m = struct.pack("!BBH", typ, code, 0) + rest + body
    return set16(m, 2, csum(m))


def icmp6(src, dst, typ, code, body, rest=b"\0\0\0\0"):
    m = struct.pack("!BBH", typ, code, 0) + rest + body
    return set16(m, 2, csum(pseudo(True, src, dst, 58, len(m)) + m))


def tcp(v6, src, dst, sport, dport, seq, ack, flags):
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    return set16(t, 16, csum(pseudo(v6, src, dst, 6, len(t)) + t))


# The probes the replies answer: TTL 1 as the router saw it, probe id 0x0203.
PROBE_ARGS = dict(icmp=dict(sport=0x1234, n=56, icmp_csum=0xBEEF),
                  udp=dict(sport=40000, dport=33434, n=56),
                  tcp=dict(sport=40001, dport=80, seq_hi=0xABCD))


def quoted(proto, v6, ttl=1):
    t = V6 if v6 else V4
    return probe(proto, v6, t["src"], t["dst"], ttl, 0x0203, **PROBE_ARGS[proto])


def te(proto, v6):
    """Time exceeded from the router. IPv4 routers quote 28 bytes (RFC 792's minimum),
    IPv6 routers as much as fits (here all)."""
    t = V6 if v6 else V4
    q = quoted(proto, v6)
    if v6:
        return ipv6(t["router"], t["src"], 58, icmp6(t["router"], t["src"], 3, 0, q), hlim=63)
    return ipv4(t["router"], t["src"], 1, icmp4(11, 0, q[:28]), ttl=250)


def unreach(proto, v6, code, frm):
    t = V6 if v6 else V4
    q = quoted(proto, v6, ttl=3)
    if v6:
        return ipv6(t[frm], t["src"], 58, icmp6(t[frm], t["src"], 1, code, q), hlim=61)
    return ipv4(t[frm], t["src"], 1, icmp4(3, code, q[:28]), ttl=61)


def echo_reply(v6):
    t = V6 if v6 else V4
    rest = struct.pack("!HH", 0x1234, 0x0203)
    body = b"\x11\x22" + probe_payload(56)[2:]
    if v6:
        return ipv6(t["dst"], t["src"], 58, icmp6(t["dst"], t["src"], 129, 0, body, rest), hlim=60)
    return ipv4(t["dst"], t["src"], 1, icmp4(0, 0, body, rest), ttl=60)


def tcp_reply(v6, flags):
    t = V6 if v6 else V4
    seg = tcp(v6, t["dst"], t["src"], 80, 40001, 0x5EED0001 if flags & 0x02 else 0,
              (0xABCD << 16 | 0x0203) + 1, flags)
    if v6:
        return ipv6(t["dst"], t["src"], 6, seg, hlim=59)
    return ipv4(t["dst"], t["src"], 6, seg, ttl=59)


def te_udp4_options():
    """Options on both the reply (record route, 8 bytes with NOP/EOL) and the quoted probe."""
    q = quoted("udp", False)
    # The quoted probe given a 4-byte option (NOP NOP NOP EOL): IHL 6, checksum refreshed.
    qh = bytearray(q[:20])
    qh[0] = 0x46
    qh[2:4] = struct.pack("!H", len(q) + 4)
    qh[10:12] = b"\0\0"
    qh = bytes(qh) + b"\x01\x01\x01\x00"
    qh = qh[:10] + struct.pack("!H", csum(qh)) + qh[12:]
    inner = qh + q[20:28]
    rr = b"\x07\x07\x04" + a("203.0.113.5") + b"\x00"
    return ipv4(V4["router"], V4["src"], 1, icmp4(11, 0, inner), ttl=250, options=rr)


def te_udp6_hbh():
    """A hop-by-hop options header (8 bytes: PadN) before the ICMPv6 time exceeded."""
    t = V6
    m = icmp6(t["router"], t["src"], 3, 0, quoted("udp", True))
    hbh = bytes([58, 0, 1, 4, 0, 0, 0, 0])
    return ipv6(t["router"], t["src"], 0, hbh + m, hlim=63)


def replies():
    r = {}
    for v6 in (False, True):
        s = "6" if v6 else "4"
        for proto in ("icmp", "udp", "tcp"):
            r["te_%s%s" % (proto, s)] = te(proto, v6)
        r["unreach_port_udp" + s] = unreach("udp", v6, 4 if v6 else 3, "dst")
        r["unreach_admin_tcp" + s] = unreach("tcp", v6, 1 if v6 else 13, "router")
        r["unreach_host_icmp" + s] = unreach("icmp", v6, 3 if v6 else 1, "router")
        r["echo_reply" + s] = echo_reply(v6)
        r["synack" + s] = tcp_reply(v6, 0x12)
        r["rst" + s] = tcp_reply(v6, 0x14)
    r["te_udp4_options"] = te_udp4_options()
    r["te_udp6_hbh"] = te_udp6_hbh()
    return r


def not_ours():
    r = {}
    t4, t6 = V4, V6
    r["rst_noack4"] = tcp_reply(False, 0x04)
    r["rst_noack6"] = tcp_reply(True, 0x04)
    r["echo_request4"] = quoted("icmp", False, ttl=64)
    r["echo_request6"] = quoted("icmp", True, ttl=64)
    # The quote holds an echo reply, which no probe of ours is.
    q = bytearray(quoted("icmp", False))
    q[20] = 0
    r["te_quoted_echo_reply4"] = ipv4(t4["router"], t4["src"], 1, icmp4(11, 0, bytes(q[:28])))
    # The quote holds GRE (47).
    q = bytearray(quoted("udp", False))
    q[9] = 47
    r["te_quoted_gre4"] = ipv4(t4["router"], t4["src"], 1, icmp4(11, 0, bytes(q[:28])))
    q = bytearray(quoted("udp", True))
    q[6] = 47
    r["te_quoted_gre6"] = ipv6(t6["router"], t6["src"], 58,
                               icmp6(t6["router"], t6["src"], 3, 0, bytes(q)))
    return r


def short_quotes():
    """Valid outer packets whose quote lacks some of the 8 transport bytes: TRUNCATED."""
    r = {}
    q = quoted("udp", False)
    r["te_short_quote4"] = ipv4(V4["router"], V4["src"], 1, icmp4(11, 0, q[:27]))
    q = quoted("udp", True)
    r["te_short_quote6"] = ipv6(V6["router"], V6["src"], 58,
                                icmp6(V6["router"], V6["src"], 3, 0, q[:47]))
    return r


def probes():
    """The canned probes of test_probe.c: TTL 5, probe id 0x0102, 8-byte payloads
    (TCP: none)."""
    r = {}
    for v6 in (False, True):
        t = V6 if v6 else V4
        s = "6" if v6 else "4"
        r["probe_icmp" + s] = probe("icmp", v6, t["src"], t["dst"], 5, 0x0102, sport=0x1234, n=8,
                                    icmp_csum=0xBEEF)
        r["probe_udp" + s] = probe("udp", v6, t["src"], t["dst"], 5, 0x0102, sport=40000,
                                   dport=33434, n=8)
        r["probe_tcp" + s] = probe("tcp", v6, t["src"], t["dst"], 5, 0x0102, sport=40001, dport=80,
                                   seq_hi=0xABCD)
    return r


def c_array(name, data):
    out = ["static const uint8_t %s[] = {" % name]
    for i in range(0, len(data), 12):
        out.append("    " + " ".join("0x%02x," % b for b in data[i:i + 12]))
    out.append("};")
    return "\n".join(out)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "corpus":
        os.makedirs(sys.argv[2], exist_ok=True)
        for name, data in replies().items():
            with open(os.path.join(sys.argv[2], name + ".bin"), "wb") as f:
                f.write(data)
    elif len(sys.argv) == 3 and sys.argv[1] == "c":
        sets = dict(probe=[probes()], reply=[replies(), not_ours(), short_quotes()])
        for d in sets[sys.argv[2]]:
            for name, data in d.items():
                print(c_array(name, data))
                print()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
