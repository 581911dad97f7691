/* Unit tests: path diagnosis over synthetic windows — every verdict and note kind, exact
 * Wilson bounds, thresholds, the insufficient-data path, confirmation, JSON and the adapters
 * (live accumulator and store). */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "diagnosis.h"
#include "evidence.h"
#include "report.h"
#include "stats.h"
#include "store.h"

#define MAXS 4000
#define T0 INT64_C(1700000000000000)

/* The plain.json path: ten routers and the destination, floors in ms. */
static const double plain_ms[] = {1.0, 2.5, 4.0, 5.5, 7.0, 9.0, 11.0, 13.5, 16.0, 18.5, 20.0};

struct win {
    uint32_t n;
    uint8_t nhops;
    int64_t t[MAXS];
    int32_t rtt[PW_TRACE_MAX_HOPS][MAXS];
    struct pw_diag_hop hop[PW_TRACE_MAX_HOPS];
    struct pw_diag_route_change ch[8];
    struct pw_diag_input in;
    struct pw_diagnosis d;
};

static uint64_t rng_state;

static uint32_t rnd(void)
{
    /* xorshift64*: deterministic patterns of loss and jitter. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 32);
}

/* n samples every interval_us over the plain path (11 rows, the last the destination), RTT =
 * floor + 0..200 µs jitter. */
static struct win *win_new(uint32_t n, int64_t interval_us)
{
    struct win *w = calloc(1, sizeof(*w));
    char ip[32];

    rng_state = 0x9e3779b97f4a7c15u;
    w->n = n;
    w->nhops = 11;
    for (uint32_t i = 0; i < n; i++)
        w->t[i] = T0 + (int64_t)i * interval_us;
    for (unsigned h = 0; h < w->nhops; h++) {
        w->hop[h].ttl = (uint8_t)(h + 1);
        if (h < 10)
            snprintf(ip, sizeof(ip), "198.18.1.%u", h + 1);
        else
            snprintf(ip, sizeof(ip), "198.18.100.10");
        pw_addr_parse(ip, &w->hop[h].addr);
        snprintf(w->hop[h].dns, sizeof(w->hop[h].dns), "r%u.sim.example", h + 1);
        w->hop[h].rtt_us = w->rtt[h];
        for (uint32_t i = 0; i < n; i++)
            w->rtt[h][i] = (int32_t)(plain_ms[h] * 1000) + (int32_t)(rnd() % 201);
    }
    w->in.nsamples = n;
    w->in.time_us = w->t;
    w->in.nhops = w->nhops;
    w->in.hop = w->hop;
    w->in.dest_reached = true;
    w->in.dest = w->hop[10].addr;
    w->in.proto = PW_PROTO_ICMP;
    return w;
}

/* Loses exactly k distinct samples (chosen at random) at TTL ttl. */
static void lose(struct win *w, unsigned ttl, uint32_t k)
{
    uint32_t done = 0;

    while (done < k) {
        uint32_t i = rnd() % w->n;

        if (w->rtt[ttl - 1][i] >= 0) {
            w->rtt[ttl - 1][i] = PW_RTT_LOST;
            done++;
        }
    }
}

/* Every TTL from ttl on loses k (independently): forwarding loss at hop ttl. */
static void lose_from(struct win *w, unsigned ttl, uint32_t k)
{
    for (unsigned t = ttl; t <= w->nhops; t++)
        lose(w, t, k);
}

static void add_ms(struct win *w, unsigned ttl, double ms)
{
    for (uint32_t i = 0; i < w->n; i++)
        if (w->rtt[ttl - 1][i] >= 0)
            w->rtt[ttl - 1][i] += (int32_t)(ms * 1000);
}

static int analyse(struct win *w)
{
    return pw_diag_analyse(&w->in, NULL, &w->d);
}

static const struct pw_diag_note *find_note(const struct pw_diagnosis *d,
                                            enum pw_diag_note_kind kind, unsigned hop)
{
    for (unsigned i = 0; i < d->nnotes; i++)
        if (d->note[i].kind == kind && d->note[i].hop == hop)
            return &d->note[i];
    return NULL;
}

static bool has(const char *text, const char *part)
{
    if (!strstr(text, part)) {
        fprintf(stderr, "  text: %.600s\n  lacks: %s\n", text, part);
        return false;
    }
    return true;
}

/* ---- Wilson ---- */

/* The closed form for real-valued counts, written out independently of the library. */
static void wilson_real(double k, double n, double *lo, double *hi)
{
    double z = 1.96, z2 = z * z, p = k / n, den = 1 + z2 / n;
    double c = (p + z2 / (2 * n)) / den;
    double h = z / den * sqrt(p * (1 - p) / n + z2 / (4 * n * n));

    *lo = c - h;
    *hi = c + h;
}

static void test_wilson_exact(void)
{
    /* Reference values from the closed form in 50-digit decimal arithmetic. */
    static const struct {
        uint32_t k, n;
        double lo, hi;
    } v[] = {
        {16, 200, 0.049840155176266, 0.125990489795123},
        {0, 200, 0.0, 0.018846005918321},
        {3, 200, 0.005114145184492, 0.043166480556279},
        {2, 200, 0.002746600603775, 0.035722485196180},
        {1, 1, 0.206543291473893, 1.0},
        {0, 10, 0.0, 0.277540168766617},
        {60, 200, 0.240746442434064, 0.366791959933264},
        {200, 200, 0.981153994081679, 1.0},
        {0, 125, 0.0, 0.029816456796563},
        {0, 124, 0.0, 0.030049686487028},
    };
    double lo, hi;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        pw_diag_wilson(v[i].k, v[i].n, 1.96, &lo, &hi);
        CHECK_NEAR(lo, v[i].lo, 1e-14);
        CHECK_NEAR(hi, v[i].hi, 1e-14);
    }
    pw_diag_wilson(0, 0, 1.96, &lo, &hi);
    CHECK(lo == 0 && hi == 0);
}

static void test_params_default(void)
{
    struct pw_diag_params p;

    pw_diag_params_default(&p);
    CHECK_NEAR(p.z, 1.96, 0);
    CHECK_INT(p.min_samples, 20);
    CHECK_NEAR(p.loss_significant_pct, 0.5, 0);
    CHECK_NEAR(p.loss_clean_pct, 3.0, 0);
    CHECK_NEAR(p.latency_pctile, 10, 0);
    CHECK_NEAR(p.latency_step_ms, 15, 0);
}

/* ---- verdicts ---- */

static void test_clean(void)
{
    struct win *w = win_new(200, 50000);

    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_CLEAN);
    CHECK_INT(w->d.nproblems, 0);
    CHECK_INT(w->d.nnotes, 0);
    CHECK_INT(w->d.samples, 200);
    CHECK_INT(w->d.end_hop, 11);
    CHECK(w->d.dest_reached);
    CHECK(has(w->d.summary, "No problem found: the destination lost 0.0 % of 200 probes "
                            "(at most 1.9 % at 95 % confidence)"));
    CHECK(!pw_diag_fires(&w->d));
    free(w);
}

static void test_persisting_loss(void)
{
    struct win *w = win_new(200, 50000);
    const struct pw_diag_problem *pb;
    double lo, hi;

    lose_from(w, 5, 16); /* 8 % */
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_PROBLEM);
    CHECK_INT(w->d.nproblems, 1);
    pb = &w->d.problem[0];
    CHECK_INT(pb->kind, PW_DIAG_LOSS);
    CHECK_INT(pb->from_hop, 5);
    CHECK_INT(pb->end_hop, 11);
    CHECK(pb->to_destination);
    CHECK(pb->certain);
    CHECK_INT(pb->sent, 200);
    CHECK_INT(pb->lost, 16);
    CHECK_NEAR(pb->loss_pct, 8.0, 1e-12);
    pw_diag_wilson(16, 200, 1.96, &lo, &hi);
    CHECK_NEAR(pb->loss_lo_pct, 100 * lo, 1e-12);
    CHECK_NEAR(pb->loss_hi_pct, 100 * hi, 1e-12);
    CHECK(has(pb->text, "packet loss of 8.0 % (±3.8 %) starting at hop 5 (198.18.1.5, "
                        "r5.sim.example) and persisting to the destination"));
    CHECK(has(w->d.summary, "Packet loss of 8.0 %"));
    CHECK_INT(pb->since_us, T0); /* throughout */
    CHECK_INT(pb->until_us, w->t[199]);
    CHECK_INT(w->d.nnotes, 0);
    CHECK(pw_diag_fires(&w->d));
    free(w);
}

/* Hop 4 drops 30 % of its own answers, forwarding loss starts at hop 5: the start is hop 5
 * and hop 4 gets its own note. */
static void test_loss_behind_deprioritised_hop(void)
{
    struct win *w = win_new(400, 50000);
    const struct pw_diag_note *n;

    lose(w, 4, 120);
    lose_from(w, 5, 32);
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_PROBLEM);
    CHECK_INT(w->d.problem[0].from_hop, 5);
    CHECK(has(w->d.problem[0].text, "hop 4 loses more but drops its own ICMP answers"));
    n = find_note(&w->d, PW_DIAG_NOTE_ICMP_DEPRIORITISED, 4);
    CHECK(n != NULL);
    if (n)
        CHECK(has(n->text, "than the destination loses (8.0 %)"));
    free(w);
}

/* A silent hop inside the lossy run neither starts it nor ends it. */
static void test_loss_silent_hop(void)
{
    struct win *w = win_new(200, 50000);
    const struct pw_diag_note *n;

    lose_from(w, 5, 16);
    for (uint32_t i = 0; i < w->n; i++)
        w->rtt[6][i] = PW_RTT_LOST; /* hop 7 silent */
    w->hop[6].addr.family = 0;
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_PROBLEM);
    CHECK_INT(w->d.problem[0].from_hop, 5);
    n = find_note(&w->d, PW_DIAG_NOTE_ICMP_DEPRIORITISED, 7);
    CHECK(n != NULL);
    if (n)
        CHECK(has(n->text, "hop 7 never answers (0 of 200 probes) but later hops do"));
    free(w);
}

static void test_loss_at_destination_only(void)
{
    struct win *w = win_new(200, 50000);

    lose(w, 11, 20);
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_PROBLEM);
    CHECK_INT(w->d.problem[0].from_hop, 11);
    CHECK(has(w->d.problem[0].text,
              "packet loss of 10.0 % (±4.2 %) only at the destination, hop 11 "
              "(198.18.100.10, r11.sim.example): the hops before it "
              "answer"));
    free(w);
}

/* Few samples: the loss is real, but whether hop 4 (no loss seen) shares it is not yet
 * clear. */
static void test_loss_uncertain_start(void)
{
    struct win *w = win_new(25, 50000);
    const struct pw_diag_problem *pb;

    lose_from(w, 5, 5); /* 20 % */
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_PROBLEM);
    pb = &w->d.problem[0];
    CHECK_INT(pb->from_hop, 5);
    CHECK(!pb->certain);
    /* 0 of n at hop 4 (upper 13.3 %) against 20 % at the destination (lower 8.9 %): the
     * intervals part at n = 35. */
    CHECK_INT(pb->need_samples, 10);
    CHECK(has(pb->text, "(hop 4 may share it: about 10 more samples would tell)"));
    free(w);
}

static void test_deprioritised(void)
{
    struct win *w = win_new(200, 50000);
    const struct pw_diag_note *n;

    lose(w, 4, 60); /* 30 %, at random */
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_CLEAN);
    CHECK_INT(w->d.nnotes, 1);
    n = find_note(&w->d, PW_DIAG_NOTE_ICMP_DEPRIORITISED, 4);
    CHECK(n != NULL);
    if (!n) {
        free(w);
        return;
    }
    CHECK_INT(n->sent, 200);
    CHECK_INT(n->lost, 60);
    CHECK_NEAR(n->loss_pct, 30.0, 1e-12);
    CHECK(n->dispersion > 0.25);
    CHECK(has(n->text, "hop 4 (198.18.1.4, r4.sim.example) answers fewer probes (30.0 % lost), "
                       "later hops lose nothing: this router rate-limits or deprioritises ICMP; "
                       "traffic through it is not affected"));
    free(w);
}

/* A token bucket of 5 answers per second probed 20 times a second: one answer in four, like
 * clockwork. */
static void test_rate_limited(void)
{
    struct win *w = win_new(400, 50000);
    const struct pw_diag_note *n;

    for (uint32_t i = 0; i < w->n; i++)
        if (i % 4)
            w->rtt[3][i] = PW_RTT_LOST;
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_CLEAN);
    n = find_note(&w->d, PW_DIAG_NOTE_RATE_LIMITED, 4);
    CHECK(n != NULL);
    if (!n) {
        free(w);
        return;
    }
    CHECK(n->dispersion >= 0 && n->dispersion < 0.05);
    CHECK_NEAR(n->answer_rate, 100.0 / 19.95, 1e-9);
    CHECK(has(n->text, "a steady 5.0 answers per second), later hops lose nothing: this router "
                       "rate-limits its ICMP answers"));
    free(w);
}

static void test_latency_step(void)
{
    struct win *w = win_new(200, 50000);
    const struct pw_diag_problem *pb;

    for (unsigned t = 5; t <= 11; t++)
        add_ms(w, t, 35);
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_PROBLEM);
    CHECK_INT(w->d.nproblems, 1);
    pb = &w->d.problem[0];
    CHECK_INT(pb->kind, PW_DIAG_LATENCY);
    CHECK_INT(pb->from_hop, 5);
    CHECK(pb->has_latency);
    /* floors: p10 of floor + 0..200 µs jitter: within 0.05 ms of floor + 0.02 */
    CHECK_NEAR(pb->added_ms, 35 + 7.0 - 5.5, 0.05);
    CHECK_NEAR(pb->base_ms, 5.5, 0.05);
    CHECK_NEAR(pb->end_ms, 55.0, 0.05);
    CHECK(has(pb->text, "latency +36.5 ms from hop 5 (198.18.1.5, r5.sim.example) persisting to "
                        "the destination"));
    CHECK(find_note(&w->d, PW_DIAG_NOTE_ASYMMETRIC_RETURN, 11) == NULL);
    CHECK(pw_diag_fires(&w->d));
    free(w);
}

/* A step below the threshold is not a problem; relative threshold too. */
static void test_latency_thresholds(void)
{
    struct win *w = win_new(200, 50000);
    struct pw_diag_params p;

    for (unsigned t = 5; t <= 11; t++)
        add_ms(w, t, 12); /* step 13.5 < 15 */
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_CLEAN);
    pw_diag_params_default(&p);
    p.latency_step_ms = 13;
    CHECK_INT(pw_diag_analyse(&w->in, &p, &w->d), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_PROBLEM);
    CHECK_INT(w->d.problem[0].from_hop, 5);
    p.latency_step_rel = 3; /* 13.5 < 3 x 5.5 */
    CHECK_INT(pw_diag_analyse(&w->in, &p, &w->d), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_CLEAN);
    free(w);
}

static void test_slow_reply(void)
{
    struct win *w = win_new(200, 50000);
    const struct pw_diag_note *n;

    add_ms(w, 4, 34.5); /* hop 4 answers in 40 ms, hop 5 in 7 */
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_CLEAN);
    n = find_note(&w->d, PW_DIAG_NOTE_SLOW_REPLY_PATH, 4);
    CHECK(n != NULL);
    if (n) {
        CHECK_NEAR(n->hop_ms, 40.0, 0.05);
        CHECK_NEAR(n->ref_ms, 7.0, 0.05);
        CHECK(has(n->text, "hop 4 (198.18.1.4, r4.sim.example) answers in 40.0 ms but hop 5 "
                           "behind it in 7.0 ms: a slow reply path"));
    }
    free(w);
}

static void test_asymmetric_return(void)
{
    struct win *w = win_new(200, 50000);
    const struct pw_diag_note *n;

    add_ms(w, 11, 40);
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_PROBLEM);
    CHECK_INT(w->d.problem[0].kind, PW_DIAG_LATENCY);
    CHECK_INT(w->d.problem[0].from_hop, 11);
    n = find_note(&w->d, PW_DIAG_NOTE_ASYMMETRIC_RETURN, 11);
    CHECK(n != NULL);
    if (n)
        CHECK(has(n->text, "every hop before the destination answers within 18.5 ms but the "
                           "destination takes 60.0 ms (+41.5 ms)"));
    free(w);
}

static void test_dest_drops_probe_type(void)
{
    struct win *w = win_new(200, 50000);
    const struct pw_diag_note *n;

    /* UDP to a destination that drops it: the rows end at the last router. */
    w->in.nhops = 10;
    w->in.dest_reached = false;
    w->in.proto = PW_PROTO_UDP;
    CHECK_INT(analyse(w), 0);
    CHECK(!w->d.dest_reached);
    CHECK_INT(w->d.end_hop, 10);
    CHECK_INT(w->d.verdict, PW_DIAG_CLEAN);
    CHECK(has(w->d.summary, "hop 10 (the last hop that answers) lost 0.0 %"));
    n = find_note(&w->d, PW_DIAG_NOTE_DEST_DROPS_PROBE_TYPE, 0);
    CHECK(n != NULL);
    if (n)
        CHECK(has(n->text, "the destination 198.18.100.10 never answered udp probes while every "
                           "hop up to hop 10 (198.18.1.10, r10.sim.example) did: it (or a firewall "
                           "in front of it) drops udp probes; try icmp or tcp"));
    /* A persisting loss up to the last hop that answers: not "to the destination". */
    lose_from(w, 7, 30);
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_PROBLEM);
    CHECK(!w->d.problem[0].to_destination);
    CHECK(has(w->d.problem[0].text, "persisting to hop 10 (the last hop that answers)"));
    CHECK(!pw_diag_fires(&w->d));
    free(w);
}

static void test_route_unstable(void)
{
    struct win *w = win_new(400, 50000);
    const struct pw_diag_note *n;

    /* Four changes, the last at 8 s: the newest route has 240 samples of its own, enough for
     * a verdict, so only they are judged. */
    for (unsigned i = 0; i < 4; i++) {
        w->ch[i].time_us = T0 + (int64_t)(i + 1) * 2000000;
        w->ch[i].first_hop = 4;
        w->ch[i].hops = 0x38; /* TTLs 4-6 */
    }
    w->in.changes = w->ch;
    w->in.nchanges = 4;
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_CLEAN);
    n = find_note(&w->d, PW_DIAG_NOTE_ROUTE_UNSTABLE, 4);
    CHECK(n != NULL);
    CHECK(w->d.scoped_to_route);
    CHECK_INT(w->d.samples, 240);
    CHECK_INT(w->d.window_samples, 400);
    CHECK_INT(w->d.start_us, T0 + 8000000);
    if (n) {
        CHECK_INT(n->changes, 4);
        CHECK_INT(n->hops_mask, 0x38);
        CHECK_INT(n->since_us, T0 + 2000000);
        CHECK(has(n->text, "the route changed 4 times in 20 s (about every 5 s); hops 4-6 "
                           "change; only the 240 samples since the last change were judged"));
    }
    CHECK_INT(w->d.note[w->d.nnotes - 1].kind, PW_DIAG_NOTE_ROUTE_UNSTABLE);

    /* Flapping to the end: the newest route alone (40 samples) gives no verdict, so the
     * whole window is judged. */
    for (unsigned i = 0; i < 4; i++)
        w->ch[i].time_us = T0 + 14000000 + (int64_t)i * 2000000;
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_CLEAN);
    CHECK(!w->d.scoped_to_route);
    CHECK_INT(w->d.samples, 400);
    n = find_note(&w->d, PW_DIAG_NOTE_ROUTE_UNSTABLE, 4);
    CHECK(n != NULL);
    if (n)
        CHECK(has(n->text, "; the figures mix the routes"));

    /* One change, too few samples after it: route_changed, the whole window judged. */
    w->ch[0].time_us = T0 + 19500000;
    w->ch[0].hops = 0x8;
    w->in.nchanges = 1;
    CHECK_INT(analyse(w), 0);
    n = find_note(&w->d, PW_DIAG_NOTE_ROUTE_CHANGED, 4);
    CHECK(n != NULL);
    CHECK(!w->d.scoped_to_route);
    CHECK_INT(w->d.samples, 400);
    if (n)
        CHECK(has(n->text, "the route changed once; hop 4 changes; the figures mix the routes"));
    free(w);
}

/* ---- no verdict yet ---- */

static void test_insufficient(void)
{
    struct win *w = win_new(5, 50000);

    w->in.nsamples = 5;
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_INSUFFICIENT);
    /* Clean needs an upper bound under 3 %: 0 of 125 (2.98 %), not 0 of 124 (3.005 %). */
    CHECK_INT(w->d.need_samples, 120);
    CHECK(has(w->d.summary, "Not enough samples to tell yet (5 so far): need about 120 more "
                            "samples"));
    CHECK_INT(w->d.nproblems, 0);
    CHECK(!pw_diag_fires(&w->d));

    /* Enough for the minimum, not for a clean bound. */
    free(w);
    w = win_new(100, 50000);
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_INSUFFICIENT);
    CHECK_INT(w->d.need_samples, 25);
    free(w);
}

/* Loss between "significant" and "clean": undecided, with the count that would decide. */
static void test_insufficient_between(void)
{
    struct win *w = win_new(200, 50000);

    lose(w, 11, 2); /* 1 %: lower 0.27 %, upper 3.6 % */
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_INSUFFICIENT);
    CHECK(w->d.need_samples > 0);
    /* At the count it names (same proportion) the loss is decided one way or the other, and
     * one sample fewer it is not. */
    {
        uint32_t n = 200 + w->d.need_samples;
        double lo, hi;

        wilson_real(0.01 * n, n, &lo, &hi);
        CHECK(100 * lo > 0.5 || 100 * hi < 3.0);
        wilson_real(0.01 * (n - 1), n - 1, &lo, &hi);
        CHECK(!(100 * lo > 0.5 || 100 * hi < 3.0));
    }
    free(w);
}

/* The significance threshold decides between "problem" and "no verdict". */
static void test_loss_thresholds(void)
{
    struct win *w = win_new(200, 50000);
    struct pw_diag_params p;

    lose_from(w, 9, 3); /* 1.5 %: lower bound 0.511 % */
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_PROBLEM);
    CHECK_INT(w->d.problem[0].from_hop, 9);
    pw_diag_params_default(&p);
    p.loss_significant_pct = 0.52;
    CHECK_INT(pw_diag_analyse(&w->in, &p, &w->d), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_INSUFFICIENT);
    p.loss_clean_pct = 4.4; /* upper bound 4.32 % */
    CHECK_INT(pw_diag_analyse(&w->in, &p, &w->d), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_CLEAN);
    p.min_samples = 201;
    CHECK_INT(pw_diag_analyse(&w->in, &p, &w->d), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_INSUFFICIENT);
    CHECK_INT(w->d.need_samples, 1);
    free(w);
}

static void test_nothing_answers(void)
{
    struct win *w = win_new(50, 50000);

    w->in.nhops = 0;
    w->in.dest_reached = false;
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_INSUFFICIENT);
    CHECK_INT(w->d.end_hop, 0);
    CHECK(has(w->d.summary, "No hop answered any of 50 samples"));
    w->in.nhops = 65;
    CHECK_INT(analyse(w), -EINVAL);
    free(w);
}

/* ---- since when ---- */

static void test_since(void)
{
    struct win *w = win_new(400, 50000);

    /* Loss from hop 5 begins with sample 200: 25 % after, none before. */
    for (unsigned t = 5; t <= 11; t++)
        for (uint32_t i = 200; i < 400; i++)
            if (rnd() % 4 == 0)
                w->rtt[t - 1][i] = PW_RTT_LOST;
    CHECK_INT(analyse(w), 0);
    CHECK_INT(w->d.verdict, PW_DIAG_PROBLEM);
    CHECK_INT(w->d.problem[0].from_hop, 5);
    /* The first loss after the change is the best split; it is within a few samples. */
    CHECK(w->d.problem[0].since_us >= w->t[200] && w->d.problem[0].since_us <= w->t[212]);
    CHECK_INT(w->d.problem[0].until_us, w->t[399]);
    free(w);
}

/* ---- direct confirmation ---- */

static void test_confirm(void)
{
    struct win *w = win_new(400, 50000);
    unsigned idx[4];
    uint32_t count, iv;
    const struct pw_diag_note *n;

    for (uint32_t i = 0; i < w->n; i++)
        if (i % 4)
            w->rtt[3][i] = PW_RTT_LOST;
    lose(w, 2, 120); /* hop 2: 30 % at random */
    CHECK_INT(analyse(w), 0);
    CHECK_INT(pw_diag_confirm_candidates(&w->d, idx, 4), 2);

    /* hop 2: answers 70 %, 14 per second: ceil(log 0.05 / log 0.7) = 9 probes, 1/7 s apart */
    CHECK_INT(w->d.note[idx[0]].hop, 2);
    CHECK(has(w->d.note[idx[0]].text, "(30.0 % lost), the destination loses nothing: "));
    pw_diag_confirm_plan(&w->d, idx[0], &count, &iv);
    CHECK_INT(count, 9);
    CHECK_INT(iv, 143);
    pw_diag_confirm(&w->d, idx[0], 9, 6, iv);
    n = &w->d.note[idx[0]];
    CHECK_INT(n->kind, PW_DIAG_NOTE_ICMP_DEPRIORITISED);
    CHECK(n->direct && n->direct_sent == 9 && n->direct_answered == 6);
    CHECK(has(n->text, "Probing 198.18.1.2 directly at one echo per 0.14 s: 6 of 9 answered, "
                       "about as often as during the trace"));

    /* hop 4: answers 25 % at 5/s: 3 probes, 0.4 s apart; all answered confirms the limit */
    CHECK_INT(w->d.note[idx[1]].hop, 4);
    pw_diag_confirm_plan(&w->d, idx[1], &count, &iv);
    CHECK_INT(count, 3);
    CHECK_INT(iv, 399);
    w->d.note[idx[1]].kind = PW_DIAG_NOTE_ICMP_DEPRIORITISED; /* as if the pattern had not shown */
    pw_diag_confirm(&w->d, idx[1], 3, 3, 400);
    n = &w->d.note[idx[1]];
    CHECK_INT(n->kind, PW_DIAG_NOTE_RATE_LIMITED);
    CHECK(has(n->text, "3 of 3 answered, far more than during the trace, so it limits the rate "
                       "of its ICMP answers"));
    CHECK_INT(pw_diag_confirm_candidates(&w->d, idx, 4), 0); /* each is probed once */

    /* A hop that does not answer echo requests at all. */
    CHECK_INT(analyse(w), 0);
    pw_diag_confirm_candidates(&w->d, idx, 4);
    pw_diag_confirm(&w->d, idx[0], 5, 0, 200);
    CHECK(has(w->d.note[idx[0]].text, "none of 5 echo requests answered"));
    free(w);
}

/* ---- JSON ---- */

static void test_json(void)
{
    struct win *w = win_new(200, 50000);
    cJSON *j, *pb, *notes, *ci;

    lose_from(w, 5, 16);
    lose(w, 2, 60);
    CHECK_INT(analyse(w), 0);
    j = pw_diag_json(&w->d);
    CHECK(j != NULL);
    if (!j) {
        free(w);
        return;
    }
    CHECK_STR(cJSON_GetObjectItem(j, "verdict")->valuestring, "problem");
    pb = cJSON_GetObjectItem(j, "problem");
    CHECK_STR(cJSON_GetObjectItem(pb, "kind")->valuestring, "loss");
    CHECK_INT(cJSON_GetObjectItem(pb, "from_hop")->valueint, 5);
    CHECK_STR(cJSON_GetObjectItem(pb, "ip")->valuestring, "198.18.1.5");
    CHECK_STR(cJSON_GetObjectItem(pb, "dns")->valuestring, "r5.sim.example");
    CHECK_NEAR(cJSON_GetObjectItem(pb, "loss_pct")->valuedouble, 8.0, 1e-9);
    ci = cJSON_GetObjectItem(pb, "loss_ci");
    CHECK_INT(cJSON_GetArraySize(ci), 2);
    CHECK_NEAR(cJSON_GetArrayItem(ci, 0)->valuedouble, 4.98, 1e-9);
    CHECK_NEAR(cJSON_GetArrayItem(ci, 1)->valuedouble, 12.6, 1e-9);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(pb, "added_ms")));
    CHECK_STR(cJSON_GetObjectItem(pb, "since")->valuestring, "2023-11-14T22:13:20.000Z");
    notes = cJSON_GetObjectItem(j, "notes");
    CHECK_INT(cJSON_GetArraySize(notes), 1);
    CHECK_INT(cJSON_GetObjectItem(cJSON_GetArrayItem(notes, 0), "hop")->valueint, 2);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(notes, 0), "kind")->valuestring,
              "icmp_deprioritised");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "need_samples")));
    cJSON_Delete(j);

    for (int k = 0; k <= PW_DIAG_NOTE_ROUTE_CHANGED; k++)
        CHECK(pw_diag_note_name((enum pw_diag_note_kind)k)[0] != '\0');
    CHECK_STR(pw_diag_note_name(PW_DIAG_NOTE_DEST_DROPS_PROBE_TYPE), "dest_drops_probe_type");
    CHECK_STR(pw_diag_verdict_name(PW_DIAG_INSUFFICIENT), "insufficient_data");
    CHECK_STR(pw_diag_kind_name(PW_DIAG_LATENCY), "latency");
    free(w);
}

/* ---- adapters ---- */

/* Samples for the accumulator: 11 hops, hop 5.. lose every 12th sample (8.3 %). */
static void acc_sample(uint64_t seq, struct pw_sample *s, struct pw_hop_result *h, const char *hop4)
{
    char ip[32];

    memset(s, 0, sizeof(*s));
    memset(h, 0, sizeof(*h) * 11);
    for (unsigned i = 0; i < 11; i++) {
        h[i].ttl = (uint8_t)(i + 1);
        h[i].answered = !(i >= 4 && (seq + i) % 12 == 0);
        h[i].rtt_us = (uint32_t)(plain_ms[i] * 1000) + (uint32_t)(seq % 7) * 10;
        if (i == 3 && hop4)
            snprintf(ip, sizeof(ip), "%s", hop4);
        else if (i < 10)
            snprintf(ip, sizeof(ip), "198.18.1.%u", i + 1);
        else
            snprintf(ip, sizeof(ip), "198.18.100.10");
        pw_addr_parse(ip, &h[i].from);
        h[i].reached = i == 10;
    }
    s->seq = seq;
    s->start_ns = (T0 + (int64_t)seq * 50000) * 1000;
    s->nhops = 11;
    s->reached = h[10].answered;
    s->hop = h;
}

static void test_from_acc(void)
{
    struct pw_report_acc *acc = pw_report_acc_new(30, 300);
    struct pw_report *r = calloc(1, sizeof(*r));
    struct pw_diagnosis *d = calloc(1, sizeof(*d));
    struct pw_hop_result h[11];
    const struct pw_diag_note *n;
    struct pw_sample s;

    for (uint64_t k = 0; k < 240; k++) {
        /* hop 4 flaps between two routers every 40 samples */
        acc_sample(k, &s, h, (k / 40) % 2 ? "198.18.3.4" : NULL);
        pw_report_acc_add(acc, &s);
    }
    pw_report_acc_finish(acc, 0, r);
    pw_addr_parse("198.18.100.10", &r->ip);
    r->proto = PW_PROTO_ICMP;
    CHECK_INT(pw_report_acc_kept(acc), 240);
    CHECK_INT(pw_report_acc_time_us(acc, 0), T0);
    CHECK_INT(pw_diag_from_acc(acc, r, NULL, d), 0);
    CHECK_INT(d->verdict, PW_DIAG_PROBLEM);
    CHECK_INT(d->problem[0].from_hop, 5);
    CHECK(d->dest_reached);
    /* five changes (at 40, 80, ... 200), confirmed after 3 samples each */
    n = find_note(d, PW_DIAG_NOTE_ROUTE_UNSTABLE, 4);
    CHECK(n != NULL);
    if (n) {
        CHECK_INT(n->changes, 5);
        CHECK_INT(n->hops_mask, 0x8);
        CHECK_INT(n->since_us, T0 + 40 * 50000);
    }
    CHECK(d->scoped_to_route);
    CHECK_INT(d->samples, 40);
    pw_report_acc_free(acc);
    free(r);
    free(d);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A store with one target: 300 samples a second apart on route 1 until 100 s, then route 2
 * (hop 4 differs); from hop 5 every tenth probe is lost. */
struct fixture {
    char dir[32];
    struct pw_store *st;
    struct pw_store_target t;
};

static bool fixture_open(struct fixture *f, const char *label, const char *hop5_name)
{
    struct pw_store_opts o = {0};
    struct pw_store_route route = {0}, route2;
    struct pw_store_route_change rc = {0};
    uint32_t rid, rid2;
    char err[256];

    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pw_diag_test.XXXXXX");
    if (!mkdtemp(f->dir))
        return false;
    o.path = f->dir;
    f->st = pw_store_open(&o, err, sizeof(err));
    if (!f->st)
        return false;
    snprintf(f->t.host, sizeof(f->t.host), "198.18.100.10");
    snprintf(f->t.label, sizeof(f->t.label), "%s", label);
    pw_trace_opts_default(&f->t.opts);
    pw_addr_parse("198.18.100.10", &f->t.addr);
    CHECK_INT(pw_store_target_add(f->st, &f->t), 0);
    route.nhops = 11;
    for (unsigned i = 0; i < 10; i++) {
        char ip[32];

        snprintf(ip, sizeof(ip), "198.18.1.%u", i + 1);
        pw_addr_parse(ip, &route.hop[i]);
    }
    pw_addr_parse("198.18.100.10", &route.hop[10]);
    route2 = route;
    pw_addr_parse("198.18.3.4", &route2.hop[3]);
    CHECK_INT(pw_store_route_intern(f->st, &route, &rid), 0);
    CHECK_INT(pw_store_route_intern(f->st, &route2, &rid2), 0);
    CHECK_INT(pw_store_dns_put(f->st, &route.hop[4], hop5_name, T0), 0);
    for (uint32_t k = 0; k < 300; k++) {
        struct pw_store_sample smp = {0};

        smp.time_us = T0 + (int64_t)k * 1000000;
        smp.route_id = k < 100 ? rid : rid2;
        smp.nhops = 11;
        smp.reached = true;
        for (unsigned i = 0; i < 11; i++)
            smp.rtt_us[i] =
                (i >= 4 && (k + i) % 10 == 0) ? PW_RTT_LOST : (int32_t)(plain_ms[i] * 1000);
        CHECK_INT(pw_store_add_sample(f->st, f->t.id, &smp), 0);
    }
    CHECK_INT(pw_store_flush(f->st), 0);
    rc.target_id = f->t.id;
    rc.time_us = T0 + 100 * 1000000LL;
    rc.old_route = rid;
    rc.new_route = rid2;
    rc.first_hop = 4;
    CHECK_INT(pw_store_route_change_add(f->st, &rc), 0);
    return true;
}

static void fixture_close(struct fixture *f)
{
    pw_store_close(f->st);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_from_store(void)
{
    struct pw_diagnosis *d = calloc(1, sizeof(*d));
    const struct pw_diag_note *n;
    struct fixture f;

    if (!fixture_open(&f, "lab", "core1.sim.example")) {
        CHECK(0);
        free(d);
        return;
    }
    CHECK_INT(pw_diag_from_store(f.st, f.t.id, T0, T0 + 300 * 1000000LL, 0, NULL, d), 0);
    CHECK_INT(d->verdict, PW_DIAG_PROBLEM);
    CHECK_INT(d->problem[0].from_hop, 5);
    CHECK_STR(d->problem[0].dns, "core1.sim.example");
    CHECK_NEAR(d->problem[0].loss_pct, 10.0, 1e-9);
    CHECK(d->scoped_to_route);
    CHECK_INT(d->samples, 200);
    CHECK_INT(d->window_samples, 300);
    n = find_note(d, PW_DIAG_NOTE_ROUTE_CHANGED, 4);
    CHECK(n != NULL);
    if (n)
        CHECK_INT(n->hops_mask, 0x8);

    /* The newest 50 only; an empty range; a past moment before the change. */
    CHECK_INT(pw_diag_from_store(f.st, f.t.id, T0, T0 + 300 * 1000000LL, 50, NULL, d), 0);
    CHECK_INT(d->window_samples, 50);
    CHECK_INT(pw_diag_from_store(f.st, f.t.id, T0 - 10000000, T0, 0, NULL, d), 0);
    CHECK_INT(d->verdict, PW_DIAG_INSUFFICIENT);
    CHECK_INT(d->window_samples, 0);
    CHECK_INT(pw_diag_from_store(f.st, f.t.id, T0, T0 + 100 * 1000000LL, 0, NULL, d), 0);
    CHECK_INT(d->window_samples, 100);
    CHECK(find_note(d, PW_DIAG_NOTE_ROUTE_CHANGED, 4) == NULL);
    CHECK_INT(pw_diag_from_store(f.st, 999, T0, T0 + 1, 0, NULL, d), -ENOENT);
    CHECK_INT(pw_diag_from_store(f.st, f.t.id, T0, T0, 0, NULL, d), PW_E_RANGE);

    /* The alert metric. */
    CHECK_INT(pw_diag_check_target(f.st, f.t.id, T0 + 300 * 1000000LL, 300 * 1000000LL, d), 1);
    CHECK_INT(pw_diag_check_target(f.st, f.t.id, T0 + 300 * 1000000LL, 300 * 1000000LL, NULL), 1);
    CHECK_INT(pw_diag_check_target(f.st, f.t.id, T0, 50 * 1000000LL, NULL), 0); /* no samples */
    fixture_close(&f);
    free(d);
}

/* True when some tag of html (every '<' starts one: text has them escaped) has attribute
 * name. */
static bool tag_attr(const char *html, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = strchr(html, '<'); p; p = strchr(p + 1, '<')) {
        const char *end = strchr(p, '>');

        for (const char *q = p + 1; end && q + n < end; q++)
            if ((q[-1] == ' ' || q[-1] == '\n') && strncmp(q, name, n) == 0 && q[n] == '=')
                return true;
    }
    return false;
}

/* The evidence report: self-contained, every outside string escaped, the figures in it. */
static void test_evidence_html(void)
{
    static const char label[] = "<img src=x onerror=alert(1)>\"'&\x01\xff";
    struct pw_evidence_opts o = {0};
    struct pw_diagnosis *d = calloc(1, sizeof(*d));
    char *html = NULL;
    size_t len = 0;
    struct fixture f;

    if (!fixture_open(&f, label, "<script>x</script>.example")) {
        CHECK(0);
        free(d);
        return;
    }
    o.start_us = T0;
    o.end_us = T0 + 300 * 1000000LL;
    o.now_us = T0 + 301 * 1000000LL;
    o.generator = "PingWatcher <test>";
    CHECK_INT(pw_evidence_html(f.st, f.t.id, &o, &html, &len, d), 0);
    CHECK(html != NULL && len == strlen(html));
    if (html) {
        CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
        CHECK(has(html, "content=\"default-src 'none'; style-src 'unsafe-inline';"));
        CHECK(!strstr(html, "<img") && !strstr(html, "<script") && !strstr(html, "url("));
        CHECK(!tag_attr(html, "src") && !tag_attr(html, "href") && !tag_attr(html, "action"));
        /* the control byte and the invalid UTF-8 both become U+FFFD */
        CHECK(has(html, "&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;&#xfffd;&#xfffd;"));
        CHECK(has(html, "&lt;script&gt;x&lt;/script&gt;.example"));
        CHECK(has(html, "PingWatcher &lt;test&gt;"));
        CHECK(has(html, "pw-verdict-problem"));
        CHECK(has(html, "starting at hop 5 (198.18.1.5, &lt;script&gt;"));
        CHECK(has(html, "<td>5</td><td>198.18.1.5</td>"));
        CHECK(has(html, "1 change."));
        CHECK(has(html, "<mark>198.18.1.4</mark>"));
        {
            size_t charts = 0;

            for (const char *p = html; (p = strstr(p, "<figure class=\"pw-chart\"")); p++)
                charts++;
            CHECK_INT(charts, 11);
        }
        /* 30 of 300 lost at hop 5: the table row and its interval */
        CHECK(has(html, "<td>300</td><td>30</td><td>10.0</td><td>7.1&#x2013;13.9</td>"));
    }
    CHECK_INT(d->verdict, PW_DIAG_PROBLEM);
    free(html);

    /* A range without samples: a report that says so. */
    o.start_us = T0 - 100 * 1000000LL;
    o.end_us = T0;
    CHECK_INT(pw_evidence_html(f.st, f.t.id, &o, &html, &len, NULL), 0);
    if (html) {
        CHECK(has(html, "No hop answered in this period."));
        CHECK(has(html, "pw-verdict-insufficient_data"));
    }
    free(html);
    CHECK_INT(pw_evidence_html(f.st, 999, &o, &html, &len, NULL), -ENOENT);
    CHECK(html == NULL);

    /* The fragment alone. */
    CHECK_INT(pw_evidence_diag_html(d, &html, &len), 0);
    if (html)
        CHECK(strncmp(html, "<section class=\"pw-diagnosis pw-verdict-problem\"", 48) == 0);
    free(html);
    fixture_close(&f);
    free(d);
}

int main(void)
{
    RUN(test_wilson_exact);
    RUN(test_params_default);
    RUN(test_clean);
    RUN(test_persisting_loss);
    RUN(test_loss_behind_deprioritised_hop);
    RUN(test_loss_silent_hop);
    RUN(test_loss_at_destination_only);
    RUN(test_loss_uncertain_start);
    RUN(test_deprioritised);
    RUN(test_rate_limited);
    RUN(test_latency_step);
    RUN(test_latency_thresholds);
    RUN(test_slow_reply);
    RUN(test_asymmetric_return);
    RUN(test_dest_drops_probe_type);
    RUN(test_route_unstable);
    RUN(test_insufficient);
    RUN(test_insufficient_between);
    RUN(test_loss_thresholds);
    RUN(test_nothing_answers);
    RUN(test_since);
    RUN(test_confirm);
    RUN(test_json);
    RUN(test_from_acc);
    RUN(test_from_store);
    RUN(test_evidence_html);
    return check_exit();
}
