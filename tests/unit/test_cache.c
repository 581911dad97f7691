/* Unit tests: the FastCGI app's answer cache (fcgi-app/cache.c). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "check.h"

/* The value stored for a key at a version: derived from both, so a mix-up shows. */
static size_t make_value(char *v, size_t cap, const char *key, uint64_t version, size_t len)
{
    size_t kl = strlen(key);

    if (len > cap)
        len = cap;
    for (size_t i = 0; i < len; i++)
        v[i] = (char)(key[i % kl] + (char)(version % 7) + (char)(i % 13));
    return len;
}

static bool value_ok(const struct pw_cache_entry *e, const char *key, uint64_t version, size_t len)
{
    char want[4096];
    size_t n, wl = make_value(want, sizeof(want), key, version, len);
    const char *v = pw_cache_value(e, &n);

    return n == wl && memcmp(v, want, n) == 0;
}

static int put(struct pw_cache *c, uint64_t version, const char *key, size_t len)
{
    char v[4096];
    size_t n = make_value(v, sizeof(v), key, version, len);

    return pw_cache_put(c, version, key, strlen(key), v, n);
}

static void test_hits_and_versions(void)
{
    struct pw_cache *c = pw_cache_new(1 << 20);
    const struct pw_cache_entry *e;
    struct pw_cache_stats st;

    CHECK(c != NULL);
    CHECK(pw_cache_get(c, 5, "hops 1", 6) == NULL);
    CHECK_INT(put(c, 5, "hops 1", 100), 0);
    CHECK_INT(put(c, 5, "hops 2", 200), 0);
    e = pw_cache_get(c, 5, "hops 1", 6);
    CHECK(e != NULL && value_ok(e, "hops 1", 5, 100));
    pw_cache_unref(c, e);
    /* Another version or key is another answer. */
    CHECK(pw_cache_get(c, 6, "hops 1", 6) == NULL);
    CHECK(pw_cache_get(c, 5, "hops 3", 6) == NULL);
    CHECK(pw_cache_get(c, 5, "hops ", 5) == NULL);

    /* A newer version drops the older answers; an older one is not kept. */
    CHECK_INT(put(c, 7, "hops 2", 300), 0);
    CHECK(pw_cache_get(c, 5, "hops 1", 6) == NULL);
    CHECK(pw_cache_get(c, 5, "hops 2", 6) == NULL);
    CHECK_INT(put(c, 6, "hops 1", 100), 0);
    CHECK(pw_cache_get(c, 6, "hops 1", 6) == NULL);
    e = pw_cache_get(c, 7, "hops 2", 6);
    CHECK(e != NULL && value_ok(e, "hops 2", 7, 300));
    pw_cache_unref(c, e);

    /* Replacing an entry someone still reads: the reader keeps the old value intact. */
    e = pw_cache_get(c, 7, "hops 2", 6);
    CHECK_INT(put(c, 7, "hops 2", 50), 0);
    CHECK(e != NULL && value_ok(e, "hops 2", 7, 300));
    pw_cache_unref(c, e);
    e = pw_cache_get(c, 7, "hops 2", 6);
    CHECK(e != NULL && value_ok(e, "hops 2", 7, 50));
    /* ... and when a newer version drops it meanwhile. */
    CHECK_INT(put(c, 8, "other", 10), 0);
    CHECK(e != NULL && value_ok(e, "hops 2", 7, 50));
    pw_cache_unref(c, e);

    pw_cache_get_stats(c, &st);
    CHECK_INT(st.entries, 1);
    CHECK_INT(st.hits, 4);
    CHECK_INT(st.misses, 7);
    CHECK(st.bytes > 10 && st.bytes < 200);

    /* Bad keys and oversized values. */
    CHECK(pw_cache_get(c, 8, "", 0) == NULL);
    {
        char key[PW_CACHE_KEY_MAX + 1];
        static char big[(1 << 20) / 8 + 1];

        memset(key, 'k', sizeof(key));
        CHECK_INT(pw_cache_put(c, 8, key, sizeof(key), "v", 1), -E2BIG);
        CHECK_INT(pw_cache_put(c, 8, key, 0, "v", 1), -E2BIG);
        CHECK_INT(pw_cache_put(c, 8, "big", 3, big, sizeof(big)), -E2BIG);
        CHECK_INT(pw_cache_put(c, 8, "big", 3, big, sizeof(big) - 1), 0);
    }
    pw_cache_free(c);
    pw_cache_free(NULL);

    /* A budget of nothing keeps nothing. */
    c = pw_cache_new(0);
    CHECK(c != NULL);
    CHECK_INT(put(c, 1, "a", 1), -E2BIG);
    CHECK(pw_cache_get(c, 1, "a", 1) == NULL);
    pw_cache_free(c);
}

static void test_budget_lru(void)
{
    /* 64 KiB: room for about 30 values of 2000 bytes with their bookkeeping. */
    struct pw_cache *c = pw_cache_new(64 << 10);
    struct pw_cache_stats st;
    char key[32];
    unsigned kept = 0;

    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        CHECK_INT(put(c, 1, key, 2000), 0);
        /* k0 is read after every insertion: the most recently used, never evicted. */
        {
            const struct pw_cache_entry *e = pw_cache_get(c, 1, "k0", 2);

            CHECK(e != NULL);
            pw_cache_unref(c, e);
        }
        pw_cache_get_stats(c, &st);
        CHECK(st.bytes <= (64 << 10));
    }
    for (int i = 1; i < 100; i++) {
        const struct pw_cache_entry *e;

        snprintf(key, sizeof(key), "k%d", i);
        e = pw_cache_get(c, 1, key, strlen(key));
        if (e) {
            kept++;
            CHECK(i >= 60); /* only the newest survive */
            CHECK(value_ok(e, key, 1, 2000));
            pw_cache_unref(c, e);
        }
    }
    CHECK(kept >= 25 && kept <= 31);
    pw_cache_get_stats(c, &st);
    CHECK_INT(st.entries, kept + 1);
    CHECK(st.evictions >= 100 - 31);
    pw_cache_free(c);
}

/* Threads reading and writing at once, versions moving on: every hit holds exactly the value
 * of its key and version (run under the sanitizers, also no use after free). */
struct th_arg {
    struct pw_cache *c;
    unsigned seed;
    unsigned bad, hits;
};

static void *th_main(void *arg)
{
    struct th_arg *a = arg;

    for (int i = 0; i < 20000; i++) {
        char key[32];
        uint64_t version = (uint64_t)(i / 2000) + 1;
        unsigned k = (unsigned)rand_r(&a->seed) % 64;
        size_t len = 100 + k * 37;
        const struct pw_cache_entry *e;

        snprintf(key, sizeof(key), "timeline %u", k);
        e = pw_cache_get(a->c, version, key, strlen(key));
        if (e) {
            a->hits++;
            if (!value_ok(e, key, version, len))
                a->bad++;
            pw_cache_unref(a->c, e);
        } else if (put(a->c, version, key, len) != 0) {
            a->bad++;
        }
    }
    return NULL;
}

static void test_threads(void)
{
    struct pw_cache *c = pw_cache_new(48 << 10); /* smaller than the working set: evictions */
    struct th_arg args[4];
    pthread_t th[4];
    unsigned bad = 0, hits = 0;

    for (int i = 0; i < 4; i++) {
        args[i] = (struct th_arg){c, (unsigned)i * 7919u + 1, 0, 0};
        CHECK_INT(pthread_create(&th[i], NULL, th_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += args[i].bad;
        hits += args[i].hits;
    }
    CHECK_INT(bad, 0);
    CHECK(hits > 1000);
    pw_cache_free(c);
}

int main(void)
{
    RUN(test_hits_and_versions);
    RUN(test_budget_lru);
    RUN(test_threads);
    return check_exit();
}
