/* PingWatcher — the alerts API: rules, firing state and history (see api_alerts.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "api_alerts.h"
#include "response.h"
#include "text.h"

#define MAX_RULES 1000      /* rules listed; more is "truncated" */
#define MAX_STATES 100000   /* (rule, target) states read for one answer */
#define HISTORY_DEFAULT 100 /* history records answered without limit= */
#define HISTORY_MAX 10000   /* ... and at most */
#define JSON_DEPTH 8        /* of the records we re-emit (ours are 3 deep) */
#define TEXT_MAX 2048       /* HTML summary cells */

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

/* ---- parsing ---- */

int pw_api_alert_rkey_parse(const void *k, size_t klen, uint32_t *rule)
{
    const uint8_t *p = k;

    if (klen != 5 || p[0] != 'r')
        return -EINVAL;
    *rule = get_be32(p + 1);
    return 0;
}

int pw_api_alert_skey_parse(const void *k, size_t klen, uint32_t *rule, uint32_t *target)
{
    const uint8_t *p = k;

    if (klen != 9 || p[0] != 's')
        return -EINVAL;
    *rule = get_be32(p + 1);
    *target = get_be32(p + 5);
    return 0;
}

int pw_api_alert_hkey_parse(const void *k, size_t klen, struct pw_api_alert_hkey *out)
{
    const uint8_t *p = k;
    uint64_t t;

    if (klen != 18 || p[0] != 'h')
        return -EINVAL;
    t = (uint64_t)get_be32(p + 1) << 32 | get_be32(p + 5);
    /* Times are stored as unsigned big-endian so they sort; ours are never negative. */
    if (t > (uint64_t)INT64_MAX)
        return -EINVAL;
    out->time_us = (int64_t)t;
    out->rule = get_be32(p + 9);
    out->target = get_be32(p + 13);
    out->event = p[17];
    return 0;
}

int pw_api_alert_body(const char *text, size_t len, cJSON **out, char *err, size_t errlen)
{
    const char *end = NULL;
    cJSON *o;

    *out = NULL;
    if (!text || len == 0) {
        snprintf(err, errlen, "send the alert rule as a JSON object in the body");
        return -EINVAL;
    }
    /* cJSON copies bytes as they are: refuse what is not UTF-8 here, once for every string. */
    for (size_t i = 0; i < len;) {
        size_t n = pw_utf8_seq((const unsigned char *)text + i, len - i);

        if (n == 0 || (n == 1 && text[i] == '\0')) {
            snprintf(err, errlen, "the body is not valid UTF-8 text (byte %zu)", i);
            return -EINVAL;
        }
        i += n;
    }
    o = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!o) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;

        snprintf(err, errlen, "the body is not valid JSON (near byte %zu)", at);
        return -EINVAL;
    }
    while (end && end < text + len && strchr(" \t\r\n", *end))
        end++;
    if (end && end < text + len) {
        snprintf(err, errlen, "the body holds more than one JSON value (byte %zu)",
                 (size_t)(end - text));
        cJSON_Delete(o);
        return -EINVAL;
    }
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "the body must be a JSON object (an alert rule)");
        cJSON_Delete(o);
        return -EINVAL;
    }
    *out = o;
    return 0;
}

int pw_api_alert_validate(const cJSON *obj, const struct pw_alert_rule *base,
                          struct pw_alert_rule *out, char *err, size_t errlen)
{
    if (base && cJSON_IsObject(obj) && !obj->child) {
        snprintf(err, errlen,
                 "nothing to change: send one or more of name, enabled, targets, metric, "
                 "operator, threshold, focus, duration_samples, hop, repeat_interval_s, actions");
        return -EINVAL;
    }
    /* pw_alert_rule_parse() also checks the threshold against its metric. */
    if (pw_alert_rule_parse(obj, base, out, err, errlen) < 0)
        return -EINVAL;
    return 0;
}

/* ---- reading the store ---- */

/* A stored rule record (pw_alert_rule_json) back into a rule. */
static int rule_record(const void *v, size_t vlen, uint32_t id, struct pw_alert_rule *rule)
{
    cJSON *o = cJSON_ParseWithLength(v, vlen);
    char err[256];
    int rc = -EINVAL;

    if (o && pw_alert_rule_parse(o, NULL, rule, err, sizeof(err)) == 0) {
        rule->id = id;
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

struct rules {
    struct pw_arena *arena;
    struct pw_alert_rule *v;
    size_t n, cap;
    bool more;
};

static int rule_cb(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct rules *l = arg;
    struct pw_alert_rule rule;
    uint32_t id;

    /* A record this version cannot read is left out rather than failing every answer. */
    if (pw_api_alert_rkey_parse(k, klen, &id) < 0 || rule_record(v, vlen, id, &rule) < 0)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct pw_alert_rule *nv;

        if (l->cap >= MAX_RULES ||
            !(nv = pw_arena_realloc(l->arena, l->v, l->cap * sizeof(*nv), cap * sizeof(*nv)))) {
            l->more = true;
            return 1;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = rule;
    return 0;
}

struct state_item {
    uint32_t rule, target;
    struct pw_alert_state st;
};

struct states {
    struct pw_arena *arena;
    struct state_item *v;
    size_t n, cap;
    bool only_firing;
    bool more;
};

static int state_cb(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct states *l = arg;
    struct state_item it;

    if (pw_api_alert_skey_parse(k, klen, &it.rule, &it.target) < 0 ||
        pw_alert_state_decode(v, vlen, &it.st) < 0)
        return 0;
    if (l->only_firing && !it.st.firing)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct state_item *nv;

        if (l->cap >= MAX_STATES ||
            !(nv = pw_arena_realloc(l->arena, l->v, l->cap * sizeof(*nv), cap * sizeof(*nv)))) {
            l->more = true;
            return 1;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = it;
    return 0;
}

/* Rules (all, or the one with id `only`), in id order. Answers errors. */
static int load_rules(struct pw_req *r, struct pw_store *s, uint32_t only, struct rules *l)
{
    uint8_t prefix[5] = {'r'};
    int rc;

    memset(l, 0, sizeof(*l));
    l->arena = r->arena;
    if (only)
        put_be32(prefix + 1, only);
    rc = pw_store_alert_scan(s, prefix, only ? 5 : 1, NULL, 0, rule_cb, l);
    if (rc < 0 && rc != -ENOENT)
        return pw_api_store_error(r, rc, "the alert rules");
    return 0;
}

/* States of every rule, or of rule `only`. Answers errors. */
static int load_states(struct pw_req *r, struct pw_store *s, uint32_t only, bool only_firing,
                       struct states *l)
{
    uint8_t prefix[5] = {'s'};
    int rc;

    memset(l, 0, sizeof(*l));
    l->arena = r->arena;
    l->only_firing = only_firing;
    if (only)
        put_be32(prefix + 1, only);
    rc = pw_store_alert_scan(s, prefix, only ? 5 : 1, NULL, 0, state_cb, l);
    if (rc < 0 && rc != -ENOENT)
        return pw_api_store_error(r, rc, "the alert states");
    return 0;
}

/* ---- writing answers ---- */

/* A JSON value of ours (a rule from pw_alert_rule_json, a history record) as output. */
static void emit_json(struct pw_out *o, const char *key, const cJSON *v, unsigned depth)
{
    const cJSON *c;

    if (depth > JSON_DEPTH)
        return;
    if (cJSON_IsString(v) && v->valuestring) {
        pw_out_str(o, key, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        pw_out_num(o, key, isfinite(v->valuedouble), v->valuedouble, 6);
    } else if (cJSON_IsBool(v)) {
        pw_out_bool(o, key, cJSON_IsTrue(v));
    } else if (cJSON_IsArray(v)) {
        pw_out_arr_begin(o, key);
        cJSON_ArrayForEach(c, v)
        {
            emit_json(o, NULL, c, depth + 1);
        }
        pw_out_arr_end(o);
    } else if (cJSON_IsObject(v)) {
        pw_out_obj_begin(o, key);
        cJSON_ArrayForEach(c, v)
        {
            emit_json(o, c->string, c, depth + 1);
        }
        pw_out_obj_end(o);
    } else {
        pw_out_null(o, key);
    }
}

/* Bounded appends for the HTML summary cells. */
static void cat(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void cat(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strnlen(buf, len);
    va_list ap;

    if (used + 1 >= len)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static void hop_text(const struct pw_alert_rule *rule, char *buf, size_t len)
{
    char a[PW_ADDR_STRLEN];

    switch (rule->hop_kind) {
    case PW_ALERT_HOP_FINAL:
        snprintf(buf, len, "final");
        break;
    case PW_ALERT_HOP_ANY:
        snprintf(buf, len, "any");
        break;
    case PW_ALERT_HOP_TTL:
        snprintf(buf, len, "%u", rule->hop_ttl);
        break;
    default:
        snprintf(buf, len, "%s", pw_addr_format(&rule->hop_addr, a, sizeof(a)));
    }
}

static const struct pw_col rule_cols[] = {
    {"id", "ID"},           {"name", "Name"},           {"enabled", "Enabled"},
    {"state", "State"},     {"condition", "Condition"}, {"targets", "Targets"},
    {"actions", "Actions"},
};
#define NRULE_COLS (sizeof(rule_cols) / sizeof(rule_cols[0]))

/* The fields of one rule with its states (those of st[0..nst) that belong to it): in HTML the
 * cells of rule_cols, in order; in JSON the rule as pw_alert_rule_json() writes it, "firing"
 * and "states". */
static void rule_fields(struct pw_out *o, const struct pw_alert_rule *rule,
                        const struct state_item *st, size_t nst)
{
    char text[TEXT_MAX], hop[PW_ADDR_STRLEN];
    size_t nfiring = 0;
    cJSON *j;

    for (size_t i = 0; i < nst; i++)
        nfiring += st[i].rule == rule->id && st[i].st.firing;
    if (o->fmt == PW_FMT_HTML) {
        /* Every text is escaped by the renderer. */
        pw_out_uint(o, "id", rule->id);
        pw_out_str(o, "name", rule->name);
        pw_out_str(o, "enabled", rule->enabled ? "yes" : "no");
        if (!rule->enabled)
            snprintf(text, sizeof(text), "disabled");
        else if (nfiring)
            snprintf(text, sizeof(text), "firing (%zu target%s)", nfiring, nfiring > 1 ? "s" : "");
        else
            snprintf(text, sizeof(text), "quiet");
        pw_out_str(o, "state", text);
        hop_text(rule, hop, sizeof(hop));
        snprintf(text, sizeof(text), "%s %s %g (focus %u, %u samples, hop %s)",
                 pw_alert_metric_name(rule->metric), pw_alert_op_name(rule->op), rule->threshold,
                 rule->focus, rule->duration_samples, hop);
        pw_out_str(o, "condition", text);
        text[0] = '\0';
        if (rule->all_targets)
            cat(text, sizeof(text), "all");
        for (uint32_t i = 0; i < rule->ntargets; i++)
            cat(text, sizeof(text), "%s%u", i ? ", " : "", rule->targets[i]);
        pw_out_str(o, "targets", text);
        text[0] = '\0';
        for (uint32_t i = 0; i < rule->nactions; i++)
            cat(text, sizeof(text), "%s%s%s%s", i ? ", " : "",
                pw_alert_action_name(rule->actions[i].type), rule->actions[i].arg[0] ? " " : "",
                rule->actions[i].arg);
        pw_out_str(o, "actions", text);
        return;
    }
    j = pw_alert_rule_json(rule);
    if (j) {
        const cJSON *c;

        cJSON_ArrayForEach(c, j)
        {
            emit_json(o, c->string, c, 1);
        }
        cJSON_Delete(j);
    } else {
        o->b->failed = true; /* out of memory: the answer becomes a 500 */
    }
    pw_out_bool(o, "firing", nfiring > 0);
    pw_out_arr_begin(o, "states");
    for (size_t i = 0; i < nst; i++) {
        if (st[i].rule != rule->id)
            continue;
        pw_out_obj_begin(o, NULL);
        pw_out_uint(o, "target", st[i].target);
        pw_out_bool(o, "firing", st[i].st.firing);
        if (st[i].st.since_us > 0)
            pw_out_time(o, "since", st[i].st.since_us);
        else
            pw_out_null(o, "since");
        pw_out_uint(o, "consecutive", st[i].st.consecutive);
        pw_out_uint(o, "episodes", st[i].st.episodes);
        pw_out_obj_end(o);
    }
    pw_out_arr_end(o);
}

static void rule_row(struct pw_out *o, const struct pw_alert_rule *rule,
                     const struct state_item *st, size_t nst)
{
    char hid[32];

    snprintf(hid, sizeof(hid), "alert-%u", rule->id);
    pw_out_row_begin(o, hid);
    rule_fields(o, rule, st, nst);
    pw_out_row_end(o);
}

/* The answer about one rule: a JSON object, or a one-row fragment in HTML. */
static int answer_rule(struct pw_req *r, const struct pw_alert_rule *rule, const struct states *st,
                       int status)
{
    pw_resp_begin(r);
    if (r->fmt == PW_FMT_HTML) {
        pw_out_table_begin(&r->out, "alert", "alerts", NULL, rule_cols, NRULE_COLS, true);
        rule_row(&r->out, rule, st ? st->v : NULL, st ? st->n : 0);
        pw_out_table_end(&r->out);
    } else {
        rule_fields(&r->out, rule, st ? st->v : NULL, st ? st->n : 0);
    }
    return pw_resp_finish(r, status);
}

/* ---- handlers: reads ---- */

static int rule_id_arg(struct pw_req *r, uint32_t *id)
{
    if (r->nargs < 1 || pw_http_parse_id(r->arg[0], "alert rule id", id, r->err, sizeof(r->err))) {
        pw_resp_error(r, 400, NULL, "%s", r->err);
        return PW_ANSWERED;
    }
    return 0;
}

/* Loads rule id (404 when there is none). */
static int load_rule(struct pw_req *r, struct pw_store *s, uint32_t id, struct pw_alert_rule *out)
{
    struct rules l;

    if (load_rules(r, s, id, &l))
        return PW_ANSWERED;
    if (l.n != 1 || l.v[0].id != id) {
        pw_resp_error(r, 404, NULL, "alert rule %u does not exist", id);
        return PW_ANSWERED;
    }
    *out = l.v[0];
    return 0;
}

int pw_api_alerts_list(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct rules rl;
    struct states sl;
    struct pw_store *s;

    if (pw_api_params(r, allowed) || !(s = pw_api_store(r)))
        return 0;
    if (load_rules(r, s, 0, &rl) || load_states(r, s, 0, false, &sl))
        return 0;
    pw_resp_begin(r);
    pw_out_table_begin(&r->out, "rules", "alerts", "Alert rules", rule_cols, NRULE_COLS, false);
    for (size_t i = 0; i < rl.n; i++)
        rule_row(&r->out, &rl.v[i], sl.v, sl.n);
    pw_out_table_end(&r->out);
    pw_out_bool(&r->out, "truncated", rl.more);
    return pw_resp_finish(r, 200);
}

int pw_api_alert_get(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_alert_rule rule;
    struct states sl;
    struct pw_store *s;
    uint32_t id;

    if (pw_api_params(r, allowed) || rule_id_arg(r, &id) || !(s = pw_api_store(r)))
        return 0;
    if (load_rule(r, s, id, &rule) || load_states(r, s, id, false, &sl))
        return 0;
    return answer_rule(r, &rule, &sl, 200);
}

static const struct pw_col firing_cols[] = {
    {"name", "Alert"},
    {"target_name", "Target"},
    {"since", "Since"},
};

int pw_api_alerts_firing(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct rules rl;
    struct states sl;
    struct pw_store *s;

    if (pw_api_params(r, allowed) || !(s = pw_api_store(r)))
        return 0;
    if (load_rules(r, s, 0, &rl) || load_states(r, s, 0, true, &sl))
        return 0;
    pw_resp_begin(r);
    pw_out_table_begin(&r->out, "firing", "alerts-firing", "Firing alerts", firing_cols,
                       sizeof(firing_cols) / sizeof(firing_cols[0]), false);
    for (size_t i = 0; i < sl.n; i++) {
        const struct pw_alert_rule *rule = NULL;
        struct pw_store_target t;
        char hid[48];

        for (size_t k = 0; k < rl.n && !rule; k++)
            if (rl.v[k].id == sl.v[i].rule)
                rule = &rl.v[k];
        /* A state left behind by a rule that is gone or disabled is not an alert. */
        if (!rule || !rule->enabled)
            continue;
        snprintf(hid, sizeof(hid), "firing-%u-%u", sl.v[i].rule, sl.v[i].target);
        pw_out_row_begin(&r->out, hid);
        pw_out_str(&r->out, "name", rule->name);
        if (pw_store_target_get(s, sl.v[i].target, &t) == 0)
            pw_out_str(&r->out, "target_name", t.label[0] ? t.label : t.host);
        else
            pw_out_null(&r->out, "target_name");
        pw_out_time(&r->out, "since", sl.v[i].st.since_us);
        pw_out_uint(&r->out, "rule", sl.v[i].rule);
        pw_out_uint(&r->out, "target", sl.v[i].target);
        pw_out_row_end(&r->out);
    }
    pw_out_table_end(&r->out);
    return pw_resp_finish(r, 200);
}

/* History: records of [start, end) that match the filters; the newest `limit` of them. */
struct history {
    struct pw_arena *arena;
    int64_t end_us;
    uint32_t rule, target; /* 0 = any */
    size_t skip;           /* matches to pass over before keeping (second pass) */
    size_t seen;           /* matches so far */
    size_t n, max;         /* kept */
    struct pw_api_alert_hkey *k;
    char **v;
    bool counting;
    bool failed;
};

static int history_cb(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct history *h = arg;
    struct pw_api_alert_hkey key;

    if (pw_api_alert_hkey_parse(k, klen, &key) < 0)
        return 0;
    if (key.time_us >= h->end_us)
        return 1;
    if ((h->rule && key.rule != h->rule) || (h->target && key.target != h->target))
        return 0;
    if (h->seen++ < h->skip || h->counting)
        return 0;
    if (h->n == h->max)
        return 1;
    h->k[h->n] = key;
    if (!(h->v[h->n] = pw_arena_strndup(h->arena, v, vlen))) {
        h->failed = true;
        return 1;
    }
    h->n++;
    return 0;
}

static const struct pw_col history_cols[] = {
    {"time", "Time"},   {"rule_name", "Alert"}, {"target_name", "Target"},
    {"state", "Event"}, {"metric", "Metric"},   {"value", "Value"},
    {"hop", "Hop"},     {"actions", "Actions"},
};

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void history_row(struct pw_out *o, const struct pw_api_alert_hkey *k, const char *text)
{
    cJSON *rec = cJSON_Parse(text);
    const cJSON *c, *v;
    char hid[64];

    snprintf(hid, sizeof(hid), "alert-event-%lld-%u-%u-%u", (long long)k->time_us, k->rule,
             k->target, k->event);
    pw_out_row_begin(o, hid);
    pw_out_time(o, "time", k->time_us);
    if (o->fmt == PW_FMT_HTML) {
        char acts[TEXT_MAX] = "";

        pw_out_str(o, "rule_name", jstr(rec, "rule_name"));
        pw_out_str(o, "target_name", jstr(rec, "target_name"));
        pw_out_str(o, "state", jstr(rec, "state"));
        pw_out_str(o, "metric", jstr(rec, "metric"));
        v = cJSON_GetObjectItemCaseSensitive(rec, "value");
        pw_out_num(o, "value", cJSON_IsNumber(v), cJSON_IsNumber(v) ? v->valuedouble : 0, 3);
        v = cJSON_GetObjectItemCaseSensitive(rec, "hop");
        pw_out_num(o, "hop", cJSON_IsNumber(v), cJSON_IsNumber(v) ? v->valuedouble : 0, 0);
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(rec, "actions"))
        {
            const cJSON *ok = cJSON_GetObjectItemCaseSensitive(c, "ok");
            const char *type = jstr(c, "type"), *detail = jstr(c, "detail");

            cat(acts, sizeof(acts), "%s%s: %s%s%s", acts[0] ? "; " : "", type ? type : "?",
                cJSON_IsBool(ok) ? (cJSON_IsTrue(ok) ? "ok" : "failed") : "pending",
                detail && cJSON_IsBool(ok) ? " — " : "", detail && cJSON_IsBool(ok) ? detail : "");
        }
        pw_out_str(o, "actions", acts);
    } else if (cJSON_IsObject(rec)) {
        cJSON_ArrayForEach(c, rec)
        {
            if (strcmp(c->string, "time") != 0)
                emit_json(o, c->string, c, 1);
        }
    } else {
        /* Kept for the record: an entry this version cannot read still shows it happened. */
        pw_out_uint(o, "rule", k->rule);
        pw_out_uint(o, "target", k->target);
        pw_out_str(o, "state", pw_alert_event_name((enum pw_alert_event)k->event));
    }
    pw_out_row_end(o);
    cJSON_Delete(rec);
}

int pw_api_alerts_history(struct pw_req *r)
{
    static const char *const allowed[] = {"target", "rule", "start", "end", "limit", NULL};
    struct history h = {.arena = r->arena, .end_us = INT64_MAX};
    int64_t start = 0, limit = HISTORY_DEFAULT, id;
    uint8_t from[9] = {'h'};
    struct pw_store *s;
    size_t total;
    int rc;

    if (pw_api_params(r, allowed))
        return 0;
    if (pw_kv_time(&r->params, "start", &start, r->err, sizeof(r->err)) < 0 ||
        pw_kv_time(&r->params, "end", &h.end_us, r->err, sizeof(r->err)) < 0 ||
        pw_kv_i64(&r->params, "limit", 1, HISTORY_MAX, &limit, r->err, sizeof(r->err)) < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    if ((rc = pw_kv_i64(&r->params, "rule", 1, UINT32_MAX, &id, r->err, sizeof(r->err))) < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    h.rule = rc == 0 ? (uint32_t)id : 0;
    if ((rc = pw_kv_i64(&r->params, "target", 1, UINT32_MAX, &id, r->err, sizeof(r->err))) < 0)
        return pw_resp_error(r, 400, NULL, "%s", r->err);
    h.target = rc == 0 ? (uint32_t)id : 0;
    if (start < 0)
        start = 0;
    if (start >= h.end_us)
        return pw_resp_error(r, 400, NULL, "start must be before end");
    if (!(s = pw_api_store(r)))
        return 0;
    put_be64(from + 1, (uint64_t)start);
    /* Keys run oldest first and the newest are wanted: count, then keep the last `limit`.
     * Both passes read the request's one snapshot, so they see the same records. */
    h.counting = true;
    rc = pw_store_alert_scan(s, "h", 1, from, sizeof(from), history_cb, &h);
    if (rc < 0 && rc != -ENOENT)
        return pw_api_store_error(r, rc, "the alert history");
    total = h.seen;
    h.counting = false;
    h.seen = 0;
    h.max = (size_t)limit < total ? (size_t)limit : total;
    h.skip = total - h.max;
    if (h.max) {
        h.k = pw_arena_alloc(r->arena, h.max * sizeof(*h.k));
        h.v = pw_arena_alloc(r->arena, h.max * sizeof(*h.v));
        if (!h.k || !h.v)
            return pw_resp_error(r, 500, NULL, "out of memory for %zu history records", h.max);
        rc = pw_store_alert_scan(s, "h", 1, from, sizeof(from), history_cb, &h);
        if (rc < 0 && rc != -ENOENT)
            return pw_api_store_error(r, rc, "the alert history");
        if (h.failed)
            return pw_resp_error(r, 500, NULL, "out of memory for the alert history");
    }
    pw_resp_begin(r);
    pw_out_table_begin(&r->out, "history", "alert-history", "Alert history", history_cols,
                       sizeof(history_cols) / sizeof(history_cols[0]), false);
    for (size_t i = h.n; i-- > 0;)
        history_row(&r->out, &h.k[i], h.v[i]);
    pw_out_table_end(&r->out);
    pw_out_bool(&r->out, "truncated", total > h.n);
    return pw_resp_finish(r, 200);
}

/* ---- handlers: changes (to the daemon) ---- */

/* Every target a rule names must exist (404 otherwise, as the daemon answers). */
static int check_targets(struct pw_req *r, struct pw_store *s, const struct pw_alert_rule *rule)
{
    struct pw_store_target t;

    for (uint32_t i = 0; !rule->all_targets && i < rule->ntargets; i++) {
        int rc = pw_store_target_get(s, rule->targets[i], &t);

        if (rc == -ENOENT) {
            pw_resp_error(r, 404, NULL, "\"targets\": target %u does not exist", rule->targets[i]);
            return PW_ANSWERED;
        }
        if (rc < 0)
            return pw_api_store_error(r, rc, "a target");
    }
    return 0;
}

/* The body of a create or update, checked. Answers 400. */
static int rule_body(struct pw_req *r, const struct pw_alert_rule *base, cJSON **obj,
                     struct pw_alert_rule *rule)
{
    if (pw_api_alert_body(r->raw_body, r->raw_len, obj, r->err, sizeof(r->err)) < 0) {
        pw_resp_error(r, 400, NULL, "%s", r->err);
        return PW_ANSWERED;
    }
    if (pw_api_alert_validate(*obj, base, rule, r->err, sizeof(r->err)) < 0) {
        cJSON_Delete(*obj);
        *obj = NULL;
        pw_resp_error(r, 400, NULL, "%s", r->err);
        return PW_ANSWERED;
    }
    return 0;
}

/* The daemon's answer (the stored rule) as a rule. Answers 500 when it is not one. */
static int result_rule(struct pw_req *r, cJSON *result, struct pw_alert_rule *rule)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(result, "id");
    int rc = -EINVAL;

    if (cJSON_IsNumber(id) && id->valuedouble >= 1 && id->valuedouble <= 4294967295.0 &&
        pw_alert_rule_parse(result, NULL, rule, r->err, sizeof(r->err)) == 0) {
        rule->id = (uint32_t)id->valuedouble;
        rc = 0;
    }
    cJSON_Delete(result);
    if (rc < 0) {
        pw_resp_error(r, 500, NULL, "pingwatcherd answered without a valid rule");
        return PW_ANSWERED;
    }
    return 0;
}

int pw_api_alert_create(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_alert_rule rule;
    struct pw_store *s;
    cJSON *obj = NULL, *a, *result = NULL;

    if (pw_api_params(r, allowed) || rule_body(r, NULL, &obj, &rule))
        return 0;
    if (!(s = pw_api_store(r)) || check_targets(r, s, &rule)) {
        cJSON_Delete(obj);
        return 0;
    }
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddItemToObject(a, "rule", obj)) {
        cJSON_Delete(a);
        cJSON_Delete(obj);
        return pw_resp_error(r, 500, NULL, "out of memory");
    }
    if (pw_api_control(r, "alert.create", a, &result) || result_rule(r, result, &rule))
        return 0;
    pw_resp_header(r, "Location: /api/alerts/%u", rule.id);
    return answer_rule(r, &rule, NULL, 201);
}

int pw_api_alert_update(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_alert_rule base, rule;
    struct states sl;
    struct pw_store *s;
    cJSON *obj = NULL, *a, *result = NULL;
    uint32_t id;

    if (pw_api_params(r, allowed) || rule_id_arg(r, &id) || !(s = pw_api_store(r)) ||
        load_rule(r, s, id, &base) || rule_body(r, &base, &obj, &rule))
        return 0;
    if (cJSON_GetObjectItemCaseSensitive(obj, "targets") && check_targets(r, s, &rule)) {
        cJSON_Delete(obj);
        return 0;
    }
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddNumberToObject(a, "id", id) || !cJSON_AddItemToObject(a, "rule", obj)) {
        cJSON_Delete(a);
        cJSON_Delete(obj);
        return pw_resp_error(r, 500, NULL, "out of memory");
    }
    if (pw_api_control(r, "alert.update", a, &result) || result_rule(r, result, &rule))
        return 0;
    /* A fresh snapshot: what the daemon committed (a disabled rule has no state left). */
    if (!(s = pw_api_store(r)) || load_states(r, s, id, false, &sl))
        return 0;
    return answer_rule(r, &rule, &sl, 200);
}

int pw_api_alert_delete(struct pw_req *r)
{
    static const char *const allowed[] = {NULL};
    struct pw_alert_rule rule;
    struct pw_store *s;
    cJSON *a, *result = NULL;
    uint32_t id;

    if (pw_api_params(r, allowed) || rule_id_arg(r, &id) || !(s = pw_api_store(r)) ||
        load_rule(r, s, id, &rule))
        return 0;
    a = cJSON_CreateObject();
    if (!a || !cJSON_AddNumberToObject(a, "id", id)) {
        cJSON_Delete(a);
        return pw_resp_error(r, 500, NULL, "out of memory");
    }
    if (pw_api_control(r, "alert.delete", a, &result))
        return 0;
    cJSON_Delete(result);
    if (r->fmt == PW_FMT_HTML)
        return pw_resp_raw(r, 200, "text/html; charset=utf-8", "", 0);
    pw_resp_begin(r);
    pw_out_uint(&r->out, "deleted", id);
    return pw_resp_finish(r, 200);
}
