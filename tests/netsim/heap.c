/*
 * heap.c - reply slot pool and timer heap
 */
#include "heap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int grow(struct pw_sim_heap *h, size_t want)
{
    struct pw_sim_pending *slots;
    uint32_t *free_slots;
    struct pw_sim_heap_entry *heap;

    if (want > h->max)
        want = h->max;
    if (want <= h->cap)
        return -ENOSPC;
    slots = realloc(h->slots, want * sizeof(*slots));
    if (slots == NULL)
        return -ENOMEM;
    h->slots = slots;
    free_slots = realloc(h->free_slots, want * sizeof(*free_slots));
    if (free_slots == NULL)
        return -ENOMEM;
    h->free_slots = free_slots;
    heap = realloc(h->heap, want * sizeof(*heap));
    if (heap == NULL)
        return -ENOMEM;
    h->heap = heap;
    /* Hand out low slot numbers first so a light load stays in a few pages. */
    for (size_t i = want; i > h->cap; i--)
        h->free_slots[h->nfree++] = (uint32_t)(i - 1);
    h->cap = want;
    return 0;
}

int pw_sim_heap_init(struct pw_sim_heap *h, size_t initial, size_t max)
{
    memset(h, 0, sizeof(*h));
    h->max = max > UINT32_MAX ? UINT32_MAX : max;
    if (initial < 1)
        initial = 1;
    if (grow(h, initial) < 0) {
        pw_sim_heap_deinit(h);
        return -ENOMEM;
    }
    return 0;
}

void pw_sim_heap_deinit(struct pw_sim_heap *h)
{
    free(h->slots);
    free(h->free_slots);
    free(h->heap);
    memset(h, 0, sizeof(*h));
}

struct pw_sim_pending *pw_sim_heap_alloc(struct pw_sim_heap *h)
{
    if (h->nfree == 0 && grow(h, h->cap * 2) < 0)
        return NULL;
    return &h->slots[h->free_slots[--h->nfree]];
}

void pw_sim_heap_cancel(struct pw_sim_heap *h, struct pw_sim_pending *p)
{
    h->free_slots[h->nfree++] = (uint32_t)(p - h->slots);
}

static bool before(const struct pw_sim_heap_entry *a, const struct pw_sim_heap_entry *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

void pw_sim_heap_push(struct pw_sim_heap *h, struct pw_sim_pending *p)
{
    struct pw_sim_heap_entry e = {p->due, h->seq++, (uint32_t)(p - h->slots)};
    size_t i = h->n++;

    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (!before(&e, &h->heap[parent]))
            break;
        h->heap[i] = h->heap[parent];
        i = parent;
    }
    h->heap[i] = e;
}

const struct pw_sim_pending *pw_sim_heap_peek(const struct pw_sim_heap *h)
{
    return h->n > 0 ? &h->slots[h->heap[0].slot] : NULL;
}

struct pw_sim_pending *pw_sim_heap_pop(struct pw_sim_heap *h)
{
    struct pw_sim_heap_entry last;
    uint32_t top;
    size_t i = 0;

    if (h->n == 0)
        return NULL;
    top = h->heap[0].slot;
    last = h->heap[--h->n];
    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(&h->heap[c + 1], &h->heap[c]))
            c++;
        if (!before(&h->heap[c], &last))
            break;
        h->heap[i] = h->heap[c];
        i = c;
    }
    if (h->n > 0)
        h->heap[i] = last;
    return &h->slots[top];
}

void pw_sim_heap_release(struct pw_sim_heap *h, struct pw_sim_pending *p)
{
    h->free_slots[h->nfree++] = (uint32_t)(p - h->slots);
}
