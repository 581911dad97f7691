/* PingWatcher — the LMDB store: environment, transactions, and the small records (targets,
 * configurations, routes, route changes, comments, sessions, DNS names, figures). Samples and
 * rollups are written in store_write.c and read in store_read.c. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "error.h"
#include "store_int.h"

const char *const pw_store_db_names[PW_DB_COUNT] = {
    [PW_DB_META] = "meta",
    [PW_DB_TARGETS] = "targets",
    [PW_DB_CONFIGS] = "configs",
    [PW_DB_ROUTES] = "routes",
    [PW_DB_ROUTE_HASH] = "route_hash",
    [PW_DB_SAMPLES] = "samples",
    [PW_DB_ROLLUP_M] = "rollup_m",
    [PW_DB_ROLLUP_H] = "rollup_h",
    [PW_DB_ROUTE_CHANGES] = "route_changes",
    [PW_DB_COMMENTS] = "comments",
    [PW_DB_COMMENT_IDS] = "comment_ids",
    [PW_DB_SESSIONS] = "sessions",
    [PW_DB_DNS] = "dns",
    [PW_DB_ALERTS] = "alerts",
};

#define DEFAULT_MAP_SIZE (UINT64_C(256) << 20)
#define DEFAULT_MAX_MAP_SIZE (UINT64_C(64) << 30)
#define DEFAULT_RAW_DAYS 30
#define DEFAULT_ROLLUP_DAYS 365
#define MAX_READERS 256
/* Below this much free disk space an I/O error at commit is reported as a full disk. */
#define DISK_FULL_SLACK (UINT64_C(4) << 20)
#define WRITE_ATTEMPTS 40

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int pw_store_mdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_KEYEXIST:
        return -EEXIST;
    case MDB_MAP_FULL:
        return PW_STORE_E_MAPFULL;
    case MDB_TXN_FULL:
        return -ENOSPC;
    case MDB_READERS_FULL:
        return -EAGAIN;
    case MDB_MAP_RESIZED:
        return -EAGAIN;
    case MDB_BAD_VALSIZE:
        return -EINVAL;
    default:
        /* LMDB's own codes (corruption, panic, version mismatch) mean the environment cannot
         * be trusted; system errors come through as positive errno values. */
        if (rc > 0)
            return -rc;
        return -EIO;
    }
}

uint64_t pw_store_route_hash_default(const uint8_t *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

void pw_store_test_route_hash(struct pw_store *s, uint64_t (*fn)(const uint8_t *p, size_t n))
{
    s->route_hash = fn ? fn : pw_store_route_hash_default;
}

/* ---- transactions ---- */

/* Every transaction of the process holds the root's map lock shared while it is active, and
 * mdb_env_set_mapsize() runs with it held exclusively: LMDB requires that no transaction of
 * the process be active while the map moves, and readers in other threads must not touch the
 * old mapping. A reset read transaction holds no pages and needs no lock. */
static void map_rdlock(struct pw_store *s)
{
    if (!s->rlocked) {
        pthread_rwlock_rdlock(&s->root->map_lock);
        s->rlocked = true;
    }
}

static void map_unlock(struct pw_store *s)
{
    if (s->rlocked) {
        s->rlocked = false;
        pthread_rwlock_unlock(&s->root->map_lock);
    }
}

/* Moves the map to size (0: adopt the size the writer recorded). The caller holds no
 * transaction; those of other threads end first. */
static int map_resize(struct pw_store *s, size_t size)
{
    int rc;

    pthread_rwlock_wrlock(&s->root->map_lock);
    rc = mdb_env_set_mapsize(s->env, size);
    pthread_rwlock_unlock(&s->root->map_lock);
    return rc;
}

/* Drops the handle's read transaction altogether (a reset one too). */
static void rtxn_drop(struct pw_store *s)
{
    if (s->rtxn) {
        mdb_txn_abort(s->rtxn);
        s->rtxn = NULL;
    }
    s->pinned = false;
    map_unlock(s);
}

int pw_store_rd_begin(struct pw_store *s, MDB_txn **txn)
{
    if (s->pinned) {
        *txn = s->rtxn;
        return 0;
    }
    for (int attempt = 0; attempt < 4; attempt++) {
        int rc;

        map_rdlock(s);
        if (s->rtxn) {
            rc = mdb_txn_renew(s->rtxn);
            if (rc) {
                mdb_txn_abort(s->rtxn);
                s->rtxn = NULL;
            }
        } else {
            rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
            if (rc)
                s->rtxn = NULL;
        }
        if (rc == 0) {
            *txn = s->rtxn;
            return 0;
        }
        map_unlock(s);
        if (rc != MDB_MAP_RESIZED)
            return pw_store_mdb_err(rc);
        /* The writer grew the map: adopt its size. */
        rc = map_resize(s, 0);
        if (rc)
            return pw_store_mdb_err(rc);
    }
    return -EIO;
}

void pw_store_rd_end(struct pw_store *s, MDB_txn *txn)
{
    if (s->pinned)
        return;
    if (txn)
        mdb_txn_reset(txn);
    map_unlock(s);
}

int pw_store_snapshot_begin(struct pw_store *s, uint64_t *version)
{
    MDB_txn *txn;
    int rc;

    /* A writer's reads must see its own latest commits (routes, reloaded blocks). */
    if (!s || s->w)
        return -EINVAL;
    if (s->pinned)
        return -EBUSY;
    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    s->pinned = true;
    if (version)
        *version = (uint64_t)mdb_txn_id(txn);
    return 0;
}

void pw_store_snapshot_end(struct pw_store *s)
{
    if (!s || !s->pinned)
        return;
    s->pinned = false;
    pw_store_rd_end(s, s->rtxn);
}

static int grow_map(struct pw_store *s, uint64_t need)
{
    uint64_t size = s->map_size;
    int rc;

    if (size >= s->max_map_size)
        return -ENOSPC;
    while (size < need || size == s->map_size) {
        if (size >= s->max_map_size / 2) {
            size = s->max_map_size;
            break;
        }
        size *= 2;
    }
    /* No transaction of this process may be active while the map moves. */
    rtxn_drop(s);
    rc = map_resize(s, (size_t)size);
    if (rc)
        return pw_store_mdb_err(rc);
    s->map_size = size;
    return 0;
}

/* Grows the map before a transaction that could fill it (cheaper than failing it). */
static int grow_before(struct pw_store *s, size_t expect_bytes)
{
    MDB_envinfo info;
    uint64_t used, need;

    if (mdb_env_info(s->env, &info) != 0)
        return 0;
    used = ((uint64_t)info.me_last_pgno + 1) * s->psize;
    /* Copy-on-write touches about twice what is written, plus branch pages and freelist. */
    need = used + 2 * (uint64_t)expect_bytes + 64 * (uint64_t)s->psize;
    if (need <= s->map_size - s->map_size / 8)
        return 0;
    if (s->map_size >= s->max_map_size)
        return 0; /* let the transaction try: freed pages may still be enough */
    return grow_map(s, need + need / 4);
}

static bool disk_nearly_full(const char *dir)
{
    struct statvfs v;

    if (statvfs(dir, &v) != 0)
        return false;
    return (uint64_t)v.f_bavail * v.f_frsize < DISK_FULL_SLACK;
}

int pw_store_write(struct pw_store *s, int (*fn)(struct pw_store *s, MDB_txn *txn, void *arg),
                   void *arg, size_t expect_bytes)
{
    if (s->readonly)
        return -EROFS;
    if (s->w)
        expect_bytes += pw_store_writer_pending_bytes(s);
    for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        MDB_txn *txn;
        int rc, mrc;

        /* A writer's read transaction is short-lived anyway; dropping it keeps the map free
         * to move. */
        rtxn_drop(s);
        if ((rc = grow_before(s, expect_bytes)) != 0)
            return rc;
        /* The write transaction counts as one of the process's transactions (map lock). */
        pthread_rwlock_rdlock(&s->root->map_lock);
        mrc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (mrc == MDB_MAP_RESIZED) {
            pthread_rwlock_unlock(&s->root->map_lock);
            if ((mrc = map_resize(s, 0)) != 0)
                return pw_store_mdb_err(mrc);
            continue;
        }
        if (mrc) {
            pthread_rwlock_unlock(&s->root->map_lock);
            return pw_store_mdb_err(mrc);
        }
        rc = fn(s, txn, arg);
        if (rc == 0 && s->w)
            rc = pw_store_writer_put_pending(s, txn);
        if (rc) {
            mdb_txn_abort(txn);
        } else {
            mrc = mdb_txn_commit(txn);
            rc = pw_store_mdb_err(mrc);
        }
        pthread_rwlock_unlock(&s->root->map_lock);
        if (rc == 0) {
            if (s->w)
                pw_store_writer_committed(s);
            return 0;
        }
        if (rc == PW_STORE_E_MAPFULL) {
            if ((rc = grow_map(s, s->map_size * 2)) != 0)
                return rc;
            continue;
        }
        /* A full disk shows as ENOSPC, EDQUOT, EFBIG, or as EIO after a short write. */
        if (rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG ||
            (rc == -EIO && disk_nearly_full(s->dir)))
            return -ENOSPC;
        return rc;
    }
    return -EIO;
}

/* ---- meta ---- */

int pw_store_meta_get_u64(MDB_txn *txn, struct pw_store *s, const char *name, uint64_t *v)
{
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(txn, s->dbi[PW_DB_META], &k, &d);

    if (rc)
        return pw_store_mdb_err(rc);
    if (d.mv_size != 8)
        return PW_E_MALFORMED;
    *v = pw_get_be64(d.mv_data);
    return 0;
}

int pw_store_meta_put_u64(MDB_txn *txn, struct pw_store *s, const char *name, uint64_t v)
{
    uint8_t b[8];
    MDB_val k = {strlen(name), (void *)name}, d = {8, b};

    pw_put_be64(b, v);
    return pw_store_mdb_err(mdb_put(txn, s->dbi[PW_DB_META], &k, &d, 0));
}

/* Takes the next id of a counter (ids start at 1). */
static int meta_next_id(MDB_txn *txn, struct pw_store *s, const char *name, uint32_t *id)
{
    uint64_t v = 1;
    int rc = pw_store_meta_get_u64(txn, s, name, &v);

    if (rc && rc != -ENOENT)
        return rc;
    if (v == 0 || v > UINT32_MAX)
        return v == 0 ? PW_E_MALFORMED : -ENOSPC;
    *id = (uint32_t)v;
    return pw_store_meta_put_u64(txn, s, name, v + 1);
}

int pw_store_seek_last_le(MDB_cursor *c, uint32_t target, int64_t t, MDB_val *key, MDB_val *val)
{
    uint8_t k[PW_KEY_TT_LEN];
    int rc;

    /* The first key after (target, t) is found with any suffix, then one step back. */
    if (t == INT64_MAX) {
        if (target == UINT32_MAX) {
            rc = mdb_cursor_get(c, key, val, MDB_LAST);
            goto check;
        }
        pw_key_tt(k, target + 1, INT64_MIN);
    } else {
        pw_key_tt(k, target, t + 1);
    }
    key->mv_size = sizeof(k);
    key->mv_data = k;
    rc = mdb_cursor_get(c, key, val, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(c, key, val, MDB_LAST);
    else if (rc == 0)
        rc = mdb_cursor_get(c, key, val, MDB_PREV);
check:
    if (rc)
        return rc;
    if (key->mv_size < PW_KEY_TT_LEN || pw_get_be32(key->mv_data) != target ||
        pw_get_time((const uint8_t *)key->mv_data + 4) > t)
        return MDB_NOTFOUND;
    return 0;
}

/* ---- open and close ---- */

static int open_dbs(struct pw_store *s, MDB_txn *txn, char *err, size_t errlen)
{
    MDB_val k = {7, "version"}, d;
    uint32_t version = 0;
    int rc;

    rc = mdb_dbi_open(txn, pw_store_db_names[PW_DB_META], 0, &s->dbi[PW_DB_META]);
    if (rc == MDB_NOTFOUND && s->readonly) {
        set_err(err, errlen, "store %s is not initialised yet (%s)", s->dir,
                "pingwatcherd creates it when it first starts");
        return -ENOENT;
    }
    if (rc == 0) {
        rc = mdb_get(txn, s->dbi[PW_DB_META], &k, &d);
        if (rc == 0 && d.mv_size == 4)
            version = pw_get_be32(d.mv_data);
        else if (rc == 0 || (rc == MDB_NOTFOUND && s->readonly))
            version = UINT32_MAX;
        else if (rc != MDB_NOTFOUND)
            goto fail;
        if (version > PW_STORE_VERSION) {
            if (version == UINT32_MAX)
                set_err(err, errlen,
                        "store %s has no readable format version: not a PingWatcher store, or "
                        "damaged; move it aside",
                        s->dir);
            else
                set_err(err, errlen,
                        "store %s has format version %u, newer than this build reads (%u): "
                        "upgrade PingWatcher or move the store aside",
                        s->dir, version, PW_STORE_VERSION);
            return -EPROTO;
        }
    } else if (rc != MDB_NOTFOUND) {
        goto fail;
    }
    for (int i = 0; i < PW_DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, pw_store_db_names[i], s->readonly ? 0 : MDB_CREATE, &s->dbi[i]);
        if (rc == MDB_NOTFOUND && s->readonly) {
            set_err(err, errlen,
                    "store %s lacks the table %s: damaged, or written by another "
                    "program",
                    s->dir, pw_store_db_names[i]);
            return -EPROTO;
        }
        if (rc)
            goto fail;
    }
    if (version == 0 && !s->readonly) {
        uint8_t b[4];

        pw_put_be32(b, PW_STORE_VERSION);
        d = (MDB_val){4, b};
        if ((rc = mdb_put(txn, s->dbi[PW_DB_META], &k, &d, 0)) != 0)
            goto fail;
    }
    return 0;
fail:
    set_err(err, errlen, "cannot open the tables of store %s: %s", s->dir, mdb_strerror(rc));
    return pw_store_mdb_err(rc) == PW_STORE_E_MAPFULL ? -ENOSPC : pw_store_mdb_err(rc);
}

struct pw_store *pw_store_open(const struct pw_store_opts *opts, char *err, size_t errlen)
{
    struct pw_store *s = NULL;
    char file[PATH_MAX + 16];
    struct stat st;
    MDB_txn *txn = NULL;
    MDB_envinfo info;
    MDB_stat mst;
    int rc = 0, dead;

    if (err && errlen)
        err[0] = 0;
    if (!opts || !opts->path || !opts->path[0] || strlen(opts->path) >= PATH_MAX) {
        set_err(err, errlen, "the store needs a directory path");
        errno = EINVAL;
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(s->dir, opts->path, strlen(opts->path) + 1);
    s->readonly = opts->readonly;
    s->root = s;
    {
        pthread_rwlockattr_t attr;

        /* Writer-preferring: a map resize waiting for readers is not starved by new ones. */
        pthread_rwlockattr_init(&attr);
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&s->map_lock, &attr);
        pthread_rwlockattr_destroy(&attr);
    }
    /* LMDB wants whole pages: round to 64 KiB, a multiple of every page size in use. */
    s->map_size = opts->map_size ? (opts->map_size + 0xffff) & ~UINT64_C(0xffff) : DEFAULT_MAP_SIZE;
    s->max_map_size = opts->max_map_size ? (opts->max_map_size + 0xffff) & ~UINT64_C(0xffff)
                                         : DEFAULT_MAX_MAP_SIZE;
    if (s->max_map_size < s->map_size)
        s->max_map_size = s->map_size;
    s->raw_days = opts->raw_retention_days ? opts->raw_retention_days : DEFAULT_RAW_DAYS;
    s->rollup_days =
        opts->rollup_retention_days ? opts->rollup_retention_days : DEFAULT_ROLLUP_DAYS;
    s->route_hash = pw_store_route_hash_default;
    snprintf(file, sizeof(file), "%s/data.mdb", s->dir);

    if (s->readonly) {
        if (stat(file, &st) != 0) {
            rc = -errno;
            if (rc == -ENOENT)
                set_err(err, errlen, "no store in %s (%s)", s->dir,
                        "pingwatcherd creates it when it first starts");
            else
                set_err(err, errlen, "cannot read store %s: %s", s->dir, strerror(-rc));
            goto out;
        }
    } else {
        if (mkdir(s->dir, 0750) != 0 && errno != EEXIST) {
            rc = -errno;
            set_err(err, errlen, "cannot create store directory %s: %s", s->dir, strerror(-rc));
            goto out;
        }
        /* A map that grew in an earlier run is at least the file's size. */
        if (stat(file, &st) == 0 && (uint64_t)st.st_size > s->map_size)
            s->map_size = (uint64_t)st.st_size;
    }

    if ((rc = mdb_env_create(&s->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(s->env, PW_DB_COUNT + 4)) != 0 ||
        (rc = mdb_env_set_maxreaders(s->env, MAX_READERS)) != 0 ||
        (!s->readonly && (rc = mdb_env_set_mapsize(s->env, (size_t)s->map_size)) != 0)) {
        set_err(err, errlen, "cannot set up LMDB for %s: %s", s->dir, mdb_strerror(rc));
        rc = pw_store_mdb_err(rc);
        goto out;
    }
    /* MDB_NOTLS: the reused read transaction is not tied to a thread. No MDB_NOSYNC (each
     * commit is durable) and no MDB_WRITEMAP (a full disk would be a SIGBUS, not an error). */
    rc = mdb_env_open(s->env, s->dir, MDB_NOTLS | (s->readonly ? MDB_RDONLY : 0), 0660);
    if (rc) {
        if (s->readonly && (rc == EACCES || rc == EPERM))
            set_err(err, errlen,
                    "cannot open store %s read-only: %s (readers need read access to data.mdb "
                    "and write access to lock.mdb: add this user to the store's group)",
                    s->dir, strerror(rc));
        else
            set_err(err, errlen, "cannot open store %s: %s", s->dir, mdb_strerror(rc));
        rc = pw_store_mdb_err(rc);
        if (rc == PW_STORE_E_MAPFULL)
            rc = -ENOSPC;
        goto out;
    }
    if (!s->readonly) {
        /* Readers in the group write the lock file (their reader slots) and only read data. */
        snprintf(file, sizeof(file), "%s/lock.mdb", s->dir);
        (void)chmod(file, 0660);
        snprintf(file, sizeof(file), "%s/data.mdb", s->dir);
        (void)chmod(file, 0640);
    }
    (void)mdb_reader_check(s->env, &dead);
    if ((rc = mdb_env_stat(s->env, &mst)) != 0 || (rc = mdb_env_info(s->env, &info)) != 0) {
        set_err(err, errlen, "cannot read store %s: %s", s->dir, mdb_strerror(rc));
        rc = pw_store_mdb_err(rc);
        goto out;
    }
    s->psize = mst.ms_psize;
    s->map_size = info.me_mapsize;
    if (s->max_map_size < s->map_size)
        s->max_map_size = s->map_size;

    rc = mdb_txn_begin(s->env, NULL, s->readonly ? MDB_RDONLY : 0, &txn);
    if (rc == MDB_MAP_RESIZED && s->readonly && mdb_env_set_mapsize(s->env, 0) == 0)
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        txn = NULL;
        set_err(err, errlen, "cannot read store %s: %s", s->dir, mdb_strerror(rc));
        rc = pw_store_mdb_err(rc);
        goto out;
    }
    if ((rc = open_dbs(s, txn, err, errlen)) != 0)
        goto out;
    if (!s->readonly) {
        s->w = pw_store_writer_new(s, txn);
        if (!s->w) {
            rc = -errno;
            set_err(err, errlen, "cannot load the writer state of %s: %s", s->dir, strerror(errno));
            goto out;
        }
    }
    /* Committing (even read-only) keeps the DB handles opened in this transaction. */
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc) {
        set_err(err, errlen, "cannot initialise store %s: %s", s->dir, mdb_strerror(rc));
        rc = pw_store_mdb_err(rc);
        if (rc == PW_STORE_E_MAPFULL)
            rc = -ENOSPC;
        goto out;
    }
out:
    if (txn)
        mdb_txn_abort(txn);
    if (rc) {
        pw_store_writer_free(s->w);
        s->w = NULL;
        if (s->env)
            mdb_env_close(s->env);
        pthread_rwlock_destroy(&s->map_lock);
        free(s);
        errno = rc < 0 && rc > -4096 ? -rc : EIO;
        return NULL;
    }
    return s;
}

struct pw_store *pw_store_reader_new(struct pw_store *s)
{
    struct pw_store *r;

    if (!s) {
        errno = EINVAL;
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        errno = ENOMEM;
        return NULL;
    }
    /* The environment and the DB handles (valid process-wide once opened) are shared; the
     * read transaction and its reader slot (MDB_NOTLS: per transaction, not per thread) are
     * the reader's own. */
    s = s->root;
    r->env = s->env;
    memcpy(r->dbi, s->dbi, sizeof(r->dbi));
    r->readonly = true;
    r->root = s;
    memcpy(r->dir, s->dir, sizeof(r->dir));
    r->psize = s->psize;
    r->map_size = s->map_size;
    r->max_map_size = s->max_map_size;
    r->raw_days = s->raw_days;
    r->rollup_days = s->rollup_days;
    r->route_hash = s->route_hash;
    atomic_fetch_add(&s->nreaders, 1);
    return r;
}

void pw_store_close(struct pw_store *s)
{
    if (!s)
        return;
    if (s->root != s) {
        rtxn_drop(s);
        atomic_fetch_sub(&s->root->nreaders, 1);
        free(s);
        return;
    }
    if (s->w) {
        (void)pw_store_flush(s);
        pw_store_writer_free(s->w);
    }
    rtxn_drop(s);
    /* A reader left open would use a closed environment: a caller's bug, caught in tests. */
    assert(atomic_load(&s->nreaders) == 0);
    mdb_env_close(s->env);
    pthread_rwlock_destroy(&s->map_lock);
    free(s);
}

/* ---- targets ---- */

struct target_op {
    struct pw_store_target *t;
    const struct pw_store_target *ct;
    uint32_t id;
};

static int target_put(struct pw_store *s, MDB_txn *txn, uint32_t id,
                      const struct pw_store_target *t, unsigned flags)
{
    uint8_t key[4], val[PW_REC_MAX];
    size_t len;
    MDB_val k = {4, key}, d;
    int rc;

    pw_put_be32(key, id);
    if ((rc = pw_target_encode(t, val, sizeof(val), &len)) != 0)
        return rc;
    d = (MDB_val){len, val};
    return pw_store_mdb_err(mdb_put(txn, s->dbi[PW_DB_TARGETS], &k, &d, flags));
}

static int target_add_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    struct target_op *op = arg;
    int rc = meta_next_id(txn, s, "next_target", &op->id);

    if (rc)
        return rc;
    return target_put(s, txn, op->id, op->t, MDB_NOOVERWRITE);
}

int pw_store_target_add(struct pw_store *s, struct pw_store_target *t)
{
    struct target_op op = {t, NULL, 0};
    int rc;

    if (!s || !t)
        return -EINVAL;
    rc = pw_store_write(s, target_add_fn, &op, 1024);
    if (rc == 0)
        t->id = op.id;
    return rc;
}

static int target_update_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    struct target_op *op = arg;
    uint8_t key[4];
    MDB_val k = {4, key}, d;
    int rc;

    pw_put_be32(key, op->ct->id);
    if ((rc = mdb_get(txn, s->dbi[PW_DB_TARGETS], &k, &d)) != 0)
        return pw_store_mdb_err(rc);
    return target_put(s, txn, op->ct->id, op->ct, 0);
}

int pw_store_target_update(struct pw_store *s, const struct pw_store_target *t)
{
    struct target_op op = {NULL, t, 0};

    if (!s || !t)
        return -EINVAL;
    return pw_store_write(s, target_update_fn, &op, 1024);
}

static int del_key_fn(struct pw_store *s, MDB_txn *txn, enum pw_db db, const void *key, size_t klen)
{
    MDB_val k = {klen, (void *)key};

    return pw_store_mdb_err(mdb_del(txn, s->dbi[db], &k, NULL));
}

static int target_delete_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    uint8_t key[4];

    pw_put_be32(key, *(uint32_t *)arg);
    return del_key_fn(s, txn, PW_DB_TARGETS, key, 4);
}

int pw_store_target_delete(struct pw_store *s, uint32_t id)
{
    if (!s)
        return -EINVAL;
    return pw_store_write(s, target_delete_fn, &id, 256);
}

int pw_store_target_get(struct pw_store *s, uint32_t id, struct pw_store_target *out)
{
    uint8_t key[4];
    MDB_val k = {4, key}, d;
    MDB_txn *txn;
    int rc;

    if (!s || !out)
        return -EINVAL;
    pw_put_be32(key, id);
    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    rc = mdb_get(txn, s->dbi[PW_DB_TARGETS], &k, &d);
    if (rc == 0)
        rc = pw_target_decode(d.mv_data, d.mv_size, id, out);
    else
        rc = pw_store_mdb_err(rc);
    pw_store_rd_end(s, txn);
    return rc;
}

/* Iterates a whole DB calling each(key, val) until it returns non-zero; records that do not
 * decode (each returns PW_E_MALFORMED) are skipped and reported at the end. */
static int scan_db(struct pw_store *s, enum pw_db db, const MDB_val *start,
                   int (*each)(void *arg, const MDB_val *k, const MDB_val *d), void *arg)
{
    MDB_txn *txn;
    MDB_cursor *c = NULL;
    MDB_val k, d;
    int rc, mrc, bad = 0;

    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    if ((mrc = mdb_cursor_open(txn, s->dbi[db], &c)) != 0) {
        rc = pw_store_mdb_err(mrc);
        goto out;
    }
    if (start) {
        k = *start;
        mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    } else {
        mrc = mdb_cursor_get(c, &k, &d, MDB_FIRST);
    }
    for (; mrc == 0; mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        rc = each(arg, &k, &d);
        if (rc == PW_E_MALFORMED) {
            bad = 1;
            rc = 0;
            continue;
        }
        if (rc)
            break;
    }
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = pw_store_mdb_err(mrc);
    if (rc == 0 && bad)
        rc = PW_E_MALFORMED;
out:
    if (c)
        mdb_cursor_close(c);
    pw_store_rd_end(s, txn);
    return rc;
}

int pw_store_test_scan(struct pw_store *s, enum pw_db db,
                       int (*cb)(void *arg, const MDB_val *k, const MDB_val *d), void *arg)
{
    return scan_db(s, db, NULL, cb, arg);
}

/* Distinguishes the caller's "stop" value from the scan's own codes. */
struct list_ctx {
    union {
        int (*target)(void *arg, const struct pw_store_target *t);
        int (*config)(void *arg, const struct pw_store_config *c);
        int (*change)(void *arg, const struct pw_store_route_change *c);
        int (*comment)(void *arg, const struct pw_store_comment *c);
        int (*session)(void *arg, const struct pw_store_session *ss);
    } cb;
    void *arg;
    uint32_t filter;
    int64_t start_us, end_us;
    int stopped;
};

static int target_each(void *arg, const MDB_val *k, const MDB_val *d)
{
    struct list_ctx *lc = arg;
    struct pw_store_target t;
    int rc;

    if (k->mv_size != 4)
        return PW_E_MALFORMED;
    if ((rc = pw_target_decode(d->mv_data, d->mv_size, pw_get_be32(k->mv_data), &t)) != 0)
        return PW_E_MALFORMED;
    lc->stopped = lc->cb.target(lc->arg, &t);
    return lc->stopped ? 1 : 0;
}

static int list_result(int rc, const struct list_ctx *lc)
{
    if (lc->stopped)
        return lc->stopped;
    return rc;
}

int pw_store_target_list(struct pw_store *s, int (*cb)(void *arg, const struct pw_store_target *t),
                         void *arg)
{
    struct list_ctx lc = {.cb.target = cb, .arg = arg};

    if (!s || !cb)
        return -EINVAL;
    return list_result(scan_db(s, PW_DB_TARGETS, NULL, target_each, &lc), &lc);
}

/* ---- named configurations ---- */

struct config_op {
    const struct pw_store_config *c;
    bool create;
    const char *name;
};

static int name_ok(const char *name)
{
    size_t n = name ? strnlen(name, PW_STORE_NAME_MAX + 1) : 0;

    return n >= 1 && n <= PW_STORE_NAME_MAX ? (int)n : PW_E_RANGE;
}

static int config_put_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    struct config_op *op = arg;
    uint8_t val[PW_REC_MAX];
    size_t len;
    int n = name_ok(op->c->name), rc;
    MDB_val k = {(size_t)n, (void *)op->c->name}, d;

    if ((rc = mdb_get(txn, s->dbi[PW_DB_CONFIGS], &k, &d)) != 0 && rc != MDB_NOTFOUND)
        return pw_store_mdb_err(rc);
    if (op->create && rc == 0)
        return -EEXIST;
    if (!op->create && rc == MDB_NOTFOUND)
        return -ENOENT;
    if ((rc = pw_config_encode(op->c, val, sizeof(val), &len)) != 0)
        return rc;
    d = (MDB_val){len, val};
    return pw_store_mdb_err(mdb_put(txn, s->dbi[PW_DB_CONFIGS], &k, &d, 0));
}

int pw_store_config_put(struct pw_store *s, const struct pw_store_config *c, bool create)
{
    struct config_op op = {c, create, NULL};

    if (!s || !c)
        return -EINVAL;
    if (name_ok(c->name) < 0)
        return PW_E_RANGE;
    return pw_store_write(s, config_put_fn, &op, 512);
}

static int config_delete_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    const char *name = arg;

    return del_key_fn(s, txn, PW_DB_CONFIGS, name, strlen(name));
}

int pw_store_config_delete(struct pw_store *s, const char *name)
{
    if (!s)
        return -EINVAL;
    if (name_ok(name) < 0)
        return PW_E_RANGE;
    return pw_store_write(s, config_delete_fn, (void *)name, 256);
}

int pw_store_config_get(struct pw_store *s, const char *name, struct pw_store_config *out)
{
    int n = name_ok(name), rc;
    MDB_val k, d;
    MDB_txn *txn;

    if (!s || !out)
        return -EINVAL;
    if (n < 0)
        return PW_E_RANGE;
    k = (MDB_val){(size_t)n, (void *)name};
    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    rc = mdb_get(txn, s->dbi[PW_DB_CONFIGS], &k, &d);
    if (rc == 0)
        rc = pw_config_decode(d.mv_data, d.mv_size, name, (size_t)n, out);
    else
        rc = pw_store_mdb_err(rc);
    pw_store_rd_end(s, txn);
    return rc;
}

static int config_each(void *arg, const MDB_val *k, const MDB_val *d)
{
    struct list_ctx *lc = arg;
    struct pw_store_config c;

    if (pw_config_decode(d->mv_data, d->mv_size, k->mv_data, k->mv_size, &c) != 0)
        return PW_E_MALFORMED;
    lc->stopped = lc->cb.config(lc->arg, &c);
    return lc->stopped ? 1 : 0;
}

int pw_store_config_list(struct pw_store *s, int (*cb)(void *arg, const struct pw_store_config *c),
                         void *arg)
{
    struct list_ctx lc = {.cb.config = cb, .arg = arg};

    if (!s || !cb)
        return -EINVAL;
    return list_result(scan_db(s, PW_DB_CONFIGS, NULL, config_each, &lc), &lc);
}

/* ---- routes ---- */

int pw_store_route_get(struct pw_store *s, uint32_t id, struct pw_store_route *out)
{
    uint8_t key[4];
    MDB_val k = {4, key}, d;
    MDB_txn *txn;
    int rc;

    if (!s || !out)
        return -EINVAL;
    if (s->w && pw_store_writer_route_get(s, id, out) == 0)
        return 0;
    pw_put_be32(key, id);
    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    rc = mdb_get(txn, s->dbi[PW_DB_ROUTES], &k, &d);
    if (rc == 0)
        rc = pw_route_decode(d.mv_data, d.mv_size, out);
    else
        rc = pw_store_mdb_err(rc);
    pw_store_rd_end(s, txn);
    return rc;
}

/* ---- route changes ---- */

static int route_change_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    const struct pw_store_route_change *c = arg;
    uint8_t key[PW_KEY_TT_LEN], val[PW_ROUTE_CHANGE_VAL_LEN];
    MDB_val k = {sizeof(key), key}, d = {sizeof(val), val};

    pw_key_tt(key, c->target_id, c->time_us);
    pw_route_change_encode(c, val);
    return pw_store_mdb_err(mdb_put(txn, s->dbi[PW_DB_ROUTE_CHANGES], &k, &d, 0));
}

int pw_store_route_change_add(struct pw_store *s, const struct pw_store_route_change *c)
{
    if (!s || !c)
        return -EINVAL;
    if (c->first_hop > PW_TRACE_MAX_HOPS)
        return PW_E_RANGE;
    return pw_store_write(s, route_change_fn, (void *)c, 256);
}

/* Stops a (target, time) range scan at the first key out of range. */
static int in_range(const struct list_ctx *lc, const MDB_val *k)
{
    int64_t t;

    if (k->mv_size < PW_KEY_TT_LEN || pw_get_be32(k->mv_data) != lc->filter)
        return 0;
    t = pw_get_time((const uint8_t *)k->mv_data + 4);
    return t < lc->end_us;
}

static int route_change_each(void *arg, const MDB_val *k, const MDB_val *d)
{
    struct list_ctx *lc = arg;
    struct pw_store_route_change c;

    if (!in_range(lc, k))
        return 1;
    if (k->mv_size != PW_KEY_TT_LEN || pw_route_change_decode(d->mv_data, d->mv_size, &c) != 0)
        return PW_E_MALFORMED;
    c.target_id = lc->filter;
    c.time_us = pw_get_time((const uint8_t *)k->mv_data + 4);
    lc->stopped = lc->cb.change(lc->arg, &c);
    return lc->stopped ? 1 : 0;
}

static int range_scan(struct pw_store *s, enum pw_db db, uint32_t target, int64_t start_us,
                      int64_t end_us, int (*each)(void *, const MDB_val *, const MDB_val *),
                      struct list_ctx *lc)
{
    uint8_t key[PW_KEY_TT_LEN];
    MDB_val k = {sizeof(key), key};
    int rc;

    lc->filter = target;
    lc->start_us = start_us;
    lc->end_us = end_us;
    if (start_us >= end_us)
        return 0;
    pw_key_tt(key, target, start_us);
    rc = scan_db(s, db, &k, each, lc);
    if (rc == 1)
        rc = 0;
    return list_result(rc, lc);
}

int pw_store_route_changes(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                           int (*cb)(void *arg, const struct pw_store_route_change *c), void *arg)
{
    struct list_ctx lc = {.cb.change = cb, .arg = arg};

    if (!s || !cb)
        return -EINVAL;
    return range_scan(s, PW_DB_ROUTE_CHANGES, target_id, start_us, end_us, route_change_each, &lc);
}

/* ---- comments ---- */

#define COMMENT_KEY_LEN (PW_KEY_TT_LEN + 4)

struct comment_op {
    struct pw_store_comment *c;
    uint32_t id;
};

static int comment_add_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    struct comment_op *op = arg;
    uint8_t key[COMMENT_KEY_LEN], ikey[4], val[PW_REC_MAX];
    size_t len;
    MDB_val k = {sizeof(key), key}, ik = {4, ikey}, d;
    int rc;

    if ((rc = meta_next_id(txn, s, "next_comment", &op->id)) != 0)
        return rc;
    pw_key_tt(key, op->c->target_id, op->c->time_us);
    pw_put_be32(key + PW_KEY_TT_LEN, op->id);
    pw_put_be32(ikey, op->id);
    if ((rc = pw_comment_encode(op->c, val, sizeof(val), &len)) != 0)
        return rc;
    d = (MDB_val){len, val};
    if ((rc = mdb_put(txn, s->dbi[PW_DB_COMMENTS], &k, &d, 0)) != 0)
        return pw_store_mdb_err(rc);
    /* The id index finds a comment's key for deletion. */
    d = (MDB_val){sizeof(key), key};
    return pw_store_mdb_err(mdb_put(txn, s->dbi[PW_DB_COMMENT_IDS], &ik, &d, 0));
}

int pw_store_comment_add(struct pw_store *s, struct pw_store_comment *c)
{
    struct comment_op op = {c, 0};
    int rc;

    if (!s || !c)
        return -EINVAL;
    if (strnlen(c->text, PW_STORE_TEXT_MAX + 1) > PW_STORE_TEXT_MAX ||
        strnlen(c->author, PW_STORE_NAME_MAX + 1) > PW_STORE_NAME_MAX)
        return PW_E_RANGE;
    rc = pw_store_write(s, comment_add_fn, &op, 2048);
    if (rc == 0)
        c->id = op.id;
    return rc;
}

static int comment_delete_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    uint8_t ikey[4];
    MDB_val ik = {4, ikey}, d;
    uint8_t key[COMMENT_KEY_LEN];
    int rc;

    pw_put_be32(ikey, *(uint32_t *)arg);
    if ((rc = mdb_get(txn, s->dbi[PW_DB_COMMENT_IDS], &ik, &d)) != 0)
        return pw_store_mdb_err(rc);
    if (d.mv_size != COMMENT_KEY_LEN)
        return PW_E_MALFORMED;
    memcpy(key, d.mv_data, sizeof(key));
    if ((rc = del_key_fn(s, txn, PW_DB_COMMENTS, key, sizeof(key))) != 0 && rc != -ENOENT)
        return rc;
    return del_key_fn(s, txn, PW_DB_COMMENT_IDS, ikey, 4);
}

int pw_store_comment_delete(struct pw_store *s, uint32_t id)
{
    if (!s)
        return -EINVAL;
    return pw_store_write(s, comment_delete_fn, &id, 256);
}

static int comment_each(void *arg, const MDB_val *k, const MDB_val *d)
{
    struct list_ctx *lc = arg;
    struct pw_store_comment c;

    if (!in_range(lc, k))
        return 1;
    if (k->mv_size != COMMENT_KEY_LEN || pw_comment_decode(d->mv_data, d->mv_size, &c) != 0)
        return PW_E_MALFORMED;
    c.target_id = lc->filter;
    c.time_us = pw_get_time((const uint8_t *)k->mv_data + 4);
    c.id = pw_get_be32((const uint8_t *)k->mv_data + PW_KEY_TT_LEN);
    lc->stopped = lc->cb.comment(lc->arg, &c);
    return lc->stopped ? 1 : 0;
}

int pw_store_comments(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                      int (*cb)(void *arg, const struct pw_store_comment *c), void *arg)
{
    struct list_ctx lc = {.cb.comment = cb, .arg = arg};

    if (!s || !cb)
        return -EINVAL;
    return range_scan(s, PW_DB_COMMENTS, target_id, start_us, end_us, comment_each, &lc);
}

/* ---- sessions ---- */

struct session_op {
    struct pw_store_session *ss;
    uint32_t id;
};

static int session_add_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    struct session_op *op = arg;
    uint8_t key[4], val[PW_REC_MAX];
    size_t len;
    MDB_val k = {4, key}, d;
    int rc;

    if ((rc = meta_next_id(txn, s, "next_session", &op->id)) != 0)
        return rc;
    pw_put_be32(key, op->id);
    if ((rc = pw_session_encode(op->ss, val, sizeof(val), &len)) != 0)
        return rc;
    d = (MDB_val){len, val};
    return pw_store_mdb_err(mdb_put(txn, s->dbi[PW_DB_SESSIONS], &k, &d, MDB_NOOVERWRITE));
}

int pw_store_session_add(struct pw_store *s, struct pw_store_session *ss)
{
    struct session_op op = {ss, 0};
    int rc;

    if (!s || !ss)
        return -EINVAL;
    if (strnlen(ss->name, PW_STORE_LABEL_MAX + 1) > PW_STORE_LABEL_MAX)
        return PW_E_RANGE;
    rc = pw_store_write(s, session_add_fn, &op, 1024);
    if (rc == 0)
        ss->id = op.id;
    return rc;
}

static int session_delete_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    uint8_t key[4];

    pw_put_be32(key, *(uint32_t *)arg);
    return del_key_fn(s, txn, PW_DB_SESSIONS, key, 4);
}

int pw_store_session_delete(struct pw_store *s, uint32_t id)
{
    if (!s)
        return -EINVAL;
    return pw_store_write(s, session_delete_fn, &id, 256);
}

int pw_store_session_get(struct pw_store *s, uint32_t id, struct pw_store_session *out)
{
    uint8_t key[4];
    MDB_val k = {4, key}, d;
    MDB_txn *txn;
    int rc;

    if (!s || !out)
        return -EINVAL;
    pw_put_be32(key, id);
    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    rc = mdb_get(txn, s->dbi[PW_DB_SESSIONS], &k, &d);
    if (rc == 0)
        rc = pw_session_decode(d.mv_data, d.mv_size, id, out);
    else
        rc = pw_store_mdb_err(rc);
    pw_store_rd_end(s, txn);
    return rc;
}

static int session_each(void *arg, const MDB_val *k, const MDB_val *d)
{
    struct list_ctx *lc = arg;
    struct pw_store_session ss;

    if (k->mv_size != 4 ||
        pw_session_decode(d->mv_data, d->mv_size, pw_get_be32(k->mv_data), &ss) != 0)
        return PW_E_MALFORMED;
    if (lc->filter && ss.target_id != lc->filter)
        return 0;
    lc->stopped = lc->cb.session(lc->arg, &ss);
    return lc->stopped ? 1 : 0;
}

int pw_store_sessions(struct pw_store *s, uint32_t target_id,
                      int (*cb)(void *arg, const struct pw_store_session *ss), void *arg)
{
    struct list_ctx lc = {.cb.session = cb, .arg = arg, .filter = target_id};

    if (!s || !cb)
        return -EINVAL;
    return list_result(scan_db(s, PW_DB_SESSIONS, NULL, session_each, &lc), &lc);
}

/* ---- DNS ---- */

int pw_store_dns_get(struct pw_store *s, const struct pw_addr *addr, char *name, size_t len)
{
    uint8_t key[17];
    int klen;
    MDB_val k, d;
    MDB_txn *txn;
    int rc;

    if (!s || !addr || !name || !len)
        return -EINVAL;
    klen = pw_addr_encode(addr, key);
    if (klen <= 1)
        return -EINVAL;
    if (s->w && pw_store_writer_dns_get(s, key, (size_t)klen, name, len) == 0)
        return 0;
    k = (MDB_val){(size_t)klen, key};
    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    rc = mdb_get(txn, s->dbi[PW_DB_DNS], &k, &d);
    if (rc == 0)
        rc = pw_dns_val_decode(d.mv_data, d.mv_size, name, len, NULL);
    else
        rc = pw_store_mdb_err(rc);
    pw_store_rd_end(s, txn);
    return rc;
}

/* ---- figures ---- */

int pw_store_stats(struct pw_store *s, struct pw_store_stats *out)
{
    char file[PATH_MAX + 16];
    struct stat st;
    MDB_txn *txn;
    MDB_stat ms;
    MDB_envinfo info;
    int rc;

    if (!s || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    snprintf(file, sizeof(file), "%s/data.mdb", s->dir);
    if (stat(file, &st) == 0)
        out->file_bytes = (uint64_t)st.st_size;
    if (mdb_env_info(s->env, &info) == 0)
        out->map_bytes = info.me_mapsize;
    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    /* LMDB's own DBs: the freelist (0) and the main DB holding the named DBs' roots (1). */
    for (MDB_dbi dbi = 0; dbi < 2; dbi++)
        if (mdb_stat(txn, dbi, &ms) == 0)
            out->used_bytes +=
                (ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages) * ms.ms_psize;
    for (int i = 0; i < PW_DB_COUNT; i++) {
        uint64_t bytes;

        if (mdb_stat(txn, s->dbi[i], &ms) != 0)
            continue;
        bytes = (ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages) * ms.ms_psize;
        out->used_bytes += bytes;
        if (i == PW_DB_SAMPLES) {
            out->raw_bytes = bytes;
            out->blocks = ms.ms_entries;
        } else if (i == PW_DB_ROLLUP_M || i == PW_DB_ROLLUP_H) {
            out->rollup_bytes += bytes;
        }
    }
    if (pw_store_meta_get_u64(txn, s, "samples", &out->samples) != 0)
        out->samples = 0;
    if (pw_store_meta_get_u64(txn, s, "hop_samples", &out->hop_samples) != 0)
        out->hop_samples = 0;
    pw_store_rd_end(s, txn);
    return 0;
}
