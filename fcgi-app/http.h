/* PingWatcher — HTTP request parsing for the FastCGI app: method, path segments, query
 * strings and bodies (form or JSON) into validated name/value lists.
 *
 * Everything here takes plain (buffer, length) input and allocates only from the request's
 * arena, so it can be fuzzed (tests/fuzz/fuzz_http.c). Every size is bounded by the limits
 * below; input past them is an error, never truncated silently.
 */
#ifndef PW_HTTP_H
#define PW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

#define PW_HTTP_PATH_MAX 2048  /* bytes of the raw path */
#define PW_HTTP_MAX_SEGS 12    /* path segments */
#define PW_HTTP_SEG_MAX 255    /* bytes of one decoded segment */
#define PW_HTTP_QUERY_MAX 8192 /* bytes of the raw query string */
#define PW_HTTP_MAX_PARAMS 32  /* names in a query or body */
#define PW_HTTP_NAME_MAX 32    /* bytes of a parameter name */
#define PW_HTTP_VALUE_MAX 8192 /* bytes of a decoded value */
#define PW_HTTP_BODY_MAX 65536 /* request body; larger is 413 */

enum pw_http_method {
    PW_HTTP_GET = 1 << 0,
    PW_HTTP_HEAD = 1 << 1,
    PW_HTTP_POST = 1 << 2,
    PW_HTTP_PUT = 1 << 3,
    PW_HTTP_PATCH = 1 << 4,
    PW_HTTP_DELETE = 1 << 5,
    PW_HTTP_OPTIONS = 1 << 6,
    PW_HTTP_OTHER = 1 << 7,
};

/* Maps a method name (case-sensitive, as HTTP says) to its flag; PW_HTTP_OTHER otherwise. */
enum pw_http_method pw_http_method_parse(const char *s);
/* Writes "GET, POST" style text for a set of flags (for Allow). Returns buf. */
const char *pw_http_methods_format(unsigned methods, char *buf, size_t len);

struct pw_http_path {
    const char *seg[PW_HTTP_MAX_SEGS]; /* decoded, NUL-terminated, in the arena */
    unsigned nseg;
};

/* Splits the path of uri (which may carry "?query", ignored here) into percent-decoded
 * segments. Splitting happens before decoding, so "%2F" never separates; a decoded segment
 * holding '/', NUL or a control character, a "." or ".." segment, an empty segment inside the
 * path, or a path that does not start with '/' is rejected. One trailing '/' is ignored.
 * Returns 0, or -EINVAL with the reason in err (-ENOMEM when the arena is full). */
int pw_http_path_parse(struct pw_arena *a, const char *uri, size_t len, struct pw_http_path *out,
                       char *err, size_t errlen);

/* Decodes %XX escapes (and '+' as space when plus_space) of src[0..n) into dst (n + 1 bytes),
 * NUL-terminated. Returns the decoded length or -EINVAL for a bad or incomplete escape. */
long pw_http_pct_decode(char *dst, const char *src, size_t n, bool plus_space);

enum pw_kv_type {
    PW_KV_STR = 0,
    PW_KV_NUM = 1, /* a JSON number; value holds its text */
    PW_KV_BOOL = 2 /* a JSON boolean; value is "true" or "false" */
};

struct pw_kv {
    const char *name;
    const char *value; /* NUL-terminated; may hold no NUL inside (rejected at parse) */
    size_t len;
    enum pw_kv_type type;
    bool used; /* looked at by the handler */
};

struct pw_kvs {
    struct pw_kv v[PW_HTTP_MAX_PARAMS];
    unsigned n;
};

/* Parses "a=1&b=x%20y" (query strings and application/x-www-form-urlencoded bodies; '+' is
 * a space). Names must be [a-z0-9_], at most PW_HTTP_NAME_MAX bytes, each at most once;
 * "a" alone means an empty value. Empty pairs ("a=1&&b=2") are skipped. Appends to out.
 * Returns 0 or -EINVAL with the reason in err (-ENOMEM when the arena is full). */
int pw_http_form_parse(struct pw_arena *a, const char *text, size_t len, struct pw_kvs *out,
                       char *err, size_t errlen);

/* Parses a JSON body that must be one object of strings, numbers and booleans (null, arrays
 * and nested objects are refused), names as in pw_http_form_parse. Appends to out. Returns 0
 * or -EINVAL with the reason in err. */
int pw_http_json_parse(struct pw_arena *a, const char *text, size_t len, struct pw_kvs *out,
                       char *err, size_t errlen);

enum pw_http_ctype {
    PW_CTYPE_NONE = 0,
    PW_CTYPE_JSON,
    PW_CTYPE_FORM,
    PW_CTYPE_OTHER,
};

/* Classifies a Content-Type header value (parameters such as charset=utf-8 allowed; any
 * charset other than UTF-8 is OTHER). */
enum pw_http_ctype pw_http_ctype_parse(const char *ct);

/* ---- typed access to a pw_kvs; each marks the entry used ---- */

/* The entry called name, or NULL. */
struct pw_kv *pw_kvs_find(struct pw_kvs *kv, const char *name);
/* 0 when every entry's name is in allowed (a NULL-terminated list), else -EINVAL and err
 * names the first unknown one and lists the allowed ones. */
int pw_kvs_check_allowed(const struct pw_kvs *kv, const char *const *allowed, char *err,
                         size_t errlen);

/* Each getter returns 0 and sets *out when the entry exists and is valid, 1 when it is absent
 * (out untouched), or -EINVAL with a reason naming the entry in err. */
int pw_kv_i64(struct pw_kvs *kv, const char *name, int64_t min, int64_t max, int64_t *out,
              char *err, size_t errlen);
int pw_kv_double(struct pw_kvs *kv, const char *name, double min, double max, double *out,
                 char *err, size_t errlen);
/* true/false, 1/0, on/off, yes/no (JSON booleans too). */
int pw_kv_bool(struct pw_kvs *kv, const char *name, bool *out, char *err, size_t errlen);
/* A string of valid UTF-8 without control characters, at most max_len bytes (min_len at
 * least). JSON numbers and booleans are not strings. */
int pw_kv_text(struct pw_kvs *kv, const char *name, size_t min_len, size_t max_len,
               const char **out, char *err, size_t errlen);
/* Unix seconds or RFC 3339 (see timefmt.h), into Unix microseconds. */
int pw_kv_time(struct pw_kvs *kv, const char *name, int64_t *out_us, char *err, size_t errlen);
int pw_kv_duration(struct pw_kvs *kv, const char *name, int64_t min_us, int64_t max_us,
                   int64_t *out_us, char *err, size_t errlen);

/* Parses an id from a path segment or value: decimal digits only, 1..UINT32_MAX. Returns 0
 * or -EINVAL with "<what> must be ..." in err. */
int pw_http_parse_id(const char *s, const char *what, uint32_t *out, char *err, size_t errlen);

/* True for a configuration name: 1..63 bytes of [A-Za-z0-9._-], starting with a letter or
 * digit. */
bool pw_http_name_ok(const char *s);

#endif
