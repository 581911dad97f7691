/* Benchmark: the LMDB store against SQLite with the specification's schema (one row per hop per
 * sample, plus idx_samples_target_time), the same synthetic data written into both in the same
 * run. Prints bytes on disk per hop-sample, ingest rates, and the server time of a 7-day
 * timeline and of a focus-10 hop table, each as a ratio to SQLite, with PASS/MISS against the
 * targets (<= 3 bytes and <= 1/30 of SQLite per hop-sample; < 5 ms per query).
 *
 *   bench_store [TARGETS [DAYS [DIR]]]     defaults: 10 targets, 7 days, a directory in /tmp
 *
 * Data: 11 hops per sample every 2.5 s (±1 ms), RTTs rising along the path with exponential
 * jitter, 1 % independent loss per hop, rare latency spikes, a route change every ~2 days per
 * target (new responders and latencies from some hop on). Addresses are in 198.18.0.0/15 and
 * nothing is sent anywhere. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "num.h"
#include "store.h"

#define HOPS 11
#define STEP_US INT64_C(2500000)
#define T0 INT64_C(1700000000000000)
#define DAY_US INT64_C(86400000000)
#define LOAD_ROUNDS 24     /* bulk load: one minute of every target per commit */
#define DAEMON_ROUNDS 2000 /* daemon-like phase: one sample of every target per commit */
#define QUERY_REPEATS 200

struct tgt {
    uint64_t rng;
    int route; /* changes every ~2 days */
    int64_t next_change;
    double base_ms[HOPS]; /* latency of each hop on the current route */
    uint32_t route_id;
    char ip[HOPS][32];
    char dns[HOPS][48];
};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double urand(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void route_setup(struct tgt *t, unsigned id, int from_hop)
{
    for (int h = from_hop; h < HOPS; h++) {
        t->base_ms[h] = (h ? t->base_ms[h - 1] : 0.2) + 0.4 + 3.0 * urand(&t->rng);
        snprintf(t->ip[h], sizeof(t->ip[h]), "198.18.%d.%u", h + 1,
                 (id * 7 + (unsigned)t->route) % 250 + 1);
        snprintf(t->dns[h], sizeof(t->dns[h]), "ae-%d.r%02d.pop%u.sim.example", t->route, h + 1,
                 id);
    }
}

/* The next sample of target t (index idx): time and RTTs (µs; PW_RTT_LOST when lost). */
static void gen_sample(struct tgt *t, unsigned id, uint64_t idx, struct pw_store_sample *s,
                       bool *route_changed)
{
    int64_t time_us = T0 + (int64_t)idx * STEP_US + (int64_t)(urand(&t->rng) * 2000) - 1000;
    bool spike = urand(&t->rng) < 0.005;
    int spike_from = 1 + (int)(urand(&t->rng) * (HOPS - 1));

    *route_changed = false;
    if (time_us >= t->next_change) {
        t->route++;
        route_setup(t, id, 2 + (int)(urand(&t->rng) * 6));
        t->next_change = time_us + (int64_t)((1.5 + urand(&t->rng)) * DAY_US);
        *route_changed = true;
    }
    memset(s, 0, sizeof(*s));
    s->time_us = time_us;
    s->nhops = HOPS;
    s->reached = true;
    for (int h = 0; h < HOPS; h++) {
        /* Router control planes answer with jitter that grows along the path. */
        double ms = t->base_ms[h] - log(1.0 - urand(&t->rng)) * (0.15 + 0.05 * h);

        if (spike && h >= spike_from)
            ms += 20 + 60 * urand(&t->rng);
        s->rtt_us[h] = urand(&t->rng) < 0.01 ? PW_RTT_LOST : (int32_t)(ms * 1000.0);
    }
    s->reached = s->rtt_us[HOPS - 1] != PW_RTT_LOST;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static uint64_t file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    int i = (int)ceil(p * n) - 1;

    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[i < 0 ? 0 : i];
}

/* ---- SQLite, as the specification has it ---- */

struct sql {
    sqlite3 *db;
    sqlite3_stmt *ins;
};

static int sql_open(struct sql *q, const char *path)
{
    const char *schema =
        "CREATE TABLE samples (id INTEGER PRIMARY KEY AUTOINCREMENT, target_id TEXT, "
        "sampled_at TIMESTAMP NOT NULL, hop_number INTEGER NOT NULL, ip TEXT, dns TEXT, "
        "rtt_ms REAL, is_timeout BOOLEAN DEFAULT FALSE);"
        "CREATE INDEX idx_samples_target_time ON samples(target_id, sampled_at);";

    if (sqlite3_open(path, &q->db) != SQLITE_OK ||
        sqlite3_exec(q->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(q->db,
                           "INSERT INTO samples (target_id, sampled_at, hop_number, ip, dns, "
                           "rtt_ms, is_timeout) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           -1, &q->ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(q->db));
        return -1;
    }
    return 0;
}

static int sql_add(struct sql *q, const char *tid, const struct tgt *t,
                   const struct pw_store_sample *s)
{
    for (int h = 0; h < s->nhops; h++) {
        bool lost = s->rtt_us[h] < 0;

        sqlite3_bind_text(q->ins, 1, tid, -1, SQLITE_STATIC);
        sqlite3_bind_double(q->ins, 2, (double)s->time_us / 1e6);
        sqlite3_bind_int(q->ins, 3, h + 1);
        if (lost) {
            sqlite3_bind_null(q->ins, 4);
            sqlite3_bind_null(q->ins, 5);
            sqlite3_bind_null(q->ins, 6);
        } else {
            sqlite3_bind_text(q->ins, 4, t->ip[h], -1, SQLITE_STATIC);
            sqlite3_bind_text(q->ins, 5, t->dns[h], -1, SQLITE_STATIC);
            sqlite3_bind_double(q->ins, 6, s->rtt_us[h] / 1000.0);
        }
        sqlite3_bind_int(q->ins, 7, lost);
        if (sqlite3_step(q->ins) != SQLITE_DONE) {
            fprintf(stderr, "sqlite insert: %s\n", sqlite3_errmsg(q->db));
            return -1;
        }
        sqlite3_reset(q->ins);
    }
    return 0;
}

/* ---- the run ---- */

struct phase {
    double ours_s, sql_s;
    uint64_t hop_samples;
};

static int count_bucket(void *arg, const struct pw_store_bucket *b)
{
    (void)b;
    (*(int *)arg)++;
    return 0;
}

static const char *verdict(bool ok)
{
    return ok ? "PASS" : "MISS";
}

int main(int argc, char **argv)
{
    int64_t arg_targets = 10, arg_days = 7;
    int ntargets, days;
    char dir[512], lmdb_dir[600], sql_path[600], data_path[700];
    struct tgt *tg;
    struct pw_store *s;
    struct pw_store_opts o = {0};
    struct sql q = {0};
    struct phase load = {0}, daemon = {0};
    struct pw_store_stats st;
    char err[256];
    uint64_t rounds, idx = 0, hop_samples_7d;
    double ours_bytes, sql_bytes, t;
    int rc = 1;

    if ((argc > 1 &&
         pw_num_parse_i64(argv[1], 1, 1000, "targets", &arg_targets, err, sizeof(err)) != 0) ||
        (argc > 2 && pw_num_parse_i64(argv[2], 1, 60, "days", &arg_days, err, sizeof(err)) != 0)) {
        fprintf(stderr, "bench_store: %s\nusage: bench_store [TARGETS [DAYS [DIR]]]\n", err);
        return 2;
    }
    ntargets = (int)arg_targets;
    days = (int)arg_days;
    if (argc > 3)
        snprintf(dir, sizeof(dir), "%s", argv[3]);
    else
        snprintf(dir, sizeof(dir), "/tmp/pw_bench_store.%d", (int)getpid());
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        perror(dir);
        return 2;
    }
    snprintf(lmdb_dir, sizeof(lmdb_dir), "%s/store", dir);
    snprintf(sql_path, sizeof(sql_path), "%s/samples.db", dir);
    snprintf(data_path, sizeof(data_path), "%s/data.mdb", lmdb_dir);
    tg = calloc((size_t)ntargets, sizeof(*tg));
    o.path = lmdb_dir;
    s = pw_store_open(&o, err, sizeof(err));
    if (!tg || !s || sql_open(&q, sql_path) != 0) {
        fprintf(stderr, "bench_store: %s\n", s ? "cannot set up" : err);
        goto out;
    }
    for (int i = 0; i < ntargets; i++) {
        struct pw_store_target rec = {0};

        tg[i].rng = 0x9e3779b97f4a7c15u * (uint64_t)(i + 1);
        tg[i].next_change = T0 + (int64_t)((0.5 + urand(&tg[i].rng)) * DAY_US);
        route_setup(&tg[i], (unsigned)i, 0);
        snprintf(rec.host, sizeof(rec.host), "target%02d.sim.example", i);
        pw_trace_opts_default(&rec.opts);
        if (pw_store_target_add(s, &rec) != 0)
            goto out;
    }

    rounds = (uint64_t)days * (uint64_t)(DAY_US / STEP_US);
    printf("PingWatcher store benchmark: %d targets x %d hops x %d days at 2.5 s "
           "(%llu samples, %llu hop-samples), 1%% loss per hop\n",
           ntargets, HOPS, days, (unsigned long long)(rounds * (uint64_t)ntargets),
           (unsigned long long)(rounds * (uint64_t)ntargets * HOPS));
    printf("peer: SQLite %s with the specification's schema (one row per hop per sample, "
           "idx_samples_target_time), same data, same batches, durable commits\n\n",
           sqlite3_libversion());
    fflush(stdout);

    /* Both stores get the same samples in the same batches: time-ordered rounds, every
     * target interleaved, one commit per `per` rounds. */
    for (int phase = 0; phase < 2; phase++) {
        struct phase *ph = phase == 0 ? &load : &daemon;
        uint64_t end = phase == 0 ? rounds : rounds + DAEMON_ROUNDS;
        uint64_t per = phase == 0 ? LOAD_ROUNDS : 1;
        struct pw_store_sample *batch = malloc(per * (size_t)ntargets * sizeof(*batch));

        if (!batch)
            goto out;
        while (idx < end) {
            size_t n = 0;
            char tid[16];

            for (uint64_t r = 0; r < per && idx < end; r++, idx++) {
                for (int i = 0; i < ntargets; i++) {
                    bool changed;

                    gen_sample(&tg[i], (unsigned)i, idx, &batch[n], &changed);
                    if (changed || !tg[i].route_id) {
                        /* As the daemon: intern the route and name its hops once. */
                        struct pw_store_route route = {.nhops = HOPS};

                        for (int h = 0; h < HOPS; h++)
                            pw_addr_parse(tg[i].ip[h], &route.hop[h]);
                        if (pw_store_route_intern(s, &route, &tg[i].route_id) != 0)
                            goto out;
                        for (int h = 0; h < HOPS; h++)
                            pw_store_dns_put(s, &route.hop[h], tg[i].dns[h], batch[n].time_us);
                    }
                    batch[n].route_id = tg[i].route_id;
                    n++;
                }
            }
            t = now_s();
            for (size_t k = 0; k < n; k++)
                if (pw_store_add_sample(s, (uint32_t)(k % (size_t)ntargets) + 1, &batch[k]) != 0)
                    goto out;
            if (pw_store_flush(s) != 0)
                goto out;
            ph->ours_s += now_s() - t;

            t = now_s();
            sqlite3_exec(q.db, "BEGIN", NULL, NULL, NULL);
            for (size_t k = 0; k < n; k++) {
                int i = (int)(k % (size_t)ntargets);

                snprintf(tid, sizeof(tid), "t%03d", i + 1);
                if (sql_add(&q, tid, &tg[i], &batch[k]) != 0)
                    goto out;
            }
            if (sqlite3_exec(q.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
                goto out;
            ph->sql_s += now_s() - t;
            ph->hop_samples += n * HOPS;
        }
        free(batch);
        if (phase == 0) {
            /* Sizes cover exactly the 7 days. */
            if (pw_store_stats(s, &st) != 0)
                goto out;
            ours_bytes = (double)file_size(data_path);
            sql_bytes = (double)file_size(sql_path);
        }
    }
    hop_samples_7d = load.hop_samples;
    pw_store_close(s);

    {
        double ours_b = ours_bytes / (double)hop_samples_7d;
        double sql_b = sql_bytes / (double)hop_samples_7d;
        double load_ours = load.hop_samples / load.ours_s, load_sql = load.hop_samples / load.sql_s;
        double dmn_ours = daemon.hop_samples / daemon.ours_s;
        double dmn_sql = daemon.hop_samples / daemon.sql_s;

        printf("%-44s %14s %14s %10s  %-18s %s\n", "", "pingwatcher", "sqlite", "ratio", "target",
               "");
        printf("%-44s %14.2f %14.1f %10s  %-18s %s\n", "bytes on disk per hop-sample", ours_b,
               sql_b, "", "<= 3", verdict(ours_b <= 3.0));
        printf("%-44s %14s %14s   1/%-7.0f  %-18s %s\n", "  (ours / sqlite)", "", "",
               sql_b / ours_b, "<= 1/30", verdict(sql_b / ours_b >= 30.0));
        printf("%-44s %14.0f %14.0f %9.1fx\n", "ingest hop-samples/s, 1-minute batches", load_ours,
               load_sql, load_ours / load_sql);
        {
            char label[64];

            snprintf(label, sizeof(label), "ingest hop-samples/s, %d-sample batches", ntargets);
            printf("%-44s %14.0f %14.0f %9.1fx\n", label, dmn_ours, dmn_sql, dmn_ours / dmn_sql);
        }
        printf("  ours: data.mdb %.1f MiB (raw blocks %.1f MiB in %llu blocks, rollups %.1f MiB), "
               "sqlite %.1f MiB\n",
               ours_bytes / 1048576.0, st.raw_bytes / 1048576.0, (unsigned long long)st.blocks,
               st.rollup_bytes / 1048576.0, sql_bytes / 1048576.0);
    }
    fflush(stdout);

    /* Queries, as the web app makes them: a read-only handle, one call per request. */
    {
        double tl[QUERY_REPEATS], hp[QUERY_REPEATS], sql_tl[5], sql_hp[QUERY_REPEATS / 4];
        struct pw_report *r = calloc(1, sizeof(*r));
        int64_t end_us = T0 + (int64_t)days * DAY_US, start_us = end_us - 7 * DAY_US;
        int buckets = 0;
        sqlite3_stmt *qt = NULL, *qh = NULL;

        o.readonly = true;
        s = pw_store_open(&o, err, sizeof(err));
        if (!s || !r) {
            fprintf(stderr, "bench_store: %s\n", err);
            goto out;
        }
        for (int i = 0; i < QUERY_REPEATS; i++) {
            uint32_t id = (uint32_t)(i % ntargets) + 1;

            buckets = 0;
            t = now_s();
            if (pw_store_timeline(s, id, 0, start_us, end_us, 0, 1000, count_bucket, &buckets) != 0)
                goto out;
            tl[i] = (now_s() - t) * 1000.0;
            t = now_s();
            if (pw_store_hops(s, id, 10, 0, r) != 0 || r->nhops != HOPS)
                goto out;
            hp[i] = (now_s() - t) * 1000.0;
        }
        /* The same questions to SQLite: final hop per 10-minute bucket over 7 days, and the
         * last 10 samples of every hop (the specification's focus query, once per hop). */
        if (sqlite3_prepare_v2(q.db,
                               "SELECT CAST((sampled_at - ?1) / 600 AS INTEGER) AS b, COUNT(*), "
                               "SUM(is_timeout), MIN(rtt_ms), AVG(rtt_ms), MAX(rtt_ms) "
                               "FROM samples WHERE target_id = ?2 AND sampled_at >= ?1 AND "
                               "sampled_at < ?3 AND hop_number = ?4 GROUP BY b ORDER BY b",
                               -1, &qt, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(q.db,
                               "SELECT rtt_ms, is_timeout FROM samples WHERE target_id = ? AND "
                               "hop_number = ? ORDER BY sampled_at DESC LIMIT ?",
                               -1, &qh, NULL) != SQLITE_OK) {
            fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(q.db));
            goto out;
        }
        for (int i = 0; i < 5; i++) {
            char tid[16];

            snprintf(tid, sizeof(tid), "t%03d", i % ntargets + 1);
            t = now_s();
            sqlite3_bind_double(qt, 1, (double)start_us / 1e6);
            sqlite3_bind_text(qt, 2, tid, -1, SQLITE_TRANSIENT);
            sqlite3_bind_double(qt, 3, (double)end_us / 1e6);
            sqlite3_bind_int(qt, 4, HOPS);
            while (sqlite3_step(qt) == SQLITE_ROW)
                ;
            sqlite3_reset(qt);
            sql_tl[i] = (now_s() - t) * 1000.0;
        }
        for (int i = 0; i < QUERY_REPEATS / 4; i++) {
            char tid[16];

            snprintf(tid, sizeof(tid), "t%03d", i % ntargets + 1);
            t = now_s();
            for (int h = 1; h <= HOPS; h++) {
                sqlite3_bind_text(qh, 1, tid, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int(qh, 2, h);
                sqlite3_bind_int(qh, 3, 10);
                while (sqlite3_step(qh) == SQLITE_ROW)
                    ;
                sqlite3_reset(qh);
            }
            sql_hp[i] = (now_s() - t) * 1000.0;
        }
        sqlite3_finalize(qt);
        sqlite3_finalize(qh);
        {
            double tl50 = pct(tl, QUERY_REPEATS, 0.5), tl99 = pct(tl, QUERY_REPEATS, 0.99);
            double hp50 = pct(hp, QUERY_REPEATS, 0.5), hp99 = pct(hp, QUERY_REPEATS, 0.99);
            double stl50 = pct(sql_tl, 5, 0.5), stl99 = pct(sql_tl, 5, 0.99);
            double shp50 = pct(sql_hp, QUERY_REPEATS / 4, 0.5);
            double shp99 = pct(sql_hp, QUERY_REPEATS / 4, 0.99);

            printf("%-44s %11.3f ms %11.3f ms   1/%-7.0f  %-18s %s\n",
                   "7-day timeline, final hop, median", tl50, stl50, stl50 / tl50, "< 5 ms",
                   verdict(tl50 < 5.0));
            printf("%-44s %11.3f ms %11.3f ms   1/%-7.0f  %-18s %s\n",
                   "7-day timeline, final hop, p99", tl99, stl99, stl99 / tl99, "< 5 ms",
                   verdict(tl99 < 5.0));
            printf("%-44s %11.3f ms %11.3f ms   1/%-7.0f  %-18s %s\n",
                   "focus-10 hop table (11 hops), median", hp50, shp50, shp50 / hp50, "< 5 ms",
                   verdict(hp50 < 5.0));
            printf("%-44s %11.3f ms %11.3f ms   1/%-7.0f  %-18s %s\n",
                   "focus-10 hop table (11 hops), p99", hp99, shp99, shp99 / hp99, "< 5 ms",
                   verdict(hp99 < 5.0));
            printf("  timeline: %d buckets of 10 min from per-minute rollups; sqlite: 5 runs "
                   "of the GROUP BY over the index\n",
                   buckets);
        }
        free(r);
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "bench_store: failed\n");
    pw_store_close(s);
    if (q.ins)
        sqlite3_finalize(q.ins);
    if (q.db)
        sqlite3_close(q.db);
    free(tg);
    if (argc <= 3)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
