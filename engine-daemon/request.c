/* PingWatcher — control protocol requests (see request.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "request.h"
#include "timefmt.h"

#define OPTS (1u << 31) /* pseudo-field: the trace options */

struct cmd_spec {
    const char *name;
    uint32_t allowed;
    uint32_t required;
};

static const struct cmd_spec specs[PWD_CMD_COUNT] = {
    [PWD_CMD_TARGET_ADD] = {"target.add",
                            PWD_F_HOST | PWD_F_LABEL | PWD_F_CONFIG | PWD_F_PAUSED | OPTS,
                            PWD_F_HOST},
    [PWD_CMD_TARGET_UPDATE] = {"target.update",
                               PWD_F_ID | PWD_F_HOST | PWD_F_LABEL | PWD_F_PAUSED | OPTS, PWD_F_ID},
    [PWD_CMD_TARGET_REMOVE] = {"target.remove", PWD_F_ID, PWD_F_ID},
    [PWD_CMD_TARGET_PAUSE] = {"target.pause", PWD_F_ID, PWD_F_ID},
    [PWD_CMD_TARGET_RESUME] = {"target.resume", PWD_F_ID, PWD_F_ID},
    [PWD_CMD_TARGET_LIST] = {"target.list", 0, 0},
    [PWD_CMD_CONFIG_CREATE] = {"config.create", PWD_F_NAME | OPTS, PWD_F_NAME},
    [PWD_CMD_CONFIG_UPDATE] = {"config.update", PWD_F_NAME | OPTS, PWD_F_NAME},
    [PWD_CMD_CONFIG_DELETE] = {"config.delete", PWD_F_NAME, PWD_F_NAME},
    [PWD_CMD_CONFIG_APPLY] = {"config.apply", PWD_F_NAME | PWD_F_TARGET, PWD_F_NAME | PWD_F_TARGET},
    [PWD_CMD_SESSION_CREATE] = {"session.create",
                                PWD_F_TARGET | PWD_F_NAME | PWD_F_START | PWD_F_END,
                                PWD_F_TARGET | PWD_F_NAME | PWD_F_START | PWD_F_END},
    [PWD_CMD_SESSION_DELETE] = {"session.delete", PWD_F_ID, PWD_F_ID},
    [PWD_CMD_COMMENT_ADD] = {"comment.add", PWD_F_TARGET | PWD_F_TIME | PWD_F_TEXT | PWD_F_AUTHOR,
                             PWD_F_TARGET | PWD_F_TIME | PWD_F_TEXT},
    [PWD_CMD_COMMENT_DELETE] = {"comment.delete", PWD_F_ID, PWD_F_ID},
    [PWD_CMD_STATS] = {"stats", PWD_F_RESET, 0},
};

static const struct {
    const char *key;
    uint32_t field;
} field_names[] = {
    {"id", PWD_F_ID},         {"target", PWD_F_TARGET}, {"host", PWD_F_HOST},
    {"label", PWD_F_LABEL},   {"config", PWD_F_CONFIG}, {"name", PWD_F_NAME},
    {"start", PWD_F_START},   {"end", PWD_F_END},       {"time", PWD_F_TIME},
    {"text", PWD_F_TEXT},     {"paused", PWD_F_PAUSED}, {"reset", PWD_F_RESET},
    {"author", PWD_F_AUTHOR},
};

#define NFIELDS (sizeof(field_names) / sizeof(field_names[0]))

static const char opt_names[] = "trace_interval, packet_type, packet_size, timeout, max_hops, "
                                "inter_packet_delay, final_hop_only, port";

const char *pwd_cmd_name(enum pwd_cmd cmd)
{
    return (unsigned)cmd < PWD_CMD_COUNT ? specs[cmd].name : "?";
}

static int bad(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

/* The fields a command takes, for error messages. */
static void list_fields(uint32_t allowed, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < NFIELDS && used < len; i++) {
        if (!(allowed & field_names[i].field))
            continue;
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", field_names[i].key);
    }
    if ((allowed & OPTS) && used < len)
        snprintf(buf + used, len - used, "%s%s", used ? ", " : "", opt_names);
    if (!allowed)
        snprintf(buf, len, "none");
}

static const char *type_of(const cJSON *v)
{
    return cJSON_IsString(v)   ? "a string"
           : cJSON_IsNumber(v) ? "a number"
           : cJSON_IsBool(v)   ? "true/false"
           : cJSON_IsNull(v)   ? "null"
           : cJSON_IsArray(v)  ? "an array"
                               : "an object";
}

static int get_id(const cJSON *v, uint32_t *out, char *err, size_t errlen)
{
    if (!cJSON_IsNumber(v))
        return bad(err, errlen, PW_E_RANGE, "\"%s\" must be a number (got %s)", v->string,
                   type_of(v));
    if (!isfinite(v->valuedouble) || v->valuedouble < 1 || v->valuedouble > 4294967295.0 ||
        v->valuedouble != floor(v->valuedouble))
        return bad(err, errlen, PW_E_RANGE,
                   "\"%s\" must be a whole number between 1 and 4294967295 (got %g)", v->string,
                   v->valuedouble);
    *out = (uint32_t)v->valuedouble;
    return 0;
}

static int get_str(const cJSON *v, char *out, size_t max, size_t min, char *err, size_t errlen)
{
    size_t n;

    if (!cJSON_IsString(v) || !v->valuestring)
        return bad(err, errlen, PW_E_RANGE, "\"%s\" must be a string (got %s)", v->string,
                   type_of(v));
    n = strlen(v->valuestring);
    if (n < min)
        return bad(err, errlen, PW_E_RANGE, "\"%s\" must not be empty", v->string);
    if (n >= max)
        return bad(err, errlen, PW_E_RANGE, "\"%s\" is too long (%zu bytes, at most %zu)",
                   v->string, n, max - 1);
    if (!pwd_config_text_ok(v->valuestring))
        return bad(err, errlen, PW_E_RANGE, "\"%s\" must not contain control characters",
                   v->string);
    memcpy(out, v->valuestring, n + 1);
    return 0;
}

static int get_bool(const cJSON *v, bool *out, char *err, size_t errlen)
{
    if (!cJSON_IsBool(v))
        return bad(err, errlen, PW_E_RANGE, "\"%s\" must be true or false (got %s)", v->string,
                   type_of(v));
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_time(const cJSON *v, int64_t *out, char *err, size_t errlen)
{
    char num[64];

    if (cJSON_IsNumber(v)) {
        if (!isfinite(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble > PW_TIMEFMT_MAX_US / 1e6)
            return bad(err, errlen, PW_E_RANGE,
                       "\"%s\" must be Unix seconds between 0 and %lld (got %g)", v->string,
                       (long long)(PW_TIMEFMT_MAX_US / 1000000), v->valuedouble);
        *out = llround(v->valuedouble * 1e6);
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return bad(err, errlen, PW_E_RANGE,
                   "\"%s\" must be Unix seconds or an RFC 3339 string (got %s)", v->string,
                   type_of(v));
    snprintf(num, sizeof(num), "\"%s\"", v->string);
    return pw_timefmt_parse(v->valuestring, num, out, err, errlen);
}

static int parse_field(struct pwd_request *r, const cJSON *v, uint32_t field, char *err,
                       size_t errlen)
{
    switch (field) {
    case PWD_F_ID:
        return get_id(v, &r->id, err, errlen);
    case PWD_F_TARGET:
        return get_id(v, &r->target, err, errlen);
    case PWD_F_HOST: {
        int rc = get_str(v, r->host, sizeof(r->host), 1, err, errlen);
        if (rc == 0 && !pwd_config_host_ok(r->host))
            return bad(err, errlen, PW_E_RANGE,
                       "\"host\" must be a host name or an IP address (got \"%.64s\")", r->host);
        return rc;
    }
    case PWD_F_LABEL:
        return get_str(v, r->label, sizeof(r->label), 0, err, errlen);
    case PWD_F_CONFIG: {
        int rc = get_str(v, r->config, sizeof(r->config), 1, err, errlen);
        if (rc == 0 && !pwd_config_name_ok(r->config))
            return bad(err, errlen, PW_E_RANGE,
                       "\"config\" must be 1 to 63 letters, digits, '_', '.' or '-'");
        return rc;
    }
    case PWD_F_NAME: {
        bool cfg = r->cmd == PWD_CMD_CONFIG_CREATE || r->cmd == PWD_CMD_CONFIG_UPDATE ||
                   r->cmd == PWD_CMD_CONFIG_DELETE || r->cmd == PWD_CMD_CONFIG_APPLY;
        int rc = get_str(v, r->name, cfg ? PW_STORE_NAME_MAX + 1 : sizeof(r->name), 1, err, errlen);
        if (rc == 0 && cfg && !pwd_config_name_ok(r->name))
            return bad(err, errlen, PW_E_RANGE,
                       "\"name\" must be 1 to 63 letters, digits, '_', '.' or '-'");
        return rc;
    }
    case PWD_F_START:
        return get_time(v, &r->start_us, err, errlen);
    case PWD_F_END:
        return get_time(v, &r->end_us, err, errlen);
    case PWD_F_TIME:
        return get_time(v, &r->time_us, err, errlen);
    case PWD_F_TEXT:
        return get_str(v, r->text, sizeof(r->text), 1, err, errlen);
    case PWD_F_AUTHOR:
        return get_str(v, r->author, sizeof(r->author), 0, err, errlen);
    case PWD_F_PAUSED:
        return get_bool(v, &r->paused, err, errlen);
    case PWD_F_RESET:
        return get_bool(v, &r->reset, err, errlen);
    }
    return bad(err, errlen, PW_E_RANGE, "internal: unknown field");
}

static int parse_args(struct pwd_request *r, const cJSON *args, char *err, size_t errlen)
{
    const struct cmd_spec *spec = &specs[r->cmd];
    char expected[400];
    const cJSON *v;

    cJSON_ArrayForEach(v, args)
    {
        uint32_t field = 0;
        int rc;

        if (!v->string)
            return bad(err, errlen, PW_E_MALFORMED, "\"args\" must be an object");
        for (size_t i = 0; i < NFIELDS; i++)
            if (strcmp(field_names[i].key, v->string) == 0)
                field = field_names[i].field;
        if (field && (spec->allowed & field)) {
            if (r->fields & field)
                return bad(err, errlen, PW_E_RANGE, "\"%s\" is given twice", v->string);
            rc = parse_field(r, v, field, err, errlen);
            if (rc < 0)
                return rc;
            r->fields |= field;
            continue;
        }
        if (!field && (spec->allowed & OPTS)) {
            uint32_t before = r->opts.mask;
            rc = pwd_opt_parse_item(v, &r->opts, err, errlen);
            if (rc < 0)
                return rc;
            if (rc == 1 && before == r->opts.mask)
                return bad(err, errlen, PW_E_RANGE, "\"%s\" is given twice", v->string);
            if (rc == 1)
                continue;
        }
        list_fields(spec->allowed, expected, sizeof(expected));
        return bad(err, errlen, PW_E_RANGE, "unknown field \"%.64s\" for %s (expected: %s)",
                   v->string, spec->name, expected);
    }
    for (size_t i = 0; i < NFIELDS; i++)
        if ((spec->required & field_names[i].field) && !(r->fields & field_names[i].field))
            return bad(err, errlen, PW_E_RANGE, "%s needs \"%s\"", spec->name, field_names[i].key);
    if ((r->fields & PWD_F_START) && (r->fields & PWD_F_END) && r->start_us >= r->end_us)
        return bad(err, errlen, PW_E_RANGE, "\"start\" must be before \"end\"");
    if (r->cmd == PWD_CMD_TARGET_UPDATE && !(r->fields & ~PWD_F_ID) && !r->opts.mask)
        return bad(err, errlen, PW_E_RANGE, "target.update needs something to change");
    return 0;
}

int pwd_request_parse(const char *line, size_t len, struct pwd_request *req, char *err,
                      size_t errlen)
{
    const cJSON *v, *cmd = NULL, *args = NULL;
    cJSON *root;
    int rc;

    memset(req, 0, sizeof(*req));
    if (len > PWD_REQUEST_MAX)
        return bad(err, errlen, PW_E_RANGE, "request longer than %d bytes", PWD_REQUEST_MAX);
    {
        const char *end = NULL;
        size_t off;

        root = cJSON_ParseWithLengthOpts(line, len, &end, false);
        if (!root)
            return bad(err, errlen, PW_E_MALFORMED,
                       "not valid JSON: send one JSON object per line, e.g. "
                       "{\"cmd\": \"target.list\"}");
        /* cJSON stops after the first value; anything but blanks after it is garbage. */
        for (off = end ? (size_t)(end - line) : len; off < len; off++) {
            if (line[off] != ' ' && line[off] != '\t' && line[off] != '\r') {
                rc = bad(err, errlen, PW_E_MALFORMED, "not valid JSON: text after the object");
                goto out;
            }
        }
    }
    if (!cJSON_IsObject(root)) {
        rc = bad(err, errlen, PW_E_MALFORMED, "a request must be a JSON object");
        goto out;
    }
    cJSON_ArrayForEach(v, root)
    {
        if (v->string && strcmp(v->string, "cmd") == 0 && !cmd) {
            cmd = v;
        } else if (v->string && strcmp(v->string, "args") == 0 && !args) {
            args = v;
        } else {
            rc = bad(err, errlen, PW_E_RANGE,
                     "unknown or repeated key \"%.64s\" in the request (expected \"cmd\" and "
                     "\"args\")",
                     v->string ? v->string : "");
            goto out;
        }
    }
    if (!cmd || !cJSON_IsString(cmd) || !cmd->valuestring) {
        rc = bad(err, errlen, PW_E_RANGE, "\"cmd\" is missing or not a string");
        goto out;
    }
    req->cmd = PWD_CMD_COUNT;
    for (int i = 0; i < PWD_CMD_COUNT; i++)
        if (strcmp(specs[i].name, cmd->valuestring) == 0)
            req->cmd = (enum pwd_cmd)i;
    if (req->cmd == PWD_CMD_COUNT) {
        rc = bad(err, errlen, PW_E_RANGE,
                 "unknown command \"%.64s\" (commands: target.add, target.update, "
                 "target.remove, target.pause, target.resume, target.list, config.create, "
                 "config.update, config.delete, config.apply, session.create, session.delete, "
                 "comment.add, comment.delete, stats)",
                 cmd->valuestring);
        goto out;
    }
    if (args && !cJSON_IsObject(args) && !cJSON_IsNull(args)) {
        rc = bad(err, errlen, PW_E_RANGE, "\"args\" must be an object (got %s)", type_of(args));
        goto out;
    }
    rc = parse_args(req, args && cJSON_IsObject(args) ? args : NULL, err, errlen);
out:
    cJSON_Delete(root);
    return rc;
}

static char *finish(cJSON *o)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    char *line = NULL;
    size_t n;

    cJSON_Delete(o);
    if (!text)
        return NULL;
    n = strlen(text);
    line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    return line;
}

char *pwd_response_ok(cJSON *result)
{
    cJSON *o = cJSON_CreateObject();

    if (!o || !cJSON_AddTrueToObject(o, "ok")) {
        cJSON_Delete(o);
        cJSON_Delete(result);
        return NULL;
    }
    if (!result)
        result = cJSON_CreateObject();
    if (!result || !cJSON_AddItemToObject(o, "result", result)) {
        cJSON_Delete(result);
        cJSON_Delete(o);
        return NULL;
    }
    return finish(o);
}

char *pwd_response_error(const char *code, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_CreateObject();

    if (!o || !e || !cJSON_AddFalseToObject(o, "ok") || !cJSON_AddStringToObject(e, "code", code) ||
        !cJSON_AddStringToObject(e, "message", message)) {
        cJSON_Delete(o);
        cJSON_Delete(e);
        return NULL;
    }
    if (!cJSON_AddItemToObject(o, "error", e)) {
        cJSON_Delete(e);
        cJSON_Delete(o);
        return NULL;
    }
    return finish(o);
}
