/* Unit tests for the route change tracker (libtrace/route.c). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "route.h"

/* A sample from a list of responders, TTL 1 first: NULL = lost. When reached, the last entry
 * is the destination. */
struct fake {
    struct pw_hop_result hop[PW_TRACE_MAX_HOPS];
    struct pw_sample s;
};

static const struct pw_sample *mk(struct fake *f, const char *const *addrs, unsigned n,
                                  bool reached)
{
    memset(f, 0, sizeof(*f));
    for (unsigned i = 0; i < n; i++) {
        f->hop[i].ttl = (uint8_t)(i + 1);
        if (!addrs[i])
            continue;
        f->hop[i].answered = true;
        if (pw_addr_parse(addrs[i], &f->hop[i].from) < 0)
            abort();
        f->hop[i].rtt_us = 1000 * (i + 1);
        if (reached && i == n - 1) {
            f->hop[i].reached = true;
            f->s.reached = true;
        }
    }
    f->s.nhops = (uint8_t)n;
    f->s.hop = f->hop;
    return &f->s;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const path_a[] = {"198.18.1.1", "198.18.1.2", "198.18.1.3",   "198.18.1.4",
                                     "198.18.1.5", "198.18.1.6", "198.18.100.10"};
static const char *const path_b[] = {"198.18.1.1", "198.18.1.2", "198.18.1.3",   "198.18.3.4",
                                     "198.18.3.5", "198.18.3.6", "198.18.100.10"};
static const char *const path_a_lost4[] = {"198.18.1.1", "198.18.1.2", "198.18.1.3",   NULL,
                                           "198.18.1.5", "198.18.1.6", "198.18.100.10"};
static const char *const path_b_lost5[] = {"198.18.1.1", "198.18.1.2", "198.18.1.3",   "198.18.3.4",
                                           NULL,         "198.18.3.6", "198.18.100.10"};
/* One router more: the destination answers at TTL 8. */
static const char *const path_long[] = {"198.18.1.1", "198.18.1.2", "198.18.1.3", "198.18.1.4",
                                        "198.18.1.5", "198.18.1.6", "198.18.1.7", "198.18.100.10"};

static bool hop_is(const struct pw_route *r, unsigned ttl, const char *addr)
{
    struct pw_addr a;
    if (!addr)
        return r->hop[ttl - 1].family == 0;
    if (pw_addr_parse(addr, &a) < 0)
        abort();
    return pw_addr_equal(&r->hop[ttl - 1], &a);
}

static void test_first_and_stable(void)
{
    struct pw_route_tracker t;
    struct pw_route obs;
    struct pw_route_change ch;
    struct fake f;
    int flags;

    pw_route_tracker_init(&t, 0);
    CHECK_INT(t.persist_samples, 3);
    CHECK(pw_route_tracker_current(&t) == NULL);
    flags = pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 1000, &obs, &ch);
    CHECK_INT(flags, PW_ROUTE_OBSERVED_NEW);
    CHECK_INT(obs.nhops, 7);
    CHECK_INT(obs.dest_ttl, 7);
    CHECK(hop_is(&obs, 4, "198.18.1.4"));
    CHECK(pw_route_tracker_current(&t) != NULL);
    CHECK(pw_route_equal(pw_route_tracker_current(&t), &obs));
    for (int i = 0; i < 10; i++) {
        flags = pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 2000 + i, &obs, &ch);
        CHECK_INT(flags, 0);
    }
}

static void test_lost_hop_inherits(void)
{
    struct pw_route_tracker t;
    struct pw_route obs, first;
    struct pw_route_change ch;
    struct fake f;
    int flags;

    pw_route_tracker_init(&t, 3);
    pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 1000, &first, &ch);
    for (int i = 0; i < 5; i++) {
        flags = pw_route_tracker_feed(&t, mk(&f, path_a_lost4, N(path_a_lost4), true), 2000 + i,
                                      &obs, &ch);
        CHECK_INT(flags, 0);
        CHECK(hop_is(&obs, 4, "198.18.1.4"));
        CHECK(pw_route_equal(&obs, &first));
    }
    /* The destination probe lost: the sample did not reach it, but the route is the same. */
    {
        const char *const lost_dest[] = {"198.18.1.1", "198.18.1.2", "198.18.1.3", "198.18.1.4",
                                         "198.18.1.5", "198.18.1.6", NULL};
        flags = pw_route_tracker_feed(&t, mk(&f, lost_dest, N(lost_dest), false), 3000, &obs, &ch);
        CHECK_INT(flags, 0);
        CHECK(pw_route_equal(&obs, &first));
    }
}

static void test_silent_hop_never_changes(void)
{
    struct pw_route_tracker t;
    struct pw_route obs;
    struct pw_route_change ch;
    struct fake f;
    int changes = 0;

    pw_route_tracker_init(&t, 3);
    for (int i = 0; i < 50; i++) {
        int flags =
            pw_route_tracker_feed(&t, mk(&f, path_a_lost4, N(path_a_lost4), true), i, &obs, &ch);
        if (flags & PW_ROUTE_CHANGED)
            changes++;
        CHECK(hop_is(&obs, 4, NULL));
        CHECK_INT(flags & PW_ROUTE_OBSERVED_NEW, i == 0 ? PW_ROUTE_OBSERVED_NEW : 0);
    }
    CHECK_INT(changes, 0);
}

static void test_hop_learnt_later_is_no_change(void)
{
    struct pw_route_tracker t;
    struct pw_route obs;
    struct pw_route_change ch;
    struct fake f;
    int flags;

    pw_route_tracker_init(&t, 3);
    pw_route_tracker_feed(&t, mk(&f, path_a_lost4, N(path_a_lost4), true), 1, &obs, &ch);
    CHECK(hop_is(&obs, 4, NULL));
    /* Hop 4 answers for the first time: the route is now known better, not changed. */
    flags = pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 2, &obs, &ch);
    CHECK_INT(flags, PW_ROUTE_OBSERVED_NEW);
    CHECK(hop_is(&obs, 4, "198.18.1.4"));
    /* ... and is inherited when lost again. */
    flags = pw_route_tracker_feed(&t, mk(&f, path_a_lost4, N(path_a_lost4), true), 3, &obs, &ch);
    CHECK_INT(flags, 0);
    CHECK(hop_is(&obs, 4, "198.18.1.4"));
}

static void test_change_persists(void)
{
    struct pw_route_tracker t;
    struct pw_route obs;
    struct pw_route_change ch;
    struct fake f;
    int flags;

    pw_route_tracker_init(&t, 3);
    for (int i = 0; i < 5; i++)
        pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 1000 + i, &obs, &ch);
    memset(&ch, 0, sizeof(ch));
    flags = pw_route_tracker_feed(&t, mk(&f, path_b, N(path_b), true), 2000, &obs, &ch);
    CHECK_INT(flags, PW_ROUTE_OBSERVED_NEW);
    /* Samples keep pointing at the route they were taken on. */
    CHECK(hop_is(&obs, 4, "198.18.3.4"));
    /* A lost hop in a candidate sample does not break the candidate. */
    flags = pw_route_tracker_feed(&t, mk(&f, path_b_lost5, N(path_b_lost5), true), 2100, &obs, &ch);
    CHECK_INT(flags, 0);
    CHECK(hop_is(&obs, 5, "198.18.3.5"));
    flags = pw_route_tracker_feed(&t, mk(&f, path_b, N(path_b), true), 2200, &obs, &ch);
    CHECK_INT(flags, PW_ROUTE_CHANGED);
    CHECK_INT(ch.time_us, 2000);
    CHECK_INT(ch.first_hop, 4);
    CHECK(hop_is(&ch.old_route, 4, "198.18.1.4"));
    CHECK(hop_is(&ch.new_route, 4, "198.18.3.4"));
    CHECK(hop_is(&ch.new_route, 5, "198.18.3.5"));
    CHECK_INT(ch.old_route.nhops, 7);
    CHECK_INT(ch.new_route.nhops, 7);
    CHECK(pw_route_equal(pw_route_tracker_current(&t), &ch.new_route));
    /* Stable on the new route afterwards. */
    for (int i = 0; i < 5; i++) {
        flags = pw_route_tracker_feed(&t, mk(&f, path_b, N(path_b), true), 3000 + i, &obs, &ch);
        CHECK_INT(flags, 0);
    }
    /* Going back is a change as well. */
    for (int i = 0; i < 3; i++)
        flags = pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 4000 + i, &obs, &ch);
    CHECK_INT(flags, PW_ROUTE_CHANGED);
    CHECK_INT(ch.time_us, 4000);
}

static void test_flap_resets(void)
{
    struct pw_route_tracker t;
    struct pw_route obs;
    struct pw_route_change ch;
    struct fake f;
    int changes = 0;
    /* a a b b a b b a b b b: only the last run of three b is a change. */
    const char pattern[] = "aabbabbabbb";

    pw_route_tracker_init(&t, 3);
    for (unsigned i = 0; i < sizeof(pattern) - 1; i++) {
        bool b = pattern[i] == 'b';
        int flags = pw_route_tracker_feed(
            &t, b ? mk(&f, path_b, N(path_b), true) : mk(&f, path_a, N(path_a), true),
            (int64_t)i * 100, &obs, &ch);
        if (flags & PW_ROUTE_CHANGED) {
            changes++;
            CHECK_INT(i, 10);
            CHECK_INT(ch.time_us, 800);
        }
    }
    CHECK_INT(changes, 1);
}

static void test_two_candidates_alternating(void)
{
    struct pw_route_tracker t;
    struct pw_route obs;
    struct pw_route_change ch;
    struct fake f;
    int changes = 0;

    pw_route_tracker_init(&t, 2);
    pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 0, &obs, &ch);
    for (int i = 0; i < 10; i++) {
        int flags = pw_route_tracker_feed(
            &t, i % 2 ? mk(&f, path_b, N(path_b), true) : mk(&f, path_long, N(path_long), true),
            i + 1, &obs, &ch);
        if (flags & PW_ROUTE_CHANGED)
            changes++;
    }
    CHECK_INT(changes, 0);
}

static void test_destination_further(void)
{
    struct pw_route_tracker t;
    struct pw_route obs;
    struct pw_route_change ch;
    struct fake f;
    int flags = 0;

    pw_route_tracker_init(&t, 2);
    pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 0, &obs, &ch);
    for (int i = 0; i < 2; i++)
        flags = pw_route_tracker_feed(&t, mk(&f, path_long, N(path_long), true), 10 + i, &obs, &ch);
    CHECK_INT(flags & PW_ROUTE_CHANGED, PW_ROUTE_CHANGED);
    CHECK_INT(ch.time_us, 10);
    CHECK_INT(ch.first_hop, 7);
    CHECK_INT(ch.old_route.dest_ttl, 7);
    CHECK_INT(ch.new_route.dest_ttl, 8);
    CHECK_INT(ch.new_route.nhops, 8);
}

static void test_destination_silent_hop_inserted(void)
{
    /* A silent router appears before the destination: no address differs, but the destination
     * now answers one TTL further. */
    const char *const longer[] = {"198.18.1.1", "198.18.1.2", "198.18.1.3", "198.18.1.4",
                                  "198.18.1.5", "198.18.1.6", NULL,         "198.18.100.10"};
    const char *const shorter[] = {"198.18.1.1", "198.18.1.2", "198.18.1.3", "198.18.1.4",
                                   "198.18.1.5", "198.18.1.6", "198.18.1.7", "198.18.100.10"};
    struct pw_route_tracker t;
    struct pw_route obs;
    struct pw_route_change ch;
    struct fake f;
    int flags = 0;

    pw_route_tracker_init(&t, 1);
    pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 0, &obs, &ch);
    flags = pw_route_tracker_feed(&t, mk(&f, longer, N(longer), true), 5, &obs, &ch);
    CHECK_INT(flags & PW_ROUTE_CHANGED, PW_ROUTE_CHANGED);
    CHECK_INT(ch.first_hop, 7);
    CHECK(hop_is(&ch.new_route, 7, NULL));
    /* The silent hop starting to answer is no change. */
    flags = pw_route_tracker_feed(&t, mk(&f, shorter, N(shorter), true), 6, &obs, &ch);
    CHECK_INT(flags & PW_ROUTE_CHANGED, 0);
}

static void test_persist_one_and_reset(void)
{
    struct pw_route_tracker t;
    struct pw_route obs;
    struct pw_route_change ch;
    struct fake f;
    int flags;

    pw_route_tracker_init(&t, 1);
    pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 0, &obs, &ch);
    flags = pw_route_tracker_feed(&t, mk(&f, path_b, N(path_b), true), 7, &obs, &ch);
    CHECK_INT(flags, PW_ROUTE_CHANGED | PW_ROUTE_OBSERVED_NEW);
    CHECK_INT(ch.time_us, 7);
    pw_route_tracker_reset(&t);
    CHECK_INT(t.persist_samples, 1);
    CHECK(pw_route_tracker_current(&t) == NULL);
    flags = pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 8, &obs, &ch);
    CHECK_INT(flags, PW_ROUTE_OBSERVED_NEW);
    pw_route_tracker_set_persist(&t, 0);
    CHECK_INT(t.persist_samples, PW_ROUTE_PERSIST_DEFAULT);
}

static void test_unreached_to_max_hops(void)
{
    /* The destination stops answering and the sample runs to max_hops: nothing beyond the
     * known route is a difference, and the observed route keeps the sample's length. */
    const char *lost_tail[12] = {"198.18.1.1", "198.18.1.2", "198.18.1.3",
                                 "198.18.1.4", "198.18.1.5", "198.18.1.6"};
    struct pw_route_tracker t;
    struct pw_route obs;
    struct pw_route_change ch;
    struct fake f;
    int changes = 0;

    pw_route_tracker_init(&t, 2);
    pw_route_tracker_feed(&t, mk(&f, path_a, N(path_a), true), 0, &obs, &ch);
    for (int i = 0; i < 5; i++)
        if (pw_route_tracker_feed(&t, mk(&f, lost_tail, 12, false), i + 1, &obs, &ch) &
            PW_ROUTE_CHANGED)
            changes++;
    CHECK_INT(changes, 0);
    CHECK_INT(obs.nhops, 12);
    CHECK(hop_is(&obs, 7, "198.18.100.10"));
    CHECK(hop_is(&obs, 8, NULL));
}

static void test_ipv6(void)
{
    const char *const a6[] = {"2001:db8:1::1", "2001:db8:1::2", "2001:db8:100::10"};
    const char *const b6[] = {"2001:db8:1::1", "2001:db8:3::2", "2001:db8:100::10"};
    struct pw_route_tracker t;
    struct pw_route obs;
    struct pw_route_change ch;
    struct fake f;
    int flags = 0;

    pw_route_tracker_init(&t, 3);
    pw_route_tracker_feed(&t, mk(&f, a6, 3, true), 0, &obs, &ch);
    for (int i = 0; i < 3; i++)
        flags = pw_route_tracker_feed(&t, mk(&f, b6, 3, true), 10 + i, &obs, &ch);
    CHECK_INT(flags & PW_ROUTE_CHANGED, PW_ROUTE_CHANGED);
    CHECK_INT(ch.first_hop, 2);
    CHECK(hop_is(&ch.new_route, 2, "2001:db8:3::2"));
}

int main(void)
{
    RUN(test_first_and_stable);
    RUN(test_lost_hop_inherits);
    RUN(test_silent_hop_never_changes);
    RUN(test_hop_learnt_later_is_no_change);
    RUN(test_change_persists);
    RUN(test_flap_resets);
    RUN(test_two_candidates_alternating);
    RUN(test_destination_further);
    RUN(test_destination_silent_hop_inserted);
    RUN(test_persist_one_and_reset);
    RUN(test_unreached_to_max_hops);
    RUN(test_ipv6);
    return check_exit();
}
