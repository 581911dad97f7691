/* PingWatcher — alert rules and their evaluation (see alert.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "diagnosis.h"
#include "error.h"
#include "num.h"
#include "stats.h"

static const char *const metric_names[PW_ALERT_METRIC_COUNT] = {
    "packet_loss_pct", "avg_rtt_ms", "cur_rtt_ms", "jitter_ms", "route_change", "diagnosis",
};
static const char *const op_names[] = {">", "<", ">=", "<="};
static const char *const action_names[PW_ALERT_ACT_COUNT] = {
    "email", "webhook", "log", "command", "image", "comment",
};

const char *pw_alert_metric_name(enum pw_alert_metric m)
{
    return (unsigned)m < PW_ALERT_METRIC_COUNT ? metric_names[m] : "?";
}

const char *pw_alert_op_name(enum pw_alert_op op)
{
    return (unsigned)op < 4 ? op_names[op] : "?";
}

const char *pw_alert_action_name(enum pw_alert_action_type t)
{
    return (unsigned)t < PW_ALERT_ACT_COUNT ? action_names[t] : "?";
}

const char *pw_alert_event_name(enum pw_alert_event e)
{
    switch (e) {
    case PW_ALERT_EV_TRIGGER:
        return "trigger";
    case PW_ALERT_EV_REPEAT:
        return "repeat";
    case PW_ALERT_EV_RECOVER:
        return "recover";
    default:
        return "none";
    }
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return PW_E_RANGE;
}

static int find_name(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

/* Free text without control characters, 1..max bytes. */
static bool text_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    if (n < 1 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool url_ok(const char *u)
{
    if (!text_ok(u, PW_ALERT_ARG_MAX) || strpbrk(u, " \"<>\\"))
        return false;
    return (strncmp(u, "http://", 7) == 0 && u[7]) || (strncmp(u, "https://", 8) == 0 && u[8]);
}

/* A plain mailbox: local@domain, no spaces, brackets, commas or line breaks (those could
 * add recipients or headers). */
static bool email_ok(const char *e)
{
    const char *at = strchr(e, '@');

    if (!text_ok(e, 254) || strpbrk(e, " <>,;:\"()[]\\") || !at || at == e || !at[1] ||
        strchr(at + 1, '@'))
        return false;
    return true;
}

static bool cmd_name_ok(const char *s)
{
    size_t n = strnlen(s, PW_ALERT_NAME_MAX + 1);

    if (n < 1 || n > PW_ALERT_NAME_MAX)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int get_string(const cJSON *v, const char *key, char *out, size_t max, char *err,
                      size_t errlen)
{
    if (!cJSON_IsString(v) || !v->valuestring)
        return fail(err, errlen, "\"%s\" must be a string", key);
    if (strlen(v->valuestring) >= max)
        return fail(err, errlen, "\"%s\" is too long (at most %zu bytes)", key, max - 1);
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

static int get_whole(const cJSON *v, const char *key, double min, double max, uint32_t *out,
                     char *err, size_t errlen)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > max || v->valuedouble != floor(v->valuedouble))
        return fail(err, errlen, "\"%s\" must be a whole number between %g and %g", key, min, max);
    *out = (uint32_t)v->valuedouble;
    return 0;
}

static int parse_targets(const cJSON *v, struct pw_alert_rule *r, char *err, size_t errlen)
{
    const cJSON *e;
    uint32_t n = 0;

    if (cJSON_IsString(v) && v->valuestring && strcmp(v->valuestring, "all") == 0) {
        r->all_targets = true;
        r->ntargets = 0;
        return 0;
    }
    if (!cJSON_IsArray(v))
        return fail(err, errlen, "\"targets\" must be \"all\" or an array of target ids");
    if (cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > PW_ALERT_TARGETS_MAX)
        return fail(err, errlen, "\"targets\" must list 1 to %d target ids", PW_ALERT_TARGETS_MAX);
    cJSON_ArrayForEach(e, v)
    {
        uint32_t id;
        char tmp[128];
        int64_t x;

        /* Target ids travel as strings in the web API and as numbers on the control socket. */
        if (cJSON_IsString(e) && e->valuestring) {
            if (pw_num_parse_i64(e->valuestring, 1, UINT32_MAX, "target id", &x, tmp, sizeof(tmp)) <
                0)
                return fail(err, errlen, "\"targets\" must hold target ids (got \"%.20s\")",
                            e->valuestring);
            id = (uint32_t)x;
        } else if (get_whole(e, "targets[]", 1, UINT32_MAX, &id, tmp, sizeof(tmp)) < 0) {
            return fail(err, errlen, "\"targets\" must hold target ids");
        }
        for (uint32_t i = 0; i < n; i++)
            if (r->targets[i] == id)
                return fail(err, errlen, "\"targets\" lists target %u twice", id);
        r->targets[n++] = id;
    }
    r->all_targets = false;
    r->ntargets = n;
    return 0;
}

static int parse_hop(const cJSON *v, struct pw_alert_rule *r, char *err, size_t errlen)
{
    if (cJSON_IsNumber(v)) {
        uint32_t ttl;
        if (get_whole(v, "hop", 1, PW_TRACE_MAX_HOPS, &ttl, err, errlen) < 0)
            return PW_E_RANGE;
        r->hop_kind = PW_ALERT_HOP_TTL;
        r->hop_ttl = (uint8_t)ttl;
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return fail(err, errlen,
                    "\"hop\" must be \"final\", \"any\", a hop number or an IP address");
    if (strcmp(v->valuestring, "final") == 0) {
        r->hop_kind = PW_ALERT_HOP_FINAL;
    } else if (strcmp(v->valuestring, "any") == 0) {
        r->hop_kind = PW_ALERT_HOP_ANY;
    } else if (pw_addr_parse(v->valuestring, &r->hop_addr) == 0) {
        r->hop_kind = PW_ALERT_HOP_ADDR;
    } else {
        int64_t x;
        char tmp[128];
        if (pw_num_parse_i64(v->valuestring, 1, PW_TRACE_MAX_HOPS, "hop", &x, tmp, sizeof(tmp)) < 0)
            return fail(err, errlen,
                        "\"hop\" must be \"final\", \"any\", a hop number (1..%d) or an IP address",
                        PW_TRACE_MAX_HOPS);
        r->hop_kind = PW_ALERT_HOP_TTL;
        r->hop_ttl = (uint8_t)x;
    }
    return 0;
}

static int parse_actions(const cJSON *v, struct pw_alert_rule *r, char *err, size_t errlen)
{
    const cJSON *a;
    uint32_t n = 0;

    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 ||
        cJSON_GetArraySize(v) > PW_ALERT_ACTIONS_MAX)
        return fail(err, errlen, "\"actions\" must be an array of 1 to %d actions",
                    PW_ALERT_ACTIONS_MAX);
    cJSON_ArrayForEach(a, v)
    {
        struct pw_alert_action *act = &r->actions[n];
        const cJSON *f;
        const char *need = NULL;
        int t;

        memset(act, 0, sizeof(*act));
        if (!cJSON_IsObject(a))
            return fail(err, errlen, "actions[%u] must be an object", n);
        f = cJSON_GetObjectItemCaseSensitive(a, "type");
        if (!cJSON_IsString(f) || !f->valuestring ||
            (t = find_name(action_names, PW_ALERT_ACT_COUNT, f->valuestring)) < 0)
            return fail(err, errlen,
                        "actions[%u]: \"type\" must be email, webhook, log, command, image or "
                        "comment",
                        n);
        act->type = (enum pw_alert_action_type)t;
        need = t == PW_ALERT_ACT_EMAIL     ? "to"
               : t == PW_ALERT_ACT_WEBHOOK ? "url"
               : t == PW_ALERT_ACT_COMMAND ? "name"
                                           : NULL;
        cJSON_ArrayForEach(f, a)
        {
            if (strcmp(f->string, "type") == 0)
                continue;
            if (!need || strcmp(f->string, need) != 0)
                return fail(err, errlen, "actions[%u]: unknown key \"%s\" for a %s action%s%s", n,
                            f->string, action_names[t], need ? " (expected " : "",
                            need ? "type and the one argument)" : "");
            if (get_string(f, need, act->arg, sizeof(act->arg), err, errlen) < 0)
                return PW_E_RANGE;
        }
        if (need && !act->arg[0])
            return fail(err, errlen, "actions[%u]: a %s action needs \"%s\"", n, action_names[t],
                        need);
        if (t == PW_ALERT_ACT_WEBHOOK && !url_ok(act->arg))
            return fail(err, errlen, "actions[%u]: \"url\" must be an http:// or https:// URL", n);
        if (t == PW_ALERT_ACT_EMAIL && !email_ok(act->arg))
            return fail(err, errlen, "actions[%u]: \"to\" must be one address like ops@example.org",
                        n);
        if (t == PW_ALERT_ACT_COMMAND && !cmd_name_ok(act->arg))
            return fail(err, errlen,
                        "actions[%u]: \"name\" must be the name of a configured command "
                        "([A-Za-z0-9_.-], 1..63)",
                        n);
        n++;
    }
    r->nactions = n;
    return 0;
}

static const char rule_keys[] = "name, enabled, targets, metric, operator, threshold, focus, "
                                "duration_samples, hop, repeat_interval_s, actions";

int pw_alert_rule_parse(const cJSON *obj, const struct pw_alert_rule *base, struct pw_alert_rule *r,
                        char *err, size_t errlen)
{
    enum {
        K_NAME = 1,
        K_TARGETS = 2,
        K_METRIC = 4,
        K_OP = 8,
        K_THR = 16,
        K_ACTIONS = 32,
        K_FOCUS = 64
    };
    unsigned seen = 0;
    const cJSON *v;
    int rc = 0, i;

    if (!cJSON_IsObject(obj))
        return fail(err, errlen, "an alert rule must be a JSON object");
    if (base) {
        *r = *base;
    } else {
        memset(r, 0, sizeof(*r));
        r->enabled = true;
        r->focus = 10;
        r->duration_samples = 1;
        r->hop_kind = PW_ALERT_HOP_FINAL;
        r->repeat_interval_s = 300;
    }
    cJSON_ArrayForEach(v, obj)
    {
        const char *k = v->string;

        if (strcmp(k, "id") == 0)
            continue;
        if (strcmp(k, "name") == 0) {
            seen |= K_NAME;
            if ((rc = get_string(v, k, r->name, sizeof(r->name), err, errlen)) == 0 &&
                !text_ok(r->name, PW_ALERT_NAME_MAX))
                rc = fail(err, errlen, "\"name\" must be 1 to 63 characters without control codes");
        } else if (strcmp(k, "enabled") == 0) {
            if (!cJSON_IsBool(v))
                rc = fail(err, errlen, "\"enabled\" must be true or false");
            else
                r->enabled = cJSON_IsTrue(v);
        } else if (strcmp(k, "targets") == 0) {
            seen |= K_TARGETS;
            rc = parse_targets(v, r, err, errlen);
        } else if (strcmp(k, "metric") == 0) {
            seen |= K_METRIC;
            if (!cJSON_IsString(v) || !v->valuestring ||
                (i = find_name(metric_names, PW_ALERT_METRIC_COUNT, v->valuestring)) < 0)
                rc = fail(err, errlen,
                          "\"metric\" must be packet_loss_pct, avg_rtt_ms, cur_rtt_ms, jitter_ms, "
                          "route_change or diagnosis");
            else
                r->metric = (enum pw_alert_metric)i;
        } else if (strcmp(k, "operator") == 0) {
            seen |= K_OP;
            if (!cJSON_IsString(v) || !v->valuestring ||
                (i = find_name(op_names, 4, v->valuestring)) < 0)
                rc = fail(err, errlen, "\"operator\" must be >, <, >= or <=");
            else
                r->op = (enum pw_alert_op)i;
        } else if (strcmp(k, "threshold") == 0) {
            seen |= K_THR;
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < -1e9 ||
                v->valuedouble > 1e9)
                rc = fail(err, errlen, "\"threshold\" must be a number between -1e9 and 1e9");
            else
                r->threshold = v->valuedouble;
        } else if (strcmp(k, "focus") == 0) {
            seen |= K_FOCUS;
            rc = get_whole(v, k, 1, PW_ALERT_FOCUS_MAX, &r->focus, err, errlen);
        } else if (strcmp(k, "duration_samples") == 0) {
            rc = get_whole(v, k, 1, PW_ALERT_DURATION_MAX, &r->duration_samples, err, errlen);
        } else if (strcmp(k, "hop") == 0) {
            rc = parse_hop(v, r, err, errlen);
        } else if (strcmp(k, "repeat_interval_s") == 0) {
            rc = get_whole(v, k, 0, PW_ALERT_REPEAT_MAX, &r->repeat_interval_s, err, errlen);
        } else if (strcmp(k, "actions") == 0) {
            seen |= K_ACTIONS;
            rc = parse_actions(v, r, err, errlen);
        } else {
            rc = fail(err, errlen, "unknown key \"%s\" (expected %s)", k, rule_keys);
        }
        if (rc < 0)
            return rc;
    }
    if (!base) {
        static const char *const req[] = {"name",     "targets",   "metric",
                                          "operator", "threshold", "actions"};
        for (unsigned b = 0; b < 6; b++)
            if (!(seen & (1u << b)))
                return fail(err, errlen, "\"%s\" is required", req[b]);
    }
    /* After the loop: the keys come in any order and the limit depends on the metric. Judged
     * only when this object sets the condition, so a change that leaves it alone (a rename)
     * still applies to a rule stored before these limits. */
    if (!base || (seen & (K_METRIC | K_THR))) {
        if (r->threshold < 0)
            return fail(err, errlen,
                        "\"threshold\" must be 0 or more (got %g): every metric is a percentage, "
                        "a time or a count",
                        r->threshold);
        if (r->metric == PW_ALERT_LOSS && r->threshold > 100)
            return fail(err, errlen,
                        "\"threshold\" of packet_loss_pct is a percentage: 0 to 100 (got %g)",
                        r->threshold);
        /* diagnosis is 1 or 0: one condition makes sense, so only it is accepted rather than
         * a comparison that silently never (or always) holds. */
        if (r->metric == PW_ALERT_DIAG && (r->op != PW_ALERT_GE || r->threshold != 1))
            return fail(err, errlen,
                        "metric diagnosis is 1 when a problem is found, else 0: give "
                        "\"operator\": \">=\" and \"threshold\": 1 (got %s %g)",
                        pw_alert_op_name(r->op), r->threshold);
    }
    if (r->metric == PW_ALERT_DIAG && (seen & (K_METRIC | K_FOCUS))) {
        if (!(seen & K_FOCUS) && r->focus < PW_ALERT_DIAG_FOCUS_MIN)
            r->focus = PW_ALERT_DIAG_FOCUS_DEFAULT;
        if (r->focus < PW_ALERT_DIAG_FOCUS_MIN)
            return fail(err, errlen,
                        "\"focus\" of metric diagnosis must be at least %u samples: it judges "
                        "none on fewer (got %u; default %u)",
                        PW_ALERT_DIAG_FOCUS_MIN, r->focus, PW_ALERT_DIAG_FOCUS_DEFAULT);
    }
    return 0;
}

cJSON *pw_alert_rule_json(const struct pw_alert_rule *r)
{
    cJSON *o = cJSON_CreateObject(), *t, *acts;
    char buf[PW_ADDR_STRLEN];

    if (!o)
        return NULL;
    if (!cJSON_AddNumberToObject(o, "id", r->id) || !cJSON_AddStringToObject(o, "name", r->name) ||
        !cJSON_AddBoolToObject(o, "enabled", r->enabled))
        goto fail;
    if (r->all_targets) {
        if (!cJSON_AddStringToObject(o, "targets", "all"))
            goto fail;
    } else {
        if (!(t = cJSON_AddArrayToObject(o, "targets")))
            goto fail;
        for (uint32_t i = 0; i < r->ntargets; i++) {
            snprintf(buf, sizeof(buf), "%u", r->targets[i]);
            if (!cJSON_AddItemToArray(t, cJSON_CreateString(buf)))
                goto fail;
        }
    }
    if (!cJSON_AddStringToObject(o, "metric", pw_alert_metric_name(r->metric)) ||
        !cJSON_AddStringToObject(o, "operator", pw_alert_op_name(r->op)) ||
        !cJSON_AddNumberToObject(o, "threshold", r->threshold) ||
        !cJSON_AddNumberToObject(o, "focus", r->focus) ||
        !cJSON_AddNumberToObject(o, "duration_samples", r->duration_samples))
        goto fail;
    switch (r->hop_kind) {
    case PW_ALERT_HOP_FINAL:
        t = cJSON_AddStringToObject(o, "hop", "final");
        break;
    case PW_ALERT_HOP_ANY:
        t = cJSON_AddStringToObject(o, "hop", "any");
        break;
    case PW_ALERT_HOP_TTL:
        t = cJSON_AddNumberToObject(o, "hop", r->hop_ttl);
        break;
    default:
        t = cJSON_AddStringToObject(o, "hop", pw_addr_format(&r->hop_addr, buf, sizeof(buf)));
        break;
    }
    if (!t || !cJSON_AddNumberToObject(o, "repeat_interval_s", r->repeat_interval_s) ||
        !(acts = cJSON_AddArrayToObject(o, "actions")))
        goto fail;
    for (uint32_t i = 0; i < r->nactions; i++) {
        const struct pw_alert_action *a = &r->actions[i];
        cJSON *ao = cJSON_CreateObject();
        const char *k = a->type == PW_ALERT_ACT_EMAIL     ? "to"
                        : a->type == PW_ALERT_ACT_WEBHOOK ? "url"
                        : a->type == PW_ALERT_ACT_COMMAND ? "name"
                                                          : NULL;
        if (!ao || !cJSON_AddItemToArray(acts, ao) ||
            !cJSON_AddStringToObject(ao, "type", pw_alert_action_name(a->type)) ||
            (k && !cJSON_AddStringToObject(ao, k, a->arg)))
            goto fail;
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

bool pw_alert_rule_applies(const struct pw_alert_rule *r, uint32_t target_id)
{
    if (r->all_targets)
        return true;
    for (uint32_t i = 0; i < r->ntargets; i++)
        if (r->targets[i] == target_id)
            return true;
    return false;
}

/* ---- lifecycle ---- */

enum pw_alert_event pw_alert_step(const struct pw_alert_rule *r, struct pw_alert_state *st,
                                  bool holds, int64_t now_us)
{
    if (!holds) {
        st->consecutive = 0;
        if (!st->firing)
            return PW_ALERT_EV_NONE;
        st->firing = false;
        st->since_us = now_us;
        return PW_ALERT_EV_RECOVER;
    }
    if (st->consecutive < UINT32_MAX)
        st->consecutive++;
    if (!st->firing) {
        if (st->consecutive < r->duration_samples)
            return PW_ALERT_EV_NONE;
        st->firing = true;
        st->since_us = now_us;
        st->last_notify_us = now_us;
        st->episodes++;
        return PW_ALERT_EV_TRIGGER;
    }
    if (r->repeat_interval_s &&
        now_us - st->last_notify_us >= (int64_t)r->repeat_interval_s * 1000000) {
        st->last_notify_us = now_us;
        return PW_ALERT_EV_REPEAT;
    }
    return PW_ALERT_EV_NONE;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void pw_alert_state_encode(const struct pw_alert_state *st, uint8_t out[PW_ALERT_STATE_BYTES])
{
    memset(out, 0, PW_ALERT_STATE_BYTES);
    out[0] = 1; /* version */
    out[1] = st->firing ? 1 : 0;
    put_be32(out + 4, st->consecutive);
    put_be32(out + 8, st->episodes);
    put_be32(out + 12, (uint32_t)((uint64_t)st->since_us >> 32));
    put_be32(out + 16, (uint32_t)st->since_us);
    put_be32(out + 20, (uint32_t)((uint64_t)st->last_notify_us >> 32));
    put_be32(out + 24, (uint32_t)st->last_notify_us);
}

int pw_alert_state_decode(const uint8_t *p, size_t len, struct pw_alert_state *st)
{
    if (len != PW_ALERT_STATE_BYTES || p[0] != 1 || p[1] > 1)
        return PW_E_MALFORMED;
    st->firing = p[1] == 1;
    st->consecutive = get_be32(p + 4);
    st->episodes = get_be32(p + 8);
    st->since_us = (int64_t)((uint64_t)get_be32(p + 12) << 32 | get_be32(p + 16));
    st->last_notify_us = (int64_t)((uint64_t)get_be32(p + 20) << 32 | get_be32(p + 24));
    return 0;
}

/* ---- window and metric ---- */

int pw_alert_window_init(struct pw_alert_window *w, uint32_t cap)
{
    memset(w, 0, sizeof(*w));
    if (cap < 1 || cap > PW_ALERT_FOCUS_MAX)
        return -EINVAL;
    w->pts = calloc(cap, sizeof(*w->pts));
    w->scratch = calloc(cap, sizeof(*w->scratch));
    if (!w->pts || !w->scratch) {
        pw_alert_window_deinit(w);
        return -ENOMEM;
    }
    w->cap = cap;
    return 0;
}

void pw_alert_window_deinit(struct pw_alert_window *w)
{
    free(w->pts);
    free(w->scratch);
    memset(w, 0, sizeof(*w));
}

void pw_alert_window_push(struct pw_alert_window *w, const struct pw_alert_point *p)
{
    if (!w->cap)
        return;
    if (w->len < w->cap) {
        w->pts[(w->head + w->len) % w->cap] = *p;
        w->len++;
    } else {
        w->pts[w->head] = *p;
        w->head = (w->head + 1) % w->cap;
    }
}

static bool compare(enum pw_alert_op op, double v, double thr)
{
    switch (op) {
    case PW_ALERT_GT:
        return v > thr;
    case PW_ALERT_LT:
        return v < thr;
    case PW_ALERT_GE:
        return v >= thr;
    default:
        return v <= thr;
    }
}

/* The metric of one TTL (1-based; 0 = each sample's last hop) over the window. */
static bool hop_metric(const struct pw_alert_rule *r, struct pw_alert_window *w, unsigned ttl,
                       double *value)
{
    struct pw_stats st;
    size_t n = 0;

    for (uint32_t k = 0; k < w->len; k++) {
        const struct pw_alert_point *p = &w->pts[(w->head + k) % w->cap];
        unsigned i = ttl ? ttl - 1 : (p->nhops ? p->nhops - 1u : PW_TRACE_MAX_HOPS);
        if (i >= p->nhops || p->rtt_us[i] < PW_RTT_LOST)
            continue; /* not probed at that TTL */
        w->scratch[n++] = p->rtt_us[i];
    }
    if (!n)
        return false;
    pw_stats_compute(w->scratch, n, &st);
    switch (r->metric) {
    case PW_ALERT_LOSS:
        *value = st.loss_pct;
        return true;
    case PW_ALERT_AVG:
        *value = st.avg_ms;
        return st.has_latency;
    case PW_ALERT_JITTER:
        *value = st.jitter_ms;
        return st.has_latency;
    case PW_ALERT_CUR:
        *value = st.cur_ms;
        return !st.cur_lost;
    default:
        return false;
    }
}

void pw_alert_eval(const struct pw_alert_rule *r, struct pw_alert_window *w,
                   const struct pw_addr *route, unsigned route_nhops, struct pw_alert_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!w->len || r->metric == PW_ALERT_DIAG)
        return;
    if (r->metric == PW_ALERT_ROUTE) {
        unsigned changes = 0, hop = 0;
        for (uint32_t k = 0; k < w->len; k++) {
            const struct pw_alert_point *p = &w->pts[(w->head + k) % w->cap];
            if (p->route_changed) {
                changes++;
                hop = p->change_hop;
            }
        }
        out->valid = true;
        out->value = changes;
        out->hop = (uint8_t)hop;
        out->holds = compare(r->op, out->value, r->threshold);
        return;
    }
    switch (r->hop_kind) {
    case PW_ALERT_HOP_FINAL: {
        const struct pw_alert_point *last = &w->pts[(w->head + w->len - 1) % w->cap];
        out->hop = last->nhops;
        out->valid = hop_metric(r, w, 0, &out->value);
        break;
    }
    case PW_ALERT_HOP_TTL:
        out->hop = r->hop_ttl;
        out->valid = hop_metric(r, w, r->hop_ttl, &out->value);
        break;
    case PW_ALERT_HOP_ADDR:
        for (unsigned i = 0; route && i < route_nhops && i < PW_TRACE_MAX_HOPS; i++) {
            if (pw_addr_equal(&route[i], &r->hop_addr)) {
                out->hop = (uint8_t)(i + 1);
                out->valid = hop_metric(r, w, i + 1, &out->value);
                break;
            }
        }
        break;
    case PW_ALERT_HOP_ANY: {
        unsigned maxh = 0;
        for (uint32_t k = 0; k < w->len; k++)
            if (w->pts[k].nhops > maxh)
                maxh = w->pts[k].nhops;
        /* Report the first hop that holds; when none does, the final hop's value. */
        for (unsigned ttl = 1; ttl <= maxh; ttl++) {
            double v;
            if (hop_metric(r, w, ttl, &v) && compare(r->op, v, r->threshold)) {
                out->valid = out->holds = true;
                out->value = v;
                out->hop = (uint8_t)ttl;
                return;
            }
        }
        out->hop = (uint8_t)maxh;
        out->valid = maxh && hop_metric(r, w, maxh, &out->value);
        break;
    }
    }
    out->holds = out->valid && compare(r->op, out->value, r->threshold);
}

/* ---- the diagnosis metric ---- */

int pw_alert_eval_diagnosis(const struct pw_alert_rule *r, const struct pw_alert_window *w,
                            const struct pw_addr *route, unsigned route_nhops,
                            const struct pw_addr *dest, enum pw_proto proto,
                            struct pw_diagnosis *diag, struct pw_alert_result *out)
{
    uint32_t n = w->len, nch = 0;
    unsigned shown = 0, last_answer = 0, rows = 0;
    uint8_t row_ttl[PW_TRACE_MAX_HOPS];
    struct pw_diag_hop *hops = calloc(PW_TRACE_MAX_HOPS, sizeof(*hops));
    int64_t *times = malloc((n ? n : 1) * sizeof(*times));
    int32_t *rtt = malloc((size_t)PW_TRACE_MAX_HOPS * (n ? n : 1) * sizeof(*rtt));
    struct pw_diag_route_change *changes = malloc((n ? n : 1) * sizeof(*changes));
    struct pw_diagnosis *d = diag ? diag : malloc(sizeof(*d));
    struct pw_diag_input in;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!hops || !times || !rtt || !changes || !d) {
        rc = -ENOMEM;
        goto out;
    }
    /* The hop rows as pw_diag_window_load() picks them from the store, newest sample first. */
    for (uint32_t k = n; k-- > 0;) {
        const struct pw_alert_point *p = &w->pts[(w->head + k) % w->cap];
        unsigned nh = p->nhops > PW_TRACE_MAX_HOPS ? PW_TRACE_MAX_HOPS : p->nhops;

        if (!shown && p->reached)
            shown = nh;
        for (unsigned ttl = 1; ttl <= nh; ttl++)
            if (p->rtt_us[ttl - 1] >= 0 && ttl > last_answer)
                last_answer = ttl;
    }
    for (unsigned ttl = 1; ttl <= (shown ? shown : last_answer); ttl++) {
        bool probed = false;

        for (uint32_t k = 0; k < n && !probed; k++) {
            const struct pw_alert_point *p = &w->pts[(w->head + k) % w->cap];
            probed = ttl <= p->nhops && p->rtt_us[ttl - 1] != PW_DIAG_RTT_SKIP;
        }
        if (probed)
            row_ttl[rows++] = (uint8_t)ttl;
    }
    for (uint32_t j = 0; j < n; j++) {
        const struct pw_alert_point *p = &w->pts[(w->head + j) % w->cap];

        times[j] = p->time_us;
        /* A change flagged with the first sample happened before the window. */
        if (j > 0 && p->route_changed && p->change_hop >= 1 && p->change_hop <= 64)
            changes[nch++] = (struct pw_diag_route_change){
                .time_us = p->time_us,
                .first_hop = p->change_hop,
                .hops = UINT64_C(1) << (p->change_hop - 1), /* only the first is known */
            };
    }
    for (unsigned i = 0; i < rows; i++) {
        unsigned ttl = row_ttl[i];

        hops[i].ttl = (uint8_t)ttl;
        if (route && ttl <= route_nhops)
            hops[i].addr = route[ttl - 1];
        hops[i].rtt_us = rtt + (size_t)i * n;
        for (uint32_t j = 0; j < n; j++) {
            const struct pw_alert_point *p = &w->pts[(w->head + j) % w->cap];
            rtt[(size_t)i * n + j] = ttl <= p->nhops ? p->rtt_us[ttl - 1] : PW_DIAG_RTT_SKIP;
        }
    }
    memset(&in, 0, sizeof(in));
    in.nsamples = n;
    in.time_us = times;
    in.nhops = (uint8_t)rows;
    in.hop = hops;
    in.dest_reached = shown != 0 && rows > 0;
    if (dest)
        in.dest = *dest;
    if (!in.dest.family && in.dest_reached)
        in.dest = hops[rows - 1].addr;
    in.proto = proto;
    in.nchanges = nch;
    in.changes = changes;
    rc = pw_diag_analyse(&in, NULL, d);
    if (rc < 0)
        goto out;
    out->valid = true;
    if (pw_diag_fires(d)) {
        out->value = 1;
        for (unsigned i = 0; i < d->nproblems; i++) {
            if (d->problem[i].to_destination) {
                out->hop = d->problem[i].from_hop;
                break;
            }
        }
    }
    out->holds = compare(r->op, out->value, r->threshold);
out:
    free(hops);
    free(times);
    free(rtt);
    free(changes);
    if (d != diag)
        free(d);
    return rc;
}
