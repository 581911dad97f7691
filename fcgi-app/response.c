/* PingWatcher — writing answers (see response.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "response.h"

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

const char *pw_resp_code_for(int status)
{
    switch (status) {
    case 400:
        return "invalid_argument";
    case 401:
        return "unauthenticated";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 409:
        return "conflict";
    case 413:
        return "payload_too_large";
    case 415:
        return "unsupported_media_type";
    case 503:
    case 504:
        return "unavailable";
    default:
        return "internal";
    }
}

const char *pw_req_env(const struct pw_req *r, const char *name)
{
    return r->fcgi ? FCGX_GetParam(name, r->fcgi->envp) : NULL;
}

int pw_resp_write(struct pw_req *r, const char *data, size_t n)
{
    if (r->client_gone)
        return -1;
    if (n == 0 || r->head_only)
        return 0;
    while (n > 0) {
        /* FCGX_PutStr takes an int: write in bounded chunks. */
        int chunk = n > (1u << 20) ? 1 << 20 : (int)n;

        if (!r->fcgi || FCGX_PutStr(data, chunk, r->fcgi->out) != chunk) {
            r->client_gone = true;
            return -1;
        }
        data += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

int pw_resp_flush(struct pw_req *r)
{
    if (r->client_gone || !r->fcgi)
        return -1;
    if (FCGX_FFlush(r->fcgi->out) < 0) {
        r->client_gone = true;
        return -1;
    }
    return 0;
}

static int send_head(struct pw_req *r, int status, const char *ctype, long length)
{
    struct timespec ts;
    char head[512];
    int64_t dur_ns;
    int n;

    /* The app's own time up to the answer (for a stream: up to its start), so a benchmark
     * or the browser's devtools can tell it from the web server's. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    dur_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - r->t0_ns;
    n = snprintf(head, sizeof(head),
                 "Status: %d %s\r\nContent-Type: %s\r\nX-Content-Type-Options: nosniff\r\n"
                 "Cache-Control: no-store\r\nServer-Timing: app;dur=%.3f\r\n",
                 status, reason(status), ctype, r->t0_ns ? dur_ns / 1e6 : 0.0);
    if (n < 0 || (size_t)n >= sizeof(head))
        return -1;
    if (length >= 0) {
        int m = snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %ld\r\n", length);

        if (m < 0 || (size_t)m >= sizeof(head) - (size_t)n)
            return -1;
        n += m;
    }
    r->headers_sent = true;
    /* Headers go out even for HEAD. */
    bool head_only = r->head_only;
    r->head_only = false;
    if (pw_resp_write(r, head, (size_t)n) < 0 ||
        pw_resp_write(r, r->headers.data ? r->headers.data : "", r->headers.len) < 0 ||
        pw_resp_write(r, "\r\n", 2) < 0) {
        r->head_only = head_only;
        return -1;
    }
    r->head_only = head_only;
    return 0;
}

int pw_resp_raw(struct pw_req *r, int status, const char *ctype, const char *body, size_t n)
{
    if (r->headers_sent)
        return -1;
    if (send_head(r, status, ctype, (long)n) < 0)
        return -1;
    return pw_resp_write(r, body, n);
}

static const char *ctype_of(const struct pw_req *r)
{
    return r->fmt == PW_FMT_HTML ? "text/html; charset=utf-8" : "application/json";
}

void pw_resp_begin(struct pw_req *r)
{
    pw_buf_reset(&r->body);
    pw_out_init(&r->out, r->fmt, &r->body);
    pw_out_obj_begin(&r->out, NULL);
}

int pw_resp_finish(struct pw_req *r, int status)
{
    pw_out_obj_end(&r->out);
    if (pw_buf_failed(&r->body))
        return pw_resp_error(r, 500, "internal",
                             "the answer is larger than %u bytes; ask for a narrower range",
                             PW_REQ_BODY_MAX_RESPONSE);
    return pw_resp_raw(r, status, ctype_of(r), r->body.data ? r->body.data : "", r->body.len);
}

int pw_resp_error(struct pw_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!code)
        code = pw_resp_code_for(status);
    if (r->headers_sent)
        return -1; /* mid-stream: nothing sensible can be said any more */
    pw_buf_reset(&r->body);
    /* The message may quote the request (an unknown name, a bad value): escaped either way. */
    if (r->fmt == PW_FMT_HTML) {
        pw_buf_printf(&r->body, "<div class=\"pw-error\" role=\"alert\" data-code=\"%s\">", code);
        pw_html_escape(&r->body, msg, strlen(msg));
        pw_buf_puts(&r->body, "</div>");
    } else {
        pw_buf_puts(&r->body, "{\"error\":{\"code\":");
        pw_json_escape(&r->body, code, strlen(code));
        pw_buf_puts(&r->body, ",\"message\":");
        pw_json_escape(&r->body, msg, strlen(msg));
        pw_buf_puts(&r->body, "}}");
    }
    if (pw_buf_failed(&r->body)) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

        return pw_resp_raw(r, 500, "application/json", oom, sizeof(oom) - 1);
    }
    return pw_resp_raw(r, status, ctype_of(r), r->body.data, r->body.len);
}

void pw_resp_header(struct pw_req *r, const char *fmt, ...)
{
    size_t start = r->headers.len;
    va_list ap;

    va_start(ap, fmt);
    pw_buf_vprintf(&r->headers, fmt, ap);
    va_end(ap);
    /* Header injection guard: a value with CR or LF is dropped whole. */
    if (r->headers.data && strpbrk(r->headers.data + start, "\r\n")) {
        r->headers.len = start;
        r->headers.data[start] = '\0';
        return;
    }
    pw_buf_puts(&r->headers, "\r\n");
}

int pw_resp_stream_begin(struct pw_req *r, int status, const char *ctype)
{
    /* A stream lasts (live events, a download at the client's pace): other requests must not
     * wait behind it for a worker. */
    pw_app_thread_waits(r->app, r->thread);
    return send_head(r, status, ctype, -1);
}
