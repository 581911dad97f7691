/*
 * dns.c - minimal authoritative answers for the simulated resolver
 */
#include "dns.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define DNS_HDR 12
#define TYPE_A 1
#define TYPE_PTR 12
#define TYPE_AAAA 28
#define TYPE_ANY 255
#define CLASS_IN 1
#define RCODE_NXDOMAIN 3
#define RCODE_NOTIMP 4
#define RCODE_REFUSED 5
#define MAX_LABELS 128 /* a 255-byte name has at most 127 labels */

struct qname {
    const uint8_t *wire; /* the name as it appears in the query */
    size_t len;          /* wire length including the root label */
    size_t nlabels;
    size_t off[MAX_LABELS]; /* offset of each label's length byte within wire */
};

struct query {
    uint16_t id, flags, qtype, qclass;
    struct qname name;
    size_t qend; /* offset just past the question */
};

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Parse a query's header and single question; false for anything we will not answer. */
static bool parse_query(const uint8_t *q, size_t qlen, struct query *out)
{
    size_t off = DNS_HDR;

    if (qlen < DNS_HDR)
        return false;
    out->id = rd16(q);
    out->flags = rd16(q + 2);
    if ((out->flags & 0x8000) != 0 || rd16(q + 4) != 1)
        return false;
    out->name.wire = q + off;
    out->name.nlabels = 0;
    for (;;) {
        uint8_t l;

        if (off >= qlen)
            return false;
        l = q[off];
        if (l == 0)
            break;
        /* Compression pointers and extended label types have no place in a question. */
        if (l > 63 || out->name.nlabels == MAX_LABELS)
            return false;
        out->name.off[out->name.nlabels++] = off - DNS_HDR;
        off += 1u + l;
        if (off - DNS_HDR + 1 > PW_SIM_MAX_NAME_WIRE)
            return false;
    }
    off++;
    out->name.len = off - DNS_HDR;
    if (off + 4 > qlen)
        return false;
    out->qtype = rd16(q + off);
    out->qclass = rd16(q + off + 2);
    out->qend = off + 4;
    return true;
}

static bool label_is(const struct qname *n, size_t i, const char *s)
{
    const uint8_t *l = n->wire + n->off[i];
    size_t len = strlen(s);

    if (l[0] != len)
        return false;
    for (size_t j = 0; j < len; j++) {
        uint8_t c = l[1 + j];

        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c + 32);
        if (c != (uint8_t)s[j])
            return false;
    }
    return true;
}

/* Decimal octet label of an in-addr.arpa name, canonical form only ("0".."255"). */
static int octet(const uint8_t *l)
{
    int v = 0;

    if (l[0] < 1 || l[0] > 3 || (l[0] > 1 && l[1] == '0'))
        return -1;
    for (size_t i = 1; i <= l[0]; i++) {
        if (l[i] < '0' || l[i] > '9')
            return -1;
        v = v * 10 + (l[i] - '0');
    }
    return v <= 255 ? v : -1;
}

static int nibble(const uint8_t *l)
{
    uint8_t c = l[1];

    if (l[0] != 1)
        return -1;
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Turn a full reverse name into an address; 0 if the name is no full reverse name. */
static int reverse_addr(const struct qname *n, uint8_t *addr)
{
    if (n->nlabels == 6 && label_is(n, 4, "in-addr") && label_is(n, 5, "arpa")) {
        for (size_t i = 0; i < 4; i++) {
            int v = octet(n->wire + n->off[i]);

            if (v < 0)
                return 0;
            addr[3 - i] = (uint8_t)v;
        }
        return AF_INET;
    }
    if (n->nlabels == 34 && label_is(n, 32, "ip6") && label_is(n, 33, "arpa")) {
        memset(addr, 0, 16);
        for (size_t i = 0; i < 32; i++) {
            int v = nibble(n->wire + n->off[i]);

            if (v < 0)
                return 0;
            /* Labels run from the lowest nibble up. */
            addr[15 - i / 2] |= (uint8_t)(i % 2 == 0 ? v : v << 4);
        }
        return AF_INET6;
    }
    return 0;
}

struct writer {
    uint8_t *buf;
    size_t cap, len;
    bool overflow;
};

static void put(struct writer *w, const void *p, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put16(struct writer *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

    put(w, b, 2);
}

static void put32(struct writer *w, uint32_t v)
{
    put16(w, (uint16_t)(v >> 16));
    put16(w, (uint16_t)v);
}

/* One resource record owned by the question name (compression pointer to offset 12). */
static void put_rr(struct writer *w, uint16_t type, uint32_t ttl, const void *rdata, size_t len)
{
    put16(w, 0xc000 | DNS_HDR);
    put16(w, type);
    put16(w, CLASS_IN);
    put32(w, ttl);
    put16(w, (uint16_t)len);
    put(w, rdata, len);
}

static size_t respond(const uint8_t *q, const struct query *qu, uint16_t rcode, uint16_t ancount,
                      struct writer *w)
{
    /* QR, opcode copied, AA, RD copied, RA: we play the resolver and the authority at once. */
    uint16_t flags =
        (uint16_t)(0x8000 | (qu->flags & 0x7800) | 0x0400 | (qu->flags & 0x0100) | 0x0080 | rcode);

    w->len = 0;
    w->overflow = false;
    put16(w, qu->id);
    put16(w, flags);
    put16(w, 1);
    put16(w, ancount);
    put16(w, 0);
    put16(w, 0);
    put(w, q + DNS_HDR, qu->qend - DNS_HDR);
    return w->overflow ? 0 : w->len;
}

size_t pw_sim_dns_answer(const struct pw_sim_scenario *scn, const uint8_t *q, size_t qlen,
                         uint8_t *out, size_t cap)
{
    struct writer w = {out, cap < PW_SIM_DNS_UDP_MAX ? cap : PW_SIM_DNS_UDP_MAX, 0, false};
    const struct pw_sim_hostname *h = NULL;
    const struct pw_sim_node *node = NULL;
    struct query qu;
    uint8_t addr[16];
    uint16_t an = 0;
    bool want_ptr, want_a, want_aaaa;
    int fam;

    if (!parse_query(q, qlen, &qu))
        return 0;
    if (((qu.flags >> 11) & 0xf) != 0)
        return respond(q, &qu, RCODE_NOTIMP, 0, &w);
    if (qu.qclass != CLASS_IN && qu.qclass != TYPE_ANY)
        return respond(q, &qu, RCODE_REFUSED, 0, &w);

    want_ptr = qu.qtype == TYPE_PTR || qu.qtype == TYPE_ANY;
    want_a = qu.qtype == TYPE_A || qu.qtype == TYPE_ANY;
    want_aaaa = qu.qtype == TYPE_AAAA || qu.qtype == TYPE_ANY;
    fam = reverse_addr(&qu.name, addr);
    if (fam != 0) {
        node = pw_sim_scenario_find_node(scn, fam, addr);
        if (node != NULL && node->name == NULL)
            node = NULL;
    } else {
        h = pw_sim_scenario_find_name(scn, qu.name.wire, qu.name.len);
    }
    if (node == NULL && h == NULL)
        return respond(q, &qu, RCODE_NXDOMAIN, 0, &w);

    if (node != NULL && want_ptr)
        an = 1;
    if (h != NULL)
        an = (uint16_t)((want_a ? h->naddr4 : 0) + (want_aaaa ? h->naddr6 : 0));
    if (respond(q, &qu, 0, an, &w) == 0)
        return 0;
    if (node != NULL && want_ptr)
        put_rr(&w, TYPE_PTR, node->name_ttl, node->name_wire, node->name_wire_len);
    for (size_t i = 0; h != NULL && want_a && i < h->naddr4; i++)
        put_rr(&w, TYPE_A, h->ttl, &h->addr4[i], 4);
    for (size_t i = 0; h != NULL && want_aaaa && i < h->naddr6; i++)
        put_rr(&w, TYPE_AAAA, h->ttl, &h->addr6[i], 16);
    if (w.overflow) {
        /* Cannot happen with the scenario limits, but a truncated answer is the honest one. */
        size_t n = respond(q, &qu, 0, 0, &w);

        if (n >= 4)
            out[2] |= 0x02;
        return n;
    }
    return w.len;
}

void pw_sim_dns_describe(const uint8_t *q, size_t qlen, char *buf, size_t len)
{
    struct query qu;
    size_t o = 0;

    if (len == 0)
        return;
    buf[0] = '\0';
    if (!parse_query(q, qlen, &qu)) {
        snprintf(buf, len, "malformed query (%zu bytes)", qlen);
        return;
    }
    o = (size_t)snprintf(buf, len, "id %u type %u ", qu.id, qu.qtype);
    if (o >= len)
        return;
    for (size_t i = 0; i < qu.name.nlabels && o + 5 < len; i++) {
        const uint8_t *l = qu.name.wire + qu.name.off[i];

        for (size_t j = 1; j <= l[0] && o + 5 < len; j++) {
            if (l[j] >= 0x21 && l[j] < 0x7f && l[j] != '\\')
                buf[o++] = (char)l[j];
            else
                o += (size_t)snprintf(buf + o, len - o, "\\x%02x", l[j]);
        }
        if (o + 1 < len)
            buf[o++] = '.';
    }
    buf[o < len ? o : len - 1] = '\0';
}
