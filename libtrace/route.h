/* PingWatcher — route change detection for one target (spec §10, gotcha 8).
 *
 * A pure state machine, fed one finished sample at a time. It keeps the target's current
 * route (the responder of each TTL) and answers two questions per sample:
 *
 *   * Which route was this sample taken on? (its "observed route": the responders it saw,
 *     and for a TTL whose probe merely timed out, the address the route is known to have
 *     there — a lost probe says nothing about the path);
 *   * did the route change? A different responder at some TTL, or the destination answering
 *     at a different TTL, makes the sample a candidate for a new route. The change is reported
 *     only once `persist_samples` consecutive samples agree on it, with the time of the first
 *     of them. A sample that agrees with the current route again (flapping back) drops the
 *     candidate. A hop that never answers (a silent router) never causes a change, and neither
 *     does a hop that answers for the first time where nothing was known.
 *
 * No allocation, no I/O: the caller interns routes in the store and logs changes.
 */
#ifndef PW_ROUTE_H
#define PW_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "trace.h"

/* A route: the responder per TTL (hop[i] is TTL i + 1; family 0 = not known at that TTL).
 * dest_ttl is the TTL at which the destination answered (0 = not reached). Unused entries past
 * nhops are zero, so two routes compare with pw_route_equal(). */
struct pw_route {
    uint8_t nhops;
    uint8_t dest_ttl;
    struct pw_addr hop[PW_TRACE_MAX_HOPS];
};

/* A confirmed change. time_us is the time of the first sample taken on the new route. */
struct pw_route_change {
    int64_t time_us;
    uint8_t first_hop; /* lowest TTL that differs */
    struct pw_route old_route, new_route;
};

/* Default number of consecutive samples a new route must be seen in before it is reported. */
#define PW_ROUTE_PERSIST_DEFAULT 3

/* Embedded in the caller's per-target state; pw_route_tracker_init() before use. */
struct pw_route_tracker {
    uint32_t persist_samples;
    bool has_current;
    bool has_observed;
    uint32_t cand_count;      /* consecutive samples agreeing on cand (0 = no candidate) */
    int64_t cand_time_us;     /* time of the first of them */
    struct pw_route current;  /* what the target's path is believed to be */
    struct pw_route cand;     /* responders seen by the candidate's samples (merged) */
    struct pw_route observed; /* the previous sample's observed route */
};

/* Flags returned by pw_route_tracker_feed(). */
enum {
    PW_ROUTE_OBSERVED_NEW = 1, /* the observed route differs from the previous sample's */
    PW_ROUTE_CHANGED = 2,      /* a route change was confirmed: *change is filled */
};

/* Starts with no known route. persist_samples 0 means PW_ROUTE_PERSIST_DEFAULT. */
void pw_route_tracker_init(struct pw_route_tracker *t, uint32_t persist_samples);

/* Forgets the route (e.g. after the target's address changed); keeps persist_samples. */
void pw_route_tracker_reset(struct pw_route_tracker *t);

/* Changes how many samples confirm a change from the next sample on (0 = default). */
void pw_route_tracker_set_persist(struct pw_route_tracker *t, uint32_t persist_samples);

/* Feeds one sample (as the trace engine delivers it) taken at time_us. Writes the sample's
 * observed route into *observed (nhops = s->nhops, so it lines up with the sample's hops) and,
 * when a change is confirmed, the change into *change (change may then be read; it is left
 * untouched otherwise). Returns a combination of PW_ROUTE_* flags. Never fails. */
int pw_route_tracker_feed(struct pw_route_tracker *t, const struct pw_sample *s, int64_t time_us,
                          struct pw_route *observed, struct pw_route_change *change);

/* The route currently believed (NULL before the first sample). Borrowed from t. */
const struct pw_route *pw_route_tracker_current(const struct pw_route_tracker *t);

bool pw_route_equal(const struct pw_route *a, const struct pw_route *b);

#endif
