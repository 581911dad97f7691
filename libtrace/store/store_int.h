/* PingWatcher — internals shared by the store's source files (store.c, store_write.c,
 * store_read.c) and its unit tests. Not part of the public API. */
#ifndef PW_STORE_INT_H
#define PW_STORE_INT_H

#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "store.h"
#include "store_codec.h"

/* On-disk format version, in the meta DB under "version" (big-endian u32). */
#define PW_STORE_VERSION 1

/* The named DBs; names in pw_store_db_names. */
enum pw_db {
    PW_DB_META,
    PW_DB_TARGETS,
    PW_DB_CONFIGS,
    PW_DB_ROUTES,
    PW_DB_ROUTE_HASH,
    PW_DB_SAMPLES,
    PW_DB_ROLLUP_M,
    PW_DB_ROLLUP_H,
    PW_DB_ROUTE_CHANGES,
    PW_DB_COMMENTS,
    PW_DB_COMMENT_IDS,
    PW_DB_SESSIONS,
    PW_DB_DNS,
    PW_DB_ALERTS,
    PW_DB_COUNT,
};

extern const char *const pw_store_db_names[PW_DB_COUNT];

/* Internal code for "MDB_MAP_FULL": the write runner grows the map and retries. */
#define PW_STORE_E_MAPFULL (-10100)

/* Sample blocks fill this many LMDB overflow pages exactly (page size minus the page header
 * per block), so a sealed block wastes no page space. */
#define PW_STORE_BLOCK_PAGES 2
#define PW_STORE_PAGE_HDR 16

struct pw_store_writer;

struct pw_store {
    MDB_env *env;
    MDB_dbi dbi[PW_DB_COUNT];
    MDB_txn *rtxn; /* read transaction kept (reset) for reuse, or NULL */
    bool rlocked;  /* holds root->map_lock shared: rtxn (or a write transaction) is active */
    bool pinned;   /* rtxn is a snapshot held by pw_store_snapshot_begin() */
    bool readonly;
    /* The handle that opened env: itself, or the store a reader was made from. Its map_lock
     * is held shared by every active transaction of the process's handles, and exclusively
     * while the map moves (mdb_env_set_mapsize() needs no transaction active in the process). */
    struct pw_store *root;
    pthread_rwlock_t map_lock; /* root only */
    atomic_uint nreaders;      /* root only: readers not yet closed */
    char dir[PATH_MAX];
    size_t psize;
    uint64_t map_size, max_map_size;
    uint32_t raw_days, rollup_days;
    struct pw_store_writer *w; /* writer state; NULL for readers */
    uint64_t (*route_hash)(const uint8_t *p, size_t n);
};

/* Keys: target id then time, big-endian (12 bytes), optionally followed by an id. */
#define PW_KEY_TT_LEN 12
static inline void pw_key_tt(uint8_t *k, uint32_t target, int64_t t)
{
    pw_put_be32(k, target);
    pw_put_time(k + 4, t);
}

/* LMDB return code -> 0, -errno or PW_E_* (MDB_MAP_FULL -> PW_STORE_E_MAPFULL). */
int pw_store_mdb_err(int rc);

/* Begins (or renews) the handle's read transaction, adopting a map grown by the writer (with
 * the map lock held exclusively, so no other thread reads meanwhile); inside a snapshot
 * (pw_store_snapshot_begin) returns the snapshot's transaction. End it with pw_store_rd_end();
 * never nest two. */
int pw_store_rd_begin(struct pw_store *s, MDB_txn **txn);
void pw_store_rd_end(struct pw_store *s, MDB_txn *txn);

/* Runs fn in a write transaction and commits, together with the writer's pending routes and
 * DNS names. fn may run more than once (the map grew, or it was resized): it must only write
 * LMDB, never change state outside it. expect_bytes estimates what fn writes, so the map can
 * grow before it fills. Returns fn's error, or 0, -ENOSPC, -errno. */
int pw_store_write(struct pw_store *s, int (*fn)(struct pw_store *s, MDB_txn *txn, void *arg),
                   void *arg, size_t expect_bytes);

/* Meta counters. */
int pw_store_meta_get_u64(MDB_txn *txn, struct pw_store *s, const char *name, uint64_t *v);
int pw_store_meta_put_u64(MDB_txn *txn, struct pw_store *s, const char *name, uint64_t v);

/* Positions c at the last key of target with time <= t (keys of PW_KEY_TT_LEN or longer
 * prefixed so). Returns 0 with key/val, MDB_NOTFOUND, or an LMDB error. */
int pw_store_seek_last_le(MDB_cursor *c, uint32_t target, int64_t t, MDB_val *key, MDB_val *val);

/* ---- writer (store_write.c) ---- */

struct pw_store_writer *pw_store_writer_new(struct pw_store *s, MDB_txn *txn);
void pw_store_writer_free(struct pw_store_writer *w);
/* Writes pending routes, DNS names and route counter into txn (every write transaction). */
int pw_store_writer_put_pending(struct pw_store *s, MDB_txn *txn);
/* Called after a successful commit: forgets what pw_store_writer_put_pending() wrote. */
void pw_store_writer_committed(struct pw_store *s);
/* Bytes the pending writes will take (for map growth). */
size_t pw_store_writer_pending_bytes(const struct pw_store *s);
/* A pending route or DNS name (writer reads see them). 0, or -ENOENT. */
int pw_store_writer_route_get(struct pw_store *s, uint32_t id, struct pw_store_route *out);
int pw_store_writer_dns_get(struct pw_store *s, const uint8_t *key, size_t klen, char *name,
                            size_t len);

/* Tests only: replaces the route hash (e.g. by a constant, to force collisions). NULL restores
 * the default (64-bit FNV-1a). */
void pw_store_test_route_hash(struct pw_store *s, uint64_t (*fn)(const uint8_t *p, size_t n));
uint64_t pw_store_route_hash_default(const uint8_t *p, size_t n);
/* Tests only: calls cb for every record of db in key order (committed data), until it returns
 * non-zero. */
int pw_store_test_scan(struct pw_store *s, enum pw_db db,
                       int (*cb)(void *arg, const MDB_val *k, const MDB_val *d), void *arg);

#endif
