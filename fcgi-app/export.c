/* PingWatcher — session export as CSV or JSON, streamed.
 *
 * Rows are written while they are read, through a small buffer flushed to the web server in
 * chunks: a month of samples never sits in memory. Each chunk is read in its own short visit
 * to the store (its own read transaction), and written to the client after the store is let
 * go: a slow client neither blocks other requests nor pins an old LMDB snapshot (the daemon
 * could not reuse those pages and the file would grow).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "error.h"
#include "export.h"
#include "response.h"
#include "timefmt.h"

/* Bytes buffered per store visit: a sample has at most 64 rows of ~130 bytes, so a chunk
 * never needs more than FLUSH_AT plus one sample. */
#define FLUSH_AT (64 * 1024)
#define MAX_RANGE_US (400 * 86400 * 1000000LL)
#define NAME_PART_MAX 40

struct exp {
    struct pw_req *r;
    struct pw_buf buf;
    bool json;
    bool first;
    uint64_t rows;
    int64_t last_us; /* time of the last row written */
    int64_t resume;  /* >= 0: stopped at a sample boundary; go on from this time */
};

/* Writes what is buffered. -1 once the client is gone. */
static int drain(struct exp *e)
{
    int rc = pw_resp_write(e->r, e->buf.data ? e->buf.data : "", e->buf.len);

    pw_buf_reset(&e->buf);
    return rc;
}

/* A spreadsheet would run a cell starting with = + - @ as a formula: DNS names and labels
 * are attacker-controlled, so such cells get a leading quote. */
static void csv_field(struct pw_buf *b, const char *s)
{
    bool formula = (s[0] == '=' || s[0] == '+' || s[0] == '@' || s[0] == '\t' ||
                    (s[0] == '-' && strcmp(s, PW_DNS_NONE) != 0));

    pw_buf_putc(b, '"');
    if (formula)
        pw_buf_putc(b, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            pw_buf_putc(b, '"');
        pw_buf_putc(b, *p);
    }
    pw_buf_putc(b, '"');
}

static int row_cb(void *arg, const struct pw_store_export_row *row)
{
    struct exp *e = arg;
    char t[PW_TIMEFMT_STRLEN], ip[PW_ADDR_STRLEN] = "";
    bool lost = row->rtt_us < 0;

    /* The store is held while this runs: stop at a sample boundary once a chunk is
     * buffered, write it without the store, and resume from that sample. */
    if (e->buf.len >= FLUSH_AT && row->time_us != e->last_us) {
        e->resume = row->time_us;
        return 1;
    }
    e->last_us = row->time_us;
    pw_timefmt_rfc3339(row->time_us, t, sizeof(t));
    if (row->ip.family)
        pw_addr_format(&row->ip, ip, sizeof(ip));
    if (e->json) {
        pw_buf_puts(&e->buf, e->first ? "\n{\"time\":\"" : ",\n{\"time\":\"");
        e->first = false;
        pw_buf_printf(&e->buf, "%s\",\"time_ms\":%lld,\"hop\":%u,\"ip\":", t,
                      (long long)pw_timefmt_ms(row->time_us), row->hop);
        if (ip[0])
            pw_json_escape(&e->buf, ip, strlen(ip));
        else
            pw_buf_puts(&e->buf, "null");
        pw_buf_puts(&e->buf, ",\"dns\":");
        if (row->dns[0])
            pw_json_escape(&e->buf, row->dns, strnlen(row->dns, sizeof(row->dns)));
        else
            pw_buf_puts(&e->buf, "null");
        pw_buf_puts(&e->buf, ",\"rtt_ms\":");
        if (lost)
            pw_buf_puts(&e->buf, "null");
        else
            pw_num_format(&e->buf, row->rtt_us / 1000.0, 3);
        pw_buf_puts(&e->buf, lost ? ",\"timeout\":true}" : ",\"timeout\":false}");
    } else {
        char dns[PW_DNS_NAME_MAX + 1];

        snprintf(dns, sizeof(dns), "%s", row->dns);
        pw_buf_printf(&e->buf, "%s,%lld,%u,%s,", t, (long long)pw_timefmt_ms(row->time_us),
                      row->hop, ip);
        csv_field(&e->buf, dns);
        pw_buf_putc(&e->buf, ',');
        if (!lost)
            pw_num_format(&e->buf, row->rtt_us / 1000.0, 3);
        pw_buf_puts(&e->buf, lost ? ",1\r\n" : ",0\r\n");
    }
    e->rows++;
    return pw_buf_failed(&e->buf) ? 1 : 0;
}

/* Appends s to the file name, keeping only [A-Za-z0-9._-] (others become '_', runs collapse). */
static void name_part(char *dst, size_t len, const char *s)
{
    size_t n = strlen(dst), added = 0;

    for (; *s && n + 1 < len && added < NAME_PART_MAX; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.';

        if (!ok)
            c = '_';
        /* No "..", no runs of '_'. */
        if ((c == '_' || c == '.') && n > 0 && (dst[n - 1] == '_' || dst[n - 1] == '.'))
            continue;
        dst[n++] = c;
        added++;
    }
    dst[n] = '\0';
}

static void stamp(char *buf, size_t len, int64_t us)
{
    char t[PW_TIMEFMT_STRLEN];

    /* 2024-05-01T12:00:00.000Z -> 20240501T120000Z */
    pw_timefmt_rfc3339(us, t, sizeof(t));
    snprintf(buf, len, "%.4s%.2s%.2sT%.2s%.2s%.2sZ", t, t + 5, t + 8, t + 11, t + 14, t + 17);
}

void pw_export_filename(char *out, size_t len, uint32_t id, const char *who, const char *session,
                        int64_t start, int64_t end, const char *ext)
{
    char a[24], b[24];

    snprintf(out, len, "pingwatcher-%u-", id);
    name_part(out, len, who);
    if (session) {
        name_part(out, len, "-");
        name_part(out, len, session);
    }
    stamp(a, sizeof(a), start);
    stamp(b, sizeof(b), end);
    snprintf(out + strlen(out), len - strlen(out), "-%s-%s.%s", a, b, ext);
}

static int run_export(struct pw_req *r, struct pw_store *s, const struct pw_store_target *t,
                      const struct pw_store_session *ss, int64_t start, int64_t end)
{
    struct pw_kv *fk = pw_kvs_find(&r->params, "format");
    const char *fmt = fk ? fk->value : "csv";
    char fname[256];
    struct exp e = {.r = r, .first = true};
    int rc = 0;

    if (strcmp(fmt, "csv") != 0 && strcmp(fmt, "json") != 0)
        return pw_resp_error(r, 400, NULL, "format must be csv or json");
    e.json = fmt[0] == 'j';
    pw_export_filename(fname, sizeof(fname), t->id, t->label[0] ? t->label : t->host,
                       ss ? ss->name : NULL, start, end, e.json ? "json" : "csv");
    pw_buf_init(&e.buf, r->arena, 2 * FLUSH_AT);
    pw_resp_header(r, "Content-Disposition: attachment; filename=\"%s\"", fname);
    /* The export is a download whatever the page asked: never an HTMX fragment. */
    if (pw_resp_stream_begin(r, 200, e.json ? "application/json" : "text/csv; charset=utf-8") < 0)
        return -1;
    if (e.json) {
        pw_buf_printf(&e.buf, "{\"target\":{\"id\":%u,\"host\":", t->id);
        pw_json_escape(&e.buf, t->host, strlen(t->host));
        pw_buf_puts(&e.buf, ",\"label\":");
        pw_json_escape(&e.buf, t->label, strlen(t->label));
        pw_buf_puts(&e.buf, "},");
        if (ss) {
            pw_buf_printf(&e.buf, "\"session\":{\"id\":%u,\"name\":", ss->id);
            pw_json_escape(&e.buf, ss->name, strlen(ss->name));
            pw_buf_puts(&e.buf, "},");
        }
        pw_buf_printf(&e.buf, "\"start_ms\":%lld,\"end_ms\":%lld,\"rows\":[",
                      (long long)pw_timefmt_ms(start), (long long)pw_timefmt_ms(end));
    } else {
        pw_buf_puts(&e.buf, "time,time_ms,hop,ip,dns,rtt_ms,timeout\r\n");
    }
    pw_api_store_release(r);
    for (int64_t from = start; from < end && !r->client_gone && !r->app->stopping;) {
        e.resume = -1;
        s = pw_api_store(r);
        if (!s) {
            rc = -EIO;
            break;
        }
        rc = pw_store_export(s, t->id, from, end, row_cb, &e);
        pw_api_store_release(r);
        if (rc == -ENOENT)
            rc = 0;
        if (rc < 0 || pw_buf_failed(&e.buf))
            break;
        if (drain(&e) < 0 || e.resume < 0)
            break;
        from = e.resume;
        rc = 0;
    }
    if (e.json) {
        pw_buf_printf(&e.buf, "\n],\"rows_count\":%llu,\"complete\":%s", (unsigned long long)e.rows,
                      rc < 0 ? "false" : "true");
        if (rc < 0) {
            pw_buf_puts(&e.buf, ",\"error\":");
            pw_json_escape(&e.buf, pw_strerror(rc), strlen(pw_strerror(rc)));
        }
        pw_buf_puts(&e.buf, "}\n");
    }
    /* A CSV cut short by a store error has no trailer: the web server sees the stream end
     * early only when the connection breaks, so say it in the last line. */
    if (!e.json && rc < 0)
        pw_buf_printf(&e.buf, "# export incomplete: %s\r\n", pw_strerror(rc));
    drain(&e);
    return 0;
}

static int export_params(struct pw_req *r)
{
    static const char *const allowed[] = {"format", "start", "end", NULL};

    return pw_api_params(r, allowed);
}

int pw_api_export_range(struct pw_req *r)
{
    struct pw_store_target t;
    struct pw_store *s;
    int64_t start, end;
    int rs, re;

    if (export_params(r))
        return 0;
    re = pw_kv_time(&r->params, "end", &end, r->err, sizeof(r->err));
    if (re < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    if (re == 1)
        end = pw_api_now_us();
    rs = pw_kv_time(&r->params, "start", &start, r->err, sizeof(r->err));
    if (rs < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    if (rs == 1)
        start = end > 86400 * 1000000LL ? end - 86400 * 1000000LL : 0;
    if (start >= end)
        return pw_resp_error(r, 400, NULL, "start must be before end");
    if (end - start > MAX_RANGE_US)
        return pw_resp_error(r, 400, NULL, "an export covers at most 400 days");
    if (pw_api_target(r, 0, &s, &t))
        return 0;
    return run_export(r, s, &t, NULL, start, end);
}

int pw_api_export_session(struct pw_req *r)
{
    struct pw_store_session ss;
    struct pw_store_target t;
    struct pw_store *s;

    if (export_params(r))
        return 0;
    if (pw_kvs_find(&r->params, "start") || pw_kvs_find(&r->params, "end"))
        return pw_resp_error(r, 400, NULL, "a session export covers the session: no start or end");
    if (pw_api_session_of(r, &s, &t, &ss))
        return 0;
    if (ss.start_us >= ss.end_us)
        return pw_resp_error(r, 400, NULL, "the session's range is empty");
    return run_export(r, s, &t, &ss, ss.start_us, ss.end_us);
}
