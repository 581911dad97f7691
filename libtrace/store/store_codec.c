/* PingWatcher — encodings of the LMDB store's values (see store_codec.h and FORMAT.md). */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "error.h"
#include "store_codec.h"

/* ---- bit stream (most significant bit first) ---- */

struct bitw {
    uint8_t *p;
    size_t cap_bits;
    size_t pos;
    bool over; /* a write did not fit: later writes are dropped, pos stays in bounds */
};

/* The buffer past pos must be zero: bits are ORed in. */
static void bw_put(struct bitw *w, uint64_t v, unsigned n)
{
    if (n == 0 || w->over)
        return;
    if (n > w->cap_bits - w->pos) {
        w->over = true;
        return;
    }
    while (n > 0) {
        unsigned room = 8 - (unsigned)(w->pos & 7);
        unsigned take = n < room ? n : room;
        unsigned bits = (unsigned)(v >> (n - take)) & ((1u << take) - 1);

        w->p[w->pos >> 3] |= (uint8_t)(bits << (room - take));
        w->pos += take;
        n -= take;
    }
}

static void bw_ones(struct bitw *w, unsigned n)
{
    while (n >= 32) {
        bw_put(w, UINT32_MAX, 32);
        n -= 32;
    }
    bw_put(w, (UINT64_C(1) << n) - 1, n);
}

static unsigned bit_length(uint64_t v)
{
    return v ? 64 - (unsigned)__builtin_clzll(v) : 0;
}

/* Exp-Golomb code of order k for v < 2^63 - 2^k. */
static void bw_eg(struct bitw *w, uint64_t v, unsigned k)
{
    uint64_t x = v + (UINT64_C(1) << k);
    unsigned nb = bit_length(x);

    bw_put(w, 0, nb - 1 - k);
    if (nb > 32) {
        bw_put(w, x >> 32, nb - 32);
        bw_put(w, x & UINT32_MAX, 32);
    } else {
        bw_put(w, x, nb);
    }
}

/* A quotient this long switches a Rice code to an escape (Exp-Golomb of the whole value), so
 * an outlier never costs more than about 24 + 2 * 64 bits. */
#define RICE_LIMIT 24
#define RICE_NMAX 32
#define RICE_KMAX 48

static unsigned rice_k(const struct pw_rice_ctx *c)
{
    unsigned k = 0;

    while (((uint64_t)c->n << k) < c->a && k < RICE_KMAX)
        k++;
    return k;
}

/* A single outlier (a route change, a latency spike) may raise the mean by at most cap, so
 * the code length recovers after one halving instead of many. */
static void rice_update(struct pw_rice_ctx *c, uint64_t zz, uint32_t cap)
{
    c->a += zz > cap ? cap : (uint32_t)zz;
    c->n++;
    if (c->n >= RICE_NMAX) {
        c->a = (c->a + 1) >> 1;
        c->n >>= 1;
    }
}

static void bw_rice(struct bitw *w, uint64_t zz, unsigned k)
{
    uint64_t q = zz >> k;

    if (q < RICE_LIMIT) {
        bw_ones(w, (unsigned)q);
        bw_put(w, 0, 1);
        bw_put(w, zz & ((UINT64_C(1) << k) - 1), k);
    } else {
        bw_ones(w, RICE_LIMIT);
        bw_eg(w, zz, 0);
    }
}

struct bitr {
    const uint8_t *p, *end;
    uint64_t win;   /* next bits, left-aligned; bits past avail are zero */
    unsigned avail; /* valid bits in win */
};

static inline void br_fill(struct bitr *r)
{
    while (r->avail <= 56 && r->p < r->end) {
        r->win |= (uint64_t)*r->p++ << (56 - r->avail);
        r->avail += 8;
    }
}

static inline void br_skip(struct bitr *r, unsigned n)
{
    r->win = n >= 64 ? 0 : r->win << n;
    r->avail -= n;
}

/* n <= 56 */
static inline int br_get(struct bitr *r, unsigned n, uint64_t *v)
{
    if (n == 0) {
        *v = 0;
        return 0;
    }
    if (r->avail < n) {
        br_fill(r);
        if (r->avail < n)
            return PW_E_TRUNCATED;
    }
    *v = r->win >> (64 - n);
    br_skip(r, n);
    return 0;
}

/* n <= 64 */
static int br_get_wide(struct bitr *r, unsigned n, uint64_t *v)
{
    uint64_t hi, lo;
    int rc;

    if (n <= 32)
        return br_get(r, n, v);
    if ((rc = br_get(r, n - 32, &hi)) != 0 || (rc = br_get(r, 32, &lo)) != 0)
        return rc;
    *v = hi << 32 | lo;
    return 0;
}

/* Counts equal bits (ones when one, else zeros) up to limit; the terminating opposite bit is
 * consumed unless the limit was reached first. */
static int br_run(struct bitr *r, bool one, unsigned limit, unsigned *count)
{
    unsigned c = 0;

    for (;;) {
        uint64_t x;
        unsigned run;

        if (r->avail == 0) {
            br_fill(r);
            if (r->avail == 0)
                return PW_E_TRUNCATED;
        }
        x = one ? ~r->win : r->win;
        run = x ? (unsigned)__builtin_clzll(x) : 64;
        if (run > r->avail)
            run = r->avail;
        if (c + run >= limit) {
            br_skip(r, limit - c);
            *count = limit;
            return 0;
        }
        c += run;
        br_skip(r, run);
        if (r->avail > 0) {
            br_skip(r, 1);
            *count = c;
            return 0;
        }
    }
}

static int br_eg(struct bitr *r, unsigned k, uint64_t *v)
{
    unsigned nz;
    uint64_t x;
    int rc;

    /* The run of zeros stops at the leading one, which is part of the value. */
    if ((rc = br_run(r, false, 64, &nz)) != 0)
        return rc;
    if (nz >= 64 || nz + 1 + k > 64)
        return PW_E_MALFORMED;
    if ((rc = br_get_wide(r, nz + k, &x)) != 0)
        return rc;
    x |= UINT64_C(1) << (nz + k);
    *v = x - (UINT64_C(1) << k);
    return 0;
}

static int br_rice(struct bitr *r, unsigned k, uint64_t *zz)
{
    unsigned q;
    uint64_t low;
    int rc;

    if ((rc = br_run(r, true, RICE_LIMIT, &q)) != 0)
        return rc;
    if (q >= RICE_LIMIT)
        return br_eg(r, 0, zz);
    if (k > 56) {
        if ((rc = br_get_wide(r, k, &low)) != 0)
            return rc;
    } else if ((rc = br_get(r, k, &low)) != 0) {
        return rc;
    }
    if (k >= 64 || ((uint64_t)q << k) >> k != q)
        return PW_E_MALFORMED;
    *zz = (uint64_t)q << k | low;
    return 0;
}

static inline uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ---- checksum ---- */

static uint64_t le64(const uint8_t *p)
{
    uint64_t v;

    /* One unaligned load on little-endian machines; the byte order is fixed on disk. */
    memcpy(&v, p, sizeof(v));
    return le64toh(v);
}

uint32_t pw_store_checksum(uint32_t seed, const uint8_t *p, size_t n)
{
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ seed ^ ((uint64_t)n << 32);
    uint64_t tail = 0;

    for (; n >= 8; p += 8, n -= 8) {
        h = (h ^ le64(p)) * UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 29;
    }
    for (size_t i = 0; i < n; i++)
        tail |= (uint64_t)p[i] << (8 * i);
    h = (h ^ tail) * UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 32;
    return (uint32_t)h;
}

/* Header fields first, then the body; the checksum field itself is not covered. */
static uint32_t value_checksum(const uint8_t *buf, size_t hdr_fields, size_t hdr_len, size_t len)
{
    return pw_store_checksum(pw_store_checksum(0, buf, hdr_fields), buf + hdr_len, len - hdr_len);
}

/* ---- sample blocks ---- */

#define FIRST_VALUE_EG_K 12 /* the first RTT of a hop in a block: ~13 bits for 0.5-40 ms */
#define ROUTE_EG_K 0
#define HOP_CTX_A0 64    /* initial mean |delta| guess: 2^6 x 10 µs */
#define HOP_CTX_CAP 4096 /* one outlier adds at most ~40 ms to the mean */
#define TIME_CTX_A0 256
#define TIME_CTX_CAP 65536
#define MAX_DELTA_US (INT64_C(1) << 62)
#define MAX_SPAN_US ((INT64_C(1) << 48) - 1)

static uint64_t hop_mask(unsigned nhops)
{
    return nhops >= 64 ? UINT64_MAX : (UINT64_C(1) << nhops) - 1;
}

static void block_put_header(struct pw_block_enc *e)
{
    uint64_t span = e->st.nsamples ? (uint64_t)(e->st.tlast - e->st.t0) : 0;

    e->buf[0] = PW_BLOCK_VERSION;
    e->buf[1] = (uint8_t)(e->st.nsamples >> 8);
    e->buf[2] = (uint8_t)e->st.nsamples;
    pw_put_be32(e->buf + 3, e->st.expect_us);
    for (int i = 0; i < 6; i++)
        e->buf[7 + i] = (uint8_t)(span >> (40 - 8 * i));
}

#define BLOCK_CSUM_AT 13

int pw_block_enc_init(struct pw_block_enc *e, uint8_t *buf, size_t cap)
{
    if (!e || !buf || cap < PW_BLOCK_HDR_LEN + 64 || cap > PW_BLOCK_MAX_LEN)
        return -EINVAL;
    memset(e, 0, sizeof(*e));
    memset(buf, 0, cap);
    e->buf = buf;
    e->cap = cap;
    block_put_header(e);
    return 0;
}

size_t pw_block_enc_len(const struct pw_block_enc *e)
{
    return PW_BLOCK_HDR_LEN + (e->nbits + 7) / 8;
}

void pw_block_finish(uint8_t *buf, size_t len)
{
    pw_put_be32(buf + BLOCK_CSUM_AT, value_checksum(buf, BLOCK_CSUM_AT, PW_BLOCK_HDR_LEN, len));
}

size_t pw_block_enc_finish(struct pw_block_enc *e)
{
    size_t len = pw_block_enc_len(e);

    pw_block_finish(e->buf, len);
    return len;
}

static uint32_t expect_from(int64_t delta_us)
{
    /* Whole milliseconds: the daemon's intervals are, and the residual stays small. */
    int64_t ms = (delta_us + 500) / 1000;

    if (ms > UINT32_MAX / 1000)
        ms = UINT32_MAX / 1000;
    return (uint32_t)(ms * 1000);
}

int pw_block_enc_add(struct pw_block_enc *e, const struct pw_store_sample *smp)
{
    struct pw_block_state st = e->st;
    struct bitw w = {e->buf + PW_BLOCK_HDR_LEN, (e->cap - PW_BLOCK_HDR_LEN) * 8, e->nbits, false};
    uint64_t lost = 0, skip = 0, mask;
    unsigned n = st.nsamples;

    if (smp->nhops > PW_TRACE_MAX_HOPS)
        return PW_E_RANGE;
    for (unsigned i = 0; i < smp->nhops; i++) {
        if (smp->rtt_us[i] < PW_STORE_RTT_SKIP)
            return PW_E_RANGE;
        if (smp->rtt_us[i] == PW_STORE_RTT_SKIP)
            skip |= UINT64_C(1) << i;
        else if (smp->rtt_us[i] < 0)
            lost |= UINT64_C(1) << i;
    }
    if (n == 0) {
        st.t0 = smp->time_us;
    } else {
        int64_t d, r;

        if (smp->time_us <= st.tlast)
            return PW_E_RANGE;
        if (__builtin_sub_overflow(smp->time_us, st.tlast, &d) || d > MAX_DELTA_US)
            return PW_E_RANGE;
        if (smp->time_us - st.t0 > MAX_SPAN_US || n >= PW_BLOCK_MAX_SAMPLES)
            return -ENOSPC;
        if (n == 1)
            st.expect_us = expect_from(d);
        r = d - (int64_t)st.expect_us;
        bw_rice(&w, zigzag(r), rice_k(&st.time_ctx));
        rice_update(&st.time_ctx, zigzag(r), TIME_CTX_CAP);
    }
    if (n == 0)
        st.time_ctx = (struct pw_rice_ctx){TIME_CTX_A0, 1};

    /* Shape: route, hop count and whether the destination answered. */
    if (n > 0 && smp->route_id == st.route_id && smp->nhops == st.nhops &&
        smp->reached == st.reached) {
        bw_put(&w, 1, 1);
    } else {
        if (n > 0)
            bw_put(&w, 0, 1);
        bw_eg(&w, smp->route_id, ROUTE_EG_K);
        bw_put(&w, smp->nhops, 7);
        bw_put(&w, smp->reached ? 1 : 0, 1);
    }

    /* Which TTLs were lost or skipped: usually as in the previous sample. */
    mask = hop_mask(smp->nhops);
    if (n > 0 && lost == (st.lost_mask & mask) && skip == (st.skip_mask & mask)) {
        bw_put(&w, 1, 1);
    } else {
        if (n > 0)
            bw_put(&w, 0, 1);
        for (unsigned i = 0; i < smp->nhops; i++) {
            uint64_t b = UINT64_C(1) << i;

            if (!(lost & b) && !(skip & b)) {
                bw_put(&w, 1, 1);
            } else {
                bw_put(&w, 0, 1);
                bw_put(&w, (skip & b) ? 1 : 0, 1);
            }
        }
    }

    /* RTTs: delta to the same hop's previous answer in this block. */
    for (unsigned i = 0; i < smp->nhops; i++) {
        uint64_t b = UINT64_C(1) << i;
        int32_t q;

        if ((lost | skip) & b)
            continue;
        q = pw_store_quantize(smp->rtt_us[i]);
        if (st.have_mask & b) {
            uint64_t zz = zigzag((int64_t)q - st.pred[i]);

            bw_rice(&w, zz, rice_k(&st.hop_ctx[i]));
            rice_update(&st.hop_ctx[i], zz, HOP_CTX_CAP);
        } else {
            bw_eg(&w, (uint64_t)q, FIRST_VALUE_EG_K);
            st.have_mask |= b;
            st.hop_ctx[i] = (struct pw_rice_ctx){HOP_CTX_A0, 1};
        }
        st.pred[i] = q;
    }

    if (w.over) {
        /* Undo the partial write: the bytes past the old end must be zero again. */
        size_t first = e->nbits >> 3;
        size_t cap_bytes = e->cap - PW_BLOCK_HDR_LEN;

        if (first < cap_bytes) {
            uint8_t *p = e->buf + PW_BLOCK_HDR_LEN;

            p[first] &= (uint8_t)(0xff00u >> (e->nbits & 7));
            memset(p + first + 1, 0, cap_bytes - first - 1);
        }
        return -ENOSPC;
    }
    st.nsamples = n + 1;
    st.tlast = smp->time_us;
    st.route_id = smp->route_id;
    st.nhops = smp->nhops;
    st.reached = smp->reached;
    st.lost_mask = lost;
    st.skip_mask = skip;
    e->st = st;
    e->nbits = w.pos;
    block_put_header(e);
    return 0;
}

int pw_block_info(const uint8_t *buf, size_t len, struct pw_block_info *out)
{
    if (len < PW_BLOCK_HDR_LEN)
        return PW_E_TRUNCATED;
    if (buf[0] != PW_BLOCK_VERSION || len > PW_BLOCK_MAX_LEN)
        return PW_E_MALFORMED;
    out->nsamples = (uint16_t)(buf[1] << 8 | buf[2]);
    out->expect_us = pw_get_be32(buf + 3);
    out->span_us = 0;
    for (int i = 0; i < 6; i++)
        out->span_us = out->span_us << 8 | buf[7 + i];
    if (out->nsamples == 0 || (out->nsamples == 1 && (out->span_us || out->expect_us)))
        return PW_E_MALFORMED;
    return 0;
}

int pw_block_decode(const uint8_t *buf, size_t len, int64_t t0,
                    int (*cb)(void *arg, const struct pw_store_sample *smp), void *arg)
{
    struct pw_block_info info;
    struct pw_block_state st;
    struct pw_store_sample smp;
    struct bitr r;
    size_t used_bits, total_bits;
    int rc;

    if ((rc = pw_block_info(buf, len, &info)) != 0)
        return rc;
    if (pw_get_be32(buf + BLOCK_CSUM_AT) !=
        value_checksum(buf, BLOCK_CSUM_AT, PW_BLOCK_HDR_LEN, len))
        return PW_E_CHECKSUM;
    memset(&st, 0, sizeof(st));
    memset(&smp, 0, sizeof(smp));
    r = (struct bitr){buf + PW_BLOCK_HDR_LEN, buf + len, 0, 0};
    st.expect_us = info.expect_us;
    st.t0 = t0;
    st.time_ctx = (struct pw_rice_ctx){TIME_CTX_A0, 1};

    for (unsigned n = 0; n < info.nsamples; n++) {
        uint64_t v, lost = 0, skip = 0, mask;
        bool same;

        if (n == 0) {
            smp.time_us = t0;
        } else {
            int64_t d;

            if ((rc = br_rice(&r, rice_k(&st.time_ctx), &v)) != 0)
                return rc;
            rice_update(&st.time_ctx, v, TIME_CTX_CAP);
            if (__builtin_add_overflow(unzigzag(v), (int64_t)st.expect_us, &d) || d <= 0 ||
                d > MAX_DELTA_US)
                return PW_E_MALFORMED;
            /* The encoder fixed the expected interval from the second sample. */
            if (n == 1 && expect_from(d) != st.expect_us)
                return PW_E_MALFORMED;
            if (__builtin_add_overflow(st.tlast, d, &smp.time_us) || smp.time_us - t0 > MAX_SPAN_US)
                return PW_E_MALFORMED;
        }

        same = false;
        if (n > 0) {
            if ((rc = br_get(&r, 1, &v)) != 0)
                return rc;
            same = v == 1;
        }
        if (same) {
            smp.route_id = st.route_id;
            smp.nhops = st.nhops;
            smp.reached = st.reached;
        } else {
            if ((rc = br_eg(&r, ROUTE_EG_K, &v)) != 0)
                return rc;
            if (v > UINT32_MAX)
                return PW_E_MALFORMED;
            smp.route_id = (uint32_t)v;
            if ((rc = br_get(&r, 7, &v)) != 0)
                return rc;
            if (v > PW_TRACE_MAX_HOPS)
                return PW_E_MALFORMED;
            smp.nhops = (uint8_t)v;
            if ((rc = br_get(&r, 1, &v)) != 0)
                return rc;
            smp.reached = v == 1;
        }

        mask = hop_mask(smp.nhops);
        same = false;
        if (n > 0) {
            if ((rc = br_get(&r, 1, &v)) != 0)
                return rc;
            same = v == 1;
        }
        if (same) {
            lost = st.lost_mask & mask;
            skip = st.skip_mask & mask;
        } else {
            for (unsigned i = 0; i < smp.nhops; i++) {
                if ((rc = br_get(&r, 1, &v)) != 0)
                    return rc;
                if (v)
                    continue;
                if ((rc = br_get(&r, 1, &v)) != 0)
                    return rc;
                if (v)
                    skip |= UINT64_C(1) << i;
                else
                    lost |= UINT64_C(1) << i;
            }
        }

        for (unsigned i = 0; i < smp.nhops; i++) {
            uint64_t b = UINT64_C(1) << i;
            int64_t q;

            if (skip & b) {
                smp.rtt_us[i] = PW_STORE_RTT_SKIP;
                continue;
            }
            if (lost & b) {
                smp.rtt_us[i] = PW_RTT_LOST;
                continue;
            }
            if (st.have_mask & b) {
                int64_t delta;

                if ((rc = br_rice(&r, rice_k(&st.hop_ctx[i]), &v)) != 0)
                    return rc;
                rice_update(&st.hop_ctx[i], v, HOP_CTX_CAP);
                delta = unzigzag(v);
                if (delta < -PW_STORE_Q_MAX || delta > PW_STORE_Q_MAX)
                    return PW_E_MALFORMED;
                q = st.pred[i] + delta;
            } else {
                if ((rc = br_eg(&r, FIRST_VALUE_EG_K, &v)) != 0)
                    return rc;
                if (v > PW_STORE_Q_MAX)
                    return PW_E_MALFORMED;
                q = (int64_t)v;
                st.have_mask |= b;
                st.hop_ctx[i] = (struct pw_rice_ctx){HOP_CTX_A0, 1};
            }
            if (q < 0 || q > PW_STORE_Q_MAX)
                return PW_E_MALFORMED;
            st.pred[i] = (int32_t)q;
            smp.rtt_us[i] = (int32_t)q * PW_STORE_RTT_QUANTUM_US;
        }

        st.tlast = smp.time_us;
        st.route_id = smp.route_id;
        st.nhops = smp.nhops;
        st.reached = smp.reached;
        st.lost_mask = lost;
        st.skip_mask = skip;
        if (cb && (rc = cb(arg, &smp)) != 0)
            return rc;
    }

    /* Nothing may follow the last sample but zero padding of the last byte. */
    total_bits = (len - PW_BLOCK_HDR_LEN) * 8;
    used_bits = total_bits - ((size_t)(r.end - r.p) * 8 + r.avail);
    if (total_bits - used_bits >= 8 || (r.avail && r.win != 0))
        return PW_E_MALFORMED;
    if ((uint64_t)(st.tlast - t0) != info.span_us)
        return PW_E_MALFORMED;
    return 0;
}

/* ---- varints (LEB128) ---- */

static int put_varint(uint8_t *out, size_t cap, size_t *len, uint64_t v)
{
    do {
        if (*len >= cap)
            return -ENOSPC;
        out[(*len)++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return 0;
}

static int put_varint128(uint8_t *out, size_t cap, size_t *len, pw_u128 v)
{
    do {
        if (*len >= cap)
            return -ENOSPC;
        out[(*len)++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return 0;
}

/* Reads a varint of at most maxbits bits; rejects overlong (trailing zero group) forms so
 * every value has one encoding. */
static int get_varint(const uint8_t *buf, size_t len, size_t *pos, unsigned maxbits, uint64_t *v)
{
    uint64_t x = 0;
    unsigned shift = 0;

    for (;;) {
        uint8_t b;

        if (*pos >= len)
            return PW_E_TRUNCATED;
        b = buf[(*pos)++];
        if (shift >= maxbits || (maxbits - shift < 7 && (b & 0x7f) >> (maxbits - shift)))
            return PW_E_MALFORMED;
        x |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (b == 0 && shift > 7)
                return PW_E_MALFORMED;
            *v = x;
            return 0;
        }
    }
}

static int get_varint128(const uint8_t *buf, size_t len, size_t *pos, pw_u128 *v)
{
    pw_u128 x = 0;
    unsigned shift = 0;

    for (;;) {
        uint8_t b;

        if (*pos >= len)
            return PW_E_TRUNCATED;
        b = buf[(*pos)++];
        if (shift >= 128 || (shift >= 126 && (b & 0x7f) >> (128 - shift)))
            return PW_E_MALFORMED;
        x |= (pw_u128)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (b == 0 && shift > 7)
                return PW_E_MALFORMED;
            *v = x;
            return 0;
        }
    }
}

/* ---- rollups ---- */

int64_t pw_store_hist_bound_us(unsigned bin)
{
    if (bin >= PW_STORE_HIST_BINS - 1)
        return INT64_MAX;
    return INT64_C(250) << bin;
}

unsigned pw_store_hist_bin(int64_t rtt_us)
{
    unsigned b;

    if (rtt_us < 250)
        return 0;
    b = bit_length((uint64_t)(rtt_us / 250));
    return b < PW_STORE_HIST_BINS - 1 ? b : PW_STORE_HIST_BINS - 1;
}

int64_t pw_rollup_slot_us(enum pw_rollup_level lv)
{
    return lv == PW_ROLLUP_MINUTE ? INT64_C(60000000) : INT64_C(3600000000);
}

int64_t pw_rollup_record_us(enum pw_rollup_level lv)
{
    return lv == PW_ROLLUP_MINUTE ? INT64_C(3600000000) : INT64_C(86400000000);
}

unsigned pw_rollup_slots(enum pw_rollup_level lv)
{
    return lv == PW_ROLLUP_MINUTE ? 60 : 24;
}

void pw_rollup_cell_add(struct pw_rollup_cell *c, int32_t q)
{
    c->count++;
    if (q < 0) {
        c->lost++;
        return;
    }
    if (c->count - c->lost == 1) {
        c->min_q = c->max_q = (uint32_t)q;
    } else {
        if ((uint32_t)q < c->min_q)
            c->min_q = (uint32_t)q;
        if ((uint32_t)q > c->max_q)
            c->max_q = (uint32_t)q;
    }
    c->sum_q += (uint64_t)q;
    c->sumsq_q += (pw_u128)((uint64_t)q * (uint64_t)q);
    c->hist[pw_store_hist_bin((int64_t)q * PW_STORE_RTT_QUANTUM_US)]++;
}

void pw_rollup_cell_merge(struct pw_rollup_cell *dst, const struct pw_rollup_cell *src)
{
    bool dst_ans = dst->count > dst->lost, src_ans = src->count > src->lost;

    if (src_ans) {
        if (!dst_ans || src->min_q < dst->min_q)
            dst->min_q = src->min_q;
        if (!dst_ans || src->max_q > dst->max_q)
            dst->max_q = src->max_q;
    }
    dst->count += src->count;
    dst->lost += src->lost;
    dst->sum_q += src->sum_q;
    dst->sumsq_q += src->sumsq_q;
    for (unsigned i = 0; i < PW_STORE_HIST_BINS; i++)
        dst->hist[i] += src->hist[i];
}

#define CELL_COUNT_SAME 0x40
#define CELL_NO_LOSS 0x80

int pw_rollup_cell_encode(const struct pw_rollup_cell *c, unsigned slot, struct pw_cell_prev *prev,
                          uint8_t *out, size_t cap, size_t *len)
{
    uint32_t ans = c->count - c->lost;
    size_t n = *len;
    uint8_t head;
    int rc = 0;

    if (c->count == 0 || c->lost > c->count || slot > 63)
        return -EINVAL;
    head = (uint8_t)slot;
    if (c->count == prev->count)
        head |= CELL_COUNT_SAME;
    if (c->lost == 0)
        head |= CELL_NO_LOSS;
    if (n >= cap)
        return -ENOSPC;
    out[n++] = head;
    if (!(head & CELL_COUNT_SAME))
        rc = put_varint(out, cap, &n, c->count);
    if (!rc && !(head & CELL_NO_LOSS))
        rc = put_varint(out, cap, &n, c->lost);
    if (!rc && ans) {
        uint64_t s1 = c->sum_q - (uint64_t)ans * c->min_q;
        /* sum((q - min)^2) = sumsq - 2 min sum + n min^2, exact in 128 bits */
        pw_u128 s2 =
            c->sumsq_q + (pw_u128)ans * c->min_q * c->min_q - (pw_u128)2 * c->min_q * c->sum_q;
        unsigned bitmap = 0, last = 0;

        for (unsigned i = 0; i < PW_STORE_HIST_BINS; i++)
            if (c->hist[i]) {
                bitmap |= 1u << i;
                last = i;
            }
        rc = put_varint(out, cap, &n, zigzag((int64_t)c->min_q - prev->min_q));
        if (!rc)
            rc = put_varint(out, cap, &n, c->max_q - c->min_q);
        if (!rc)
            rc = put_varint(out, cap, &n, s1);
        if (!rc)
            rc = put_varint128(out, cap, &n, s2);
        if (!rc)
            rc = put_varint(out, cap, &n, bitmap);
        /* The last bin's count follows from the others. */
        for (unsigned i = 0; !rc && i < last; i++)
            if (c->hist[i])
                rc = put_varint(out, cap, &n, c->hist[i]);
        if (!rc)
            prev->min_q = c->min_q;
    }
    if (rc)
        return rc;
    prev->count = c->count;
    *len = n;
    return 0;
}

static int cell_decode(const uint8_t *buf, size_t len, size_t *pos, struct pw_cell_prev *prev,
                       unsigned *slot, struct pw_rollup_cell *c)
{
    uint64_t v, range, s1, bitmap, rest;
    pw_u128 s2;
    uint32_t ans;
    unsigned lo = 0, hi = 0;
    uint8_t head;
    int64_t min;
    int rc;

    memset(c, 0, sizeof(*c));
    if (*pos >= len)
        return PW_E_TRUNCATED;
    head = buf[(*pos)++];
    *slot = head & 0x3f;
    if (head & CELL_COUNT_SAME) {
        c->count = prev->count;
    } else {
        if ((rc = get_varint(buf, len, pos, 32, &v)) != 0)
            return rc;
        /* Coded explicitly only when it differs. */
        if (v == prev->count)
            return PW_E_MALFORMED;
        c->count = (uint32_t)v;
    }
    if (c->count == 0)
        return PW_E_MALFORMED;
    if (!(head & CELL_NO_LOSS)) {
        if ((rc = get_varint(buf, len, pos, 32, &v)) != 0)
            return rc;
        if (v == 0 || v > c->count)
            return PW_E_MALFORMED;
        c->lost = (uint32_t)v;
    }
    prev->count = c->count;
    ans = c->count - c->lost;
    if (ans == 0)
        return 0;

    if ((rc = get_varint(buf, len, pos, 64, &v)) != 0)
        return rc;
    min = (int64_t)prev->min_q + unzigzag(v);
    if (min < 0 || min > PW_STORE_Q_MAX)
        return PW_E_MALFORMED;
    if ((rc = get_varint(buf, len, pos, 32, &range)) != 0)
        return rc;
    if (range > (uint64_t)(PW_STORE_Q_MAX - min) || (ans == 1 && range != 0))
        return PW_E_MALFORMED;
    c->min_q = (uint32_t)min;
    c->max_q = (uint32_t)(min + (int64_t)range);
    if ((rc = get_varint(buf, len, pos, 64, &s1)) != 0)
        return rc;
    /* Each value lies in [min, max]; with a spread both extremes occur. */
    if (s1 > (uint64_t)ans * range || (range && s1 < range))
        return PW_E_MALFORMED;
    if ((rc = get_varint128(buf, len, pos, &s2)) != 0)
        return rc;
    if (s2 > (pw_u128)range * s1 || (range && s2 < (pw_u128)range * range))
        return PW_E_MALFORMED;
    c->sum_q = s1 + (uint64_t)ans * c->min_q;
    c->sumsq_q = s2 + (pw_u128)2 * c->min_q * s1 + (pw_u128)ans * c->min_q * c->min_q;

    if ((rc = get_varint(buf, len, pos, 16, &bitmap)) != 0)
        return rc;
    if (bitmap == 0)
        return PW_E_MALFORMED;
    lo = (unsigned)__builtin_ctzll(bitmap);
    hi = bit_length(bitmap) - 1;
    if (lo != pw_store_hist_bin((int64_t)c->min_q * PW_STORE_RTT_QUANTUM_US) ||
        hi != pw_store_hist_bin((int64_t)c->max_q * PW_STORE_RTT_QUANTUM_US))
        return PW_E_MALFORMED;
    rest = ans;
    for (unsigned i = 0; i < hi; i++) {
        if (!(bitmap & (UINT64_C(1) << i)))
            continue;
        if ((rc = get_varint(buf, len, pos, 32, &v)) != 0)
            return rc;
        if (v == 0 || v >= rest)
            return PW_E_MALFORMED;
        c->hist[i] = (uint32_t)v;
        rest -= v;
    }
    c->hist[hi] = (uint32_t)rest;
    prev->min_q = c->min_q;
    return 0;
}

#define ROLLUP_CSUM_AT 2

size_t pw_rollup_put_header(uint8_t *out, enum pw_rollup_level lv)
{
    out[0] = PW_ROLLUP_VERSION;
    out[1] = (uint8_t)(lv + 1);
    pw_put_be32(out + ROLLUP_CSUM_AT, 0);
    return PW_ROLLUP_HDR_LEN;
}

void pw_rollup_finish(uint8_t *rec, size_t len)
{
    pw_put_be32(rec + ROLLUP_CSUM_AT, value_checksum(rec, ROLLUP_CSUM_AT, PW_ROLLUP_HDR_LEN, len));
}

size_t pw_rollup_put_section(uint8_t *out, unsigned series, size_t body_len)
{
    size_t n = 1;

    out[0] = (uint8_t)series;
    put_varint(out, PW_ROLLUP_SECTION_HDR_MAX, &n, body_len);
    return n;
}

int pw_rollup_decode(const uint8_t *buf, size_t len, enum pw_rollup_level lv, const bool *want,
                     int (*cb)(void *arg, unsigned series, unsigned slot,
                               const struct pw_rollup_cell *c),
                     void *arg)
{
    size_t pos = PW_ROLLUP_HDR_LEN;
    int last_series = -1;
    unsigned slots = pw_rollup_slots(lv);
    int rc;

    if (len < PW_ROLLUP_HDR_LEN)
        return PW_E_TRUNCATED;
    if (buf[0] != PW_ROLLUP_VERSION || buf[1] != (uint8_t)(lv + 1))
        return PW_E_MALFORMED;
    if (pw_get_be32(buf + ROLLUP_CSUM_AT) !=
        value_checksum(buf, ROLLUP_CSUM_AT, PW_ROLLUP_HDR_LEN, len))
        return PW_E_CHECKSUM;
    while (pos < len) {
        unsigned series = buf[pos++];
        uint64_t body;
        size_t end;

        if (series >= PW_STORE_SERIES || (int)series <= last_series)
            return PW_E_MALFORMED;
        last_series = (int)series;
        if ((rc = get_varint(buf, len, &pos, 32, &body)) != 0)
            return rc;
        if (body == 0 || body > len - pos)
            return body == 0 ? PW_E_MALFORMED : PW_E_TRUNCATED;
        end = pos + (size_t)body;
        if (want && !want[series]) {
            pos = end;
            continue;
        }
        {
            struct pw_cell_prev prev = {0, 0};
            int last_slot = -1;

            while (pos < end) {
                struct pw_rollup_cell c;
                unsigned slot;

                if ((rc = cell_decode(buf, end, &pos, &prev, &slot, &c)) != 0)
                    return rc;
                if (slot >= slots || (int)slot <= last_slot)
                    return PW_E_MALFORMED;
                last_slot = (int)slot;
                if (cb && (rc = cb(arg, series, slot, &c)) != 0)
                    return rc;
            }
        }
    }
    return 0;
}

/* ---- addresses and routes ---- */

int pw_addr_encode(const struct pw_addr *a, uint8_t *out)
{
    switch (a->family) {
    case 0:
        out[0] = 0;
        return 1;
    case AF_INET:
        out[0] = 4;
        memcpy(out + 1, &a->u.v4, 4);
        return 5;
    case AF_INET6:
        out[0] = 6;
        memcpy(out + 1, &a->u.v6, 16);
        return 17;
    default:
        return PW_E_RANGE;
    }
}

int pw_addr_decode(const uint8_t *buf, size_t len, struct pw_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (len < 1)
        return PW_E_TRUNCATED;
    switch (buf[0]) {
    case 0:
        return 1;
    case 4:
        if (len < 5)
            return PW_E_TRUNCATED;
        out->family = AF_INET;
        memcpy(&out->u.v4, buf + 1, 4);
        return 5;
    case 6:
        if (len < 17)
            return PW_E_TRUNCATED;
        out->family = AF_INET6;
        memcpy(&out->u.v6, buf + 1, 16);
        return 17;
    default:
        return PW_E_MALFORMED;
    }
}

#define ROUTE_VERSION 1

int pw_route_encode(const struct pw_store_route *r, uint8_t *out)
{
    int n = 2;

    if (r->nhops > PW_TRACE_MAX_HOPS)
        return PW_E_RANGE;
    out[0] = ROUTE_VERSION;
    out[1] = r->nhops;
    for (unsigned i = 0; i < r->nhops; i++) {
        int k = pw_addr_encode(&r->hop[i], out + n);

        if (k < 0)
            return k;
        n += k;
    }
    return n;
}

int pw_route_decode(const uint8_t *buf, size_t len, struct pw_store_route *out)
{
    size_t pos = 2;

    memset(out, 0, sizeof(*out));
    if (len < 2)
        return PW_E_TRUNCATED;
    if (buf[0] != ROUTE_VERSION || buf[1] > PW_TRACE_MAX_HOPS)
        return PW_E_MALFORMED;
    out->nhops = buf[1];
    for (unsigned i = 0; i < out->nhops; i++) {
        int k = pw_addr_decode(buf + pos, len - pos, &out->hop[i]);

        if (k < 0)
            return k;
        pos += (size_t)k;
    }
    return pos == len ? 0 : PW_E_MALFORMED;
}

/* ---- small records: version byte, then tag u8, length u16, value ---- */

#define REC_VERSION 1

struct recw {
    uint8_t *p;
    size_t cap, len;
    int rc;
};

static void rec_put(struct recw *w, uint8_t tag, const void *v, size_t n)
{
    if (w->rc)
        return;
    if (n > UINT16_MAX || w->cap - w->len < 3 + n) {
        w->rc = -ENOSPC;
        return;
    }
    w->p[w->len] = tag;
    w->p[w->len + 1] = (uint8_t)(n >> 8);
    w->p[w->len + 2] = (uint8_t)n;
    if (n)
        memcpy(w->p + w->len + 3, v, n);
    w->len += 3 + n;
}

static void rec_put_str(struct recw *w, uint8_t tag, const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    if (n > max) {
        if (!w->rc)
            w->rc = PW_E_RANGE;
        return;
    }
    rec_put(w, tag, s, n);
}

static void rec_put_u32(struct recw *w, uint8_t tag, uint32_t v)
{
    uint8_t b[4];

    pw_put_be32(b, v);
    rec_put(w, tag, b, 4);
}

static void rec_put_i64(struct recw *w, uint8_t tag, int64_t v)
{
    uint8_t b[8];

    pw_put_be64(b, (uint64_t)v);
    rec_put(w, tag, b, 8);
}

static int rec_begin(struct recw *w, uint8_t *out, size_t cap)
{
    *w = (struct recw){out, cap, 0, 0};
    if (cap < 1)
        return -ENOSPC;
    out[w->len++] = REC_VERSION;
    return 0;
}

static int rec_end(struct recw *w, size_t *len)
{
    if (w->rc)
        return w->rc;
    *len = w->len;
    return 0;
}

/* Iterates the items of a record: returns 1 with tag/value, 0 at the end, or an error. */
struct recr {
    const uint8_t *p;
    size_t len, pos;
};

static int rec_next(struct recr *r, uint8_t *tag, const uint8_t **v, size_t *n)
{
    if (r->pos == r->len)
        return 0;
    if (r->len - r->pos < 3)
        return PW_E_TRUNCATED;
    *tag = r->p[r->pos];
    *n = (size_t)r->p[r->pos + 1] << 8 | r->p[r->pos + 2];
    if (*n > r->len - r->pos - 3)
        return PW_E_TRUNCATED;
    *v = r->p + r->pos + 3;
    r->pos += 3 + *n;
    return 1;
}

static int rec_open(struct recr *r, const uint8_t *buf, size_t len)
{
    *r = (struct recr){buf, len, 1};
    if (len < 1)
        return PW_E_TRUNCATED;
    return buf[0] == REC_VERSION ? 0 : PW_E_MALFORMED;
}

/* A stored string: at most max bytes, no NUL inside. The whole field (max + 1 bytes) is
 * written, so a repeated item leaves nothing of the earlier one behind. */
static int rec_str(const uint8_t *v, size_t n, char *out, size_t max)
{
    if (n > max || memchr(v, 0, n))
        return PW_E_MALFORMED;
    memset(out, 0, max + 1);
    memcpy(out, v, n);
    return 0;
}

static int rec_u32(const uint8_t *v, size_t n, uint32_t *out)
{
    if (n != 4)
        return PW_E_MALFORMED;
    *out = pw_get_be32(v);
    return 0;
}

static int rec_i64(const uint8_t *v, size_t n, int64_t *out)
{
    if (n != 8)
        return PW_E_MALFORMED;
    *out = (int64_t)pw_get_be64(v);
    return 0;
}

#define OPTS_LEN 21

static void opts_encode(const struct pw_trace_opts *o, uint8_t *b)
{
    b[0] = (uint8_t)o->proto;
    b[1] = (uint8_t)(o->port >> 8);
    b[2] = (uint8_t)o->port;
    pw_put_be32(b + 3, (uint32_t)o->packet_size);
    pw_put_be32(b + 7, o->timeout_ms);
    b[11] = o->max_hops;
    pw_put_be32(b + 12, o->inter_packet_delay_us);
    pw_put_be32(b + 16, o->interval_ms);
    b[20] = o->final_hop_only ? 1 : 0;
}

static int opts_decode(const uint8_t *b, size_t n, struct pw_trace_opts *o)
{
    if (n != OPTS_LEN)
        return PW_E_MALFORMED;
    if (b[0] > PW_PROTO_TCP || b[11] > PW_TRACE_MAX_HOPS || b[20] > 1)
        return PW_E_MALFORMED;
    memset(o, 0, sizeof(*o));
    o->proto = (enum pw_proto)b[0];
    o->port = (uint16_t)(b[1] << 8 | b[2]);
    o->packet_size = (int32_t)pw_get_be32(b + 3);
    o->timeout_ms = pw_get_be32(b + 7);
    o->max_hops = b[11];
    o->inter_packet_delay_us = pw_get_be32(b + 12);
    o->interval_ms = pw_get_be32(b + 16);
    o->final_hop_only = b[20] == 1;
    return 0;
}

enum {
    T_HOST = 1,
    T_LABEL = 2,
    T_CONFIG = 3,
    T_OPTS = 4,
    T_FLAGS = 5,
    T_ADDR = 6,
    T_CREATED = 7,
};

int pw_target_encode(const struct pw_store_target *t, uint8_t *out, size_t cap, size_t *len)
{
    struct recw w;
    uint8_t b[OPTS_LEN];
    uint8_t flags = (uint8_t)((t->paused ? 1 : 0) | (t->from_config ? 2 : 0));
    int n;

    if (rec_begin(&w, out, cap) != 0)
        return -ENOSPC;
    rec_put_str(&w, T_HOST, t->host, PW_STORE_HOST_MAX);
    rec_put_str(&w, T_LABEL, t->label, PW_STORE_LABEL_MAX);
    rec_put_str(&w, T_CONFIG, t->config, PW_STORE_NAME_MAX);
    opts_encode(&t->opts, b);
    rec_put(&w, T_OPTS, b, OPTS_LEN);
    rec_put(&w, T_FLAGS, &flags, 1);
    {
        uint8_t a[17];

        n = pw_addr_encode(&t->addr, a);
        if (n < 0)
            return n;
        rec_put(&w, T_ADDR, a, (size_t)n);
    }
    rec_put_i64(&w, T_CREATED, t->created_us);
    return rec_end(&w, len);
}

int pw_target_decode(const uint8_t *buf, size_t len, uint32_t id, struct pw_store_target *out)
{
    struct recr r;
    const uint8_t *v;
    size_t n;
    uint8_t tag;
    bool host = false, opts = false;
    int rc;

    memset(out, 0, sizeof(*out));
    out->id = id;
    if ((rc = rec_open(&r, buf, len)) != 0)
        return rc;
    while ((rc = rec_next(&r, &tag, &v, &n)) == 1) {
        switch (tag) {
        case T_HOST:
            rc = rec_str(v, n, out->host, PW_STORE_HOST_MAX);
            host = true;
            break;
        case T_LABEL:
            rc = rec_str(v, n, out->label, PW_STORE_LABEL_MAX);
            break;
        case T_CONFIG:
            rc = rec_str(v, n, out->config, PW_STORE_NAME_MAX);
            break;
        case T_OPTS:
            rc = opts_decode(v, n, &out->opts);
            opts = true;
            break;
        case T_FLAGS:
            if (n != 1 || v[0] > 3)
                return PW_E_MALFORMED;
            out->paused = v[0] & 1;
            out->from_config = (v[0] & 2) != 0;
            rc = 0;
            break;
        case T_ADDR:
            rc = pw_addr_decode(v, n, &out->addr);
            rc = rc < 0 ? rc : ((size_t)rc == n ? 0 : PW_E_MALFORMED);
            break;
        case T_CREATED:
            rc = rec_i64(v, n, &out->created_us);
            break;
        default: /* a newer writer's field: skipped */
            rc = 0;
            break;
        }
        if (rc)
            return rc;
    }
    if (rc < 0)
        return rc;
    return host && opts ? 0 : PW_E_MALFORMED;
}

int pw_config_encode(const struct pw_store_config *c, uint8_t *out, size_t cap, size_t *len)
{
    struct recw w;
    uint8_t b[OPTS_LEN];

    if (rec_begin(&w, out, cap) != 0)
        return -ENOSPC;
    opts_encode(&c->opts, b);
    rec_put(&w, T_OPTS, b, OPTS_LEN);
    return rec_end(&w, len);
}

int pw_config_decode(const uint8_t *buf, size_t len, const char *name, size_t namelen,
                     struct pw_store_config *out)
{
    struct recr r;
    const uint8_t *v;
    size_t n;
    uint8_t tag;
    bool opts = false;
    int rc;

    memset(out, 0, sizeof(*out));
    if (namelen == 0 ||
        (rc = rec_str((const uint8_t *)name, namelen, out->name, PW_STORE_NAME_MAX)) != 0)
        return PW_E_MALFORMED;
    if ((rc = rec_open(&r, buf, len)) != 0)
        return rc;
    while ((rc = rec_next(&r, &tag, &v, &n)) == 1) {
        if (tag == T_OPTS) {
            if ((rc = opts_decode(v, n, &out->opts)) != 0)
                return rc;
            opts = true;
        }
    }
    if (rc < 0)
        return rc;
    return opts ? 0 : PW_E_MALFORMED;
}

enum {
    C_TEXT = 1,
    C_AUTHOR = 2,
};

int pw_comment_encode(const struct pw_store_comment *c, uint8_t *out, size_t cap, size_t *len)
{
    struct recw w;

    if (rec_begin(&w, out, cap) != 0)
        return -ENOSPC;
    rec_put_str(&w, C_TEXT, c->text, PW_STORE_TEXT_MAX);
    rec_put_str(&w, C_AUTHOR, c->author, PW_STORE_NAME_MAX);
    return rec_end(&w, len);
}

int pw_comment_decode(const uint8_t *buf, size_t len, struct pw_store_comment *out)
{
    struct recr r;
    const uint8_t *v;
    size_t n;
    uint8_t tag;
    int rc;

    out->text[0] = out->author[0] = 0;
    if ((rc = rec_open(&r, buf, len)) != 0)
        return rc;
    while ((rc = rec_next(&r, &tag, &v, &n)) == 1) {
        if (tag == C_TEXT)
            rc = rec_str(v, n, out->text, PW_STORE_TEXT_MAX);
        else if (tag == C_AUTHOR)
            rc = rec_str(v, n, out->author, PW_STORE_NAME_MAX);
        else
            rc = 0;
        if (rc)
            return rc;
    }
    return rc < 0 ? rc : 0;
}

enum {
    S_NAME = 1,
    S_TARGET = 2,
    S_START = 3,
    S_END = 4,
    S_CREATED = 5,
};

int pw_session_encode(const struct pw_store_session *ss, uint8_t *out, size_t cap, size_t *len)
{
    struct recw w;

    if (rec_begin(&w, out, cap) != 0)
        return -ENOSPC;
    rec_put_str(&w, S_NAME, ss->name, PW_STORE_LABEL_MAX);
    rec_put_u32(&w, S_TARGET, ss->target_id);
    rec_put_i64(&w, S_START, ss->start_us);
    rec_put_i64(&w, S_END, ss->end_us);
    rec_put_i64(&w, S_CREATED, ss->created_us);
    return rec_end(&w, len);
}

int pw_session_decode(const uint8_t *buf, size_t len, uint32_t id, struct pw_store_session *out)
{
    struct recr r;
    const uint8_t *v;
    size_t n;
    uint8_t tag;
    int rc;

    memset(out, 0, sizeof(*out));
    out->id = id;
    if ((rc = rec_open(&r, buf, len)) != 0)
        return rc;
    while ((rc = rec_next(&r, &tag, &v, &n)) == 1) {
        switch (tag) {
        case S_NAME:
            rc = rec_str(v, n, out->name, PW_STORE_LABEL_MAX);
            break;
        case S_TARGET:
            rc = rec_u32(v, n, &out->target_id);
            break;
        case S_START:
            rc = rec_i64(v, n, &out->start_us);
            break;
        case S_END:
            rc = rec_i64(v, n, &out->end_us);
            break;
        case S_CREATED:
            rc = rec_i64(v, n, &out->created_us);
            break;
        default:
            rc = 0;
            break;
        }
        if (rc)
            return rc;
    }
    return rc < 0 ? rc : 0;
}

#define ROUTE_CHANGE_VERSION 1

void pw_route_change_encode(const struct pw_store_route_change *c, uint8_t *out)
{
    out[0] = ROUTE_CHANGE_VERSION;
    pw_put_be32(out + 1, c->old_route);
    pw_put_be32(out + 5, c->new_route);
    out[9] = c->first_hop;
}

int pw_route_change_decode(const uint8_t *buf, size_t len, struct pw_store_route_change *out)
{
    if (len < PW_ROUTE_CHANGE_VAL_LEN)
        return PW_E_TRUNCATED;
    if (buf[0] != ROUTE_CHANGE_VERSION || len != PW_ROUTE_CHANGE_VAL_LEN ||
        buf[9] > PW_TRACE_MAX_HOPS)
        return PW_E_MALFORMED;
    out->old_route = pw_get_be32(buf + 1);
    out->new_route = pw_get_be32(buf + 5);
    out->first_hop = buf[9];
    return 0;
}

#define DNS_VERSION 1
#define DNS_FLAG_NONE 1
#define DNS_HDR_LEN 10

int pw_dns_val_encode(const char *name, int64_t updated_us, uint8_t *out, size_t cap, size_t *len)
{
    bool none = strcmp(name, PW_DNS_NONE) == 0;
    size_t n = none ? 0 : strnlen(name, PW_DNS_NAME_MAX + 1);

    if (n > PW_DNS_NAME_MAX)
        return PW_E_RANGE;
    if (!none && n == 0)
        return PW_E_RANGE;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
            return PW_E_RANGE;
    if (cap < DNS_HDR_LEN + n)
        return -ENOSPC;
    out[0] = DNS_VERSION;
    out[1] = none ? DNS_FLAG_NONE : 0;
    pw_put_be64(out + 2, (uint64_t)updated_us);
    memcpy(out + DNS_HDR_LEN, name, n);
    *len = DNS_HDR_LEN + n;
    return 0;
}

int pw_dns_val_decode(const uint8_t *buf, size_t len, char *name, size_t namelen,
                      int64_t *updated_us)
{
    size_t n;

    if (len < DNS_HDR_LEN)
        return PW_E_TRUNCATED;
    if (buf[0] != DNS_VERSION || buf[1] > DNS_FLAG_NONE)
        return PW_E_MALFORMED;
    n = len - DNS_HDR_LEN;
    if (n > PW_DNS_NAME_MAX || ((buf[1] & DNS_FLAG_NONE) != 0) != (n == 0))
        return PW_E_MALFORMED;
    for (size_t i = 0; i < n; i++)
        if (buf[DNS_HDR_LEN + i] < 0x21 || buf[DNS_HDR_LEN + i] > 0x7e)
            return PW_E_MALFORMED;
    /* "No PTR record" has one spelling: the flag. */
    if (n == strlen(PW_DNS_NONE) && memcmp(buf + DNS_HDR_LEN, PW_DNS_NONE, n) == 0)
        return PW_E_MALFORMED;
    if (updated_us)
        *updated_us = (int64_t)pw_get_be64(buf + 2);
    if (name && namelen) {
        const char *src = n ? (const char *)buf + DNS_HDR_LEN : PW_DNS_NONE;
        size_t m = n ? n : strlen(PW_DNS_NONE);

        if (m >= namelen)
            m = namelen - 1;
        memcpy(name, src, m);
        name[m] = 0;
    }
    return 0;
}
