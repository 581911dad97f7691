/* PingWatcher — path diagnosis of a target (JSON, or an HTML fragment for HTMX) and its
 * evidence report as a download.
 *
 *   GET /api/targets/{id}/diagnosis[?start&end | ?at | ?session][&focus]
 *   GET /api/targets/{id}/report[?start&end | ?session]
 *
 * The window: start..end (default: the hour before end; end defaults to now), or the hour
 * before a past moment `at`, or a session's range; focus=N judges only the newest N samples of
 * it. The "diagnosis" member has the shape `pingwatcher trace --json` prints (diagnosis.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "diagnosis.h"
#include "error.h"
#include "evidence.h"
#include "export.h"
#include "response.h"
#include "timefmt.h"

#ifndef PW_VERSION
#define PW_VERSION "unknown"
#endif

#define DEFAULT_SPAN_US (3600 * INT64_C(1000000))
#define MAX_RANGE_US (400 * 86400 * INT64_C(1000000))
/* Samples /api/summary judges per target: enough for a verdict, cheap enough per row. */
#define SUMMARY_SAMPLES 300
#define VERDICT_BUCKET_US (10 * INT64_C(1000000))

struct window {
    int64_t start, end;
    uint32_t focus; /* 0: every sample of the range (up to PW_DIAG_MAX_SAMPLES) */
    uint32_t session;
    char session_name[PW_STORE_LABEL_MAX + 1];
};

/* Resolves the window parameters; answers 400/404 itself (returns PW_ANSWERED). */
static int window_params(struct pw_req *r, struct pw_store *s, const struct pw_store_target *t,
                         bool allow_focus, struct window *w)
{
    struct pw_kv *sess = pw_kvs_find(&r->params, "session");
    int64_t now = pw_api_now_us(), at = 0, v;
    int rs, re, ra, rc;

    memset(w, 0, sizeof(*w));
    re = pw_kv_time(&r->params, "end", &w->end, r->err, sizeof(r->err));
    rs = re < 0 ? 0 : pw_kv_time(&r->params, "start", &w->start, r->err, sizeof(r->err));
    ra = re < 0 || rs < 0 ? 0 : pw_kv_time(&r->params, "at", &at, r->err, sizeof(r->err));
    if (re < 0 || rs < 0 || ra < 0) {
        pw_resp_error(r, 400, NULL, "%s", r->err);
        return PW_ANSWERED;
    }
    if (ra == 0 && (rs == 0 || re == 0 || sess)) {
        pw_resp_error(r, 400, NULL, "give either at, or start and end, or session");
        return PW_ANSWERED;
    }
    if (sess && (rs == 0 || re == 0)) {
        pw_resp_error(r, 400, NULL, "a session gives the range: no start or end with it");
        return PW_ANSWERED;
    }
    if (sess) {
        struct pw_store_session ss;

        if (pw_http_parse_id(sess->value, "session", &w->session, r->err, sizeof(r->err))) {
            pw_resp_error(r, 400, NULL, "%s", r->err);
            return PW_ANSWERED;
        }
        rc = pw_store_session_get(s, w->session, &ss);
        if (rc == -ENOENT || (rc == 0 && ss.target_id != t->id)) {
            pw_resp_error(r, 404, NULL, "session %u of target %u does not exist", w->session,
                          t->id);
            return PW_ANSWERED;
        }
        if (rc < 0)
            return pw_api_store_error(r, rc, "the session");
        w->start = ss.start_us;
        w->end = ss.end_us;
        snprintf(w->session_name, sizeof(w->session_name), "%s", ss.name);
    } else if (ra == 0) {
        if (at > now + 60 * INT64_C(1000000)) {
            pw_resp_error(r, 400, NULL, "at must not be in the future");
            return PW_ANSWERED;
        }
        w->end = at + 1; /* the sample taken at that moment counts */
        w->start = w->end - DEFAULT_SPAN_US;
    } else {
        if (re == 1)
            w->end = now;
        if (rs == 1)
            w->start = w->end - DEFAULT_SPAN_US;
    }
    if (w->start >= w->end) {
        pw_resp_error(r, 400, NULL, "start must be before end");
        return PW_ANSWERED;
    }
    if (w->end - w->start > MAX_RANGE_US) {
        pw_resp_error(r, 400, NULL, "a diagnosis covers at most 400 days");
        return PW_ANSWERED;
    }
    if (allow_focus) {
        rc = pw_kv_i64(&r->params, "focus", 1, PW_DIAG_MAX_SAMPLES, &v, r->err, sizeof(r->err));
        if (rc < 0) {
            pw_resp_error(r, 400, NULL, "%s", r->err);
            return PW_ANSWERED;
        }
        if (rc == 0)
            w->focus = (uint32_t)v;
    }
    return 0;
}

static void add_time(cJSON *o, const char *key, int64_t us)
{
    char t[PW_TIMEFMT_STRLEN], k[40];

    snprintf(k, sizeof(k), "%s_ms", key);
    cJSON_AddStringToObject(o, key, pw_timefmt_rfc3339(us, t, sizeof(t)));
    cJSON_AddNumberToObject(o, k, (double)pw_timefmt_ms(us));
}

int pw_api_diagnosis(struct pw_req *r)
{
    static const char *const allowed[] = {"start", "end", "at", "session", "focus", NULL};
    struct pw_store_target t;
    struct pw_diagnosis *d;
    struct pw_store *s;
    struct window w;
    char *text = NULL, ip[PW_ADDR_STRLEN];
    size_t len = 0;
    cJSON *o, *dj;
    int rc;

    if (pw_api_params(r, allowed) || pw_api_target(r, 0, &s, &t) ||
        window_params(r, s, &t, true, &w))
        return 0;
    d = pw_arena_alloc(r->arena, sizeof(*d));
    if (!d)
        return pw_resp_error(r, 500, NULL, "out of memory");
    rc = pw_diag_from_store(s, t.id, w.start, w.end, w.focus, NULL, d);
    pw_api_store_release(r); /* rendering needs no store */
    if (rc < 0)
        return pw_api_store_error(r, rc, "the diagnosis");
    if (r->fmt == PW_FMT_HTML) {
        if (pw_evidence_diag_html(d, &text, &len) < 0)
            return pw_resp_error(r, 500, NULL, "out of memory");
        rc = pw_resp_raw(r, 200, "text/html; charset=utf-8", text, len);
        free(text);
        return rc;
    }
    o = cJSON_CreateObject();
    dj = pw_diag_json(d);
    if (o && dj) {
        cJSON_AddNumberToObject(o, "id", t.id);
        cJSON_AddStringToObject(o, "target", t.host);
        cJSON_AddStringToObject(o, "label", t.label);
        if (t.addr.family)
            cJSON_AddStringToObject(o, "ip", pw_addr_format(&t.addr, ip, sizeof(ip)));
        else
            cJSON_AddNullToObject(o, "ip");
        cJSON_AddStringToObject(o, "packet_type", pw_proto_name(t.opts.proto));
        add_time(o, "start", w.start);
        add_time(o, "end", w.end);
        if (w.focus)
            cJSON_AddNumberToObject(o, "focus", w.focus);
        else
            cJSON_AddNullToObject(o, "focus");
        if (w.session)
            cJSON_AddNumberToObject(o, "session", w.session);
        else
            cJSON_AddNullToObject(o, "session");
        if (cJSON_AddItemToObject(o, "diagnosis", dj)) {
            dj = NULL;
            text = cJSON_PrintUnformatted(o);
        }
    }
    cJSON_Delete(dj);
    cJSON_Delete(o);
    if (!text)
        return pw_resp_error(r, 500, NULL, "out of memory");
    rc = pw_resp_raw(r, 200, "application/json", text, strlen(text));
    free(text);
    return rc;
}

int pw_api_report(struct pw_req *r)
{
    static const char *const allowed[] = {"start", "end", "session", NULL};
    struct pw_evidence_opts eo = {0};
    struct pw_store_target t;
    struct pw_store *s;
    struct window w;
    char *html = NULL, fname[256];
    size_t len = 0;
    int rc;

    if (pw_api_params(r, allowed) || pw_api_target(r, 0, &s, &t) ||
        window_params(r, s, &t, false, &w))
        return 0;
    eo.start_us = w.start;
    eo.end_us = w.end;
    eo.now_us = pw_api_now_us();
    eo.generator = "PingWatcher " PW_VERSION;
    rc = pw_evidence_html(s, t.id, &eo, &html, &len, NULL);
    pw_api_store_release(r);
    if (rc == -E2BIG)
        return pw_resp_error(r, 400, NULL,
                             "the report would exceed %u MiB; choose a shorter period",
                             PW_EVIDENCE_MAX_BYTES >> 20);
    if (rc < 0)
        return pw_api_store_error(r, rc, "the report");
    /* Always a download, whatever the page asked: never an HTMX fragment. */
    pw_export_filename(fname, sizeof(fname), t.id, t.label[0] ? t.label : t.host,
                       w.session ? w.session_name : NULL, w.start, w.end, "html");
    pw_resp_header(r, "Content-Disposition: attachment; filename=\"%s\"", fname);
    rc = pw_resp_raw(r, 200, "text/html; charset=utf-8", html, len);
    free(html);
    return rc;
}

/* The verdict of the summary row: the newest SUMMARY_SAMPLES of the hour before a 10-second
 * bucket of the clock. The bucket, not the clock itself, bounds the window, so at one data
 * version every request within the bucket judges the same samples and the cached part is what
 * it would compute afresh. */
void pw_api_diag_verdict(struct pw_req *r, struct pw_store *s, uint32_t target_id, int64_t now_us)
{
    int64_t b = now_us - now_us % VERDICT_BUCKET_US;
    struct pw_diagnosis *d;
    char key[64];
    size_t from;
    int klen, rc;

    if (r->fmt != PW_FMT_JSON)
        return; /* the HTML table has no verdict column: nothing to judge */
    klen = snprintf(key, sizeof(key), "verdict %u %lld", target_id, (long long)b);
    if (pw_api_cache_splice(r, key, (size_t)klen))
        return;
    /* Heap, not the arena: one ~20 KB result per row would grow the arena with the target
     * count, and pw_diag_from_store() allocates its window on the heap anyway. */
    d = malloc(sizeof(*d));
    rc = d ? pw_diag_from_store(s, target_id, b - DEFAULT_SPAN_US, b + VERDICT_BUCKET_US,
                                SUMMARY_SAMPLES, NULL, d)
           : -ENOMEM;
    from = r->body.len;
    if (rc < 0) {
        pw_out_null(&r->out, "verdict");
        pw_out_null(&r->out, "verdict_summary");
        pw_out_null(&r->out, "verdict_hop");
    } else {
        pw_out_str(&r->out, "verdict", pw_diag_verdict_name(d->verdict));
        pw_out_str(&r->out, "verdict_summary", d->summary);
        if (d->nproblems)
            pw_out_uint(&r->out, "verdict_hop", d->problem[0].from_hop);
        else
            pw_out_null(&r->out, "verdict_hop");
    }
    free(d);
    if (rc >= 0) /* an error may pass (a store busy): never keep it */
        pw_api_cache_keep(r, key, (size_t)klen, from, r->body.len);
}
