/*
 * packet.c - probe parsing and reply building for netsim
 */
#include "packet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "scenario.h"

#define IP4_HDR 20
#define IP6_HDR 40
#define ICMP_HDR 8
#define UDP_HDR 8
#define TCP_HDR 20
#define IP4_ERR_MAX 576   /* RFC 1812 4.3.2.3: an ICMP error fits in 576 bytes */
#define IP6_ERR_MAX 1280  /* RFC 4443 2.4(c): as much as fits in the minimum MTU */
#define MAX_EXT_HEADERS 8 /* more than any real probe carries */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One's complement sum of 16-bit big-endian words; an odd last byte is padded with zero. */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
    while (len >= 2) {
        sum += rd16(p);
        p += 2;
        len -= 2;
    }
    if (len == 1)
        sum += (uint64_t)p[0] << 8;
    return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Checksum of an upper-layer message including the IPv4 or IPv6 pseudo-header. */
static uint16_t csum_l4(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                        const uint8_t *msg, size_t len)
{
    uint64_t sum = 0;

    if (family == AF_INET) {
        sum = csum_add(sum, src, 4);
        sum = csum_add(sum, dst, 4);
        sum += proto;
        sum += (uint64_t)len;
    } else {
        sum = csum_add(sum, src, 16);
        sum = csum_add(sum, dst, 16);
        sum += (uint64_t)(len >> 16) + (len & 0xffff);
        sum += proto;
    }
    sum = csum_add(sum, msg, len);
    return csum_fold(sum);
}

static void ip4_cksum(uint8_t *hdr, size_t hlen)
{
    hdr[10] = 0;
    hdr[11] = 0;
    wr16(hdr + 10, csum_fold(csum_add(0, hdr, hlen)));
}

static size_t ip_hdr_len(int family)
{
    return family == AF_INET ? IP4_HDR : IP6_HDR;
}

/* Write a bare IP header of a reply to p's source; payload_len counts what follows it. */
static void put_ip(const struct pw_sim_probe *p, const struct pw_sim_reply_hdr *h, uint8_t proto,
                   uint8_t tos, bool df, size_t payload_len, uint8_t *out)
{
    if (p->family == AF_INET) {
        out[0] = 0x45;
        out[1] = tos;
        wr16(out + 2, (uint16_t)(IP4_HDR + payload_len));
        wr16(out + 4, h->ip_id);
        wr16(out + 6, df ? 0x4000 : 0);
        out[8] = h->ttl;
        out[9] = proto;
        memcpy(out + 12, h->from, 4);
        memcpy(out + 16, p->src, 4);
        ip4_cksum(out, IP4_HDR);
    } else {
        wr32(out, 0x60000000u | (uint32_t)tos << 20);
        wr16(out + 4, (uint16_t)payload_len);
        out[6] = proto;
        out[7] = h->ttl;
        memcpy(out + 8, h->from, 16);
        memcpy(out + 24, p->src, 16);
    }
}

static enum pw_sim_pkt_kind ignore(const char **why, const char *reason)
{
    if (why != NULL)
        *why = reason;
    return PW_SIM_PKT_IGNORE;
}

static bool is_resolver(int family, const uint8_t *dst)
{
    static const uint8_t dns4[4] = {198, 18, 0, 53};
    static const uint8_t dns6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};

    return family == AF_INET ? memcmp(dst, dns4, 4) == 0 : memcmp(dst, dns6, 16) == 0;
}

static enum pw_sim_pkt_kind parse_l4(struct pw_sim_probe *p, uint8_t proto, const char **why)
{
    const uint8_t *l4 = p->l4;
    size_t n = p->l4len;

    if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
        uint8_t echo = proto == IPPROTO_ICMP ? 8 : 128;

        if ((proto == IPPROTO_ICMP) != (p->family == AF_INET))
            return ignore(why, "ICMP of the wrong IP version");
        if (n < ICMP_HDR)
            return ignore(why, "truncated ICMP header");
        /* Only echo requests are probes; errors, ND, RS and MLD are the prober kernel's own. */
        if (l4[0] != echo || l4[1] != 0)
            return ignore(why, "ICMP other than echo request");
        p->proto = PW_SIM_PROTO_ICMP;
        p->icmp_cksum = rd16(l4 + 2);
        p->sport = rd16(l4 + 4);
        p->dport = 0;
        p->probe_id = rd16(l4 + 6);
        return PW_SIM_PKT_PROBE;
    }
    if (proto == IPPROTO_UDP) {
        uint16_t ulen;

        if (n < UDP_HDR)
            return ignore(why, "truncated UDP header");
        ulen = rd16(l4 + 4);
        if (ulen < UDP_HDR || ulen > n)
            return ignore(why, "bad UDP length");
        /* Bytes after the UDP length are padding, not payload (the quote still has them). */
        p->l4len = ulen;
        p->proto = PW_SIM_PROTO_UDP;
        p->sport = rd16(l4);
        p->dport = rd16(l4 + 2);
        p->probe_id = rd16(l4 + 6);
        if (p->dport == 53 && is_resolver(p->family, p->dst))
            return PW_SIM_PKT_DNS;
        return PW_SIM_PKT_PROBE;
    }
    if (proto == IPPROTO_TCP) {
        size_t doff;
        uint8_t flags;

        if (n < TCP_HDR)
            return ignore(why, "truncated TCP header");
        doff = (size_t)(l4[12] >> 4) * 4;
        if (doff < TCP_HDR || doff > n)
            return ignore(why, "bad TCP data offset");
        flags = l4[13];
        /* The prober kernel answers our SYN-ACK with RST or ACK; only a bare SYN is a probe. */
        if ((flags & (PW_SIM_TCP_SYN | PW_SIM_TCP_ACK | PW_SIM_TCP_RST | PW_SIM_TCP_FIN)) !=
            PW_SIM_TCP_SYN)
            return ignore(why, "TCP segment other than SYN");
        p->proto = PW_SIM_PROTO_TCP;
        p->sport = rd16(l4);
        p->dport = rd16(l4 + 2);
        p->probe_id = rd32(l4 + 4);
        return PW_SIM_PKT_PROBE;
    }
    return ignore(why, "transport protocol other than ICMP, UDP, TCP");
}

static enum pw_sim_pkt_kind parse4(const uint8_t *pkt, size_t len, struct pw_sim_probe *p,
                                   const char **why)
{
    size_t ihl, tot;

    if (len < IP4_HDR)
        return ignore(why, "truncated IPv4 header");
    ihl = (size_t)(pkt[0] & 0x0f) * 4;
    tot = rd16(pkt + 2);
    if (ihl < IP4_HDR || ihl > len)
        return ignore(why, "bad IPv4 header length");
    if (tot < ihl || tot > len)
        return ignore(why, "bad IPv4 total length");
    if ((rd16(pkt + 6) & 0x3fff) != 0)
        return ignore(why, "IPv4 fragment");
    p->family = AF_INET;
    p->ttl = pkt[8];
    memcpy(p->src, pkt + 12, 4);
    memcpy(p->dst, pkt + 16, 4);
    p->pkt = pkt;
    p->len = tot;
    p->l3len = ihl;
    p->l4 = pkt + ihl;
    p->l4len = tot - ihl;
    return parse_l4(p, pkt[9], why);
}

static enum pw_sim_pkt_kind parse6(const uint8_t *pkt, size_t len, struct pw_sim_probe *p,
                                   const char **why)
{
    size_t tot, off = IP6_HDR;
    uint8_t nh;

    if (len < IP6_HDR)
        return ignore(why, "truncated IPv6 header");
    tot = IP6_HDR + (size_t)rd16(pkt + 4);
    if (tot > len)
        return ignore(why, "bad IPv6 payload length");
    p->family = AF_INET6;
    p->ttl = pkt[7];
    memcpy(p->src, pkt + 8, 16);
    memcpy(p->dst, pkt + 24, 16);
    nh = pkt[6];
    /* Walk the extension headers a probe may carry; anything else is not ours to answer. */
    for (int i = 0; i < MAX_EXT_HEADERS; i++) {
        size_t elen;

        if (nh != 0 && nh != 43 && nh != 60)
            break;
        if (off + 8 > tot)
            return ignore(why, "truncated IPv6 extension header");
        elen = ((size_t)pkt[off + 1] + 1) * 8;
        if (off + elen > tot)
            return ignore(why, "truncated IPv6 extension header");
        nh = pkt[off];
        off += elen;
    }
    if (nh == 44)
        return ignore(why, "IPv6 fragment");
    p->pkt = pkt;
    p->len = tot;
    p->l3len = off;
    p->l4 = pkt + off;
    p->l4len = tot - off;
    return parse_l4(p, nh, why);
}

enum pw_sim_pkt_kind pw_sim_pkt_parse(const uint8_t *pkt, size_t len, struct pw_sim_probe *p,
                                      const char **why)
{
    memset(p, 0, sizeof(*p));
    if (why != NULL)
        *why = "";
    if (len < 1)
        return ignore(why, "empty packet");
    switch (pkt[0] >> 4) {
    case 4:
        return parse4(pkt, len, p, why);
    case 6:
        return parse6(pkt, len, p, why);
    default:
        return ignore(why, "not IPv4 or IPv6");
    }
}

size_t pw_sim_pkt_icmp_error(const struct pw_sim_probe *p, const struct pw_sim_reply_hdr *h,
                             uint8_t type, uint8_t code, uint8_t quoted_ttl, int quote_bytes,
                             uint8_t *out, size_t cap)
{
    size_t iph = ip_hdr_len(p->family);
    size_t limit = p->family == AF_INET ? IP4_ERR_MAX : IP6_ERR_MAX;
    size_t after = p->len - p->l3len;
    size_t qlen, total;
    uint8_t *icmp, *q;

    if (quote_bytes >= 0 && (size_t)quote_bytes < after)
        after = (size_t)quote_bytes;
    qlen = p->l3len + after;
    if (iph + ICMP_HDR + qlen > limit)
        qlen = limit - iph - ICMP_HDR;
    total = iph + ICMP_HDR + qlen;
    if (total > cap)
        return 0;

    icmp = out + iph;
    q = icmp + ICMP_HDR;
    memset(out, 0, iph + ICMP_HDR);
    memcpy(q, p->pkt, qlen);
    if (p->family == AF_INET) {
        /* The header as the erroring node received it: TTL decremented on the way, header
         * checksum updated by every router that forwarded it. */
        q[8] = quoted_ttl;
        if (qlen >= p->l3len)
            ip4_cksum(q, p->l3len);
        /* Routers send errors with precedence "internetwork control" (RFC 1812 4.3.2.5). */
        put_ip(p, h, IPPROTO_ICMP, 0xc0, false, ICMP_HDR + qlen, out);
    } else {
        q[7] = quoted_ttl;
        put_ip(p, h, IPPROTO_ICMPV6, 0, false, ICMP_HDR + qlen, out);
    }
    icmp[0] = type;
    icmp[1] = code;
    if (p->family == AF_INET)
        wr16(icmp + 2, csum_fold(csum_add(0, icmp, ICMP_HDR + qlen)));
    else
        wr16(icmp + 2, csum_l4(AF_INET6, h->from, p->src, IPPROTO_ICMPV6, icmp, ICMP_HDR + qlen));
    return total;
}

size_t pw_sim_pkt_echo_reply(const struct pw_sim_probe *p, const struct pw_sim_reply_hdr *h,
                             uint8_t *out, size_t cap)
{
    size_t iph = ip_hdr_len(p->family);
    size_t total = iph + p->l4len;
    uint8_t *icmp = out + iph;

    if (p->proto != PW_SIM_PROTO_ICMP || total > cap || p->l4len > 0xffff)
        return 0;
    memcpy(icmp, p->l4, p->l4len);
    icmp[2] = 0;
    icmp[3] = 0;
    if (p->family == AF_INET) {
        put_ip(p, h, IPPROTO_ICMP, 0, false, p->l4len, out);
        icmp[0] = 0;
        wr16(icmp + 2, csum_fold(csum_add(0, icmp, p->l4len)));
    } else {
        put_ip(p, h, IPPROTO_ICMPV6, 0, false, p->l4len, out);
        icmp[0] = 129;
        wr16(icmp + 2, csum_l4(AF_INET6, h->from, p->src, IPPROTO_ICMPV6, icmp, p->l4len));
    }
    icmp[1] = 0;
    return total;
}

size_t pw_sim_pkt_tcp_reply(const struct pw_sim_probe *p, const struct pw_sim_reply_hdr *h,
                            uint8_t flags, uint32_t seq, uint32_t ack, uint8_t *out, size_t cap)
{
    size_t iph = ip_hdr_len(p->family);
    bool mss = (flags & PW_SIM_TCP_SYN) != 0;
    size_t tlen = TCP_HDR + (mss ? 4 : 0);
    uint8_t *tcp = out + iph;

    if (p->proto != PW_SIM_PROTO_TCP || iph + tlen > cap)
        return 0;
    memset(tcp, 0, tlen);
    wr16(tcp, p->dport);
    wr16(tcp + 2, p->sport);
    wr32(tcp + 4, seq);
    wr32(tcp + 8, ack);
    tcp[12] = (uint8_t)((tlen / 4) << 4);
    tcp[13] = flags;
    wr16(tcp + 14, (flags & PW_SIM_TCP_RST) ? 0 : 64240);
    if (mss) {
        tcp[20] = 2;
        tcp[21] = 4;
        wr16(tcp + 22, p->family == AF_INET ? 1460 : 1440);
    }
    put_ip(p, h, IPPROTO_TCP, 0, true, tlen, out);
    wr16(tcp + 16, csum_l4(p->family, h->from, p->src, IPPROTO_TCP, tcp, tlen));
    return iph + tlen;
}

size_t pw_sim_pkt_udp_reply(const struct pw_sim_probe *p, const struct pw_sim_reply_hdr *h,
                            const uint8_t *payload, size_t plen, uint8_t *out, size_t cap)
{
    size_t iph = ip_hdr_len(p->family);
    size_t ulen = UDP_HDR + plen;
    uint8_t *udp = out + iph;
    uint16_t ck;

    if (iph + ulen > cap || ulen > 0xffff)
        return 0;
    wr16(udp, p->dport);
    wr16(udp + 2, p->sport);
    wr16(udp + 4, (uint16_t)ulen);
    wr16(udp + 6, 0);
    memcpy(udp + UDP_HDR, payload, plen);
    put_ip(p, h, IPPROTO_UDP, 0, true, ulen, out);
    ck = csum_l4(p->family, h->from, p->src, IPPROTO_UDP, udp, ulen);
    /* A computed zero is sent as all ones; zero means "no checksum" (and is illegal in v6). */
    wr16(udp + 6, ck == 0 ? 0xffff : ck);
    return iph + ulen;
}
