/* PingWatcher — per-request arena allocator for the FastCGI app.
 *
 * Every allocation a request makes comes from its worker's arena and is released at once by
 * pw_arena_reset() when the request ends: no per-object free, no leak across requests. The
 * first block stays allocated between requests so a typical request allocates nothing from
 * the system. An arena has a maximum size: past it allocations fail (NULL), and the request
 * answers 500/413 instead of the process growing without bound.
 *
 * An arena belongs to one thread at a time; nothing here locks.
 */
#ifndef PW_ARENA_H
#define PW_ARENA_H

#include <stddef.h>

struct pw_arena_block;

struct pw_arena {
    struct pw_arena_block *head; /* current block (newest); the first block is kept */
    size_t block_size;           /* size of the first block and minimum of later ones */
    size_t max_bytes;            /* ceiling on the sum of block sizes */
    size_t total;                /* bytes held in blocks now */
    size_t peak;                 /* largest total seen (for tests and tuning) */
};

/* A position to return to with pw_arena_rewind() (for long-lived requests such as SSE). */
struct pw_arena_mark {
    struct pw_arena_block *block;
    size_t used;
};

/* Sets up an arena whose first block has block_size bytes and that never holds more than
 * max_bytes. Returns 0 or -ENOMEM (-EINVAL when block_size > max_bytes or either is 0). */
int pw_arena_init(struct pw_arena *a, size_t block_size, size_t max_bytes);
/* Frees every block. */
void pw_arena_deinit(struct pw_arena *a);

/* Returns n bytes aligned for any type, valid until the next reset/rewind past them, or NULL
 * when the arena would exceed its maximum (or n is 0 or absurd). */
void *pw_arena_alloc(struct pw_arena *a, size_t n);
/* As pw_arena_alloc, zero-filled. */
void *pw_arena_zalloc(struct pw_arena *a, size_t n);
/* Grows the newest allocation p (old size old_n) to n bytes in place when it is the last thing
 * allocated and fits; otherwise allocates anew and copies. Returns the (possibly moved)
 * pointer or NULL; p stays valid on failure. */
void *pw_arena_realloc(struct pw_arena *a, void *p, size_t old_n, size_t n);
/* Copies a string (at most max bytes of it, always NUL-terminated). NULL when out of room. */
char *pw_arena_strndup(struct pw_arena *a, const char *s, size_t max);

/* Releases everything allocated; keeps the first block. */
void pw_arena_reset(struct pw_arena *a);

void pw_arena_mark(const struct pw_arena *a, struct pw_arena_mark *m);
/* Releases everything allocated after the mark (blocks added since are freed). */
void pw_arena_rewind(struct pw_arena *a, const struct pw_arena_mark *m);

#endif
