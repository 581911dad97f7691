/* Unit tests for libtrace/dns.c against a real DNS server on 127.0.0.1.
 *
 * A thread answers PTR queries from a small table (normal, NXDOMAIN, NODATA, SERVFAIL, never,
 * hostile, CNAME chain, compression loop, IPv6) and counts the queries it receives, so the tests
 * can assert how often the resolver really asked. Only loopback traffic: the resolver is given
 * this server instead of resolv.conf, and the addresses looked up are documentation prefixes
 * (RFC 5737, RFC 3849) that only ever appear inside query names.
 */
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "error.h"

#define T0 1000u /* an arbitrary CLOCK_MONOTONIC second for the cache */
#define TRIES 2  /* attempts per query, so a dropped or SERVFAIL query is seen TRIES times */
#define NEG_TTL 60

/* RUN() from check.h for tests that share one resolver. */
#define RUN_WITH(fn, arg)                                                                          \
    do {                                                                                           \
        int run_before_ = check_failures;                                                          \
        fn(arg);                                                                                   \
        fprintf(stderr, "%s %s\n", check_failures == run_before_ ? "ok  " : "FAIL", #fn);          \
    } while (0)

enum srv_kind {
    SRV_PTR,      /* one PTR record: ptr_wire, ttl */
    SRV_NXDOMAIN, /* rcode 3 */
    SRV_NODATA,   /* NOERROR, no answer */
    SRV_SERVFAIL, /* rcode 2 */
    SRV_DROP,     /* never answered */
    SRV_CNAME,    /* RFC 2317: CNAME (TTL 100) to a name that has the PTR (TTL 50) */
    SRV_LOOP,     /* PTR whose name is a compression pointer to itself */
};

struct srv_rec {
    const char *qname; /* lower case, no trailing dot */
    enum srv_kind kind;
    uint32_t ttl;
    uint8_t ptr_wire[512];
    size_t ptr_len;
    int count; /* queries received, under srv.lock */
};

struct srv {
    int fd;
    unsigned port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    struct srv_rec *recs;
    size_t nrecs;
    int gen_count[256]; /* queries for N.100.51.198.in-addr.arpa */
    int other_count;
};

/* Appends one label of raw bytes (any byte values, the server is meant to be hostile). */
static size_t put_label(uint8_t *out, const void *data, size_t len)
{
    out[0] = (uint8_t)len;
    memcpy(out + 1, data, len);
    return len + 1;
}

/* Encodes a plain dotted name (no escapes) with its root label. */
static size_t put_name(uint8_t *out, const char *dotted)
{
    size_t w = 0;

    while (*dotted) {
        size_t l = strcspn(dotted, ".");
        w += put_label(out + w, dotted, l);
        dotted += l;
        if (*dotted == '.')
            dotted++;
    }
    out[w++] = 0;
    return w;
}

static size_t put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

/* Writes an RR header whose owner is a compression pointer to name_off. */
static size_t put_rr(uint8_t *p, unsigned name_off, unsigned type, uint32_t ttl, size_t rdlen)
{
    size_t w = put16(p, 0xc000 | name_off);
    w += put16(p + w, type);
    w += put16(p + w, 1);
    w += put16(p + w, ttl >> 16);
    w += put16(p + w, ttl & 0xffff);
    w += put16(p + w, (unsigned)rdlen);
    return w;
}

static void srv_answer(struct srv *s, const uint8_t *q, size_t qlen, const struct sockaddr *from,
                       socklen_t fromlen)
{
    uint8_t r[1500];
    char qname[300];
    size_t pos = 12, w = 0, qend;
    unsigned rcode = 0, ancount = 0;
    struct srv_rec *rec = NULL;

    if (qlen < 12)
        return;
    while (pos < qlen && q[pos] != 0) {
        size_t l = q[pos];
        if (l > 63 || pos + 1 + l >= qlen || w + l + 1 >= sizeof(qname))
            return;
        if (w > 0)
            qname[w++] = '.';
        for (size_t i = 0; i < l; i++) {
            char c = (char)q[pos + 1 + i];
            qname[w++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        pos += 1 + l;
    }
    qname[w] = '\0';
    qend = pos + 1 + 4;
    if (qend > qlen)
        return;

    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->nrecs; i++) {
        if (strcmp(s->recs[i].qname, qname) == 0) {
            rec = &s->recs[i];
            rec->count++;
        }
    }
    unsigned gen = 0;
    int gen_len = 0;
    bool is_gen = !rec && sscanf(qname, "%u.100.51.198.in-addr.arpa%n", &gen, &gen_len) == 1 &&
                  (size_t)gen_len == strlen(qname) && gen < 256;
    if (is_gen)
        s->gen_count[gen]++;
    else if (!rec)
        s->other_count++;
    pthread_mutex_unlock(&s->lock);

    if (rec && rec->kind == SRV_DROP)
        return;

    /* header: same id, QR AA RA, RD copied; the question copied verbatim */
    memcpy(r, q, qend);
    r[2] = (uint8_t)(0x80 | 0x04 | (q[2] & 0x01));
    w = qend;
    if (is_gen) {
        char name[64];
        uint8_t wire[80];
        snprintf(name, sizeof(name), "gen-%u.example.net", gen);
        size_t n = put_name(wire, name);
        w += put_rr(r + w, 12, 12, 3600, n);
        memcpy(r + w, wire, n);
        w += n;
        ancount = 1;
    } else if (!rec || rec->kind == SRV_NXDOMAIN) {
        rcode = 3;
    } else if (rec->kind == SRV_SERVFAIL) {
        rcode = 2;
    } else if (rec->kind == SRV_PTR) {
        w += put_rr(r + w, 12, 12, rec->ttl, rec->ptr_len);
        memcpy(r + w, rec->ptr_wire, rec->ptr_len);
        w += rec->ptr_len;
        ancount = 1;
    } else if (rec->kind == SRV_CNAME) {
        /* "7.0-25" + pointer to "2.0.192.in-addr.arpa" inside the question (offset 14) */
        uint8_t cname[16];
        size_t n = put_label(cname, "7", 1);
        n += put_label(cname + n, "0-25", 4);
        n += put16(cname + n, 0xc000 | 14);
        w += put_rr(r + w, 12, 5, 100, n);
        size_t cname_off = w;
        memcpy(r + w, cname, n);
        w += n;
        uint8_t wire[64];
        size_t m = put_name(wire, "classless.example.net");
        w += put_rr(r + w, (unsigned)cname_off, 12, 50, m);
        memcpy(r + w, wire, m);
        w += m;
        ancount = 2;
    } else if (rec->kind == SRV_LOOP) {
        w += put_rr(r + w, 12, 12, 300, 2);
        w += put16(r + w, 0xc000 | (unsigned)w);
        ancount = 1;
    }
    r[3] = (uint8_t)(0x80 | rcode);
    put16(r + 4, 1);
    put16(r + 6, ancount);
    put16(r + 8, 0);
    put16(r + 10, 0);
    sendto(s->fd, r, w, 0, from, fromlen);
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    uint8_t buf[1500];

    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof(from);

        if (poll(&p, 1, 20) <= 0)
            continue;
        ssize_t n = recvfrom(s->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen);
        if (n > 0)
            srv_answer(s, buf, (size_t)n, (struct sockaddr *)&from, fromlen);
    }
    return NULL;
}

static int srv_start(struct srv *s)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t slen = sizeof(sin);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -errno;
    if (bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        getsockname(s->fd, (struct sockaddr *)&sin, &slen) < 0)
        return -errno;
    s->port = ntohs(sin.sin_port);
    atomic_init(&s->stop, false);
    pthread_mutex_init(&s->lock, NULL);
    return -pthread_create(&s->thread, NULL, srv_main, s);
}

static void srv_stop(struct srv *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    close(s->fd);
}

/* The server and its table live for the whole run; tests use distinct addresses. */
static struct srv srv;
static struct srv_rec recs[] = {
    {.qname = "1.2.0.192.in-addr.arpa", .kind = SRV_PTR, .ttl = 2},
    {.qname = "2.2.0.192.in-addr.arpa", .kind = SRV_NXDOMAIN},
    {.qname = "3.2.0.192.in-addr.arpa", .kind = SRV_PTR, .ttl = 300}, /* hostile */
    {.qname = "4.2.0.192.in-addr.arpa", .kind = SRV_DROP},
    {.qname = "5.2.0.192.in-addr.arpa", .kind = SRV_SERVFAIL},
    {.qname = "6.2.0.192.in-addr.arpa", .kind = SRV_NODATA},
    {.qname = "7.2.0.192.in-addr.arpa", .kind = SRV_CNAME},
    {.qname = "8.2.0.192.in-addr.arpa", .kind = SRV_PTR, .ttl = 300}, /* empty once cleaned */
    {.qname = "9.2.0.192.in-addr.arpa", .kind = SRV_LOOP},
    {.qname = "10.2.0.192.in-addr.arpa", .kind = SRV_PTR, .ttl = 0},
    {.qname = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
     .kind = SRV_PTR,
     .ttl = 300},
    {.qname = "11.2.0.192.in-addr.arpa", .kind = SRV_DROP}, /* for the free-while-pending test */
};

/* The hostile name's first label and what is left of the whole name once sanitized. */
static const char hostile_l1[] = "\x01\x1b[31m<script> x\0y\xff</script>\x7f";
static char hostile_expect[PW_DNS_NAME_MAX + 1];

static void table_init(void)
{
    char full[600];
    size_t n, w;

    recs[0].ptr_len = put_name(recs[0].ptr_wire, "host1.example.net");
    recs[9].ptr_len = put_name(recs[9].ptr_wire, "zero-ttl.example.net");
    recs[10].ptr_len = put_name(recs[10].ptr_wire, "v6host.example.net");

    /* 5 labels of 63 bytes after the first: about 350 bytes on the wire, over RFC 1035's 255 */
    uint8_t *p = recs[2].ptr_wire;
    n = put_label(p, hostile_l1, sizeof(hostile_l1) - 1);
    w = (size_t)snprintf(full, sizeof(full), "[31m<script>xy</script>");
    for (char c = 'a'; c <= 'e'; c++) {
        char label[63];
        memset(label, c, sizeof(label));
        n += put_label(p + n, label, sizeof(label));
        full[w++] = '.';
        memcpy(full + w, label, sizeof(label));
        w += sizeof(label);
    }
    n += put_name(p + n, "com");
    recs[2].ptr_len = n;
    memcpy(hostile_expect, full, PW_DNS_NAME_MAX);
    hostile_expect[PW_DNS_NAME_MAX] = '\0';

    /* only control bytes, a space and DEL */
    recs[7].ptr_len = put_label(recs[7].ptr_wire, "\x01\x02 \x7f", 4);
    recs[7].ptr_wire[recs[7].ptr_len++] = 0;

    srv.recs = recs;
    srv.nrecs = sizeof(recs) / sizeof(recs[0]);
}

static int srv_count(const char *qname)
{
    int n = -1;

    pthread_mutex_lock(&srv.lock);
    for (size_t i = 0; i < srv.nrecs; i++) {
        if (strcmp(srv.recs[i].qname, qname) == 0)
            n = srv.recs[i].count;
    }
    pthread_mutex_unlock(&srv.lock);
    return n;
}

static int gen_count(unsigned n)
{
    pthread_mutex_lock(&srv.lock);
    int c = srv.gen_count[n];
    pthread_mutex_unlock(&srv.lock);
    return c;
}

static struct pw_addr addr(const char *text)
{
    struct pw_addr a;

    memset(&a, 0, sizeof(a));
    if (inet_pton(AF_INET, text, &a.u.v4) == 1)
        a.family = AF_INET;
    else if (inet_pton(AF_INET6, text, &a.u.v6) == 1)
        a.family = AF_INET6;
    return a;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Runs the resolver the way the daemon's loop would, with poll(), until no query is pending.
 * When again is set, looks it up on every turn to prove no second query starts meanwhile.
 * Returns the milliseconds it took, or -1 after 5 s. */
static long drive(struct pw_dns *d, const struct pw_addr *again, uint64_t now_s)
{
    uint64_t start = mono_ms();

    while (pw_dns_pending(d) > 0) {
        int fds[16];
        bool want_write[16];
        struct pollfd pfd[16];
        int n = pw_dns_fds(d, fds, want_write, 16);
        int timeout = pw_dns_timeout_ms(d);

        if (mono_ms() - start > 5000)
            return -1;
        if (again)
            CHECK_INT(pw_dns_lookup(d, again, now_s, NULL, 0), 0);
        if (timeout < 0 || timeout > 100)
            timeout = 100;
        for (int i = 0; i < n; i++) {
            pfd[i].fd = fds[i];
            pfd[i].events = (short)(POLLIN | (want_write[i] ? POLLOUT : 0));
            pfd[i].revents = 0;
        }
        int rc = poll(pfd, (nfds_t)(n > 0 ? n : 0), timeout);
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc <= 0) {
            pw_dns_process(d, -1, false, false);
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (pfd[i].revents)
                pw_dns_process(d, pfd[i].fd, pfd[i].revents & (POLLIN | POLLERR | POLLHUP),
                               pfd[i].revents & POLLOUT);
        }
    }
    return (long)(mono_ms() - start);
}

static struct pw_dns *resolver(uint32_t cache_size)
{
    char servers[64];
    struct pw_dns_opts o = {
        .cache_size = cache_size,
        .negative_ttl_s = NEG_TTL,
        .min_ttl_s = 1,
        .max_ttl_s = 1000,
        .timeout_ms = 150,
        .tries = TRIES,
        .servers = servers,
    };

    snprintf(servers, sizeof(servers), "127.0.0.1:%u", srv.port);
    return pw_dns_new(&o);
}

/* Looks a up at now_s and expects a cached name (or PW_DNS_NONE). */
static void expect_name(struct pw_dns *d, const char *a_text, uint64_t now_s, const char *want)
{
    struct pw_addr a = addr(a_text);
    char name[PW_DNS_NAME_MAX + 1] = "";

    CHECK_INT(pw_dns_lookup(d, &a, now_s, name, sizeof(name)), 1);
    CHECK_STR(name, want);
}

/* Looks a up at now_s, expects a miss that starts a query, and completes it. */
static void expect_miss_and_resolve(struct pw_dns *d, const char *a_text, uint64_t now_s)
{
    struct pw_addr a = addr(a_text);
    char name[PW_DNS_NAME_MAX + 1];

    CHECK_INT(pw_dns_lookup(d, &a, now_s, name, sizeof(name)), 0);
    CHECK(pw_dns_pending(d) >= 1);
    CHECK(drive(d, &a, now_s) >= 0);
}

static void test_sanitize(void)
{
    char s[600];

    snprintf(s, sizeof(s), "host.example.com.");
    CHECK_INT(pw_dns_sanitize(s), 16);
    CHECK_STR(s, "host.example.com");
    snprintf(s, sizeof(s), "a\tb c\x7f\xff\x01z");
    CHECK_INT(pw_dns_sanitize(s), 4);
    CHECK_STR(s, "abcz");
    snprintf(s, sizeof(s), "<script>\"&'");
    CHECK_INT(pw_dns_sanitize(s), 11);
    CHECK_STR(s, "<script>\"&'");
    s[0] = '\0';
    CHECK_INT(pw_dns_sanitize(s), 0);
    snprintf(s, sizeof(s), "...");
    CHECK_INT(pw_dns_sanitize(s), 0);
    CHECK_STR(s, "");
    CHECK_INT(pw_dns_sanitize(NULL), 0);

    memset(s, 'x', 300);
    s[300] = '\0';
    CHECK_INT(pw_dns_sanitize(s), PW_DNS_NAME_MAX);
    CHECK_INT(strlen(s), PW_DNS_NAME_MAX);

    /* The cut lands just after a dot, which then goes as a trailing dot. */
    memset(s, 'x', 252);
    snprintf(s + 252, sizeof(s) - 252, ".yyy");
    CHECK_INT(pw_dns_sanitize(s), 252);

    /* Dropped bytes do not count towards the limit. */
    memset(s, ' ', 100);
    memset(s + 100, 'q', 253);
    s[353] = '\0';
    CHECK_INT(pw_dns_sanitize(s), 253);
    CHECK(s[0] == 'q' && s[252] == 'q');
}

/* A NOERROR response with the question for qname (type PTR) and one answer record of type
 * PTR and class klass whose owner points at the question. */
static size_t canned(uint8_t *r, const char *qname, unsigned klass, uint32_t ttl,
                     const uint8_t *rdata, size_t rdlen)
{
    static const uint8_t hdr[12] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0};
    size_t w = sizeof(hdr);

    memcpy(r, hdr, sizeof(hdr));
    w += put_name(r + w, qname);
    w += put16(r + w, 12);
    w += put16(r + w, 1);
    w += put_rr(r + w, 12, 12, ttl, rdlen);
    put16(r + w - 8, klass);
    memcpy(r + w, rdata, rdlen);
    return w + rdlen;
}

/* pw_dns_parse_ptr() on packets built here, byte by byte, without c-ares in between. */
static void test_parse_canned(void)
{
    const char *q = "1.2.0.192.in-addr.arpa";
    uint8_t pkt[1500], mut[1500], rdata[1200];
    char name[PW_DNS_NAME_MAX + 1];
    uint32_t ttl = 0;
    size_t rdlen = put_name(rdata, "host.example.net");
    size_t n = canned(pkt, q, 1, 77, rdata, rdlen);

    CHECK_INT(pw_dns_parse_ptr(pkt, n, name, sizeof(name), &ttl), 1);
    CHECK_STR(name, "host.example.net");
    CHECK_INT(ttl, 77);

    /* Every strict prefix is truncated somewhere and must say so. */
    for (size_t len = 0; len < n; len++)
        CHECK(pw_dns_parse_ptr(pkt, len, name, sizeof(name), &ttl) < 0);

    /* Mutations anywhere: any verdict is fine, as long as a name is always clean. */
    static const uint8_t vals[] = {0x00, 0x01, 0x3f, 0x40, 0x80, 0xc0, 0xff};
    for (size_t i = 0; i < n; i++) {
        for (size_t v = 0; v < sizeof(vals); v++) {
            memcpy(mut, pkt, n);
            mut[i] = vals[v];
            if (pw_dns_parse_ptr(mut, n, name, sizeof(name), &ttl) != 1)
                continue;
            CHECK(strlen(name) >= 1 && strlen(name) <= PW_DNS_NAME_MAX);
            for (size_t k = 0; name[k]; k++)
                CHECK(name[k] >= 0x21 && name[k] <= 0x7e);
        }
    }

    /* RFC 2181: a TTL with the top bit set counts as 0. */
    n = canned(pkt, q, 1, 0x80000000u, rdata, rdlen);
    CHECK_INT(pw_dns_parse_ptr(pkt, n, name, sizeof(name), &ttl), 1);
    CHECK_INT(ttl, 0);

    /* A PTR in another class, or for another name, is no answer to our question. */
    n = canned(pkt, q, 3, 77, rdata, rdlen);
    CHECK_INT(pw_dns_parse_ptr(pkt, n, name, sizeof(name), &ttl), 0);
    CHECK_STR(name, PW_DNS_NONE);
    n = canned(pkt, q, 1, 77, rdata, rdlen);
    pkt[n - rdlen - 11] = 14; /* owner pointer: from the question name to its 2nd label */
    CHECK_INT(pw_dns_parse_ptr(pkt, n, name, sizeof(name), &ttl), 0);

    /* A pointer forward, or one to itself, never resolves. */
    uint8_t fwd[2] = {0xc0, 0};
    n = canned(pkt, q, 1, 77, fwd, sizeof(fwd));
    pkt[n - 1] = (uint8_t)(n - 1);
    CHECK_INT(pw_dns_parse_ptr(pkt, n, name, sizeof(name), &ttl), PW_E_MALFORMED);
    pkt[n - 1] = (uint8_t)(n - 2);
    CHECK_INT(pw_dns_parse_ptr(pkt, n, name, sizeof(name), &ttl), PW_E_MALFORMED);

    /* rdata longer than the name inside it */
    rdata[rdlen] = 0xaa;
    n = canned(pkt, q, 1, 77, rdata, rdlen + 1);
    CHECK_INT(pw_dns_parse_ptr(pkt, n, name, sizeof(name), &ttl), PW_E_MALFORMED);

    /* Two questions are not a response to one query. */
    n = canned(pkt, q, 1, 77, rdata, rdlen);
    pkt[5] = 2;
    CHECK(pw_dns_parse_ptr(pkt, n, name, sizeof(name), &ttl) < 0);

    /* The hostile record of the server table, parsed directly */
    n = canned(pkt, "3.2.0.192.in-addr.arpa", 1, 300, recs[2].ptr_wire, recs[2].ptr_len);
    CHECK_INT(pw_dns_parse_ptr(pkt, n, name, sizeof(name), &ttl), 1);
    CHECK_STR(name, hostile_expect);

    /* A name over PW_DNS_WIRE_MAX (1024) wire bytes is refused, not followed. */
    size_t w = 0;
    for (int i = 0; i < 17; i++) {
        char label[63];
        memset(label, 'a' + i, sizeof(label));
        w += put_label(rdata + w, label, sizeof(label));
    }
    rdata[w++] = 0;
    uint8_t big[1500];
    n = canned(big, q, 1, 77, rdata, w);
    CHECK_INT(pw_dns_parse_ptr(big, n, name, sizeof(name), &ttl), PW_E_MALFORMED);

    CHECK_INT(pw_dns_parse_ptr(pkt, n, name, 10, &ttl), -EINVAL);
    CHECK_INT(pw_dns_parse_ptr(NULL, 0, name, sizeof(name), &ttl), -EINVAL);
}

static void test_new_errors(void)
{
    struct pw_dns_opts o = {.min_ttl_s = 100, .max_ttl_s = 10};

    errno = 0;
    CHECK(pw_dns_new(&o) == NULL);
    CHECK_INT(errno, EINVAL);

    memset(&o, 0, sizeof(o));
    o.servers = "not an address";
    errno = 0;
    CHECK(pw_dns_new(&o) == NULL);
    CHECK_INT(errno, EINVAL);

    o.servers = "";
    errno = 0;
    CHECK(pw_dns_new(&o) == NULL);
    CHECK_INT(errno, EINVAL);

    memset(&o, 0, sizeof(o));
    o.cache_size = UINT32_MAX;
    errno = 0;
    CHECK(pw_dns_new(&o) == NULL);
    CHECK_INT(errno, EINVAL);

    pw_dns_free(NULL);
    CHECK_INT(pw_dns_pending(NULL), 0);
}

static void test_bad_args(struct pw_dns *d)
{
    struct pw_addr a = addr("192.0.2.1");
    struct pw_addr none;
    char small[16];

    memset(&none, 0, sizeof(none));
    CHECK_INT(pw_dns_lookup(d, &none, T0, NULL, 0), -EAFNOSUPPORT);
    CHECK_INT(pw_dns_lookup(d, &a, T0, small, sizeof(small)), -EINVAL);
    CHECK_INT(pw_dns_lookup(NULL, &a, T0, NULL, 0), -EINVAL);
    CHECK_INT(pw_dns_lookup(d, NULL, T0, NULL, 0), -EINVAL);
    CHECK_INT(pw_dns_pending(d), 0);
    CHECK_INT(pw_dns_timeout_ms(d), -1);
    CHECK_INT(pw_dns_fds(d, NULL, NULL, 0), 0);
}

static void test_positive_ttl(struct pw_dns *d)
{
    struct pw_addr a = addr("192.0.2.1");
    const char *q = "1.2.0.192.in-addr.arpa";
    char name[PW_DNS_NAME_MAX + 1];

    CHECK_INT(pw_dns_lookup(d, &a, T0, name, sizeof(name)), 0);
    /* More lookups while the query runs join it instead of starting new ones. */
    for (int i = 0; i < 4; i++)
        CHECK_INT(pw_dns_lookup(d, &a, T0, name, sizeof(name)), 0);
    CHECK_INT(pw_dns_pending(d), 1);
    CHECK(pw_dns_timeout_ms(d) >= 0);
    int fds[4];
    bool ww[4];
    CHECK_INT(pw_dns_fds(d, fds, ww, 4), 1);
    CHECK(drive(d, &a, T0) >= 0);
    CHECK_INT(pw_dns_pending(d), 0);
    CHECK_INT(srv_count(q), 1);

    expect_name(d, "192.0.2.1", T0, "host1.example.net");
    expect_name(d, "192.0.2.1", T0 + 1, "host1.example.net");
    CHECK_INT(srv_count(q), 1);

    /* TTL 2 s, counted from the lookup that started the query */
    expect_miss_and_resolve(d, "192.0.2.1", T0 + 2);
    CHECK_INT(srv_count(q), 2);
    expect_name(d, "192.0.2.1", T0 + 3, "host1.example.net");
}

static void test_ttl_bounds(struct pw_dns *d)
{
    /* TTL 0 is raised to min_ttl_s = 1 */
    expect_miss_and_resolve(d, "192.0.2.10", T0);
    expect_name(d, "192.0.2.10", T0, "zero-ttl.example.net");
    expect_miss_and_resolve(d, "192.0.2.10", T0 + 1);
    CHECK_INT(srv_count("10.2.0.192.in-addr.arpa"), 2);

    /* TTL 3600 is cut to max_ttl_s = 1000 */
    expect_miss_and_resolve(d, "198.51.100.7", T0);
    expect_name(d, "198.51.100.7", T0 + 999, "gen-7.example.net");
    expect_miss_and_resolve(d, "198.51.100.7", T0 + 1000);
    CHECK_INT(gen_count(7), 2);
}

static void test_negative(struct pw_dns *d)
{
    expect_miss_and_resolve(d, "192.0.2.2", T0);
    expect_name(d, "192.0.2.2", T0, PW_DNS_NONE);
    expect_name(d, "192.0.2.2", T0 + NEG_TTL - 1, PW_DNS_NONE);
    CHECK_INT(srv_count("2.2.0.192.in-addr.arpa"), 1);
    expect_miss_and_resolve(d, "192.0.2.2", T0 + NEG_TTL);
    CHECK_INT(srv_count("2.2.0.192.in-addr.arpa"), 2);

    /* NOERROR without a PTR record is "no name" too */
    expect_miss_and_resolve(d, "192.0.2.6", T0);
    expect_name(d, "192.0.2.6", T0 + NEG_TTL - 1, PW_DNS_NONE);
    CHECK_INT(srv_count("6.2.0.192.in-addr.arpa"), 1);
}

static void test_failures(struct pw_dns *d)
{
    struct pw_addr a = addr("192.0.2.4");
    long ms;

    /* SERVFAIL: c-ares retries (TRIES queries), then it is remembered for 30 s */
    expect_miss_and_resolve(d, "192.0.2.5", T0);
    CHECK_INT(srv_count("5.2.0.192.in-addr.arpa"), TRIES);
    expect_name(d, "192.0.2.5", T0 + 29, PW_DNS_NONE);
    CHECK_INT(srv_count("5.2.0.192.in-addr.arpa"), TRIES);
    expect_miss_and_resolve(d, "192.0.2.5", T0 + 30);
    CHECK_INT(srv_count("5.2.0.192.in-addr.arpa"), 2 * TRIES);

    /* No answer at all: the timeout path, with lookups on every loop turn meanwhile */
    CHECK_INT(pw_dns_lookup(d, &a, T0, NULL, 0), 0);
    ms = drive(d, &a, T0);
    CHECK(ms >= 150 * TRIES);
    CHECK(ms < 3000);
    CHECK_INT(srv_count("4.2.0.192.in-addr.arpa"), TRIES);
    expect_name(d, "192.0.2.4", T0 + 29, PW_DNS_NONE);
    CHECK_INT(srv_count("4.2.0.192.in-addr.arpa"), TRIES);

    /* A compression loop in the answer is a garbled answer: a failure, not a name */
    expect_miss_and_resolve(d, "192.0.2.9", T0);
    expect_name(d, "192.0.2.9", T0 + 29, PW_DNS_NONE);
    expect_miss_and_resolve(d, "192.0.2.9", T0 + 30);
    CHECK_INT(srv_count("9.2.0.192.in-addr.arpa"), 2);
}

static void test_hostile(struct pw_dns *d)
{
    struct pw_addr a = addr("192.0.2.3");
    char name[PW_DNS_NAME_MAX + 1];

    expect_miss_and_resolve(d, "192.0.2.3", T0);
    CHECK_INT(pw_dns_lookup(d, &a, T0, name, sizeof(name)), 1);
    CHECK_INT(strlen(name), PW_DNS_NAME_MAX);
    CHECK_STR(name, hostile_expect);
    CHECK(strncmp(name, "[31m<script>xy</script>.aaa", 27) == 0);
    for (size_t i = 0; name[i]; i++)
        CHECK(name[i] >= 0x21 && name[i] <= 0x7e);

    /* A name made only of control bytes is no name, cached as negative */
    expect_miss_and_resolve(d, "192.0.2.8", T0);
    expect_name(d, "192.0.2.8", T0 + NEG_TTL - 1, PW_DNS_NONE);
    expect_miss_and_resolve(d, "192.0.2.8", T0 + NEG_TTL);
}

static void test_ipv6_and_cname(struct pw_dns *d)
{
    expect_miss_and_resolve(d, "2001:db8::1", T0);
    expect_name(d, "2001:db8::1", T0 + 299, "v6host.example.net");
    CHECK_INT(srv_count("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"),
              1);

    /* CNAME TTL 100, PTR TTL 50: the chain lives as long as its shortest link */
    expect_miss_and_resolve(d, "192.0.2.7", T0);
    expect_name(d, "192.0.2.7", T0 + 49, "classless.example.net");
    expect_miss_and_resolve(d, "192.0.2.7", T0 + 50);
    CHECK_INT(srv_count("7.2.0.192.in-addr.arpa"), 2);

    CHECK_INT(srv.other_count, 0);
}

static void test_lru(void)
{
    struct pw_dns *d = resolver(2);

    CHECK(d != NULL);
    if (!d)
        return;
    expect_miss_and_resolve(d, "198.51.100.1", T0);
    expect_miss_and_resolve(d, "198.51.100.2", T0);
    expect_name(d, "198.51.100.1", T0, "gen-1.example.net"); /* .1 is now the most recent */
    expect_miss_and_resolve(d, "198.51.100.3", T0);          /* evicts .2 */
    expect_name(d, "198.51.100.1", T0, "gen-1.example.net");
    expect_name(d, "198.51.100.3", T0, "gen-3.example.net");
    CHECK_INT(gen_count(1), 1);
    CHECK_INT(gen_count(3), 1);
    expect_miss_and_resolve(d, "198.51.100.2", T0); /* asked again; evicts .1 */
    CHECK_INT(gen_count(2), 2);
    expect_name(d, "198.51.100.3", T0, "gen-3.example.net");
    expect_name(d, "198.51.100.2", T0, "gen-2.example.net");
    expect_miss_and_resolve(d, "198.51.100.1", T0);
    CHECK_INT(gen_count(1), 2);
    pw_dns_free(d);
}

/* With every slot waiting for an answer nothing can be evicted; freeing the resolver then
 * cancels the query without touching freed memory (run under ASan). */
static void test_busy_and_free_pending(void)
{
    struct pw_dns *d = resolver(1);
    struct pw_addr a = addr("192.0.2.11"), b = addr("198.51.100.9");

    CHECK(d != NULL);
    if (!d)
        return;
    CHECK_INT(pw_dns_lookup(d, &a, T0, NULL, 0), 0);
    CHECK_INT(pw_dns_lookup(d, &b, T0, NULL, 0), -EBUSY);
    CHECK_INT(pw_dns_pending(d), 1);
    pw_dns_free(d);
    CHECK_INT(gen_count(9), 0);
}

int main(void)
{
    struct pw_dns *d;

    table_init();
    if (srv_start(&srv) < 0) {
        fprintf(stderr, "cannot start the test DNS server on 127.0.0.1\n");
        return 1;
    }

    RUN(test_sanitize);
    RUN(test_parse_canned);
    RUN(test_new_errors);
    d = resolver(64);
    CHECK(d != NULL);
    if (d) {
        RUN_WITH(test_bad_args, d);
        RUN_WITH(test_positive_ttl, d);
        RUN_WITH(test_ttl_bounds, d);
        RUN_WITH(test_negative, d);
        RUN_WITH(test_failures, d);
        RUN_WITH(test_hostile, d);
        RUN_WITH(test_ipv6_and_cname, d);
        pw_dns_free(d);
    }
    RUN(test_lru);
    RUN(test_busy_and_free_pending);

    srv_stop(&srv);
    return check_exit();
}
