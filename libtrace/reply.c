/* PingWatcher — parsing replies to our probes; see reply.h.
 *
 * Every read is preceded by a length check against the bytes the enclosing header says it
 * holds (never past the captured length). Running out of bytes at any level, outer or quoted,
 * is PW_E_TRUNCATED; fields that contradict each other are PW_E_MALFORMED.
 *
 * Kinds of packet no probe of ours causes are rejected as PW_E_NOT_OURS *before* any checksum
 * is verified: the capture also sees our own outgoing probes and other traffic, and with
 * transmit checksum offload those can carry checksums not yet filled in; they must not be
 * counted as corrupt replies.
 *
 * Choices:
 *  - IP fragments (IPv4 MF or offset, IPv6 fragment header that is not atomic) are not
 *    reassembled: PW_E_NOT_OURS. Our probes are never fragmented and ICMP errors are small.
 *  - IPv6 extension headers before the reply's ICMPv6/TCP header are skipped when they are
 *    hop-by-hop, destination options, routing with no segments left, or an atomic fragment,
 *    at most PW_EXT_MAX of them; anything else (ESP, AH, …) is PW_E_NOT_OURS. The quoted
 *    packet in an ICMPv6 error must have the transport header right after the fixed IPv6
 *    header, as our probes do.
 *  - The outer IPv4 header checksum is verified too (PW_E_CHECKSUM): the addresses in it are
 *    what the reply is matched on.
 *  - TCP checksums are not verified (see parse_tcp); ICMP and ICMPv6 checksums are.
 *  - Time Exceeded is accepted with code 0 only (TTL / hop limit exceeded in transit); code 1
 *    is fragment reassembly, which our unfragmented probes never cause.
 */
#include "reply.h"

#include <string.h>

#include "error.h"

#define PW_IP4_HDR_LEN 20
#define PW_IP6_HDR_LEN 40
/* At least this much of the quoted transport header: ports, ICMP id/seq, UDP checksum, TCP
 * sequence. RFC 792 guarantees 8 bytes. */
#define PW_QUOTE_L4_MIN 8
#define PW_ICMP_HDR_MIN 8
#define PW_TCP_HDR_MIN 20
#define PW_EXT_MAX 8

#define PW_ICMP4_ECHOREPLY 0
#define PW_ICMP4_UNREACH 3
#define PW_ICMP4_ECHO 8
#define PW_ICMP4_TIMXCEED 11
#define PW_ICMP4_PORT_UNREACH 3

#define PW_ICMP6_UNREACH 1
#define PW_ICMP6_TIMXCEED 3
#define PW_ICMP6_ECHO 128
#define PW_ICMP6_ECHOREPLY 129
#define PW_ICMP6_PORT_UNREACH 4

#define PW_TCP_FIN 0x01
#define PW_TCP_SYN 0x02
#define PW_TCP_RST 0x04
#define PW_TCP_ACK 0x10

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set_addr(struct pw_addr *a, int family, const uint8_t *bytes)
{
    memset(a, 0, sizeof(*a));
    a->family = family;
    if (family == AF_INET)
        memcpy(&a->u.v4, bytes, 4);
    else
        memcpy(&a->u.v6, bytes, 16);
}

static int addr_same(const struct pw_addr *a, const struct pw_addr *b)
{
    if (a->family != b->family)
        return 0;
    if (a->family == AF_INET)
        return memcmp(&a->u.v4, &b->u.v4, 4) == 0;
    return memcmp(&a->u.v6, &b->u.v6, 16) == 0;
}

/* Pseudo-header sum for a transport checksum. ip points at the outer IP header, whose source
 * and destination addresses are adjacent in both versions. */
static uint32_t pseudo_sum(const uint8_t *ip, int family, uint8_t proto, size_t l4_len)
{
    uint32_t sum;

    if (family == AF_INET)
        sum = pw_csum_add(0, ip + 12, 8);
    else
        sum = pw_csum_add(0, ip + 8, 32);
    /* l4_len < 2^16 here, so it fits one pseudo-header word (IPv6's 32-bit field's high half
     * is zero). */
    return sum + proto + (uint32_t)l4_len;
}

/* The first 8 bytes of the probe's transport header, as quoted. */
static int parse_quoted_l4(uint8_t proto, int family, const uint8_t *l4, struct pw_reply *out)
{
    uint32_t seq;

    switch (proto) {
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
        if ((family == AF_INET) != (proto == IPPROTO_ICMP))
            return PW_E_NOT_OURS;
        if (l4[0] != (family == AF_INET ? PW_ICMP4_ECHO : PW_ICMP6_ECHO))
            return PW_E_NOT_OURS;
        out->proto = PW_PROTO_ICMP;
        out->sport = get16(l4 + 4);
        out->probe_id = get16(l4 + 6);
        return 0;
    case IPPROTO_UDP:
        out->proto = PW_PROTO_UDP;
        out->sport = get16(l4);
        out->dport = get16(l4 + 2);
        out->probe_id = get16(l4 + 6);
        return 0;
    case IPPROTO_TCP:
        out->proto = PW_PROTO_TCP;
        out->sport = get16(l4);
        out->dport = get16(l4 + 2);
        seq = get32(l4 + 4);
        out->tcp_seq_hi = (uint16_t)(seq >> 16);
        out->probe_id = (uint16_t)seq;
        return 0;
    }
    return PW_E_NOT_OURS;
}

/* The probe quoted in an ICMP error: its IP header in full plus 8 transport bytes. */
static int parse_quote(const uint8_t *q, size_t qlen, int family, struct pw_reply *out)
{
    size_t hl;

    if (family == AF_INET) {
        if (qlen < PW_IP4_HDR_LEN)
            return PW_E_TRUNCATED;
        if (q[0] >> 4 != 4)
            return PW_E_MALFORMED;
        hl = (size_t)(q[0] & 0x0f) * 4;
        if (hl < PW_IP4_HDR_LEN)
            return PW_E_MALFORMED;
        if (qlen < hl + PW_QUOTE_L4_MIN)
            return PW_E_TRUNCATED;
        /* A later fragment quotes no transport header; ours are never fragmented. */
        if ((get16(q + 6) & 0x1fff) != 0)
            return PW_E_NOT_OURS;
        out->quoted_ttl = q[8];
        set_addr(&out->probe_src, AF_INET, q + 12);
        set_addr(&out->probe_dst, AF_INET, q + 16);
        return parse_quoted_l4(q[9], family, q + hl, out);
    }
    if (qlen < PW_IP6_HDR_LEN)
        return PW_E_TRUNCATED;
    if (q[0] >> 4 != 6)
        return PW_E_MALFORMED;
    if (qlen < PW_IP6_HDR_LEN + PW_QUOTE_L4_MIN)
        return PW_E_TRUNCATED;
    out->quoted_ttl = q[7];
    set_addr(&out->probe_src, AF_INET6, q + 8);
    set_addr(&out->probe_dst, AF_INET6, q + 24);
    return parse_quoted_l4(q[6], family, q + PW_IP6_HDR_LEN, out);
}

/* ICMP (family AF_INET) or ICMPv6 (AF_INET6) message of ilen bytes; ip is the outer header. */
static int parse_icmp(const uint8_t *ip, int family, const uint8_t *icmp, size_t ilen,
                      struct pw_reply *out)
{
    uint8_t type, code, port_unreach;
    uint32_t sum;
    int rc;

    if (ilen < PW_ICMP_HDR_MIN)
        return PW_E_TRUNCATED;
    type = icmp[0];
    code = icmp[1];
    if (family == AF_INET) {
        port_unreach = PW_ICMP4_PORT_UNREACH;
        if (type == PW_ICMP4_TIMXCEED && code == 0)
            out->kind = PW_REPLY_TIME_EXCEEDED;
        else if (type == PW_ICMP4_UNREACH)
            out->kind = PW_REPLY_UNREACH;
        else if (type == PW_ICMP4_ECHOREPLY)
            out->kind = PW_REPLY_ECHO;
        else
            return PW_E_NOT_OURS;
        sum = 0;
    } else {
        port_unreach = PW_ICMP6_PORT_UNREACH;
        if (type == PW_ICMP6_TIMXCEED && code == 0)
            out->kind = PW_REPLY_TIME_EXCEEDED;
        else if (type == PW_ICMP6_UNREACH)
            out->kind = PW_REPLY_UNREACH;
        else if (type == PW_ICMP6_ECHOREPLY)
            out->kind = PW_REPLY_ECHO;
        else
            return PW_E_NOT_OURS;
        sum = pseudo_sum(ip, family, IPPROTO_ICMPV6, ilen);
    }
    if (pw_csum_fold(pw_csum_add(sum, icmp, ilen)) != 0)
        return PW_E_CHECKSUM;
    out->icmp_type = type;
    out->icmp_code = code;

    if (out->kind == PW_REPLY_ECHO) {
        out->proto = PW_PROTO_ICMP;
        out->sport = get16(icmp + 4);
        out->probe_id = get16(icmp + 6);
        set_addr(&out->probe_src, family, family == AF_INET ? ip + 16 : ip + 24);
        out->probe_dst = out->from;
        out->reached = 1;
        return 0;
    }

    /* An error: the probe's headers follow the 8-byte ICMP header. Trailing RFC 4884
     * extensions after the quote are never read: only the quote's first headers are. */
    rc = parse_quote(icmp + PW_ICMP_HDR_MIN, ilen - PW_ICMP_HDR_MIN, family, out);
    if (rc)
        return rc;
    if (out->kind == PW_REPLY_UNREACH)
        out->reached = (out->proto == PW_PROTO_UDP && code == port_unreach) ||
                       addr_same(&out->from, &out->probe_dst);
    return 0;
}

static int parse_tcp(const uint8_t *ip, int family, const uint8_t *tcp, size_t tlen,
                     struct pw_reply *out)
{
    uint8_t flags;
    size_t doff;
    uint32_t seq;

    if (tlen < PW_TCP_HDR_MIN)
        return PW_E_TRUNCATED;
    doff = (size_t)(tcp[12] >> 4) * 4;
    if (doff < PW_TCP_HDR_MIN)
        return PW_E_MALFORMED;
    if (doff > tlen)
        return PW_E_TRUNCATED;
    flags = tcp[13];
    /* A RST without ACK carries no acknowledgment number to match on (it is what our own
     * kernel sends after an unexpected SYN-ACK). */
    if ((flags & (PW_TCP_SYN | PW_TCP_ACK | PW_TCP_RST | PW_TCP_FIN)) == (PW_TCP_SYN | PW_TCP_ACK))
        out->kind = PW_REPLY_TCP_SYNACK;
    else if ((flags & (PW_TCP_RST | PW_TCP_ACK)) == (PW_TCP_RST | PW_TCP_ACK))
        out->kind = PW_REPLY_TCP_RST;
    else
        return PW_E_NOT_OURS;
    /* The TCP checksum is not verified: a SYN-ACK or RST generated by a kernel and handed over
     * loopback or a veth pair is captured before its checksum is filled in (CHECKSUM_PARTIAL),
     * so a valid answer would look corrupt. Matching stays strict: flow, destination and the
     * acknowledged sequence number, whose high half is random per flow. */
    (void)ip;
    (void)family;

    out->proto = PW_PROTO_TCP;
    out->sport = get16(tcp + 2);
    out->dport = get16(tcp);
    seq = get32(tcp + 8) - 1;
    out->tcp_seq_hi = (uint16_t)(seq >> 16);
    out->probe_id = (uint16_t)seq;
    set_addr(&out->probe_src, family, family == AF_INET ? ip + 16 : ip + 24);
    out->probe_dst = out->from;
    out->reached = 1;
    return 0;
}

static int parse_ipv4(const uint8_t *pkt, size_t len, struct pw_reply *out)
{
    size_t hl, total;

    if (len < PW_IP4_HDR_LEN)
        return PW_E_TRUNCATED;
    hl = (size_t)(pkt[0] & 0x0f) * 4;
    if (hl < PW_IP4_HDR_LEN)
        return PW_E_MALFORMED;
    total = get16(pkt + 2);
    if (total < hl)
        return PW_E_MALFORMED;
    /* Covers hl > len too, since hl <= total. Bytes past total (link padding) are ignored. */
    if (total > len)
        return PW_E_TRUNCATED;
    if (pw_csum_fold(pw_csum_add(0, pkt, hl)) != 0)
        return PW_E_CHECKSUM;
    if ((get16(pkt + 6) & 0x3fff) != 0)
        return PW_E_NOT_OURS;

    out->reply_ttl = pkt[8];
    set_addr(&out->from, AF_INET, pkt + 12);
    switch (pkt[9]) {
    case IPPROTO_ICMP:
        return parse_icmp(pkt, AF_INET, pkt + hl, total - hl, out);
    case IPPROTO_TCP:
        return parse_tcp(pkt, AF_INET, pkt + hl, total - hl, out);
    }
    return PW_E_NOT_OURS;
}

static int parse_ipv6(const uint8_t *pkt, size_t len, struct pw_reply *out)
{
    size_t off = PW_IP6_HDR_LEN, end, hlen;
    uint8_t nh;
    int n;

    if (len < PW_IP6_HDR_LEN)
        return PW_E_TRUNCATED;
    end = PW_IP6_HDR_LEN + (size_t)get16(pkt + 4);
    if (end > len)
        return PW_E_TRUNCATED;
    nh = pkt[6];
    out->reply_ttl = pkt[7];
    set_addr(&out->from, AF_INET6, pkt + 8);

    for (n = 0; nh != IPPROTO_ICMPV6 && nh != IPPROTO_TCP; n++) {
        if (n == PW_EXT_MAX)
            return PW_E_NOT_OURS;
        if (end - off < 8)
            return PW_E_TRUNCATED;
        switch (nh) {
        case IPPROTO_HOPOPTS:
        case IPPROTO_DSTOPTS:
            hlen = ((size_t)pkt[off + 1] + 1) * 8;
            break;
        case IPPROTO_ROUTING:
            /* Segments left: the packet is still on its way elsewhere. */
            if (pkt[off + 3] != 0)
                return PW_E_NOT_OURS;
            hlen = ((size_t)pkt[off + 1] + 1) * 8;
            break;
        case IPPROTO_FRAGMENT:
            /* Only an atomic fragment (offset 0, no more fragments) holds a whole packet. */
            if ((get16(pkt + off + 2) & 0xfff9) != 0)
                return PW_E_NOT_OURS;
            hlen = 8;
            break;
        default:
            return PW_E_NOT_OURS;
        }
        if (end - off < hlen)
            return PW_E_TRUNCATED;
        nh = pkt[off];
        off += hlen;
    }
    if (nh == IPPROTO_ICMPV6)
        return parse_icmp(pkt, AF_INET6, pkt + off, end - off, out);
    return parse_tcp(pkt, AF_INET6, pkt + off, end - off, out);
}

int pw_reply_parse(const uint8_t *pkt, size_t len, struct pw_reply *out)
{
    memset(out, 0, sizeof(*out));
    if (pkt == NULL || len < 1)
        return PW_E_TRUNCATED;
    switch (pkt[0] >> 4) {
    case 4:
        return parse_ipv4(pkt, len, out);
    case 6:
        return parse_ipv6(pkt, len, out);
    }
    return PW_E_MALFORMED;
}
