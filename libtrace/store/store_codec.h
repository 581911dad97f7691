/* PingWatcher — encodings of the LMDB store's values (see FORMAT.md beside this file).
 *
 * Pure functions over (buffer, length): no LMDB, no I/O, so every decoder can be fuzzed
 * (tests/fuzz/fuzz_store_codec.c). Decoders read only inside the buffer they are given, check
 * every count, length and value range, and return PW_E_MALFORMED (or PW_E_TRUNCATED) for
 * anything they did not write; they never allocate.
 *
 * Sample blocks: up to 65535 samples of one target, packed as a bit stream (adaptive Rice
 * codes of RTT deltas to the previous sample's same hop, 10 µs units). An encoder appends to
 * a caller-owned buffer of fixed capacity and refuses (-ENOSPC, state unchanged) a sample that
 * does not fit, so the store can size blocks to whole LMDB overflow pages.
 *
 * Rollup records: per-series cells of count, lost, min, max, sum, sum of squares and a
 * PW_STORE_HIST_BINS-bin histogram, one cell per slot (minute or hour), varint-coded.
 */
#ifndef PW_STORE_CODEC_H
#define PW_STORE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Exact 128-bit sums of squares (GCC and clang on every 64-bit target we build for). */
__extension__ typedef unsigned __int128 pw_u128;

/* ---- sample blocks ---- */

#define PW_BLOCK_VERSION 1
/* version u8, nsamples u16, expect_us u32, span_us u48, checksum u32, all big-endian */
#define PW_BLOCK_HDR_LEN 17
/* Largest block value a decoder accepts (the store writes one or two pages' worth). */
#define PW_BLOCK_MAX_LEN 65536
#define PW_BLOCK_MAX_SAMPLES 65535
/* Largest RTT in stored units. */
#define PW_STORE_Q_MAX (PW_STORE_RTT_MAX_US / PW_STORE_RTT_QUANTUM_US)
/* Series index in rollups and timelines: 0 = final hop, 1..64 = TTL. */
#define PW_STORE_SERIES 65

/* Adaptive state of one Rice-coded quantity: k is the smallest with n << k >= a. */
struct pw_rice_ctx {
    uint32_t a;
    uint32_t n;
};

/* Everything the next sample of a block is predicted from; the decoder keeps the same. */
struct pw_block_state {
    uint32_t nsamples;
    uint32_t expect_us; /* expected interval, fixed by the second sample */
    int64_t t0, tlast;
    uint32_t route_id;
    uint8_t nhops;
    bool reached;
    uint64_t lost_mask, skip_mask; /* bit i: TTL i+1 of the previous sample */
    uint64_t have_mask;            /* bit i: pred[i] holds a value of this block */
    int32_t pred[PW_TRACE_MAX_HOPS];
    struct pw_rice_ctx hop_ctx[PW_TRACE_MAX_HOPS];
    struct pw_rice_ctx time_ctx;
};

/* An encoder appending to buf[0..cap). Plain value: copy it to snapshot. */
struct pw_block_enc {
    uint8_t *buf;
    size_t cap;
    size_t nbits; /* bits of the stream written after the header */
    struct pw_block_state st;
};

/* Starts an empty block in buf (cap bytes, PW_BLOCK_HDR_LEN + 64 <= cap <= PW_BLOCK_MAX_LEN;
 * buf is borrowed for the encoder's life). Returns 0 or -EINVAL. */
int pw_block_enc_init(struct pw_block_enc *e, uint8_t *buf, size_t cap);
/* Appends a sample. Returns 0; -ENOSPC when it does not fit (the block is unchanged: seal it
 * and start another); PW_E_RANGE when its time is not after the previous sample's, nhops is
 * above PW_TRACE_MAX_HOPS or an RTT is below PW_STORE_RTT_SKIP. RTTs are rounded to 10 µs and
 * capped at PW_STORE_RTT_MAX_US. */
int pw_block_enc_add(struct pw_block_enc *e, const struct pw_store_sample *smp);
/* Bytes of the block value so far (header included). */
size_t pw_block_enc_len(const struct pw_block_enc *e);
/* Writes the checksum into the header and returns the block's length: call before storing
 * buf (a later pw_block_enc_add() makes it stale again). */
size_t pw_block_enc_finish(struct pw_block_enc *e);
/* Writes the checksum of the block value buf[0..len) into its header (len >= header). */
void pw_block_finish(uint8_t *buf, size_t len);

struct pw_block_info {
    uint16_t nsamples;
    uint32_t expect_us;
    uint64_t span_us; /* last sample's time minus the first's */
};

/* Reads a block's header (the checksum is not verified here). Returns 0, PW_E_TRUNCATED or
 * PW_E_MALFORMED. */
int pw_block_info(const uint8_t *buf, size_t len, struct pw_block_info *out);

/* Decodes a whole block whose first sample was taken at t0 (from its key), calling cb (may be
 * NULL: check only) per sample in time order (smp valid during the call; rtt_us filled for
 * nhops entries). Corruption is found while decoding, so cb may have seen samples of a block
 * that then returns PW_E_MALFORMED: callers that must not use a bad block's samples collect
 * them first (the store does). The checksum is verified before anything is decoded. Returns
 * 0, cb's non-zero value when it stopped early, PW_E_CHECKSUM, PW_E_MALFORMED or
 * PW_E_TRUNCATED. */
int pw_block_decode(const uint8_t *buf, size_t len, int64_t t0,
                    int (*cb)(void *arg, const struct pw_store_sample *smp), void *arg);

/* ---- rollups ---- */

/* Rollup levels: per-minute cells in hour records, per-hour cells in day records. */
enum pw_rollup_level {
    PW_ROLLUP_MINUTE = 0,
    PW_ROLLUP_HOUR = 1,
    PW_ROLLUP_LEVELS = 2,
};
#define PW_ROLLUP_VERSION 1
int64_t pw_rollup_slot_us(enum pw_rollup_level lv);
int64_t pw_rollup_record_us(enum pw_rollup_level lv);
unsigned pw_rollup_slots(enum pw_rollup_level lv);

/* The aggregate of one series over one slot, in stored RTT units (10 µs). */
struct pw_rollup_cell {
    uint32_t count; /* probes sent, lost included; 0 = empty */
    uint32_t lost;
    uint32_t min_q, max_q; /* valid when count > lost */
    uint64_t sum_q;
    pw_u128 sumsq_q;
    uint32_t hist[PW_STORE_HIST_BINS];
};

/* Adds one RTT (stored units, or a negative value for lost) to a cell. */
void pw_rollup_cell_add(struct pw_rollup_cell *c, int32_t q);
/* Merges src into dst. */
void pw_rollup_cell_merge(struct pw_rollup_cell *dst, const struct pw_rollup_cell *src);

/* Context of the previous cell of a series inside one record (delta coding). */
struct pw_cell_prev {
    uint32_t count;
    uint32_t min_q;
};

/* Appends cell (count >= 1) for slot to out[*len..cap), delta-coded against *prev (zeroed at
 * the start of a section), which is then advanced. Returns 0 or -ENOSPC. */
int pw_rollup_cell_encode(const struct pw_rollup_cell *c, unsigned slot, struct pw_cell_prev *prev,
                          uint8_t *out, size_t cap, size_t *len);
/* Longest encoding of one cell. */
#define PW_ROLLUP_CELL_MAX 128

/* Writes a record header (version, level, checksum: 6 bytes) or a section header (series,
 * length: at most 6 bytes). pw_rollup_finish() fills the checksum once the record is whole. */
#define PW_ROLLUP_HDR_LEN 6
#define PW_ROLLUP_SECTION_HDR_MAX 6
size_t pw_rollup_put_header(uint8_t *out, enum pw_rollup_level lv);
size_t pw_rollup_put_section(uint8_t *out, unsigned series, size_t body_len);
void pw_rollup_finish(uint8_t *rec, size_t len);

/* Decodes a rollup record of level lv, calling cb (may be NULL) per cell (series ascending,
 * then slot ascending). Only series where want[series] is true are decoded (want NULL = all);
 * the others are skipped by their length. The checksum is verified first; as with blocks, cb
 * may have seen cells of a record that then returns PW_E_MALFORMED. Returns 0, cb's non-zero
 * value, PW_E_CHECKSUM, PW_E_MALFORMED or PW_E_TRUNCATED. */
int pw_rollup_decode(const uint8_t *buf, size_t len, enum pw_rollup_level lv, const bool *want,
                     int (*cb)(void *arg, unsigned series, unsigned slot,
                               const struct pw_rollup_cell *c),
                     void *arg);

/* ---- routes ---- */

/* Longest route value: version, nhops, then per hop a family code and 0, 4 or 16 bytes. */
#define PW_ROUTE_VAL_MAX (2 + PW_TRACE_MAX_HOPS * 17)
/* Encodes r (nhops <= PW_TRACE_MAX_HOPS, families 0/AF_INET/AF_INET6) into out (at least
 * PW_ROUTE_VAL_MAX bytes). Returns the length, or PW_E_RANGE. */
int pw_route_encode(const struct pw_store_route *r, uint8_t *out);
int pw_route_decode(const uint8_t *buf, size_t len, struct pw_store_route *out);

/* ---- addresses (route hops, DNS keys) ---- */

/* Family code (0, 4, 6) then 0, 4 or 16 bytes into out (17 bytes). Returns the length or
 * PW_E_RANGE for another family. */
int pw_addr_encode(const struct pw_addr *a, uint8_t *out);
/* Reads one encoded address from buf; returns the bytes used or PW_E_MALFORMED. */
int pw_addr_decode(const uint8_t *buf, size_t len, struct pw_addr *out);

/* ---- small records (targets, configurations, comments, sessions, DNS, route changes) ---- */

/* Largest small-record value. */
#define PW_REC_MAX 2048

int pw_target_encode(const struct pw_store_target *t, uint8_t *out, size_t cap, size_t *len);
/* id comes from the key. */
int pw_target_decode(const uint8_t *buf, size_t len, uint32_t id, struct pw_store_target *out);
int pw_config_encode(const struct pw_store_config *c, uint8_t *out, size_t cap, size_t *len);
/* name comes from the key (namelen bytes). */
int pw_config_decode(const uint8_t *buf, size_t len, const char *name, size_t namelen,
                     struct pw_store_config *out);
int pw_comment_encode(const struct pw_store_comment *c, uint8_t *out, size_t cap, size_t *len);
/* id, target and time come from the key. */
int pw_comment_decode(const uint8_t *buf, size_t len, struct pw_store_comment *out);
int pw_session_encode(const struct pw_store_session *ss, uint8_t *out, size_t cap, size_t *len);
int pw_session_decode(const uint8_t *buf, size_t len, uint32_t id, struct pw_store_session *out);
#define PW_ROUTE_CHANGE_VAL_LEN 10
void pw_route_change_encode(const struct pw_store_route_change *c, uint8_t *out);
/* target and time come from the key. */
int pw_route_change_decode(const uint8_t *buf, size_t len, struct pw_store_route_change *out);
/* DNS value: version, flags (bit 0: no PTR), updated_us, name. */
int pw_dns_val_encode(const char *name, int64_t updated_us, uint8_t *out, size_t cap, size_t *len);
int pw_dns_val_decode(const uint8_t *buf, size_t len, char *name, size_t namelen,
                      int64_t *updated_us);

/* ---- helpers shared with the store ---- */

/* The 32-bit checksum of blocks and rollup records: a word-wise multiply-xorshift hash of
 * p[0..n) continuing from seed (each step is a bijection of the state, so any single changed
 * word changes the result). Not cryptographic: it finds damage, not tampering. */
uint32_t pw_store_checksum(uint32_t seed, const uint8_t *p, size_t n);

static inline void pw_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t pw_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void pw_put_be64(uint8_t *p, uint64_t v)
{
    pw_put_be32(p, (uint32_t)(v >> 32));
    pw_put_be32(p + 4, (uint32_t)v);
}

static inline uint64_t pw_get_be64(const uint8_t *p)
{
    return (uint64_t)pw_get_be32(p) << 32 | pw_get_be32(p + 4);
}

/* Times in keys: the sign bit flipped, so big-endian bytes sort like the signed values. */
static inline void pw_put_time(uint8_t *p, int64_t t)
{
    pw_put_be64(p, (uint64_t)t ^ (UINT64_C(1) << 63));
}

static inline int64_t pw_get_time(const uint8_t *p)
{
    return (int64_t)(pw_get_be64(p) ^ (UINT64_C(1) << 63));
}

/* Floor division for times before the epoch too. */
static inline int64_t pw_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The stored form of an RTT (µs): rounded to the quantum and capped; negative values (lost,
 * skipped) unchanged. */
static inline int32_t pw_store_quantize(int32_t rtt_us)
{
    if (rtt_us < 0)
        return rtt_us;
    if (rtt_us >= PW_STORE_RTT_MAX_US)
        return PW_STORE_Q_MAX;
    return (rtt_us + PW_STORE_RTT_QUANTUM_US / 2) / PW_STORE_RTT_QUANTUM_US;
}

#endif
