/* PingWatcher — the app's answer cache: rendered answers (or parts of them) by key, shared by
 * every worker thread, least recently used out first, within a memory budget.
 *
 * Every entry carries the store's data version it was computed from (the transaction id of
 * the snapshot the request read, pw_store_snapshot_begin()), and is found only by a request
 * reading that same version: after the writer commits, the next request computes afresh and
 * older entries are dropped. Keys name everything else an answer depends on (endpoint,
 * target, resolved parameters, output format); an answer that depends on the wall clock is
 * either not cached or keyed by the part of the clock it depends on (see api_timeline.c).
 *
 * Values are immutable once stored. A hit takes a reference, so the lock is held only to find
 * an entry, never while it is copied or written out; an entry evicted meanwhile is freed when
 * its last reference goes. Thread-safe; allocation is plain malloc (entries outlive requests).
 */
#ifndef PW_CACHE_H
#define PW_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct pw_cache;
struct pw_cache_entry;

#define PW_CACHE_KEY_MAX 256

struct pw_cache_stats {
    uint64_t hits, misses; /* lookups */
    uint64_t stores, evictions;
    uint64_t entries, bytes; /* now */
    uint64_t max_bytes;
};

/* A cache holding at most max_bytes of keys, values and bookkeeping; a single value larger
 * than an eighth of that is not kept. max_bytes 0 = a cache that keeps nothing. NULL with
 * errno ENOMEM. */
struct pw_cache *pw_cache_new(size_t max_bytes);
/* Frees the cache and every entry; no reference may be held any more. Accepts NULL. */
void pw_cache_free(struct pw_cache *c);

/* The entry of key (klen 1..PW_CACHE_KEY_MAX bytes) computed at data version `version`, or
 * NULL. The caller holds a reference until pw_cache_unref(). */
const struct pw_cache_entry *pw_cache_get(struct pw_cache *c, uint64_t version, const void *key,
                                          size_t klen);
/* The value of an entry (borrowed while the reference is held). */
const char *pw_cache_value(const struct pw_cache_entry *e, size_t *len);
void pw_cache_unref(struct pw_cache *c, const struct pw_cache_entry *e);

/* Stores a copy of val as the answer for key at version (replacing an entry of the same key).
 * A version newer than any seen before drops every entry of older versions: nothing will ask
 * for them again. Returns 0; -E2BIG for a value over the size limit (or a bad key length);
 * -ENOMEM. */
int pw_cache_put(struct pw_cache *c, uint64_t version, const void *key, size_t klen,
                 const void *val, size_t vlen);

void pw_cache_get_stats(struct pw_cache *c, struct pw_cache_stats *out);

#endif
