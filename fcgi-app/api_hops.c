/* PingWatcher — the trace graph (hop table) and the summary of every target. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "response.h"

static const struct pw_col hop_cols[] = {
    {"hop", "Hop"},          {"ip", "IP"},        {"dns", "DNS"},    {"avg_ms", "Avg"},
    {"min_ms", "Min"},       {"max_ms", "Max"},   {"cur_ms", "Cur"}, {"loss_pct", "PL%"},
    {"jitter_ms", "Jitter"}, {"sent", "Samples"},
};

void pw_api_stats_fields(struct pw_out *o, const struct pw_stats *st)
{
    pw_out_ms(o, "avg_ms", st->has_latency, st->avg_ms, false);
    pw_out_ms(o, "min_ms", st->has_latency, st->min_ms, false);
    pw_out_ms(o, "max_ms", st->has_latency, st->max_ms, false);
    pw_out_ms(o, "cur_ms", st->sent && !st->cur_lost, st->cur_ms, st->sent && st->cur_lost);
    pw_out_bool(o, "cur_lost", st->sent && st->cur_lost);
    pw_out_num(o, "loss_pct", true, st->loss_pct, 2);
    pw_out_ms(o, "jitter_ms", st->has_latency, st->jitter_ms, false);
    pw_out_uint(o, "sent", st->sent);
    pw_out_uint(o, "lost", st->lost);
    pw_out_ms(o, "stddev_ms", st->has_latency, st->stddev_ms, false);
}

static void hop_row(struct pw_out *o, const struct pw_report_hop *h)
{
    char ip[PW_ADDR_STRLEN];

    pw_out_row_begin(o, NULL);
    pw_out_int(o, "hop", h->ttl);
    pw_out_str(o, "ip", h->naddrs ? pw_addr_format(&h->last, ip, sizeof(ip)) : NULL);
    pw_out_str(o, "dns", h->dns[0] ? h->dns : NULL);
    pw_out_arr_begin(o, "ips");
    for (unsigned k = 0; k < h->naddrs && k < PW_REPORT_MAX_ADDRS; k++)
        pw_out_str(o, NULL, pw_addr_format(&h->addrs[k], ip, sizeof(ip)));
    pw_out_arr_end(o);
    pw_api_stats_fields(o, &h->stats);
    pw_out_row_end(o);
}

/* The "at" parameter: a past moment (0 = now). */
static int param_at(struct pw_req *r, int64_t *at)
{
    int rc = pw_kv_time(&r->params, "at", at, r->err, sizeof(r->err));

    if (rc == 1) {
        *at = 0;
        return 0;
    }
    if (rc < 0) {
        pw_resp_error(r, 400, NULL, "%s", r->err);
        return PW_ANSWERED;
    }
    if (*at > pw_api_now_us() + 60 * 1000000LL) {
        pw_resp_error(r, 400, NULL, "at must not be in the future");
        return PW_ANSWERED;
    }
    return 0;
}

int pw_api_hops(struct pw_req *r)
{
    static const char *const allowed[] = {"focus", "at", NULL};
    struct pw_store_target t;
    struct pw_report *rep;
    struct pw_store *s;
    uint32_t focus, id;
    int64_t at;
    char ip[PW_ADDR_STRLEN], caption[PW_STORE_HOST_MAX + 64], key[96];
    size_t from;
    int rc, klen;

    if (pw_api_params(r, allowed) || pw_api_focus(r, &focus) || param_at(r, &at) ||
        pw_api_target_id(r, 0, &id) || !(s = pw_api_store(r)))
        return 0;
    /* The table depends on nothing but these and the data (at 0 means the newest samples,
     * not the wall clock): cached whole by the data version. */
    klen = snprintf(key, sizeof(key), "hops %u %u %lld %d", id, focus, (long long)at, r->fmt);
    pw_resp_begin(r);
    if (pw_api_cache_splice(r, key, (size_t)klen))
        return pw_resp_finish(r, 200);
    if (pw_api_target_load(r, s, id, &t))
        return 0;
    rep = pw_arena_zalloc(r->arena, sizeof(*rep));
    if (!rep)
        return pw_resp_error(r, 500, NULL, "out of memory");
    rc = pw_store_hops(s, t.id, focus, at, rep);
    if (rc < 0 && rc != -ENOENT)
        return pw_api_store_error(r, rc, "the hop table");
    if (rc == -ENOENT)
        memset(rep, 0, sizeof(*rep)); /* a target without samples yet: an empty table */
    pw_resp_begin(r);
    from = r->body.len;
    pw_out_uint(&r->out, "id", t.id);
    pw_out_str(&r->out, "target", t.host);
    pw_out_str(&r->out, "label", t.label);
    pw_out_str(&r->out, "ip", rep->ip.family ? pw_addr_format(&rep->ip, ip, sizeof(ip)) : NULL);
    pw_out_str(&r->out, "packet_type", pw_proto_name(t.opts.proto));
    if (focus)
        pw_out_uint(&r->out, "focus", focus);
    else
        pw_out_str(&r->out, "focus", "all");
    pw_out_uint(&r->out, "samples", rep->samples);
    if (at)
        pw_out_time(&r->out, "at", at);
    else
        pw_out_null(&r->out, "at");
    if (focus)
        snprintf(caption, sizeof(caption), "%s, last %u samples", t.label[0] ? t.label : t.host,
                 focus);
    else
        snprintf(caption, sizeof(caption), "%s, all samples", t.label[0] ? t.label : t.host);
    pw_out_table_begin(&r->out, "hops", "hops", caption, hop_cols,
                       sizeof(hop_cols) / sizeof(hop_cols[0]), false);
    for (unsigned i = 0; i < rep->nhops && i < PW_TRACE_MAX_HOPS; i++)
        hop_row(&r->out, &rep->hop[i]);
    pw_out_table_end(&r->out);
    pw_api_cache_keep(r, key, (size_t)klen, from, r->body.len);
    return pw_resp_finish(r, 200);
}

/* ---- summary ---- */

#define SPARK_MAX 240

static const struct pw_col summary_cols[] = {
    {"name", "Target"}, {"host", "Host"},  {"avg_ms", "Avg"},   {"min_ms", "Min"},
    {"max_ms", "Max"},  {"cur_ms", "Cur"}, {"loss_pct", "PL%"}, {"sparkline", "Recent"},
};

struct spark {
    int64_t t_us[SPARK_MAX];
    double avg_ms[SPARK_MAX];
    double loss_pct[SPARK_MAX];
    bool has[SPARK_MAX];
    unsigned n;
};

static int spark_cb(void *arg, const struct pw_store_bucket *b)
{
    struct spark *sp = arg;

    if (sp->n == SPARK_MAX)
        return 1;
    sp->t_us[sp->n] = b->start_us;
    sp->has[sp->n] = b->has_latency;
    sp->avg_ms[sp->n] = b->avg_ms;
    sp->loss_pct[sp->n] = b->count ? 100.0 * b->lost / b->count : 0;
    sp->n++;
    return 0;
}

/* A tiny inline SVG of the averages: built from numbers only. */
static void spark_svg(struct pw_req *r, const struct spark *sp)
{
    struct pw_buf svg;
    double max = 0;
    bool any = false;

    pw_buf_init(&svg, r->arena, 16384);
    for (unsigned i = 0; i < sp->n; i++)
        if (sp->has[i] && sp->avg_ms[i] > max)
            max = sp->avg_ms[i];
    pw_buf_puts(&svg, "<svg class=\"pw-spark\" width=\"120\" height=\"24\" viewBox=\"0 0 120 24\">"
                      "<polyline fill=\"none\" stroke=\"currentColor\" points=\"");
    for (unsigned i = 0; i < sp->n; i++) {
        double x = sp->n > 1 ? 120.0 * i / (sp->n - 1) : 0;
        double y = max > 0 && sp->has[i] ? 23 - 22 * sp->avg_ms[i] / max : 23;

        pw_buf_printf(&svg, "%s%.1f,%.1f", any ? " " : "", x, y);
        any = true;
    }
    pw_buf_puts(&svg, "\"/></svg>");
    if (!pw_buf_failed(&svg))
        pw_out_html_cell(&r->out, "sparkline", svg.data, svg.len);
}

int pw_api_summary(struct pw_req *r)
{
    static const char *const allowed[] = {"focus", "window", "points", NULL};
    struct pw_store_target *t;
    struct pw_report *rep;
    struct spark *sp;
    struct pw_store *s;
    uint32_t focus;
    int64_t window = 3600 * 1000000LL, points = 30, now = pw_api_now_us();
    size_t n;
    int rc;

    if (pw_api_params(r, allowed) || pw_api_focus(r, &focus))
        return 0;
    rc = pw_kv_duration(&r->params, "window", 60 * 1000000LL, 7 * 86400 * 1000000LL, &window,
                        r->err, sizeof(r->err));
    if (rc < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    rc = pw_kv_i64(&r->params, "points", 1, SPARK_MAX, &points, r->err, sizeof(r->err));
    if (rc < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    if (!(s = pw_api_store(r)) || pw_api_collect_targets(r, s, &t, &n))
        return 0;
    rep = pw_arena_alloc(r->arena, sizeof(*rep));
    sp = pw_arena_alloc(r->arena, sizeof(*sp));
    if (!rep || !sp)
        return pw_resp_error(r, 500, NULL, "out of memory");
    pw_resp_begin(r);
    if (focus)
        pw_out_uint(&r->out, "focus", focus);
    else
        pw_out_str(&r->out, "focus", "all");
    pw_out_time(&r->out, "time", now);
    pw_out_table_begin(&r->out, "targets", "summary", "Summary", summary_cols,
                       sizeof(summary_cols) / sizeof(summary_cols[0]), false);
    for (size_t i = 0; i < n; i++) {
        const struct pw_report_hop *fin = NULL;
        char id[32], ip[PW_ADDR_STRLEN];

        memset(rep, 0, sizeof(*rep));
        rc = pw_store_hops(s, t[i].id, focus, 0, rep);
        if (rc < 0 && rc != -ENOENT)
            return pw_api_store_error(r, rc, "the hop table");
        if (rc == 0 && rep->nhops > 0)
            fin = &rep->hop[rep->nhops - 1];
        sp->n = 0;
        rc = pw_store_timeline(s, t[i].id, 0, now - window, now, 0, (uint32_t)points, spark_cb, sp);
        if (rc < 0 && rc != -ENOENT)
            return pw_api_store_error(r, rc, "the timeline");
        snprintf(id, sizeof(id), "summary-%u", t[i].id);
        pw_out_row_begin(&r->out, id);
        pw_out_uint(&r->out, "id", t[i].id);
        pw_out_str(&r->out, "name", t[i].label[0] ? t[i].label : t[i].host);
        pw_out_str(&r->out, "host", t[i].host);
        pw_out_str(&r->out, "label", t[i].label);
        pw_out_bool(&r->out, "paused", t[i].paused);
        pw_out_uint(&r->out, "samples", rep->samples);
        pw_api_diag_verdict(r, s, t[i].id, now);
        if (fin) {
            pw_out_int(&r->out, "hop", fin->ttl);
            pw_out_str(&r->out, "ip",
                       fin->naddrs ? pw_addr_format(&fin->last, ip, sizeof(ip)) : NULL);
            pw_api_stats_fields(&r->out, &fin->stats);
        } else {
            struct pw_stats none;

            memset(&none, 0, sizeof(none));
            pw_out_null(&r->out, "hop");
            pw_out_null(&r->out, "ip");
            pw_api_stats_fields(&r->out, &none);
        }
        spark_svg(r, sp);
        pw_out_obj_begin(&r->out, "sparkline");
        pw_out_arr_begin(&r->out, "time_ms");
        for (unsigned k = 0; k < sp->n; k++)
            pw_out_int(&r->out, NULL, sp->t_us[k] / 1000);
        pw_out_arr_end(&r->out);
        pw_out_arr_begin(&r->out, "avg_ms");
        for (unsigned k = 0; k < sp->n; k++)
            pw_out_num(&r->out, NULL, sp->has[k], sp->avg_ms[k], 3);
        pw_out_arr_end(&r->out);
        pw_out_arr_begin(&r->out, "loss_pct");
        for (unsigned k = 0; k < sp->n; k++)
            pw_out_num(&r->out, NULL, true, sp->loss_pct[k], 2);
        pw_out_arr_end(&r->out);
        pw_out_obj_end(&r->out);
        pw_out_row_end(&r->out);
    }
    pw_out_table_end(&r->out);
    return pw_resp_finish(r, 200);
}
