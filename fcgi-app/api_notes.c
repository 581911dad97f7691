/* PingWatcher — comments (timeline annotations) and sessions (named time ranges). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "response.h"

#define MAX_ITEMS 10000

/* Times go to the daemon as Unix seconds with microseconds (CONTROL.md takes both forms). */
static bool add_time(cJSON *o, const char *key, int64_t us)
{
    return cJSON_AddNumberToObject(o, key, (double)us / 1e6) != NULL;
}

/* ---- comments ---- */

static const struct pw_col comment_cols[] = {
    {"time", "Time"},
    {"text", "Comment"},
    {"author", "Author"},
};

struct comments {
    struct pw_arena *arena;
    struct pw_store_comment *v;
    size_t n, cap, max;
    uint32_t want_id; /* lookup of one comment (0 = collect) */
    bool found, more;
};

static int comment_cb(void *arg, const struct pw_store_comment *c)
{
    struct comments *l = arg;

    if (l->want_id) {
        if (c->id != l->want_id)
            return 0;
        l->found = true;
        return 1;
    }
    if (l->n == l->max) {
        l->more = true;
        return 1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct pw_store_comment *v =
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

static void comment_row(struct pw_out *o, uint32_t id, uint32_t target, int64_t time_us,
                        const char *text, const char *author)
{
    char hid[32];

    snprintf(hid, sizeof(hid), "comment-%u", id);
    pw_out_row_begin(o, hid);
    pw_out_time(o, "time", time_us);
    pw_out_str(o, "text", text);
    pw_out_str(o, "author", author[0] ? author : NULL);
    pw_out_uint(o, "id", id);
    pw_out_uint(o, "target", target);
    pw_out_row_end(o);
}

int pw_api_comments_list(struct pw_req *r)
{
    static const char *const allowed[] = {"start", "end", "limit", NULL};
    struct comments l = {.arena = r->arena};
    struct pw_store_target t;
    struct pw_store *s;
    int64_t start = 0, end = INT64_MAX, limit = 1000;
    int rc;

    if (pw_api_params(r, allowed))
        return 0;
    if (pw_kv_time(&r->params, "start", &start, r->err, sizeof(r->err)) < 0 ||
        pw_kv_time(&r->params, "end", &end, r->err, sizeof(r->err)) < 0 ||
        pw_kv_i64(&r->params, "limit", 1, MAX_ITEMS, &limit, r->err, sizeof(r->err)) < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    if (start >= end)
        return pw_resp_error(r, 400, NULL, "start must be before end");
    if (pw_api_target(r, 0, &s, &t))
        return 0;
    l.max = (size_t)limit;
    rc = pw_store_comments(s, t.id, start, end, comment_cb, &l);
    if (rc < 0 && rc != -ENOENT)
        return pw_api_store_error(r, rc, "the comments");
    pw_resp_begin(r);
    pw_out_uint(&r->out, "id", t.id);
    pw_out_table_begin(&r->out, "comments", "comments", "Comments", comment_cols,
                       sizeof(comment_cols) / sizeof(comment_cols[0]), false);
    for (size_t i = 0; i < l.n; i++)
        comment_row(&r->out, l.v[i].id, l.v[i].target_id, l.v[i].time_us, l.v[i].text,
                    l.v[i].author);
    pw_out_table_end(&r->out);
    pw_out_bool(&r->out, "truncated", l.more);
    return pw_resp_finish(r, 200);
}

static uint32_t result_id(const cJSON *result)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(result, "id");

    if (!cJSON_IsNumber(id) || id->valuedouble < 1 || id->valuedouble > 4294967295.0)
        return 0;
    return (uint32_t)id->valuedouble;
}

int pw_api_comment_add(struct pw_req *r)
{
    static const char *const allowed[] = {"time", "text", NULL};
    const char *text = NULL, *author = r->remote_user ? r->remote_user : "";
    struct pw_store_target t;
    struct pw_store *s;
    cJSON *a, *result = NULL;
    int64_t time_us;
    uint32_t id;
    int rc;

    if (pw_api_params(r, allowed))
        return 0;
    rc = pw_kv_time(&r->params, "time", &time_us, r->err, sizeof(r->err));
    if (rc < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    if (rc == 1)
        time_us = pw_api_now_us();
    rc = pw_kv_text(&r->params, "text", 1, PW_STORE_TEXT_MAX, &text, r->err, sizeof(r->err));
    if (rc == 1)
        return pw_resp_error(r, 400, NULL, "text is required (1 to %d bytes)", PW_STORE_TEXT_MAX);
    if (rc < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    if (strlen(author) > PW_STORE_NAME_MAX)
        author = "";
    if (pw_api_target(r, 0, &s, &t))
        return 0;
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddNumberToObject(a, "target", t.id) || !add_time(a, "time", time_us) ||
        !cJSON_AddStringToObject(a, "text", text) ||
        (author[0] && !cJSON_AddStringToObject(a, "author", author))) {
        cJSON_Delete(a);
        return pw_resp_error(r, 500, NULL, "out of memory");
    }
    if (pw_api_control(r, "comment.add", a, &result))
        return 0;
    id = result_id(result);
    cJSON_Delete(result);
    if (!id)
        return pw_resp_error(r, 500, NULL, "pingwatcherd answered without a comment id");
    pw_resp_header(r, "Location: /api/targets/%u/comments/%u", t.id, id);
    pw_resp_begin(r);
    if (r->fmt == PW_FMT_HTML) {
        pw_out_table_begin(&r->out, "comment", "comments", NULL, comment_cols,
                           sizeof(comment_cols) / sizeof(comment_cols[0]), true);
        comment_row(&r->out, id, t.id, time_us, text, author);
        pw_out_table_end(&r->out);
    } else {
        pw_out_uint(&r->out, "id", id);
        pw_out_uint(&r->out, "target", t.id);
        pw_out_time(&r->out, "time", time_us);
        pw_out_str(&r->out, "text", text);
        pw_out_str(&r->out, "author", author[0] ? author : NULL);
    }
    return pw_resp_finish(r, 201);
}

int pw_api_comment_delete(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct comments l = {.arena = r->arena};
    struct pw_store_target t;
    struct pw_store *s;
    cJSON *a, *result = NULL;
    uint32_t cid;
    int rc;

    if (pw_api_params(r, allowed))
        return 0;
    if (pw_http_parse_id(r->arg[1], "comment id", &cid, r->err, sizeof(r->err)) < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    if (pw_api_target(r, 0, &s, &t))
        return 0;
    /* The comment must belong to this target: ids in the path are checked, not trusted. */
    l.want_id = cid;
    rc = pw_store_comments(s, t.id, 0, INT64_MAX, comment_cb, &l);
    if (rc < 0 && rc != -ENOENT)
        return pw_api_store_error(r, rc, "the comments");
    if (!l.found)
        return pw_resp_error(r, 404, NULL, "target %u has no comment %u", t.id, cid);
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddNumberToObject(a, "id", cid)) {
        cJSON_Delete(a);
        return pw_resp_error(r, 500, NULL, "out of memory");
    }
    if (pw_api_control(r, "comment.delete", a, &result))
        return 0;
    cJSON_Delete(result);
    if (r->fmt == PW_FMT_HTML)
        return pw_resp_raw(r, 200, "text/html; charset=utf-8", "", 0);
    pw_resp_begin(r);
    pw_out_uint(&r->out, "deleted", cid);
    return pw_resp_finish(r, 200);
}

/* ---- sessions ---- */

static const struct pw_col session_cols[] = {
    {"id", "ID"},       {"target", "Target"}, {"name", "Name"},
    {"start", "Start"}, {"end", "End"},       {"created", "Saved"},
};

struct sessions {
    struct pw_arena *arena;
    struct pw_store_session *v;
    size_t n, cap;
    bool more;
};

static int session_cb(void *arg, const struct pw_store_session *ss)
{
    struct sessions *l = arg;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct pw_store_session *v;

        if (cap > MAX_ITEMS ||
            !(v = pw_arena_realloc(l->arena, l->v, l->cap * sizeof(*v), cap * sizeof(*v)))) {
            l->more = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *ss;
    return 0;
}

static void session_row(struct pw_out *o, const struct pw_store_session *ss)
{
    char hid[32];

    snprintf(hid, sizeof(hid), "session-%u", ss->id);
    pw_out_row_begin(o, hid);
    pw_out_uint(o, "id", ss->id);
    pw_out_uint(o, "target", ss->target_id);
    pw_out_str(o, "name", ss->name);
    pw_out_time(o, "start", ss->start_us);
    pw_out_time(o, "end", ss->end_us);
    pw_out_time(o, "created", ss->created_us);
    pw_out_row_end(o);
}

static int list_sessions(struct pw_req *r, struct pw_store *s, uint32_t target)
{
    struct sessions l = {.arena = r->arena};
    int rc = pw_store_sessions(s, target, session_cb, &l);

    if (rc < 0 && rc != -ENOENT && !l.more)
        return pw_api_store_error(r, rc, "the sessions");
    pw_resp_begin(r);
    if (target)
        pw_out_uint(&r->out, "id", target);
    pw_out_table_begin(&r->out, "sessions", "sessions", "Sessions", session_cols,
                       sizeof(session_cols) / sizeof(session_cols[0]), false);
    for (size_t i = 0; i < l.n; i++)
        session_row(&r->out, &l.v[i]);
    pw_out_table_end(&r->out);
    pw_out_bool(&r->out, "truncated", l.more);
    return pw_resp_finish(r, 200);
}

int pw_api_sessions_list(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_store_target t;
    struct pw_store *s;

    if (pw_api_params(r, allowed) || pw_api_target(r, 0, &s, &t))
        return 0;
    return list_sessions(r, s, t.id);
}

int pw_api_sessions_all(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_store *s;

    if (pw_api_params(r, allowed) || !(s = pw_api_store(r)))
        return 0;
    return list_sessions(r, s, 0);
}

/* Loads session r->arg[1] of target r->arg[0]: 400/404 answered. */
int pw_api_session_of(struct pw_req *r, struct pw_store **s, struct pw_store_target *t,
                      struct pw_store_session *ss)
{
    uint32_t sid;
    int rc;

    if (pw_http_parse_id(r->arg[1], "session id", &sid, r->err, sizeof(r->err)) < 0) {
        pw_resp_error(r, 400, NULL, "%s", r->err);
        return PW_ANSWERED;
    }
    if (pw_api_target(r, 0, s, t))
        return PW_ANSWERED;
    rc = pw_store_session_get(*s, sid, ss);
    if (rc == -ENOENT || (rc == 0 && ss->target_id != t->id)) {
        pw_resp_error(r, 404, NULL, "target %u has no session %u", t->id, sid);
        return PW_ANSWERED;
    }
    if (rc < 0)
        return pw_api_store_error(r, rc, "the session");
    return 0;
}

static int answer_session(struct pw_req *r, const struct pw_store_session *ss, int status)
{
    pw_resp_begin(r);
    if (r->fmt == PW_FMT_HTML) {
        pw_out_table_begin(&r->out, "session", "sessions", NULL, session_cols,
                           sizeof(session_cols) / sizeof(session_cols[0]), true);
        session_row(&r->out, ss);
        pw_out_table_end(&r->out);
    } else {
        pw_out_uint(&r->out, "id", ss->id);
        pw_out_uint(&r->out, "target", ss->target_id);
        pw_out_str(&r->out, "name", ss->name);
        pw_out_time(&r->out, "start", ss->start_us);
        pw_out_time(&r->out, "end", ss->end_us);
        pw_out_time(&r->out, "created", ss->created_us);
    }
    return pw_resp_finish(r, status);
}

int pw_api_session_get(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_store_session ss;
    struct pw_store_target t;
    struct pw_store *s;

    if (pw_api_params(r, allowed) || pw_api_session_of(r, &s, &t, &ss))
        return 0;
    return answer_session(r, &ss, 200);
}

int pw_api_session_add(struct pw_req *r)
{
    static const char *const allowed[] = {"name", "start", "end", NULL};
    struct pw_store_session ss;
    struct pw_store_target t;
    struct pw_store *s;
    const char *name = NULL;
    int64_t start, end;
    cJSON *a, *result = NULL;
    uint32_t id;
    int rs, re, rn;

    if (pw_api_params(r, allowed))
        return 0;
    rn = pw_kv_text(&r->params, "name", 1, PW_STORE_LABEL_MAX, &name, r->err, sizeof(r->err));
    if (rn < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    rs = pw_kv_time(&r->params, "start", &start, r->err, sizeof(r->err));
    if (rs < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    re = pw_kv_time(&r->params, "end", &end, r->err, sizeof(r->err));
    if (re < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    if (rn == 1 || rs == 1 || re == 1)
        return pw_resp_error(r, 400, NULL, "name, start and end are required");
    if (start >= end)
        return pw_resp_error(r, 400, NULL, "start must be before end");
    if (pw_api_target(r, 0, &s, &t))
        return 0;
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddNumberToObject(a, "target", t.id) ||
        !cJSON_AddStringToObject(a, "name", name) || !add_time(a, "start", start) ||
        !add_time(a, "end", end)) {
        cJSON_Delete(a);
        return pw_resp_error(r, 500, NULL, "out of memory");
    }
    if (pw_api_control(r, "session.create", a, &result))
        return 0;
    id = result_id(result);
    cJSON_Delete(result);
    if (!id)
        return pw_resp_error(r, 500, NULL, "pingwatcherd answered without a session id");
    pw_resp_header(r, "Location: /api/targets/%u/sessions/%u", t.id, id);
    if (pw_store_session_get(s, id, &ss) < 0) {
        memset(&ss, 0, sizeof(ss));
        ss.id = id;
        ss.target_id = t.id;
        snprintf(ss.name, sizeof(ss.name), "%s", name);
        ss.start_us = start;
        ss.end_us = end;
        ss.created_us = pw_api_now_us();
    }
    return answer_session(r, &ss, 201);
}

int pw_api_session_delete(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_store_session ss;
    struct pw_store_target t;
    struct pw_store *s;
    cJSON *a, *result = NULL;

    if (pw_api_params(r, allowed) || pw_api_session_of(r, &s, &t, &ss))
        return 0;
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddNumberToObject(a, "id", ss.id)) {
        cJSON_Delete(a);
        return pw_resp_error(r, 500, NULL, "out of memory");
    }
    if (pw_api_control(r, "session.delete", a, &result))
        return 0;
    cJSON_Delete(result);
    if (r->fmt == PW_FMT_HTML)
        return pw_resp_raw(r, 200, "text/html; charset=utf-8", "", 0);
    pw_resp_begin(r);
    pw_out_uint(&r->out, "deleted", ss.id);
    return pw_resp_finish(r, 200);
}
