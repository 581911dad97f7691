/* PingWatcher — the store's read API over samples and rollups: raw samples, the hop table,
 * timelines and export (see store.h and FORMAT.md).
 *
 * Blocks are decoded whole into a sample buffer and used only when the whole block decodes,
 * so a damaged block contributes nothing (and the read returns PW_E_MALFORMED at the end). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_int.h"

/* ---- decoded samples ---- */

struct srow {
    int64_t t;
    uint32_t route;
    uint8_t nhops;
    bool reached;
    size_t off; /* into svec.rtt */
};

struct svec {
    struct srow *row;
    size_t n, cap;
    int32_t *rtt;
    size_t nrtt, caprtt;
};

static void svec_free(struct svec *v)
{
    free(v->row);
    free(v->rtt);
    memset(v, 0, sizeof(*v));
}

static int svec_push(struct svec *v, const struct pw_store_sample *smp)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        struct srow *p = realloc(v->row, cap * sizeof(*p));

        if (!p)
            return -ENOMEM;
        v->row = p;
        v->cap = cap;
    }
    if (v->nrtt + smp->nhops > v->caprtt) {
        size_t cap = v->caprtt ? v->caprtt * 2 : 16384;
        int32_t *p;

        while (cap < v->nrtt + smp->nhops)
            cap *= 2;
        p = realloc(v->rtt, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        v->rtt = p;
        v->caprtt = cap;
    }
    v->row[v->n] = (struct srow){smp->time_us, smp->route_id, smp->nhops, smp->reached, v->nrtt};
    memcpy(v->rtt + v->nrtt, smp->rtt_us, smp->nhops * sizeof(int32_t));
    v->nrtt += smp->nhops;
    v->n++;
    return 0;
}

static void svec_get(const struct svec *v, size_t i, struct pw_store_sample *smp)
{
    const struct srow *r = &v->row[i];

    smp->time_us = r->t;
    smp->route_id = r->route;
    smp->nhops = r->nhops;
    smp->reached = r->reached;
    memcpy(smp->rtt_us, v->rtt + r->off, r->nhops * sizeof(int32_t));
}

static int svec_cb(void *arg, const struct pw_store_sample *smp)
{
    return svec_push(arg, smp);
}

/* Decodes a block into v (emptied first). 0, PW_E_MALFORMED (v emptied) or -ENOMEM. */
static int block_load(const MDB_val *k, const MDB_val *d, struct svec *v)
{
    int rc;

    v->n = v->nrtt = 0;
    if (k->mv_size != PW_KEY_TT_LEN)
        return PW_E_MALFORMED;
    rc = pw_block_decode(d->mv_data, d->mv_size, pw_get_time((const uint8_t *)k->mv_data + 4),
                         svec_cb, v);
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        v->n = v->nrtt = 0;
        return PW_E_MALFORMED;
    }
    return 0;
}

/* The newest time a block can hold, from its header (its start when unreadable). */
static int64_t block_end(const MDB_val *k, const MDB_val *d)
{
    int64_t t0 = pw_get_time((const uint8_t *)k->mv_data + 4);
    struct pw_block_info info;

    if (pw_block_info(d->mv_data, d->mv_size, &info) == 0 && info.span_us < (UINT64_C(1) << 62))
        return t0 + (int64_t)info.span_us;
    return t0;
}

static bool key_is_target(const MDB_val *k, uint32_t target)
{
    return k->mv_size == PW_KEY_TT_LEN && pw_get_be32(k->mv_data) == target;
}

/* Calls fn for every decodable block of target that may hold samples in [start, end), oldest
 * first. Damaged blocks are skipped and reported as PW_E_MALFORMED at the end. */
static int blocks_forward(struct pw_store *s, MDB_txn *txn, uint32_t target, int64_t start,
                          int64_t end, struct svec *v, int (*fn)(void *arg, struct svec *v),
                          void *arg)
{
    MDB_cursor *c = NULL;
    MDB_val k, d;
    uint8_t key[PW_KEY_TT_LEN];
    int mrc, rc = 0, bad = 0;

    if ((mrc = mdb_cursor_open(txn, s->dbi[PW_DB_SAMPLES], &c)) != 0)
        return pw_store_mdb_err(mrc);
    /* The block starting at or before start may reach into the range. */
    mrc = pw_store_seek_last_le(c, target, start, &k, &d);
    if (mrc == MDB_NOTFOUND) {
        pw_key_tt(key, target, start);
        k = (MDB_val){sizeof(key), key};
        mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    }
    for (; mrc == 0; mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (!key_is_target(&k, target) || pw_get_time((const uint8_t *)k.mv_data + 4) >= end)
            break;
        if (block_end(&k, &d) < start)
            continue;
        rc = block_load(&k, &d, v);
        if (rc == PW_E_MALFORMED) {
            bad = 1;
            rc = 0;
            continue;
        }
        if (rc || (rc = fn(arg, v)) != 0)
            break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = pw_store_mdb_err(mrc);
    mdb_cursor_close(c);
    return rc ? rc : (bad ? PW_E_MALFORMED : 0);
}

/* The same, newest first, for blocks that may hold samples with time <= last. fn returns 1 to
 * stop without error. */
static int blocks_backward(struct pw_store *s, MDB_txn *txn, uint32_t target, int64_t start,
                           int64_t last, struct svec *v, int (*fn)(void *arg, struct svec *v),
                           void *arg)
{
    MDB_cursor *c = NULL;
    MDB_val k, d;
    int mrc, rc = 0, bad = 0;

    if ((mrc = mdb_cursor_open(txn, s->dbi[PW_DB_SAMPLES], &c)) != 0)
        return pw_store_mdb_err(mrc);
    for (mrc = pw_store_seek_last_le(c, target, last, &k, &d); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &d, MDB_PREV)) {
        if (!key_is_target(&k, target) || block_end(&k, &d) < start)
            break;
        rc = block_load(&k, &d, v);
        if (rc == PW_E_MALFORMED) {
            bad = 1;
            rc = 0;
            continue;
        }
        if (rc || (rc = fn(arg, v)) != 0)
            break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = pw_store_mdb_err(mrc);
    mdb_cursor_close(c);
    if (rc == 1)
        rc = 0;
    return rc ? rc : (bad ? PW_E_MALFORMED : 0);
}

/* ---- raw samples ---- */

struct samples_ctx {
    int64_t start, end;
    int (*cb)(void *arg, const struct pw_store_sample *smp);
    void *arg;
    int stopped;
    struct pw_store_sample smp;
};

static int samples_fwd(void *arg, struct svec *v)
{
    struct samples_ctx *sc = arg;

    for (size_t i = 0; i < v->n; i++) {
        if (v->row[i].t < sc->start || v->row[i].t >= sc->end)
            continue;
        svec_get(v, i, &sc->smp);
        if ((sc->stopped = sc->cb(sc->arg, &sc->smp)) != 0)
            return 1;
    }
    return 0;
}

static int samples_back(void *arg, struct svec *v)
{
    struct samples_ctx *sc = arg;

    for (size_t i = v->n; i-- > 0;) {
        if (v->row[i].t < sc->start || v->row[i].t >= sc->end)
            continue;
        svec_get(v, i, &sc->smp);
        if ((sc->stopped = sc->cb(sc->arg, &sc->smp)) != 0)
            return 1;
    }
    return 0;
}

int pw_store_samples(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                     bool newest_first, int (*cb)(void *arg, const struct pw_store_sample *smp),
                     void *arg)
{
    struct samples_ctx sc = {start_us, end_us, cb, arg, 0, {0}};
    struct svec v = {0};
    MDB_txn *txn;
    int rc;

    if (!s || !cb)
        return -EINVAL;
    if (start_us >= end_us)
        return 0;
    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    if (newest_first)
        rc = blocks_backward(s, txn, target_id, start_us, end_us - 1, &v, samples_back, &sc);
    else
        rc = blocks_forward(s, txn, target_id, start_us, end_us, &v, samples_fwd, &sc);
    pw_store_rd_end(s, txn);
    svec_free(&v);
    if (sc.stopped)
        return sc.stopped;
    return rc == 1 ? 0 : rc;
}

/* ---- routes and names inside a read transaction ---- */

struct route_cache {
    uint32_t id;
    bool valid;
    struct pw_store_route r;
};

/* The route of id (a route that cannot be read counts as no responders). */
static const struct pw_store_route *route_lookup(struct pw_store *s, MDB_txn *txn,
                                                 struct route_cache *rc, uint32_t id)
{
    uint8_t key[4];
    MDB_val k = {4, key}, d;

    if (rc->valid && rc->id == id)
        return &rc->r;
    rc->valid = true;
    rc->id = id;
    memset(&rc->r, 0, sizeof(rc->r));
    if (id == 0)
        return &rc->r;
    pw_put_be32(key, id);
    if (mdb_get(txn, s->dbi[PW_DB_ROUTES], &k, &d) != 0 ||
        pw_route_decode(d.mv_data, d.mv_size, &rc->r) != 0)
        memset(&rc->r, 0, sizeof(rc->r));
    return &rc->r;
}

static void dns_lookup(struct pw_store *s, MDB_txn *txn, const struct pw_addr *a, char *name,
                       size_t len)
{
    uint8_t key[17];
    int klen = pw_addr_encode(a, key);
    MDB_val k, d;

    name[0] = 0;
    if (klen <= 1)
        return;
    if (s->w && pw_store_writer_dns_get(s, key, (size_t)klen, name, len) == 0)
        return;
    k = (MDB_val){(size_t)klen, key};
    if (mdb_get(txn, s->dbi[PW_DB_DNS], &k, &d) != 0 ||
        pw_dns_val_decode(d.mv_data, d.mv_size, name, len, NULL) != 0)
        name[0] = 0;
}

/* ---- the hop table ---- */

struct hops_ctx {
    int64_t at;
    size_t want;
    struct svec got; /* newest first */
    struct pw_store_sample smp;
};

static int hops_collect(void *arg, struct svec *v)
{
    struct hops_ctx *hc = arg;

    for (size_t i = v->n; i-- > 0 && hc->got.n < hc->want;) {
        if (v->row[i].t > hc->at)
            continue;
        svec_get(v, i, &hc->smp);
        if (svec_push(&hc->got, &hc->smp) != 0)
            return -ENOMEM;
    }
    return hc->got.n >= hc->want ? 1 : 0;
}

static void hop_note_addr(struct pw_report_hop *h, const struct pw_addr *addr)
{
    h->last = *addr;
    for (unsigned i = 0; i < h->naddrs; i++)
        if (pw_addr_equal(&h->addrs[i], addr))
            return;
    if (h->naddrs < PW_REPORT_MAX_ADDRS)
        h->addrs[h->naddrs++] = *addr;
}

int pw_store_hops(struct pw_store *s, uint32_t target_id, uint32_t focus, int64_t at_us,
                  struct pw_report *r)
{
    struct hops_ctx hc;
    struct svec v = {0};
    struct route_cache rcache = {0};
    struct pw_store_target tg;
    uint8_t key[4];
    MDB_val k = {4, key}, d;
    MDB_txn *txn;
    int32_t *window = NULL;
    bool has_target = false;
    unsigned shown = 0, last_answer = 0, max_ttl = 0, kept = 0, last;
    int rc;

    if (!s || !r)
        return -EINVAL;
    memset(r, 0, sizeof(*r));
    memset(&hc, 0, sizeof(hc));
    hc.at = at_us ? at_us : INT64_MAX;
    hc.want = focus && focus < PW_STORE_FOCUS_MAX ? focus : PW_STORE_FOCUS_MAX;
    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    pw_put_be32(key, target_id);
    if (mdb_get(txn, s->dbi[PW_DB_TARGETS], &k, &d) == 0 &&
        pw_target_decode(d.mv_data, d.mv_size, target_id, &tg) == 0) {
        has_target = true;
        snprintf(r->target, sizeof(r->target), "%s", tg.host);
        r->ip = tg.addr;
        r->proto = tg.opts.proto;
    }
    rc = blocks_backward(s, txn, target_id, INT64_MIN, hc.at, &v, hops_collect, &hc);
    if (rc && rc != PW_E_MALFORMED)
        goto out;
    if (!has_target && hc.got.n == 0) {
        rc = rc ? rc : -ENOENT;
        goto out;
    }

    /* hc.got[0] is the newest sample. The destination's distance is the newest sample's that
     * reached it, as in pw_report_acc_finish(). */
    for (size_t i = 0; i < hc.got.n; i++) {
        if (!shown && hc.got.row[i].reached)
            shown = hc.got.row[i].nhops;
        if (hc.got.row[i].nhops > max_ttl)
            max_ttl = hc.got.row[i].nhops;
    }
    window = malloc((hc.got.n ? hc.got.n : 1) * sizeof(*window));
    if (!window) {
        rc = -ENOMEM;
        goto out;
    }
    for (unsigned ttl = 1; ttl <= max_ttl; ttl++) {
        struct pw_report_hop *h = &r->hop[ttl - 1];
        size_t m = 0;

        h->ttl = (uint8_t)ttl;
        for (size_t i = hc.got.n; i-- > 0;) {
            const struct srow *row = &hc.got.row[i];
            int32_t val;

            /* A sample that reached the destination closer than ttl did not probe ttl. */
            if (ttl > row->nhops)
                continue;
            val = hc.got.rtt[row->off + ttl - 1];
            if (val == PW_STORE_RTT_SKIP)
                continue;
            window[m++] = val;
            if (val >= 0) {
                const struct pw_store_route *rt = route_lookup(s, txn, &rcache, row->route);

                if (ttl <= rt->nhops && rt->hop[ttl - 1].family)
                    hop_note_addr(h, &rt->hop[ttl - 1]);
                last_answer = ttl;
            }
        }
        pw_stats_compute(window, m, &h->stats);
    }
    last = shown ? shown : last_answer;
    for (unsigned ttl = 1; ttl <= last; ttl++) {
        if (r->hop[ttl - 1].stats.sent == 0)
            continue;
        if (kept != ttl - 1)
            r->hop[kept] = r->hop[ttl - 1];
        if (r->hop[kept].naddrs)
            dns_lookup(s, txn, &r->hop[kept].last, r->hop[kept].dns, sizeof(r->hop[kept].dns));
        kept++;
    }
    memset(&r->hop[kept], 0, sizeof(r->hop) - kept * sizeof(r->hop[0]));
    r->nhops = (uint8_t)kept;
    r->samples = hc.got.n;
out:
    pw_store_rd_end(s, txn);
    free(window);
    svec_free(&v);
    svec_free(&hc.got);
    return rc;
}

/* ---- timeline ---- */

static const int64_t ladder_s[] = {1,   2,    5,    10,   15,    30,    60,    120,   300,   600,
                                   900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800};

/* Series accumulator of the current bucket. */
struct tacc {
    struct pw_rollup_cell cell;
    int32_t *vals; /* answered RTTs in stored units (raw buckets only) */
    size_t nvals, capvals;
};

struct tl_ctx {
    struct pw_store *s;
    int hop;
    int64_t res, bstart, bend;
    int64_t cur; /* start of the bucket being filled; INT64_MIN: none */
    struct tacc acc[PW_STORE_SERIES];
    bool raw;
    int (*cb)(void *arg, const struct pw_store_bucket *b);
    void *arg;
    int stopped;
};

static bool want_series(const struct tl_ctx *tc, unsigned series)
{
    if (tc->hop < 0)
        return series >= 1;
    return series == (unsigned)tc->hop;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return (x > y) - (x < y);
}

/* The RTT (ms) of rank (1-based) among the answered values summarised by c. */
static double hist_rank_ms(const struct pw_rollup_cell *c, uint64_t rank)
{
    uint64_t cum = 0;
    double min_us = (double)c->min_q * PW_STORE_RTT_QUANTUM_US;
    double max_us = (double)c->max_q * PW_STORE_RTT_QUANTUM_US;

    for (unsigned b = 0; b < PW_STORE_HIST_BINS; b++) {
        double lo, hi, frac;

        if (cum + c->hist[b] < rank) {
            cum += c->hist[b];
            continue;
        }
        lo = b == 0 ? 0.0 : (double)pw_store_hist_bound_us(b - 1);
        hi = b == PW_STORE_HIST_BINS - 1 ? max_us : (double)pw_store_hist_bound_us(b);
        if (lo < min_us)
            lo = min_us;
        if (hi > max_us)
            hi = max_us;
        /* Spread the bin's values evenly over what is left of it. */
        frac = ((double)(rank - cum) - 0.5) / (double)c->hist[b];
        return (lo + (hi - lo) * frac) / 1000.0;
    }
    return max_us / 1000.0;
}

static uint64_t rank_of(unsigned pct, uint64_t n)
{
    return (pct * n + 99) / 100;
}

static void bucket_fill(struct pw_store_bucket *b, struct tacc *a, bool exact)
{
    const struct pw_rollup_cell *c = &a->cell;
    uint64_t ans = c->count - c->lost;
    static const unsigned pct[3] = {10, 50, 90};
    double *out[3] = {&b->p10_ms, &b->p50_ms, &b->p90_ms};
    const double q_ms = PW_STORE_RTT_QUANTUM_US / 1000.0;

    b->count = c->count;
    b->lost = c->lost;
    memcpy(b->hist, c->hist, sizeof(b->hist));
    b->has_latency = ans > 0;
    if (!ans)
        return;
    b->min_ms = c->min_q * q_ms;
    b->max_ms = c->max_q * q_ms;
    b->avg_ms = (double)c->sum_q / (double)ans * q_ms;
    {
        /* n * sumsq - sum^2 is exact in 128 bits, so a tiny spread is not lost to rounding. */
        pw_u128 num = (pw_u128)ans * c->sumsq_q - (pw_u128)c->sum_q * c->sum_q;

        b->stddev_ms = sqrt((double)num) / (double)ans * q_ms;
    }
    if (exact && a->nvals == ans)
        qsort(a->vals, a->nvals, sizeof(*a->vals), cmp_i32);
    for (int i = 0; i < 3; i++) {
        uint64_t rank = rank_of(pct[i], ans);

        if (exact && a->nvals == ans)
            *out[i] = a->vals[rank - 1] * q_ms;
        else
            *out[i] = hist_rank_ms(c, rank);
    }
}

/* Reports the bucket being filled, series by series, and empties it. */
static int tl_emit(struct tl_ctx *tc)
{
    struct pw_store_bucket b;

    if (tc->cur == INT64_MIN)
        return 0;
    for (unsigned s = 0; s < PW_STORE_SERIES; s++) {
        struct tacc *a = &tc->acc[s];

        if (!a->cell.count)
            continue;
        memset(&b, 0, sizeof(b));
        b.start_us = tc->cur;
        b.end_us = tc->cur + tc->res;
        b.hop = (uint8_t)s;
        bucket_fill(&b, a, tc->raw);
        memset(&a->cell, 0, sizeof(a->cell));
        a->nvals = 0;
        if (!tc->stopped && (tc->stopped = tc->cb(tc->arg, &b)) != 0)
            return 1;
    }
    tc->cur = INT64_MIN;
    return 0;
}

/* Moves to the bucket of time t, reporting the previous one. */
static int tl_at(struct tl_ctx *tc, int64_t t)
{
    int64_t b = pw_floor_div(t, tc->res) * tc->res;

    if (b == tc->cur)
        return 0;
    if (tl_emit(tc))
        return 1;
    tc->cur = b;
    return 0;
}

static int tl_add_raw(struct tl_ctx *tc, unsigned series, int32_t rtt_us)
{
    struct tacc *a = &tc->acc[series];
    int32_t q = pw_store_quantize(rtt_us);

    pw_rollup_cell_add(&a->cell, q);
    if (q < 0)
        return 0;
    if (a->nvals == a->capvals) {
        size_t cap = a->capvals ? a->capvals * 2 : 256;
        int32_t *p = realloc(a->vals, cap * sizeof(*p));

        if (!p)
            return -ENOMEM;
        a->vals = p;
        a->capvals = cap;
    }
    a->vals[a->nvals++] = q;
    return 0;
}

static int tl_raw_block(void *arg, struct svec *v)
{
    struct tl_ctx *tc = arg;

    for (size_t i = 0; i < v->n; i++) {
        const struct srow *row = &v->row[i];
        const int32_t *rtt = v->rtt + row->off;
        int rc;

        if (row->t < tc->bstart || row->t >= tc->bend)
            continue;
        if (tl_at(tc, row->t))
            return 1;
        if (tc->hop == 0) {
            if (row->nhops && rtt[row->nhops - 1] != PW_STORE_RTT_SKIP &&
                (rc = tl_add_raw(tc, 0, rtt[row->nhops - 1])) != 0)
                return rc;
            continue;
        }
        for (unsigned h = 0; h < row->nhops; h++) {
            if (rtt[h] == PW_STORE_RTT_SKIP || !want_series(tc, h + 1))
                continue;
            if ((rc = tl_add_raw(tc, h + 1, rtt[h])) != 0)
                return rc;
        }
    }
    return 0;
}

/* Cells of one rollup record, by slot and series, to be replayed in time order. */
struct tl_rec {
    struct tl_ctx *tc;
    unsigned nseries;             /* 64 for every hop, else 1 */
    struct pw_rollup_cell *cells; /* slots x nseries */
    uint64_t *present;            /* per slot: bit per series index (two words for 64) */
};

static unsigned rec_index(const struct tl_rec *tr, unsigned series)
{
    return tr->nseries == 1 ? 0 : series - 1;
}

static int tl_rec_cb(void *arg, unsigned series, unsigned slot, const struct pw_rollup_cell *c)
{
    struct tl_rec *tr = arg;
    unsigned i;

    if (!want_series(tr->tc, series))
        return 0;
    i = rec_index(tr, series);
    tr->cells[slot * tr->nseries + i] = *c;
    tr->present[slot] |= UINT64_C(1) << i;
    return 0;
}

static int tl_rollups(struct pw_store *s, MDB_txn *txn, uint32_t target, struct tl_ctx *tc,
                      enum pw_rollup_level lv)
{
    unsigned slots = pw_rollup_slots(lv);
    int64_t rec_us = pw_rollup_record_us(lv), slot_us = pw_rollup_slot_us(lv);
    struct tl_rec tr = {tc, tc->hop < 0 ? PW_TRACE_MAX_HOPS : 1, NULL, NULL};
    bool want[PW_STORE_SERIES];
    uint8_t key[PW_KEY_TT_LEN];
    MDB_cursor *c = NULL;
    MDB_val k, d;
    int mrc, rc = 0, bad = 0;

    for (unsigned i = 0; i < PW_STORE_SERIES; i++)
        want[i] = want_series(tc, i);
    tr.cells = calloc((size_t)slots * tr.nseries, sizeof(*tr.cells));
    tr.present = calloc(slots, sizeof(*tr.present));
    if (!tr.cells || !tr.present) {
        rc = -ENOMEM;
        goto out;
    }
    if ((mrc = mdb_cursor_open(
             txn, s->dbi[lv == PW_ROLLUP_MINUTE ? PW_DB_ROLLUP_M : PW_DB_ROLLUP_H], &c)) != 0) {
        rc = pw_store_mdb_err(mrc);
        goto out;
    }
    pw_key_tt(key, target, pw_floor_div(tc->bstart, rec_us) * rec_us);
    k = (MDB_val){sizeof(key), key};
    for (mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        int64_t rec;

        if (!key_is_target(&k, target))
            break;
        rec = pw_get_time((const uint8_t *)k.mv_data + 4);
        if (rec >= tc->bend)
            break;
        for (unsigned sl = 0; sl < slots; sl++)
            tr.present[sl] = 0;
        rc = pw_rollup_decode(d.mv_data, d.mv_size, lv, want, tl_rec_cb, &tr);
        if (rc) {
            /* A damaged record contributes nothing: the cells gathered so far are dropped. */
            bad = 1;
            rc = 0;
            continue;
        }
        for (unsigned sl = 0; sl < slots; sl++) {
            int64_t t = rec + (int64_t)sl * slot_us;
            uint64_t pres = tr.present[sl];

            if (!pres || t < tc->bstart || t >= tc->bend)
                continue;
            if (tl_at(tc, t)) {
                rc = 1;
                goto out;
            }
            while (pres) {
                unsigned i = (unsigned)__builtin_ctzll(pres);
                unsigned series = tr.nseries == 1 ? (unsigned)tc->hop : i + 1;

                pres &= pres - 1;
                pw_rollup_cell_merge(&tc->acc[series].cell, &tr.cells[sl * tr.nseries + i]);
            }
        }
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = pw_store_mdb_err(mrc);
out:
    if (c)
        mdb_cursor_close(c);
    free(tr.cells);
    free(tr.present);
    return rc ? rc : (bad ? PW_E_MALFORMED : 0);
}

#define TIME_LIMIT (INT64_C(1) << 62)

static int64_t buckets_for(int64_t start, int64_t end, int64_t res)
{
    return pw_floor_div(end - 1, res) - pw_floor_div(start, res) + 1;
}

int pw_store_timeline_plan(int64_t start_us, int64_t end_us, int64_t resolution_us,
                           uint32_t max_buckets, struct pw_store_timeline_plan *plan)
{
    int64_t res = resolution_us;

    if (!plan)
        return -EINVAL;
    memset(plan, 0, sizeof(*plan));
    if (start_us >= end_us || resolution_us < 0)
        return PW_E_RANGE;
    /* Samples lie within +-2^62 µs; clamping keeps the bucket arithmetic from overflowing. */
    if (start_us < -TIME_LIMIT)
        start_us = -TIME_LIMIT;
    if (end_us > TIME_LIMIT)
        end_us = TIME_LIMIT;
    if (start_us >= end_us)
        return 0;
    if (!max_buckets)
        max_buckets = 1000;
    if (res == 0) {
        for (size_t i = 0; i < sizeof(ladder_s) / sizeof(ladder_s[0]) && !res; i++)
            if (buckets_for(start_us, end_us, ladder_s[i] * 1000000) <= max_buckets)
                res = ladder_s[i] * 1000000;
        for (int64_t weeks = 2; !res; weeks *= 2)
            if (buckets_for(start_us, end_us, weeks * INT64_C(604800000000)) <= max_buckets ||
                weeks > (INT64_C(1) << 20))
                res = weeks * INT64_C(604800000000);
    }
    plan->resolution_us = res;
    plan->start_us = pw_floor_div(start_us, res) * res;
    plan->end_us = (pw_floor_div(end_us - 1, res) + 1) * res;
    return 0;
}

int pw_store_timeline(struct pw_store *s, uint32_t target_id, int hop, int64_t start_us,
                      int64_t end_us, int64_t resolution_us, uint32_t max_buckets,
                      int (*cb)(void *arg, const struct pw_store_bucket *b), void *arg)
{
    struct pw_store_timeline_plan plan;
    struct tl_ctx *tc;
    struct svec v = {0};
    MDB_txn *txn;
    int64_t res;
    int rc, rc2;

    if (!s || !cb)
        return -EINVAL;
    if (hop < -1 || hop > PW_TRACE_MAX_HOPS)
        return -EINVAL;
    if ((rc = pw_store_timeline_plan(start_us, end_us, resolution_us, max_buckets, &plan)) != 0)
        return rc;
    if (!plan.resolution_us)
        return 0;
    res = plan.resolution_us;
    tc = calloc(1, sizeof(*tc));
    if (!tc)
        return -ENOMEM;
    tc->s = s;
    tc->hop = hop;
    tc->res = res;
    tc->bstart = plan.start_us;
    tc->bend = plan.end_us;
    tc->cur = INT64_MIN;
    tc->cb = cb;
    tc->arg = arg;
    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        goto out_free;
    if (res % INT64_C(3600000000) == 0) {
        rc = tl_rollups(s, txn, target_id, tc, PW_ROLLUP_HOUR);
    } else if (res % INT64_C(60000000) == 0) {
        rc = tl_rollups(s, txn, target_id, tc, PW_ROLLUP_MINUTE);
    } else {
        tc->raw = true;
        rc = blocks_forward(s, txn, target_id, tc->bstart, tc->bend, &v, tl_raw_block, tc);
    }
    if (rc == 1)
        rc = 0;
    rc2 = tc->stopped ? 0 : tl_emit(tc);
    (void)rc2;
    pw_store_rd_end(s, txn);
    if (tc->stopped)
        rc = tc->stopped;
out_free:
    for (unsigned i = 0; i < PW_STORE_SERIES; i++)
        free(tc->acc[i].vals);
    free(tc);
    svec_free(&v);
    return rc;
}

/* ---- export ---- */

struct export_ctx {
    struct pw_store *s;
    MDB_txn *txn;
    int64_t start, end;
    int (*cb)(void *arg, const struct pw_store_export_row *row);
    void *arg;
    int stopped;
    struct route_cache rcache;
    char dns[PW_TRACE_MAX_HOPS][PW_DNS_NAME_MAX + 1]; /* names of rcache's hops */
};

static int export_block(void *arg, struct svec *v)
{
    struct export_ctx *ec = arg;
    struct pw_store_export_row row;

    for (size_t i = 0; i < v->n; i++) {
        const struct srow *sr = &v->row[i];
        const int32_t *rtt = v->rtt + sr->off;
        const struct pw_store_route *rt;

        if (sr->t < ec->start || sr->t >= ec->end)
            continue;
        if (!ec->rcache.valid || ec->rcache.id != sr->route) {
            rt = route_lookup(ec->s, ec->txn, &ec->rcache, sr->route);
            for (unsigned h = 0; h < rt->nhops; h++)
                dns_lookup(ec->s, ec->txn, &rt->hop[h], ec->dns[h], sizeof(ec->dns[h]));
        }
        rt = &ec->rcache.r;
        for (unsigned h = 0; h < sr->nhops; h++) {
            if (rtt[h] == PW_STORE_RTT_SKIP)
                continue;
            memset(&row, 0, sizeof(row));
            row.time_us = sr->t;
            row.hop = (uint8_t)(h + 1);
            if (h < rt->nhops && rt->hop[h].family) {
                row.ip = rt->hop[h];
                memcpy(row.dns, ec->dns[h], sizeof(row.dns));
            }
            row.rtt_us = rtt[h] < 0 ? PW_RTT_LOST : rtt[h];
            if ((ec->stopped = ec->cb(ec->arg, &row)) != 0)
                return 1;
        }
    }
    return 0;
}

int pw_store_export(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                    int (*cb)(void *arg, const struct pw_store_export_row *row), void *arg)
{
    struct export_ctx *ec;
    struct svec v = {0};
    MDB_txn *txn;
    int rc;

    if (!s || !cb)
        return -EINVAL;
    if (start_us >= end_us)
        return 0;
    ec = calloc(1, sizeof(*ec));
    if (!ec)
        return -ENOMEM;
    if ((rc = pw_store_rd_begin(s, &txn)) != 0) {
        free(ec);
        return rc;
    }
    *ec = (struct export_ctx){
        .s = s, .txn = txn, .start = start_us, .end = end_us, .cb = cb, .arg = arg};
    rc = blocks_forward(s, txn, target_id, start_us, end_us, &v, export_block, ec);
    pw_store_rd_end(s, txn);
    if (ec->stopped)
        rc = ec->stopped;
    else if (rc == 1)
        rc = 0;
    free(ec);
    svec_free(&v);
    return rc;
}
