/* libFuzzer target for the store's value decoders (libtrace/store/store_codec.h): sample
 * blocks, rollup records, routes and the small records, as they come out of LMDB. The first
 * input byte picks the decoder, the rest is the value. Besides memory errors it checks what a
 * successful decode promises: values in range, and a decode -> encode -> decode round trip
 * that gives the same result.
 *
 * Blocks and rollup records carry a checksum that stops almost every mutation at once, so
 * each input is decoded twice: as it is, and with its checksum repaired.
 *
 * Seeds: build this file alone with -DFUZZ_STORE_CODEC_SEEDS (it then has a main) and run it
 * with the corpus directory as argument:
 *   cc -DFUZZ_STORE_CODEC_SEEDS -Ilibtrace tests/fuzz/fuzz_store_codec.c \
 *      build/libtrace/libpingwatcher.a $(pkg-config --libs lmdb libpcap libcares libcjson) \
 *      -lnet -lm -o gen && ./gen tests/fuzz/corpus/store_codec */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store/store_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum kind {
    K_BLOCK,
    K_ROLLUP_MINUTE,
    K_ROLLUP_HOUR,
    K_ROUTE,
    K_TARGET,
    K_CONFIG,
    K_COMMENT,
    K_SESSION,
    K_ROUTE_CHANGE,
    K_DNS,
    K_COUNT,
};

/* Must hold: a decode failure is one of these, never anything else. */
static void check_rc(int rc)
{
    if (rc != 0 && rc != PW_E_TRUNCATED && rc != PW_E_MALFORMED && rc != PW_E_CHECKSUM)
        abort();
}

/* ---- blocks ---- */

struct blk_ctx {
    struct pw_store_sample *s;
    size_t n, cap;
    int64_t last;
};

static int blk_cb(void *arg, const struct pw_store_sample *smp)
{
    struct blk_ctx *c = arg;

    if (smp->nhops > PW_TRACE_MAX_HOPS || (c->n && smp->time_us <= c->last))
        abort();
    for (unsigned i = 0; i < smp->nhops; i++) {
        int32_t v = smp->rtt_us[i];

        if (v != PW_RTT_LOST && v != PW_STORE_RTT_SKIP &&
            (v < 0 || v > PW_STORE_RTT_MAX_US || v % PW_STORE_RTT_QUANTUM_US))
            abort();
    }
    c->last = smp->time_us;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct pw_store_sample *p = realloc(c->s, cap * sizeof(*p));

        if (!p)
            return 1;
        c->s = p;
        c->cap = cap;
    }
    c->s[c->n++] = *smp;
    return 0;
}

static void fuzz_block(const uint8_t *p, size_t n)
{
    struct blk_ctx a = {0}, b = {0};
    const int64_t t0 = INT64_C(1700000000000000);
    int rc = pw_block_decode(p, n, t0, blk_cb, &a);

    check_rc(rc == 1 ? 0 : rc);
    if (rc == 0) {
        /* Whatever decoded encodes again (in a block as large as the decoder accepts) and
         * decodes to the same samples. */
        uint8_t *buf = malloc(PW_BLOCK_MAX_LEN);
        struct pw_block_enc e;
        size_t len;

        if (!buf)
            goto out;
        if (pw_block_enc_init(&e, buf, PW_BLOCK_MAX_LEN) != 0)
            abort();
        for (size_t i = 0; i < a.n; i++)
            if (pw_block_enc_add(&e, &a.s[i]) != 0)
                abort();
        len = pw_block_enc_finish(&e);
        if (pw_block_decode(buf, len, t0, blk_cb, &b) != 0 || b.n != a.n)
            abort();
        for (size_t i = 0; i < a.n; i++)
            if (a.s[i].time_us != b.s[i].time_us || a.s[i].nhops != b.s[i].nhops ||
                a.s[i].route_id != b.s[i].route_id || a.s[i].reached != b.s[i].reached ||
                memcmp(a.s[i].rtt_us, b.s[i].rtt_us, a.s[i].nhops * sizeof(int32_t)) != 0)
                abort();
        free(buf);
    }
out:
    free(a.s);
    free(b.s);
}

/* ---- rollups ---- */

struct cell_rec {
    unsigned series, slot;
    struct pw_rollup_cell c;
};

struct ru_ctx {
    struct cell_rec v[PW_STORE_SERIES * 60];
    size_t n;
};

static int ru_cb(void *arg, unsigned series, unsigned slot, const struct pw_rollup_cell *c)
{
    struct ru_ctx *r = arg;
    uint64_t hist = 0;

    if (c->count == 0 || c->lost > c->count)
        abort();
    for (unsigned i = 0; i < PW_STORE_HIST_BINS; i++)
        hist += c->hist[i];
    if (hist != c->count - c->lost)
        abort();
    if (hist && (c->min_q > c->max_q || c->max_q > PW_STORE_Q_MAX ||
                 c->sum_q < (uint64_t)c->min_q * hist || c->sum_q > (uint64_t)c->max_q * hist))
        abort();
    if (r->n < sizeof(r->v) / sizeof(r->v[0]))
        r->v[r->n++] = (struct cell_rec){series, slot, *c};
    return 0;
}

static bool cell_same(const struct pw_rollup_cell *a, const struct pw_rollup_cell *b)
{
    bool ans = a->count > a->lost;

    return a->count == b->count && a->lost == b->lost &&
           (!ans || (a->min_q == b->min_q && a->max_q == b->max_q && a->sum_q == b->sum_q &&
                     a->sumsq_q == b->sumsq_q)) &&
           memcmp(a->hist, b->hist, sizeof(a->hist)) == 0;
}

static void fuzz_rollup(const uint8_t *p, size_t n, enum pw_rollup_level lv)
{
    struct ru_ctx *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    uint8_t *rec = NULL, *body = NULL;
    int rc;

    if (!a || !b)
        goto out;
    rc = pw_rollup_decode(p, n, lv, NULL, ru_cb, a);
    check_rc(rc);
    if (rc != 0)
        goto out;
    /* Re-encode what decoded, section by section, and decode again. */
    rec = malloc(n + 64);
    body = malloc(n + 64);
    if (!rec || !body)
        goto out;
    {
        size_t len = pw_rollup_put_header(rec, lv);

        for (size_t i = 0; i < a->n;) {
            struct pw_cell_prev prev = {0, 0};
            size_t blen = 0, j = i;

            for (; j < a->n && a->v[j].series == a->v[i].series; j++)
                if (pw_rollup_cell_encode(&a->v[j].c, a->v[j].slot, &prev, body, n + 64, &blen) !=
                    0)
                    abort();
            len += pw_rollup_put_section(rec + len, a->v[i].series, blen);
            memcpy(rec + len, body, blen);
            len += blen;
            i = j;
        }
        pw_rollup_finish(rec, len);
        if (pw_rollup_decode(rec, len, lv, NULL, ru_cb, b) != 0 || b->n != a->n)
            abort();
        for (size_t i = 0; i < a->n; i++)
            if (a->v[i].series != b->v[i].series || a->v[i].slot != b->v[i].slot ||
                !cell_same(&a->v[i].c, &b->v[i].c))
                abort();
    }
out:
    free(a);
    free(b);
    free(rec);
    free(body);
}

/* ---- routes and small records ---- */

static void fuzz_small(enum kind k, const uint8_t *p, size_t n)
{
    uint8_t out[PW_REC_MAX + PW_ROUTE_VAL_MAX];
    size_t len;
    int rc;

    switch (k) {
    case K_ROUTE: {
        struct pw_store_route r;

        rc = pw_route_decode(p, n, &r);
        check_rc(rc);
        if (rc == 0) {
            int m = pw_route_encode(&r, out);

            /* The route encoding is canonical: the same bytes come back. */
            if (m < 0 || (size_t)m != n || memcmp(out, p, n) != 0)
                abort();
        }
        break;
    }
    case K_TARGET: {
        struct pw_store_target t, t2;

        rc = pw_target_decode(p, n, 5, &t);
        check_rc(rc);
        if (rc == 0) {
            if (pw_target_encode(&t, out, sizeof(out), &len) != 0 ||
                pw_target_decode(out, len, 5, &t2) != 0 || memcmp(&t, &t2, sizeof(t)) != 0)
                abort();
        }
        break;
    }
    case K_CONFIG: {
        struct pw_store_config c, c2;

        rc = pw_config_decode(p, n, "preset", 6, &c);
        check_rc(rc);
        if (rc == 0 &&
            (pw_config_encode(&c, out, sizeof(out), &len) != 0 ||
             pw_config_decode(out, len, "preset", 6, &c2) != 0 || memcmp(&c, &c2, sizeof(c)) != 0))
            abort();
        break;
    }
    case K_COMMENT: {
        struct pw_store_comment c, c2;

        memset(&c, 0, sizeof(c));
        memset(&c2, 0, sizeof(c2));
        rc = pw_comment_decode(p, n, &c);
        check_rc(rc);
        if (rc == 0 && (pw_comment_encode(&c, out, sizeof(out), &len) != 0 ||
                        pw_comment_decode(out, len, &c2) != 0 || strcmp(c.text, c2.text) != 0 ||
                        strcmp(c.author, c2.author) != 0))
            abort();
        break;
    }
    case K_SESSION: {
        struct pw_store_session ss, ss2;

        rc = pw_session_decode(p, n, 3, &ss);
        check_rc(rc);
        if (rc == 0 &&
            (pw_session_encode(&ss, out, sizeof(out), &len) != 0 ||
             pw_session_decode(out, len, 3, &ss2) != 0 || memcmp(&ss, &ss2, sizeof(ss)) != 0))
            abort();
        break;
    }
    case K_ROUTE_CHANGE: {
        struct pw_store_route_change c;

        memset(&c, 0, sizeof(c));
        rc = pw_route_change_decode(p, n, &c);
        check_rc(rc);
        if (rc == 0) {
            pw_route_change_encode(&c, out);
            if (n != PW_ROUTE_CHANGE_VAL_LEN || memcmp(out, p, n) != 0)
                abort();
        }
        break;
    }
    case K_DNS: {
        char name[PW_DNS_NAME_MAX + 1];
        int64_t when;

        rc = pw_dns_val_decode(p, n, name, sizeof(name), &when);
        check_rc(rc);
        if (rc == 0) {
            if (pw_dns_val_encode(name, when, out, sizeof(out), &len) != 0 || len != n ||
                memcmp(out, p, n) != 0)
                abort();
        }
        break;
    }
    default:
        break;
    }
}

/* Puts the right checksum into a block or rollup record, so mutations reach the decoder. */
static void repair(enum kind k, uint8_t *p, size_t n)
{
    if (k == K_BLOCK && n >= PW_BLOCK_HDR_LEN)
        pw_block_finish(p, n);
    else if ((k == K_ROLLUP_MINUTE || k == K_ROLLUP_HOUR) && n >= PW_ROLLUP_HDR_LEN)
        pw_rollup_finish(p, n);
}

static void run(enum kind k, const uint8_t *p, size_t n)
{
    switch (k) {
    case K_BLOCK:
        fuzz_block(p, n);
        break;
    case K_ROLLUP_MINUTE:
        fuzz_rollup(p, n, PW_ROLLUP_MINUTE);
        break;
    case K_ROLLUP_HOUR:
        fuzz_rollup(p, n, PW_ROLLUP_HOUR);
        break;
    default:
        fuzz_small(k, p, n);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum kind k;
    uint8_t *copy;

    if (size < 1)
        return 0;
    k = (enum kind)(data[0] % K_COUNT);
    /* An exact-size heap copy, so a read one byte past the value is caught. */
    copy = calloc(1, size - 1 ? size - 1 : 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, size - 1);
    run(k, copy, size - 1);
    repair(k, copy, size - 1);
    run(k, copy, size - 1);
    free(copy);
    return 0;
}

#ifdef FUZZ_STORE_CODEC_SEEDS
/* Writes one valid value of every kind (and a few variants) into the directory argv[1]. */
static void put(const char *dir, const char *name, enum kind k, const uint8_t *p, size_t n)
{
    char path[512];
    FILE *f;
    uint8_t tag = (uint8_t)k;

    snprintf(path, sizeof(path), "%s/%s.bin", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(&tag, 1, 1, f) != 1 || fwrite(p, 1, n, f) != n) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    static uint8_t buf[PW_BLOCK_MAX_LEN];
    struct pw_block_enc e;
    struct pw_store_sample s;
    size_t len;

    if (argc != 2)
        return 2;
    /* A block: 11 hops, some lost, a route change, final-hop-only samples. */
    pw_block_enc_init(&e, buf, 4096);
    for (int i = 0; i < 60; i++) {
        memset(&s, 0, sizeof(s));
        s.time_us = INT64_C(1700000000000000) + i * INT64_C(2500000) + (i * 37 % 900);
        s.route_id = i < 40 ? 1 : 2;
        s.nhops = 11;
        s.reached = i % 13 != 0;
        for (int h = 0; h < 11; h++)
            s.rtt_us[h] = (i + h) % 17 == 0 ? PW_RTT_LOST : 500 + h * 2000 + (i * h * 31) % 700;
        if (i >= 50)
            for (int h = 0; h < 10; h++)
                s.rtt_us[h] = PW_STORE_RTT_SKIP;
        pw_block_enc_add(&e, &s);
    }
    len = pw_block_enc_finish(&e);
    put(argv[1], "block", K_BLOCK, buf, len);
    /* Rollup records: two series of minute cells, one of hour cells. */
    for (int lv = 0; lv < 2; lv++) {
        uint8_t body[2048];
        size_t rl = pw_rollup_put_header(buf, (enum pw_rollup_level)lv);

        for (unsigned series = 0; series < 12; series += 11) {
            struct pw_cell_prev prev = {0, 0};
            size_t bl = 0;

            for (unsigned slot = 0; slot < (lv ? 24u : 60u); slot += 3) {
                struct pw_rollup_cell c;

                memset(&c, 0, sizeof(c));
                for (int i = 0; i < 24; i++)
                    pw_rollup_cell_add(&c, i % 11 == 0 ? -1 : (int32_t)(150 + slot * 3 + i * i));
                pw_rollup_cell_encode(&c, slot, &prev, body, sizeof(body), &bl);
            }
            rl += pw_rollup_put_section(buf + rl, series, bl);
            memcpy(buf + rl, body, bl);
            rl += bl;
        }
        pw_rollup_finish(buf, rl);
        put(argv[1], lv ? "rollup_hour" : "rollup_minute", lv ? K_ROLLUP_HOUR : K_ROLLUP_MINUTE,
            buf, rl);
    }
    {
        struct pw_store_route r;
        int n;

        memset(&r, 0, sizeof(r));
        r.nhops = 4;
        pw_addr_parse("198.18.1.1", &r.hop[0]);
        pw_addr_parse("2001:db8::2", &r.hop[1]);
        pw_addr_parse("198.18.3.1", &r.hop[3]);
        n = pw_route_encode(&r, buf);
        put(argv[1], "route", K_ROUTE, buf, (size_t)n);
    }
    {
        struct pw_store_target t;

        memset(&t, 0, sizeof(t));
        snprintf(t.host, sizeof(t.host), "dest.sim.example");
        snprintf(t.label, sizeof(t.label), "label");
        pw_trace_opts_default(&t.opts);
        pw_addr_parse("198.18.3.1", &t.addr);
        pw_target_encode(&t, buf, sizeof(buf), &len);
        put(argv[1], "target", K_TARGET, buf, len);
    }
    {
        struct pw_store_config c;

        memset(&c, 0, sizeof(c));
        pw_trace_opts_default(&c.opts);
        pw_config_encode(&c, buf, sizeof(buf), &len);
        put(argv[1], "config", K_CONFIG, buf, len);
    }
    {
        struct pw_store_comment c;

        memset(&c, 0, sizeof(c));
        snprintf(c.text, sizeof(c.text), "maintenance window");
        snprintf(c.author, sizeof(c.author), "alert:loss");
        pw_comment_encode(&c, buf, sizeof(buf), &len);
        put(argv[1], "comment", K_COMMENT, buf, len);
    }
    {
        struct pw_store_session ss = {.target_id = 2, .start_us = 5, .end_us = 9};

        snprintf(ss.name, sizeof(ss.name), "outage");
        pw_session_encode(&ss, buf, sizeof(buf), &len);
        put(argv[1], "session", K_SESSION, buf, len);
    }
    {
        struct pw_store_route_change c = {.old_route = 1, .new_route = 2, .first_hop = 3};

        pw_route_change_encode(&c, buf);
        put(argv[1], "route_change", K_ROUTE_CHANGE, buf, PW_ROUTE_CHANGE_VAL_LEN);
    }
    pw_dns_val_encode("core1.sim.example", 77, buf, sizeof(buf), &len);
    put(argv[1], "dns", K_DNS, buf, len);
    pw_dns_val_encode(PW_DNS_NONE, 78, buf, sizeof(buf), &len);
    put(argv[1], "dns_none", K_DNS, buf, len);
    return 0;
}
#endif
