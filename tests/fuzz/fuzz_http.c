/* libFuzzer target for the FastCGI app's request parser (fcgi-app/http.c): request paths,
 * query strings, form and JSON bodies, and the escapers that put their values into answers.
 * The first byte picks what the rest is. Besides memory errors it checks what parsing
 * promises: segments without '/', NUL or dot-segments; names of [a-z0-9_]; values without NUL;
 * escaped text without raw markup or control characters. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "http.h"
#include "render.h"
#include "timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_escapes(struct pw_arena *a, const char *s, size_t n)
{
    struct pw_buf b;

    pw_buf_init(&b, a, 16 * n + 64);
    pw_json_escape(&b, s, n);
    for (size_t i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.data[i];

        if (c < 0x20 || c == '<' || c == '>' || c == '&')
            abort();
    }
    pw_buf_init(&b, a, 16 * n + 64);
    pw_html_escape(&b, s, n);
    for (size_t i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.data[i];

        if ((c < 0x20 && c != '\n' && c != '\t') || c == '<' || c == '>' || c == '"' || c == '\'')
            abort();
    }
}

static void check_kvs(struct pw_arena *a, const struct pw_kvs *kv)
{
    for (unsigned i = 0; i < kv->n; i++) {
        const char *n = kv->v[i].name;

        if (!*n || n[strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789_")] != '\0')
            abort();
        if (strlen(kv->v[i].value) != kv->v[i].len)
            abort();
        check_escapes(a, kv->v[i].value, kv->v[i].len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pw_arena a;
    struct pw_http_path p;
    struct pw_kvs kv;
    char err[512], *text;
    size_t n;

    if (size < 1 || size > PW_HTTP_BODY_MAX + 1)
        return 0;
    if (pw_arena_init(&a, 4096, 64u << 20) < 0)
        return 0;
    n = size - 1;
    text = pw_arena_alloc(&a, n + 1);
    if (!text)
        goto out;
    memcpy(text, data + 1, n);
    text[n] = '\0';
    memset(&kv, 0, sizeof(kv));
    switch (data[0] % 5) {
    case 0:
        if (pw_http_path_parse(&a, text, n, &p, err, sizeof(err)) == 0) {
            if (p.nseg > PW_HTTP_MAX_SEGS)
                abort();
            for (unsigned i = 0; i < p.nseg; i++) {
                if (!*p.seg[i] || strchr(p.seg[i], '/') || strcmp(p.seg[i], ".") == 0 ||
                    strcmp(p.seg[i], "..") == 0 || strlen(p.seg[i]) > PW_HTTP_SEG_MAX)
                    abort();
                check_escapes(&a, p.seg[i], strlen(p.seg[i]));
            }
        }
        break;
    case 1:
        if (pw_http_form_parse(&a, text, n, &kv, err, sizeof(err)) == 0)
            check_kvs(&a, &kv);
        break;
    case 2:
        if (pw_http_json_parse(&a, text, n, &kv, err, sizeof(err)) == 0)
            check_kvs(&a, &kv);
        break;
    case 3: {
        int64_t us;
        uint32_t id;
        char buf[PW_TIMEFMT_STRLEN];

        if (pw_timefmt_parse(text, "t", &us, err, sizeof(err)) == 0 &&
            (us < 0 || us > PW_TIMEFMT_MAX_US || !pw_timefmt_rfc3339(us, buf, sizeof(buf))))
            abort();
        pw_timefmt_parse_duration(text, "d", 0, 86400000000LL, &us, err, sizeof(err));
        if (pw_http_parse_id(text, "id", &id, err, sizeof(err)) == 0 && id == 0)
            abort();
        pw_http_ctype_parse(text);
        pw_http_name_ok(text);
        break;
    }
    default:
        check_escapes(&a, text, n);
        break;
    }
out:
    pw_arena_deinit(&a);
    return 0;
}
