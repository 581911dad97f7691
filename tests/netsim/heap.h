/*
 * heap.h - replies waiting for their send time
 *
 * A pool of preallocated reply slots plus a binary min-heap ordered by (due time, arrival
 * order), so equal deadlines leave in the order their probes came in. The pool grows by
 * doubling up to a maximum and never shrinks: the hot path does not allocate once warm.
 */
#ifndef PW_SIM_HEAP_H
#define PW_SIM_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet.h"
#include "truth.h"

struct pw_sim_pending {
    uint64_t due; /* CLOCK_MONOTONIC ns */
    bool has_row; /* probe replies carry a truth row; DNS answers do not */
    struct pw_sim_truth_row row;
    size_t len;
    uint8_t pkt[PW_SIM_PKT_MAX];
};

struct pw_sim_heap_entry {
    uint64_t due;
    uint64_t seq;
    uint32_t slot;
};

struct pw_sim_heap {
    struct pw_sim_pending *slots;
    uint32_t *free_slots;
    size_t nfree;
    struct pw_sim_heap_entry *heap;
    size_t n;   /* entries in the heap */
    size_t cap; /* slots allocated */
    size_t max; /* slots allowed */
    uint64_t seq;
};

/* Preallocate initial slots; the pool may grow to max. Returns 0 or -ENOMEM. */
int pw_sim_heap_init(struct pw_sim_heap *h, size_t initial, size_t max);

/* Release all memory. */
void pw_sim_heap_deinit(struct pw_sim_heap *h);

/* A free slot to fill, or NULL when max slots are in use or memory ran out. The pointer stays
 * valid until the next pw_sim_heap_alloc(). */
struct pw_sim_pending *pw_sim_heap_alloc(struct pw_sim_heap *h);

/* Return a slot from pw_sim_heap_alloc() unused. */
void pw_sim_heap_cancel(struct pw_sim_heap *h, struct pw_sim_pending *p);

/* Queue slot p (from pw_sim_heap_alloc(), due filled in). */
void pw_sim_heap_push(struct pw_sim_heap *h, struct pw_sim_pending *p);

/* The earliest due reply without removing it, or NULL when empty. */
const struct pw_sim_pending *pw_sim_heap_peek(const struct pw_sim_heap *h);

/* Remove the earliest reply; it stays valid until pw_sim_heap_release() or the next alloc.
 * NULL when empty. */
struct pw_sim_pending *pw_sim_heap_pop(struct pw_sim_heap *h);

/* Give a popped slot back to the pool. */
void pw_sim_heap_release(struct pw_sim_heap *h, struct pw_sim_pending *p);

#endif
