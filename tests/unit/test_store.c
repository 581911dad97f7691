/* Unit tests: the LMDB store. Each test works in a fresh temporary directory, removed after.
 * Processes: readers and crash victims are forked before they open the store (LMDB forbids
 * opening one environment twice in a process). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "report.h"
#include "store.h"
#include "store/store_int.h"

#define T0 INT64_C(1700000000123456) /* not aligned to a minute or an hour */
#define STEP INT64_C(2500000)

/* ---- helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char *tmpdir_new(void)
{
    char *d = strdup("/tmp/pw_store_test.XXXXXX");

    if (!d || !mkdtemp(d)) {
        perror("mkdtemp");
        exit(2);
    }
    return d;
}

static void tmpdir_free(char *d)
{
    nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

static struct pw_store *open_store(const char *dir, bool ro, uint64_t map, uint64_t max)
{
    struct pw_store_opts o = {.path = dir, .readonly = ro, .map_size = map, .max_map_size = max};
    char err[256];
    struct pw_store *s = pw_store_open(&o, err, sizeof(err));

    if (!s)
        fprintf(stderr, "open %s: %s\n", dir, err);
    return s;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

/* Sample idx of target: deterministic, RTTs in whole 10 µs so storing keeps them exact. */
static void gen(uint32_t target, uint64_t idx, uint8_t nhops, struct pw_store_sample *s)
{
    uint64_t h = mix(target * UINT64_C(1000003) + idx);

    memset(s, 0, sizeof(*s));
    s->time_us = T0 + (int64_t)idx * STEP + (int64_t)(h % 2001) - 1000;
    s->route_id = 1 + (uint32_t)(idx / 1000 % 2);
    s->nhops = nhops;
    s->reached = (h >> 20) % 50 != 0;
    for (unsigned i = 0; i < nhops; i++) {
        uint64_t hh = mix(h + i);

        if (hh % 100 < 3)
            s->rtt_us[i] = PW_RTT_LOST;
        else
            s->rtt_us[i] = (int32_t)(10 * (100 + i * 300 + (hh >> 8) % (50 + i * 40)));
    }
}

static bool sample_eq(const struct pw_store_sample *a, const struct pw_store_sample *b)
{
    if (a->time_us != b->time_us || a->route_id != b->route_id || a->nhops != b->nhops ||
        a->reached != b->reached)
        return false;
    return memcmp(a->rtt_us, b->rtt_us, a->nhops * sizeof(int32_t)) == 0;
}

struct collect {
    struct pw_store_sample *s;
    size_t n, cap;
};

static int collect_cb(void *arg, const struct pw_store_sample *smp)
{
    struct collect *c = arg;

    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->s = realloc(c->s, c->cap * sizeof(*c->s));
    }
    c->s[c->n++] = *smp;
    return 0;
}

/* Checks that target holds exactly samples [0, n) of gen(target, ., nhops). */
static void check_range(struct pw_store *s, uint32_t target, uint64_t n, uint8_t nhops)
{
    struct collect c = {0};
    struct pw_store_sample want;
    size_t bad = 0;

    CHECK_INT(pw_store_samples(s, target, INT64_MIN, INT64_MAX, false, collect_cb, &c), 0);
    CHECK_INT(c.n, n);
    for (size_t i = 0; i < c.n && i < n; i++) {
        gen(target, i, nhops, &want);
        bad += !sample_eq(&c.s[i], &want);
    }
    CHECK_INT(bad, 0);
    free(c.s);
}

static int write_range(struct pw_store *s, uint32_t target, uint64_t from, uint64_t to,
                       uint8_t nhops, unsigned batch)
{
    struct pw_store_sample smp;
    int rc;

    for (uint64_t i = from; i < to; i++) {
        gen(target, i, nhops, &smp);
        if ((rc = pw_store_add_sample(s, target, &smp)) != 0)
            return rc;
        if (batch && (i + 1) % batch == 0 && (rc = pw_store_flush(s)) != 0)
            return rc;
    }
    return pw_store_flush(s);
}

/* ---- open, version, permissions ---- */

static void test_open_and_version(void)
{
    char *dir = tmpdir_new();
    char path[512], err[600];
    struct pw_store_opts o = {.path = path, .readonly = true};
    struct pw_store *s;
    struct pw_store_stats st;
    struct stat sb;

    snprintf(path, sizeof(path), "%s/store", dir);
    errno = 0;
    CHECK(pw_store_open(&o, err, sizeof(err)) == NULL);
    CHECK_INT(errno, ENOENT);
    CHECK(strstr(err, "no store") != NULL);

    s = open_store(path, false, 0, 0);
    CHECK(s != NULL);
    CHECK_INT(pw_store_stats(s, &st), 0);
    CHECK_INT(st.samples, 0);
    CHECK(st.map_bytes >= (UINT64_C(256) << 20));
    pw_store_close(s);
    CHECK_INT(stat(path, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0750);
    snprintf(err, sizeof(err), "%s/lock.mdb", path);
    CHECK_INT(stat(err, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0660);

    /* Reopen both ways. */
    s = open_store(path, false, 0, 0);
    CHECK(s != NULL);
    pw_store_close(s);
    s = open_store(path, true, 0, 0);
    CHECK(s != NULL);
    {
        struct pw_store_target t = {0};

        CHECK_INT(pw_store_target_add(s, &t), -EROFS);
    }
    pw_store_close(s);

    /* A newer format version is refused, and the store is left alone. */
    {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        uint8_t v[4] = {0, 0, 0, 99};
        MDB_val k = {7, "version"}, d = {4, v};

        CHECK_INT(mdb_env_create(&env), 0);
        mdb_env_set_maxdbs(env, 32);
        CHECK_INT(mdb_env_open(env, path, 0, 0660), 0);
        CHECK_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
        CHECK_INT(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
        CHECK_INT(mdb_put(txn, dbi, &k, &d, 0), 0);
        CHECK_INT(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
    }
    for (int ro = 0; ro < 2; ro++) {
        o.readonly = ro;
        errno = 0;
        CHECK(pw_store_open(&o, err, sizeof(err)) == NULL);
        CHECK_INT(errno, EPROTO);
        CHECK(strstr(err, "version 99") != NULL);
    }
    tmpdir_free(dir);
}

/* A reader of another user: without write access to lock.mdb it gets a clear EACCES; with it,
 * it reads. Needs root (to become nobody). */
static void test_reader_permissions(void)
{
    char *dir;
    char path[512];
    struct pw_store *s;
    pid_t pid;
    int status;

    if (geteuid() != 0) {
        fprintf(stderr, "skip test_reader_permissions: not root\n");
        return;
    }
    dir = tmpdir_new();
    snprintf(path, sizeof(path), "%s/store", dir);
    s = open_store(path, false, 0, 0);
    CHECK(s != NULL);
    CHECK_INT(write_range(s, 1, 0, 10, 3, 0), 0);
    pw_store_close(s);
    chmod(dir, 0755);
    chmod(path, 0755);
    snprintf(path, sizeof(path), "%s/store/data.mdb", dir);
    chmod(path, 0644);
    for (int writable = 0; writable < 2; writable++) {
        snprintf(path, sizeof(path), "%s/store/lock.mdb", dir);
        chmod(path, writable ? 0666 : 0644);
        snprintf(path, sizeof(path), "%s/store", dir);
        pid = fork();
        if (pid == 0) {
            struct pw_store_opts o = {.path = path, .readonly = true};
            char err[512];
            struct pw_store *r;

            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(3);
            r = pw_store_open(&o, err, sizeof(err));
            if (!writable)
                _exit(!r && errno == EACCES && strstr(err, "lock.mdb") && strstr(err, "group") ? 0
                                                                                               : 1);
            if (!r)
                _exit(2);
            check_range(r, 1, 10, 3);
            pw_store_close(r);
            _exit(check_failures ? 1 : 0);
        }
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    tmpdir_free(dir);
}

/* ---- small records ---- */

static int count_target(void *arg, const struct pw_store_target *t)
{
    (void)t;
    return ++*(int *)arg == 100 ? 7 : 0;
}

static int count_config(void *arg, const struct pw_store_config *c)
{
    char *names = arg;
    size_t used = strlen(names);

    snprintf(names + used, 256 - used, "%s,", c->name);
    return 0;
}

static void test_targets_and_configs(void)
{
    char *dir = tmpdir_new();
    struct pw_store *s = open_store(dir, false, 0, 0);
    struct pw_store_target t = {0}, got;
    struct pw_store_config c = {0}, gc;
    char names[256] = "";
    int n = 0;

    snprintf(t.host, sizeof(t.host), "dest.sim.example");
    snprintf(t.label, sizeof(t.label), "lab");
    pw_trace_opts_default(&t.opts);
    pw_addr_parse("198.18.3.1", &t.addr);
    t.created_us = 42;
    CHECK_INT(pw_store_target_add(s, &t), 0);
    CHECK_INT(t.id, 1);
    CHECK_INT(pw_store_target_add(s, &t), 0);
    CHECK_INT(t.id, 2);
    CHECK_INT(pw_store_target_get(s, 1, &got), 0);
    t.id = 1;
    CHECK_MEM(&got, &t, sizeof(t));
    t.paused = true;
    snprintf(t.config, sizeof(t.config), "fast");
    CHECK_INT(pw_store_target_update(s, &t), 0);
    CHECK_INT(pw_store_target_get(s, 1, &got), 0);
    CHECK(got.paused);
    CHECK_STR(got.config, "fast");
    t.id = 9;
    CHECK_INT(pw_store_target_update(s, &t), -ENOENT);
    CHECK_INT(pw_store_target_delete(s, 2), 0);
    CHECK_INT(pw_store_target_delete(s, 2), -ENOENT);
    CHECK_INT(pw_store_target_get(s, 2, &got), -ENOENT);
    CHECK_INT(pw_store_target_add(s, &t), 0);
    CHECK_INT(t.id, 3); /* never reused */
    CHECK_INT(pw_store_target_list(s, count_target, &n), 0);
    CHECK_INT(n, 2);

    snprintf(c.name, sizeof(c.name), "slow");
    pw_trace_opts_default(&c.opts);
    c.opts.interval_ms = 60000;
    CHECK_INT(pw_store_config_put(s, &c, false), -ENOENT);
    CHECK_INT(pw_store_config_put(s, &c, true), 0);
    CHECK_INT(pw_store_config_put(s, &c, true), -EEXIST);
    c.opts.interval_ms = 30000;
    CHECK_INT(pw_store_config_put(s, &c, false), 0);
    snprintf(c.name, sizeof(c.name), "fast");
    CHECK_INT(pw_store_config_put(s, &c, true), 0);
    CHECK_INT(pw_store_config_get(s, "slow", &gc), 0);
    CHECK_INT(gc.opts.interval_ms, 30000);
    CHECK_STR(gc.name, "slow");
    CHECK_INT(pw_store_config_get(s, "none", &gc), -ENOENT);
    CHECK_INT(pw_store_config_get(s, "", &gc), PW_E_RANGE);
    CHECK_INT(pw_store_config_list(s, count_config, names), 0);
    CHECK_STR(names, "fast,slow,");
    CHECK_INT(pw_store_config_delete(s, "fast"), 0);
    CHECK_INT(pw_store_config_delete(s, "fast"), -ENOENT);
    pw_store_close(s);

    /* Everything survives a reopen, read-only. */
    s = open_store(dir, true, 0, 0);
    CHECK_INT(pw_store_target_get(s, 1, &got), 0);
    CHECK_STR(got.host, "dest.sim.example");
    CHECK_INT(pw_store_config_get(s, "slow", &gc), 0);
    pw_store_close(s);
    tmpdir_free(dir);
}

static int comment_cb(void *arg, const struct pw_store_comment *c)
{
    struct pw_store_comment *out = arg;
    int i = 0;

    while (out[i].id)
        i++;
    out[i] = *c;
    return 0;
}

static int change_cb(void *arg, const struct pw_store_route_change *c)
{
    struct pw_store_route_change *out = arg;
    int i = 0;

    while (out[i].time_us)
        i++;
    out[i] = *c;
    return 0;
}

static int session_cb(void *arg, const struct pw_store_session *ss)
{
    (*(int *)arg)++;
    (void)ss;
    return 0;
}

static void test_comments_sessions_changes_dns(void)
{
    char *dir = tmpdir_new();
    struct pw_store *s = open_store(dir, false, 0, 0);
    struct pw_store_comment c = {.target_id = 1, .time_us = 2000}, got[8];
    struct pw_store_route_change rc = {.target_id = 1,
                                       .time_us = 500,
                                       .old_route = 1,
                                       .new_route = 2,
                                       .first_hop = 4},
                                 gch[8];
    struct pw_store_session ss = {.target_id = 1, .start_us = 10, .end_us = 20}, gs;
    struct pw_addr a, b, v6;
    char name[PW_DNS_NAME_MAX + 1];
    int n = 0;

    snprintf(c.text, sizeof(c.text), "ISP maintenance");
    snprintf(c.author, sizeof(c.author), "alert:loss");
    CHECK_INT(pw_store_comment_add(s, &c), 0);
    CHECK_INT(c.id, 1);
    c.time_us = 1000;
    CHECK_INT(pw_store_comment_add(s, &c), 0);
    c.target_id = 2;
    CHECK_INT(pw_store_comment_add(s, &c), 0);
    memset(got, 0, sizeof(got));
    CHECK_INT(pw_store_comments(s, 1, 0, INT64_MAX, comment_cb, got), 0);
    CHECK_INT(got[0].id, 2); /* time order */
    CHECK_INT(got[1].id, 1);
    CHECK_INT(got[2].id, 0);
    CHECK_STR(got[1].text, "ISP maintenance");
    CHECK_STR(got[1].author, "alert:loss");
    CHECK_INT(got[1].time_us, 2000);
    CHECK_INT(pw_store_comment_delete(s, 2), 0);
    CHECK_INT(pw_store_comment_delete(s, 2), -ENOENT);
    memset(got, 0, sizeof(got));
    CHECK_INT(pw_store_comments(s, 1, 1500, 2001, comment_cb, got), 0);
    CHECK_INT(got[0].id, 1);
    CHECK_INT(got[1].id, 0);

    CHECK_INT(pw_store_route_change_add(s, &rc), 0);
    rc.time_us = 300;
    CHECK_INT(pw_store_route_change_add(s, &rc), 0);
    memset(gch, 0, sizeof(gch));
    CHECK_INT(pw_store_route_changes(s, 1, 0, INT64_MAX, change_cb, gch), 0);
    CHECK_INT(gch[0].time_us, 300);
    CHECK_INT(gch[1].time_us, 500);
    CHECK_INT(gch[1].first_hop, 4);
    CHECK_INT(gch[1].new_route, 2);
    CHECK_INT(gch[2].time_us, 0);

    snprintf(ss.name, sizeof(ss.name), "outage");
    CHECK_INT(pw_store_session_add(s, &ss), 0);
    ss.target_id = 2;
    CHECK_INT(pw_store_session_add(s, &ss), 0);
    CHECK_INT(pw_store_session_get(s, 1, &gs), 0);
    CHECK_STR(gs.name, "outage");
    CHECK_INT(gs.end_us, 20);
    CHECK_INT(pw_store_sessions(s, 0, session_cb, &n), 0);
    CHECK_INT(n, 2);
    n = 0;
    CHECK_INT(pw_store_sessions(s, 2, session_cb, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(pw_store_session_delete(s, 1), 0);
    CHECK_INT(pw_store_session_get(s, 1, &gs), -ENOENT);

    pw_addr_parse("198.18.1.1", &a);
    pw_addr_parse("198.18.1.2", &b);
    pw_addr_parse("2001:db8::5", &v6);
    CHECK_INT(pw_store_dns_put(s, &a, "core1.sim.example", 1), 0);
    CHECK_INT(pw_store_dns_put(s, &b, PW_DNS_NONE, 1), 0);
    CHECK_INT(pw_store_dns_put(s, &v6, "six.sim.example", 1), 0);
    CHECK_INT(pw_store_dns_put(s, &a, "bad name", 1), PW_E_RANGE);
    /* Buffered, yet visible to the writer at once. */
    CHECK_INT(pw_store_dns_get(s, &a, name, sizeof(name)), 0);
    CHECK_STR(name, "core1.sim.example");
    CHECK_INT(pw_store_flush(s), 0);
    pw_store_close(s);

    s = open_store(dir, true, 0, 0);
    CHECK_INT(pw_store_dns_get(s, &a, name, sizeof(name)), 0);
    CHECK_STR(name, "core1.sim.example");
    CHECK_INT(pw_store_dns_get(s, &b, name, sizeof(name)), 0);
    CHECK_STR(name, PW_DNS_NONE);
    CHECK_INT(pw_store_dns_get(s, &v6, name, 5), 0);
    CHECK_STR(name, "six.");
    pw_addr_parse("198.18.1.3", &a);
    CHECK_INT(pw_store_dns_get(s, &a, name, sizeof(name)), -ENOENT);
    pw_store_close(s);
    tmpdir_free(dir);
}

/* ---- routes ---- */

static uint64_t constant_hash(const uint8_t *p, size_t n)
{
    (void)p;
    (void)n;
    return 7;
}

static void make_route(struct pw_store_route *r, unsigned variant, unsigned nhops)
{
    char text[64];

    memset(r, 0, sizeof(*r));
    r->nhops = (uint8_t)nhops;
    for (unsigned i = 0; i < nhops; i++) {
        if (i == 2)
            continue; /* a silent hop */
        snprintf(text, sizeof(text), "198.18.%u.%u", i + 1, variant + 1);
        pw_addr_parse(text, &r->hop[i]);
    }
}

static void test_routes(void)
{
    char *dir = tmpdir_new();
    struct pw_store *s = open_store(dir, false, 0, 0);
    struct pw_store_route r, got;
    uint32_t id[6], again;

    for (unsigned v = 0; v < 3; v++) {
        make_route(&r, v, 5);
        CHECK_INT(pw_store_route_intern(s, &r, &id[v]), 0);
    }
    CHECK_INT(id[0], 1);
    CHECK_INT(id[1], 2);
    CHECK_INT(id[2], 3);
    make_route(&r, 1, 5);
    CHECK_INT(pw_store_route_intern(s, &r, &again), 0);
    CHECK_INT(again, 2);
    CHECK_INT(pw_store_route_get(s, 2, &got), 0); /* pending, seen by the writer */
    CHECK_MEM(&got, &r, sizeof(r));
    CHECK_INT(pw_store_flush(s), 0);
    pw_store_close(s);

    /* After a reopen the same list finds the stored id; a new one gets the next id. */
    s = open_store(dir, false, 0, 0);
    make_route(&r, 2, 5);
    CHECK_INT(pw_store_route_intern(s, &r, &again), 0);
    CHECK_INT(again, 3);
    make_route(&r, 2, 6);
    CHECK_INT(pw_store_route_intern(s, &r, &again), 0);
    CHECK_INT(again, 4);

    /* Every hash colliding: lists are told apart by comparing them, in the pending list and
     * in the stored ones. */
    pw_store_test_route_hash(s, constant_hash);
    for (unsigned v = 0; v < 6; v++) {
        make_route(&r, 10 + v, 4);
        CHECK_INT(pw_store_route_intern(s, &r, &id[v]), 0);
        CHECK_INT(id[v], 5 + v);
    }
    CHECK_INT(pw_store_flush(s), 0);
    pw_store_close(s);
    s = open_store(dir, false, 0, 0);
    pw_store_test_route_hash(s, constant_hash);
    for (unsigned v = 6; v-- > 0;) {
        make_route(&r, 10 + v, 4);
        CHECK_INT(pw_store_route_intern(s, &r, &again), 0);
        CHECK_INT(again, id[v]);
        CHECK_INT(pw_store_route_get(s, again, &got), 0);
        CHECK_MEM(&got, &r, sizeof(r));
    }
    make_route(&r, 30, 4);
    CHECK_INT(pw_store_route_intern(s, &r, &again), 0);
    CHECK_INT(again, 11);
    CHECK_INT(pw_store_route_get(s, 99, &got), -ENOENT);
    pw_store_close(s);
    tmpdir_free(dir);
}

/* ---- samples ---- */

static int stop_after_3(void *arg, const struct pw_store_sample *smp)
{
    (void)smp;
    return ++*(int *)arg == 3 ? 42 : 0;
}

static void test_samples_blocks_reopen(void)
{
    char *dir = tmpdir_new();
    struct pw_store *s = open_store(dir, false, 0, 0);
    struct pw_store_sample smp;
    struct pw_store_stats st;
    struct collect c = {0};
    int n = 0;

    /* Two targets interleaved, batches of 37, a reopen half way. */
    for (uint64_t i = 0; i < 3000; i++) {
        gen(1, i, 11, &smp);
        CHECK_INT(pw_store_add_sample(s, 1, &smp), 0);
        if (i < 1500) {
            gen(2, i, 30, &smp);
            CHECK_INT(pw_store_add_sample(s, 2, &smp), 0);
        }
        if (i % 37 == 36)
            CHECK_INT(pw_store_flush(s), 0);
        if (i == 1700) {
            CHECK(pw_store_pending(s) > 0);
            pw_store_close(s); /* flushes */
            s = open_store(dir, false, 0, 0);
            CHECK_INT(pw_store_pending(s), 0);
        }
    }
    /* Out of order and bad samples are refused. */
    gen(1, 10, 11, &smp);
    CHECK_INT(pw_store_add_sample(s, 1, &smp), PW_E_RANGE);
    gen(1, 3000, 11, &smp);
    smp.rtt_us[0] = -7;
    CHECK_INT(pw_store_add_sample(s, 1, &smp), PW_E_RANGE);
    CHECK_INT(pw_store_flush(s), 0);
    CHECK_INT(pw_store_stats(s, &st), 0);
    CHECK_INT(st.samples, 4500);
    CHECK_INT(st.hop_samples, 3000 * 11 + 1500 * 30);
    CHECK(st.blocks >= 6);
    check_range(s, 1, 3000, 11);
    check_range(s, 2, 1500, 30);
    pw_store_close(s);

    s = open_store(dir, true, 0, 0);
    check_range(s, 1, 3000, 11);
    /* Newest first, and a range that starts and ends inside blocks. */
    CHECK_INT(pw_store_samples(s, 1, T0 + 100 * STEP - STEP / 2, T0 + 2900 * STEP - STEP / 2, true,
                               collect_cb, &c),
              0);
    CHECK_INT(c.n, 2800);
    if (c.n == 2800) {
        gen(1, 2899, 11, &smp);
        CHECK(sample_eq(&c.s[0], &smp));
        gen(1, 100, 11, &smp);
        CHECK(sample_eq(&c.s[2799], &smp));
    }
    CHECK_INT(pw_store_samples(s, 1, INT64_MIN, INT64_MAX, true, stop_after_3, &n), 42);
    CHECK_INT(pw_store_samples(s, 3, INT64_MIN, INT64_MAX, false, stop_after_3, &n), 0);
    pw_store_close(s);
    free(c.s);
    tmpdir_free(dir);
}

/* ---- the hop table, against pw_report_acc built from the same samples ---- */

struct hop_sample {
    int rtt[6]; /* µs, < 0 lost */
    int nhops;
    bool reached;
    int variant; /* responders: 198.18.<ttl>.<variant> */
};

static void hs_route(const struct hop_sample *h, struct pw_store_route *r)
{
    char text[32];

    memset(r, 0, sizeof(*r));
    r->nhops = (uint8_t)h->nhops;
    for (int i = 0; i < h->nhops; i++) {
        snprintf(text, sizeof(text), "198.18.%d.%d", i + 1, h->variant);
        pw_addr_parse(text, &r->hop[i]);
    }
}

static void compare_reports(const struct pw_report *got, const struct pw_report *want)
{
    CHECK_INT(got->samples, want->samples);
    CHECK_INT(got->nhops, want->nhops);
    for (unsigned i = 0; i < got->nhops && i < want->nhops; i++) {
        const struct pw_report_hop *g = &got->hop[i], *w = &want->hop[i];

        CHECK_INT(g->ttl, w->ttl);
        CHECK_INT(g->naddrs, w->naddrs);
        CHECK_MEM(g->addrs, w->addrs, sizeof(g->addrs));
        if (w->naddrs)
            CHECK(pw_addr_equal(&g->last, &w->last));
        CHECK_MEM(&g->stats, &w->stats, sizeof(g->stats));
    }
}

static void test_hops(void)
{
    /* Hand-made: hop 2 lost in the newest sample, the destination moves from TTL 4 to 3. */
    static const struct hop_sample hs[] = {
        {{1000, 2000, 3000, 4000}, 4, true, 1}, {{1100, -1, 3100, 4100}, 4, true, 1},
        {{1200, 2200, 3200, -1}, 4, false, 1},  {{900, 2100, 3300, 4200}, 4, true, 2},
        {{1000, 2500, 3000}, 3, true, 2},       {{1300, 2400, 3100, 4000, -1, -1}, 6, false, 2},
        {{1000, 2000, 2990}, 3, true, 1},       {{1010, -1, 3010}, 3, true, 1},
    };
    const size_t n = sizeof(hs) / sizeof(hs[0]);
    char *dir = tmpdir_new();
    struct pw_store *s = open_store(dir, false, 0, 0);
    struct pw_store_target t = {0};
    struct pw_report *got = calloc(1, sizeof(*got)), *want = calloc(1, sizeof(*want));
    struct pw_addr a;
    char text[32];

    snprintf(t.host, sizeof(t.host), "dest.sim.example");
    pw_addr_parse("198.18.3.1", &t.addr);
    pw_trace_opts_default(&t.opts);
    t.opts.proto = PW_PROTO_UDP;
    CHECK_INT(pw_store_target_add(s, &t), 0);
    for (size_t i = 0; i < n; i++) {
        struct pw_store_route r;
        struct pw_store_sample smp = {.time_us = T0 + (int64_t)i * STEP,
                                      .nhops = (uint8_t)hs[i].nhops,
                                      .reached = hs[i].reached};

        hs_route(&hs[i], &r);
        CHECK_INT(pw_store_route_intern(s, &r, &smp.route_id), 0);
        for (int h = 0; h < hs[i].nhops; h++)
            smp.rtt_us[h] = hs[i].rtt[h] < 0 ? PW_RTT_LOST : hs[i].rtt[h];
        CHECK_INT(pw_store_add_sample(s, t.id, &smp), 0);
    }
    pw_addr_parse("198.18.1.1", &a);
    CHECK_INT(pw_store_dns_put(s, &a, "gw.sim.example", 0), 0);
    pw_addr_parse("198.18.2.1", &a);
    CHECK_INT(pw_store_dns_put(s, &a, PW_DNS_NONE, 0), 0);
    CHECK_INT(pw_store_flush(s), 0);

    /* Exact values: focus 3 = the last three samples. */
    CHECK_INT(pw_store_hops(s, t.id, 3, 0, got), 0);
    CHECK_STR(got->target, "dest.sim.example");
    CHECK_INT(got->proto, PW_PROTO_UDP);
    CHECK_INT(got->samples, 3);
    CHECK_INT(got->nhops, 3); /* the newest sample that reached: TTL 3 */
    CHECK_INT(got->hop[1].stats.sent, 3);
    CHECK_INT(got->hop[1].stats.lost, 1);
    CHECK(got->hop[1].stats.cur_lost); /* ERR */
    CHECK_NEAR(got->hop[1].stats.loss_pct, 100.0 / 3.0, 1e-9);
    CHECK_NEAR(got->hop[1].stats.avg_ms, 2.2, 1e-12);
    CHECK_NEAR(got->hop[2].stats.avg_ms, (3.1 + 2.99 + 3.01) / 3, 1e-12);
    CHECK_NEAR(got->hop[0].stats.cur_ms, 1.01, 1e-12);
    CHECK_INT(got->hop[0].naddrs, 2); /* ECMP-like: .2 then .1 */
    CHECK_STR(pw_addr_format(&got->hop[0].last, text, sizeof(text)), "198.18.1.1");
    CHECK_STR(got->hop[0].dns, "gw.sim.example");
    CHECK_STR(got->hop[1].dns, PW_DNS_NONE);
    CHECK_STR(got->hop[2].dns, "");

    /* Against the live accumulator, for every window and every point in time. */
    for (size_t upto = 1; upto <= n; upto++) {
        for (uint32_t focus = 0; focus <= n + 1; focus++) {
            struct pw_report_acc *acc = pw_report_acc_new(30, 64);

            for (size_t i = 0; i < upto; i++) {
                struct pw_hop_result h[6];
                struct pw_sample ps = {
                    .nhops = (uint8_t)hs[i].nhops, .reached = hs[i].reached, .hop = h};

                memset(h, 0, sizeof(h));
                for (int k = 0; k < hs[i].nhops; k++) {
                    h[k].ttl = (uint8_t)(k + 1);
                    h[k].answered = hs[i].rtt[k] >= 0;
                    h[k].rtt_us = h[k].answered ? (uint32_t)hs[i].rtt[k] : 0;
                    h[k].reached = hs[i].reached && k == hs[i].nhops - 1;
                    snprintf(text, sizeof(text), "198.18.%d.%d", k + 1, hs[i].variant);
                    if (h[k].answered)
                        pw_addr_parse(text, &h[k].from);
                }
                pw_report_acc_add(acc, &ps);
            }
            pw_report_acc_finish(acc, focus, want);
            /* at = the time of sample upto-1 (plus a little: at or before). */
            CHECK_INT(pw_store_hops(s, t.id, focus, T0 + (int64_t)(upto - 1) * STEP + 7, got), 0);
            compare_reports(got, want);
            pw_report_acc_free(acc);
        }
    }
    CHECK_INT(pw_store_hops(s, 99, 10, 0, got), -ENOENT);
    /* A deleted target with samples still has its hop table. */
    CHECK_INT(pw_store_target_delete(s, t.id), 0);
    CHECK_INT(pw_store_hops(s, t.id, 10, 0, got), 0);
    CHECK_STR(got->target, "");
    CHECK_INT(got->samples, n);
    pw_store_close(s);
    free(got);
    free(want);
    tmpdir_free(dir);
}

/* ---- timeline against a brute force over the raw samples ---- */

struct bkt {
    int64_t start;
    unsigned hop;
    struct pw_store_bucket b;
};

struct bkts {
    struct bkt *v;
    size_t n, cap;
};

static int bucket_cb(void *arg, const struct pw_store_bucket *b)
{
    struct bkts *bs = arg;

    if (bs->n == bs->cap) {
        bs->cap = bs->cap ? bs->cap * 2 : 256;
        bs->v = realloc(bs->v, bs->cap * sizeof(*bs->v));
    }
    bs->v[bs->n++] = (struct bkt){b->start_us, b->hop, *b};
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Brute force: the buckets of series `hop` (-1 all TTLs, 0 final) from the raw samples. */
static void brute(const struct collect *all, int hop, int64_t start, int64_t end, int64_t res,
                  bool exact_pct, const struct bkts *got)
{
    int64_t bs = floor_div(start, res) * res, be = (floor_div(end - 1, res) + 1) * res;
    size_t gi = 0, nb = 0;
    int *vals = malloc(all->n * sizeof(int));

    for (int64_t b = bs; b < be; b += res) {
        for (unsigned series = 0; series <= 64; series++) {
            unsigned count = 0, lost = 0, nv = 0;
            double sum = 0, sq = 0;
            uint32_t hist[PW_STORE_HIST_BINS] = {0};

            if ((hop == -1 && series == 0) || (hop >= 0 && series != (unsigned)hop))
                continue;
            for (size_t i = 0; i < all->n; i++) {
                const struct pw_store_sample *s = &all->s[i];
                int v;

                if (s->time_us < b || s->time_us >= b + res)
                    continue;
                if (series == 0) {
                    if (!s->nhops || s->rtt_us[s->nhops - 1] == PW_STORE_RTT_SKIP)
                        continue;
                    v = s->rtt_us[s->nhops - 1];
                } else {
                    if (series > s->nhops || s->rtt_us[series - 1] == PW_STORE_RTT_SKIP)
                        continue;
                    v = s->rtt_us[series - 1];
                }
                count++;
                if (v < 0) {
                    lost++;
                    continue;
                }
                vals[nv++] = v;
                sum += v;
                hist[pw_store_hist_bin(v)]++;
            }
            if (!count)
                continue;
            nb++;
            if (gi >= got->n || got->v[gi].start != b || got->v[gi].hop != series) {
                CHECK(!"bucket missing or out of order");
                fprintf(stderr, "  want bucket %lld hop %u (res %lld)\n", (long long)b, series,
                        (long long)res);
                goto out;
            }
            {
                const struct pw_store_bucket *g = &got->v[gi++].b;
                double mean = nv ? sum / nv : 0;

                CHECK_INT(g->count, count);
                CHECK_INT(g->lost, lost);
                CHECK_INT(g->end_us - g->start_us, res);
                CHECK_MEM(g->hist, hist, sizeof(hist));
                CHECK(g->has_latency == (nv > 0));
                if (!nv)
                    continue;
                qsort(vals, nv, sizeof(int), cmp_int);
                for (unsigned k = 0; k < nv; k++)
                    sq += (vals[k] - mean) * (vals[k] - mean);
                CHECK_NEAR(g->min_ms, vals[0] / 1000.0, 1e-9);
                CHECK_NEAR(g->max_ms, vals[nv - 1] / 1000.0, 1e-9);
                CHECK_NEAR(g->avg_ms, mean / 1000.0, 1e-9);
                CHECK_NEAR(g->stddev_ms, sqrt(sq / nv) / 1000.0, 1e-6);
                {
                    const unsigned pct[3] = {10, 50, 90};
                    const double gp[3] = {g->p10_ms, g->p50_ms, g->p90_ms};

                    for (int p = 0; p < 3; p++) {
                        int exact = vals[(pct[p] * nv + 99) / 100 - 1];
                        unsigned bin = pw_store_hist_bin(exact);
                        double width = (double)(pw_store_hist_bound_us(bin) -
                                                (bin ? pw_store_hist_bound_us(bin - 1) : 0)) /
                                       1000.0;

                        if (exact_pct)
                            CHECK_NEAR(gp[p], exact / 1000.0, 1e-9);
                        else if (bin < PW_STORE_HIST_BINS - 1)
                            CHECK_NEAR(gp[p], exact / 1000.0, width);
                    }
                }
            }
        }
    }
    CHECK_INT(got->n, nb);
out:
    free(vals);
}

static void timeline_case(struct pw_store *s, const struct collect *all, int hop, int64_t start,
                          int64_t end, int64_t res, bool exact)
{
    struct bkts got = {0};

    CHECK_INT(pw_store_timeline(s, 1, hop, start, end, res, 0, bucket_cb, &got), 0);
    CHECK(got.n > 0);
    brute(all, hop, start, end, res, exact, &got);
    free(got.v);
}

static void test_timeline(void)
{
    char *dir = tmpdir_new();
    struct pw_store *s = open_store(dir, false, 0, 0);
    struct pw_store_sample smp;
    struct collect all = {0};
    const uint64_t n = 4 * 1440 + 77; /* a little over 4 hours */
    struct bkts got = {0};

    for (uint64_t i = 0; i < n; i++) {
        gen(1, i, (uint8_t)(i % 300 < 280 ? 5 : 4), &smp);
        if (i % 500 >= 480) { /* final hop only */
            for (unsigned h = 0; h + 1 < smp.nhops; h++)
                smp.rtt_us[h] = PW_STORE_RTT_SKIP;
        }
        if (i % 1000 == 3)
            smp.rtt_us[1] = 5000000 + 10 * (int32_t)i; /* seconds: the top bins */
        CHECK_INT(pw_store_add_sample(s, 1, &smp), 0);
        if (i % 50 == 0)
            CHECK_INT(pw_store_flush(s), 0);
        if (i == n / 2) { /* continuing rollups after a reopen */
            pw_store_close(s);
            s = open_store(dir, false, 0, 0);
        }
    }
    CHECK_INT(pw_store_flush(s), 0);
    CHECK_INT(pw_store_samples(s, 1, INT64_MIN, INT64_MAX, false, collect_cb, &all), 0);
    CHECK_INT(all.n, n);

    {
        int64_t a = T0 + 600 * INT64_C(1000000), b = T0 + (3 * 3600 + 17) * INT64_C(1000000);
        int64_t whole_a = T0 - 3600 * INT64_C(1000000), whole_b = T0 + 5 * 3600 * INT64_C(1000000);

        for (int hop = -1; hop <= 5; hop += 3) { /* -1, 2, 5 */
            timeline_case(s, &all, hop, a, b, 10 * INT64_C(1000000), true);
            timeline_case(s, &all, hop, a, b, 60 * INT64_C(1000000), false);
            timeline_case(s, &all, hop, a, b, 300 * INT64_C(1000000), false);
            timeline_case(s, &all, hop, whole_a, whole_b, 3600 * INT64_C(1000000), false);
            timeline_case(s, &all, hop, whole_a, whole_b, 7200 * INT64_C(1000000), false);
        }
        timeline_case(s, &all, 0, a, b, 30 * INT64_C(1000000), true);
        timeline_case(s, &all, 0, a, b, 120 * INT64_C(1000000), false);
        timeline_case(s, &all, 0, whole_a, whole_b, 3600 * INT64_C(1000000), false);
        timeline_case(s, &all, 3, a, b, 90 * INT64_C(1000000), true); /* not whole minutes */

        /* Automatic resolution: at most max_buckets buckets. */
        CHECK_INT(pw_store_timeline(s, 1, 0, whole_a, whole_b, 0, 50, bucket_cb, &got), 0);
        CHECK(got.n > 0 && got.n <= 50);
        if (got.n)
            CHECK_INT(got.v[0].b.end_us - got.v[0].b.start_us, 600 * INT64_C(1000000));
        brute(&all, 0, whole_a, whole_b, 600 * INT64_C(1000000), false, &got);
        CHECK_INT(pw_store_timeline(s, 1, 0, b, a, 0, 0, bucket_cb, &got), PW_E_RANGE);
        CHECK_INT(pw_store_timeline(s, 1, -2, a, b, 0, 0, bucket_cb, &got), -EINVAL);
    }
    {
        /* The plan: the resolution chosen and the range widened to whole buckets. */
        struct pw_store_timeline_plan p;
        const int64_t m = 60 * INT64_C(1000000), d7 = 7 * 86400 * INT64_C(1000000);

        CHECK_INT(pw_store_timeline_plan(T0, T0 + d7, 0, 1000, &p), 0);
        CHECK_INT(p.resolution_us, 15 * m); /* 10 min would be 1009 buckets or more */
        CHECK_INT(p.start_us, T0 / (15 * m) * (15 * m));
        CHECK_INT(p.end_us, ((T0 + d7 - 1) / (15 * m) + 1) * (15 * m));
        CHECK_INT(pw_store_timeline_plan(T0, T0 + 10 * m, 7 * m, 0, &p), 0);
        CHECK_INT(p.resolution_us, 7 * m);
        CHECK_INT((p.end_us - p.start_us) % (7 * m), 0);
        CHECK(p.start_us <= T0 && p.end_us >= T0 + 10 * m);
        /* The same plan for every "now" within one bucket: an answer keyed by it holds. */
        {
            struct pw_store_timeline_plan q;

            CHECK_INT(pw_store_timeline_plan(T0, T0 + d7 + 1000, 0, 1000, &q), 0);
            CHECK_INT(pw_store_timeline_plan(T0, T0 + d7, 0, 1000, &p), 0);
            CHECK(memcmp(&p, &q, sizeof(p)) == 0);
        }
        CHECK_INT(pw_store_timeline_plan(T0, T0, 0, 0, &p), PW_E_RANGE);
        CHECK_INT(pw_store_timeline_plan(T0, T0 + m, -1, 0, &p), PW_E_RANGE);
        CHECK_INT(pw_store_timeline_plan(INT64_MAX - 1, INT64_MAX, 0, 0, &p), 0);
        CHECK_INT(p.resolution_us, 0); /* beyond every sample: nothing to read */
    }
    pw_store_close(s);
    free(all.s);
    free(got.v);
    tmpdir_free(dir);
}

/* ---- export ---- */

static int export_cb(void *arg, const struct pw_store_export_row *row)
{
    struct pw_store_export_row *rows = arg;
    int i = 0;

    while (rows[i].hop)
        i++;
    rows[i] = *row;
    return 0;
}

static void test_export(void)
{
    char *dir = tmpdir_new();
    struct pw_store *s = open_store(dir, false, 0, 0);
    struct pw_store_route r;
    struct pw_store_sample smp = {.time_us = 100,
                                  .nhops = 3,
                                  .reached = true,
                                  .rtt_us = {PW_STORE_RTT_SKIP, PW_RTT_LOST, 1234}};
    struct pw_store_export_row rows[8];
    char text[64];

    make_route(&r, 0, 3);
    CHECK_INT(pw_store_route_intern(s, &r, &smp.route_id), 0);
    CHECK_INT(pw_store_dns_put(s, &r.hop[1], "mid.sim.example", 0), 0);
    CHECK_INT(pw_store_add_sample(s, 4, &smp), 0);
    CHECK_INT(pw_store_flush(s), 0);
    memset(rows, 0, sizeof(rows));
    CHECK_INT(pw_store_export(s, 4, 0, 1000, export_cb, rows), 0);
    CHECK_INT(rows[0].hop, 2); /* TTL 1 was not probed */
    CHECK_INT(rows[0].rtt_us, PW_RTT_LOST);
    CHECK_STR(pw_addr_format(&rows[0].ip, text, sizeof(text)), "198.18.2.1");
    CHECK_STR(rows[0].dns, "mid.sim.example");
    CHECK_INT(rows[1].hop, 3);
    CHECK_INT(rows[1].rtt_us, 1230); /* 10 µs units, rounded to nearest */
    CHECK_INT(rows[1].time_us, 100);
    CHECK_INT(rows[2].hop, 0);
    pw_store_close(s);
    tmpdir_free(dir);
}

/* ---- retention ---- */

struct keyset {
    int64_t t0[4096];
    uint32_t target[4096];
    int64_t end[4096];
    uint32_t nsamples[4096];
    size_t n;
};

static int scan_cb(void *arg, const MDB_val *k, const MDB_val *d)
{
    struct keyset *ks = arg;
    struct pw_block_info info;

    if (ks->n >= 4096)
        return 1;
    ks->target[ks->n] = pw_get_be32(k->mv_data);
    ks->t0[ks->n] = pw_get_time((const uint8_t *)k->mv_data + 4);
    ks->end[ks->n] = ks->t0[ks->n];
    ks->nsamples[ks->n] = 0;
    if (pw_block_info(d->mv_data, d->mv_size, &info) == 0) {
        ks->end[ks->n] += (int64_t)info.span_us;
        ks->nsamples[ks->n] = info.nsamples;
    }
    ks->n++;
    return 0;
}

static void test_retention(void)
{
    char *dir = tmpdir_new();
    struct pw_store_opts o = {.path = dir, .raw_retention_days = 2, .rollup_retention_days = 4};
    char err[256];
    struct pw_store *s = pw_store_open(&o, err, sizeof(err));
    const int64_t min = INT64_C(60000000), day = INT64_C(86400000000);
    struct keyset *before = calloc(3, sizeof(*before)), *after = calloc(3, sizeof(*after));
    static const enum pw_db dbs[3] = {PW_DB_SAMPLES, PW_DB_ROLLUP_M, PW_DB_ROLLUP_H};
    struct pw_store_stats st0, st1;
    struct pw_store_sample smp;
    int64_t now, last = 0, raw_cut, ru_cut;
    long total = 0, expect = 0, got;
    uint64_t gone_samples = 0;
    struct pw_store_route_change rc = {.target_id = 1, .old_route = 1, .new_route = 2};

    /* Six days of 64-hop samples every minute for two targets: many blocks. */
    for (int64_t i = 0; i < 6 * 1440; i++) {
        for (uint32_t t = 1; t <= 2; t++) {
            gen(t, (uint64_t)i, 64, &smp);
            smp.time_us = T0 + i * min + t;
            last = smp.time_us;
            CHECK_INT(pw_store_add_sample(s, t, &smp), 0);
        }
        if (i % 500 == 0)
            CHECK_INT(pw_store_flush(s), 0);
    }
    for (int d = 0; d < 6; d++) {
        rc.time_us = T0 + d * day;
        CHECK_INT(pw_store_route_change_add(s, &rc), 0);
    }
    CHECK_INT(pw_store_flush(s), 0);
    CHECK_INT(pw_store_stats(s, &st0), 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(pw_store_test_scan(s, dbs[i], scan_cb, &before[i]), 0);
    now = last + min;
    raw_cut = now - 2 * day;
    ru_cut = now - 4 * day;
    for (size_t k = 0; k < before[0].n; k++)
        if (before[0].end[k] < raw_cut) {
            expect++;
            gone_samples += before[0].nsamples[k];
        }
    for (size_t k = 0; k < before[1].n; k++)
        expect += before[1].t0[k] + 3600 * INT64_C(1000000) - 1 < ru_cut;
    for (size_t k = 0; k < before[2].n; k++)
        expect += before[2].t0[k] + day - 1 < ru_cut;
    for (int d = 0; d < 6; d++)
        expect += T0 + d * day < ru_cut; /* route changes */
    CHECK(before[0].n > 20);
    CHECK(expect > 30);

    while ((got = pw_store_retention(s, now, 7)) > 0) {
        CHECK(got <= 7);
        total += got;
    }
    CHECK_INT(got, 0);
    CHECK_INT(total, expect);
    for (int i = 0; i < 3; i++) {
        size_t j = 0;

        CHECK_INT(pw_store_test_scan(s, dbs[i], scan_cb, &after[i]), 0);
        /* Exactly the young records remain. */
        for (size_t k = 0; k < before[i].n; k++) {
            int64_t end = i == 0   ? before[i].end[k]
                          : i == 1 ? before[i].t0[k] + 3600 * INT64_C(1000000) - 1
                                   : before[i].t0[k] + day - 1;

            if (end < (i == 0 ? raw_cut : ru_cut))
                continue;
            CHECK(j < after[i].n && after[i].t0[j] == before[i].t0[k] &&
                  after[i].target[j] == before[i].target[k]);
            j++;
        }
        CHECK_INT(after[i].n, j);
    }
    CHECK_INT(pw_store_stats(s, &st1), 0);
    CHECK_INT(st1.samples, st0.samples - gone_samples);
    {
        struct pw_store_route_change ch[8];

        memset(ch, 0, sizeof(ch));
        int first = 0;

        while (T0 + first * day < ru_cut)
            first++;
        CHECK(first >= 2);
        CHECK_INT(pw_store_route_changes(s, 1, 0, INT64_MAX, change_cb, ch), 0);
        CHECK_INT(ch[0].time_us, T0 + first * day);
        CHECK_INT(ch[6 - first].time_us, 0);
    }
    /* Writing continues after retention dropped the writer's cached state. */
    for (uint32_t t = 1; t <= 2; t++) {
        gen(t, 99999, 64, &smp);
        smp.time_us = now;
        CHECK_INT(pw_store_add_sample(s, t, &smp), 0);
    }
    CHECK_INT(pw_store_flush(s), 0);
    {
        struct collect c = {0};

        CHECK_INT(pw_store_samples(s, 1, INT64_MIN, INT64_MAX, false, collect_cb, &c), 0);
        CHECK(c.n > 2 * 1440 && c.n < 3 * 1440);
        CHECK_INT(c.s[c.n - 1].time_us, now);
        for (size_t i = 1; i < c.n; i++)
            if (c.s[i].time_us <= c.s[i - 1].time_us) {
                CHECK(!"samples out of order after retention");
                break;
            }
        free(c.s);
    }
    pw_store_close(s);
    free(before);
    free(after);
    tmpdir_free(dir);
}

/* ---- map growth ---- */

static void test_map_growth(void)
{
    char *dir = tmpdir_new();
    struct pw_store *s = open_store(dir, false, 64 << 10, 0);
    struct pw_store_stats st;

    CHECK(s != NULL);
    CHECK_INT(write_range(s, 1, 0, 20000, 11, 1000), 0);
    CHECK_INT(pw_store_stats(s, &st), 0);
    CHECK(st.map_bytes > (64 << 10));
    CHECK(st.file_bytes > (64 << 10));
    check_range(s, 1, 20000, 11);
    pw_store_close(s);

    /* A map that may not grow further: the flush fails with -ENOSPC and keeps the batch. */
    {
        char *dir2 = tmpdir_new();
        struct pw_store_sample smp;
        int rc = 0;
        uint64_t i, flushed = 0;

        s = open_store(dir2, false, 64 << 10, 256 << 10);
        CHECK(s != NULL);
        for (i = 0; i < 100000 && rc == 0; i++) {
            gen(1, i, 30, &smp);
            CHECK_INT(pw_store_add_sample(s, 1, &smp), 0);
            if (i % 200 == 199) {
                rc = pw_store_flush(s);
                if (rc == 0)
                    flushed = i + 1;
            }
        }
        CHECK_INT(rc, -ENOSPC);
        CHECK_INT(pw_store_pending(s), 200);
        check_range(s, 1, flushed, 30); /* reads still work */
        pw_store_close(s);
        /* Reopened with room, the store holds exactly the batches that were flushed. */
        s = open_store(dir2, false, 0, 0);
        check_range(s, 1, flushed, 30);
        CHECK_INT(write_range(s, 1, flushed, flushed + 500, 30, 100), 0);
        check_range(s, 1, flushed + 500, 30);
        pw_store_close(s);
        tmpdir_free(dir2);
    }
    tmpdir_free(dir);
}

/* ---- a reader process while the writer writes (and grows the map) ---- */

#define RD_TOTAL 30000
#define RD_BATCH 250

struct count_ctx {
    uint64_t n;
    bool bad;
};

/* Counts target 1's samples, checking their values (route ids may come from interning). */
static int count_cb(void *arg, const struct pw_store_sample *smp)
{
    struct count_ctx *c = arg;
    struct pw_store_sample want;

    gen(1, c->n, 11, &want);
    want.route_id = smp->route_id;
    if (!sample_eq(smp, &want))
        c->bad = true;
    c->n++;
    return 0;
}

static void test_reader_process(void)
{
    char *dir = tmpdir_new();
    int go[2], status;
    pid_t pid;
    struct pw_store *s;
    struct pw_store_stats st;

    CHECK_INT(pipe(go), 0);
    pid = fork();
    if (pid == 0) {
        struct pw_store *r;
        char c;
        uint64_t seen = 0, polls = 0;

        close(go[1]);
        alarm(60);
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        r = open_store(dir, true, 0, 0);
        if (!r)
            _exit(3);
        while (seen < RD_TOTAL) {
            struct count_ctx cc = {0, false};

            if (pw_store_samples(r, 1, INT64_MIN, INT64_MAX, false, count_cb, &cc) != 0 || cc.bad)
                _exit(4);
            /* A batch is all there or not at all, and nothing goes backwards. */
            if (cc.n % RD_BATCH != 0 || cc.n < seen)
                _exit(5);
            seen = cc.n;
            polls++;
        }
        pw_store_close(r);
        _exit(polls > 1 ? 0 : 6);
    }
    close(go[0]);
    s = open_store(dir, false, 128 << 10, 0);
    CHECK(s != NULL);
    CHECK_INT(write_range(s, 1, 0, RD_BATCH, 11, RD_BATCH), 0);
    CHECK_INT(write(go[1], "g", 1), 1);
    for (uint64_t i = RD_BATCH; i < RD_TOTAL; i += RD_BATCH) {
        CHECK_INT(write_range(s, 1, i, i + RD_BATCH, 11, 0), 0);
        usleep(200);
    }
    CHECK_INT(pw_store_stats(s, &st), 0);
    CHECK(st.map_bytes > (128 << 10)); /* the reader saw the map grow */
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
    close(go[1]);
    pw_store_close(s);
    tmpdir_free(dir);
}

/* ---- snapshots and reader handles ---- */

static void test_snapshots(void)
{
    char *dir = tmpdir_new();
    struct pw_store *s = open_store(dir, false, 0, 0);
    struct pw_store *rd, *rd2;
    struct pw_store_target t, got;
    struct count_ctx cc = {0, false};
    uint64_t v1 = 0, v2 = 0, v3 = 0;

    CHECK(s != NULL);
    memset(&t, 0, sizeof(t));
    snprintf(t.host, sizeof(t.host), "192.0.2.1");
    pw_trace_opts_default(&t.opts);
    CHECK_INT(pw_store_target_add(s, &t), 0);
    CHECK_INT(write_range(s, 1, 0, 100, 11, 0), 0);
    rd = pw_store_reader_new(s);
    rd2 = pw_store_reader_new(rd); /* a reader of a reader belongs to the store */
    CHECK(rd != NULL && rd2 != NULL);

    /* The writer's own handle takes no snapshot; readers do, one at a time. */
    CHECK_INT(pw_store_snapshot_begin(s, &v1), -EINVAL);
    CHECK_INT(pw_store_snapshot_begin(rd, &v1), 0);
    CHECK_INT(pw_store_snapshot_begin(rd, &v2), -EBUSY);
    CHECK_INT(pw_store_samples(rd, 1, INT64_MIN, INT64_MAX, false, count_cb, &cc), 0);
    CHECK_INT(cc.n, 100);

    /* The writer commits more and changes the target: the snapshot still sees the old state,
     * a reader without one the new state. */
    CHECK_INT(write_range(s, 1, 100, 250, 11, 0), 0);
    snprintf(t.label, sizeof(t.label), "renamed");
    CHECK_INT(pw_store_target_update(s, &t), 0);
    cc = (struct count_ctx){0, false};
    CHECK_INT(pw_store_samples(rd, 1, INT64_MIN, INT64_MAX, false, count_cb, &cc), 0);
    CHECK_INT(cc.n, 100);
    CHECK_INT(pw_store_target_get(rd, 1, &got), 0);
    CHECK_STR(got.label, "");
    CHECK_INT(pw_store_target_get(rd2, 1, &got), 0);
    CHECK_STR(got.label, "renamed");
    CHECK_INT(pw_store_snapshot_begin(rd2, &v3), 0);
    CHECK(v3 > v1); /* two commits later */
    pw_store_snapshot_end(rd2);
    pw_store_snapshot_end(rd);
    pw_store_snapshot_end(rd); /* nothing pinned: no-op */

    cc = (struct count_ctx){0, false};
    CHECK_INT(pw_store_samples(rd, 1, INT64_MIN, INT64_MAX, false, count_cb, &cc), 0);
    CHECK_INT(cc.n, 250);
    CHECK_INT(pw_store_snapshot_begin(rd, &v2), 0);
    CHECK(v2 == v3); /* nothing committed since: the same version */
    pw_store_snapshot_end(rd);

    /* Readers never write. */
    CHECK_INT(pw_store_target_delete(rd, 1), -EROFS);
    CHECK_INT(pw_store_add_sample(rd, 1, &(struct pw_store_sample){.time_us = T0 * 2}), -EROFS);
    pw_store_close(rd2);
    pw_store_close(rd);
    pw_store_close(s);

    /* A read-only store takes snapshots on its own handle. */
    s = open_store(dir, true, 0, 0);
    CHECK(s != NULL);
    CHECK_INT(pw_store_snapshot_begin(s, &v1), 0);
    CHECK(v1 == v2);
    pw_store_snapshot_end(s);
    pw_store_close(s);
    tmpdir_free(dir);
}

#define TH_READERS 4
#define TH_TOTAL 20000
#define TH_BATCH 200

struct th_ctx {
    struct pw_store *rd;
    atomic_bool *done;
    uint64_t polls, max_seen;
    int fail; /* the first failure, as a line number */
};

/* One reader thread: snapshots that stay consistent and never go backwards, while the writer
 * (in this process or another) writes and grows the map. */
static void *th_reader(void *arg)
{
    struct th_ctx *c = arg;
    uint64_t last_v = 0, seen = 0;

    while (!c->fail) {
        struct count_ctx a = {0, false}, b = {0, false};
        struct pw_report *rep;
        uint64_t v;
        bool finished = atomic_load(c->done);
        int rc = pw_store_snapshot_begin(c->rd, &v);

        if (rc != 0) {
            c->fail = __LINE__;
            break;
        }
        if (v < last_v)
            c->fail = __LINE__;
        last_v = v;
        if (pw_store_samples(c->rd, 1, INT64_MIN, INT64_MAX, false, count_cb, &a) != 0 || a.bad)
            c->fail = __LINE__;
        rep = calloc(1, sizeof(*rep));
        if (!rep || (a.n && pw_store_hops(c->rd, 1, 10, 0, rep) != 0) ||
            (a.n && rep->samples != (a.n < 10 ? a.n : 10)))
            c->fail = __LINE__;
        free(rep);
        /* The same snapshot gives the same answer, however much was committed meanwhile. */
        if (pw_store_samples(c->rd, 1, INT64_MIN, INT64_MAX, true, count_cb, &b) != 0 || b.n != a.n)
            c->fail = __LINE__;
        pw_store_snapshot_end(c->rd);
        /* A batch is all there or not at all, and nothing goes backwards. */
        if (a.n % TH_BATCH != 0 || a.n < seen)
            c->fail = __LINE__;
        seen = a.n;
        c->polls++;
        if (finished)
            break;
    }
    c->max_seen = seen;
    return NULL;
}

/* Starts TH_READERS reader threads on s; returns how many started. */
static unsigned th_start(struct pw_store *s, struct th_ctx *c, pthread_t *th, atomic_bool *done)
{
    unsigned n = 0;

    for (; n < TH_READERS; n++) {
        c[n] = (struct th_ctx){pw_store_reader_new(s), done, 0, 0, 0};
        if (!c[n].rd || pthread_create(&th[n], NULL, th_reader, &c[n]) != 0) {
            pw_store_close(c[n].rd);
            break;
        }
    }
    return n;
}

/* Joins the threads; returns the first failure line (0 = none). */
static int th_join(struct th_ctx *c, pthread_t *th, unsigned n, uint64_t want)
{
    int fail = n == TH_READERS ? 0 : __LINE__;

    for (unsigned i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        pw_store_close(c[i].rd);
        if (!fail && c[i].fail)
            fail = c[i].fail;
        if (!fail && (c[i].max_seen != want || c[i].polls < 2))
            fail = __LINE__;
    }
    return fail;
}

static void test_reader_threads(void)
{
    char *dir = tmpdir_new();
    struct th_ctx c[TH_READERS];
    pthread_t th[TH_READERS];
    atomic_bool done = false;
    struct pw_store_stats st;
    struct pw_store *s;
    unsigned n;
    int go[2], ready[2], status, fail;
    pid_t pid;

    /* Threads of the writer's process: the writer grows the map under them. */
    s = open_store(dir, false, 128 << 10, 0);
    CHECK(s != NULL);
    CHECK_INT(write_range(s, 1, 0, TH_BATCH, 11, 0), 0);
    n = th_start(s, c, th, &done);
    for (uint64_t i = TH_BATCH; i < TH_TOTAL; i += TH_BATCH)
        CHECK_INT(write_range(s, 1, i, i + TH_BATCH, 11, 0), 0);
    atomic_store(&done, true);
    CHECK_INT(th_join(c, th, n, TH_TOTAL), 0);
    CHECK_INT(pw_store_stats(s, &st), 0);
    CHECK(st.map_bytes > (128 << 10));
    pw_store_close(s);
    tmpdir_free(dir);

    /* Threads of a read-only process: they adopt the map the other process grew
     * (MDB_MAP_RESIZED) while their siblings read. */
    dir = tmpdir_new();
    atomic_store(&done, false);
    CHECK_INT(pipe(go), 0);
    CHECK_INT(pipe(ready), 0);
    pid = fork();
    if (pid == 0) {
        struct pw_store *r;
        struct pw_store_stats before, after;
        char ch;

        close(go[1]);
        close(ready[0]);
        alarm(60);
        if (read(go[0], &ch, 1) != 1)
            _exit(2);
        r = open_store(dir, true, 0, 0);
        if (!r || pw_store_stats(r, &before) != 0)
            _exit(3);
        n = th_start(r, c, th, &done);
        if (write(ready[1], "r", 1) != 1)
            _exit(7);
        /* The writer closes the pipe when it has written everything. */
        if (read(go[0], &ch, 1) != 0)
            _exit(4);
        atomic_store(&done, true);
        fail = th_join(c, th, n, TH_TOTAL);
        if (fail) {
            fprintf(stderr, "reader thread failed at line %d\n", fail);
            _exit(5);
        }
        if (pw_store_stats(r, &after) != 0 || after.map_bytes <= before.map_bytes)
            _exit(6);
        pw_store_close(r);
        _exit(0);
    }
    close(go[0]);
    close(ready[1]);
    s = open_store(dir, false, 128 << 10, 0);
    CHECK(s != NULL);
    CHECK_INT(write_range(s, 1, 0, TH_BATCH, 11, TH_BATCH), 0);
    CHECK_INT(write(go[1], "g", 1), 1);
    {
        char ch;

        CHECK_INT(read(ready[0], &ch, 1), 1); /* the readers run: write under them */
        close(ready[0]);
    }
    for (uint64_t i = TH_BATCH; i < TH_TOTAL; i += TH_BATCH) {
        CHECK_INT(write_range(s, 1, i, i + TH_BATCH, 11, 0), 0);
        usleep(100);
    }
    close(go[1]);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
    pw_store_close(s);
    tmpdir_free(dir);
}

/* ---- kill -9 at random moments ---- */

#define CR_BATCH 40
#define CR_TARGETS 3

static uint64_t stored_count(struct pw_store *s, uint32_t target)
{
    struct count_ctx cc = {0, false};

    if (pw_store_samples(s, target, INT64_MIN, INT64_MAX, false, count_cb, &cc) != 0)
        return UINT64_MAX;
    return cc.bad ? UINT64_MAX : cc.n;
}

static int crash_count_cb(void *arg, const struct pw_store_sample *smp)
{
    (void)smp;
    ((struct count_ctx *)arg)->n++;
    return 0;
}

static void crash_child(const char *dir, int fd)
{
    struct pw_store *s = open_store(dir, false, 64 << 10, 0);
    struct pw_store_sample smp;
    uint64_t next;

    if (!s)
        _exit(2);
    next = stored_count(s, 1);
    if (next == UINT64_MAX || next % CR_BATCH)
        _exit(3);
    for (uint64_t k = next / CR_BATCH;; k++) {
        for (uint64_t i = k * CR_BATCH; i < (k + 1) * CR_BATCH; i++)
            for (uint32_t t = 1; t <= CR_TARGETS; t++) {
                struct pw_store_route r;

                gen(t, i, 11, &smp);
                make_route(&r, (unsigned)(i / 97), 11);
                if (pw_store_route_intern(s, &r, &smp.route_id) != 0 ||
                    pw_store_add_sample(s, t, &smp) != 0)
                    _exit(4);
            }
        if (pw_store_flush(s) != 0)
            _exit(5);
        if (write(fd, &k, sizeof(k)) != sizeof(k))
            _exit(6);
    }
}

static void test_crash(void)
{
    char *dir = tmpdir_new();
    unsigned seed = 12345;
    int64_t last_reported = -1;

    for (int round = 0; round < 20; round++) {
        int p[2], status;
        pid_t pid;
        uint64_t k;
        int64_t reported = last_reported;
        struct pw_store *s;
        uint64_t n[CR_TARGETS + 1];

        CHECK_INT(pipe(p), 0);
        pid = fork();
        if (pid == 0) {
            close(p[0]);
            crash_child(dir, p[1]);
        }
        close(p[1]);
        usleep(2000 + rand_r(&seed) % 60000);
        kill(pid, SIGKILL);
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while (read(p[0], &k, sizeof(k)) == sizeof(k))
            reported = (int64_t)k;
        close(p[0]);

        /* The store opens; every target holds the same whole batches: all that were reported
         * flushed, and at most the one being reported when the kill came. */
        s = open_store(dir, false, 0, 0);
        CHECK(s != NULL);
        if (!s)
            break;
        for (uint32_t t = 1; t <= CR_TARGETS; t++) {
            struct count_ctx cc = {0, false};

            CHECK_INT(pw_store_samples(s, t, INT64_MIN, INT64_MAX, false, crash_count_cb, &cc), 0);
            n[t] = cc.n;
            CHECK_INT(n[t], n[1]);
        }
        CHECK_INT(n[1] % CR_BATCH, 0);
        CHECK((int64_t)(n[1] / CR_BATCH) - 1 >= reported);
        CHECK((int64_t)(n[1] / CR_BATCH) - 1 <= reported + 1);
        /* Values, and rollups consistent with the raw samples. */
        {
            struct collect c = {0};
            struct bkts b = {0};
            uint64_t sum = 0;
            size_t bad = 0;

            CHECK_INT(pw_store_samples(s, 2, INT64_MIN, INT64_MAX, false, collect_cb, &c), 0);
            for (size_t i = 0; i < c.n; i++) {
                struct pw_store_sample want;

                gen(2, i, 11, &want);
                want.route_id = c.s[i].route_id;
                bad += !sample_eq(&c.s[i], &want);
            }
            CHECK_INT(bad, 0);
            CHECK_INT(pw_store_timeline(s, 2, 0, T0 - 3600000000, T0 + 30 * 86400000000, 60000000,
                                        0, bucket_cb, &b),
                      0);
            for (size_t i = 0; i < b.n; i++)
                sum += b.v[i].b.count;
            CHECK_INT(sum, c.n);
            free(c.s);
            free(b.v);
        }
        pw_store_close(s);
        last_reported = (int64_t)(n[1] / CR_BATCH) - 1;
    }
    CHECK(last_reported > 20);
    tmpdir_free(dir);
}

/* ---- damaged records ---- */

/* Damages record `index` of db behind the store's back: one flipped bit, or garbage. */
static void corrupt(const char *dir, const char *db, int index, bool garbage)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, d;
    uint8_t buf[16384];
    int i = 0, rc;

    CHECK_INT(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 32);
    CHECK_INT(mdb_env_open(env, dir, 0, 0660), 0);
    CHECK_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
    CHECK_INT(mdb_dbi_open(txn, db, 0, &dbi), 0);
    CHECK_INT(mdb_cursor_open(txn, dbi, &c), 0);
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && i < index; i++)
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    CHECK_INT(rc, 0);
    if (rc == 0 && d.mv_size <= sizeof(buf)) {
        memcpy(buf, d.mv_data, d.mv_size);
        if (garbage)
            memset(buf + 1, 0xA5, d.mv_size - 1 > 20 ? 20 : d.mv_size - 1);
        else
            buf[d.mv_size / 2] ^= 0x10;
        d.mv_data = buf;
        CHECK_INT(mdb_cursor_put(c, &k, &d, MDB_CURRENT), 0);
    }
    mdb_cursor_close(c);
    CHECK_INT(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void test_corrupt(void)
{
    char *dir = tmpdir_new();
    struct pw_store *s = open_store(dir, false, 0, 0);
    struct pw_store_target t = {0};
    struct keyset *ks = calloc(1, sizeof(*ks));
    struct pw_report *rep = calloc(1, sizeof(*rep));
    struct collect c = {0};
    struct bkts b = {0};
    int n = 0;

    snprintf(t.host, sizeof(t.host), "a.sim.example");
    pw_trace_opts_default(&t.opts);
    CHECK_INT(pw_store_target_add(s, &t), 0);
    CHECK_INT(pw_store_target_add(s, &t), 0);
    CHECK_INT(write_range(s, 1, 0, 3000, 11, 100), 0);
    CHECK_INT(write_range(s, 2, 0, 10, 11, 0), 0);
    CHECK_INT(pw_store_test_scan(s, PW_DB_SAMPLES, scan_cb, ks), 0);
    CHECK(ks->n >= 4);
    pw_store_close(s);
    corrupt(dir, "samples", 1, false);  /* target 1's second block: a flipped bit */
    corrupt(dir, "rollup_m", 1, false); /* target 1's second hour */
    corrupt(dir, "targets", 1, true);   /* target 2's record: garbage */

    s = open_store(dir, true, 0, 0);
    CHECK_INT(pw_store_samples(s, 1, INT64_MIN, INT64_MAX, false, collect_cb, &c), PW_E_MALFORMED);
    CHECK_INT(c.n, 3000 - ks->nsamples[1]); /* every other block still read */
    for (size_t i = 1; i < c.n; i++)
        if (c.s[i].time_us <= c.s[i - 1].time_us) {
            CHECK(!"order");
            break;
        }
    CHECK_INT(
        pw_store_timeline(s, 1, 0, T0 - 3600000000, T0 + 86400000000, 60000000, 0, bucket_cb, &b),
        PW_E_MALFORMED);
    {
        /* Every minute with samples but those of the damaged (second) hour. */
        int64_t hour2 = (T0 / 3600000000 + 1) * 3600000000, prev = INT64_MIN;
        size_t want = 0;

        for (uint64_t i = 0; i < 3000; i++) {
            struct pw_store_sample smp;
            int64_t m;

            gen(1, i, 11, &smp);
            m = smp.time_us / 60000000;
            if (m != prev && (smp.time_us < hour2 || smp.time_us >= hour2 + 3600000000))
                want++;
            prev = m;
        }
        CHECK_INT(b.n, want);
    }
    CHECK_INT(pw_store_hops(s, 1, 10, 0, rep), 0); /* the newest block is fine */
    CHECK_INT(rep->samples, 10);
    CHECK_INT(pw_store_target_list(s, count_target, &n), PW_E_MALFORMED);
    CHECK_INT(n, 1);
    pw_store_close(s);

    /* A damaged newest block: the writer starts a new one and goes on. */
    corrupt(dir, "samples", (int)ks->n - 2, false); /* target 1's last block */
    s = open_store(dir, false, 0, 0);
    {
        struct pw_store_sample smp;

        gen(1, 5000, 11, &smp);
        CHECK_INT(pw_store_add_sample(s, 1, &smp), 0);
        CHECK_INT(pw_store_flush(s), 0);
        c.n = 0;
        CHECK_INT(pw_store_samples(s, 1, INT64_MIN, INT64_MAX, true, collect_cb, &c),
                  PW_E_MALFORMED);
        CHECK(c.n > 0 && c.s[0].time_us == smp.time_us);
    }
    pw_store_close(s);
    free(c.s);
    free(b.v);
    free(ks);
    free(rep);
    tmpdir_free(dir);
}

/* ---- a full disk (a small tmpfs in a private mount namespace; needs root) ---- */

static void test_disk_full(void)
{
    char *dir = tmpdir_new();
    pid_t pid;
    int status;

    pid = fork();
    if (pid == 0) {
        struct pw_store *s;
        struct pw_store_sample smp;
        uint64_t i, flushed = 0;
        int rc = 0;

        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("pwtest", dir, "tmpfs", 0, "size=768k") != 0)
            _exit(77);
        s = open_store(dir, false, 0, 0);
        if (!s)
            _exit(2);
        for (i = 0; i < 400000 && rc == 0; i++) {
            gen(1, i, 30, &smp);
            if (pw_store_add_sample(s, 1, &smp) != 0)
                _exit(3);
            if (i % 500 == 499) {
                rc = pw_store_flush(s);
                if (rc == 0)
                    flushed = i + 1;
            }
        }
        if (rc != -ENOSPC || pw_store_pending(s) != 500)
            _exit(4);
        /* More samples keep buffering; with room again, everything lands. */
        for (uint64_t j = 0; j < 100; j++, i++) {
            gen(1, i, 30, &smp);
            if (pw_store_add_sample(s, 1, &smp) != 0)
                _exit(5);
        }
        if (mount(NULL, dir, NULL, MS_REMOUNT, "size=64m") != 0)
            _exit(6);
        if (pw_store_flush(s) != 0)
            _exit(7);
        pw_store_close(s);
        s = open_store(dir, false, 0, 0);
        if (!s || flushed == 0)
            _exit(8);
        check_range(s, 1, i, 30);
        pw_store_close(s);
        if (check_failures)
            _exit(9);
        umount(dir);
        _exit(0);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        fprintf(stderr, "skip test_disk_full: no private tmpfs (needs root)\n");
    else
        CHECK_INT(WEXITSTATUS(status), 0);
    tmpdir_free(dir);
}

int main(void)
{
    RUN(test_open_and_version);
    RUN(test_reader_permissions);
    RUN(test_targets_and_configs);
    RUN(test_comments_sessions_changes_dns);
    RUN(test_routes);
    RUN(test_samples_blocks_reopen);
    RUN(test_hops);
    RUN(test_timeline);
    RUN(test_export);
    RUN(test_retention);
    RUN(test_map_growth);
    RUN(test_reader_process);
    RUN(test_snapshots);
    RUN(test_reader_threads);
    RUN(test_crash);
    RUN(test_corrupt);
    RUN(test_disk_full);
    return check_exit();
}
