/* Unit tests of the FastCGI app's per-request arena and bounded buffer. */
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "check.h"

static void test_alloc_reset(void)
{
    struct pw_arena a;
    char *p, *q;

    CHECK_INT(pw_arena_init(&a, 1024, 8192), 0);
    p = pw_arena_alloc(&a, 100);
    q = pw_arena_alloc(&a, 100);
    CHECK(p && q && q >= p + 100);
    CHECK_INT((uintptr_t)q % 16, 0);
    memset(p, 'x', 100);
    /* A block bigger than the first one is added; the ceiling holds. */
    CHECK(pw_arena_alloc(&a, 3000) != NULL);
    CHECK(pw_arena_alloc(&a, 9000) == NULL);
    CHECK(a.total <= 8192);
    CHECK(pw_arena_alloc(&a, 0) == NULL);
    pw_arena_reset(&a);
    CHECK_INT(a.total, 1024);
    /* After a reset the first block is reused from its start. */
    CHECK(pw_arena_alloc(&a, 100) == (void *)p);
    pw_arena_deinit(&a);
    CHECK_INT(pw_arena_init(&a, 0, 10), -22);
    CHECK_INT(pw_arena_init(&a, 100, 10), -22);
}

static void test_realloc_mark(void)
{
    struct pw_arena a;
    struct pw_arena_mark m;
    char *p, *q;

    CHECK_INT(pw_arena_init(&a, 4096, 1 << 20), 0);
    p = pw_arena_alloc(&a, 16);
    memcpy(p, "0123456789abcdef", 16);
    q = pw_arena_realloc(&a, p, 16, 64); /* newest allocation: grows in place */
    CHECK(q == p);
    q = pw_arena_realloc(&a, p, 64, 8000); /* does not fit: moves, keeps the bytes */
    CHECK(q != NULL && q != p);
    CHECK_MEM(q, "0123456789abcdef", 16);
    pw_arena_mark(&a, &m);
    for (int i = 0; i < 100; i++)
        CHECK(pw_arena_alloc(&a, 1000) != NULL);
    CHECK(a.total > 64 * 1024);
    pw_arena_rewind(&a, &m);
    CHECK(a.total < 64 * 1024);
    CHECK_STR(pw_arena_strndup(&a, "hello world", 5), "hello");
    pw_arena_deinit(&a);
}

static void test_buf(void)
{
    struct pw_arena a;
    struct pw_buf b;

    CHECK_INT(pw_arena_init(&a, 1024, 1 << 20), 0);
    pw_buf_init(&b, &a, 32);
    pw_buf_puts(&b, "abc");
    pw_buf_printf(&b, "-%d-", 42);
    CHECK_STR(b.data, "abc-42-");
    CHECK(!pw_buf_failed(&b));
    /* Past the maximum the buffer refuses and remembers it; nothing is cut in half. */
    pw_buf_puts(&b, "0123456789012345678901234567890123456789");
    CHECK(pw_buf_failed(&b));
    CHECK_STR(b.data, "abc-42-");
    pw_buf_reset(&b);
    CHECK(!pw_buf_failed(&b));
    pw_buf_init(&b, &a, 100000);
    for (int i = 0; i < 1000; i++)
        pw_buf_printf(&b, "%04d,", i);
    CHECK_INT(b.len, 5000);
    CHECK(memcmp(b.data + 4995, "0999,", 5) == 0);
    pw_arena_deinit(&a);
}

int main(void)
{
    RUN(test_alloc_reset);
    RUN(test_realloc_mark);
    RUN(test_buf);
    return check_exit();
}
