/* PingWatcher — live data as Server-Sent Events.
 *
 * FastCGI cannot carry WebSockets, so live updates are an event stream the web server passes
 * through unbuffered. The app learns about new samples by polling the store with a fresh read
 * transaction every sse_poll_ms (LMDB readers see a commit only in a transaction begun after
 * it); each new sample becomes one event whose id is its time in Unix microseconds, so a
 * client that reconnects with Last-Event-ID misses nothing. A stream holds a worker thread:
 * their number is capped (503 beyond), so ordinary requests always find a free worker.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "error.h"
#include "response.h"
#include "timefmt.h"

/* Samples sent per poll at most; a client far behind catches up over several polls. */
#define BATCH 256
#define TARGET_CHECK_US (5 * 1000000LL)

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Waits ms between polls of the store, watching the connection to the web server: when the
 * browser goes, nginx closes it (the peer hangs up), and the stream ends at once rather than
 * at its next write, up to a heartbeat later, so its slot is free for the browser's next
 * stream. Only a hang-up counts: the request's empty stdin record may still sit unread. */
static void nap(struct pw_req *r, unsigned ms)
{
    int fd = r->fcgi ? r->fcgi->ipcFd : -1;

    /* In slices, so shutdown does not wait for a whole poll interval. */
    while (ms > 0 && !r->app->stopping && !r->client_gone) {
        unsigned step = ms > 100 ? 100 : ms;
        struct pollfd p = {.fd = fd, .events = POLLRDHUP};

        if (fd < 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};

            nanosleep(&ts, NULL);
        } else if (poll(&p, 1, (int)step) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
            r->client_gone = true;
        }
        ms -= step;
    }
}

/* Claims a stream slot or answers 503. */
static int claim(struct pw_req *r)
{
    unsigned n = atomic_fetch_add(&r->app->sse_active, 1);

    if (n >= r->app->opts.sse_max) {
        atomic_fetch_sub(&r->app->sse_active, 1);
        pw_resp_header(r, "Retry-After: 5");
        pw_resp_error(r, 503, NULL, "too many live streams open (%u); close one or retry later",
                      r->app->opts.sse_max);
        return PW_ANSWERED;
    }
    return 0;
}

static void release(struct pw_req *r)
{
    atomic_fetch_sub(&r->app->sse_active, 1);
}

/* Last-Event-ID: the time (Unix us) of the last sample the client saw. 1 when absent. */
static int last_event_id(struct pw_req *r, int64_t *out)
{
    const char *v = pw_req_env(r, "HTTP_LAST_EVENT_ID");
    int64_t x = 0;

    if (!v || !*v)
        return 1;
    if (strlen(v) > 18 || v[strspn(v, "0123456789")] != '\0') {
        pw_resp_error(r, 400, NULL, "Last-Event-ID must be an event id this stream sent");
        return -1;
    }
    for (const char *p = v; *p; p++)
        x = x * 10 + (*p - '0');
    *out = x;
    return 0;
}

static int start_stream(struct pw_req *r)
{
    static const char hello[] = "retry: 2000\n\n";

    pw_resp_header(r, "X-Accel-Buffering: no");
    if (pw_resp_stream_begin(r, 200, "text/event-stream; charset=utf-8") < 0 ||
        pw_resp_write(r, hello, sizeof(hello) - 1) < 0 || pw_resp_flush(r) < 0)
        return -1;
    return 0;
}

/* ---- one target ---- */

struct batch {
    struct pw_store_sample *v; /* BATCH entries */
    unsigned n;
};

static int sample_cb(void *arg, const struct pw_store_sample *smp)
{
    struct batch *b = arg;

    b->v[b->n++] = *smp;
    return b->n == BATCH;
}

static int newest_cb(void *arg, const struct pw_store_sample *smp)
{
    *(int64_t *)arg = smp->time_us;
    return 1;
}

static void sample_event(struct pw_buf *b, uint32_t target, const struct pw_store_sample *smp,
                         const struct pw_store_route *rt)
{
    struct pw_out o;
    char ip[PW_ADDR_STRLEN];

    pw_buf_printf(b, "id: %lld\nevent: sample\ndata: ", (long long)smp->time_us);
    pw_out_init(&o, PW_FMT_JSON, b);
    pw_out_obj_begin(&o, NULL);
    pw_out_uint(&o, "id", target);
    pw_out_time(&o, "time", smp->time_us);
    pw_out_bool(&o, "reached", smp->reached);
    pw_out_uint(&o, "route_id", smp->route_id);
    pw_out_arr_begin(&o, "hops");
    for (unsigned i = 0; i < smp->nhops && i < PW_TRACE_MAX_HOPS; i++) {
        bool lost = smp->rtt_us[i] == PW_RTT_LOST;
        const struct pw_addr *a = rt && i < rt->nhops ? &rt->hop[i] : NULL;

        if (smp->rtt_us[i] == PW_STORE_RTT_SKIP) /* final_hop_only: not probed */
            continue;
        pw_out_obj_begin(&o, NULL);
        pw_out_uint(&o, "hop", i + 1);
        pw_out_str(&o, "ip", a && a->family ? pw_addr_format(a, ip, sizeof(ip)) : NULL);
        pw_out_num(&o, "rtt_ms", !lost, smp->rtt_us[i] / 1000.0, 3);
        pw_out_bool(&o, "lost", lost);
        pw_out_obj_end(&o);
    }
    pw_out_arr_end(&o);
    pw_out_obj_end(&o);
    /* JSON from pw_out holds no raw newline, so one data line is the whole event. */
    pw_buf_puts(b, "\n\n");
}

int pw_api_live_target(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_app *app = r->app;
    struct pw_store_target t;
    struct pw_store_route *rt;
    struct pw_store *s;
    struct batch b;
    struct pw_buf out;
    struct pw_arena_mark mark;
    int64_t cursor = 0, began, last_write, last_check;
    uint32_t rt_id = 0;
    bool have_rt = false;
    int rc;

    if (pw_api_params(r, allowed) || pw_api_target(r, 0, &s, &t))
        return 0;
    rc = last_event_id(r, &cursor);
    if (rc < 0)
        return 0;
    if (rc == 1) {
        /* No history asked for: start after the newest stored sample. */
        rc = pw_store_samples(s, t.id, 0, INT64_MAX, true, newest_cb, &cursor);
        if (rc < 0 && rc != -ENOENT)
            return pw_api_store_error(r, rc, "the samples");
    }
    b.v = pw_arena_alloc(r->arena, BATCH * sizeof(*b.v));
    rt = pw_arena_alloc(r->arena, sizeof(*rt));
    if (!b.v || !rt)
        return pw_resp_error(r, 500, NULL, "out of memory");
    if (claim(r))
        return 0;
    pw_api_store_release(r);
    if (start_stream(r) < 0)
        goto out;
    pw_arena_mark(r->arena, &mark);
    began = last_write = last_check = mono_us();
    while (!app->stopping && !r->client_gone) {
        int64_t now = mono_us();
        bool removed = false;

        pw_arena_rewind(r->arena, &mark);
        pw_buf_init(&out, r->arena, 4u << 20);
        b.n = 0;
        /* Read under the store lock; write and wait without it. */
        if (!(s = pw_api_store(r)))
            break;
        rc = pw_store_samples(s, t.id, cursor + 1, INT64_MAX, false, sample_cb, &b);
        if (rc < 0 && rc != -ENOENT && rc != PW_E_MALFORMED) {
            pw_api_store_release(r);
            break;
        }
        for (unsigned i = 0; i < b.n; i++) {
            if (!have_rt || b.v[i].route_id != rt_id) {
                have_rt = pw_store_route_get(s, b.v[i].route_id, rt) == 0;
                rt_id = b.v[i].route_id;
            }
            sample_event(&out, t.id, &b.v[i], have_rt ? rt : NULL);
            cursor = b.v[i].time_us;
        }
        if (now - last_check >= TARGET_CHECK_US) {
            last_check = now;
            removed = pw_store_target_get(s, t.id, &t) == -ENOENT;
        }
        pw_api_store_release(r);
        if (removed)
            pw_buf_printf(&out, "event: removed\ndata: {\"id\":%u}\n\n", t.id);
        if (out.len == 0 && now - last_write >= (int64_t)app->opts.sse_heartbeat_s * 1000000)
            pw_buf_puts(&out, ": keep-alive\n\n");
        if (removed) {
            pw_resp_write(r, out.data, out.len);
            pw_resp_flush(r);
            break;
        }
        if (out.len > 0) {
            if (pw_resp_write(r, out.data, out.len) < 0 || pw_resp_flush(r) < 0)
                break;
            last_write = now;
        }
        if (now - began >= (int64_t)app->opts.sse_max_s * 1000000)
            break;
        if (b.n < BATCH)
            nap(r, app->opts.sse_poll_ms);
    }
out:
    pw_api_store_release(r);
    release(r);
    return 0;
}

/* ---- every target ---- */

struct cursor {
    uint32_t id;
    int64_t time_us;
    bool seen; /* still in the target list this round */
};

#define MAX_STREAM_TARGETS 10000

static void summary_event(struct pw_buf *b, const struct pw_store_target *t, int64_t time_us,
                          const struct pw_report *rep)
{
    const struct pw_report_hop *fin = rep->nhops ? &rep->hop[rep->nhops - 1] : NULL;
    struct pw_out o;
    struct pw_stats none;
    char ip[PW_ADDR_STRLEN];

    memset(&none, 0, sizeof(none));
    pw_buf_printf(b, "id: %lld\nevent: summary\ndata: ", (long long)time_us);
    pw_out_init(&o, PW_FMT_JSON, b);
    pw_out_obj_begin(&o, NULL);
    pw_out_uint(&o, "id", t->id);
    pw_out_str(&o, "host", t->host);
    pw_out_str(&o, "label", t->label);
    pw_out_bool(&o, "paused", t->paused);
    pw_out_time(&o, "time", time_us);
    pw_out_uint(&o, "samples", rep->samples);
    if (fin) {
        pw_out_int(&o, "hop", fin->ttl);
        pw_out_str(&o, "ip", fin->naddrs ? pw_addr_format(&fin->last, ip, sizeof(ip)) : NULL);
    } else {
        pw_out_null(&o, "hop");
        pw_out_null(&o, "ip");
    }
    pw_api_stats_fields(&o, fin ? &fin->stats : &none);
    pw_out_obj_end(&o);
    pw_buf_puts(b, "\n\n");
}

int pw_api_live_summary(struct pw_req *r)
{
    static const char *const allowed[] = {"focus", NULL};
    struct pw_app *app = r->app;
    struct cursor *cur = NULL;
    size_t ncur = 0;
    struct pw_store *s;
    struct pw_report *rep;
    struct pw_arena_mark mark;
    struct pw_buf out;
    uint32_t focus;
    int64_t since = -1, began, last_write;
    bool first = true;
    int rc;

    if (pw_api_params(r, allowed) || pw_api_focus(r, &focus) || !(s = pw_api_store(r)))
        return 0;
    rc = last_event_id(r, &since);
    if (rc < 0)
        return 0;
    cur = pw_arena_alloc(r->arena, MAX_STREAM_TARGETS * sizeof(*cur));
    rep = pw_arena_alloc(r->arena, sizeof(*rep));
    if (!cur || !rep)
        return pw_resp_error(r, 500, NULL, "out of memory");
    if (claim(r))
        return 0;
    pw_api_store_release(r);
    if (start_stream(r) < 0)
        goto out;
    pw_arena_mark(r->arena, &mark);
    began = last_write = mono_us();
    while (!app->stopping && !r->client_gone) {
        struct pw_store_target *t;
        int64_t now = mono_us();
        size_t n, k;

        pw_arena_rewind(r->arena, &mark);
        pw_buf_init(&out, r->arena, 8u << 20);
        /* Read under the store lock; write and wait without it. Errors cannot be answered
         * mid-stream: the stream ends and the client reconnects. */
        if (!(s = pw_api_store(r)) || pw_api_collect_targets(r, s, &t, &n) != 0)
            break;
        for (k = 0; k < ncur; k++)
            cur[k].seen = false;
        for (size_t i = 0; i < n; i++) {
            struct cursor *c = NULL;
            int64_t newest = -1;
            bool announce = false;

            for (k = 0; k < ncur && !c; k++)
                if (cur[k].id == t[i].id)
                    c = &cur[k];
            if (!c) {
                if (ncur == MAX_STREAM_TARGETS)
                    continue;
                c = &cur[ncur++];
                c->id = t[i].id;
                /* A new stream starts with every target's state, a resumed one with what
                 * changed since Last-Event-ID; a target added later is announced. */
                announce = !(first && since >= 0);
                c->time_us = first && since >= 0 ? since : -1;
            }
            c->seen = true;
            rc = pw_store_samples(s, t[i].id, c->time_us + 1, INT64_MAX, true, newest_cb, &newest);
            if (!announce && newest <= c->time_us)
                continue;
            if (newest > c->time_us)
                c->time_us = newest;
            memset(rep, 0, sizeof(*rep));
            if (pw_store_hops(s, t[i].id, focus, 0, rep) < 0)
                memset(rep, 0, sizeof(*rep));
            summary_event(&out, &t[i], c->time_us > 0 ? c->time_us : 0, rep);
        }
        for (k = 0; k < ncur;) {
            if (cur[k].seen) {
                k++;
                continue;
            }
            pw_buf_printf(&out, "event: removed\ndata: {\"id\":%u}\n\n", cur[k].id);
            cur[k] = cur[--ncur];
        }
        pw_api_store_release(r);
        first = false;
        if (out.len == 0 && now - last_write >= (int64_t)app->opts.sse_heartbeat_s * 1000000)
            pw_buf_puts(&out, ": keep-alive\n\n");
        if (out.len > 0) {
            if (pw_buf_failed(&out) || pw_resp_write(r, out.data, out.len) < 0 ||
                pw_resp_flush(r) < 0)
                break;
            last_write = now;
        }
        if (now - began >= (int64_t)app->opts.sse_max_s * 1000000)
            break;
        nap(r, app->opts.sse_poll_ms);
    }
out:
    pw_api_store_release(r);
    release(r);
    return 0;
}
