/* PingWatcher — per-request arena allocator (see arena.h). */
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define ALIGN alignof(max_align_t)

struct pw_arena_block {
    struct pw_arena_block *prev;
    size_t size; /* bytes in data[] */
    size_t used;
    size_t last; /* offset of the newest allocation, for in-place realloc */
    alignas(max_align_t) unsigned char data[];
};

static struct pw_arena_block *block_new(size_t size)
{
    struct pw_arena_block *b = malloc(sizeof(*b) + size);

    if (!b)
        return NULL;
    b->prev = NULL;
    b->size = size;
    b->used = 0;
    b->last = SIZE_MAX;
    return b;
}

int pw_arena_init(struct pw_arena *a, size_t block_size, size_t max_bytes)
{
    memset(a, 0, sizeof(*a));
    if (block_size == 0 || max_bytes == 0 || block_size > max_bytes)
        return -EINVAL;
    a->head = block_new(block_size);
    if (!a->head)
        return -ENOMEM;
    a->block_size = block_size;
    a->max_bytes = max_bytes;
    a->total = a->peak = block_size;
    return 0;
}

static void free_until(struct pw_arena *a, const struct pw_arena_block *keep)
{
    while (a->head && a->head != keep && a->head->prev) {
        struct pw_arena_block *b = a->head;

        a->head = b->prev;
        a->total -= b->size;
        free(b);
    }
}

void pw_arena_deinit(struct pw_arena *a)
{
    free_until(a, NULL);
    free(a->head);
    memset(a, 0, sizeof(*a));
}

static size_t round_up(size_t n)
{
    return (n + ALIGN - 1) & ~(ALIGN - 1);
}

void *pw_arena_alloc(struct pw_arena *a, size_t n)
{
    struct pw_arena_block *b = a->head;
    size_t need, size;

    if (n == 0 || n > a->max_bytes)
        return NULL;
    need = round_up(n);
    if (b->size - b->used < need) {
        /* Double the newest block's size so a big response costs few blocks; never past the
         * arena's ceiling. */
        size = b->size * 2 > need ? b->size * 2 : need;
        if (size < a->block_size)
            size = a->block_size;
        if (a->total + size > a->max_bytes) {
            size = need;
            if (a->total + size > a->max_bytes)
                return NULL;
        }
        b = block_new(size);
        if (!b)
            return NULL;
        b->prev = a->head;
        a->head = b;
        a->total += size;
        if (a->total > a->peak)
            a->peak = a->total;
    }
    b->last = b->used;
    b->used += need;
    return b->data + b->last;
}

void *pw_arena_zalloc(struct pw_arena *a, size_t n)
{
    void *p = pw_arena_alloc(a, n);

    if (p)
        memset(p, 0, n);
    return p;
}

void *pw_arena_realloc(struct pw_arena *a, void *p, size_t old_n, size_t n)
{
    struct pw_arena_block *b = a->head;
    void *q;

    if (!p)
        return pw_arena_alloc(a, n);
    if (n <= old_n)
        return p;
    if (b->last != SIZE_MAX && (unsigned char *)p == b->data + b->last &&
        b->last + round_up(n) <= b->size) {
        b->used = b->last + round_up(n);
        return p;
    }
    q = pw_arena_alloc(a, n);
    if (q)
        memcpy(q, p, old_n);
    return q;
}

char *pw_arena_strndup(struct pw_arena *a, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *p = pw_arena_alloc(a, n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void pw_arena_reset(struct pw_arena *a)
{
    free_until(a, NULL);
    if (a->head) {
        a->head->used = 0;
        a->head->last = SIZE_MAX;
    }
}

void pw_arena_mark(const struct pw_arena *a, struct pw_arena_mark *m)
{
    m->block = a->head;
    m->used = a->head ? a->head->used : 0;
}

void pw_arena_rewind(struct pw_arena *a, const struct pw_arena_mark *m)
{
    free_until(a, m->block);
    if (a->head == m->block && a->head) {
        a->head->used = m->used;
        a->head->last = SIZE_MAX;
    }
}
