/* PingWatcher — the store's writer: buffered samples, their blocks and rollups, route interning,
 * buffered DNS names, flush and retention (see store.h and FORMAT.md).
 *
 * Per target the writer keeps the open sample block (encoded, appended to in memory) and the
 * open rollup records of both levels (closed cells encoded, the current slot's cells as
 * accumulators). A flush writes, in one transaction, every block and record that was sealed
 * since the last flush plus the current state of every open one. A failed flush changes
 * nothing in memory, so the next one writes the same and more: every put is idempotent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store_int.h"

#define ROUTE_CACHE 512
#define PENDING_DNS_MAX 4096
#define PENDING_ROUTES_MAX 4096
/* Times are kept within +-2^62 µs (146,000 years) so differences never overflow. */
#define TIME_LIMIT (INT64_C(1) << 62)

struct wbuf {
    uint8_t *p;
    size_t len, cap;
};

static int wbuf_reserve(struct wbuf *b, size_t extra)
{
    size_t cap;
    uint8_t *p;

    if (b->len + extra <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* One series (final hop or a TTL) of an open rollup record. */
struct wr_series {
    struct wbuf closed;        /* encoded cells of the slots before cur_slot */
    struct pw_cell_prev prev;  /* delta context after them */
    struct pw_rollup_cell cur; /* the current slot (count 0: nothing yet) */
};

struct wr_rollup {
    bool active;
    int64_t rec_start;
    unsigned cur_slot;
    struct wr_series *ser[PW_STORE_SERIES];
};

struct wr_target {
    uint32_t id;
    bool dirty;
    int64_t last_time; /* newest sample written or buffered; INT64_MIN: none */
    bool blk_active;
    int64_t blk_t0;
    struct pw_block_enc blk;
    uint8_t *blkbuf;
    struct wr_rollup ru[PW_ROLLUP_LEVELS];
    uint64_t pend_samples, pend_hops;
};

/* A sealed block or rollup record waiting for the next flush. */
struct pend_put {
    enum pw_db db;
    uint8_t key[PW_KEY_TT_LEN];
    uint8_t *val;
    size_t len;
};

struct pend_route {
    uint32_t id;
    uint64_t hash;
    size_t len;
    uint8_t val[PW_ROUTE_VAL_MAX];
};

struct route_ent {
    uint64_t hash;
    uint32_t id;
    size_t len;
    uint8_t *val; /* NULL: empty */
};

struct pend_dns {
    uint8_t key[17];
    size_t klen;
    uint8_t val[10 + PW_DNS_NAME_MAX];
    size_t vlen;
};

struct pw_store_writer {
    struct wr_target **tab; /* open addressing by id */
    size_t tab_cap, ntargets;
    struct pend_put *puts;
    size_t nputs, cap_puts, put_bytes;
    struct pend_route *routes;
    size_t nroutes, cap_routes;
    struct route_ent cache[ROUTE_CACHE];
    struct pend_dns *dns;
    size_t ndns, cap_dns;
    uint32_t next_route;
    uint64_t samples, hop_samples; /* committed totals */
    size_t pending;                /* samples buffered */
    size_t block_cap;
    struct wbuf scratch;
};

/* ---- per-target state ---- */

static void series_free(struct wr_series *ser)
{
    if (!ser)
        return;
    free(ser->closed.p);
    free(ser);
}

static void rollup_reset(struct wr_rollup *ru)
{
    for (unsigned i = 0; i < PW_STORE_SERIES; i++) {
        series_free(ru->ser[i]);
        ru->ser[i] = NULL;
    }
    ru->active = false;
    ru->rec_start = 0;
    ru->cur_slot = 0;
}

static void target_free(struct wr_target *t)
{
    if (!t)
        return;
    for (int lv = 0; lv < PW_ROLLUP_LEVELS; lv++)
        rollup_reset(&t->ru[lv]);
    free(t->blkbuf);
    free(t);
}

static size_t tab_slot(const struct pw_store_writer *w, uint32_t id)
{
    return (size_t)(id * UINT32_C(2654435761)) & (w->tab_cap - 1);
}

static struct wr_target *tab_find(const struct pw_store_writer *w, uint32_t id)
{
    if (!w->tab_cap)
        return NULL;
    for (size_t i = tab_slot(w, id);; i = (i + 1) & (w->tab_cap - 1)) {
        if (!w->tab[i])
            return NULL;
        if (w->tab[i]->id == id)
            return w->tab[i];
    }
}

static int tab_insert(struct pw_store_writer *w, struct wr_target *t)
{
    if ((w->ntargets + 1) * 2 > w->tab_cap) {
        size_t cap = w->tab_cap ? w->tab_cap * 2 : 64;
        struct wr_target **old = w->tab, **tab = calloc(cap, sizeof(*tab));
        size_t oldcap = w->tab_cap;

        if (!tab)
            return -ENOMEM;
        w->tab = tab;
        w->tab_cap = cap;
        for (size_t i = 0; i < oldcap; i++) {
            if (!old[i])
                continue;
            size_t j = tab_slot(w, old[i]->id);

            while (w->tab[j])
                j = (j + 1) & (cap - 1);
            w->tab[j] = old[i];
        }
        free(old);
    }
    size_t j = tab_slot(w, t->id);

    while (w->tab[j])
        j = (j + 1) & (w->tab_cap - 1);
    w->tab[j] = t;
    w->ntargets++;
    return 0;
}

static void tab_clear(struct pw_store_writer *w)
{
    for (size_t i = 0; i < w->tab_cap; i++) {
        target_free(w->tab[i]);
        w->tab[i] = NULL;
    }
    w->ntargets = 0;
}

/* ---- rollup records ---- */

static unsigned slot_of(enum pw_rollup_level lv, int64_t rec_start, int64_t t)
{
    return (unsigned)((t - rec_start) / pw_rollup_slot_us(lv));
}

static int64_t record_of(enum pw_rollup_level lv, int64_t t)
{
    int64_t r = pw_rollup_record_us(lv);

    return pw_floor_div(t, r) * r;
}

/* Encodes the whole record (closed cells plus the current slot) into out. */
static int rollup_encode(const struct wr_rollup *ru, enum pw_rollup_level lv, struct wbuf *out)
{
    uint8_t cell[PW_ROLLUP_CELL_MAX];
    int rc;

    out->len = 0;
    if ((rc = wbuf_reserve(out, PW_ROLLUP_HDR_LEN)) != 0)
        return rc;
    out->len = pw_rollup_put_header(out->p, lv);
    for (unsigned s = 0; s < PW_STORE_SERIES; s++) {
        const struct wr_series *ser = ru->ser[s];
        struct pw_cell_prev prev;
        size_t clen = 0;

        if (!ser)
            continue;
        prev = ser->prev;
        if (ser->cur.count && (rc = pw_rollup_cell_encode(&ser->cur, ru->cur_slot, &prev, cell,
                                                          sizeof(cell), &clen)) != 0)
            return rc;
        if (ser->closed.len + clen == 0)
            continue;
        if ((rc = wbuf_reserve(out, PW_ROLLUP_SECTION_HDR_MAX + ser->closed.len + clen)) != 0)
            return rc;
        out->len += pw_rollup_put_section(out->p + out->len, s, ser->closed.len + clen);
        if (ser->closed.len)
            memcpy(out->p + out->len, ser->closed.p, ser->closed.len);
        out->len += ser->closed.len;
        memcpy(out->p + out->len, cell, clen);
        out->len += clen;
    }
    pw_rollup_finish(out->p, out->len);
    return 0;
}

/* Moves every series' current cell into its closed bytes (space was reserved). */
static void rollup_close_slot(struct wr_rollup *ru)
{
    for (unsigned s = 0; s < PW_STORE_SERIES; s++) {
        struct wr_series *ser = ru->ser[s];

        if (!ser || !ser->cur.count)
            continue;
        /* Cannot fail: rollup_reserve_close() made room for PW_ROLLUP_CELL_MAX bytes. */
        (void)pw_rollup_cell_encode(&ser->cur, ru->cur_slot, &ser->prev, ser->closed.p,
                                    ser->closed.cap, &ser->closed.len);
        memset(&ser->cur, 0, sizeof(ser->cur));
    }
}

static int rollup_reserve_close(struct wr_rollup *ru)
{
    for (unsigned s = 0; s < PW_STORE_SERIES; s++) {
        struct wr_series *ser = ru->ser[s];
        int rc;

        if (ser && ser->cur.count && (rc = wbuf_reserve(&ser->closed, PW_ROLLUP_CELL_MAX)) != 0)
            return rc;
    }
    return 0;
}

static int series_get(struct wr_rollup *ru, unsigned s, struct wr_series **out)
{
    if (!ru->ser[s]) {
        ru->ser[s] = calloc(1, sizeof(*ru->ser[s]));
        if (!ru->ser[s])
            return -ENOMEM;
    }
    *out = ru->ser[s];
    return 0;
}

/* ---- loading a target's state from the store ---- */

struct load_blk {
    struct pw_block_enc *enc;
    int rc;
};

static int load_blk_cb(void *arg, const struct pw_store_sample *smp)
{
    struct load_blk *lb = arg;

    lb->rc = pw_block_enc_add(lb->enc, smp);
    return lb->rc ? 1 : 0;
}

struct load_ru {
    struct wr_rollup *ru;
    enum pw_rollup_level lv;
    int rc;
};

static int load_ru_cb(void *arg, unsigned series, unsigned slot, const struct pw_rollup_cell *c)
{
    struct load_ru *lr = arg;
    struct wr_series *ser;
    int rc;

    if (slot > lr->ru->cur_slot) {
        lr->rc = PW_E_MALFORMED;
        return 1;
    }
    if ((rc = series_get(lr->ru, series, &ser)) != 0) {
        lr->rc = rc;
        return 1;
    }
    if (slot == lr->ru->cur_slot) {
        ser->cur = *c;
        return 0;
    }
    if ((rc = wbuf_reserve(&ser->closed, PW_ROLLUP_CELL_MAX)) != 0 ||
        (rc = pw_rollup_cell_encode(c, slot, &ser->prev, ser->closed.p, ser->closed.cap,
                                    &ser->closed.len)) != 0) {
        lr->rc = rc;
        return 1;
    }
    return 0;
}

static int load_rollup(struct pw_store *s, MDB_txn *txn, struct wr_target *t,
                       enum pw_rollup_level lv)
{
    struct wr_rollup *ru = &t->ru[lv];
    uint8_t key[PW_KEY_TT_LEN];
    MDB_val k = {sizeof(key), key}, d;
    struct load_ru lr = {ru, lv, 0};
    int rc;

    ru->active = true;
    ru->rec_start = record_of(lv, t->last_time);
    ru->cur_slot = slot_of(lv, ru->rec_start, t->last_time);
    pw_key_tt(key, t->id, ru->rec_start);
    rc = mdb_get(txn, s->dbi[lv == PW_ROLLUP_MINUTE ? PW_DB_ROLLUP_M : PW_DB_ROLLUP_H], &k, &d);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return pw_store_mdb_err(rc);
    rc = pw_rollup_decode(d.mv_data, d.mv_size, lv, NULL, load_ru_cb, &lr);
    if (rc == 1)
        rc = lr.rc;
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        /* A damaged record restarts empty; the next flush replaces it. */
        int64_t start = ru->rec_start;
        unsigned slot = ru->cur_slot;

        rollup_reset(ru);
        ru->active = true;
        ru->rec_start = start;
        ru->cur_slot = slot;
    }
    return 0;
}

static int target_load(struct pw_store *s, struct wr_target *t)
{
    MDB_txn *txn;
    MDB_cursor *c = NULL;
    MDB_val k, d;
    int rc, mrc;

    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    if ((mrc = mdb_cursor_open(txn, s->dbi[PW_DB_SAMPLES], &c)) != 0) {
        rc = pw_store_mdb_err(mrc);
        goto out;
    }
    mrc = pw_store_seek_last_le(c, t->id, INT64_MAX, &k, &d);
    if (mrc == MDB_NOTFOUND)
        goto out; /* a new target */
    if (mrc) {
        rc = pw_store_mdb_err(mrc);
        goto out;
    }
    {
        int64_t t0 = pw_get_time((const uint8_t *)k.mv_data + 4);
        struct pw_block_info info;
        struct load_blk lb = {&t->blk, 0};

        /* Continue the newest block: re-encoding its samples gives the same bytes. */
        pw_block_enc_init(&t->blk, t->blkbuf, s->w->block_cap);
        rc = pw_block_decode(d.mv_data, d.mv_size, t0, load_blk_cb, &lb);
        if (rc == 0 && lb.rc == 0) {
            t->blk_active = true;
            t->blk_t0 = t0;
            t->last_time = t->blk.st.tlast;
        } else {
            /* Damaged or too big to continue: later samples start a new block. */
            t->last_time = t0;
            if (pw_block_info(d.mv_data, d.mv_size, &info) == 0 &&
                info.span_us < (uint64_t)TIME_LIMIT)
                t->last_time = t0 + (int64_t)info.span_us;
        }
        rc = 0;
    }
    for (int lv = 0; lv < PW_ROLLUP_LEVELS && rc == 0; lv++)
        rc = load_rollup(s, txn, t, (enum pw_rollup_level)lv);
out:
    if (c)
        mdb_cursor_close(c);
    pw_store_rd_end(s, txn);
    return rc;
}

static int target_get(struct pw_store *s, uint32_t id, struct wr_target **out)
{
    struct pw_store_writer *w = s->w;
    struct wr_target *t = tab_find(w, id);
    int rc;

    if (t) {
        *out = t;
        return 0;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->id = id;
    t->last_time = INT64_MIN;
    t->blkbuf = malloc(w->block_cap);
    if (!t->blkbuf) {
        free(t);
        return -ENOMEM;
    }
    if ((rc = target_load(s, t)) != 0 || (rc = tab_insert(w, t)) != 0) {
        target_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- samples ---- */

static int puts_reserve(struct pw_store_writer *w, size_t extra)
{
    struct pend_put *p;
    size_t cap;

    if (w->nputs + extra <= w->cap_puts)
        return 0;
    cap = w->cap_puts ? w->cap_puts * 2 : 16;
    while (cap < w->nputs + extra)
        cap *= 2;
    p = realloc(w->puts, cap * sizeof(*p));
    if (!p)
        return -ENOMEM;
    w->puts = p;
    w->cap_puts = cap;
    return 0;
}

static void puts_push(struct pw_store_writer *w, enum pw_db db, uint32_t id, int64_t t,
                      uint8_t *val, size_t len)
{
    struct pend_put *p = &w->puts[w->nputs++];

    p->db = db;
    pw_key_tt(p->key, id, t);
    p->val = val;
    p->len = len;
    w->put_bytes += len;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);

    if (q && n)
        memcpy(q, p, n);
    return q;
}

/* What adding a sample to a target's rollups needs, prepared before anything changes so that
 * a failed allocation leaves the target as it was. */
struct ru_plan {
    bool new_record;
    bool new_slot;
    int64_t rec_start;
    unsigned slot;
    uint8_t *sealed; /* the finished record's bytes when new_record */
    size_t sealed_len;
};

static int rollup_plan(struct pw_store_writer *w, struct wr_target *t, enum pw_rollup_level lv,
                       const struct pw_store_sample *smp, struct ru_plan *pl)
{
    struct wr_rollup *ru = &t->ru[lv];
    struct wr_series *ser;
    int rc;

    memset(pl, 0, sizeof(*pl));
    pl->rec_start = record_of(lv, smp->time_us);
    pl->slot = slot_of(lv, pl->rec_start, smp->time_us);
    if (ru->active && ru->rec_start != pl->rec_start) {
        pl->new_record = true;
        if ((rc = rollup_encode(ru, lv, &w->scratch)) != 0)
            return rc;
        pl->sealed = dup_bytes(w->scratch.p, w->scratch.len);
        if (!pl->sealed)
            return -ENOMEM;
        pl->sealed_len = w->scratch.len;
        return 0; /* the new record's series are created after the reset */
    }
    if (ru->active && ru->cur_slot != pl->slot) {
        pl->new_slot = true;
        if ((rc = rollup_reserve_close(ru)) != 0)
            return rc;
    }
    if (smp->nhops && smp->rtt_us[smp->nhops - 1] != PW_STORE_RTT_SKIP &&
        (rc = series_get(ru, 0, &ser)) != 0)
        return rc;
    for (unsigned i = 0; i < smp->nhops; i++)
        if (smp->rtt_us[i] != PW_STORE_RTT_SKIP && (rc = series_get(ru, i + 1, &ser)) != 0)
            return rc;
    return 0;
}

static int rollup_apply(struct pw_store_writer *w, struct wr_target *t, enum pw_rollup_level lv,
                        const struct pw_store_sample *smp, struct ru_plan *pl)
{
    struct wr_rollup *ru = &t->ru[lv];
    struct wr_series *ser;
    int rc;

    if (pl->new_record) {
        puts_push(w, lv == PW_ROLLUP_MINUTE ? PW_DB_ROLLUP_M : PW_DB_ROLLUP_H, t->id, ru->rec_start,
                  pl->sealed, pl->sealed_len);
        pl->sealed = NULL;
        rollup_reset(ru);
    } else if (pl->new_slot) {
        rollup_close_slot(ru);
    }
    ru->active = true;
    ru->rec_start = pl->rec_start;
    ru->cur_slot = pl->slot;
    /* Only a fresh record can still need series (small allocations); a failure here loses
     * this sample's rollup contribution, never the stored data's consistency. */
    if (smp->nhops && smp->rtt_us[smp->nhops - 1] != PW_STORE_RTT_SKIP) {
        if ((rc = series_get(ru, 0, &ser)) != 0)
            return rc;
        pw_rollup_cell_add(&ser->cur, pw_store_quantize(smp->rtt_us[smp->nhops - 1]));
    }
    for (unsigned i = 0; i < smp->nhops; i++) {
        if (smp->rtt_us[i] == PW_STORE_RTT_SKIP)
            continue;
        if ((rc = series_get(ru, i + 1, &ser)) != 0)
            return rc;
        pw_rollup_cell_add(&ser->cur, pw_store_quantize(smp->rtt_us[i]));
    }
    return 0;
}

int pw_store_add_sample(struct pw_store *s, uint32_t target_id, const struct pw_store_sample *smp)
{
    struct pw_store_writer *w;
    struct wr_target *t;
    struct ru_plan plan[PW_ROLLUP_LEVELS];
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    int rc;

    if (!s || !smp)
        return -EINVAL;
    if (s->readonly || !s->w)
        return -EROFS;
    w = s->w;
    if (smp->nhops > PW_TRACE_MAX_HOPS || smp->time_us <= -TIME_LIMIT || smp->time_us >= TIME_LIMIT)
        return PW_E_RANGE;
    for (unsigned i = 0; i < smp->nhops; i++)
        if (smp->rtt_us[i] < PW_STORE_RTT_SKIP)
            return PW_E_RANGE;
    if (w->pending >= PW_STORE_PENDING_MAX)
        return -ENOSPC;
    if ((rc = target_get(s, target_id, &t)) != 0)
        return rc;
    if (smp->time_us <= t->last_time)
        return PW_E_RANGE;
    if ((rc = puts_reserve(w, 3)) != 0)
        return rc;

    memset(plan, 0, sizeof(plan));
    for (int lv = 0; lv < PW_ROLLUP_LEVELS; lv++)
        if ((rc = rollup_plan(w, t, (enum pw_rollup_level)lv, smp, &plan[lv])) != 0)
            goto fail;

    /* The block: append, or seal it (to the next flush) and start another. */
    if (!t->blk_active) {
        pw_block_enc_init(&t->blk, t->blkbuf, w->block_cap);
        t->blk_active = true;
        t->blk_t0 = smp->time_us;
    }
    rc = pw_block_enc_add(&t->blk, smp);
    if (rc == -ENOSPC) {
        sealed_len = pw_block_enc_finish(&t->blk);
        sealed = dup_bytes(t->blkbuf, sealed_len);
        if (!sealed) {
            rc = -ENOMEM;
            goto fail;
        }
        puts_push(w, PW_DB_SAMPLES, t->id, t->blk_t0, sealed, sealed_len);
        pw_block_enc_init(&t->blk, t->blkbuf, w->block_cap);
        t->blk_t0 = smp->time_us;
        rc = pw_block_enc_add(&t->blk, smp);
    }
    if (rc)
        goto fail; /* cannot happen: the sample was checked and an empty block holds it */

    for (int lv = 0; lv < PW_ROLLUP_LEVELS; lv++)
        (void)rollup_apply(w, t, (enum pw_rollup_level)lv, smp, &plan[lv]);
    t->last_time = smp->time_us;
    t->dirty = true;
    t->pend_samples++;
    t->pend_hops += smp->nhops;
    w->pending++;
    return 0;
fail:
    for (int lv = 0; lv < PW_ROLLUP_LEVELS; lv++)
        free(plan[lv].sealed);
    return rc;
}

size_t pw_store_pending(const struct pw_store *s)
{
    return s && s->w ? s->w->pending : 0;
}

static int flush_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    struct pw_store_writer *w = s->w;
    uint64_t psamples = 0, phops = 0;
    int rc;

    (void)arg;
    for (size_t i = 0; i < w->nputs; i++) {
        MDB_val k = {PW_KEY_TT_LEN, w->puts[i].key}, d = {w->puts[i].len, w->puts[i].val};

        if ((rc = mdb_put(txn, s->dbi[w->puts[i].db], &k, &d, 0)) != 0)
            return pw_store_mdb_err(rc);
    }
    for (size_t i = 0; i < w->tab_cap; i++) {
        struct wr_target *t = w->tab[i];
        uint8_t key[PW_KEY_TT_LEN];
        MDB_val k = {sizeof(key), key}, d;

        if (!t || !t->dirty)
            continue;
        psamples += t->pend_samples;
        phops += t->pend_hops;
        if (t->blk_active && t->blk.st.nsamples) {
            pw_key_tt(key, t->id, t->blk_t0);
            d = (MDB_val){pw_block_enc_finish(&t->blk), t->blkbuf};
            if ((rc = mdb_put(txn, s->dbi[PW_DB_SAMPLES], &k, &d, 0)) != 0)
                return pw_store_mdb_err(rc);
        }
        for (int lv = 0; lv < PW_ROLLUP_LEVELS; lv++) {
            if (!t->ru[lv].active)
                continue;
            if ((rc = rollup_encode(&t->ru[lv], (enum pw_rollup_level)lv, &w->scratch)) != 0)
                return rc;
            pw_key_tt(key, t->id, t->ru[lv].rec_start);
            d = (MDB_val){w->scratch.len, w->scratch.p};
            if ((rc = mdb_put(txn, s->dbi[lv == PW_ROLLUP_MINUTE ? PW_DB_ROLLUP_M : PW_DB_ROLLUP_H],
                              &k, &d, 0)) != 0)
                return pw_store_mdb_err(rc);
        }
    }
    if ((rc = pw_store_meta_put_u64(txn, s, "samples", w->samples + psamples)) != 0)
        return rc;
    return pw_store_meta_put_u64(txn, s, "hop_samples", w->hop_samples + phops);
}

int pw_store_flush(struct pw_store *s)
{
    struct pw_store_writer *w;
    size_t expect;
    int rc;

    if (!s)
        return -EINVAL;
    if (s->readonly || !s->w)
        return -EROFS;
    w = s->w;
    if (!w->pending && !w->nputs && !w->nroutes && !w->ndns)
        return 0;
    /* Open blocks and the records of both levels of each dirty target. */
    expect = w->put_bytes + w->pending * 64 + 3 * w->block_cap * (w->ntargets ? 1 : 0);
    rc = pw_store_write(s, flush_fn, NULL, expect);
    if (rc)
        return rc;
    for (size_t i = 0; i < w->nputs; i++)
        free(w->puts[i].val);
    w->nputs = 0;
    w->put_bytes = 0;
    for (size_t i = 0; i < w->tab_cap; i++) {
        struct wr_target *t = w->tab[i];

        if (!t || !t->dirty)
            continue;
        w->samples += t->pend_samples;
        w->hop_samples += t->pend_hops;
        t->pend_samples = t->pend_hops = 0;
        t->dirty = false;
    }
    w->pending = 0;
    return 0;
}

/* ---- routes ---- */

static bool route_match(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static void cache_put(struct pw_store_writer *w, uint64_t hash, uint32_t id, const uint8_t *val,
                      size_t len)
{
    struct route_ent *e = &w->cache[hash % ROUTE_CACHE];
    uint8_t *copy = dup_bytes(val, len);

    if (!copy)
        return; /* only a cache */
    free(e->val);
    *e = (struct route_ent){hash, id, len, copy};
}

/* Looks a route up in the committed routes: every id filed under its hash is compared. */
static int route_find_stored(struct pw_store *s, uint64_t hash, const uint8_t *val, size_t len,
                             uint32_t *id)
{
    uint8_t key[12];
    MDB_txn *txn;
    MDB_cursor *c = NULL;
    MDB_val k = {sizeof(key), key}, d;
    int rc, mrc;

    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    if ((mrc = mdb_cursor_open(txn, s->dbi[PW_DB_ROUTE_HASH], &c)) != 0) {
        rc = pw_store_mdb_err(mrc);
        goto out;
    }
    pw_put_be64(key, hash);
    pw_put_be32(key + 8, 0);
    rc = -ENOENT;
    for (mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        uint8_t rkey[4];
        MDB_val rk = {4, rkey}, rd;

        if (k.mv_size != 12 || pw_get_be64(k.mv_data) != hash)
            break;
        memcpy(rkey, (const uint8_t *)k.mv_data + 8, 4);
        if (mdb_get(txn, s->dbi[PW_DB_ROUTES], &rk, &rd) == 0 &&
            route_match(rd.mv_data, rd.mv_size, val, len)) {
            *id = pw_get_be32(rkey);
            rc = 0;
            break;
        }
    }
    if (rc == -ENOENT && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = pw_store_mdb_err(mrc);
out:
    if (c)
        mdb_cursor_close(c);
    pw_store_rd_end(s, txn);
    return rc;
}

int pw_store_route_intern(struct pw_store *s, const struct pw_store_route *r, uint32_t *id)
{
    struct pw_store_writer *w;
    uint8_t val[PW_ROUTE_VAL_MAX];
    struct route_ent *e;
    uint64_t hash;
    int len, rc;

    if (!s || !r || !id)
        return -EINVAL;
    if (s->readonly || !s->w)
        return -EROFS;
    w = s->w;
    if ((len = pw_route_encode(r, val)) < 0)
        return len;
    hash = s->route_hash(val, (size_t)len);
    e = &w->cache[hash % ROUTE_CACHE];
    if (e->val && e->hash == hash && route_match(e->val, e->len, val, (size_t)len)) {
        *id = e->id;
        return 0;
    }
    for (size_t i = 0; i < w->nroutes; i++)
        if (w->routes[i].hash == hash &&
            route_match(w->routes[i].val, w->routes[i].len, val, (size_t)len)) {
            *id = w->routes[i].id;
            return 0;
        }
    rc = route_find_stored(s, hash, val, (size_t)len, id);
    if (rc == 0) {
        cache_put(w, hash, *id, val, (size_t)len);
        return 0;
    }
    if (rc != -ENOENT)
        return rc;
    if (w->nroutes >= PENDING_ROUTES_MAX)
        return -ENOSPC;
    if (w->next_route == 0 || w->next_route == UINT32_MAX)
        return -ENOSPC;
    if (w->nroutes == w->cap_routes) {
        size_t cap = w->cap_routes ? w->cap_routes * 2 : 8;
        struct pend_route *p = realloc(w->routes, cap * sizeof(*p));

        if (!p)
            return -ENOMEM;
        w->routes = p;
        w->cap_routes = cap;
    }
    w->routes[w->nroutes] =
        (struct pend_route){.id = w->next_route, .hash = hash, .len = (size_t)len};
    memcpy(w->routes[w->nroutes].val, val, (size_t)len);
    w->nroutes++;
    *id = w->next_route++;
    cache_put(w, hash, *id, val, (size_t)len);
    return 0;
}

int pw_store_writer_route_get(struct pw_store *s, uint32_t id, struct pw_store_route *out)
{
    struct pw_store_writer *w = s->w;

    for (size_t i = 0; i < w->nroutes; i++)
        if (w->routes[i].id == id)
            return pw_route_decode(w->routes[i].val, w->routes[i].len, out);
    return -ENOENT;
}

/* ---- DNS ---- */

int pw_store_dns_put(struct pw_store *s, const struct pw_addr *addr, const char *name,
                     int64_t now_us)
{
    struct pw_store_writer *w;
    struct pend_dns d;
    int klen, rc;

    if (!s || !addr || !name)
        return -EINVAL;
    if (s->readonly || !s->w)
        return -EROFS;
    w = s->w;
    klen = pw_addr_encode(addr, d.key);
    if (klen <= 1)
        return -EINVAL;
    d.klen = (size_t)klen;
    if ((rc = pw_dns_val_encode(name, now_us, d.val, sizeof(d.val), &d.vlen)) != 0)
        return rc;
    for (size_t i = 0; i < w->ndns; i++)
        if (w->dns[i].klen == d.klen && memcmp(w->dns[i].key, d.key, d.klen) == 0) {
            w->dns[i] = d;
            return 0;
        }
    if (w->ndns >= PENDING_DNS_MAX)
        return -ENOSPC;
    if (w->ndns == w->cap_dns) {
        size_t cap = w->cap_dns ? w->cap_dns * 2 : 16;
        struct pend_dns *p = realloc(w->dns, cap * sizeof(*p));

        if (!p)
            return -ENOMEM;
        w->dns = p;
        w->cap_dns = cap;
    }
    w->dns[w->ndns++] = d;
    return 0;
}

int pw_store_writer_dns_get(struct pw_store *s, const uint8_t *key, size_t klen, char *name,
                            size_t len)
{
    struct pw_store_writer *w = s->w;

    for (size_t i = w->ndns; i-- > 0;)
        if (w->dns[i].klen == klen && memcmp(w->dns[i].key, key, klen) == 0)
            return pw_dns_val_decode(w->dns[i].val, w->dns[i].vlen, name, len, NULL);
    return -ENOENT;
}

/* ---- pending writes shared by every transaction ---- */

int pw_store_writer_put_pending(struct pw_store *s, MDB_txn *txn)
{
    struct pw_store_writer *w = s->w;
    int rc;

    for (size_t i = 0; i < w->nroutes; i++) {
        const struct pend_route *r = &w->routes[i];
        uint8_t key[4], hkey[12];
        MDB_val k = {4, key}, d = {r->len, (void *)r->val}, hk = {12, hkey}, hd = {0, ""};

        pw_put_be32(key, r->id);
        pw_put_be64(hkey, r->hash);
        pw_put_be32(hkey + 8, r->id);
        if ((rc = mdb_put(txn, s->dbi[PW_DB_ROUTES], &k, &d, 0)) != 0 ||
            (rc = mdb_put(txn, s->dbi[PW_DB_ROUTE_HASH], &hk, &hd, 0)) != 0)
            return pw_store_mdb_err(rc);
    }
    if (w->nroutes && (rc = pw_store_meta_put_u64(txn, s, "next_route", w->next_route)) != 0)
        return rc;
    for (size_t i = 0; i < w->ndns; i++) {
        MDB_val k = {w->dns[i].klen, w->dns[i].key}, d = {w->dns[i].vlen, w->dns[i].val};

        if ((rc = mdb_put(txn, s->dbi[PW_DB_DNS], &k, &d, 0)) != 0)
            return pw_store_mdb_err(rc);
    }
    return 0;
}

void pw_store_writer_committed(struct pw_store *s)
{
    s->w->nroutes = 0;
    s->w->ndns = 0;
}

size_t pw_store_writer_pending_bytes(const struct pw_store *s)
{
    return s->w->nroutes * (PW_ROUTE_VAL_MAX + 32) + s->w->ndns * 300;
}

/* ---- writer life ---- */

struct pw_store_writer *pw_store_writer_new(struct pw_store *s, MDB_txn *txn)
{
    struct pw_store_writer *w = calloc(1, sizeof(*w));
    uint64_t v;
    int rc;

    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    /* Blocks fill whole overflow pages, minus LMDB's page header. */
    w->block_cap = PW_STORE_BLOCK_PAGES * s->psize - PW_STORE_PAGE_HDR;
    if (w->block_cap > PW_BLOCK_MAX_LEN)
        w->block_cap = PW_BLOCK_MAX_LEN;
    w->next_route = 1;
    rc = pw_store_meta_get_u64(txn, s, "next_route", &v);
    if (rc == 0 && v >= 1 && v <= UINT32_MAX)
        w->next_route = (uint32_t)v;
    else if (rc != -ENOENT)
        goto fail;
    if (pw_store_meta_get_u64(txn, s, "samples", &w->samples) != 0)
        w->samples = 0;
    if (pw_store_meta_get_u64(txn, s, "hop_samples", &w->hop_samples) != 0)
        w->hop_samples = 0;
    return w;
fail:
    free(w);
    errno = rc == 0 ? EPROTO : (rc < 0 && rc > -4096 ? -rc : EPROTO);
    return NULL;
}

void pw_store_writer_free(struct pw_store_writer *w)
{
    if (!w)
        return;
    tab_clear(w);
    free(w->tab);
    for (size_t i = 0; i < w->nputs; i++)
        free(w->puts[i].val);
    free(w->puts);
    free(w->routes);
    for (size_t i = 0; i < ROUTE_CACHE; i++)
        free(w->cache[i].val);
    free(w->dns);
    free(w->scratch.p);
    free(w);
}

/* ---- retention ---- */

struct ret_op {
    int64_t raw_cut, rollup_cut;
    long max;
    long deleted;
    uint64_t del_samples, del_hops;
    uint8_t (*keys)[PW_KEY_TT_LEN];
};

static int count_hops_cb(void *arg, const struct pw_store_sample *smp)
{
    *(uint64_t *)arg += smp->nhops;
    return 0;
}

/* Collects up to room keys of db whose records end before cut (end = key time + span), target
 * by target: within a target records are in time order, so the first young one ends it. */
static int ret_collect(struct pw_store *s, MDB_txn *txn, enum pw_db db, int64_t cut,
                       struct ret_op *op, size_t *nkeys)
{
    MDB_cursor *c = NULL;
    MDB_val k, d;
    uint8_t start[PW_KEY_TT_LEN];
    int mrc, rc = 0;

    if ((mrc = mdb_cursor_open(txn, s->dbi[db], &c)) != 0)
        return pw_store_mdb_err(mrc);
    mrc = mdb_cursor_get(c, &k, &d, MDB_FIRST);
    while (mrc == 0 && op->deleted + (long)*nkeys < op->max) {
        uint32_t target;
        int64_t t0, end;

        if (k.mv_size != PW_KEY_TT_LEN) {
            mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
            continue;
        }
        target = pw_get_be32(k.mv_data);
        t0 = pw_get_time((const uint8_t *)k.mv_data + 4);
        end = t0;
        if (db == PW_DB_SAMPLES) {
            struct pw_block_info info;

            if (pw_block_info(d.mv_data, d.mv_size, &info) == 0 &&
                info.span_us < (uint64_t)TIME_LIMIT)
                end = t0 + (int64_t)info.span_us;
        } else if (db == PW_DB_ROLLUP_M) {
            end = t0 + pw_rollup_record_us(PW_ROLLUP_MINUTE) - 1;
        } else if (db == PW_DB_ROLLUP_H) {
            end = t0 + pw_rollup_record_us(PW_ROLLUP_HOUR) - 1;
        }
        if (end < cut) {
            if (db == PW_DB_SAMPLES) {
                struct pw_block_info info;
                uint64_t hops = 0;

                if (pw_block_info(d.mv_data, d.mv_size, &info) == 0 &&
                    pw_block_decode(d.mv_data, d.mv_size, t0, count_hops_cb, &hops) == 0) {
                    op->del_samples += info.nsamples;
                    op->del_hops += hops;
                }
            }
            memcpy(op->keys[*nkeys], k.mv_data, PW_KEY_TT_LEN);
            (*nkeys)++;
            mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
            continue;
        }
        if (target == UINT32_MAX)
            break;
        pw_key_tt(start, target + 1, INT64_MIN);
        k = (MDB_val){sizeof(start), start};
        mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = pw_store_mdb_err(mrc);
    mdb_cursor_close(c);
    return rc;
}

static int retention_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    struct ret_op *op = arg;
    static const enum pw_db dbs[] = {PW_DB_SAMPLES, PW_DB_ROLLUP_M, PW_DB_ROLLUP_H,
                                     PW_DB_ROUTE_CHANGES};
    int rc;

    op->deleted = 0;
    op->del_samples = op->del_hops = 0;
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]) && op->deleted < op->max; i++) {
        size_t n = 0;

        rc = ret_collect(s, txn, dbs[i], dbs[i] == PW_DB_SAMPLES ? op->raw_cut : op->rollup_cut, op,
                         &n);
        if (rc)
            return rc;
        for (size_t j = 0; j < n; j++) {
            MDB_val k = {PW_KEY_TT_LEN, op->keys[j]};

            if ((rc = mdb_del(txn, s->dbi[dbs[i]], &k, NULL)) != 0)
                return pw_store_mdb_err(rc);
        }
        op->deleted += (long)n;
    }
    if (op->del_samples) {
        uint64_t ns = s->w->samples > op->del_samples ? s->w->samples - op->del_samples : 0;
        uint64_t nh = s->w->hop_samples > op->del_hops ? s->w->hop_samples - op->del_hops : 0;

        if ((rc = pw_store_meta_put_u64(txn, s, "samples", ns)) != 0 ||
            (rc = pw_store_meta_put_u64(txn, s, "hop_samples", nh)) != 0)
            return rc;
    }
    return 0;
}

long pw_store_retention(struct pw_store *s, int64_t now_us, long max_records)
{
    struct ret_op op;
    int rc;

    if (!s)
        return -EINVAL;
    if (s->readonly || !s->w)
        return -EROFS;
    if (max_records <= 0)
        max_records = 1000;
    if (max_records > 1000000)
        max_records = 1000000;
    if ((rc = pw_store_flush(s)) != 0)
        return rc;
    memset(&op, 0, sizeof(op));
    if (__builtin_sub_overflow(now_us, (int64_t)s->raw_days * INT64_C(86400000000), &op.raw_cut))
        op.raw_cut = INT64_MIN;
    if (__builtin_sub_overflow(now_us, (int64_t)s->rollup_days * INT64_C(86400000000),
                               &op.rollup_cut))
        op.rollup_cut = INT64_MIN;
    op.max = max_records;
    op.keys = malloc((size_t)max_records * sizeof(*op.keys));
    if (!op.keys)
        return -ENOMEM;
    rc = pw_store_write(s, retention_fn, &op, (size_t)max_records * 64);
    free(op.keys);
    if (rc)
        return rc;
    if (op.deleted) {
        s->w->samples = s->w->samples > op.del_samples ? s->w->samples - op.del_samples : 0;
        s->w->hop_samples = s->w->hop_samples > op.del_hops ? s->w->hop_samples - op.del_hops : 0;
        /* Open blocks or records may have been deleted: every target reloads its state
         * from the store with its next sample (nothing is pending after the flush). */
        tab_clear(s->w);
    }
    return op.deleted;
}
