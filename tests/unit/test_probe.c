/* Unit tests for libtrace/probe.c: canned probes compared byte for byte, the Paris checksum
 * invariants over every probe id, payload limits and their messages.
 *
 * The expected packets were derived independently of probe.c (Python, own checksum code, no
 * libnet) by tests/fuzz/gen_corpus.py ("gen_corpus.py c probe"); the invariant checks below use
 * their own checksum routine too, not pw_csum_*.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "error.h"
#include "probe.h"

/* 192.0.2.1 -> 198.51.100.7 and 2001:db8::1 -> 2001:db8:1::7, TTL 5, probe id 0x0102;
 * ICMP: id 0x1234, checksum 0xbeef, 8 payload bytes; UDP: 40000 -> 33434, 8 payload bytes;
 * TCP: 40001 -> 80, seq high half 0xabcd, no payload. */
static const uint8_t probe_icmp4[] = {
    0x45, 0x00, 0x00, 0x24, 0x01, 0x02, 0x40, 0x00, 0x05, 0x01, 0x88, 0x9b,
    0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x07, 0x08, 0x00, 0xbe, 0xef,
    0x12, 0x34, 0x01, 0x02, 0x0f, 0xa8, 0x50, 0x69, 0x6e, 0x67, 0x57, 0x61,
};

static const uint8_t probe_udp4[] = {
    0x45, 0x00, 0x00, 0x24, 0x01, 0x02, 0x40, 0x00, 0x05, 0x11, 0x88, 0x8b,
    0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x07, 0x9c, 0x40, 0x82, 0x9a,
    0x00, 0x10, 0x01, 0x02, 0xdd, 0x82, 0x50, 0x69, 0x6e, 0x67, 0x57, 0x61,
};

static const uint8_t probe_tcp4[] = {
    0x45, 0x00, 0x00, 0x28, 0x01, 0x02, 0x40, 0x00, 0x05, 0x06, 0x88, 0x92, 0xc0, 0x00,
    0x02, 0x01, 0xc6, 0x33, 0x64, 0x07, 0x9c, 0x41, 0x00, 0x50, 0xab, 0xcd, 0x01, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0xfa, 0xf0, 0x7f, 0x54, 0x00, 0x00,
};

static const uint8_t probe_icmp6[] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x3a, 0x05, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x80, 0x00,
    0xbe, 0xef, 0x12, 0x34, 0x01, 0x02, 0x3b, 0xe2, 0x50, 0x69, 0x6e, 0x67, 0x57, 0x61,
};

static const uint8_t probe_udp6[] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x05, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x9c, 0x40,
    0x82, 0x9a, 0x00, 0x10, 0x01, 0x02, 0x6e, 0x44, 0x50, 0x69, 0x6e, 0x67, 0x57, 0x61,
};

static const uint8_t probe_tcp6[] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x05, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x9c, 0x41, 0x00, 0x50, 0xab,
    0xcd, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0xfa, 0xf0, 0x10, 0x16, 0x00, 0x00,
};

static struct pw_addr addr(const char *text)
{
    struct pw_addr a;

    memset(&a, 0, sizeof(a));
    if (inet_pton(AF_INET, text, &a.u.v4) == 1) {
        a.family = AF_INET;
    } else if (inet_pton(AF_INET6, text, &a.u.v6) == 1) {
        a.family = AF_INET6;
    } else {
        fprintf(stderr, "bad test address %s\n", text);
        CHECK(0);
    }
    return a;
}

static struct pw_flow flow(enum pw_proto proto, int family, uint16_t payload_len)
{
    struct pw_flow f;

    memset(&f, 0, sizeof(f));
    f.proto = proto;
    f.src = addr(family == AF_INET ? "192.0.2.1" : "2001:db8::1");
    f.dst = addr(family == AF_INET ? "198.51.100.7" : "2001:db8:1::7");
    f.payload_len = payload_len;
    switch (proto) {
    case PW_PROTO_ICMP:
        f.sport = 0x1234;
        f.icmp_csum = 0xbeef;
        break;
    case PW_PROTO_UDP:
        f.sport = 40000;
        f.dport = 33434;
        break;
    case PW_PROTO_TCP:
        f.sport = 40001;
        f.dport = 80;
        f.tcp_seq_hi = 0xabcd;
        break;
    }
    return f;
}

static unsigned rd16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* RFC 1071, written out the slow way on purpose: independent of pw_csum_add. */
static unsigned slow_sum(const uint8_t *p, size_t len, unsigned long acc)
{
    size_t i;

    for (i = 0; i < len; i++)
        acc += i % 2 ? p[i] : (unsigned long)p[i] << 8;
    while (acc > 0xffff)
        acc = (acc & 0xffff) + (acc >> 16);
    return (unsigned)acc;
}

/* Ones'-complement sum of the whole transport segment with its pseudo-header (none for
 * ICMPv4): 0xffff when the checksum verifies. */
static unsigned l4_sum(const struct pw_probe_tmpl *t)
{
    const uint8_t *p = t->pkt;
    size_t l4_len = (size_t)t->len - t->l4_off;
    unsigned long acc = 0;
    int v4 = t->flow.dst.family == AF_INET;
    uint8_t proto = v4 ? p[9] : p[6];

    if (!(v4 && proto == 1)) {
        acc = v4 ? slow_sum(p + 12, 8, 0) : slow_sum(p + 8, 32, 0);
        acc += proto + l4_len;
    }
    return slow_sum(p + t->l4_off, l4_len, acc);
}

static void test_canned(void)
{
    static const struct {
        const char *name;
        enum pw_proto proto;
        int family;
        uint16_t payload_len;
        const uint8_t *want;
        size_t want_len;
    } cases[] = {
        {"icmp4", PW_PROTO_ICMP, AF_INET, 8, probe_icmp4, sizeof(probe_icmp4)},
        {"udp4", PW_PROTO_UDP, AF_INET, 8, probe_udp4, sizeof(probe_udp4)},
        {"tcp4", PW_PROTO_TCP, AF_INET, 0, probe_tcp4, sizeof(probe_tcp4)},
        {"icmp6", PW_PROTO_ICMP, AF_INET6, 8, probe_icmp6, sizeof(probe_icmp6)},
        {"udp6", PW_PROTO_UDP, AF_INET6, 8, probe_udp6, sizeof(probe_udp6)},
        {"tcp6", PW_PROTO_TCP, AF_INET6, 0, probe_tcp6, sizeof(probe_tcp6)},
    };
    struct pw_probe_tmpl t;
    char err[160];
    size_t i, j;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pw_flow f = flow(cases[i].proto, cases[i].family, cases[i].payload_len);

        err[0] = '\0';
        CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), 0);
        CHECK_STR(err, "");
        CHECK_INT(t.len, cases[i].want_len);
        CHECK_INT(t.l4_off, cases[i].family == AF_INET ? 20 : 40);
        /* Stamp something else first: the result must not depend on earlier stamps. */
        pw_probe_stamp(&t, 200, 0xfedc);
        pw_probe_stamp(&t, 5, 0x0102);
        if (t.len == cases[i].want_len) {
            CHECK_MEM(t.pkt, cases[i].want, t.len);
            for (j = 0; j < t.len; j++) {
                if (t.pkt[j] != cases[i].want[j])
                    fprintf(stderr, "  %s: byte %zu is 0x%02x, want 0x%02x\n", cases[i].name, j,
                            t.pkt[j], cases[i].want[j]);
            }
        }
    }
}

static void check_ip_header(const struct pw_probe_tmpl *t, uint8_t ttl, uint16_t id)
{
    if (t->flow.dst.family == AF_INET) {
        CHECK_INT(t->pkt[8], ttl);
        CHECK_INT(rd16(t->pkt + 4), id);
        CHECK_INT(rd16(t->pkt + 6), 0x4000); /* DF, no fragment offset */
        CHECK_INT(t->pkt[1], 0);             /* TOS */
        CHECK_INT(slow_sum(t->pkt, 20, 0), 0xffff);
    } else {
        CHECK_INT(t->pkt[7], ttl);
        /* Version 6, traffic class 0, flow label 0. */
        CHECK_INT(rd16(t->pkt), 0x6000);
        CHECK_INT(rd16(t->pkt + 2), 0);
    }
}

/* Runs fn's checks over every probe id, counting failures once per id so a broken invariant
 * does not print 65536 lines. */
static void test_icmp_checksum_constant(void)
{
    static const int families[] = {AF_INET, AF_INET6};
    struct pw_probe_tmpl t;
    unsigned id, k, bad;

    for (k = 0; k < 2; k++) {
        struct pw_flow f = flow(PW_PROTO_ICMP, families[k], PW_DEFAULT_PAYLOAD_ICMP);

        CHECK_INT(pw_probe_tmpl_init(&t, &f, NULL, 0), 0);
        bad = 0;
        for (id = 0; id <= 0xffff; id++) {
            uint8_t ttl = (uint8_t)(id % 255 + 1);

            pw_probe_stamp(&t, ttl, (uint16_t)id);
            if (rd16(t.pkt + t.l4_off + 2) != 0xbeef || rd16(t.pkt + t.l4_off + 6) != id ||
                rd16(t.pkt + t.l4_off + 4) != 0x1234 || l4_sum(&t) != 0xffff)
                bad++;
            if (id % 4099 == 0)
                check_ip_header(&t, ttl, (uint16_t)id);
        }
        CHECK_INT(bad, 0);
    }
}

static void test_udp_checksum_is_probe_id(void)
{
    static const int families[] = {AF_INET, AF_INET6};
    struct pw_probe_tmpl t;
    unsigned id, k, bad, std;

    for (k = 0; k < 2; k++) {
        struct pw_flow f = flow(PW_PROTO_UDP, families[k], PW_DEFAULT_PAYLOAD_UDP);

        CHECK_INT(pw_probe_tmpl_init(&t, &f, NULL, 0), 0);
        bad = 0;
        for (id = 1; id <= 0xffff; id++) {
            uint8_t *udp = t.pkt + t.l4_off;

            pw_probe_stamp(&t, 7, (uint16_t)id);
            /* On the wire, and as any sender would compute it (0 is sent as 0xffff). */
            std = 0;
            if (rd16(udp + 6) == id && l4_sum(&t) == 0xffff) {
                udp[6] = 0;
                udp[7] = 0;
                std = 0xffff & ~l4_sum(&t);
                if (std == 0)
                    std = 0xffff;
                udp[6] = (uint8_t)(id >> 8);
                udp[7] = (uint8_t)id;
            }
            if (std != id || rd16(udp) != 40000 || rd16(udp + 2) != 33434 ||
                rd16(udp + 4) != 8 + PW_DEFAULT_PAYLOAD_UDP)
                bad++;
            if (id % 4099 == 0)
                check_ip_header(&t, 7, (uint16_t)id);
        }
        CHECK_INT(bad, 0);
    }
}

static void test_tcp_sequence(void)
{
    static const int families[] = {AF_INET, AF_INET6};
    struct pw_probe_tmpl t;
    unsigned id, k, bad;

    for (k = 0; k < 2; k++) {
        struct pw_flow f = flow(PW_PROTO_TCP, families[k], 0);

        CHECK_INT(pw_probe_tmpl_init(&t, &f, NULL, 0), 0);
        bad = 0;
        for (id = 0; id <= 0xffff; id++) {
            const uint8_t *tcp = t.pkt + t.l4_off;

            pw_probe_stamp(&t, 30, (uint16_t)id);
            if (rd16(tcp + 4) != 0xabcd || rd16(tcp + 6) != id || l4_sum(&t) != 0xffff ||
                tcp[13] != 0x02 || rd16(tcp + 8) != 0 || rd16(tcp + 10) != 0)
                bad++;
        }
        CHECK_INT(bad, 0);
        /* With a payload (allowed for TCP, not the default) the checksum still verifies. */
        f.payload_len = 100;
        CHECK_INT(pw_probe_tmpl_init(&t, &f, NULL, 0), 0);
        pw_probe_stamp(&t, 3, 0x8001);
        CHECK_INT(l4_sum(&t), 0xffff);
        CHECK_MEM(t.pkt + t.l4_off + 20, "PingWatcher PingWatcher ", 24);
    }
}

/* Stamping changes only the TTL, the probe id, the word that fixes the checksum and, for
 * IPv4, the IP id and header checksum: everything else is the flow, identical in every probe. */
static void test_stamp_changes_few_bytes(void)
{
    static const enum pw_proto protos[] = {PW_PROTO_ICMP, PW_PROTO_UDP, PW_PROTO_TCP};
    static const int families[] = {AF_INET, AF_INET6};
    struct pw_probe_tmpl t;
    uint8_t before[PW_PROBE_MAX_LEN];
    unsigned p, k, i, changed, allowed;

    for (p = 0; p < 3; p++) {
        for (k = 0; k < 2; k++) {
            struct pw_flow f = flow(protos[p], families[k], 64);

            CHECK_INT(pw_probe_tmpl_init(&t, &f, NULL, 0), 0);
            pw_probe_stamp(&t, 1, 0x1111);
            memcpy(before, t.pkt, t.len);
            pw_probe_stamp(&t, 254, 0xeeee);
            changed = 0;
            for (i = 0; i < t.len; i++) {
                int ok = i == (unsigned)t.l4_off + 6 || i == (unsigned)t.l4_off + 7 ||
                         i == t.comp_off || i == (unsigned)t.comp_off + 1;

                if (families[k] == AF_INET)
                    ok = ok || i == 4 || i == 5 || i == 8 || i == 10 || i == 11;
                else
                    ok = ok || i == 7;
                if (t.pkt[i] != before[i]) {
                    changed++;
                    CHECK(ok);
                }
            }
            allowed = families[k] == AF_INET ? 9 : 5;
            CHECK(changed <= allowed);
            CHECK(changed >= 3);
        }
    }
}

static void test_payload(void)
{
    struct pw_probe_tmpl t;
    struct pw_flow f = flow(PW_PROTO_UDP, AF_INET, PW_DEFAULT_PAYLOAD_UDP);
    static const char want[] = "PingWatcher PingWatcher PingWatcher PingWatcher PingWatc";

    CHECK_INT(pw_probe_tmpl_init(&t, &f, NULL, 0), 0);
    CHECK_INT(t.len, 20 + 8 + 56);
    CHECK_INT(t.comp_off, 28);
    /* The compensation word, then the pattern. */
    CHECK_MEM(t.pkt + 30, want, 54);
    /* A fresh template is already a valid packet (TTL 64, probe id 1). */
    CHECK_INT(t.pkt[8], 64);
    CHECK_INT(rd16(t.pkt + 26), 1);
    CHECK_INT(l4_sum(&t), 0xffff);
    CHECK_INT(slow_sum(t.pkt, 20, 0), 0xffff);
}

struct limit_case {
    enum pw_proto proto;
    int family;
    unsigned min, max;
    const char *name;
};

static void test_limits(void)
{
    static const struct limit_case cases[] = {
        {PW_PROTO_ICMP, AF_INET, 2, 1472, "ICMP over IPv4"},
        {PW_PROTO_ICMP, AF_INET6, 2, 1452, "ICMP over IPv6"},
        {PW_PROTO_UDP, AF_INET, 2, 1472, "UDP over IPv4"},
        {PW_PROTO_UDP, AF_INET6, 2, 1452, "UDP over IPv6"},
        {PW_PROTO_TCP, AF_INET, 0, 1460, "TCP over IPv4"},
        {PW_PROTO_TCP, AF_INET6, 0, 1440, "TCP over IPv6"},
    };
    struct pw_probe_tmpl t;
    char err[160], want[160];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct limit_case *c = &cases[i];
        struct pw_flow f = flow(c->proto, c->family, (uint16_t)c->max);

        CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), 0);
        CHECK_INT(t.len, PW_PROBE_MAX_LEN);
        pw_probe_stamp(&t, 9, 77);
        CHECK_INT(l4_sum(&t), 0xffff);

        f.payload_len = (uint16_t)c->min;
        CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), 0);
        pw_probe_stamp(&t, 9, 77);
        CHECK_INT(l4_sum(&t), 0xffff);

        f.payload_len = (uint16_t)(c->max + 1);
        CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), PW_E_RANGE);
        snprintf(want, sizeof(want), "packet size must be between %u and %u bytes for %s (got %u)",
                 c->min, c->max, c->name, c->max + 1);
        CHECK_STR(err, want);

        f.payload_len = 9000;
        CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), PW_E_RANGE);
        snprintf(want, sizeof(want),
                 "packet size must be between %u and %u bytes for %s (got 9000)", c->min, c->max,
                 c->name);
        CHECK_STR(err, want);

        if (c->min > 0) {
            f.payload_len = (uint16_t)(c->min - 1);
            CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), PW_E_RANGE);
        }
    }
    /* The example of probe.h, word for word. */
    {
        struct pw_flow f = flow(PW_PROTO_ICMP, AF_INET, 9000);

        CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), PW_E_RANGE);
        CHECK_STR(err,
                  "packet size must be between 2 and 1472 bytes for ICMP over IPv4 (got 9000)");
    }
}

static void test_flow_errors(void)
{
    struct pw_probe_tmpl t;
    struct pw_flow f;
    char err[160], tiny[8];

    f = flow(PW_PROTO_UDP, AF_INET, 56);
    f.src = addr("2001:db8::1");
    CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), PW_E_MALFORMED);
    CHECK_STR(err,
              "source and destination must be of one family (source is IPv6, destination IPv4)");

    f = flow(PW_PROTO_ICMP, AF_INET6, 56);
    f.dst.family = AF_UNIX;
    CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), PW_E_MALFORMED);

    f = flow(PW_PROTO_UDP, AF_INET, 56);
    f.dport = 0;
    CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), PW_E_RANGE);
    CHECK_STR(err, "destination port must be between 1 and 65535 for UDP (got 0)");

    f = flow(PW_PROTO_TCP, AF_INET6, 0);
    f.sport = 0;
    CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), PW_E_RANGE);
    CHECK_STR(err, "source port must be between 1 and 65535 for TCP (got 0)");

    /* ICMP has no ports: identifier 0 and a stray dport are fine. */
    f = flow(PW_PROTO_ICMP, AF_INET, 56);
    f.sport = 0;
    f.dport = 0;
    CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), 0);

    f = flow(PW_PROTO_UDP, AF_INET, 56);
    f.proto = (enum pw_proto)7;
    CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), PW_E_MALFORMED);
    CHECK_STR(err, "unknown protocol 7 (use icmp, udp or tcp)");

    f = flow(PW_PROTO_UDP, AF_INET, 56);
    f.src = addr("0.0.0.0");
    CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), PW_E_MALFORMED);
    CHECK_STR(err, "source address must be set (got 0.0.0.0)");

    f = flow(PW_PROTO_TCP, AF_INET6, 0);
    f.dst = addr("::");
    CHECK_INT(pw_probe_tmpl_init(&t, &f, err, sizeof(err)), PW_E_MALFORMED);
    CHECK_STR(err, "destination address must be set (got ::)");

    /* No buffer, or a small one: no crash, truncated text, always terminated. */
    f = flow(PW_PROTO_ICMP, AF_INET, 1);
    CHECK_INT(pw_probe_tmpl_init(&t, &f, NULL, 0), PW_E_RANGE);
    CHECK_INT(pw_probe_tmpl_init(&t, &f, tiny, sizeof(tiny)), PW_E_RANGE);
    CHECK_STR(tiny, "packet ");
    /* A failed init leaves nothing a caller could send by mistake. */
    CHECK_INT(t.len, 0);
}

static void test_proto_names(void)
{
    enum pw_proto p = PW_PROTO_TCP;

    CHECK_STR(pw_proto_name(PW_PROTO_ICMP), "icmp");
    CHECK_STR(pw_proto_name(PW_PROTO_UDP), "udp");
    CHECK_STR(pw_proto_name(PW_PROTO_TCP), "tcp");
    CHECK_INT(pw_proto_parse("ICMP", &p), 0);
    CHECK_INT(p, PW_PROTO_ICMP);
    CHECK_INT(pw_proto_parse("Udp", &p), 0);
    CHECK_INT(p, PW_PROTO_UDP);
    CHECK_INT(pw_proto_parse("tcp", &p), 0);
    CHECK_INT(p, PW_PROTO_TCP);
    CHECK_INT(pw_proto_parse("tcp ", &p), PW_E_MALFORMED);
    CHECK_INT(pw_proto_parse("", &p), PW_E_MALFORMED);
    CHECK_INT(pw_proto_parse("sctp", &p), PW_E_MALFORMED);
    CHECK_INT(pw_proto_parse(NULL, &p), PW_E_MALFORMED);
    CHECK_INT(p, PW_PROTO_TCP);
}

static void test_csum_helpers(void)
{
    /* The example of RFC 1071 section 3: sum 0xddf2, checksum 0x220d. */
    static const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    static const uint8_t odd[] = {0x12, 0x34, 0x56};
    uint8_t big[4000];
    uint32_t s;
    size_t i;

    CHECK_INT(pw_csum_add(0, rfc, sizeof(rfc)), 0xddf2);
    CHECK_INT(pw_csum_fold(pw_csum_add(0, rfc, sizeof(rfc))), 0x220d);
    /* Chained in even chunks gives the same sum. */
    s = pw_csum_add(0, rfc, 2);
    s = pw_csum_add(s, rfc + 2, 6);
    CHECK_INT(pw_csum_fold(s), 0x220d);
    /* An odd tail is padded with a zero byte. */
    CHECK_INT(pw_csum_add(0, odd, 3), 0x1234 + 0x5600);
    CHECK_INT(pw_csum_fold(0), 0xffff);
    CHECK_INT(pw_csum_fold(0x1fffe), 0);
    for (i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);
    CHECK_INT(pw_csum_add(0, big, sizeof(big)), slow_sum(big, sizeof(big), 0));
    CHECK_INT(pw_csum_add(0, big + 1, 1001), slow_sum(big + 1, 1001, 0));
}

/* Not a timed test: prints the cost so a regression is visible in the log, asserts only that
 * the last stamp is right. */
static void test_stamp_cost(void)
{
    struct pw_probe_tmpl t;
    struct pw_flow f = flow(PW_PROTO_UDP, AF_INET, PW_DEFAULT_PAYLOAD_UDP);
    struct timespec a, b;
    const unsigned n = 2000000;
    unsigned i;
    double ns;

    CHECK_INT(pw_probe_tmpl_init(&t, &f, NULL, 0), 0);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (i = 0; i < n; i++)
        pw_probe_stamp(&t, (uint8_t)(i % 30 + 1), (uint16_t)(i % 65535 + 1));
    clock_gettime(CLOCK_MONOTONIC, &b);
    ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
    fprintf(stderr, "     pw_probe_stamp: %.1f ns per probe (UDP over IPv4)\n", ns);
    CHECK_INT(rd16(t.pkt + 26), (n - 1) % 65535 + 1);
    CHECK_INT(l4_sum(&t), 0xffff);
}

int main(void)
{
    RUN(test_canned);
    RUN(test_icmp_checksum_constant);
    RUN(test_udp_checksum_is_probe_id);
    RUN(test_tcp_sequence);
    RUN(test_stamp_changes_few_bytes);
    RUN(test_payload);
    RUN(test_limits);
    RUN(test_flow_errors);
    RUN(test_proto_names);
    RUN(test_csum_helpers);
    RUN(test_stamp_cost);
    return check_exit();
}
