/* PingWatcher — the app's answer cache (see cache.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

struct pw_cache_entry {
    struct pw_cache_entry *hnext;       /* hash chain */
    struct pw_cache_entry *prev, *next; /* recency list, newest first */
    uint64_t hash, version;
    unsigned refs; /* references held by lookups; under the cache's lock */
    bool linked;   /* in the table and the list; freed by the last unref once unlinked */
    size_t klen, vlen, cost;
    char data[]; /* key, then value */
};

struct pw_cache {
    pthread_mutex_t lock;
    struct pw_cache_entry **table;
    size_t mask; /* buckets - 1 */
    struct pw_cache_entry *newest, *oldest;
    size_t bytes, max_bytes, max_value;
    uint64_t version; /* the newest data version stored so far */
    struct pw_cache_stats st;
};

static uint64_t hash_key(const void *key, size_t n)
{
    const unsigned char *p = key;
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

struct pw_cache *pw_cache_new(size_t max_bytes)
{
    struct pw_cache *c = calloc(1, sizeof(*c));
    size_t buckets = 64;

    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    /* About one bucket per 4 KiB of budget: chains stay short for answers of a few KiB. */
    while (buckets < 65536 && buckets * 4096 < max_bytes)
        buckets *= 2;
    c->table = calloc(buckets, sizeof(*c->table));
    if (!c->table) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    c->mask = buckets - 1;
    c->max_bytes = max_bytes;
    c->max_value = max_bytes / 8;
    c->st.max_bytes = max_bytes;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void pw_cache_free(struct pw_cache *c)
{
    struct pw_cache_entry *e, *next;

    if (!c)
        return;
    for (e = c->newest; e; e = next) {
        next = e->next;
        free(e);
    }
    pthread_mutex_destroy(&c->lock);
    free(c->table);
    free(c);
}

static void list_remove(struct pw_cache *c, struct pw_cache_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->newest = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->oldest = e->prev;
    e->prev = e->next = NULL;
}

static void list_push(struct pw_cache *c, struct pw_cache_entry *e)
{
    e->prev = NULL;
    e->next = c->newest;
    if (c->newest)
        c->newest->prev = e;
    else
        c->oldest = e;
    c->newest = e;
}

/* Takes e out of the table and the list; frees it unless a lookup still holds it. */
static void unlink_entry(struct pw_cache *c, struct pw_cache_entry *e)
{
    struct pw_cache_entry **pp = &c->table[e->hash & c->mask];

    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    list_remove(c, e);
    e->linked = false;
    c->bytes -= e->cost;
    c->st.entries--;
    if (e->refs == 0)
        free(e);
}

static struct pw_cache_entry *find(struct pw_cache *c, uint64_t h, uint64_t version,
                                   const void *key, size_t klen)
{
    for (struct pw_cache_entry *e = c->table[h & c->mask]; e; e = e->hnext)
        if (e->hash == h && e->version == version && e->klen == klen &&
            memcmp(e->data, key, klen) == 0)
            return e;
    return NULL;
}

const struct pw_cache_entry *pw_cache_get(struct pw_cache *c, uint64_t version, const void *key,
                                          size_t klen)
{
    struct pw_cache_entry *e = NULL;
    uint64_t h;

    if (!c || !key || klen == 0 || klen > PW_CACHE_KEY_MAX)
        return NULL;
    h = hash_key(key, klen);
    pthread_mutex_lock(&c->lock);
    if (version >= c->version)
        e = find(c, h, version, key, klen);
    if (e) {
        list_remove(c, e);
        list_push(c, e);
        e->refs++;
        c->st.hits++;
    } else {
        c->st.misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return e;
}

const char *pw_cache_value(const struct pw_cache_entry *e, size_t *len)
{
    *len = e->vlen;
    return e->data + e->klen;
}

void pw_cache_unref(struct pw_cache *c, const struct pw_cache_entry *ce)
{
    struct pw_cache_entry *e = (struct pw_cache_entry *)ce;

    if (!c || !e)
        return;
    pthread_mutex_lock(&c->lock);
    if (--e->refs == 0 && !e->linked)
        free(e);
    pthread_mutex_unlock(&c->lock);
}

int pw_cache_put(struct pw_cache *c, uint64_t version, const void *key, size_t klen,
                 const void *val, size_t vlen)
{
    struct pw_cache_entry *e, *old;
    size_t cost;

    if (!c || !key || klen == 0 || klen > PW_CACHE_KEY_MAX || vlen > c->max_value)
        return -E2BIG;
    cost = sizeof(*e) + klen + vlen;
    /* Allocated and filled before the lock: other threads wait only for the linking. */
    e = malloc(cost);
    if (!e)
        return -ENOMEM;
    memset(e, 0, sizeof(*e));
    e->hash = hash_key(key, klen);
    e->version = version;
    e->klen = klen;
    e->vlen = vlen;
    e->cost = cost;
    memcpy(e->data, key, klen);
    if (vlen)
        memcpy(e->data + klen, val, vlen);

    pthread_mutex_lock(&c->lock);
    if (version < c->version) {
        /* Computed from a snapshot older than answers already stored: never asked for. */
        pthread_mutex_unlock(&c->lock);
        free(e);
        return 0;
    }
    if (version > c->version) {
        /* The writer committed: answers of older versions will not be asked for again. */
        c->version = version;
        for (struct pw_cache_entry *x = c->oldest, *prev; x; x = prev) {
            prev = x->prev;
            if (x->version < version) {
                unlink_entry(c, x);
                c->st.evictions++;
            }
        }
    }
    if ((old = find(c, e->hash, version, key, klen)) != NULL)
        unlink_entry(c, old);
    while (c->oldest && c->bytes + cost > c->max_bytes) {
        unlink_entry(c, c->oldest);
        c->st.evictions++;
    }
    e->hnext = c->table[e->hash & c->mask];
    c->table[e->hash & c->mask] = e;
    list_push(c, e);
    e->linked = true;
    c->bytes += cost;
    c->st.entries++;
    c->st.stores++;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void pw_cache_get_stats(struct pw_cache *c, struct pw_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    out->bytes = c->bytes;
    pthread_mutex_unlock(&c->lock);
}
