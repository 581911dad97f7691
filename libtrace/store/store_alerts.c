/* PingWatcher — the `alerts` named DB: alert rules, per-(rule, target) state and history.
 *
 * The store treats these records as opaque key/value pairs; the daemon (engine-daemon/alerts.c)
 * chooses keys that sort usefully (see FORMAT.md, "alerts"). Kept apart from store.c so the
 * store's own modules need not know about alerts. */
#include <errno.h>
#include <string.h>

#include "error.h"
#include "store_int.h"

struct kv_op {
    const struct pw_store_alert_kv *kv;
    size_t n;
    const void *prefix; /* delete every key with this prefix first (may be NULL) */
    size_t plen;
};

static int del_prefix(struct pw_store *s, MDB_txn *txn, const void *prefix, size_t plen)
{
    MDB_cursor *c;
    MDB_val k = {plen, (void *)prefix}, d;
    int mrc;

    if ((mrc = mdb_cursor_open(txn, s->dbi[PW_DB_ALERTS], &c)) != 0)
        return pw_store_mdb_err(mrc);
    for (mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if ((mrc = mdb_cursor_del(c, 0)) != 0)
            break;
    }
    mdb_cursor_close(c);
    return mrc == 0 || mrc == MDB_NOTFOUND ? 0 : pw_store_mdb_err(mrc);
}

static int kv_fn(struct pw_store *s, MDB_txn *txn, void *arg)
{
    struct kv_op *op = arg;
    int rc;

    if (op->prefix && (rc = del_prefix(s, txn, op->prefix, op->plen)) != 0)
        return rc;
    for (size_t i = 0; i < op->n; i++) {
        MDB_val k = {op->kv[i].klen, (void *)op->kv[i].key};
        MDB_val d = {op->kv[i].vlen, (void *)op->kv[i].val};
        int mrc;

        if (op->kv[i].val)
            mrc = mdb_put(txn, s->dbi[PW_DB_ALERTS], &k, &d, 0);
        else if ((mrc = mdb_del(txn, s->dbi[PW_DB_ALERTS], &k, NULL)) == MDB_NOTFOUND)
            mrc = 0;
        if (mrc != 0)
            return pw_store_mdb_err(mrc);
    }
    return 0;
}

static bool kv_ok(const struct pw_store_alert_kv *kv, size_t n, size_t *bytes)
{
    *bytes = 256;
    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key || kv[i].klen < 1 || kv[i].klen > PW_STORE_ALERT_KEY_MAX ||
            kv[i].vlen > PW_STORE_ALERT_VAL_MAX)
            return false;
        *bytes += kv[i].klen + kv[i].vlen + 64;
    }
    return true;
}

int pw_store_alert_write(struct pw_store *s, const struct pw_store_alert_kv *kv, size_t n)
{
    struct kv_op op = {kv, n, NULL, 0};
    size_t bytes;

    if (!s || (n && !kv) || !kv_ok(kv, n, &bytes))
        return -EINVAL;
    return pw_store_write(s, kv_fn, &op, bytes);
}

int pw_store_alert_delete_prefix(struct pw_store *s, const void *prefix, size_t plen)
{
    struct kv_op op = {NULL, 0, prefix, plen};

    if (!s || !prefix || plen < 1 || plen > PW_STORE_ALERT_KEY_MAX)
        return -EINVAL;
    return pw_store_write(s, kv_fn, &op, 4096);
}

int pw_store_alert_scan(
    struct pw_store *s, const void *prefix, size_t plen, const void *from, size_t flen,
    int (*cb)(void *arg, const void *k, size_t klen, const void *v, size_t vlen), void *arg)
{
    MDB_txn *txn;
    MDB_cursor *c = NULL;
    MDB_val k, d;
    int rc, mrc;

    if (!s || !cb || plen > PW_STORE_ALERT_KEY_MAX || flen > PW_STORE_ALERT_KEY_MAX ||
        (plen && !prefix) || (flen && !from))
        return -EINVAL;
    if ((rc = pw_store_rd_begin(s, &txn)) != 0)
        return rc;
    if ((mrc = mdb_cursor_open(txn, s->dbi[PW_DB_ALERTS], &c)) != 0) {
        rc = pw_store_mdb_err(mrc);
        goto out;
    }
    /* Start at the later of the prefix and `from`. */
    if (flen && (plen == 0 || memcmp(from, prefix, flen < plen ? flen : plen) > 0 ||
                 (memcmp(from, prefix, flen < plen ? flen : plen) == 0 && flen >= plen)))
        k = (MDB_val){flen, (void *)from};
    else
        k = (MDB_val){plen, (void *)prefix};
    mrc =
        k.mv_size ? mdb_cursor_get(c, &k, &d, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &d, MDB_FIRST);
    for (; mrc == 0; mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
            break;
        if ((rc = cb(arg, k.mv_data, k.mv_size, d.mv_data, d.mv_size)) != 0)
            goto out;
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = pw_store_mdb_err(mrc);
out:
    if (c)
        mdb_cursor_close(c);
    pw_store_rd_end(s, txn);
    return rc;
}
