/* PingWatcher — HTTP request parsing (see http.h). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "http.h"
#include "num.h"
#include "render.h"
#include "text.h"
#include "timefmt.h"

static const struct {
    const char *name;
    enum pw_http_method m;
} methods[] = {
    {"GET", PW_HTTP_GET},         {"HEAD", PW_HTTP_HEAD},   {"POST", PW_HTTP_POST},
    {"PUT", PW_HTTP_PUT},         {"PATCH", PW_HTTP_PATCH}, {"DELETE", PW_HTTP_DELETE},
    {"OPTIONS", PW_HTTP_OPTIONS},
};

enum pw_http_method pw_http_method_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(s, methods[i].name) == 0)
            return methods[i].m;
    return PW_HTTP_OTHER;
}

const char *pw_http_methods_format(unsigned m, char *buf, size_t len)
{
    size_t used = 0;

    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        int n;

        if (!(m & methods[i].m))
            continue;
        n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", methods[i].name);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* Shows untrusted text in an error message: cut short, control bytes replaced. */
static const char *shown(const char *s, size_t n, char *buf, size_t len)
{
    size_t k = n < len - 1 ? n : len - 1;

    memcpy(buf, s, k);
    buf[k] = '\0';
    for (size_t i = 0; i < k; i++)
        if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] == 0x7f)
            buf[i] = '?';
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long pw_http_pct_decode(char *dst, const char *src, size_t n, bool plus_space)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = src[i];

        if (c == '%') {
            int hi, lo;

            if (i + 2 >= n)
                return -EINVAL;
            hi = hexval(src[i + 1]);
            lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            dst[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            dst[o++] = ' ';
        } else {
            dst[o++] = c;
        }
    }
    dst[o] = '\0';
    return (long)o;
}

int pw_http_path_parse(struct pw_arena *a, const char *uri, size_t len, struct pw_http_path *out,
                       char *err, size_t errlen)
{
    const char *q = memchr(uri, '?', len);
    size_t plen = q ? (size_t)(q - uri) : len;
    size_t i = 1;

    out->nseg = 0;
    if (plen == 0 || uri[0] != '/') {
        snprintf(err, errlen, "the request path must start with '/'");
        return -EINVAL;
    }
    if (plen > PW_HTTP_PATH_MAX) {
        snprintf(err, errlen, "the request path is longer than %d bytes", PW_HTTP_PATH_MAX);
        return -EINVAL;
    }
    if (memchr(uri, '#', plen)) {
        snprintf(err, errlen, "the request path must not contain '#'");
        return -EINVAL;
    }
    while (i < plen) {
        const char *slash = memchr(uri + i, '/', plen - i);
        size_t n = slash ? (size_t)(slash - (uri + i)) : plen - i;
        char *seg;
        long dn;

        /* A trailing '/' ends the loop before here; an empty segment is "//". */
        if (n == 0) {
            snprintf(err, errlen, "the request path has an empty segment");
            return -EINVAL;
        }
        if (out->nseg == PW_HTTP_MAX_SEGS) {
            snprintf(err, errlen, "the request path has more than %d segments", PW_HTTP_MAX_SEGS);
            return -EINVAL;
        }
        seg = pw_arena_alloc(a, n + 1);
        if (!seg) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        dn = pw_http_pct_decode(seg, uri + i, n, false);
        if (dn < 0) {
            snprintf(err, errlen, "the request path has a bad %%-escape");
            return -EINVAL;
        }
        if (dn > PW_HTTP_SEG_MAX) {
            snprintf(err, errlen, "a path segment is longer than %d bytes", PW_HTTP_SEG_MAX);
            return -EINVAL;
        }
        for (long k = 0; k < dn; k++) {
            unsigned char c = (unsigned char)seg[k];

            if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') {
                snprintf(err, errlen, "a path segment holds a forbidden character");
                return -EINVAL;
            }
        }
        if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0) {
            snprintf(err, errlen, "the request path must not contain '.' or '..' segments");
            return -EINVAL;
        }
        out->seg[out->nseg++] = seg;
        i += n + 1;
    }
    return 0;
}

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Appends one name/value to out after checking the name and uniqueness. */
static int kv_add(struct pw_arena *a, struct pw_kvs *out, const char *name, size_t nlen,
                  const char *value, size_t vlen, enum pw_kv_type type, char *err, size_t errlen)
{
    char show[40];
    struct pw_kv *kv;
    char *n, *v;

    if (nlen == 0 || nlen > PW_HTTP_NAME_MAX) {
        snprintf(err, errlen, "parameter names must be 1 to %d characters of a-z, 0-9 and _",
                 PW_HTTP_NAME_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < nlen; i++) {
        if (!name_char_ok(name[i])) {
            snprintf(err, errlen, "unknown parameter '%s'", shown(name, nlen, show, sizeof(show)));
            return -EINVAL;
        }
    }
    if (vlen > PW_HTTP_VALUE_MAX) {
        snprintf(err, errlen, "parameter '%.*s' is longer than %d bytes", (int)nlen, name,
                 PW_HTTP_VALUE_MAX);
        return -EINVAL;
    }
    if (memchr(value, '\0', vlen)) {
        snprintf(err, errlen, "parameter '%.*s' holds a NUL byte", (int)nlen, name);
        return -EINVAL;
    }
    for (unsigned i = 0; i < out->n; i++) {
        if (strlen(out->v[i].name) == nlen && memcmp(out->v[i].name, name, nlen) == 0) {
            snprintf(err, errlen, "parameter '%.*s' is given more than once", (int)nlen, name);
            return -EINVAL;
        }
    }
    if (out->n == PW_HTTP_MAX_PARAMS) {
        snprintf(err, errlen, "more than %d parameters", PW_HTTP_MAX_PARAMS);
        return -EINVAL;
    }
    n = pw_arena_alloc(a, nlen + 1);
    v = pw_arena_alloc(a, vlen + 1);
    if (!n || !v) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    memcpy(n, name, nlen);
    n[nlen] = '\0';
    memcpy(v, value, vlen);
    v[vlen] = '\0';
    kv = &out->v[out->n++];
    kv->name = n;
    kv->value = v;
    kv->len = vlen;
    kv->type = type;
    kv->used = false;
    return 0;
}

int pw_http_form_parse(struct pw_arena *a, const char *text, size_t len, struct pw_kvs *out,
                       char *err, size_t errlen)
{
    size_t i = 0;
    char *name = NULL, *value = NULL;

    if (len > PW_HTTP_BODY_MAX) {
        snprintf(err, errlen, "parameters longer than %d bytes", PW_HTTP_BODY_MAX);
        return -EINVAL;
    }
    if (len) {
        /* One scratch pair for the whole text: a decoded part is never longer than its
         * encoding. */
        name = pw_arena_alloc(a, len + 1);
        value = pw_arena_alloc(a, len + 1);
        if (!name || !value) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    while (i < len) {
        const char *amp = memchr(text + i, '&', len - i);
        size_t n = amp ? (size_t)(amp - (text + i)) : len - i;
        const char *eq = memchr(text + i, '=', n);
        size_t nl = eq ? (size_t)(eq - (text + i)) : n;
        long dn, dv;
        int rc;

        if (n == 0) {
            i++;
            continue;
        }
        dn = pw_http_pct_decode(name, text + i, nl, true);
        dv = eq ? pw_http_pct_decode(value, eq + 1, n - nl - 1, true) : 0;
        if (!eq)
            value[0] = '\0';
        if (dn < 0 || dv < 0) {
            snprintf(err, errlen, "a parameter has a bad %%-escape");
            return -EINVAL;
        }
        rc = kv_add(a, out, name, (size_t)dn, value, (size_t)dv, PW_KV_STR, err, errlen);
        if (rc < 0)
            return rc;
        i += n + 1;
    }
    return 0;
}

int pw_http_json_parse(struct pw_arena *a, const char *text, size_t len, struct pw_kvs *out,
                       char *err, size_t errlen)
{
    cJSON *root = NULL, *it;
    char num[64], show[40];
    int rc = -EINVAL;

    if (len > PW_HTTP_BODY_MAX) {
        snprintf(err, errlen, "body longer than %d bytes", PW_HTTP_BODY_MAX);
        return -EINVAL;
    }
    root = cJSON_ParseWithLength(text, len);
    if (!root) {
        snprintf(err, errlen, "the body is not valid JSON");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "the body must be a JSON object");
        goto out;
    }
    cJSON_ArrayForEach(it, root)
    {
        const char *k = it->string ? it->string : "";
        const char *v;
        size_t vlen;
        enum pw_kv_type type;

        if (cJSON_IsString(it)) {
            v = it->valuestring;
            vlen = strlen(v);
            type = PW_KV_STR;
        } else if (cJSON_IsNumber(it)) {
            double d = it->valuedouble;

            if (!isfinite(d)) {
                snprintf(err, errlen, "'%s' is not a finite number",
                         shown(k, strlen(k), show, sizeof(show)));
                goto out;
            }
            /* Whole numbers print without a dot so integer fields accept them. */
            if (d == floor(d) && fabs(d) < 9007199254740992.0)
                snprintf(num, sizeof(num), "%.0f", d);
            else
                snprintf(num, sizeof(num), "%.17g", d);
            v = num;
            vlen = strlen(num);
            type = PW_KV_NUM;
        } else if (cJSON_IsBool(it)) {
            v = cJSON_IsTrue(it) ? "true" : "false";
            vlen = strlen(v);
            type = PW_KV_BOOL;
        } else {
            snprintf(err, errlen, "'%s' must be a string, a number or a boolean",
                     shown(k, strlen(k), show, sizeof(show)));
            goto out;
        }
        rc = kv_add(a, out, k, strlen(k), v, vlen, type, err, errlen);
        if (rc < 0)
            goto out;
        rc = -EINVAL; /* for the next member's errors */
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

enum pw_http_ctype pw_http_ctype_parse(const char *ct)
{
    size_t n;
    const char *p;

    if (!ct || !*ct)
        return PW_CTYPE_NONE;
    n = strcspn(ct, "; \t");
    p = ct + n;
    /* Only UTF-8 (or no charset): we never transcode. */
    while (*p) {
        p += strspn(p, "; \t");
        if (strncasecmp(p, "charset=", 8) == 0) {
            const char *cs = p + 8;
            size_t cl = strcspn(cs, "; \t");

            if (!((cl == 5 && strncasecmp(cs, "utf-8", 5) == 0) ||
                  (cl == 7 && strncasecmp(cs, "\"utf-8\"", 7) == 0)))
                return PW_CTYPE_OTHER;
        }
        p += strcspn(p, ";");
    }
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return PW_CTYPE_JSON;
    if (n == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
        return PW_CTYPE_FORM;
    return PW_CTYPE_OTHER;
}

struct pw_kv *pw_kvs_find(struct pw_kvs *kv, const char *name)
{
    for (unsigned i = 0; i < kv->n; i++) {
        if (strcmp(kv->v[i].name, name) == 0) {
            kv->v[i].used = true;
            return &kv->v[i];
        }
    }
    return NULL;
}

int pw_kvs_check_allowed(const struct pw_kvs *kv, const char *const *allowed, char *err,
                         size_t errlen)
{
    for (unsigned i = 0; i < kv->n; i++) {
        const char *const *a;
        size_t used;

        for (a = allowed; *a; a++)
            if (strcmp(*a, kv->v[i].name) == 0)
                break;
        if (*a)
            continue;
        used = (size_t)snprintf(err, errlen, "unknown parameter '%s'", kv->v[i].name);
        for (a = allowed; *a && used < errlen; a++) {
            int n = snprintf(err + used, errlen - used, "%s%s", a == allowed ? "; allowed: " : ", ",
                             *a);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        if (!allowed[0] && used < errlen)
            snprintf(err + used, errlen - used, "; this request takes none");
        return -EINVAL;
    }
    return 0;
}

int pw_kv_i64(struct pw_kvs *kv, const char *name, int64_t min, int64_t max, int64_t *out,
              char *err, size_t errlen)
{
    struct pw_kv *e = pw_kvs_find(kv, name);

    if (!e)
        return 1;
    if (e->type == PW_KV_BOOL)
        goto bad;
    if (pw_num_parse_i64(e->value, min, max, name, out, err, errlen) < 0)
        return -EINVAL;
    return 0;
bad:
    snprintf(err, errlen, "%s must be a whole number between %lld and %lld", name, (long long)min,
             (long long)max);
    return -EINVAL;
}

int pw_kv_double(struct pw_kvs *kv, const char *name, double min, double max, double *out,
                 char *err, size_t errlen)
{
    struct pw_kv *e = pw_kvs_find(kv, name);

    if (!e)
        return 1;
    if (e->type == PW_KV_BOOL) {
        snprintf(err, errlen, "%s must be a number between %g and %g", name, min, max);
        return -EINVAL;
    }
    if (pw_num_parse_double(e->value, min, max, name, out, err, errlen) < 0)
        return -EINVAL;
    return 0;
}

int pw_kv_bool(struct pw_kvs *kv, const char *name, bool *out, char *err, size_t errlen)
{
    static const char *const yes[] = {"true", "1", "on", "yes"};
    static const char *const no[] = {"false", "0", "off", "no"};
    struct pw_kv *e = pw_kvs_find(kv, name);

    if (!e)
        return 1;
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(e->value, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(e->value, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    snprintf(err, errlen, "%s must be true or false", name);
    return -EINVAL;
}

int pw_kv_text(struct pw_kvs *kv, const char *name, size_t min_len, size_t max_len,
               const char **out, char *err, size_t errlen)
{
    struct pw_kv *e = pw_kvs_find(kv, name);
    const unsigned char *p;

    if (!e)
        return 1;
    if (e->type != PW_KV_STR) {
        snprintf(err, errlen, "%s must be a string", name);
        return -EINVAL;
    }
    if (e->len < min_len || e->len > max_len) {
        snprintf(err, errlen, "%s must be %zu to %zu bytes long (got %zu)", name, min_len, max_len,
                 e->len);
        return -EINVAL;
    }
    p = (const unsigned char *)e->value;
    for (size_t i = 0; i < e->len;) {
        size_t k = pw_utf8_seq(p + i, e->len - i);

        if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
            snprintf(err, errlen, "%s must be UTF-8 text without control characters", name);
            return -EINVAL;
        }
        i += k;
    }
    *out = e->value;
    return 0;
}

int pw_kv_time(struct pw_kvs *kv, const char *name, int64_t *out_us, char *err, size_t errlen)
{
    struct pw_kv *e = pw_kvs_find(kv, name);

    if (!e)
        return 1;
    if (e->type == PW_KV_BOOL || pw_timefmt_parse(e->value, name, out_us, err, errlen) < 0) {
        if (e->type == PW_KV_BOOL)
            snprintf(err, errlen, "%s must be Unix seconds or an RFC 3339 time", name);
        return -EINVAL;
    }
    return 0;
}

int pw_kv_duration(struct pw_kvs *kv, const char *name, int64_t min_us, int64_t max_us,
                   int64_t *out_us, char *err, size_t errlen)
{
    struct pw_kv *e = pw_kvs_find(kv, name);

    if (!e)
        return 1;
    if (e->type == PW_KV_BOOL ||
        pw_timefmt_parse_duration(e->value, name, min_us, max_us, out_us, err, errlen) < 0) {
        if (e->type == PW_KV_BOOL)
            snprintf(err, errlen, "%s must be a duration", name);
        return -EINVAL;
    }
    return 0;
}

int pw_http_parse_id(const char *s, const char *what, uint32_t *out, char *err, size_t errlen)
{
    char show[40];
    uint64_t v = 0;
    size_t n = strnlen(s, 12);

    if (n == 0 || n > 10 || s[strspn(s, "0123456789")] != '\0')
        goto bad;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    if (v == 0 || v > UINT32_MAX)
        goto bad;
    *out = (uint32_t)v;
    return 0;
bad:
    snprintf(err, errlen, "%s must be a whole number between 1 and 4294967295 (got '%s')", what,
             shown(s, strlen(s), show, sizeof(show)));
    return -EINVAL;
}

bool pw_http_name_ok(const char *s)
{
    size_t n = strnlen(s, 64);

    if (n == 0 || n > 63)
        return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9')))
        return false;
    return s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")] ==
           '\0';
}
