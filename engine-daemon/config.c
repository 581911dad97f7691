/* PingWatcher — pingwatcherd's configuration file (see config.h). */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "log.h"

/* Errors are built as "<where>: <what>"; where is empty at the top level. */
static int fail(char *err, size_t errlen, const char *where, int rc, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errlen, const char *where, int rc, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (where && *where)
        snprintf(err, errlen, "%s: %s", where, what);
    else
        snprintf(err, errlen, "%s", what);
    return rc;
}

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "true/false";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    return "something else";
}

/* A number in [min, max]; whole when `whole`. unit is appended to the range (" s", ""). */
static int get_number(const cJSON *v, const char *where, double min, double max, bool whole,
                      const char *unit, double *out, char *err, size_t errlen)
{
    if (!cJSON_IsNumber(v))
        return fail(err, errlen, where, PW_E_RANGE, "\"%s\" must be a number (got %s)", v->string,
                    type_name(v));
    if (!isfinite(v->valuedouble) || v->valuedouble < min || v->valuedouble > max ||
        (whole && v->valuedouble != floor(v->valuedouble))) {
        return fail(err, errlen, where, PW_E_RANGE, "\"%s\" must be %sbetween %g and %g%s (got %g)",
                    v->string, whole ? "a whole number " : "", min, max, unit, v->valuedouble);
    }
    *out = v->valuedouble;
    return 0;
}

static int get_u32(const cJSON *v, const char *where, uint32_t min, uint32_t max, uint32_t *out,
                   char *err, size_t errlen)
{
    double d;
    int rc = get_number(v, where, min, max, true, "", &d, err, errlen);

    if (rc == 0)
        *out = (uint32_t)d;
    return rc;
}

static int get_bool(const cJSON *v, const char *where, bool *out, char *err, size_t errlen)
{
    if (!cJSON_IsBool(v))
        return fail(err, errlen, where, PW_E_RANGE, "\"%s\" must be true or false (got %s)",
                    v->string, type_name(v));
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A string of at most max - 1 bytes, copied into out. */
static int get_string(const cJSON *v, const char *where, char *out, size_t max, char *err,
                      size_t errlen)
{
    size_t n;

    if (!cJSON_IsString(v) || !v->valuestring)
        return fail(err, errlen, where, PW_E_RANGE, "\"%s\" must be a string (got %s)", v->string,
                    type_name(v));
    n = strlen(v->valuestring);
    if (n >= max)
        return fail(err, errlen, where, PW_E_RANGE, "\"%s\" is too long (%zu bytes, at most %zu)",
                    v->string, n, max - 1);
    memcpy(out, v->valuestring, n + 1);
    return 0;
}

static int get_object(const cJSON *v, const char *where, char *err, size_t errlen)
{
    if (!cJSON_IsObject(v))
        return fail(err, errlen, where, PW_E_RANGE, "\"%s\" must be an object (got %s)", v->string,
                    type_name(v));
    return 0;
}

static int unknown_key(const cJSON *v, const char *where, const char *expected, char *err,
                       size_t errlen)
{
    return fail(err, errlen, where, PW_E_RANGE, "unknown key \"%s\" (expected %s)", v->string,
                expected);
}

/* "comment" is allowed everywhere, as the scenario files do: JSON has no comments. */
static bool is_comment(const cJSON *v)
{
    return strcmp(v->string, "comment") == 0 && cJSON_IsString(v);
}

bool pwd_config_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n < 1 || n > PW_STORE_NAME_MAX)
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

bool pwd_config_host_ok(const char *host)
{
    size_t n = strlen(host);

    if (n < 1 || n > PW_STORE_HOST_MAX || host[0] == '-')
        return false;
    return strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-:") == n;
}

bool pwd_config_text_ok(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* ---- trace options ---- */

void pwd_opt_apply(struct pw_trace_opts *dst, const struct pwd_opt_set *set)
{
    const struct pw_trace_opts *v = &set->v;

    if (set->mask & PWD_OPT_INTERVAL)
        dst->interval_ms = v->interval_ms;
    if (set->mask & PWD_OPT_PROTO)
        dst->proto = v->proto;
    if (set->mask & PWD_OPT_SIZE)
        dst->packet_size = v->packet_size;
    if (set->mask & PWD_OPT_TIMEOUT)
        dst->timeout_ms = v->timeout_ms;
    if (set->mask & PWD_OPT_MAX_HOPS)
        dst->max_hops = v->max_hops;
    if (set->mask & PWD_OPT_DELAY)
        dst->inter_packet_delay_us = v->inter_packet_delay_us;
    if (set->mask & PWD_OPT_FINAL_ONLY)
        dst->final_hop_only = v->final_hop_only;
    if (set->mask & PWD_OPT_PORT)
        dst->port = v->port;
}

int pwd_opt_parse_item(const cJSON *item, struct pwd_opt_set *set, char *err, size_t errlen)
{
    const char *k = item->string;
    double d = 0;
    uint32_t u = 0;
    int rc;

    if (!k)
        return 0;
    if (strcmp(k, "trace_interval") == 0) {
        rc = get_number(item, NULL, 0.01, 86400, false, " s", &d, err, errlen);
        if (rc < 0)
            return rc;
        set->v.interval_ms = (uint32_t)llround(d * 1000);
        set->mask |= PWD_OPT_INTERVAL;
    } else if (strcmp(k, "packet_type") == 0) {
        enum pw_proto p;
        if (!cJSON_IsString(item) || pw_proto_parse(item->valuestring, &p) < 0)
            return fail(err, errlen, NULL, PW_E_RANGE,
                        "\"packet_type\" must be \"icmp\", \"udp\" or \"tcp\"");
        set->v.proto = p;
        set->mask |= PWD_OPT_PROTO;
    } else if (strcmp(k, "packet_size") == 0) {
        rc = get_u32(item, NULL, 0, 65535, &u, err, errlen);
        if (rc < 0)
            return rc;
        set->v.packet_size = (int32_t)u;
        set->mask |= PWD_OPT_SIZE;
    } else if (strcmp(k, "timeout") == 0) {
        rc = get_number(item, NULL, 0.001, 60, false, " s", &d, err, errlen);
        if (rc < 0)
            return rc;
        set->v.timeout_ms = (uint32_t)llround(d * 1000);
        if (set->v.timeout_ms < 1)
            set->v.timeout_ms = 1;
        set->mask |= PWD_OPT_TIMEOUT;
    } else if (strcmp(k, "max_hops") == 0) {
        rc = get_u32(item, NULL, 1, PW_TRACE_MAX_HOPS, &u, err, errlen);
        if (rc < 0)
            return rc;
        set->v.max_hops = (uint8_t)u;
        set->mask |= PWD_OPT_MAX_HOPS;
    } else if (strcmp(k, "inter_packet_delay") == 0) {
        rc = get_number(item, NULL, 0, 1000, false, " ms", &d, err, errlen);
        if (rc < 0)
            return rc;
        set->v.inter_packet_delay_us = (uint32_t)llround(d * 1000);
        set->mask |= PWD_OPT_DELAY;
    } else if (strcmp(k, "final_hop_only") == 0) {
        bool b;
        rc = get_bool(item, NULL, &b, err, errlen);
        if (rc < 0)
            return rc;
        set->v.final_hop_only = b;
        set->mask |= PWD_OPT_FINAL_ONLY;
    } else if (strcmp(k, "port") == 0) {
        rc = get_u32(item, NULL, 1, 65535, &u, err, errlen);
        if (rc < 0)
            return rc;
        set->v.port = (uint16_t)u;
        set->mask |= PWD_OPT_PORT;
    } else {
        return 0;
    }
    return 1;
}

cJSON *pwd_opts_json(const struct pw_trace_opts *o)
{
    cJSON *j = cJSON_CreateObject();

    if (!j)
        return NULL;
    if (!cJSON_AddNumberToObject(j, "trace_interval", o->interval_ms / 1000.0) ||
        !cJSON_AddStringToObject(j, "packet_type", pw_proto_name(o->proto)) ||
        !(o->packet_size >= 0 ? cJSON_AddNumberToObject(j, "packet_size", o->packet_size)
                              : cJSON_AddNullToObject(j, "packet_size")) ||
        !cJSON_AddNumberToObject(j, "timeout", o->timeout_ms / 1000.0) ||
        !cJSON_AddNumberToObject(j, "max_hops", o->max_hops) ||
        !cJSON_AddNumberToObject(j, "inter_packet_delay", o->inter_packet_delay_us / 1000.0) ||
        !cJSON_AddBoolToObject(j, "final_hop_only", o->final_hop_only) ||
        !(o->port ? cJSON_AddNumberToObject(j, "port", o->port)
                  : cJSON_AddNullToObject(j, "port"))) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static const char opt_keys[] = "trace_interval, packet_type, packet_size, timeout, max_hops, "
                               "inter_packet_delay, final_hop_only, port";

/* An object made only of trace options. */
static int parse_opts_object(const cJSON *obj, const char *where, struct pwd_opt_set *set,
                             char *err, size_t errlen)
{
    char inner[512];
    const cJSON *v;
    int rc;

    rc = get_object(obj, where, err, errlen);
    if (rc < 0)
        return rc;
    cJSON_ArrayForEach(v, obj)
    {
        if (is_comment(v))
            continue;
        rc = pwd_opt_parse_item(v, set, inner, sizeof(inner));
        if (rc < 0)
            return fail(err, errlen, where, rc, "%s", inner);
        if (rc == 0)
            return unknown_key(v, where, opt_keys, err, errlen);
    }
    return 0;
}

/* ---- the file ---- */

void pwd_config_init(struct pwd_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->database, sizeof(c->database), "%s", PWD_DEFAULT_DATABASE);
    snprintf(c->control_path, sizeof(c->control_path), "%s", PWD_DEFAULT_CONTROL);
    c->control_mode = 0660;
    c->log_level = PWD_LOG_INFO;
    c->batch_max_ms = 100;
    c->batch_max_samples = 1000;
    c->raw_days = 30;
    c->rollup_days = 365;
    c->persist_samples = 3;
    c->dns_enabled = true;
    c->dns_refresh_s = 300;
    c->alerts.command_timeout_s = 10;
    c->alerts.webhook_timeout_s = 5;
    c->alerts.webhook_retries = 2;
    pw_trace_opts_default(&c->defaults);
}

void pwd_config_deinit(struct pwd_config *c)
{
    free(c->presets);
    free(c->targets);
    c->presets = NULL;
    c->targets = NULL;
    c->npresets = c->ntargets = 0;
    pwd_config_alerts_free(&c->alerts);
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void pwd_config_alerts_free(struct pwd_config_alerts *a)
{
    for (size_t i = 0; i < a->ncommands; i++)
        free_strv(a->commands[i].argv);
    free(a->commands);
    free_strv(a->webhook_allow);
    a->commands = NULL;
    a->webhook_allow = NULL;
    a->ncommands = a->nwebhook_allow = 0;
}

static char **copy_strv(char *const *v)
{
    size_t n = 0;
    char **out;

    while (v[n])
        n++;
    out = calloc(n + 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++) {
        if (!(out[i] = strdup(v[i]))) {
            free_strv(out);
            return NULL;
        }
    }
    return out;
}

int pwd_config_alerts_copy(struct pwd_config_alerts *dst, const struct pwd_config_alerts *src)
{
    *dst = *src;
    dst->commands = NULL;
    dst->webhook_allow = NULL;
    dst->ncommands = dst->nwebhook_allow = 0;
    if (src->ncommands && !(dst->commands = calloc(src->ncommands, sizeof(*dst->commands))))
        goto nomem;
    for (; dst->ncommands < src->ncommands; dst->ncommands++) {
        struct pwd_alert_command *c = &dst->commands[dst->ncommands];
        *c = src->commands[dst->ncommands];
        if (!(c->argv = copy_strv(src->commands[dst->ncommands].argv)))
            goto nomem;
    }
    if (src->webhook_allow) {
        if (!(dst->webhook_allow = copy_strv(src->webhook_allow)))
            goto nomem;
        dst->nwebhook_allow = src->nwebhook_allow;
    }
    return 0;
nomem:
    pwd_config_alerts_free(dst);
    return -ENOMEM;
}

const struct pwd_alert_command *pwd_config_alert_command(const struct pwd_config_alerts *a,
                                                         const char *name)
{
    for (size_t i = 0; i < a->ncommands; i++)
        if (strcmp(a->commands[i].name, name) == 0)
            return &a->commands[i];
    return NULL;
}

bool pwd_config_webhook_allowed(const struct pwd_config_alerts *a, const char *url)
{
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return false;
    if (!a->webhook_allow)
        return true;
    /* No FNM_PATHNAME: "http://127.0.0.1:*" covers every port and path of that host. */
    for (size_t i = 0; i < a->nwebhook_allow; i++)
        if (fnmatch(a->webhook_allow[i], url, 0) == 0)
            return true;
    return false;
}

/* A JSON array of 1..max non-empty strings, as a NULL-terminated malloc'd vector. */
static int get_strv(const cJSON *v, const char *where, size_t max, char ***out, size_t *n,
                    char *err, size_t errlen)
{
    const cJSON *e;
    size_t i = 0, cnt = (size_t)cJSON_GetArraySize(v);
    char **vec;

    if (!cJSON_IsArray(v) || cnt < 1 || cnt > max)
        return fail(err, errlen, where, PW_E_RANGE, "\"%s\" must be an array of 1 to %zu strings",
                    v->string, max);
    if (!(vec = calloc(cnt + 1, sizeof(*vec))))
        return -ENOMEM;
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e) || !e->valuestring || !e->valuestring[0] ||
            strlen(e->valuestring) > 4095 || !pwd_config_text_ok(e->valuestring)) {
            free_strv(vec);
            return fail(err, errlen, where, PW_E_RANGE,
                        "\"%s\" must hold non-empty strings without control characters", v->string);
        }
        if (!(vec[i++] = strdup(e->valuestring))) {
            free_strv(vec);
            return -ENOMEM;
        }
    }
    *out = vec;
    if (n)
        *n = cnt;
    return 0;
}

static int parse_smtp(const cJSON *obj, struct pwd_config_alerts *a, char *err, size_t errlen)
{
    const char *where = "alerts.smtp";
    const cJSON *v;
    int rc = get_object(obj, "alerts", err, errlen);

    if (rc < 0)
        return rc;
    cJSON_ArrayForEach(v, obj)
    {
        const char *k = v->string;

        if (is_comment(v))
            continue;
        if (strcmp(k, "url") == 0) {
            rc = get_string(v, where, a->smtp_url, sizeof(a->smtp_url), err, errlen);
            if (rc == 0 && strncmp(a->smtp_url, "smtp://", 7) != 0 &&
                strncmp(a->smtp_url, "smtps://", 8) != 0)
                rc = fail(err, errlen, where, PW_E_RANGE,
                          "\"url\" must start with smtp:// or smtps:// (got \"%s\")", a->smtp_url);
        } else if (strcmp(k, "starttls") == 0) {
            rc = get_bool(v, where, &a->smtp_starttls, err, errlen);
        } else if (strcmp(k, "user") == 0) {
            rc = get_string(v, where, a->smtp_user, sizeof(a->smtp_user), err, errlen);
        } else if (strcmp(k, "password") == 0) {
            rc = get_string(v, where, a->smtp_password, sizeof(a->smtp_password), err, errlen);
        } else if (strcmp(k, "from") == 0) {
            rc = get_string(v, where, a->smtp_from, sizeof(a->smtp_from), err, errlen);
            if (rc == 0 && (!strchr(a->smtp_from, '@') || strpbrk(a->smtp_from, " <>,\r\n")))
                rc = fail(err, errlen, where, PW_E_RANGE,
                          "\"from\" must be one address like pingwatcher@example.org");
        } else {
            rc = unknown_key(v, where, "url, starttls, user, password, from", err, errlen);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int parse_commands(const cJSON *obj, struct pwd_config_alerts *a, char *err, size_t errlen)
{
    const char *where = "alerts.commands";
    const cJSON *v;
    int n = cJSON_GetArraySize(obj), rc = get_object(obj, "alerts", err, errlen);

    if (rc < 0)
        return rc;
    if (!(a->commands = calloc((size_t)n + 1, sizeof(*a->commands))))
        return -ENOMEM;
    cJSON_ArrayForEach(v, obj)
    {
        struct pwd_alert_command *c = &a->commands[a->ncommands];

        if (is_comment(v))
            continue;
        if (!pwd_config_name_ok(v->string))
            return fail(err, errlen, where, PW_E_RANGE,
                        "command name \"%s\" must be 1 to 63 of [A-Za-z0-9_.-]", v->string);
        snprintf(c->name, sizeof(c->name), "%s", v->string);
        if ((rc = get_strv(v, where, PWD_ALERT_ARGV_MAX, &c->argv, NULL, err, errlen)) < 0)
            return rc;
        a->ncommands++;
        if (c->argv[0][0] != '/')
            return fail(err, errlen, where, PW_E_RANGE,
                        "\"%s\": the program must be an absolute path (got \"%s\")", c->name,
                        c->argv[0]);
    }
    return 0;
}

static int parse_alerts(const cJSON *obj, struct pwd_config *c, char *err, size_t errlen)
{
    const char *where = "alerts";
    struct pwd_config_alerts *a = &c->alerts;
    const cJSON *v;
    int rc = get_object(obj, NULL, err, errlen);

    if (rc < 0)
        return rc;
    cJSON_ArrayForEach(v, obj)
    {
        const char *k = v->string;

        if (is_comment(v))
            continue;
        if (strcmp(k, "smtp") == 0) {
            rc = parse_smtp(v, a, err, errlen);
        } else if (strcmp(k, "log_path") == 0 || strcmp(k, "image_dir") == 0) {
            char *dst = k[0] == 'l' ? a->log_path : a->image_dir;
            rc = get_string(v, where, dst, sizeof(a->log_path), err, errlen);
            if (rc == 0 && dst[0] != '/')
                rc = fail(err, errlen, where, PW_E_RANGE, "\"%s\" must be an absolute path", k);
        } else if (strcmp(k, "commands") == 0) {
            rc = parse_commands(v, a, err, errlen);
        } else if (strcmp(k, "command_timeout_s") == 0) {
            rc = get_u32(v, where, 1, 3600, &a->command_timeout_s, err, errlen);
        } else if (strcmp(k, "webhook_allow") == 0) {
            rc = get_strv(v, where, 256, &a->webhook_allow, &a->nwebhook_allow, err, errlen);
        } else if (strcmp(k, "webhook_timeout_s") == 0) {
            rc = get_u32(v, where, 1, 300, &a->webhook_timeout_s, err, errlen);
        } else if (strcmp(k, "webhook_retries") == 0) {
            rc = get_u32(v, where, 0, 10, &a->webhook_retries, err, errlen);
        } else {
            rc = unknown_key(v, where,
                             "smtp, log_path, image_dir, commands, command_timeout_s, "
                             "webhook_allow, webhook_timeout_s, webhook_retries",
                             err, errlen);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

const struct pwd_config_preset *pwd_config_preset_find(const struct pwd_config *c, const char *name)
{
    for (size_t i = 0; i < c->npresets; i++)
        if (strcmp(c->presets[i].name, name) == 0)
            return &c->presets[i];
    return NULL;
}

static int parse_control(const cJSON *obj, struct pwd_config *c, char *err, size_t errlen)
{
    const char *where = "control";
    const cJSON *v;
    int rc = get_object(obj, NULL, err, errlen);

    if (rc < 0)
        return rc;
    cJSON_ArrayForEach(v, obj)
    {
        if (is_comment(v))
            continue;
        if (strcmp(v->string, "path") == 0) {
            rc = get_string(v, where, c->control_path, sizeof(c->control_path), err, errlen);
            if (rc == 0 && c->control_path[0] != '/')
                rc = fail(err, errlen, where, PW_E_RANGE, "\"path\" must be an absolute path");
        } else if (strcmp(v->string, "owner") == 0) {
            rc = get_string(v, where, c->control_owner, sizeof(c->control_owner), err, errlen);
        } else if (strcmp(v->string, "group") == 0) {
            rc = get_string(v, where, c->control_group, sizeof(c->control_group), err, errlen);
        } else if (strcmp(v->string, "mode") == 0) {
            char m[8], *end = NULL;
            unsigned long mode;
            rc = get_string(v, where, m, sizeof(m), err, errlen);
            if (rc < 0)
                return rc;
            errno = 0;
            mode = strtoul(m, &end, 8);
            if (!m[0] || errno || *end || mode > 0777 || strspn(m, "01234567") != strlen(m))
                return fail(err, errlen, where, PW_E_RANGE,
                            "\"mode\" must be an octal string such as \"0660\" (got \"%s\")", m);
            c->control_mode = (uint32_t)mode;
        } else {
            rc = unknown_key(v, where, "path, owner, group, mode", err, errlen);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int parse_section(const cJSON *obj, struct pwd_config *c, char *err, size_t errlen)
{
    const char *where = obj->string;
    const cJSON *v;
    int rc = get_object(obj, NULL, err, errlen);

    if (rc < 0)
        return rc;
    cJSON_ArrayForEach(v, obj)
    {
        const char *k = v->string;

        if (is_comment(v))
            continue;
        if (strcmp(where, "batch") == 0 && strcmp(k, "max_ms") == 0)
            rc = get_u32(v, where, 1, 10000, &c->batch_max_ms, err, errlen);
        else if (strcmp(where, "batch") == 0 && strcmp(k, "max_samples") == 0)
            rc = get_u32(v, where, 1, 1000000, &c->batch_max_samples, err, errlen);
        else if (strcmp(where, "retention") == 0 && strcmp(k, "raw_days") == 0)
            rc = get_u32(v, where, 1, 36500, &c->raw_days, err, errlen);
        else if (strcmp(where, "retention") == 0 && strcmp(k, "rollup_days") == 0)
            rc = get_u32(v, where, 1, 36500, &c->rollup_days, err, errlen);
        else if (strcmp(where, "route_change") == 0 && strcmp(k, "persist_samples") == 0)
            rc = get_u32(v, where, 1, 1000, &c->persist_samples, err, errlen);
        else if (strcmp(where, "dns") == 0 && strcmp(k, "enabled") == 0)
            rc = get_bool(v, where, &c->dns_enabled, err, errlen);
        else if (strcmp(where, "dns") == 0 && strcmp(k, "servers") == 0)
            rc = get_string(v, where, c->dns_servers, sizeof(c->dns_servers), err, errlen);
        else if (strcmp(where, "dns") == 0 && strcmp(k, "refresh_s") == 0)
            rc = get_u32(v, where, 0, 604800, &c->dns_refresh_s, err, errlen);
        else
            rc = unknown_key(v, where,
                             strcmp(where, "batch") == 0       ? "max_ms, max_samples"
                             : strcmp(where, "retention") == 0 ? "raw_days, rollup_days"
                             : strcmp(where, "dns") == 0       ? "enabled, servers, refresh_s"
                                                               : "persist_samples",
                             err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int parse_presets(const cJSON *obj, struct pwd_config *c, char *err, size_t errlen)
{
    const cJSON *v;
    int n = cJSON_GetArraySize(obj), rc = get_object(obj, NULL, err, errlen);

    if (rc < 0)
        return rc;
    c->presets = calloc((size_t)n + 1, sizeof(*c->presets));
    if (!c->presets)
        return -ENOMEM;
    cJSON_ArrayForEach(v, obj)
    {
        struct pwd_config_preset *p = &c->presets[c->npresets];
        char where[128];

        if (is_comment(v))
            continue;
        snprintf(where, sizeof(where), "configurations.%.64s", v->string);
        if (!pwd_config_name_ok(v->string))
            return fail(err, errlen, "configurations", PW_E_RANGE,
                        "name \"%.64s\" must be 1 to 63 letters, digits, '_', '.' or '-'",
                        v->string);
        if (pwd_config_preset_find(c, v->string))
            return fail(err, errlen, "configurations", PW_E_RANGE, "\"%s\" is defined twice",
                        v->string);
        snprintf(p->name, sizeof(p->name), "%s", v->string);
        rc = parse_opts_object(v, where, &p->opts, err, errlen);
        if (rc < 0)
            return rc;
        c->npresets++;
    }
    return 0;
}

static int parse_target(const cJSON *obj, const char *where, struct pwd_config *c,
                        struct pwd_config_target *t, char *err, size_t errlen)
{
    char inner[512];
    const cJSON *v;
    int rc;

    if (!cJSON_IsObject(obj))
        return fail(err, errlen, where, PW_E_RANGE, "a target must be an object (got %s)",
                    type_name(obj));
    cJSON_ArrayForEach(v, obj)
    {
        const char *k = v->string;

        if (is_comment(v))
            continue;
        if (strcmp(k, "host") == 0) {
            rc = get_string(v, where, t->host, sizeof(t->host), err, errlen);
            if (rc == 0 && !pwd_config_host_ok(t->host))
                rc = fail(err, errlen, where, PW_E_RANGE,
                          "\"host\" must be a host name or an IP address (got \"%s\")", t->host);
        } else if (strcmp(k, "label") == 0) {
            rc = get_string(v, where, t->label, sizeof(t->label), err, errlen);
            if (rc == 0 && !pwd_config_text_ok(t->label))
                rc = fail(err, errlen, where, PW_E_RANGE,
                          "\"label\" must not contain control characters");
        } else if (strcmp(k, "config") == 0) {
            rc = get_string(v, where, t->config, sizeof(t->config), err, errlen);
            if (rc == 0 && !pwd_config_preset_find(c, t->config))
                rc = fail(err, errlen, where, PW_E_RANGE,
                          "\"config\" names \"%s\", which \"configurations\" does not define",
                          t->config);
        } else if (strcmp(k, "paused") == 0) {
            rc = get_bool(v, where, &t->paused, err, errlen);
        } else {
            rc = pwd_opt_parse_item(v, &t->opts, inner, sizeof(inner));
            if (rc < 0)
                return fail(err, errlen, where, rc, "%s", inner);
            if (rc == 0)
                return unknown_key(v, where, "host, label, config, paused or a trace option", err,
                                   errlen);
            rc = 0;
        }
        if (rc < 0)
            return rc;
    }
    if (!t->host[0])
        return fail(err, errlen, where, PW_E_RANGE, "\"host\" is missing");
    return 0;
}

static int parse_targets(const cJSON *arr, struct pwd_config *c, char *err, size_t errlen)
{
    const cJSON *v;
    int n = cJSON_GetArraySize(arr), rc;

    if (!cJSON_IsArray(arr))
        return fail(err, errlen, NULL, PW_E_RANGE, "\"targets\" must be an array (got %s)",
                    type_name(arr));
    c->targets = calloc((size_t)n + 1, sizeof(*c->targets));
    if (!c->targets)
        return -ENOMEM;
    cJSON_ArrayForEach(v, arr)
    {
        struct pwd_config_target *t = &c->targets[c->ntargets];
        char where[32];

        snprintf(where, sizeof(where), "targets[%zu]", c->ntargets);
        rc = parse_target(v, where, c, t, err, errlen);
        if (rc < 0)
            return rc;
        /* Reloads find a declared target again by host and label: they must be unique. */
        for (size_t i = 0; i < c->ntargets; i++)
            if (strcmp(c->targets[i].host, t->host) == 0 &&
                strcmp(c->targets[i].label, t->label) == 0)
                return fail(err, errlen, where, PW_E_RANGE,
                            "host \"%s\" with label \"%s\" is declared twice (targets[%zu]); "
                            "give them different labels",
                            t->host, t->label, i);
        c->ntargets++;
    }
    return 0;
}

static const char top_keys[] =
    "database, control, user, group, log_level, max_probes_per_s, batch, retention, "
    "route_change, dns, defaults, configurations, targets, alerts";

int pwd_config_parse(const char *text, size_t len, struct pwd_config *c, char *err, size_t errlen)
{
    const cJSON *v, *presets = NULL, *targets = NULL;
    cJSON *root;
    int rc = 0;

    pwd_config_init(c);
    root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        size_t line = 1;
        for (size_t i = 0; i < off; i++)
            line += text[i] == '\n';
        return fail(err, errlen, NULL, PW_E_MALFORMED, "not valid JSON (near line %zu)", line);
    }
    if (!cJSON_IsObject(root)) {
        rc = fail(err, errlen, NULL, PW_E_RANGE, "the configuration must be a JSON object");
        goto out;
    }
    cJSON_ArrayForEach(v, root)
    {
        const char *k = v->string;

        if (is_comment(v))
            continue;
        if (strcmp(k, "database") == 0) {
            rc = get_string(v, NULL, c->database, sizeof(c->database), err, errlen);
            if (rc == 0 && !c->database[0])
                rc = fail(err, errlen, NULL, PW_E_RANGE, "\"database\" must not be empty");
        } else if (strcmp(k, "control") == 0) {
            rc = parse_control(v, c, err, errlen);
        } else if (strcmp(k, "user") == 0) {
            rc = get_string(v, NULL, c->user, sizeof(c->user), err, errlen);
        } else if (strcmp(k, "group") == 0) {
            rc = get_string(v, NULL, c->group, sizeof(c->group), err, errlen);
        } else if (strcmp(k, "log_level") == 0) {
            char level[16];
            rc = get_string(v, NULL, level, sizeof(level), err, errlen);
            if (rc == 0 && pwd_log_level_parse(level, &c->log_level) < 0)
                rc = fail(err, errlen, NULL, PW_E_RANGE,
                          "\"log_level\" must be error, warning, notice, info or debug");
        } else if (strcmp(k, "max_probes_per_s") == 0) {
            rc = get_u32(v, NULL, 0, 10000000, &c->max_probes_per_s, err, errlen);
        } else if (strcmp(k, "batch") == 0 || strcmp(k, "retention") == 0 ||
                   strcmp(k, "route_change") == 0 || strcmp(k, "dns") == 0) {
            rc = parse_section(v, c, err, errlen);
        } else if (strcmp(k, "defaults") == 0) {
            struct pwd_opt_set set = {0};
            rc = parse_opts_object(v, "defaults", &set, err, errlen);
            pwd_opt_apply(&c->defaults, &set);
        } else if (strcmp(k, "configurations") == 0) {
            presets = v;
        } else if (strcmp(k, "targets") == 0) {
            targets = v;
        } else if (strcmp(k, "alerts") == 0) {
            rc = parse_alerts(v, c, err, errlen);
        } else {
            rc = unknown_key(v, NULL, top_keys, err, errlen);
        }
        if (rc < 0)
            goto out;
    }
    /* Presets before targets, whatever the order in the file: targets refer to them. */
    if (presets && (rc = parse_presets(presets, c, err, errlen)) < 0)
        goto out;
    if (targets && (rc = parse_targets(targets, c, err, errlen)) < 0)
        goto out;
    if (c->group[0] && !c->user[0])
        rc = fail(err, errlen, NULL, PW_E_RANGE, "\"group\" needs \"user\" as well");
out:
    cJSON_Delete(root);
    if (rc < 0) {
        pwd_config_deinit(c);
        pwd_config_init(c);
        if (rc == -ENOMEM)
            snprintf(err, errlen, "out of memory");
    }
    return rc;
}

int pwd_config_load(const char *path, struct pwd_config *c, char *err, size_t errlen)
{
    char inner[600];
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int fd, rc;

    pwd_config_init(c);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > PWD_CONFIG_MAX_BYTES) {
        snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path,
                 PWD_CONFIG_MAX_BYTES);
        rc = PW_E_RANGE;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = -ENOMEM;
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
            goto out;
        }
        got += (size_t)n;
    }
    rc = pwd_config_parse(buf, got, c, inner, sizeof(inner));
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, inner);
out:
    free(buf);
    close(fd);
    return rc;
}
