/* PingWatcher — route change detection (see route.h).
 *
 * Three routes per target: the current one, the candidate (merged from the consecutive
 * samples that disagree with the current route in the same way) and the previous sample's
 * observed route. "Disagree" only ever looks at TTLs where both sides know a responder: an
 * unknown hop (lost probe, silent router) is compatible with anything.
 */
#include <string.h>

#include "route.h"

static bool known(const struct pw_addr *a)
{
    return a->family != 0;
}

static bool addr_same(const struct pw_addr *a, const struct pw_addr *b)
{
    if (!known(a) || !known(b))
        return known(a) == known(b);
    return pw_addr_equal(a, b);
}

bool pw_route_equal(const struct pw_route *a, const struct pw_route *b)
{
    if (a->nhops != b->nhops || a->dest_ttl != b->dest_ttl)
        return false;
    for (unsigned i = 0; i < a->nhops; i++)
        if (!addr_same(&a->hop[i], &b->hop[i]))
            return false;
    return true;
}

/* The lowest TTL at which a and b disagree, 0 when they are compatible. */
static unsigned first_conflict(const struct pw_route *a, const struct pw_route *b)
{
    unsigned n = a->nhops < b->nhops ? a->nhops : b->nhops;
    unsigned dest = 0;

    if (a->dest_ttl && b->dest_ttl && a->dest_ttl != b->dest_ttl)
        dest = a->dest_ttl < b->dest_ttl ? a->dest_ttl : b->dest_ttl;
    for (unsigned i = 0; i < n && (!dest || i + 1 < dest); i++)
        if (known(&a->hop[i]) && known(&b->hop[i]) && !pw_addr_equal(&a->hop[i], &b->hop[i]))
            return i + 1;
    return dest;
}

/* Clears the entries past r->nhops so routes compare and intern consistently. */
static void clear_tail(struct pw_route *r)
{
    memset(&r->hop[r->nhops], 0, (PW_TRACE_MAX_HOPS - r->nhops) * sizeof(r->hop[0]));
}

/* Length of what is known: up to the destination, else up to the last answering hop. */
static void trim(struct pw_route *r)
{
    unsigned n = r->dest_ttl;

    if (!n) {
        n = r->nhops;
        while (n > 0 && !known(&r->hop[n - 1]))
            n--;
    }
    r->nhops = (uint8_t)n;
    clear_tail(r);
}

/* Adds what raw knows to into (both compatible): unknown TTLs learn raw's responder, and a
 * destination that answered fixes the route's length. */
static void merge(struct pw_route *into, const struct pw_route *raw)
{
    for (unsigned i = 0; i < raw->nhops; i++)
        if (known(&raw->hop[i]))
            into->hop[i] = raw->hop[i];
    if (raw->nhops > into->nhops && !into->dest_ttl)
        into->nhops = raw->nhops;
    if (raw->dest_ttl)
        into->dest_ttl = raw->dest_ttl;
    trim(into);
}

/* The sample's route: what it saw, and for TTLs it did not hear from, the first of refs that
 * knows that TTL. */
static void fill(struct pw_route *obs, const struct pw_route *raw, const struct pw_route *ref1,
                 const struct pw_route *ref2)
{
    *obs = *raw;
    for (unsigned i = 0; i < obs->nhops; i++) {
        if (known(&obs->hop[i]))
            continue;
        if (ref1 && i < ref1->nhops && known(&ref1->hop[i]))
            obs->hop[i] = ref1->hop[i];
        else if (ref2 && i < ref2->nhops && known(&ref2->hop[i]))
            obs->hop[i] = ref2->hop[i];
    }
    if (!obs->dest_ttl && ref1 && ref1->dest_ttl && ref1->dest_ttl <= obs->nhops)
        obs->dest_ttl = ref1->dest_ttl;
}

void pw_route_tracker_init(struct pw_route_tracker *t, uint32_t persist_samples)
{
    memset(t, 0, sizeof(*t));
    pw_route_tracker_set_persist(t, persist_samples);
}

void pw_route_tracker_reset(struct pw_route_tracker *t)
{
    pw_route_tracker_init(t, t->persist_samples);
}

void pw_route_tracker_set_persist(struct pw_route_tracker *t, uint32_t persist_samples)
{
    t->persist_samples = persist_samples ? persist_samples : PW_ROUTE_PERSIST_DEFAULT;
}

const struct pw_route *pw_route_tracker_current(const struct pw_route_tracker *t)
{
    return t->has_current ? &t->current : NULL;
}

int pw_route_tracker_feed(struct pw_route_tracker *t, const struct pw_sample *s, int64_t time_us,
                          struct pw_route *observed, struct pw_route_change *change)
{
    struct pw_route raw;
    int flags = 0;
    unsigned n = s->nhops > PW_TRACE_MAX_HOPS ? PW_TRACE_MAX_HOPS : s->nhops;

    /* Positions, not the hops' ttl field: with final_hop_only the single entry carries an
     * estimated distance, but it is still the route's one and only hop. */
    memset(&raw, 0, sizeof(raw));
    raw.nhops = (uint8_t)n;
    for (unsigned i = 0; i < n; i++) {
        if (!s->hop[i].answered)
            continue;
        raw.hop[i] = s->hop[i].from;
        if (s->hop[i].reached && !raw.dest_ttl)
            raw.dest_ttl = (uint8_t)(i + 1);
    }

    if (!t->has_current) {
        t->current = raw;
        trim(&t->current);
        t->has_current = true;
        fill(observed, &raw, &t->current, NULL);
    } else if (!first_conflict(&raw, &t->current)) {
        /* Back on (or still on) the current route: any candidate was a flap. */
        t->cand_count = 0;
        merge(&t->current, &raw);
        fill(observed, &raw, &t->current, NULL);
    } else if (t->cand_count && !first_conflict(&raw, &t->cand)) {
        t->cand_count++;
        merge(&t->cand, &raw);
        fill(observed, &raw, &t->cand, &t->current);
    } else {
        t->cand = raw;
        trim(&t->cand);
        t->cand_count = 1;
        t->cand_time_us = time_us;
        fill(observed, &raw, &t->current, NULL);
    }

    if (t->cand_count && t->cand_count >= t->persist_samples) {
        change->time_us = t->cand_time_us;
        change->old_route = t->current;
        change->new_route = t->cand;
        change->first_hop = (uint8_t)first_conflict(&t->current, &t->cand);
        t->current = t->cand;
        t->cand_count = 0;
        flags |= PW_ROUTE_CHANGED;
    }

    clear_tail(observed);
    if (!t->has_observed || !pw_route_equal(observed, &t->observed))
        flags |= PW_ROUTE_OBSERVED_NEW;
    t->observed = *observed;
    t->has_observed = true;
    return flags;
}
