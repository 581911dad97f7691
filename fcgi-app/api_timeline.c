/* PingWatcher — the timeline graph's buckets and the route change log. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "response.h"
#include "timefmt.h"

/* Time buckets per hop at most, and buckets (time x hops) in one answer at most: a 7-day
 * timeline at 5-minute resolution is 2016 buckets. */
#define MAX_BUCKETS 2000
#define MAX_CELLS 20000
#define DEFAULT_POINTS 1000
#define MAX_RANGE_US (400 * 86400 * 1000000LL)
#define MAX_CHANGES 10000

static const struct pw_col bucket_cols[] = {
    {"start", "Time"},    {"hop", "Hop"},    {"count", "Samples"}, {"loss_pct", "PL%"},
    {"min_ms", "Min"},    {"avg_ms", "Avg"}, {"max_ms", "Max"},    {"p10_ms", "P10"},
    {"p50_ms", "Median"}, {"p90_ms", "P90"},
};

struct tl_ctx {
    struct pw_store_bucket *v; /* max entries, in the arena */
    uint32_t max, n;
    bool over;
};

/* Runs with the store held: only copies. */
static int bucket_cb(void *arg, const struct pw_store_bucket *b)
{
    struct tl_ctx *c = arg;

    if (c->n >= c->max) {
        c->over = true;
        return 1;
    }
    c->v[c->n++] = *b;
    return 0;
}

/* One field of every bucket: a latency (a double at offset), null where the bucket has no
 * answered probe. */
static void ms_column(struct pw_out *o, const char *key, const struct pw_store_bucket *v,
                      uint32_t n, size_t offset)
{
    pw_out_arr_begin(o, key);
    for (uint32_t i = 0; i < n; i++) {
        double ms;

        memcpy(&ms, (const char *)&v[i] + offset, sizeof(ms));
        pw_out_ms(o, NULL, v[i].has_latency, ms, false);
    }
    pw_out_arr_end(o);
}

/* The buckets in JSON: one array per field, in bucket order ("buckets": {"start_ms": [...],
 * "avg_ms": [...], ...}), rather than an object per bucket repeating every key: a 7-day
 * timeline is ~41 KB instead of ~158 KB, with the same information. Latencies are in ms to
 * the µs (the store keeps 10 µs), null where a bucket has no answered probe. Left out because
 * they follow from the rest: each bucket's end (start_ms + resolution_s), its loss percentage
 * (100 * lost / count) and its start as text. */
static void bucket_columns(struct pw_out *o, const struct pw_store_bucket *v, uint32_t n)
{
    pw_out_obj_begin(o, "buckets");
    pw_out_arr_begin(o, "start_ms");
    for (uint32_t i = 0; i < n; i++)
        pw_out_int(o, NULL, pw_timefmt_ms(v[i].start_us));
    pw_out_arr_end(o);
    pw_out_arr_begin(o, "hop");
    for (uint32_t i = 0; i < n; i++)
        pw_out_int(o, NULL, v[i].hop);
    pw_out_arr_end(o);
    pw_out_arr_begin(o, "count");
    for (uint32_t i = 0; i < n; i++)
        pw_out_uint(o, NULL, v[i].count);
    pw_out_arr_end(o);
    pw_out_arr_begin(o, "lost");
    for (uint32_t i = 0; i < n; i++)
        pw_out_uint(o, NULL, v[i].lost);
    pw_out_arr_end(o);
    ms_column(o, "min_ms", v, n, offsetof(struct pw_store_bucket, min_ms));
    ms_column(o, "avg_ms", v, n, offsetof(struct pw_store_bucket, avg_ms));
    ms_column(o, "max_ms", v, n, offsetof(struct pw_store_bucket, max_ms));
    ms_column(o, "p10_ms", v, n, offsetof(struct pw_store_bucket, p10_ms));
    ms_column(o, "p50_ms", v, n, offsetof(struct pw_store_bucket, p50_ms));
    ms_column(o, "p90_ms", v, n, offsetof(struct pw_store_bucket, p90_ms));
    ms_column(o, "stddev_ms", v, n, offsetof(struct pw_store_bucket, stddev_ms));
    pw_out_obj_end(o);
}

/* The buckets as an HTML table (HTMX): a row per bucket. */
static void bucket_row(struct pw_out *o, const struct pw_store_bucket *b)
{
    bool lat = b->has_latency;

    pw_out_row_begin(o, NULL);
    pw_out_time(o, "start", b->start_us);
    pw_out_int(o, "hop", b->hop);
    pw_out_uint(o, "count", b->count);
    pw_out_num(o, "loss_pct", true, b->count ? 100.0 * b->lost / b->count : 0, 2);
    pw_out_ms(o, "min_ms", lat, b->min_ms, false);
    pw_out_ms(o, "avg_ms", lat, b->avg_ms, false);
    pw_out_ms(o, "max_ms", lat, b->max_ms, false);
    pw_out_ms(o, "p10_ms", lat, b->p10_ms, false);
    pw_out_ms(o, "p50_ms", lat, b->p50_ms, false);
    pw_out_ms(o, "p90_ms", lat, b->p90_ms, false);
    pw_out_uint(o, "lost", b->lost);
    pw_out_ms(o, "stddev_ms", lat, b->stddev_ms, false);
    pw_out_int(o, "end_ms", b->end_us / 1000);
    pw_out_row_end(o);
}

/* start and end (default: the last hour); start < end, at most MAX_RANGE_US apart. */
static int param_range(struct pw_req *r, int64_t def_span, int64_t *start, int64_t *end)
{
    int rs, re;

    re = pw_kv_time(&r->params, "end", end, r->err, sizeof(r->err));
    if (re < 0)
        goto bad;
    if (re == 1)
        *end = pw_api_now_us();
    rs = pw_kv_time(&r->params, "start", start, r->err, sizeof(r->err));
    if (rs < 0)
        goto bad;
    if (rs == 1)
        *start = *end > def_span ? *end - def_span : 0;
    if (*start >= *end) {
        pw_resp_error(r, 400, NULL, "start must be before end");
        return PW_ANSWERED;
    }
    if (*end - *start > MAX_RANGE_US) {
        pw_resp_error(r, 400, NULL, "the range from start to end must be at most 400 days");
        return PW_ANSWERED;
    }
    return 0;
bad:
    pw_resp_error(r, 400, NULL, "%s", r->err);
    return PW_ANSWERED;
}

/* The answer's start: what the request asked for, "now" included (never cached). */
static void timeline_head(struct pw_req *r, uint32_t id, int64_t hop, int64_t start, int64_t end)
{
    pw_resp_begin(r);
    pw_out_uint(&r->out, "id", id);
    if (hop == 0)
        pw_out_str(&r->out, "hop", "last");
    else if (hop < 0)
        pw_out_str(&r->out, "hop", "all");
    else
        pw_out_int(&r->out, "hop", hop);
    pw_out_time(&r->out, "start", start);
    pw_out_time(&r->out, "end", end);
}

int pw_api_timeline(struct pw_req *r)
{
    static const char *const allowed[] = {"hop", "start", "end", "resolution", "points", NULL};
    struct pw_store_timeline_plan plan;
    struct pw_store_target t;
    struct pw_store *s;
    struct pw_kv *hk, *rk;
    struct tl_ctx c = {0};
    int64_t start, end, res = 0, points = 0, hop = 0, hops;
    char caption[PW_STORE_HOST_MAX + 64], key[160];
    uint32_t id;
    size_t from;
    int rc, klen;

    if (pw_api_params(r, allowed) || param_range(r, 3600 * 1000000LL, &start, &end))
        return 0;
    hk = pw_kvs_find(&r->params, "hop");
    if (hk && strcmp(hk->value, "last") == 0) {
        hop = 0;
    } else if (hk && strcmp(hk->value, "all") == 0) {
        hop = -1;
    } else if (pw_kv_i64(&r->params, "hop", 1, PW_TRACE_MAX_HOPS, &hop, r->err, sizeof(r->err)) <
               0) {
        return pw_resp_error(r, 400, NULL, "%s, last or all", r->err);
    }
    rk = pw_kvs_find(&r->params, "resolution");
    if (rk && strcmp(rk->value, "auto") != 0 &&
        pw_kv_duration(&r->params, "resolution", 1000000LL, 86400 * 1000000LL, &res, r->err,
                       sizeof(r->err)) < 0)
        return pw_resp_error(r, 400, NULL, "%s, or auto", r->err);
    rc = pw_kv_i64(&r->params, "points", 1, MAX_BUCKETS, &points, r->err, sizeof(r->err));
    if (rc < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    if (pw_api_target_id(r, 0, &id) || !(s = pw_api_store(r)))
        return 0;
    if (pw_api_target_load(r, s, id, &t))
        return 0;
    hops = hop < 0 ? (t.opts.max_hops ? t.opts.max_hops : PW_TRACE_MAX_HOPS) : 1;
    if (res) {
        int64_t nb = (end - start + res - 1) / res;

        if (nb > MAX_BUCKETS || nb * hops > MAX_CELLS)
            return pw_resp_error(r, 400, NULL,
                                 "resolution too fine for the range: %lld buckets, at most %d "
                                 "(%d over all hops); choose a coarser resolution or auto",
                                 (long long)nb, MAX_BUCKETS, MAX_CELLS);
        points = nb;
    } else if (!points) {
        points = DEFAULT_POINTS;
    }
    if (points * hops > MAX_CELLS)
        points = MAX_CELLS / hops;
    c.max = (uint32_t)(points * hops);
    /* The buckets depend on start and end (which may be "now") only through the plan: the
     * resolution and the range widened to whole buckets. Keyed by it, a cached part serves
     * every request whose range falls in the same buckets until the writer commits (for a
     * 7-day range ending now: until the current 15-minute bucket ends), and no longer. */
    rc = pw_store_timeline_plan(start, end, res, (uint32_t)points, &plan);
    if (rc < 0)
        return pw_api_store_error(r, rc, "the timeline");
    klen = snprintf(key, sizeof(key), "timeline %u %lld %lld %lld %lld %u %d", t.id, (long long)hop,
                    (long long)plan.resolution_us, (long long)plan.start_us, (long long)plan.end_us,
                    c.max, r->fmt);
    timeline_head(r, t.id, hop, start, end);
    if (pw_api_cache_splice(r, key, (size_t)klen))
        return pw_resp_finish(r, 200);
    c.v = pw_arena_alloc(r->arena, c.max * sizeof(*c.v));
    if (!c.v)
        return pw_resp_error(r, 500, NULL, "out of memory");
    rc = pw_store_timeline(s, t.id, (int)hop, start, end, res, (uint32_t)points, bucket_cb, &c);
    if (rc < 0 && rc != -ENOENT)
        return pw_api_store_error(r, rc, "the timeline");
    if (!res && c.n)
        res = c.v[0].end_us - c.v[0].start_us;
    timeline_head(r, t.id, hop, start, end);
    from = r->body.len;
    if (r->fmt == PW_FMT_JSON) {
        bucket_columns(&r->out, c.v, c.n);
    } else {
        snprintf(caption, sizeof(caption), "Timeline of %s", t.label[0] ? t.label : t.host);
        pw_out_table_begin(&r->out, "buckets", "timeline", caption, bucket_cols,
                           sizeof(bucket_cols) / sizeof(bucket_cols[0]), false);
        for (uint32_t i = 0; i < c.n; i++)
            bucket_row(&r->out, &c.v[i]);
        pw_out_table_end(&r->out);
    }
    pw_out_num(&r->out, "resolution_s", res != 0, res / 1e6, 3);
    pw_out_bool(&r->out, "truncated", c.over);
    pw_api_cache_keep(r, key, (size_t)klen, from, r->body.len);
    return pw_resp_finish(r, 200);
}

/* ---- route changes ---- */

static const struct pw_col change_cols[] = {
    {"time", "Time"},
    {"first_hop", "First changed hop"},
    {"was", "Was"},
    {"now", "Now"},
};

struct changes {
    struct pw_arena *arena;
    struct pw_store_route_change *v;
    size_t n, cap, max;
    bool more;
};

static int change_cb(void *arg, const struct pw_store_route_change *c)
{
    struct changes *l = arg;

    if (l->n == l->max) {
        l->more = true;
        return 1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct pw_store_route_change *v =
            pw_arena_realloc(l->arena, l->v, l->cap * sizeof(*v), cap * sizeof(*v));

        if (!v) {
            l->more = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *c;
    return 0;
}

static void route_ips(struct pw_out *o, const char *key, const struct pw_store_route *rt)
{
    char ip[PW_ADDR_STRLEN];

    pw_out_arr_begin(o, key);
    for (unsigned i = 0; rt && i < rt->nhops && i < PW_TRACE_MAX_HOPS; i++)
        pw_out_str(o, NULL, rt->hop[i].family ? pw_addr_format(&rt->hop[i], ip, sizeof(ip)) : NULL);
    pw_out_arr_end(o);
}

/* The responder of one TTL as text ("-" when none known). */
static const char *hop_text(const struct pw_store_route *rt, unsigned ttl, char *buf, size_t len)
{
    if (!rt || ttl == 0 || ttl > rt->nhops || !rt->hop[ttl - 1].family)
        return "-";
    return pw_addr_format(&rt->hop[ttl - 1], buf, len);
}

int pw_api_route_changes(struct pw_req *r)
{
    static const char *const allowed[] = {"start", "end", "limit", NULL};
    struct pw_store_route *was, *now;
    struct changes l = {.arena = r->arena};
    struct pw_store_target t;
    struct pw_store *s;
    int64_t start = 0, end = INT64_MAX, limit = 1000;
    char caption[PW_STORE_HOST_MAX + 64], a[PW_ADDR_STRLEN], b[PW_ADDR_STRLEN];
    int rc;

    if (pw_api_params(r, allowed))
        return 0;
    if (pw_kv_time(&r->params, "start", &start, r->err, sizeof(r->err)) < 0 ||
        pw_kv_time(&r->params, "end", &end, r->err, sizeof(r->err)) < 0 ||
        pw_kv_i64(&r->params, "limit", 1, MAX_CHANGES, &limit, r->err, sizeof(r->err)) < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    if (start >= end)
        return pw_resp_error(r, 400, NULL, "start must be before end");
    if (pw_api_target(r, 0, &s, &t))
        return 0;
    l.max = (size_t)limit;
    rc = pw_store_route_changes(s, t.id, start, end, change_cb, &l);
    if (rc < 0 && rc != -ENOENT)
        return pw_api_store_error(r, rc, "the route changes");
    was = pw_arena_alloc(r->arena, sizeof(*was));
    now = pw_arena_alloc(r->arena, sizeof(*now));
    if (!was || !now)
        return pw_resp_error(r, 500, NULL, "out of memory");
    pw_resp_begin(r);
    pw_out_uint(&r->out, "id", t.id);
    snprintf(caption, sizeof(caption), "Route changes of %s", t.label[0] ? t.label : t.host);
    pw_out_table_begin(&r->out, "route_changes", "route-changes", caption, change_cols,
                       sizeof(change_cols) / sizeof(change_cols[0]), false);
    for (size_t i = 0; i < l.n; i++) {
        const struct pw_store_route_change *c = &l.v[i];
        bool have_was = pw_store_route_get(s, c->old_route, was) == 0;
        bool have_now = pw_store_route_get(s, c->new_route, now) == 0;

        pw_out_row_begin(&r->out, NULL);
        pw_out_time(&r->out, "time", c->time_us);
        pw_out_int(&r->out, "first_hop", c->first_hop);
        pw_out_str(&r->out, "was", hop_text(have_was ? was : NULL, c->first_hop, a, sizeof(a)));
        pw_out_str(&r->out, "now", hop_text(have_now ? now : NULL, c->first_hop, b, sizeof(b)));
        pw_out_uint(&r->out, "old_route_id", c->old_route);
        pw_out_uint(&r->out, "new_route_id", c->new_route);
        route_ips(&r->out, "old_route", have_was ? was : NULL);
        route_ips(&r->out, "new_route", have_now ? now : NULL);
        pw_out_row_end(&r->out);
    }
    pw_out_table_end(&r->out);
    pw_out_bool(&r->out, "truncated", l.more);
    return pw_resp_finish(r, 200);
}
