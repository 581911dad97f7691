/* PingWatcher — targets and named configurations: reads from the store, changes through the
 * daemon's control socket. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "error.h"
#include "response.h"

/* Targets and configurations listed per request at most (far above any real setup). */
#define MAX_LIST 10000

enum kind {
    K_SECONDS, /* a number, sent as a number */
    K_INT,
    K_BOOL,
    K_PROTO,
    K_TEXT,
    K_HOST,
    K_NAME,
};

struct field {
    const char *name;
    enum kind kind;
    double min, max; /* numbers; text: byte lengths */
};

/* The trace options, named and bounded as the spec's targets table and CONTROL.md. */
static const struct field opt_fields[] = {
    {"trace_interval", K_SECONDS, 0.01, 86400}, {"packet_type", K_PROTO, 0, 0},
    {"packet_size", K_INT, 0, 65535},           {"max_hops", K_INT, 1, PW_TRACE_MAX_HOPS},
    {"timeout", K_SECONDS, 0.001, 60},          {"inter_packet_delay", K_SECONDS, 0, 1000},
    {"final_hop_only", K_BOOL, 0, 0},           {"port", K_INT, 1, 65535},
};
#define NOPTS (sizeof(opt_fields) / sizeof(opt_fields[0]))

static const struct field host_field = {"host", K_HOST, 1, PW_STORE_HOST_MAX};
static const struct field label_field = {"label", K_TEXT, 0, PW_STORE_LABEL_MAX};
static const struct field config_field = {"config", K_NAME, 1, PW_STORE_NAME_MAX};
static const struct field paused_field = {"paused", K_BOOL, 0, 0};

static bool host_ok(const char *h)
{
    return h[strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:")] ==
           '\0';
}

/* Validates one field if present and adds it to args with its JSON type. Returns 1 when
 * added, 0 when absent, -PW_ANSWERED after a 400 (or 500 when out of memory). */
static int take(struct pw_req *r, const struct field *f, cJSON *args)
{
    char *err = r->err;
    size_t el = sizeof(r->err);
    cJSON *item = NULL;
    int rc = 0;

    switch (f->kind) {
    case K_SECONDS: {
        double d;

        rc = pw_kv_double(&r->params, f->name, f->min, f->max, &d, err, el);
        if (rc == 0)
            item = cJSON_CreateNumber(d);
        break;
    }
    case K_INT: {
        int64_t v;

        rc = pw_kv_i64(&r->params, f->name, (int64_t)f->min, (int64_t)f->max, &v, err, el);
        if (rc == 0)
            item = cJSON_CreateNumber((double)v);
        break;
    }
    case K_BOOL: {
        bool b;

        rc = pw_kv_bool(&r->params, f->name, &b, err, el);
        if (rc == 0)
            item = cJSON_CreateBool(b);
        break;
    }
    case K_PROTO: {
        const char *s;
        enum pw_proto p;

        rc = pw_kv_text(&r->params, f->name, 1, 8, &s, err, el);
        if (rc == 0 && pw_proto_parse(s, &p) < 0) {
            snprintf(err, el, "packet_type must be icmp, udp or tcp");
            rc = -EINVAL;
        }
        if (rc == 0)
            item = cJSON_CreateString(pw_proto_name(p));
        break;
    }
    case K_TEXT:
    case K_HOST:
    case K_NAME: {
        const char *s;

        rc = pw_kv_text(&r->params, f->name, (size_t)f->min, (size_t)f->max, &s, err, el);
        if (rc == 0 && f->kind == K_HOST && !host_ok(s)) {
            snprintf(err, el,
                     "host must be a host name or an IP address (letters, digits, '.', "
                     "'-', '_' and ':')");
            rc = -EINVAL;
        }
        if (rc == 0 && f->kind == K_NAME && !pw_http_name_ok(s)) {
            snprintf(err, el,
                     "%s must be 1 to 63 letters, digits, '.', '_' or '-', starting "
                     "with a letter or digit",
                     f->name);
            rc = -EINVAL;
        }
        if (rc == 0)
            item = cJSON_CreateString(s);
        break;
    }
    }
    if (rc == 1)
        return 0;
    if (rc < 0) {
        pw_resp_error(r, 400, NULL, "%s", err);
        return -PW_ANSWERED;
    }
    if (!item || !cJSON_AddItemToObject(args, f->name, item)) {
        cJSON_Delete(item);
        pw_resp_error(r, 500, NULL, "out of memory");
        return -PW_ANSWERED;
    }
    return 1;
}

/* Takes every trace option present. Returns how many, or -PW_ANSWERED. */
static int take_opts(struct pw_req *r, cJSON *args)
{
    int n = 0;

    for (size_t i = 0; i < NOPTS; i++) {
        int rc = take(r, &opt_fields[i], args);

        if (rc < 0)
            return -PW_ANSWERED;
        n += rc;
    }
    return n;
}

static const char *const target_params[] = {
    "host",
    "label",
    "trace_interval",
    "packet_type",
    "packet_size",
    "max_hops",
    "timeout",
    "inter_packet_delay",
    "final_hop_only",
    "port",
    "config",
    "paused",
    NULL,
};

struct target_list {
    struct pw_arena *arena;
    struct pw_store_target *v;
    size_t n, cap;
    bool full;
};

static int collect_target(void *arg, const struct pw_store_target *t)
{
    struct target_list *l = arg;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct pw_store_target *v;

        if (cap > MAX_LIST ||
            !(v = pw_arena_realloc(l->arena, l->v, l->cap * sizeof(*v), cap * sizeof(*v)))) {
            l->full = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *t;
    return 0;
}

int pw_api_collect_targets(struct pw_req *r, struct pw_store *s, struct pw_store_target **out,
                           size_t *n)
{
    struct target_list l = {.arena = r->arena};
    int rc = pw_store_target_list(s, collect_target, &l);

    if (rc < 0 && !l.full)
        return pw_api_store_error(r, rc, "the target list");
    if (l.full) {
        pw_resp_error(r, 500, NULL, "more than %d targets, or out of memory", MAX_LIST);
        return PW_ANSWERED;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

int pw_api_targets_list(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_store_target *t;
    struct pw_store *s;
    size_t n;

    if (pw_api_params(r, allowed) || !(s = pw_api_store(r)) || pw_api_collect_targets(r, s, &t, &n))
        return 0;
    pw_resp_begin(r);
    pw_out_table_begin(&r->out, "targets", "targets", "Targets", pw_api_target_cols,
                       pw_api_target_ncols, false);
    for (size_t i = 0; i < n; i++)
        pw_api_target_row(&r->out, &t[i]);
    pw_out_table_end(&r->out);
    return pw_resp_finish(r, 200);
}

/* Answers with one target: a JSON object, or a row for HTMX to add or replace. */
static int answer_target(struct pw_req *r, struct pw_store *s, uint32_t id, int status)
{
    struct pw_store_target t;

    pw_buf_reset(&r->body);
    pw_out_init(&r->out, r->fmt, &r->body);
    if (pw_store_target_get(s, id, &t) < 0) {
        /* The daemon said yes but the record is not readable (yet): the id is still news. */
        pw_out_obj_begin(&r->out, NULL);
        pw_out_uint(&r->out, "id", id);
        pw_out_obj_end(&r->out);
    } else if (r->fmt == PW_FMT_HTML) {
        pw_out_table_begin(&r->out, "target", "targets", NULL, pw_api_target_cols,
                           pw_api_target_ncols, true);
        pw_api_target_row(&r->out, &t);
        pw_out_table_end(&r->out);
    } else {
        pw_api_target_row(&r->out, &t);
    }
    if (pw_buf_failed(&r->body))
        return pw_resp_error(r, 500, NULL, "out of memory");
    return pw_resp_raw(r, status,
                       r->fmt == PW_FMT_HTML ? "text/html; charset=utf-8" : "application/json",
                       r->body.data ? r->body.data : "", r->body.len);
}

static uint32_t result_id(const cJSON *result)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(result, "id");

    if (!cJSON_IsNumber(id) || id->valuedouble < 1 || id->valuedouble > 4294967295.0)
        return 0;
    return (uint32_t)id->valuedouble;
}

int pw_api_targets_add(struct pw_req *r)
{
    cJSON *args = NULL, *result = NULL;
    struct pw_store *s;
    uint32_t id;
    int rc;

    if (pw_api_params(r, target_params))
        return 0;
    args = cJSON_CreateObject();
    if (!args)
        return pw_resp_error(r, 500, NULL, "out of memory");
    if (!pw_kvs_find(&r->params, "host")) {
        cJSON_Delete(args);
        return pw_resp_error(r, 400, NULL, "host is required (a host name or an IP address)");
    }
    if (take(r, &host_field, args) < 0 || take(r, &label_field, args) < 0 ||
        take(r, &config_field, args) < 0 || take(r, &paused_field, args) < 0 ||
        take_opts(r, args) < 0) {
        cJSON_Delete(args);
        return 0;
    }
    rc = pw_api_control(r, "target.add", args, &result);
    if (rc)
        return 0;
    id = result_id(result);
    cJSON_Delete(result);
    if (!id)
        return pw_resp_error(r, 500, NULL, "pingwatcherd answered without a target id");
    pw_resp_header(r, "Location: /api/targets/%u", id);
    s = pw_api_store(r);
    if (!s)
        return 0;
    return answer_target(r, s, id, 201);
}

int pw_api_target_get(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_store_target t;
    struct pw_store *s;

    if (pw_api_params(r, allowed) || pw_api_target(r, 0, &s, &t))
        return 0;
    return answer_target(r, s, t.id, 200);
}

int pw_api_target_update(struct pw_req *r)
{
    static const char *const allowed[] = {
        "host",
        "label",
        "trace_interval",
        "packet_type",
        "packet_size",
        "max_hops",
        "timeout",
        "inter_packet_delay",
        "final_hop_only",
        "port",
        "config",
        "paused",
        NULL,
    };
    cJSON *args = NULL, *result = NULL, *cfg = NULL;
    struct pw_store_target t;
    struct pw_store *s;
    int n = 0, k;
    bool has_paused;

    if (pw_api_params(r, allowed) || pw_api_target(r, 0, &s, &t))
        return 0;
    args = cJSON_CreateObject();
    cfg = cJSON_CreateObject();
    if (!args || !cfg)
        goto oom;
    if ((k = take(r, &host_field, args)) < 0)
        goto answered;
    n += k;
    if ((k = take(r, &label_field, args)) < 0)
        goto answered;
    n += k;
    if ((k = take_opts(r, args)) < 0)
        goto answered;
    n += k;
    if ((k = take(r, &config_field, cfg)) < 0)
        goto answered;
    n += k;
    has_paused = pw_kvs_find(&r->params, "paused") != NULL;
    if ((k = take(r, &paused_field, args)) < 0)
        goto answered;
    if (n == 0 && !has_paused) {
        pw_resp_error(r, 400, NULL,
                      "nothing to change: give options, label, host, config or paused");
        goto answered;
    }
    if (n == 0) {
        /* Only pause or resume: the daemon's dedicated commands. */
        bool paused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(args, "paused"));
        cJSON *a = cJSON_CreateObject();

        if (!a || !cJSON_AddNumberToObject(a, "id", t.id)) {
            cJSON_Delete(a);
            goto oom;
        }
        if (pw_api_control(r, paused ? "target.pause" : "target.resume", a, &result))
            goto answered;
    } else {
        cJSON *name = cJSON_DetachItemFromObjectCaseSensitive(cfg, "config");

        if (cJSON_GetArraySize(args) > 0) {
            if (!cJSON_AddNumberToObject(args, "id", t.id)) {
                cJSON_Delete(name);
                goto oom;
            }
            if (pw_api_control(r, "target.update", args, &result)) {
                args = NULL;
                cJSON_Delete(name);
                goto answered;
            }
            args = NULL;
            cJSON_Delete(result);
            result = NULL;
        }
        if (name) {
            /* A named configuration is applied by the daemon's config.apply. */
            cJSON *a = cJSON_CreateObject();

            if (!a || !cJSON_AddItemToObject(a, "name", name) ||
                !cJSON_AddNumberToObject(a, "target", t.id)) {
                if (!a)
                    cJSON_Delete(name);
                cJSON_Delete(a);
                goto oom;
            }
            if (pw_api_control(r, "config.apply", a, &result))
                goto answered;
        }
    }
    cJSON_Delete(result);
    cJSON_Delete(args);
    cJSON_Delete(cfg);
    return answer_target(r, s, t.id, 200);
oom:
    pw_resp_error(r, 500, NULL, "out of memory");
answered:
    cJSON_Delete(args);
    cJSON_Delete(cfg);
    return 0;
}

int pw_api_target_delete(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_store_target t;
    struct pw_store *s;
    cJSON *a, *result = NULL;

    if (pw_api_params(r, allowed) || pw_api_target(r, 0, &s, &t))
        return 0;
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddNumberToObject(a, "id", t.id)) {
        cJSON_Delete(a);
        return pw_resp_error(r, 500, NULL, "out of memory");
    }
    if (pw_api_control(r, "target.remove", a, &result))
        return 0;
    cJSON_Delete(result);
    if (r->fmt == PW_FMT_HTML) /* HTMX swaps the row away with an empty answer */
        return pw_resp_raw(r, 200, "text/html; charset=utf-8", "", 0);
    pw_resp_begin(r);
    pw_out_uint(&r->out, "deleted", t.id);
    return pw_resp_finish(r, 200);
}

/* ---- named configurations ---- */

static const struct pw_col config_cols[] = {
    {"name", "Name"},        {"packet_type", "Type"},  {"trace_interval", "Interval (s)"},
    {"packet_size", "Size"}, {"max_hops", "Max hops"}, {"timeout", "Timeout (s)"},
};

struct config_list {
    struct pw_arena *arena;
    struct pw_store_config *v;
    size_t n, cap;
    bool full;
};

static int collect_config(void *arg, const struct pw_store_config *c)
{
    struct config_list *l = arg;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct pw_store_config *v;

        if (cap > MAX_LIST ||
            !(v = pw_arena_realloc(l->arena, l->v, l->cap * sizeof(*v), cap * sizeof(*v)))) {
            l->full = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *c;
    return 0;
}

static void config_row(struct pw_out *o, const struct pw_store_config *c)
{
    pw_out_row_begin(o, NULL);
    pw_out_str(o, "name", c->name);
    pw_api_opts_fields(o, &c->opts);
    pw_out_row_end(o);
}

int pw_api_configs_list(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct config_list l = {.arena = r->arena};
    struct pw_store *s;
    int rc;

    if (pw_api_params(r, allowed) || !(s = pw_api_store(r)))
        return 0;
    rc = pw_store_config_list(s, collect_config, &l);
    if (l.full)
        return pw_resp_error(r, 500, NULL, "more than %d configurations", MAX_LIST);
    if (rc < 0)
        return pw_api_store_error(r, rc, "the configurations");
    pw_resp_begin(r);
    pw_out_table_begin(&r->out, "configs", "configs", "Named configurations", config_cols,
                       sizeof(config_cols) / sizeof(config_cols[0]), false);
    for (size_t i = 0; i < l.n; i++)
        config_row(&r->out, &l.v[i]);
    pw_out_table_end(&r->out);
    return pw_resp_finish(r, 200);
}

/* The configuration name in the path: 400 when malformed. */
static int path_name(struct pw_req *r, const char **name)
{
    if (r->nargs < 1 || !pw_http_name_ok(r->arg[0])) {
        pw_resp_error(r, 400, NULL,
                      "a configuration name is 1 to 63 letters, digits, '.', '_' or '-', "
                      "starting with a letter or digit");
        return PW_ANSWERED;
    }
    *name = r->arg[0];
    return 0;
}

static int answer_config(struct pw_req *r, const char *name, int status)
{
    struct pw_store_config c;
    struct pw_store *s = pw_api_store(r);
    int rc;

    if (!s)
        return 0;
    rc = pw_store_config_get(s, name, &c);
    if (rc == -ENOENT)
        return pw_resp_error(r, 404, NULL, "configuration '%s' does not exist", name);
    if (rc < 0)
        return pw_api_store_error(r, rc, "the configuration");
    pw_resp_begin(r);
    if (r->fmt == PW_FMT_HTML) {
        pw_out_table_begin(&r->out, "config", "configs", NULL, config_cols,
                           sizeof(config_cols) / sizeof(config_cols[0]), true);
        config_row(&r->out, &c);
        pw_out_table_end(&r->out);
    } else {
        pw_out_str(&r->out, "name", c.name);
        pw_api_opts_fields(&r->out, &c.opts);
    }
    return pw_resp_finish(r, status);
}

int pw_api_config_get(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    const char *name;

    if (pw_api_params(r, allowed) || path_name(r, &name))
        return 0;
    return answer_config(r, name, 200);
}

static int config_change(struct pw_req *r, const char *cmd, const char *name, int status)
{
    static const char *const allowed[] = {
        "name",    "trace_interval",     "packet_type",    "packet_size", "max_hops",
        "timeout", "inter_packet_delay", "final_hop_only", "port",        NULL,
    };
    static const struct field name_field = {"name", K_NAME, 1, PW_STORE_NAME_MAX};
    cJSON *args, *result = NULL;
    char given[PW_STORE_NAME_MAX + 1];

    if (pw_api_params(r, allowed))
        return 0;
    args = cJSON_CreateObject();
    if (!args)
        return pw_resp_error(r, 500, NULL, "out of memory");
    if (take(r, &name_field, args) < 0 || take_opts(r, args) < 0) {
        cJSON_Delete(args);
        return 0;
    }
    if (name) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(args, "name");

        if (n && strcmp(n->valuestring, name) != 0) {
            cJSON_Delete(args);
            return pw_resp_error(r, 400, NULL,
                                 "the name in the body differs from the path; renaming is not "
                                 "supported");
        }
        if (!n && !cJSON_AddStringToObject(args, "name", name)) {
            cJSON_Delete(args);
            return pw_resp_error(r, 500, NULL, "out of memory");
        }
    } else if (!cJSON_GetObjectItemCaseSensitive(args, "name")) {
        cJSON_Delete(args);
        return pw_resp_error(r, 400, NULL, "name is required");
    }
    snprintf(given, sizeof(given), "%s",
             cJSON_GetObjectItemCaseSensitive(args, "name")->valuestring);
    if (pw_api_control(r, cmd, args, &result))
        return 0;
    cJSON_Delete(result);
    if (status == 201)
        pw_resp_header(r, "Location: /api/configs/%s", given);
    return answer_config(r, given, status);
}

int pw_api_config_create(struct pw_req *r)
{
    return config_change(r, "config.create", NULL, 201);
}

int pw_api_config_update(struct pw_req *r)
{
    const char *name;

    if (path_name(r, &name))
        return 0;
    return config_change(r, "config.update", name, 200);
}

int pw_api_config_delete(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    const char *name;
    cJSON *a, *result = NULL;

    if (pw_api_params(r, allowed) || path_name(r, &name))
        return 0;
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddStringToObject(a, "name", name)) {
        cJSON_Delete(a);
        return pw_resp_error(r, 500, NULL, "out of memory");
    }
    if (pw_api_control(r, "config.delete", a, &result))
        return 0;
    cJSON_Delete(result);
    if (r->fmt == PW_FMT_HTML)
        return pw_resp_raw(r, 200, "text/html; charset=utf-8", "", 0);
    pw_resp_begin(r);
    pw_out_str(&r->out, "deleted", name);
    return pw_resp_finish(r, 200);
}

int pw_api_config_apply(struct pw_req *r)
{
    static const char *const allowed[] = {"target", NULL};
    const char *name;
    int64_t target;
    cJSON *a, *result = NULL;
    struct pw_store *s;
    int rc;

    if (pw_api_params(r, allowed) || path_name(r, &name))
        return 0;
    rc = pw_kv_i64(&r->params, "target", 1, UINT32_MAX, &target, r->err, sizeof(r->err));
    if (rc == 1)
        return pw_resp_error(r, 400, NULL, "target (a target id) is required");
    if (rc < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddStringToObject(a, "name", name) ||
        !cJSON_AddNumberToObject(a, "target", (double)target)) {
        cJSON_Delete(a);
        return pw_resp_error(r, 500, NULL, "out of memory");
    }
    if (pw_api_control(r, "config.apply", a, &result))
        return 0;
    cJSON_Delete(result);
    s = pw_api_store(r);
    if (!s)
        return 0;
    return answer_target(r, s, (uint32_t)target, 200);
}
