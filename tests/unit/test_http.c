/* Unit tests of the FastCGI app's request parser: paths, query strings, form and JSON
 * bodies, typed parameters. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "check.h"
#include "http.h"

static struct pw_arena arena;
static char err[512];

static int path(const char *uri, struct pw_http_path *p)
{
    return pw_http_path_parse(&arena, uri, strlen(uri), p, err, sizeof(err));
}

static void test_path(void)
{
    struct pw_http_path p;

    CHECK_INT(path("/api/targets/12/hops?focus=10", &p), 0);
    CHECK_INT(p.nseg, 4);
    CHECK_STR(p.seg[0], "api");
    CHECK_STR(p.seg[2], "12");
    CHECK_STR(p.seg[3], "hops");
    CHECK_INT(path("/api/targets/", &p), 0); /* one trailing slash */
    CHECK_INT(p.nseg, 2);
    CHECK_INT(path("/", &p), 0);
    CHECK_INT(p.nseg, 0);
    CHECK_INT(path("/api/configs/my%20cfg", &p), 0);
    CHECK_STR(p.seg[2], "my cfg");
    /* Splitting comes before decoding: %2F stays inside its segment and is refused there. */
    CHECK_INT(path("/api/configs/a%2Fb", &p), -EINVAL);
    CHECK_INT(path("/api/configs/..", &p), -EINVAL);
    CHECK_INT(path("/api/configs/%2e%2e", &p), -EINVAL);
    CHECK_INT(path("/api/configs/.", &p), -EINVAL);
    CHECK_INT(path("/api//targets", &p), -EINVAL);
    CHECK_INT(path("api/targets", &p), -EINVAL);
    CHECK_INT(path("", &p), -EINVAL);
    CHECK_INT(path("/api/%zz", &p), -EINVAL);
    CHECK_INT(path("/api/%4", &p), -EINVAL);
    CHECK_INT(path("/api/a%00b", &p), -EINVAL);
    CHECK_INT(path("/api/a%0ab", &p), -EINVAL);
    CHECK_INT(path("/api/a%5cb", &p), -EINVAL);
    CHECK_INT(path("/a/b/c/d/e/f/g/h/i/j/k/l/m", &p), -EINVAL);
    CHECK_INT(path("/a/b/c/d/e/f/g/h/i/j/k/l", &p), 0);
    {
        char longp[PW_HTTP_PATH_MAX + 10];

        longp[0] = '/';
        memset(longp + 1, 'a', sizeof(longp) - 2);
        longp[sizeof(longp) - 1] = '\0';
        CHECK_INT(path(longp, &p), -EINVAL);
        /* A 300-byte segment is over the segment limit. */
        longp[301] = '\0';
        CHECK_INT(path(longp, &p), -EINVAL);
    }
}

static void test_pct(void)
{
    char out[32];

    CHECK_INT(pw_http_pct_decode(out, "a%41+b", 6, true), 4);
    CHECK_STR(out, "aA b");
    CHECK_INT(pw_http_pct_decode(out, "a%41+b", 6, false), 4);
    CHECK_STR(out, "aA+b");
    CHECK_INT(pw_http_pct_decode(out, "%", 1, true), -EINVAL);
    CHECK_INT(pw_http_pct_decode(out, "%4", 2, true), -EINVAL);
    CHECK_INT(pw_http_pct_decode(out, "%g0", 3, true), -EINVAL);
}

static int form(const char *text, struct pw_kvs *kv)
{
    memset(kv, 0, sizeof(*kv));
    return pw_http_form_parse(&arena, text, strlen(text), kv, err, sizeof(err));
}

static int json(const char *text, struct pw_kvs *kv)
{
    memset(kv, 0, sizeof(*kv));
    return pw_http_json_parse(&arena, text, strlen(text), kv, err, sizeof(err));
}

static void test_form(void)
{
    struct pw_kvs kv;
    const char *s;
    int64_t i;
    double d;
    bool b;

    CHECK_INT(form("host=198.18.1.1&label=a+b%21&max_hops=20&&final_hop_only=on&x", &kv), 0);
    CHECK_INT(kv.n, 5);
    CHECK_INT(pw_kv_text(&kv, "label", 0, 127, &s, err, sizeof(err)), 0);
    CHECK_STR(s, "a b!");
    CHECK_INT(pw_kv_i64(&kv, "max_hops", 1, 64, &i, err, sizeof(err)), 0);
    CHECK_INT(i, 20);
    CHECK_INT(pw_kv_bool(&kv, "final_hop_only", &b, err, sizeof(err)), 0);
    CHECK(b);
    CHECK_INT(pw_kv_text(&kv, "x", 0, 10, &s, err, sizeof(err)), 0);
    CHECK_STR(s, "");
    CHECK_INT(pw_kv_i64(&kv, "absent", 1, 64, &i, err, sizeof(err)), 1);
    {
        static const char *const allowed[] = {"host", "label", "max_hops", NULL};

        CHECK_INT(pw_kvs_check_allowed(&kv, allowed, err, sizeof(err)), -EINVAL);
        CHECK(strstr(err, "unknown parameter 'final_hop_only'") != NULL);
    }
    CHECK_INT(form("a=1&a=2", &kv), -EINVAL);
    CHECK(strstr(err, "more than once") != NULL);
    CHECK_INT(form("A=1", &kv), -EINVAL);
    CHECK_INT(form("a%00=1", &kv), -EINVAL);
    CHECK_INT(form("a=%00", &kv), -EINVAL);
    CHECK_INT(form("a=%zz", &kv), -EINVAL);
    CHECK_INT(form("=1", &kv), -EINVAL);
    CHECK_INT(form("max_hops=99", &kv), 0);
    CHECK_INT(pw_kv_i64(&kv, "max_hops", 1, 64, &i, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "max_hops must be a whole number between 1 and 64 (got '99')");
    CHECK_INT(form("timeout=-3&interval=1e999&n=99999999999999999999999", &kv), 0);
    CHECK_INT(pw_kv_double(&kv, "timeout", 0.001, 60, &d, err, sizeof(err)), -EINVAL);
    CHECK_INT(pw_kv_double(&kv, "interval", 0.01, 86400, &d, err, sizeof(err)), -EINVAL);
    CHECK_INT(pw_kv_i64(&kv, "n", 0, INT64_MAX, &i, err, sizeof(err)), -EINVAL);
    /* Text must be UTF-8 without control characters. */
    CHECK_INT(form("t=%ff&u=a%0Ab&v=caf%C3%A9", &kv), 0);
    CHECK_INT(pw_kv_text(&kv, "t", 0, 10, &s, err, sizeof(err)), -EINVAL);
    CHECK_INT(pw_kv_text(&kv, "u", 0, 10, &s, err, sizeof(err)), -EINVAL);
    CHECK_INT(pw_kv_text(&kv, "v", 0, 10, &s, err, sizeof(err)), 0);
    CHECK_INT(pw_kv_text(&kv, "v", 0, 3, &s, err, sizeof(err)), -EINVAL);
    /* 33 parameters are one too many. */
    {
        char many[400] = "";

        for (int k = 0; k < 33; k++)
            snprintf(many + strlen(many), sizeof(many) - strlen(many), "p%d=1&", k);
        CHECK_INT(form(many, &kv), -EINVAL);
    }
}

static void test_json(void)
{
    struct pw_kvs kv;
    const char *s;
    int64_t i;
    double d;
    bool b;

    CHECK_INT(json("{\"host\":\"h\",\"max_hops\":30,\"timeout\":2.5,\"final_hop_only\":true}", &kv),
              0);
    CHECK_INT(kv.n, 4);
    CHECK_INT(pw_kv_i64(&kv, "max_hops", 1, 64, &i, err, sizeof(err)), 0);
    CHECK_INT(i, 30);
    CHECK_INT(pw_kv_double(&kv, "timeout", 0, 60, &d, err, sizeof(err)), 0);
    CHECK_NEAR(d, 2.5, 1e-9);
    CHECK_INT(pw_kv_bool(&kv, "final_hop_only", &b, err, sizeof(err)), 0);
    CHECK(b);
    /* Numbers and booleans are not strings; strings of digits are numbers. */
    CHECK_INT(json("{\"label\":5,\"max_hops\":\"7\",\"x\":false}", &kv), 0);
    CHECK_INT(pw_kv_text(&kv, "label", 0, 10, &s, err, sizeof(err)), -EINVAL);
    CHECK_INT(pw_kv_i64(&kv, "max_hops", 1, 64, &i, err, sizeof(err)), 0);
    CHECK_INT(pw_kv_i64(&kv, "x", 0, 1, &i, err, sizeof(err)), -EINVAL);
    CHECK_INT(json("{\"max_hops\":1.5}", &kv), 0);
    CHECK_INT(pw_kv_i64(&kv, "max_hops", 1, 64, &i, err, sizeof(err)), -EINVAL);
    CHECK_INT(json("{\"n\":1e300}", &kv), 0);
    CHECK_INT(pw_kv_i64(&kv, "n", 0, INT64_MAX, &i, err, sizeof(err)), -EINVAL);
    CHECK_INT(json("[1,2]", &kv), -EINVAL);
    CHECK_INT(json("{\"a\":null}", &kv), -EINVAL);
    CHECK_INT(json("{\"host\":\"h\",\"label\":null}", &kv), -EINVAL); /* after a good one */
    CHECK_INT(json("{\"host\":\"h\",\"x\":[]}", &kv), -EINVAL);
    CHECK_INT(json("{\"a\":[1]}", &kv), -EINVAL);
    CHECK_INT(json("{\"a\":{}}", &kv), -EINVAL);
    CHECK_INT(json("{\"a\":1,\"a\":2}", &kv), -EINVAL);
    CHECK_INT(json("{\"a\":1", &kv), -EINVAL);
    CHECK_INT(json("", &kv), -EINVAL);
    CHECK_INT(json("{\"a\":\"x\\u0000y\"}", &kv), 0); /* cJSON stops at the NUL: "x" */
    CHECK_INT(json("{\"bad name\":1}", &kv), -EINVAL);
}

static void test_misc(void)
{
    uint32_t id;
    char buf[128];

    CHECK_INT(pw_http_method_parse("GET"), PW_HTTP_GET);
    CHECK_INT(pw_http_method_parse("get"), PW_HTTP_OTHER);
    CHECK_INT(pw_http_method_parse("TRACE"), PW_HTTP_OTHER);
    CHECK_INT(pw_http_method_parse(NULL), PW_HTTP_OTHER);
    CHECK_STR(pw_http_methods_format(PW_HTTP_GET | PW_HTTP_POST | PW_HTTP_DELETE, buf, sizeof(buf)),
              "GET, POST, DELETE");
    CHECK_INT(pw_http_ctype_parse("application/json"), PW_CTYPE_JSON);
    CHECK_INT(pw_http_ctype_parse("application/json; charset=UTF-8"), PW_CTYPE_JSON);
    CHECK_INT(pw_http_ctype_parse("application/json; charset=latin1"), PW_CTYPE_OTHER);
    CHECK_INT(pw_http_ctype_parse("application/x-www-form-urlencoded"), PW_CTYPE_FORM);
    CHECK_INT(pw_http_ctype_parse("multipart/form-data; boundary=x"), PW_CTYPE_OTHER);
    CHECK_INT(pw_http_ctype_parse("text/plain"), PW_CTYPE_OTHER);
    CHECK_INT(pw_http_ctype_parse(""), PW_CTYPE_NONE);
    CHECK_INT(pw_http_parse_id("17", "target id", &id, err, sizeof(err)), 0);
    CHECK_INT(id, 17);
    CHECK_INT(pw_http_parse_id("4294967295", "target id", &id, err, sizeof(err)), 0);
    CHECK_INT(pw_http_parse_id("4294967296", "target id", &id, err, sizeof(err)), -EINVAL);
    CHECK_INT(pw_http_parse_id("0", "target id", &id, err, sizeof(err)), -EINVAL);
    CHECK_INT(pw_http_parse_id("-1", "target id", &id, err, sizeof(err)), -EINVAL);
    CHECK_INT(pw_http_parse_id("1e3", "target id", &id, err, sizeof(err)), -EINVAL);
    CHECK_INT(pw_http_parse_id("99999999999999999999", "target id", &id, err, sizeof(err)),
              -EINVAL);
    CHECK_STR(err, "target id must be a whole number between 1 and 4294967295 (got "
                   "'99999999999999999999')");
    CHECK(pw_http_name_ok("office-wan.v2"));
    CHECK(!pw_http_name_ok(".hidden"));
    CHECK(!pw_http_name_ok("a/b"));
    CHECK(!pw_http_name_ok(""));
    CHECK(!pw_http_name_ok("0123456789012345678901234567890123456789012345678901234567890123"));
}

int main(void)
{
    if (pw_arena_init(&arena, 4096, 16 << 20) < 0)
        return 1;
    RUN(test_path);
    RUN(test_pct);
    RUN(test_form);
    RUN(test_json);
    RUN(test_misc);
    pw_arena_deinit(&arena);
    return check_exit();
}
