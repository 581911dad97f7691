/* PingWatcher — probe crafting (libnet) for flow-stable (Paris) traceroute; see probe.h.
 *
 * How libnet is used: libnet 1.1.6's libnet_adv_cull_packet() refuses every injection type
 * but LIBNET_LINK_ADV, which opens a packet socket on a device and so needs CAP_NET_RAW; the
 * RAW4/RAW6 types open a raw socket in libnet_init() and need it too. Templates are built when
 * a target is added, which can be long after the daemon dropped its privileges, so we use
 * LIBNET_NONE ("only construct packets", no socket, no device) and take each header libnet
 * built from its protocol block with libnet_getpbuf(). The payload and all checksums are ours:
 * the checksums depend on the compensation word, which libnet knows nothing about.
 *
 * The checksum trick: at offset 6 of the transport header every protocol carries the probe id
 * (ICMP sequence, UDP checksum, low half of the TCP sequence). The template keeps in base_csum
 * the ones'-complement sum of everything the checksum covers except that id word and one
 * "fixing" word at comp_off (ICMP/UDP: the first payload word; TCP: its checksum field), both
 * zero in the template. Stamping writes the id and sets the fixing word to ~(base + id), which
 * makes the whole sum 0xFFFF (ones'-complement zero), i.e. a valid checksum, while the ICMP
 * checksum field (constant, in base) or the UDP checksum field (the id) stay as wanted.
 */
#include "probe.h"

#include <errno.h>
#include <libnet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "error.h"

#define PW_IP4_HDR_LEN 20
#define PW_IP6_HDR_LEN 40
#define PW_IP4_DF 0x4000
/* TTL / hop limit left in a freshly built template; every probe is stamped with its own. */
#define PW_TMPL_TTL 64
/* The window Linux puts in its own SYNs: a SYN that looks ordinary passes more firewalls. */
#define PW_TCP_WINDOW 64240
/* Offset of the probe id inside every transport header (see the comment at the top). */
#define PW_ID_OFF 6
#define PW_TCP_CSUM_OFF 16

/* Payload filler, repeated after the compensation word: easy to spot in a capture. */
static const char pw_payload_pattern[] = "PingWatcher ";

const char *pw_proto_name(enum pw_proto p)
{
    switch (p) {
    case PW_PROTO_ICMP:
        return "icmp";
    case PW_PROTO_UDP:
        return "udp";
    case PW_PROTO_TCP:
        return "tcp";
    }
    return "unknown";
}

int pw_proto_parse(const char *text, enum pw_proto *out)
{
    if (text == NULL)
        return PW_E_MALFORMED;
    if (strcasecmp(text, "icmp") == 0)
        *out = PW_PROTO_ICMP;
    else if (strcasecmp(text, "udp") == 0)
        *out = PW_PROTO_UDP;
    else if (strcasecmp(text, "tcp") == 0)
        *out = PW_PROTO_TCP;
    else
        return PW_E_MALFORMED;
    return 0;
}

uint32_t pw_csum_add(uint32_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;
    /* 64 bits cannot overflow for any length a packet can have; folded once at the end. */
    uint64_t acc = sum;

    while (len >= 8) {
        acc += ((uint32_t)p[0] << 8 | p[1]) + ((uint32_t)p[2] << 8 | p[3]) +
               ((uint32_t)p[4] << 8 | p[5]) + ((uint32_t)p[6] << 8 | p[7]);
        p += 8;
        len -= 8;
    }
    while (len >= 2) {
        acc += (uint32_t)p[0] << 8 | p[1];
        p += 2;
        len -= 2;
    }
    if (len)
        acc += (uint32_t)p[0] << 8;
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint32_t)acc;
}

uint16_t pw_csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *proto_upper(enum pw_proto p)
{
    switch (p) {
    case PW_PROTO_ICMP:
        return "ICMP";
    case PW_PROTO_UDP:
        return "UDP";
    case PW_PROTO_TCP:
        return "TCP";
    }
    return "?";
}

static const char *family_name(int family)
{
    return family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "an unknown family";
}

static int addr_unspecified(const struct pw_addr *a)
{
    static const uint8_t zero[16];

    if (a->family == AF_INET)
        return a->u.v4.s_addr == 0;
    return memcmp(&a->u.v6, zero, sizeof(zero)) == 0;
}

static int check_flow(const struct pw_flow *f, char *err, size_t errlen)
{
    int v4 = f->dst.family == AF_INET;
    unsigned ip_len = v4 ? PW_IP4_HDR_LEN : PW_IP6_HDR_LEN;
    unsigned hdr_len, min, max;

    if (f->proto != PW_PROTO_ICMP && f->proto != PW_PROTO_UDP && f->proto != PW_PROTO_TCP) {
        set_err(err, errlen, "unknown protocol %d (use icmp, udp or tcp)", (int)f->proto);
        return PW_E_MALFORMED;
    }
    if (f->dst.family != AF_INET && f->dst.family != AF_INET6) {
        set_err(err, errlen, "destination address family %d is neither IPv4 nor IPv6",
                f->dst.family);
        return PW_E_MALFORMED;
    }
    if (f->src.family != f->dst.family) {
        set_err(err, errlen,
                "source and destination must be of one family (source is %s, destination %s)",
                family_name(f->src.family), family_name(f->dst.family));
        return PW_E_MALFORMED;
    }
    /* The kernel would fill in an unspecified source, but UDP, TCP and ICMPv6 checksums
     * cover it, so the probe would go out with a wrong checksum. */
    if (addr_unspecified(&f->src)) {
        set_err(err, errlen, "source address must be set (got %s)", v4 ? "0.0.0.0" : "::");
        return PW_E_MALFORMED;
    }
    if (addr_unspecified(&f->dst)) {
        set_err(err, errlen, "destination address must be set (got %s)", v4 ? "0.0.0.0" : "::");
        return PW_E_MALFORMED;
    }
    if (f->proto != PW_PROTO_ICMP) {
        if (f->dport == 0) {
            set_err(err, errlen, "destination port must be between 1 and 65535 for %s (got 0)",
                    proto_upper(f->proto));
            return PW_E_RANGE;
        }
        if (f->sport == 0) {
            set_err(err, errlen, "source port must be between 1 and 65535 for %s (got 0)",
                    proto_upper(f->proto));
            return PW_E_RANGE;
        }
    }
    /* ICMP and UDP carry the compensation word in the payload, so need two bytes of it. */
    hdr_len = f->proto == PW_PROTO_TCP ? PW_TCP_HDR_LEN : PW_ICMP_HDR_LEN;
    min = f->proto == PW_PROTO_TCP ? 0 : 2;
    max = PW_PROBE_MAX_LEN - ip_len - hdr_len;
    if (f->payload_len < min || f->payload_len > max) {
        set_err(err, errlen, "packet size must be between %u and %u bytes for %s over %s (got %u)",
                min, max, proto_upper(f->proto), family_name(f->dst.family),
                (unsigned)f->payload_len);
        return PW_E_RANGE;
    }
    return 0;
}

/* Builds the transport and IP headers with libnet and copies them into t->pkt. */
static int build_headers(struct pw_probe_tmpl *t, char *err, size_t errlen)
{
    const struct pw_flow *f = &t->flow;
    int v4 = f->dst.family == AF_INET;
    uint16_t l4_len = (uint16_t)(t->len - t->l4_off);
    char lerr[LIBNET_ERRBUF_SIZE];
    libnet_ptag_t l4_tag = -1, ip_tag = -1;
    uint8_t ip_proto = 0;
    const uint8_t *buf;
    libnet_t *l;
    int rc = 0;

    lerr[0] = '\0';
    l = libnet_init(LIBNET_NONE, NULL, lerr);
    if (l == NULL) {
        set_err(err, errlen, "cannot start libnet: %s", lerr);
        return -ENOMEM;
    }
    /* Checksums are passed as 0: libnet fills them in only when it coalesces a packet, which
     * we do not ask for; pw_probe_tmpl_init() computes them over the finished template. */
    switch (f->proto) {
    case PW_PROTO_ICMP:
        if (v4) {
            ip_proto = IPPROTO_ICMP;
            l4_tag = libnet_build_icmpv4_echo(ICMP_ECHO, 0, 0, f->sport, 0, NULL, 0, l, 0);
        } else {
            ip_proto = IPPROTO_ICMPV6;
            l4_tag = libnet_build_icmpv6_echo(ICMP6_ECHO_REQUEST, 0, 0, f->sport, 0, NULL, 0, l, 0);
        }
        break;
    case PW_PROTO_UDP:
        ip_proto = IPPROTO_UDP;
        l4_tag = libnet_build_udp(f->sport, f->dport, l4_len, 0, NULL, 0, l, 0);
        break;
    case PW_PROTO_TCP:
        ip_proto = IPPROTO_TCP;
        l4_tag = libnet_build_tcp(f->sport, f->dport, (uint32_t)f->tcp_seq_hi << 16, 0, TH_SYN,
                                  PW_TCP_WINDOW, 0, 0, l4_len, NULL, 0, l, 0);
        break;
    }
    if (l4_tag == -1) {
        set_err(err, errlen, "libnet cannot build the %s header: %s", proto_upper(f->proto),
                libnet_geterror(l));
        rc = -ENOMEM;
        goto out;
    }
    if (v4) {
        ip_tag = libnet_build_ipv4(t->len, 0, 0, PW_IP4_DF, PW_TMPL_TTL, ip_proto, 0,
                                   f->src.u.v4.s_addr, f->dst.u.v4.s_addr, NULL, 0, l, 0);
    } else {
        struct libnet_in6_addr src6, dst6;

        memcpy(&src6, &f->src.u.v6, sizeof(src6));
        memcpy(&dst6, &f->dst.u.v6, sizeof(dst6));
        /* Traffic class and flow label 0: the flow label is part of the ECMP hash. */
        ip_tag = libnet_build_ipv6(0, 0, l4_len, ip_proto, PW_TMPL_TTL, src6, dst6, NULL, 0, l, 0);
    }
    if (ip_tag == -1) {
        set_err(err, errlen, "libnet cannot build the %s header: %s", family_name(f->dst.family),
                libnet_geterror(l));
        rc = -ENOMEM;
        goto out;
    }

    /* Sizes are checked so a libnet that builds differently fails here, not on the wire. */
    buf = libnet_getpbuf(l, ip_tag);
    if (buf == NULL || libnet_getpbuf_size(l, ip_tag) != t->l4_off) {
        set_err(err, errlen, "libnet built an IP header of unexpected size");
        rc = -EINVAL;
        goto out;
    }
    memcpy(t->pkt, buf, t->l4_off);
    buf = libnet_getpbuf(l, l4_tag);
    if (buf == NULL || libnet_getpbuf_size(l, l4_tag) != (uint32_t)(l4_len - f->payload_len)) {
        set_err(err, errlen, "libnet built a %s header of unexpected size", proto_upper(f->proto));
        rc = -EINVAL;
        goto out;
    }
    memcpy(t->pkt + t->l4_off, buf, l4_len - f->payload_len);
out:
    libnet_destroy(l);
    return rc;
}

/* Sum of the pseudo-header UDP, TCP and ICMPv6 checksums cover. */
static uint32_t pseudo_sum(const struct pw_flow *f, uint8_t ip_proto, uint16_t l4_len)
{
    uint32_t sum;

    if (f->dst.family == AF_INET) {
        sum = pw_csum_add(0, &f->src.u.v4, 4);
        sum = pw_csum_add(sum, &f->dst.u.v4, 4);
    } else {
        sum = pw_csum_add(0, &f->src.u.v6, 16);
        sum = pw_csum_add(sum, &f->dst.u.v6, 16);
    }
    return sum + ip_proto + l4_len;
}

int pw_probe_tmpl_init(struct pw_probe_tmpl *t, const struct pw_flow *flow, char *err,
                       size_t errlen)
{
    int v4, rc;
    uint16_t l4_len, hdr_len;
    uint8_t *l4, *payload;
    uint32_t sum;
    size_t i, pat;

    memset(t, 0, sizeof(*t));
    rc = check_flow(flow, err, errlen);
    if (rc)
        return rc;
    t->flow = *flow;
    v4 = flow->dst.family == AF_INET;
    hdr_len = flow->proto == PW_PROTO_TCP ? PW_TCP_HDR_LEN : PW_ICMP_HDR_LEN;
    l4_len = (uint16_t)(hdr_len + flow->payload_len);
    t->l4_off = v4 ? PW_IP4_HDR_LEN : PW_IP6_HDR_LEN;
    t->len = (uint16_t)(t->l4_off + l4_len);
    t->comp_off = flow->proto == PW_PROTO_TCP ? (uint16_t)(t->l4_off + PW_TCP_CSUM_OFF)
                                              : (uint16_t)(t->l4_off + hdr_len);

    rc = build_headers(t, err, errlen);
    if (rc) {
        memset(t, 0, sizeof(*t));
        return rc;
    }

    l4 = t->pkt + t->l4_off;
    payload = l4 + hdr_len;
    /* The pattern starts after the compensation word so it reads whole in a dump. */
    pat = flow->proto == PW_PROTO_TCP ? 0 : 2;
    for (i = pat; i < flow->payload_len; i++)
        payload[i] = (uint8_t)pw_payload_pattern[(i - pat) % (sizeof(pw_payload_pattern) - 1)];
    /* The id word and the fixing word are zero in the template, so base_csum sums the rest. */
    put16(l4 + PW_ID_OFF, 0);
    put16(t->pkt + t->comp_off, 0);

    switch (flow->proto) {
    case PW_PROTO_ICMP:
        put16(l4 + 2, flow->icmp_csum);
        sum = v4 ? 0 : pseudo_sum(flow, IPPROTO_ICMPV6, l4_len);
        break;
    case PW_PROTO_UDP:
        sum = pseudo_sum(flow, IPPROTO_UDP, l4_len);
        break;
    case PW_PROTO_TCP:
    default:
        sum = pseudo_sum(flow, IPPROTO_TCP, l4_len);
        break;
    }
    t->base_csum = (uint16_t)pw_csum_add(sum, l4, l4_len);

    /* Leave a valid packet behind, though every probe is stamped anyway. */
    pw_probe_stamp(t, PW_TMPL_TTL, 1);
    return 0;
}

void pw_probe_stamp(struct pw_probe_tmpl *t, uint8_t ttl, uint16_t probe_id)
{
    uint8_t *pkt = t->pkt;

    put16(pkt + t->l4_off + PW_ID_OFF, probe_id);
    put16(pkt + t->comp_off, pw_csum_fold((uint32_t)t->base_csum + probe_id));
    if (t->l4_off == PW_IP4_HDR_LEN) {
        /* The IP id only has to differ between probes; the probe id does that for free. */
        put16(pkt + 4, probe_id);
        pkt[8] = ttl;
        put16(pkt + 10, 0);
        put16(pkt + 10, pw_csum_fold(pw_csum_add(0, pkt, PW_IP4_HDR_LEN)));
    } else {
        pkt[7] = ttl;
    }
}
