/* Unit tests: the store's value encodings (sample blocks, rollup cells and records, routes,
 * small records): round trips, block boundaries, and damaged input. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "store/store_codec.h"

/* xorshift64: deterministic test data. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* A realistic-ish sample stream: a few routes, 1-2 % loss, a silent hop, final-hop-only
 * stretches, hop counts that change. */
static void make_samples(struct pw_store_sample *s, size_t n, int64_t t0)
{
    int64_t t = t0;

    for (size_t i = 0; i < n; i++) {
        memset(&s[i], 0, sizeof(s[i]));
        s[i].time_us = t;
        t += 2500000 + (int64_t)rnd_below(4000) - 2000;
        if (i % 500 == 499)
            t += 3600000000; /* a pause */
        s[i].route_id = 1 + (unsigned)(i / 700) % 3;
        s[i].nhops = (uint8_t)(i % 900 < 850 ? 11 : 9);
        s[i].reached = i % 97 != 5;
        for (unsigned h = 0; h < s[i].nhops; h++) {
            if (h == 4 || rnd_below(100) < 2)
                s[i].rtt_us[h] = PW_RTT_LOST;
            else
                s[i].rtt_us[h] = (int32_t)(800 + h * 3000 + rnd_below(900 + h * 300));
        }
        if (i % 1000 >= 950) { /* final hop only */
            for (unsigned h = 0; h + 1 < s[i].nhops; h++)
                s[i].rtt_us[h] = PW_STORE_RTT_SKIP;
        }
        if (i == 17)
            s[i].rtt_us[2] = 70000000; /* above the cap */
        if (i == 18)
            s[i].rtt_us[3] = 0;
    }
}

static bool same_stored(const struct pw_store_sample *got, const struct pw_store_sample *in)
{
    if (got->time_us != in->time_us || got->route_id != in->route_id || got->nhops != in->nhops ||
        got->reached != in->reached)
        return false;
    for (unsigned h = 0; h < in->nhops; h++) {
        int32_t want = in->rtt_us[h] < 0
                           ? in->rtt_us[h]
                           : pw_store_quantize(in->rtt_us[h]) * PW_STORE_RTT_QUANTUM_US;
        if (got->rtt_us[h] != want)
            return false;
    }
    return true;
}

struct cmp_ctx {
    const struct pw_store_sample *want;
    size_t n, bad;
};

static int cmp_cb(void *arg, const struct pw_store_sample *smp)
{
    struct cmp_ctx *c = arg;

    if (!same_stored(smp, &c->want[c->n]))
        c->bad++;
    c->n++;
    return 0;
}

static void test_block_roundtrip_and_boundaries(void)
{
    enum { N = 6000 };
    struct pw_store_sample *in = calloc(N, sizeof(*in));
    uint8_t buf[8176];
    struct pw_block_enc e;
    size_t first = 0, blocks = 0, total = 0;

    make_samples(in, N, INT64_C(1700000000000000));
    CHECK_INT(pw_block_enc_init(&e, buf, sizeof(buf)), 0);
    for (size_t i = 0; i <= N; i++) {
        int rc = i < N ? pw_block_enc_add(&e, &in[i]) : -ENOSPC;

        if (rc == 0)
            continue;
        CHECK_INT(rc, -ENOSPC);
        {
            size_t len = pw_block_enc_finish(&e);
            struct cmp_ctx c = {in + first, 0, 0};
            struct pw_block_info info;

            CHECK(len <= sizeof(buf));
            /* The refused sample left the block as it was: it still decodes whole. */
            CHECK_INT(pw_block_decode(buf, len, in[first].time_us, cmp_cb, &c), 0);
            CHECK_INT(c.n, i - first);
            CHECK_INT(c.bad, 0);
            CHECK_INT(pw_block_info(buf, len, &info), 0);
            CHECK_INT(info.nsamples, i - first);
            CHECK_INT(info.span_us, in[i - 1].time_us - in[first].time_us);
            if (i < N) /* a full block is nearly full */
                CHECK(len > sizeof(buf) - 64);
            total += c.n;
            blocks++;
        }
        if (i == N)
            break;
        first = i;
        CHECK_INT(pw_block_enc_init(&e, buf, sizeof(buf)), 0);
        CHECK_INT(pw_block_enc_add(&e, &in[i]), 0);
    }
    CHECK_INT(total, N);
    CHECK(blocks >= 3);
    free(in);
}

static void test_block_rejects(void)
{
    uint8_t buf[256];
    struct pw_block_enc e;
    struct pw_store_sample s = {.time_us = 1000, .route_id = 1, .nhops = 2, .rtt_us = {10, 20}};

    CHECK_INT(pw_block_enc_init(&e, buf, 10), -EINVAL);
    CHECK_INT(pw_block_enc_init(&e, buf, sizeof(buf)), 0);
    CHECK_INT(pw_block_enc_add(&e, &s), 0);
    CHECK_INT(pw_block_enc_add(&e, &s), PW_E_RANGE); /* same time */
    s.time_us = 999;
    CHECK_INT(pw_block_enc_add(&e, &s), PW_E_RANGE); /* earlier */
    s.time_us = 2000;
    s.rtt_us[1] = -3;
    CHECK_INT(pw_block_enc_add(&e, &s), PW_E_RANGE);
    s.rtt_us[1] = 5;
    s.nhops = PW_TRACE_MAX_HOPS + 1;
    CHECK_INT(pw_block_enc_add(&e, &s), PW_E_RANGE);
    s.nhops = 2;
    CHECK_INT(pw_block_enc_add(&e, &s), 0);
    CHECK_INT(e.st.nsamples, 2);
}

/* Damaged blocks: every truncation and every single-bit flip either decodes to something or
 * fails cleanly (the sanitizers watch the reads); truncations always fail. */
static void test_block_damage(void)
{
    enum { N = 300 };
    struct pw_store_sample *in = calloc(N, sizeof(*in));
    uint8_t buf[8176], copy[8176];
    struct pw_block_enc e;
    size_t len, ok_flips = 0;

    make_samples(in, N, 5000000);
    pw_block_enc_init(&e, buf, sizeof(buf));
    for (size_t i = 0; i < N; i++)
        CHECK_INT(pw_block_enc_add(&e, &in[i]), 0);
    len = pw_block_enc_finish(&e);
    CHECK_INT(pw_block_decode(buf, len, 5000000, NULL, NULL), 0);
    for (size_t cut = 0; cut < len; cut++) {
        int rc = pw_block_decode(buf, cut, 5000000, NULL, NULL);

        CHECK(rc == PW_E_TRUNCATED || rc == PW_E_MALFORMED || rc == PW_E_CHECKSUM);
    }
    for (size_t bit = 0; bit < len * 8; bit++) {
        int rc;

        memcpy(copy, buf, len);
        copy[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
        rc = pw_block_decode(copy, len, 5000000, NULL, NULL);
        CHECK(rc == PW_E_CHECKSUM || rc == PW_E_TRUNCATED || rc == PW_E_MALFORMED);
        ok_flips += rc == 0;
    }
    /* The checksum catches every single flip. */
    CHECK_INT(ok_flips, 0);
    /* Garbage of every length. */
    for (size_t n = 0; n < 300; n++) {
        for (size_t i = 0; i < n; i++)
            copy[i] = (uint8_t)rnd();
        copy[0] = PW_BLOCK_VERSION;
        int rc = pw_block_decode(copy, n, 0, NULL, NULL);

        CHECK(rc == PW_E_CHECKSUM || rc == PW_E_TRUNCATED || rc == PW_E_MALFORMED);
    }
    free(in);
}

static void fill_cell(struct pw_rollup_cell *c, unsigned n, unsigned base, unsigned spread,
                      unsigned loss_pct)
{
    memset(c, 0, sizeof(*c));
    for (unsigned i = 0; i < n; i++)
        pw_rollup_cell_add(
            c, rnd_below(100) < loss_pct ? -1 : (int32_t)(base + (spread ? rnd_below(spread) : 0)));
}

struct cell_seen {
    unsigned n;
    unsigned series[64], slot[64];
    struct pw_rollup_cell c[64];
};

static int cell_cb(void *arg, unsigned series, unsigned slot, const struct pw_rollup_cell *c)
{
    struct cell_seen *cs = arg;

    if (cs->n < 64) {
        cs->series[cs->n] = series;
        cs->slot[cs->n] = slot;
        cs->c[cs->n] = *c;
    }
    cs->n++;
    return 0;
}

static bool cell_equal(const struct pw_rollup_cell *a, const struct pw_rollup_cell *b)
{
    bool ans = a->count > a->lost;

    return a->count == b->count && a->lost == b->lost &&
           (!ans || (a->min_q == b->min_q && a->max_q == b->max_q && a->sum_q == b->sum_q &&
                     a->sumsq_q == b->sumsq_q)) &&
           memcmp(a->hist, b->hist, sizeof(a->hist)) == 0;
}

static void test_rollup_record(void)
{
    struct pw_rollup_cell cells[6];
    const unsigned series[6] = {0, 0, 3, 3, 3, 64};
    const unsigned slots[6] = {0, 59, 2, 3, 40, 7};
    uint8_t body[4][1024], rec[4096];
    size_t blen[4] = {0}, len = 0;
    struct pw_cell_prev prev[4] = {{0, 0}};
    const int sec_of[6] = {0, 0, 1, 1, 1, 2};
    struct cell_seen cs = {0};
    bool want[PW_STORE_SERIES] = {false};

    fill_cell(&cells[0], 24, 1500, 40, 5);
    fill_cell(&cells[1], 24, 1500, 0, 0);    /* no spread */
    fill_cell(&cells[2], 1, 30000, 0, 0);    /* one value */
    fill_cell(&cells[3], 24, 10, 400000, 0); /* over many bins */
    fill_cell(&cells[4], 5, 0, 0, 100);      /* all lost */
    fill_cell(&cells[5], 24, PW_STORE_Q_MAX - 10, 10, 1);
    for (int i = 0; i < 6; i++)
        CHECK_INT(pw_rollup_cell_encode(&cells[i], slots[i], &prev[sec_of[i]], body[sec_of[i]],
                                        sizeof(body[0]), &blen[sec_of[i]]),
                  0);
    len = pw_rollup_put_header(rec, PW_ROLLUP_MINUTE);
    for (int sct = 0; sct < 3; sct++) {
        const unsigned ser[3] = {0, 3, 64};

        len += pw_rollup_put_section(rec + len, ser[sct], blen[sct]);
        memcpy(rec + len, body[sct], blen[sct]);
        len += blen[sct];
    }
    pw_rollup_finish(rec, len);
    CHECK_INT(pw_rollup_decode(rec, len, PW_ROLLUP_MINUTE, NULL, cell_cb, &cs), 0);
    CHECK_INT(cs.n, 6);
    for (int i = 0; i < 6 && i < (int)cs.n; i++) {
        CHECK_INT(cs.series[i], series[i]);
        CHECK_INT(cs.slot[i], slots[i]);
        CHECK(cell_equal(&cs.c[i], &cells[i]));
    }
    /* Only series 3, the others skipped by length. */
    cs.n = 0;
    want[3] = true;
    CHECK_INT(pw_rollup_decode(rec, len, PW_ROLLUP_MINUTE, want, cell_cb, &cs), 0);
    CHECK_INT(cs.n, 3);
    /* The wrong level, truncations and flips fail cleanly. */
    CHECK_INT(pw_rollup_decode(rec, len, PW_ROLLUP_HOUR, NULL, NULL, NULL), PW_E_MALFORMED);
    /* Sections delimit themselves, so only the checksum catches a cut between two. */
    for (size_t cut = 0; cut < len; cut++) {
        int rc = pw_rollup_decode(rec, cut, PW_ROLLUP_MINUTE, NULL, NULL, NULL);

        CHECK(rc == PW_E_CHECKSUM || rc == PW_E_TRUNCATED);
    }
    for (size_t bit = 0; bit < len * 8; bit++) {
        uint8_t copy[4096];
        int rc;

        memcpy(copy, rec, len);
        copy[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
        rc = pw_rollup_decode(copy, len, PW_ROLLUP_MINUTE, NULL, NULL, NULL);
        CHECK(rc == PW_E_CHECKSUM || rc == PW_E_TRUNCATED || rc == PW_E_MALFORMED);
    }
    /* Merging equals adding every value to one cell. */
    {
        struct pw_rollup_cell a, b, m;

        rnd_state = 42;
        fill_cell(&a, 30, 2000, 300, 10);
        fill_cell(&b, 30, 100, 50000, 10);
        rnd_state = 42;
        fill_cell(&m, 30, 2000, 300, 10);
        m = a;
        pw_rollup_cell_merge(&m, &b);
        CHECK_INT(m.count, a.count + b.count);
        CHECK_INT(m.min_q, a.min_q < b.min_q ? a.min_q : b.min_q);
        CHECK_INT(m.max_q, a.max_q > b.max_q ? a.max_q : b.max_q);
        CHECK(m.sum_q == a.sum_q + b.sum_q);
    }
}

static void test_hist_bins(void)
{
    CHECK_INT(pw_store_hist_bin(0), 0);
    CHECK_INT(pw_store_hist_bin(249), 0);
    CHECK_INT(pw_store_hist_bin(250), 1);
    CHECK_INT(pw_store_hist_bin(499), 1);
    CHECK_INT(pw_store_hist_bin(500), 2);
    CHECK_INT(pw_store_hist_bin(20000), 7);
    CHECK_INT(pw_store_hist_bin(4095999), 14);
    CHECK_INT(pw_store_hist_bin(4096000), 15);
    CHECK_INT(pw_store_hist_bin(60000000), 15);
    for (unsigned b = 0; b + 1 < PW_STORE_HIST_BINS; b++) {
        CHECK_INT(pw_store_hist_bin(pw_store_hist_bound_us(b) - 1), b);
        CHECK_INT(pw_store_hist_bin(pw_store_hist_bound_us(b)), b + 1);
    }
    CHECK(pw_store_hist_bound_us(PW_STORE_HIST_BINS - 1) == INT64_MAX);
}

static void test_small_records(void)
{
    struct pw_store_route r = {0}, r2;
    uint8_t buf[PW_REC_MAX + PW_ROUTE_VAL_MAX];
    size_t len;
    int n;

    r.nhops = 3;
    pw_addr_parse("198.18.1.1", &r.hop[0]);
    pw_addr_parse("2001:db8::1", &r.hop[2]);
    n = pw_route_encode(&r, buf);
    CHECK_INT(n, 2 + 5 + 1 + 17);
    CHECK_INT(pw_route_decode(buf, (size_t)n, &r2), 0);
    CHECK_MEM(&r, &r2, sizeof(r));
    CHECK_INT(pw_route_decode(buf, (size_t)n - 1, &r2), PW_E_TRUNCATED);
    buf[1] = 65;
    CHECK_INT(pw_route_decode(buf, (size_t)n, &r2), PW_E_MALFORMED);

    {
        struct pw_store_target t = {0}, t2;

        snprintf(t.host, sizeof(t.host), "dest.sim.example");
        snprintf(t.label, sizeof(t.label), "a label");
        pw_trace_opts_default(&t.opts);
        t.opts.final_hop_only = true;
        t.paused = true;
        pw_addr_parse("198.18.9.9", &t.addr);
        t.created_us = -5;
        CHECK_INT(pw_target_encode(&t, buf, sizeof(buf), &len), 0);
        CHECK_INT(pw_target_decode(buf, len, 7, &t2), 0);
        t.id = 7;
        CHECK_MEM(&t, &t2, sizeof(t));
        /* An unknown (newer) field is skipped. */
        buf[len] = 99;
        buf[len + 1] = 0;
        buf[len + 2] = 1;
        buf[len + 3] = 'x';
        CHECK_INT(pw_target_decode(buf, len + 4, 7, &t2), 0);
        CHECK_INT(pw_target_decode(buf, len + 3, 7, &t2), PW_E_TRUNCATED);
        /* A cut inside an item fails; one between items (7 of them) may leave a record
         * that lacks the later, optional fields. */
        {
            size_t ok = 0;

            for (size_t cut = 0; cut < len; cut++) {
                int rc = pw_target_decode(buf, cut, 7, &t2);

                CHECK(rc == 0 || rc == PW_E_TRUNCATED || rc == PW_E_MALFORMED);
                ok += rc == 0;
            }
            CHECK(ok <= 5);
        }
    }
    {
        struct pw_store_session ss = {.target_id = 3,
                                      .start_us = 10,
                                      .end_us = 20,
                                      .created_us = 30},
                                ss2;

        snprintf(ss.name, sizeof(ss.name), "outage");
        CHECK_INT(pw_session_encode(&ss, buf, sizeof(buf), &len), 0);
        CHECK_INT(pw_session_decode(buf, len, 9, &ss2), 0);
        ss.id = 9;
        CHECK_MEM(&ss, &ss2, sizeof(ss));
    }
    {
        char name[PW_DNS_NAME_MAX + 1];
        int64_t when;

        CHECK_INT(pw_dns_val_encode("core1.sim.example", 77, buf, sizeof(buf), &len), 0);
        CHECK_INT(pw_dns_val_decode(buf, len, name, sizeof(name), &when), 0);
        CHECK_STR(name, "core1.sim.example");
        CHECK_INT(when, 77);
        CHECK_INT(pw_dns_val_encode(PW_DNS_NONE, 78, buf, sizeof(buf), &len), 0);
        CHECK_INT(len, 10);
        CHECK_INT(pw_dns_val_decode(buf, len, name, sizeof(name), &when), 0);
        CHECK_STR(name, PW_DNS_NONE);
        CHECK_INT(pw_dns_val_encode("bad name", 1, buf, sizeof(buf), &len), PW_E_RANGE);
        /* "No PTR" is spelled by the flag only, never as a stored name. */
        CHECK_INT(pw_dns_val_encode("x---------", 1, buf, sizeof(buf), &len), 0);
        buf[10] = '-';
        CHECK_INT(pw_dns_val_decode(buf, len, name, sizeof(name), NULL), PW_E_MALFORMED);
        CHECK_INT(pw_dns_val_decode(buf, 3, name, sizeof(name), NULL), PW_E_TRUNCATED);
    }
}

int main(void)
{
    RUN(test_block_roundtrip_and_boundaries);
    RUN(test_block_rejects);
    RUN(test_block_damage);
    RUN(test_rollup_record);
    RUN(test_hist_bins);
    RUN(test_small_records);
    return check_exit();
}
