/* PingWatcher — JSON and HTML output (see render.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "render.h"
#include "text.h"
#include "timefmt.h"

void pw_json_escape(struct pw_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;

    pw_buf_putc(b, '"');
    while (i < n) {
        unsigned char c = p[i];
        size_t k;

        /* Runs of plain characters are copied at once. */
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
            run++;
            i++;
            continue;
        }
        pw_buf_add(b, p + i - run, run);
        run = 0;
        if (c >= 0x80) {
            k = pw_utf8_seq(p + i, n - i);
            if (k) {
                pw_buf_add(b, p + i, k);
                i += k;
            } else {
                pw_buf_puts(b, "\\ufffd");
                i++;
            }
            continue;
        }
        switch (c) {
        case '"':
            pw_buf_puts(b, "\\\"");
            break;
        case '\\':
            pw_buf_puts(b, "\\\\");
            break;
        case '\n':
            pw_buf_puts(b, "\\n");
            break;
        case '\t':
            pw_buf_puts(b, "\\t");
            break;
        case '\r':
            pw_buf_puts(b, "\\r");
            break;
        default: {
            /* Control characters, DEL, and < > & (so a JSON body can never be read as
             * markup by a browser that sniffs it). */
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

            pw_buf_add(b, esc, sizeof(esc));
            break;
        }
        }
        i++;
    }
    pw_buf_add(b, p + i - run, run);
    pw_buf_putc(b, '"');
}

static void add_to_buf(void *b, const char *s, size_t n)
{
    pw_buf_add(b, s, n);
}

void pw_html_escape(struct pw_buf *b, const char *s, size_t n)
{
    pw_html_escape_to(s, n, add_to_buf, b);
}

/* Writes the decimal digits of v (no sign) ending at end; returns the first. */
static char *digits_of(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

void pw_num_format(struct pw_buf *b, double v, int decimals)
{
    static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    char tmp[64], *p, *end = tmp + sizeof(tmp);
    uint64_t scaled, ip, fp;
    bool neg;
    double x;

    if (!isfinite(v)) {
        pw_buf_puts(b, "null");
        return;
    }
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    /* The hot path of every answer: fixed point by hand, snprintf only for huge values. */
    x = fabs(v) * pow10[decimals] + 0.5;
    if (x >= 9e15) {
        int n = snprintf(tmp, sizeof(tmp), "%.*f", decimals, v);

        pw_buf_add(b, tmp, n > 0 && (size_t)n < sizeof(tmp) ? (size_t)n : 0);
        return;
    }
    scaled = (uint64_t)x;
    neg = v < 0 && scaled != 0; /* no "-0" */
    ip = scaled / (uint64_t)pow10[decimals];
    fp = scaled % (uint64_t)pow10[decimals];
    p = end;
    if (fp) {
        int nd = decimals;

        /* Trailing zeros dropped. */
        while (fp % 10 == 0) {
            fp /= 10;
            nd--;
        }
        for (int i = 0; i < nd; i++) {
            *--p = (char)('0' + fp % 10);
            fp /= 10;
        }
        *--p = '.';
    }
    p = digits_of(ip, p);
    if (neg)
        *--p = '-';
    pw_buf_add(b, p, (size_t)(end - p));
}

/* Fast integer output. */
static void put_i64(struct pw_buf *b, int64_t v)
{
    char tmp[24], *end = tmp + sizeof(tmp), *p;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    p = digits_of(u, end);
    if (v < 0)
        *--p = '-';
    pw_buf_add(b, p, (size_t)(end - p));
}

static void put_u64(struct pw_buf *b, uint64_t v)
{
    char tmp[24], *end = tmp + sizeof(tmp), *p = digits_of(v, end);

    pw_buf_add(b, p, (size_t)(end - p));
}

void pw_out_init(struct pw_out *o, enum pw_fmt fmt, struct pw_buf *b)
{
    memset(o, 0, sizeof(*o));
    o->fmt = fmt;
    o->b = b;
}

/* JSON: the separator and member name before a value. */
static void json_key(struct pw_out *o, const char *key)
{
    if (o->depth > 0 && o->depth <= PW_OUT_MAX_DEPTH) {
        if (o->comma[o->depth - 1])
            pw_buf_putc(o->b, ',');
        o->comma[o->depth - 1] = true;
    }
    if (key) {
        pw_json_escape(o->b, key, strlen(key));
        pw_buf_putc(o->b, ':');
    }
}

static void json_open(struct pw_out *o, const char *key, char c)
{
    json_key(o, key);
    pw_buf_putc(o->b, c);
    if (o->depth < PW_OUT_MAX_DEPTH)
        o->comma[o->depth] = false;
    else
        o->b->failed = true; /* deeper than any document we write: a bug */
    o->depth++;
}

static void json_close(struct pw_out *o, char c)
{
    if (o->depth > 0)
        o->depth--;
    pw_buf_putc(o->b, c);
}

/* HTML: true when a field with this key fills the next cell (and opens it). */
static bool html_cell(struct pw_out *o, const char *key)
{
    if (!o->in_row || o->skip || !key || o->col >= o->ncols)
        return false;
    if (strcmp(key, o->cols[o->col].key) != 0)
        return false;
    pw_buf_puts(o->b, "<td>");
    o->col++;
    return true;
}

void pw_out_obj_begin(struct pw_out *o, const char *key)
{
    if (o->fmt == PW_FMT_JSON)
        json_open(o, key, '{');
    else if (o->in_row)
        o->skip++;
}

void pw_out_obj_end(struct pw_out *o)
{
    if (o->fmt == PW_FMT_JSON)
        json_close(o, '}');
    else if (o->in_row && o->skip)
        o->skip--;
}

void pw_out_arr_begin(struct pw_out *o, const char *key)
{
    if (o->fmt == PW_FMT_JSON)
        json_open(o, key, '[');
    else if (o->in_row)
        o->skip++;
}

void pw_out_arr_end(struct pw_out *o)
{
    if (o->fmt == PW_FMT_JSON)
        json_close(o, ']');
    else if (o->in_row && o->skip)
        o->skip--;
}

void pw_out_table_begin(struct pw_out *o, const char *key, const char *cls, const char *caption,
                        const struct pw_col *cols, unsigned ncols, bool row_only)
{
    if (o->fmt == PW_FMT_JSON) {
        json_open(o, key, '[');
        return;
    }
    o->cols = cols;
    o->ncols = ncols;
    o->row_only = row_only;
    if (row_only)
        return;
    pw_buf_puts(o->b, "<table class=\"pw-");
    pw_html_escape(o->b, cls, strlen(cls));
    pw_buf_puts(o->b, "\">");
    if (caption) {
        pw_buf_puts(o->b, "<caption>");
        pw_html_escape(o->b, caption, strlen(caption));
        pw_buf_puts(o->b, "</caption>");
    }
    pw_buf_puts(o->b, "<thead><tr>");
    for (unsigned i = 0; i < ncols; i++) {
        pw_buf_puts(o->b, "<th>");
        pw_html_escape(o->b, cols[i].title, strlen(cols[i].title));
        pw_buf_puts(o->b, "</th>");
    }
    pw_buf_puts(o->b, "</tr></thead><tbody>");
}

void pw_out_table_end(struct pw_out *o)
{
    if (o->fmt == PW_FMT_JSON) {
        json_close(o, ']');
        return;
    }
    if (!o->row_only)
        pw_buf_puts(o->b, "</tbody></table>");
    o->cols = NULL;
    o->ncols = 0;
}

void pw_out_row_begin(struct pw_out *o, const char *html_id)
{
    if (o->fmt == PW_FMT_JSON) {
        json_open(o, NULL, '{');
        return;
    }
    if (html_id) {
        pw_buf_puts(o->b, "<tr id=\"");
        pw_html_escape(o->b, html_id, strlen(html_id));
        pw_buf_puts(o->b, "\">");
    } else {
        pw_buf_puts(o->b, "<tr>");
    }
    o->in_row = true;
    o->col = 0;
    o->skip = 0;
}

void pw_out_row_end(struct pw_out *o)
{
    if (o->fmt == PW_FMT_JSON) {
        json_close(o, '}');
        return;
    }
    /* Columns the row did not fill stay empty, so the table keeps its shape. */
    for (; o->col < o->ncols; o->col++)
        pw_buf_puts(o->b, "<td></td>");
    pw_buf_puts(o->b, "</tr>");
    o->in_row = false;
}

void pw_out_strn(struct pw_out *o, const char *key, const char *s, size_t n)
{
    if (o->fmt == PW_FMT_JSON) {
        json_key(o, key);
        if (s)
            pw_json_escape(o->b, s, n);
        else
            pw_buf_puts(o->b, "null");
        return;
    }
    if (html_cell(o, key)) {
        if (s)
            pw_html_escape(o->b, s, n);
        pw_buf_puts(o->b, "</td>");
    }
}

void pw_out_str(struct pw_out *o, const char *key, const char *s)
{
    pw_out_strn(o, key, s, s ? strlen(s) : 0);
}

void pw_out_int(struct pw_out *o, const char *key, int64_t v)
{
    if (o->fmt == PW_FMT_JSON) {
        json_key(o, key);
        put_i64(o->b, v);
    } else if (html_cell(o, key)) {
        put_i64(o->b, v);
        pw_buf_puts(o->b, "</td>");
    }
}

void pw_out_uint(struct pw_out *o, const char *key, uint64_t v)
{
    if (o->fmt == PW_FMT_JSON) {
        json_key(o, key);
        put_u64(o->b, v);
    } else if (html_cell(o, key)) {
        put_u64(o->b, v);
        pw_buf_puts(o->b, "</td>");
    }
}

void pw_out_num(struct pw_out *o, const char *key, bool valid, double v, int decimals)
{
    if (o->fmt == PW_FMT_JSON) {
        json_key(o, key);
        if (valid)
            pw_num_format(o->b, v, decimals);
        else
            pw_buf_puts(o->b, "null");
    } else if (html_cell(o, key)) {
        if (valid)
            pw_num_format(o->b, v, decimals);
        else
            pw_buf_puts(o->b, "-");
        pw_buf_puts(o->b, "</td>");
    }
}

void pw_out_ms(struct pw_out *o, const char *key, bool valid, double ms, bool lost)
{
    if (o->fmt == PW_FMT_JSON) {
        pw_out_num(o, key, valid, ms, 3);
    } else if (html_cell(o, key)) {
        if (lost)
            pw_buf_puts(o->b, "<span class=\"pw-err\">ERR</span>");
        else if (valid)
            pw_num_format(o->b, ms, 1);
        else
            pw_buf_puts(o->b, "-");
        pw_buf_puts(o->b, "</td>");
    }
}

void pw_out_bool(struct pw_out *o, const char *key, bool v)
{
    if (o->fmt == PW_FMT_JSON) {
        json_key(o, key);
        pw_buf_puts(o->b, v ? "true" : "false");
    } else if (html_cell(o, key)) {
        pw_buf_puts(o->b, v ? "yes</td>" : "no</td>");
    }
}

void pw_out_null(struct pw_out *o, const char *key)
{
    if (o->fmt == PW_FMT_JSON) {
        json_key(o, key);
        pw_buf_puts(o->b, "null");
    } else if (html_cell(o, key)) {
        pw_buf_puts(o->b, "</td>");
    }
}

void pw_out_time(struct pw_out *o, const char *key, int64_t us)
{
    char t[PW_TIMEFMT_STRLEN], mskey[64];

    pw_timefmt_rfc3339(us, t, sizeof(t));
    if (o->fmt == PW_FMT_JSON) {
        json_key(o, key);
        pw_buf_putc(o->b, '"');
        pw_buf_puts(o->b, t);
        pw_buf_putc(o->b, '"');
        snprintf(mskey, sizeof(mskey), "%s_ms", key ? key : "time");
        json_key(o, mskey);
        put_i64(o->b, pw_timefmt_ms(us));
    } else if (html_cell(o, key)) {
        pw_buf_printf(o->b, "<time datetime=\"%s\">%s</time></td>", t, t);
    }
}

void pw_out_splice(struct pw_out *o, const char *data, size_t n)
{
    if (n == 0)
        return;
    pw_buf_add(o->b, data, n);
    /* What follows needs a separator, as after any other member. */
    if (o->fmt == PW_FMT_JSON && o->depth > 0 && o->depth <= PW_OUT_MAX_DEPTH)
        o->comma[o->depth - 1] = true;
}

void pw_out_html_cell(struct pw_out *o, const char *key, const char *html, size_t n)
{
    if (o->fmt == PW_FMT_HTML && html_cell(o, key)) {
        pw_buf_add(o->b, html, n);
        pw_buf_puts(o->b, "</td>");
    }
}
