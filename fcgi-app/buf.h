/* PingWatcher — a growable text buffer allocated from an arena, with a maximum size.
 *
 * Appends never fail loudly: once the maximum (or the arena) is reached the buffer stops
 * growing and remembers the overflow; the caller checks pw_buf_failed() once at the end and
 * answers an error instead of a truncated document.
 */
#ifndef PW_BUF_H
#define PW_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "arena.h"

struct pw_buf {
    struct pw_arena *arena;
    char *data; /* NUL-terminated when len > 0 */
    size_t len, cap, max;
    bool failed; /* an append did not fit */
};

/* Starts an empty buffer that will hold at most max bytes. */
void pw_buf_init(struct pw_buf *b, struct pw_arena *a, size_t max);
void pw_buf_reset(struct pw_buf *b); /* len = 0, keeps the storage */
bool pw_buf_failed(const struct pw_buf *b);

void pw_buf_add(struct pw_buf *b, const void *data, size_t n);
void pw_buf_puts(struct pw_buf *b, const char *s);
void pw_buf_putc(struct pw_buf *b, char c);
void pw_buf_printf(struct pw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pw_buf_vprintf(struct pw_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#endif
