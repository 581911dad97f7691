/* PingWatcher — /metrics (see metrics.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cache.h"
#include "metrics.h"
#include "response.h"

#define NBUCKETS 20 /* 50 us * 2^i, i = 0..19: smokeping_prober's default */
#define MAX_TARGETS 10000

struct mtarget {
    uint32_t id;
    int64_t cursor_us; /* newest sample counted */
    uint64_t samples, sent, lost;
    uint64_t final_count, final_lost;
    uint64_t bucket[NBUCKETS]; /* not cumulative; summed when written */
    uint64_t count;            /* observations (final hop answered) */
    double sum_s;
    bool seen;
};

struct pw_metrics {
    pthread_mutex_t lock; /* one scrape updates the counters at a time */
    int64_t start_us;
    struct mtarget *t;
    size_t n;
};

struct pw_metrics *pw_metrics_new(int64_t start_us)
{
    struct pw_metrics *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->t = calloc(MAX_TARGETS, sizeof(*m->t));
    if (!m->t) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->start_us = start_us;
    return m;
}

void pw_metrics_free(struct pw_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m->t);
    free(m);
}

char *pw_metrics_label_escape(const char *s, char *dst, size_t len)
{
    size_t o = 0;

    for (; *s; s++) {
        const char *rep = NULL;
        char one[2] = {*s, 0};
        size_t k;

        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '"')
            rep = "\\\"";
        else if (*s == '\n')
            rep = "\\n";
        else
            rep = one;
        k = strlen(rep);
        if (o + k + 1 > len)
            break;
        memcpy(dst + o, rep, k);
        o += k;
    }
    /* Never end inside a UTF-8 sequence. */
    while (o > 0 && ((unsigned char)dst[o - 1] & 0xc0) == 0x80)
        o--;
    if (o > 0 && ((unsigned char)dst[o - 1] & 0xc0) == 0xc0)
        o--;
    if (len)
        dst[o] = '\0';
    return dst;
}

static int count_cb(void *arg, const struct pw_store_sample *smp)
{
    struct mtarget *t = arg;
    unsigned n = smp->nhops < PW_TRACE_MAX_HOPS ? smp->nhops : PW_TRACE_MAX_HOPS;

    t->samples++;
    t->cursor_us = smp->time_us;
    for (unsigned i = 0; i < n; i++) {
        if (smp->rtt_us[i] == PW_STORE_RTT_SKIP) /* final_hop_only: not probed */
            continue;
        t->sent++;
        if (smp->rtt_us[i] == PW_RTT_LOST)
            t->lost++;
    }
    if (n == 0)
        return 0;
    t->final_count++;
    if (!smp->reached || smp->rtt_us[n - 1] < 0) {
        t->final_lost++;
        return 0;
    }
    {
        int32_t rtt = smp->rtt_us[n - 1];
        unsigned b = 0;

        while (b < NBUCKETS && rtt > (50 << b))
            b++;
        if (b < NBUCKETS)
            t->bucket[b]++;
        t->count++;
        t->sum_s += rtt / 1e6;
    }
    return 0;
}

static struct mtarget *find(struct pw_metrics *m, uint32_t id, int64_t start_us)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->t[i].id == id)
            return &m->t[i];
    if (m->n == MAX_TARGETS)
        return NULL;
    memset(&m->t[m->n], 0, sizeof(m->t[0]));
    m->t[m->n].id = id;
    m->t[m->n].cursor_us = start_us - 1;
    return &m->t[m->n++];
}

static void type_line(struct pw_buf *b, bool om, const char *name, const char *type,
                      const char *help)
{
    pw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    (void)om;
}

int pw_api_metrics(struct pw_req *r)
{
    static const char *const allowed[] = {"focus", NULL};
    struct pw_metrics *m = r->app->metrics;
    const char *accept = pw_req_env(r, "HTTP_ACCEPT");
    bool om = accept && strstr(accept, "application/openmetrics-text");
    const char *total = om ? "" : "_total";
    struct pw_store_target *t;
    struct pw_store_stats st;
    struct pw_report *rep;
    struct pw_store *s;
    struct pw_buf *b = &r->body;
    uint32_t focus;
    size_t n;
    char name[64];

    if (pw_api_params(r, allowed) || pw_api_focus(r, &focus) || !(s = pw_api_store(r)) ||
        pw_api_collect_targets(r, s, &t, &n))
        return 0;
    rep = pw_arena_alloc(r->arena, sizeof(*rep));
    if (!rep)
        return pw_resp_error(r, 500, NULL, "out of memory");
    pw_buf_reset(b);

    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++)
        m->t[i].seen = false;
    for (size_t i = 0; i < n; i++) {
        struct mtarget *mt = find(m, t[i].id, m->start_us);

        if (!mt)
            continue;
        mt->seen = true;
        pw_store_samples(s, t[i].id, mt->cursor_us + 1, INT64_MAX, false, count_cb, mt);
    }
    /* Targets removed: their series end. */
    for (size_t i = 0; i < m->n;) {
        if (m->t[i].seen)
            i++;
        else
            m->t[i] = m->t[--m->n];
    }

    type_line(b, om, om ? "pingwatcher_target" : "pingwatcher_target_info", om ? "info" : "gauge",
              "Monitored targets (host and label as labels; other series carry only target).");
    for (size_t i = 0; i < n; i++) {
        char host[3 * PW_STORE_HOST_MAX], label[3 * PW_STORE_LABEL_MAX];

        pw_buf_printf(b, "pingwatcher_target_info{target=\"%u\",host=\"%s\",label=\"%s\"} 1\n",
                      t[i].id, pw_metrics_label_escape(t[i].host, host, sizeof(host)),
                      pw_metrics_label_escape(t[i].label, label, sizeof(label)));
    }
    type_line(b, om, "pingwatcher_target_paused", "gauge", "1 when the target is paused.");
    for (size_t i = 0; i < n; i++)
        pw_buf_printf(b, "pingwatcher_target_paused{target=\"%u\"} %d\n", t[i].id,
                      t[i].paused ? 1 : 0);

    snprintf(name, sizeof(name), "pingwatcher_samples%s", om ? "" : "_total");
    type_line(b, om, name, "counter", "Samples (passes over the path) stored.");
    for (size_t i = 0; i < m->n; i++)
        pw_buf_printf(b, "pingwatcher_samples_total{target=\"%u\"} %llu\n", m->t[i].id,
                      (unsigned long long)m->t[i].samples);
    snprintf(name, sizeof(name), "pingwatcher_probes_sent%s", total);
    type_line(b, om, name, "counter", "Probes sent, every hop.");
    for (size_t i = 0; i < m->n; i++)
        pw_buf_printf(b, "pingwatcher_probes_sent_total{target=\"%u\"} %llu\n", m->t[i].id,
                      (unsigned long long)m->t[i].sent);
    snprintf(name, sizeof(name), "pingwatcher_probes_lost%s", total);
    type_line(b, om, name, "counter", "Probes without a reply within the timeout, every hop.");
    for (size_t i = 0; i < m->n; i++)
        pw_buf_printf(b, "pingwatcher_probes_lost_total{target=\"%u\"} %llu\n", m->t[i].id,
                      (unsigned long long)m->t[i].lost);
    snprintf(name, sizeof(name), "pingwatcher_final_hop_lost%s", total);
    type_line(b, om, name, "counter", "Samples whose probe to the destination was lost.");
    for (size_t i = 0; i < m->n; i++)
        pw_buf_printf(b, "pingwatcher_final_hop_lost_total{target=\"%u\"} %llu\n", m->t[i].id,
                      (unsigned long long)m->t[i].final_lost);

    type_line(b, om, "pingwatcher_final_hop_rtt_seconds", "histogram",
              "Round-trip time to the destination.");
    for (size_t i = 0; i < m->n; i++) {
        const struct mtarget *mt = &m->t[i];
        uint64_t cum = 0;

        for (unsigned k = 0; k < NBUCKETS; k++) {
            cum += mt->bucket[k];
            pw_buf_printf(b,
                          "pingwatcher_final_hop_rtt_seconds_bucket{target=\"%u\",le=\"%g\"} "
                          "%llu\n",
                          mt->id, (50 << k) / 1e6, (unsigned long long)cum);
        }
        pw_buf_printf(b,
                      "pingwatcher_final_hop_rtt_seconds_bucket{target=\"%u\",le=\"+Inf\"} %llu\n"
                      "pingwatcher_final_hop_rtt_seconds_sum{target=\"%u\"} %.9g\n"
                      "pingwatcher_final_hop_rtt_seconds_count{target=\"%u\"} %llu\n",
                      mt->id, (unsigned long long)mt->count, mt->id, mt->sum_s, mt->id,
                      (unsigned long long)mt->count);
    }
    pthread_mutex_unlock(&m->lock);

    /* Per hop: the focus statistics, labelled by TTL. */
    {
        static const struct {
            const char *name, *help;
        } g[] = {
            {"pingwatcher_hop_rtt_avg_seconds", "Average RTT over the focus window."},
            {"pingwatcher_hop_rtt_min_seconds", "Minimum RTT over the focus window."},
            {"pingwatcher_hop_rtt_max_seconds", "Maximum RTT over the focus window."},
            {"pingwatcher_hop_rtt_cur_seconds", "Newest RTT (absent when it was lost)."},
            {"pingwatcher_hop_jitter_seconds", "Mean RTT difference of consecutive samples."},
            {"pingwatcher_hop_loss_ratio", "Lost share of the focus window (0..1)."},
            {"pingwatcher_hop_samples", "Samples in the focus window."},
        };
        struct pw_buf *sec[7];

        for (unsigned k = 0; k < 7; k++) {
            sec[k] = pw_arena_alloc(r->arena, sizeof(struct pw_buf));
            if (!sec[k])
                return pw_resp_error(r, 500, NULL, "out of memory");
            pw_buf_init(sec[k], r->arena, 4u << 20);
        }
        for (size_t i = 0; i < n; i++) {
            memset(rep, 0, sizeof(*rep));
            if (pw_store_hops(s, t[i].id, focus, 0, rep) < 0)
                continue;
            for (unsigned h = 0; h < rep->nhops && h < PW_TRACE_MAX_HOPS; h++) {
                const struct pw_stats *x = &rep->hop[h].stats;
                char lbl[48];

                snprintf(lbl, sizeof(lbl), "{target=\"%u\",hop=\"%u\"}", t[i].id, rep->hop[h].ttl);
                if (x->has_latency) {
                    pw_buf_printf(sec[0], "%s%s %.9g\n", g[0].name, lbl, x->avg_ms / 1e3);
                    pw_buf_printf(sec[1], "%s%s %.9g\n", g[1].name, lbl, x->min_ms / 1e3);
                    pw_buf_printf(sec[2], "%s%s %.9g\n", g[2].name, lbl, x->max_ms / 1e3);
                    pw_buf_printf(sec[4], "%s%s %.9g\n", g[4].name, lbl, x->jitter_ms / 1e3);
                }
                if (x->sent && !x->cur_lost)
                    pw_buf_printf(sec[3], "%s%s %.9g\n", g[3].name, lbl, x->cur_ms / 1e3);
                pw_buf_printf(sec[5], "%s%s %.9g\n", g[5].name, lbl, x->loss_pct / 100.0);
                pw_buf_printf(sec[6], "%s%s %u\n", g[6].name, lbl, x->sent);
            }
        }
        for (unsigned k = 0; k < 7; k++) {
            type_line(b, om, g[k].name, "gauge", g[k].help);
            if (sec[k]->len)
                pw_buf_add(b, sec[k]->data, sec[k]->len);
            if (pw_buf_failed(sec[k]))
                b->failed = true;
        }
    }
    if (pw_store_stats(s, &st) == 0) {
        type_line(b, om, "pingwatcher_store_file_bytes", "gauge", "Size of data.mdb.");
        pw_buf_printf(b, "pingwatcher_store_file_bytes %llu\n", (unsigned long long)st.file_bytes);
        type_line(b, om, "pingwatcher_store_used_bytes", "gauge", "Pages in use.");
        pw_buf_printf(b, "pingwatcher_store_used_bytes %llu\n", (unsigned long long)st.used_bytes);
        type_line(b, om, "pingwatcher_store_samples", "gauge", "Raw samples stored.");
        pw_buf_printf(b, "pingwatcher_store_samples %llu\n", (unsigned long long)st.samples);
    }
    type_line(b, om, "pingwatcher_web_live_streams", "gauge", "Open Server-Sent Event streams.");
    pw_buf_printf(b, "pingwatcher_web_live_streams %u\n", atomic_load(&r->app->sse_active));
    if (r->app->cache) {
        struct pw_cache_stats cs;

        pw_cache_get_stats(r->app->cache, &cs);
        snprintf(name, sizeof(name), "pingwatcher_web_cache_lookups%s", total);
        type_line(b, om, name, "counter", "Answers looked up in the cache, by result.");
        pw_buf_printf(b, "pingwatcher_web_cache_lookups_total{result=\"hit\"} %llu\n",
                      (unsigned long long)cs.hits);
        pw_buf_printf(b, "pingwatcher_web_cache_lookups_total{result=\"miss\"} %llu\n",
                      (unsigned long long)cs.misses);
        type_line(b, om, "pingwatcher_web_cache_bytes", "gauge",
                  "Memory held by cached answers (the budget is --cache-mb).");
        pw_buf_printf(b, "pingwatcher_web_cache_bytes %llu\n", (unsigned long long)cs.bytes);
        type_line(b, om, "pingwatcher_web_cache_entries", "gauge", "Cached answers.");
        pw_buf_printf(b, "pingwatcher_web_cache_entries %llu\n", (unsigned long long)cs.entries);
    }
    if (om)
        pw_buf_puts(b, "# EOF\n");
    if (pw_buf_failed(b))
        return pw_resp_error(r, 500, NULL, "the metrics are larger than the answer buffer");
    return pw_resp_raw(r, 200,
                       om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                          : "text/plain; version=0.0.4; charset=utf-8",
                       b->data ? b->data : "", b->len);
}
