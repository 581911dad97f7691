/* Unit tests of the FastCGI app's output: JSON and HTML escaping (labels, comments and PTR
 * names are attacker-controlled) and the JSON/HTML renderer. */
#include <stdbool.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "check.h"
#include "render.h"
#include "text.h"

static struct pw_arena arena;

static const char *json(const char *s, size_t n)
{
    struct pw_buf b;

    pw_buf_init(&b, &arena, 4096);
    pw_json_escape(&b, s, n);
    return b.data;
}

static const char *html(const char *s, size_t n)
{
    struct pw_buf b;

    pw_buf_init(&b, &arena, 4096);
    pw_html_escape(&b, s, n);
    return b.len ? b.data : "";
}

static void test_escape(void)
{
    CHECK_STR(json("plain", 5), "\"plain\"");
    CHECK_STR(json("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
    CHECK_STR(json("<script>&", 9), "\"\\u003cscript\\u003e\\u0026\"");
    CHECK_STR(json("\n\t\x01\x7f", 4), "\"\\n\\t\\u0001\\u007f\"");
    CHECK_STR(json("caf\xc3\xa9", 5), "\"caf\xc3\xa9\"");
    CHECK_STR(json("bad\xff\xc3", 5), "\"bad\\ufffd\\ufffd\"");
    CHECK_STR(json("\xed\xa0\x80", 3), "\"\\ufffd\\ufffd\\ufffd\""); /* a surrogate */
    CHECK_STR(json("\xc0\xaf", 2), "\"\\ufffd\\ufffd\"");            /* overlong '/' */
    CHECK_STR(html("<img src=x onerror=alert(1)>", 28), "&lt;img src=x onerror=alert(1)&gt;");
    CHECK_STR(html("\"'&", 3), "&quot;&#39;&amp;");
    CHECK_STR(html("a\x01z\xff", 4), "a&#xfffd;z&#xfffd;");
    CHECK_STR(html("\xe2\x82\xac", 3), "\xe2\x82\xac");
}

static void test_numbers(void)
{
    struct pw_buf b;

    pw_buf_init(&b, &arena, 4096);
    pw_num_format(&b, 12.3000, 3);
    pw_buf_putc(&b, ' ');
    pw_num_format(&b, 1.0, 3);
    pw_buf_putc(&b, ' ');
    pw_num_format(&b, -0.0001, 3);
    pw_buf_putc(&b, ' ');
    pw_num_format(&b, 0.0005, 3);
    pw_buf_putc(&b, ' ');
    pw_num_format(&b, 1.0 / 0.0, 3);
    CHECK_STR(b.data, "12.3 1 0 0.001 null");
}

static const struct pw_col cols[] = {{"name", "Name"}, {"avg_ms", "Avg"}, {"cur_ms", "Cur"}};

static void emit(struct pw_out *o)
{
    pw_out_obj_begin(o, NULL);
    pw_out_uint(o, "id", 3);
    pw_out_table_begin(o, "rows", "hops", "Hops <of> x", cols, 3, false);
    pw_out_row_begin(o, "row-1");
    pw_out_str(o, "name", "<b>x</b>");
    pw_out_arr_begin(o, "ips");
    pw_out_str(o, NULL, "198.18.1.1");
    pw_out_arr_end(o);
    pw_out_ms(o, "avg_ms", true, 1.23456, false);
    pw_out_ms(o, "cur_ms", false, 0, true);
    pw_out_bool(o, "cur_lost", true);
    pw_out_row_end(o);
    pw_out_row_begin(o, NULL);
    pw_out_str(o, "name", NULL);
    pw_out_row_end(o);
    pw_out_table_end(o);
    pw_out_time(o, "at", 1714564800250000LL);
    pw_out_obj_end(o);
}

static void test_out(void)
{
    struct pw_buf b;
    struct pw_out o;

    pw_buf_init(&b, &arena, 8192);
    pw_out_init(&o, PW_FMT_JSON, &b);
    emit(&o);
    CHECK_STR(b.data, "{\"id\":3,\"rows\":[{\"name\":\"\\u003cb\\u003ex\\u003c/b\\u003e\","
                      "\"ips\":[\"198.18.1.1\"],\"avg_ms\":1.235,\"cur_ms\":null,"
                      "\"cur_lost\":true},{\"name\":null}],"
                      "\"at\":\"2024-05-01T12:00:00.250Z\",\"at_ms\":1714564800250}");
    pw_buf_init(&b, &arena, 8192);
    pw_out_init(&o, PW_FMT_HTML, &b);
    emit(&o);
    CHECK_STR(b.data, "<table class=\"pw-hops\"><caption>Hops &lt;of&gt; x</caption><thead><tr>"
                      "<th>Name</th><th>Avg</th><th>Cur</th></tr></thead><tbody>"
                      "<tr id=\"row-1\"><td>&lt;b&gt;x&lt;/b&gt;</td><td>1.2</td>"
                      "<td><span class=\"pw-err\">ERR</span></td></tr>"
                      "<tr><td></td><td></td><td></td></tr></tbody></table>");
}

/* A part rendered once (after a document's head) and spliced into another document after a
 * different head reads exactly as if rendered there: the answer cache relies on it. */
static void splice_case(enum pw_fmt fmt, bool head)
{
    static const struct pw_col one_col[] = {{"v", "V"}};
    struct pw_buf whole, part;
    struct pw_out o;
    size_t from;

    pw_buf_init(&whole, &arena, 8192);
    pw_out_init(&o, fmt, &whole);
    pw_out_obj_begin(&o, NULL);
    if (head)
        pw_out_int(&o, "end_ms", 1);
    from = whole.len;
    pw_out_table_begin(&o, "rows", "t", NULL, one_col, 1, false);
    pw_out_row_begin(&o, NULL);
    pw_out_int(&o, "v", 7);
    pw_out_row_end(&o);
    pw_out_table_end(&o);
    pw_out_bool(&o, "truncated", false);

    pw_buf_init(&part, &arena, 8192);
    pw_out_init(&o, fmt, &part);
    pw_out_obj_begin(&o, NULL);
    if (head)
        pw_out_int(&o, "end_ms", 1);
    pw_out_splice(&o, whole.data + from, whole.len - from);
    pw_out_splice(&o, "", 0);
    pw_out_obj_end(&o);
    pw_out_init(&o, fmt, &whole);
    o.depth = 1; /* finish the original the same way */
    pw_out_obj_end(&o);
    CHECK_STR(part.data, whole.data);
}

static void test_splice(void)
{
    splice_case(PW_FMT_JSON, true);
    splice_case(PW_FMT_JSON, false);
    splice_case(PW_FMT_HTML, true);
    {
        /* And what follows a spliced member gets its comma. */
        struct pw_buf b;
        struct pw_out o;

        pw_buf_init(&b, &arena, 8192);
        pw_out_init(&o, PW_FMT_JSON, &b);
        pw_out_obj_begin(&o, NULL);
        pw_out_splice(&o, "\"a\":1", 5);
        pw_out_int(&o, "b", 2);
        pw_out_obj_end(&o);
        CHECK_STR(b.data, "{\"a\":1,\"b\":2}");
    }
}

static void test_utf8(void)
{
    CHECK_INT(pw_utf8_seq((const unsigned char *)"a", 1), 1);
    CHECK_INT(pw_utf8_seq((const unsigned char *)"\xc3\xa9", 2), 2);
    CHECK_INT(pw_utf8_seq((const unsigned char *)"\xc3", 1), 0);
    CHECK_INT(pw_utf8_seq((const unsigned char *)"\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
    CHECK_INT(pw_utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
}

int main(void)
{
    if (pw_arena_init(&arena, 4096, 16 << 20) < 0)
        return 1;
    RUN(test_escape);
    RUN(test_numbers);
    RUN(test_out);
    RUN(test_splice);
    RUN(test_utf8);
    pw_arena_deinit(&arena);
    return check_exit();
}
