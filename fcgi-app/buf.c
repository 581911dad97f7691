/* PingWatcher — arena-backed growable buffer (see buf.h). */
#include <stdio.h>
#include <string.h>

#include "buf.h"

void pw_buf_init(struct pw_buf *b, struct pw_arena *a, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->arena = a;
    b->max = max;
}

void pw_buf_reset(struct pw_buf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

bool pw_buf_failed(const struct pw_buf *b)
{
    return b->failed;
}

/* Makes room for n more bytes plus a NUL. */
static bool reserve(struct pw_buf *b, size_t n)
{
    size_t want, cap;
    char *p;

    if (b->failed)
        return false;
    if (n > b->max || b->len + n > b->max) {
        b->failed = true;
        return false;
    }
    want = b->len + n + 1;
    if (want <= b->cap)
        return true;
    cap = b->cap ? b->cap : 1024;
    while (cap < want)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    p = pw_arena_realloc(b->arena, b->data, b->cap, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void pw_buf_add(struct pw_buf *b, const void *data, size_t n)
{
    if (n == 0 || !reserve(b, n))
        return;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void pw_buf_puts(struct pw_buf *b, const char *s)
{
    pw_buf_add(b, s, strlen(s));
}

void pw_buf_putc(struct pw_buf *b, char c)
{
    pw_buf_add(b, &c, 1);
}

void pw_buf_vprintf(struct pw_buf *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        pw_buf_add(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void pw_buf_printf(struct pw_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pw_buf_vprintf(b, fmt, ap);
    va_end(ap);
}
