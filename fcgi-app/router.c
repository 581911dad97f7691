/* PingWatcher — request routing and the checks every request passes (see router.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "api_alerts.h"
#include "response.h"
#include "router.h"

struct route {
    const char *pattern; /* segments; '#' an id, '*' a name (validated by the handler) */
    unsigned methods;
    pw_handler fn;
    unsigned flags;
};

#define GET PW_HTTP_GET
#define POST PW_HTTP_POST
#define PUT PW_HTTP_PUT
#define PATCH PW_HTTP_PATCH
#define DELETE PW_HTTP_DELETE
#define MUT PW_ROUTE_MUTATION
#define SSE PW_ROUTE_SSE
#define JSONB PW_ROUTE_JSON_BODY

/* Literal segments first where a wildcard could also match ("export" before "#"). */
static const struct route routes[] = {
    {"api/targets", GET, pw_api_targets_list, 0},
    {"api/targets", POST, pw_api_targets_add, MUT},
    {"api/targets/#", GET, pw_api_target_get, 0},
    {"api/targets/#", PATCH, pw_api_target_update, MUT},
    {"api/targets/#", DELETE, pw_api_target_delete, MUT},
    {"api/targets/#/hops", GET, pw_api_hops, 0},
    {"api/targets/#/timeline", GET, pw_api_timeline, 0},
    {"api/targets/#/route_changes", GET, pw_api_route_changes, 0},
    {"api/targets/#/diagnosis", GET, pw_api_diagnosis, 0},
    {"api/targets/#/report", GET, pw_api_report, 0},
    {"api/targets/#/live", GET, pw_api_live_target, SSE},
    {"api/targets/#/comments", GET, pw_api_comments_list, 0},
    {"api/targets/#/comments", POST, pw_api_comment_add, MUT},
    {"api/targets/#/comments/#", DELETE, pw_api_comment_delete, MUT},
    {"api/targets/#/sessions", GET, pw_api_sessions_list, 0},
    {"api/targets/#/sessions", POST, pw_api_session_add, MUT},
    {"api/targets/#/sessions/export", GET | POST, pw_api_export_range, 0},
    {"api/targets/#/sessions/#", GET, pw_api_session_get, 0},
    {"api/targets/#/sessions/#", DELETE, pw_api_session_delete, MUT},
    {"api/targets/#/sessions/#/export", GET | POST, pw_api_export_session, 0},
    {"api/sessions", GET, pw_api_sessions_all, 0},
    {"api/summary", GET, pw_api_summary, 0},
    {"api/summary/live", GET, pw_api_live_summary, SSE},
    {"api/configs", GET, pw_api_configs_list, 0},
    {"api/configs", POST, pw_api_config_create, MUT},
    {"api/configs/*", GET, pw_api_config_get, 0},
    {"api/configs/*", PUT, pw_api_config_update, MUT},
    {"api/configs/*", DELETE, pw_api_config_delete, MUT},
    {"api/configs/*/apply", POST, pw_api_config_apply, MUT},
    {"api/alerts", GET, pw_api_alerts_list, 0},
    {"api/alerts", POST, pw_api_alert_create, MUT | JSONB},
    {"api/alerts/firing", GET, pw_api_alerts_firing, 0},
    {"api/alerts/history", GET, pw_api_alerts_history, 0},
    {"api/alerts/#", GET, pw_api_alert_get, 0},
    {"api/alerts/#", PATCH, pw_api_alert_update, MUT | JSONB},
    {"api/alerts/#", DELETE, pw_api_alert_delete, MUT},
    {"metrics", GET, pw_api_metrics, 0},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Input left unread past this is not drained: the connection is closed instead. */
#define DRAIN_MAX (4u << 20)

static bool match(const struct route *rt, const struct pw_http_path *p, const char **args,
                  unsigned *nargs)
{
    const char *pat = rt->pattern;
    unsigned i = 0;

    *nargs = 0;
    while (*pat) {
        size_t n = strcspn(pat, "/");

        if (i >= p->nseg)
            return false;
        if (n == 1 && (pat[0] == '#' || pat[0] == '*')) {
            if (*nargs < PW_REQ_MAX_ARGS)
                args[(*nargs)++] = p->seg[i];
        } else if (strlen(p->seg[i]) != n || memcmp(p->seg[i], pat, n) != 0) {
            return false;
        }
        i++;
        pat += n;
        if (*pat == '/')
            pat++;
    }
    return i == p->nseg;
}

static bool header_true(const struct pw_req *r, const char *name)
{
    const char *v = pw_req_env(r, name);

    return v && strcasecmp(v, "true") == 0;
}

/* Length of the host name at the start of s ("[::1]:8080" -> "[::1]", "a.b:80/x" -> "a.b"). */
static size_t host_len(const char *s)
{
    if (s[0] == '[') {
        const char *end = strchr(s, ']');

        return end ? (size_t)(end - s) + 1 : 0;
    }
    return strcspn(s, ":/");
}

/* Mutations: the web server's user when writes need one, and proof the request comes from our
 * own page (a header a cross-site form cannot set, and no foreign Origin). */
static int check_mutation(struct pw_req *r)
{
    const struct pw_app_opts *o = &r->app->opts;
    const char *xrw = pw_req_env(r, "HTTP_X_REQUESTED_WITH");
    const char *origin = pw_req_env(r, "HTTP_ORIGIN");
    const char *host = pw_req_env(r, "HTTP_HOST");
    const char *site = pw_req_env(r, "HTTP_SEC_FETCH_SITE");

    if (o->auth_writes) {
        bool allowed = o->nwrite_users == 0;

        if (!r->remote_user) {
            pw_resp_header(r, "WWW-Authenticate: Basic realm=\"PingWatcher\"");
            pw_resp_error(r, 401, NULL, "changes need a signed-in user; reading works without");
            return PW_ANSWERED;
        }
        for (unsigned i = 0; i < o->nwrite_users; i++)
            if (strcmp(o->write_users[i], r->remote_user) == 0)
                allowed = true;
        if (!allowed) {
            pw_resp_error(r, 403, NULL, "user '%s' may read but not change anything",
                          r->remote_user);
            return PW_ANSWERED;
        }
    }
    if (!header_true(r, "HTTP_HX_REQUEST") && !(xrw && *xrw)) {
        pw_resp_error(r, 403, NULL,
                      "changes must come from the PingWatcher page: send the header "
                      "HX-Request: true or X-Requested-With");
        return PW_ANSWERED;
    }
    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) {
        pw_resp_error(r, 403, NULL, "cross-site requests cannot change anything");
        return PW_ANSWERED;
    }
    if (origin && *origin) {
        const char *sep = strstr(origin, "://");
        size_t ol = sep ? host_len(sep + 3) : 0, hl = host ? host_len(host) : 0;

        /* Host names only: nginx passes $host, which has no port. */
        if (!sep || !host || ol == 0 || ol != hl || strncasecmp(sep + 3, host, ol) != 0) {
            pw_resp_error(r, 403, NULL, "the request's Origin is not this site");
            return PW_ANSWERED;
        }
    }
    return 0;
}

/* Reads and parses the body into r->params. */
static int read_body(struct pw_req *r, unsigned flags)
{
    const char *cl = pw_req_env(r, "CONTENT_LENGTH");
    const char *ct = pw_req_env(r, "CONTENT_TYPE");
    enum pw_http_ctype kind;
    size_t len = 0;
    char *body;
    int got, rc;

    if (!cl || !*cl)
        return 0;
    if (strlen(cl) > 12 || cl[strspn(cl, "0123456789")] != '\0') {
        pw_resp_error(r, 400, NULL, "Content-Length is not a number");
        return PW_ANSWERED;
    }
    for (const char *p = cl; *p; p++)
        len = len * 10 + (size_t)(*p - '0');
    if (len == 0)
        return 0;
    if (len > PW_HTTP_BODY_MAX) {
        pw_resp_error(r, 413, NULL, "the body is %zu bytes; at most %d are accepted", len,
                      PW_HTTP_BODY_MAX);
        return PW_ANSWERED;
    }
    if (!(r->method & (PW_HTTP_POST | PW_HTTP_PUT | PW_HTTP_PATCH))) {
        pw_resp_error(r, 400, NULL, "this request takes no body");
        return PW_ANSWERED;
    }
    kind = pw_http_ctype_parse(ct);
    if (kind != PW_CTYPE_JSON && kind != PW_CTYPE_FORM) {
        pw_resp_error(r, 415, NULL,
                      "send the body as application/json or application/x-www-form-urlencoded "
                      "(UTF-8)");
        return PW_ANSWERED;
    }
    if ((flags & PW_ROUTE_JSON_BODY) && kind != PW_CTYPE_JSON) {
        pw_resp_error(r, 415, NULL, "send the body as application/json (UTF-8)");
        return PW_ANSWERED;
    }
    body = pw_arena_alloc(r->arena, len + 1);
    if (!body) {
        pw_resp_error(r, 500, NULL, "out of memory");
        return PW_ANSWERED;
    }
    got = FCGX_GetStr(body, (int)len, r->fcgi->in);
    if (got != (int)len) {
        pw_resp_error(r, 400, NULL, "the body is shorter than its Content-Length");
        return PW_ANSWERED;
    }
    body[len] = '\0';
    if (flags & PW_ROUTE_JSON_BODY) { /* nested JSON (alert rules): the handler parses it */
        r->raw_body = body;
        r->raw_len = len;
        return 0;
    }
    if (kind == PW_CTYPE_JSON)
        rc = pw_http_json_parse(r->arena, body, len, &r->params, r->err, sizeof(r->err));
    else
        rc = pw_http_form_parse(r->arena, body, len, &r->params, r->err, sizeof(r->err));
    if (rc < 0) {
        pw_resp_error(r, rc == -ENOMEM ? 500 : 400, NULL, "%s", r->err);
        return PW_ANSWERED;
    }
    return 0;
}

/* Reads what the handler left of the body so a kept-alive connection stays in step. */
static void drain(FCGX_Request *f)
{
    char scratch[4096];
    size_t total = 0;
    int n;

    while (total < DRAIN_MAX && (n = FCGX_GetStr(scratch, sizeof(scratch), f->in)) > 0)
        total += (size_t)n;
}

static void dispatch(struct pw_req *r, const char *method_name)
{
    const char *uri = pw_req_env(r, "REQUEST_URI");
    const char *query = pw_req_env(r, "QUERY_STRING");
    const struct route *found = NULL;
    unsigned allow = 0;
    char allow_text[128];
    int rc;

    if (!uri || !*uri)
        uri = pw_req_env(r, "DOCUMENT_URI");
    if (!uri || !*uri)
        uri = pw_req_env(r, "SCRIPT_NAME");
    if (!uri) {
        pw_resp_error(r, 400, NULL, "the web server passed no request path");
        return;
    }
    r->uri = uri;
    rc = pw_http_path_parse(r->arena, uri, strlen(uri), &r->path, r->err, sizeof(r->err));
    if (rc < 0) {
        pw_resp_error(r, rc == -ENOMEM ? 500 : 400, NULL, "%s", r->err);
        return;
    }
    for (size_t i = 0; i < NROUTES; i++) {
        const char *args[PW_REQ_MAX_ARGS];
        unsigned nargs;

        if (!match(&routes[i], &r->path, args, &nargs))
            continue;
        allow |= routes[i].methods;
        if (!found && (routes[i].methods & r->method)) {
            found = &routes[i];
            memcpy(r->arg, args, sizeof(args));
            r->nargs = nargs;
        }
    }
    if (!allow) {
        pw_resp_error(r, 404, NULL, "no such resource: %.200s", uri);
        return;
    }
    if (allow & PW_HTTP_GET)
        allow |= PW_HTTP_HEAD;
    pw_http_methods_format(allow | PW_HTTP_OPTIONS, allow_text, sizeof(allow_text));
    if (r->method == PW_HTTP_OPTIONS) {
        pw_resp_header(r, "Allow: %s", allow_text);
        pw_resp_raw(r, 204, "text/plain", "", 0);
        return;
    }
    if (!found) {
        pw_resp_header(r, "Allow: %s", allow_text);
        pw_resp_error(r, 405, NULL, "%.16s is not allowed here; allowed: %s", method_name,
                      allow_text);
        return;
    }
    if (query && *query) {
        if (strlen(query) > PW_HTTP_QUERY_MAX) {
            pw_resp_error(r, 400, NULL, "the query string is longer than %d bytes",
                          PW_HTTP_QUERY_MAX);
            return;
        }
        rc = pw_http_form_parse(r->arena, query, strlen(query), &r->params, r->err, sizeof(r->err));
        if (rc < 0) {
            pw_resp_error(r, rc == -ENOMEM ? 500 : 400, NULL, "%s", r->err);
            return;
        }
    }
    /* Permission first, so nothing is read from a client that may not write. */
    if ((found->flags & PW_ROUTE_MUTATION) && check_mutation(r))
        return;
    if (read_body(r, found->flags))
        return;
    if (r->head_only && (found->flags & PW_ROUTE_SSE)) {
        /* HEAD of a stream: its headers, not an hour of nothing. */
        pw_resp_stream_begin(r, 200, "text/event-stream; charset=utf-8");
        return;
    }
    found->fn(r);
    /* A handler that forgot to answer is a bug; the client still gets a clear error. */
    if (!r->headers_sent)
        pw_resp_error(r, 500, NULL, "the request ended without an answer");
}

void pw_router_handle(struct pw_app *app, FCGX_Request *f, struct pw_arena *a,
                      struct pw_app_thread *th)
{
    struct pw_req *r = pw_arena_zalloc(a, sizeof(*r));
    const char *method_name = FCGX_GetParam("REQUEST_METHOD", f->envp);
    const char *user = FCGX_GetParam("REMOTE_USER", f->envp);

    if (!r) {
        static const char oom[] = "Status: 500 Internal Server Error\r\nContent-Type: "
                                  "application/json\r\n\r\n{\"error\":{\"code\":\"internal\","
                                  "\"message\":\"out of memory\"}}";

        FCGX_PutStr(oom, sizeof(oom) - 1, f->out);
        return;
    }
    {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        r->t0_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    r->app = app;
    r->thread = th;
    r->fcgi = f;
    r->arena = a;
    pw_buf_init(&r->body, a, PW_REQ_BODY_MAX_RESPONSE);
    pw_buf_init(&r->headers, a, 4096);
    r->fmt = header_true(r, "HTTP_HX_REQUEST") ? PW_FMT_HTML : PW_FMT_JSON;
    r->remote_user = user && *user && strlen(user) < 64 ? user : NULL;
    r->method = pw_http_method_parse(method_name);
    if (r->method == PW_HTTP_HEAD) {
        r->method = PW_HTTP_GET;
        r->head_only = true;
    }
    dispatch(r, method_name ? method_name : "?");
    pw_api_store_release(r);
    drain(f);
}
