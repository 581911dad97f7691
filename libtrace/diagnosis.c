/* PingWatcher — path diagnosis: the pure core, its texts and its JSON (see diagnosis.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diagnosis.h"
#include "stats.h"

/* Largest sample count need_samples is searched to: beyond it "more samples" is no advice. */
#define NEED_MAX 1000000u
/* A change point must explain the series this much better than one rate (2 x log-likelihood
 * ratio; about p < 0.0002 for one split, which leaves room for trying every split). */
#define CHANGE_LLR_MIN 15.0
#define CHANGE_SEG_MIN 5
/* A silent hop needs this many unanswered probes before it gets a note. */
#define SILENT_MIN 10
/* Rate-limit pattern: bins of one second with at least this many probes, and this many bins. */
#define BIN_PROBES_MIN 3
#define BINS_MIN 10

void pw_diag_params_default(struct pw_diag_params *p)
{
    p->z = 1.96;
    p->min_samples = 20;
    p->loss_significant_pct = 0.5;
    p->loss_clean_pct = 3.0;
    p->latency_pctile = 10.0;
    p->min_latency_samples = 10;
    p->latency_step_ms = 15.0;
    p->latency_step_rel = 0.5;
    p->slow_reply_ms = 10.0;
    p->rate_limit_dispersion = 0.1;
}

/* Wilson score interval for real-valued counts (need_samples scales counts by a factor). */
static void wilson_d(double k, double n, double z, double *lo, double *hi)
{
    double p, z2, den, centre, half;

    if (n <= 0) {
        *lo = *hi = 0;
        return;
    }
    p = k / n;
    z2 = z * z;
    den = 1 + z2 / n;
    centre = (p + z2 / (2 * n)) / den;
    half = z / den * sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    *lo = centre - half;
    *hi = centre + half;
    /* Rounding can leave -1e-17 or 1 + 1e-16 at the ends. */
    if (*lo < 0 || k <= 0)
        *lo = 0;
    if (*hi > 1 || k >= n)
        *hi = 1;
}

void pw_diag_wilson(uint32_t lost, uint32_t n, double z, double *lo, double *hi)
{
    wilson_d(lost, n, z, lo, hi);
}

/* ---- per-hop figures ---- */

struct hstat {
    uint32_t n, lost, answered;
    double loss, lo, hi; /* fractions */
    bool has_floor;
    double floor_ms;
    bool has_carried;
    double carried_ms; /* lowest floor of this hop and every later one */
};

/* The k-th smallest (0-based) of v[0..n), reordering v (quickselect: a floor per hop is
 * needed for every row, a full sort is not). */
static int32_t kth_smallest(int32_t *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;

    while (lo < hi) {
        int32_t pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;

        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                int32_t t = v[i];

                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

static void hop_stats(const struct pw_diag_hop *h, uint32_t first, uint32_t n,
                      const struct pw_diag_params *p, int32_t *scratch, struct hstat *st)
{
    size_t m = 0;

    memset(st, 0, sizeof(*st));
    for (uint32_t i = first; i < n; i++) {
        int32_t v = h->rtt_us[i];

        if (v == PW_DIAG_RTT_SKIP)
            continue;
        st->n++;
        if (v < 0) {
            st->lost++;
            continue;
        }
        scratch[m++] = v;
    }
    st->answered = (uint32_t)m;
    st->loss = st->n ? (double)st->lost / st->n : 0;
    wilson_d(st->lost, st->n, p->z, &st->lo, &st->hi);
    if (m >= p->min_latency_samples && m > 0) {
        /* Nearest rank: the ceil(q * m)-th smallest, as the store's timeline percentiles. */
        size_t rank = (size_t)ceil(p->latency_pctile / 100.0 * (double)m);

        if (rank < 1)
            rank = 1;
        if (rank > m)
            rank = m;
        st->has_floor = true;
        st->floor_ms = kth_smallest(scratch, m, rank - 1) / 1000.0;
    }
}

/* ---- change points: since when does a series show what it shows now ---- */

static double ll(double k, double n)
{
    double r = 0;

    if (k > 0)
        r += k * log(k / n);
    if (n - k > 0)
        r += (n - k) * log((n - k) / n);
    return r;
}

/* x[0..m): 1 where a sample shows the condition. Returns the index where a clearly higher
 * rate begins, or 0 when the series is one rate throughout. */
static size_t change_point(const uint8_t *x, size_t m)
{
    size_t total = 0, ones = 0, best_i = 0;
    double base, best = CHANGE_LLR_MIN;

    for (size_t i = 0; i < m; i++)
        total += x[i];
    if (m < 2 * CHANGE_SEG_MIN)
        return 0;
    base = ll((double)total, (double)m);
    for (size_t i = 0; i < m; i++) {
        if (i >= CHANGE_SEG_MIN && m - i >= CHANGE_SEG_MIN) {
            double k1 = (double)ones, n1 = (double)i;
            double k2 = (double)(total - ones), n2 = (double)(m - i);
            double stat = 2 * (ll(k1, n1) + ll(k2, n2) - base);

            if (k2 / n2 > k1 / n1 && stat > best) {
                best = stat;
                best_i = i;
            }
        }
        ones += x[i];
    }
    return best_i;
}

enum series_kind {
    SERIES_LOST,  /* the probe was lost */
    SERIES_ABOVE, /* the probe was answered in at least thr_us */
};

/* The time from which row h shows the condition over samples [first, n). */
static int64_t since_of(const struct pw_diag_input *in, const struct pw_diag_hop *h, uint32_t first,
                        enum series_kind kind, int32_t thr_us, uint8_t *x, uint32_t *idx)
{
    size_t m = 0, at;

    if (!in->time_us)
        return 0;
    for (uint32_t i = first; i < in->nsamples; i++) {
        int32_t v = h->rtt_us[i];

        if (v == PW_DIAG_RTT_SKIP)
            continue;
        if (kind == SERIES_ABOVE && v < 0)
            continue;
        x[m] = kind == SERIES_LOST ? v < 0 : v >= thr_us;
        idx[m++] = i;
    }
    if (m == 0)
        return in->time_us[first];
    at = change_point(x, m);
    return in->time_us[at ? idx[at] : first];
}

/* ---- rate-limit pattern ---- */

/* Dispersion of answers per one-second bin against a binomial's (about 1 for random drops,
 * near 0 for a token bucket answering a fixed number per second), and answers per second.
 * The bin that deviates most is left out: a bucket starts full, so its first second answers
 * a burst. *disp < 0 when there are too few bins to tell. Needs in->time_us. */
static void answer_pattern(const struct pw_diag_input *in, const struct pw_diag_hop *h,
                           uint32_t first, double *disp, double *rate)
{
    double sum_m = 0, sum_a = 0, num = 0, den = 0, q = 0, span, worst = 0, worst_den = 0;
    uint32_t bins = 0, answered = 0;

    *disp = -1;
    /* Two passes: the answer fraction q over the bins used, then the squared residuals. */
    for (int pass = 0; pass < 2; pass++) {
        int64_t bin = -1;
        uint32_t m = 0, a = 0;

        for (uint32_t i = first; i <= in->nsamples; i++) {
            bool end = i == in->nsamples;
            int64_t b = 0;
            int32_t v = 0;

            if (!end) {
                v = h->rtt_us[i];
                if (v == PW_DIAG_RTT_SKIP)
                    continue;
                b = (in->time_us[i] - in->time_us[first]) / 1000000;
            }
            if (end || b != bin) {
                if (bin >= 0 && m >= BIN_PROBES_MIN) {
                    if (pass == 0) {
                        sum_m += m;
                        sum_a += a;
                        bins++;
                    } else {
                        double r = (a - m * q) * (a - m * q);

                        num += r;
                        den += m * q * (1 - q);
                        if (r > worst) {
                            worst = r;
                            worst_den = m * q * (1 - q);
                        }
                    }
                }
                if (end)
                    break;
                bin = b;
                m = a = 0;
            }
            m++;
            a += v >= 0;
            if (pass == 0)
                answered += v >= 0;
        }
        if (pass == 0) {
            if (bins < BINS_MIN || sum_a <= 0 || sum_a >= sum_m)
                break;
            q = sum_a / sum_m;
        }
    }
    if (bins >= BINS_MIN && den - worst_den > 0)
        *disp = (num - worst) / (den - worst_den);
    span = (double)(in->time_us[in->nsamples - 1] - in->time_us[first]) / 1e6;
    *rate = span > 0 ? answered / span : -1;
}

/* ---- text ---- */

struct text {
    char *buf;
    size_t len, cap;
};

static void tprintf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tprintf(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->len + 1 >= t->cap)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    t->len += (size_t)n;
    if (t->len >= t->cap)
        t->len = t->cap - 1;
}

/* "hop 7 (198.18.3.1, core1.example)" */
static void describe_hop(struct text *t, uint8_t ttl, const struct pw_addr *a, const char *dns)
{
    char ip[PW_ADDR_STRLEN];
    bool name = dns[0] && strcmp(dns, PW_DNS_NONE) != 0;

    if (!a->family) {
        tprintf(t, "hop %u (no answer)", ttl);
        return;
    }
    pw_addr_format(a, ip, sizeof(ip));
    if (name)
        tprintf(t, "hop %u (%s, %s)", ttl, ip, dns);
    else
        tprintf(t, "hop %u (%s)", ttl, ip);
}

/* "4-6, 9" */
static void describe_mask(struct text *t, uint64_t mask)
{
    bool any = false;

    for (unsigned ttl = 1; ttl <= 64; ttl++) {
        unsigned end = ttl;

        if (!(mask >> (ttl - 1) & 1))
            continue;
        while (end < 64 && (mask >> end & 1))
            end++;
        tprintf(t, "%s%u", any ? ", " : "", ttl);
        if (end > ttl)
            tprintf(t, "-%u", end);
        any = true;
        ttl = end;
    }
}

static void describe_end(struct text *t, const struct pw_diagnosis *d, const struct pw_diag_hop *e)
{
    if (d->dest_reached)
        tprintf(t, "the destination");
    else
        tprintf(t, "hop %u (the last hop that answers)", e->ttl);
}

static void describe_span(struct text *t, double s)
{
    if (s < 120)
        tprintf(t, "%.0f s", s);
    else if (s < 7200)
        tprintf(t, "%.0f min", s / 60);
    else if (s < 172800)
        tprintf(t, "%.1f h", s / 3600);
    else
        tprintf(t, "%.1f days", s / 86400);
}

/* ---- the core ---- */

struct ctx {
    const struct pw_diag_input *in;
    const struct pw_diag_params *p;
    struct pw_diagnosis *d;
    struct hstat st[PW_TRACE_MAX_HOPS];
    uint32_t first;
    int32_t *scratch;
    uint8_t *x;
    uint32_t *idx;
};

static struct pw_diag_note *note_add(struct ctx *c, enum pw_diag_note_kind kind, int row)
{
    struct pw_diag_note *n;

    if (c->d->nnotes >= PW_DIAG_MAX_NOTES)
        return NULL;
    n = &c->d->note[c->d->nnotes++];
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->dispersion = -1;
    n->answer_rate = -1;
    n->until_us = c->d->end_us;
    n->since_us = c->d->start_us;
    if (row >= 0) {
        const struct pw_diag_hop *h = &c->in->hop[row];
        const struct hstat *s = &c->st[row];

        n->hop = h->ttl;
        n->addr = h->addr;
        snprintf(n->dns, sizeof(n->dns), "%s", h->dns);
        n->sent = s->n;
        n->lost = s->lost;
        n->loss_pct = 100 * s->loss;
        n->loss_lo_pct = 100 * s->lo;
        n->loss_hi_pct = 100 * s->hi;
    }
    return n;
}

/* Smallest sample count n' >= n at which, with the proportions seen, `decided` holds; 0 when
 * not within NEED_MAX. */
static uint32_t need_search(bool (*decided)(const struct ctx *c, double f, const void *arg),
                            const struct ctx *c, const void *arg, uint32_t n)
{
    double lo = 1, hi = 1;

    if (n == 0)
        return 0;
    if (decided(c, 1, arg))
        return n;
    while (!decided(c, hi, arg)) {
        lo = hi;
        hi *= 2;
        if (hi * n > NEED_MAX)
            return 0;
    }
    /* Bisect on whole sample counts. */
    {
        uint32_t a = (uint32_t)ceil(lo * n), b = (uint32_t)ceil(hi * n);

        while (a + 1 < b) {
            uint32_t mid = a + (b - a) / 2;

            if (decided(c, (double)mid / n, arg))
                b = mid;
            else
                a = mid;
        }
        return b;
    }
}

static bool loss_decided(const struct ctx *c, double f, const void *arg)
{
    const struct hstat *e = arg;
    double lo, hi;

    wilson_d(e->lost * f, e->n * f, c->p->z, &lo, &hi);
    return 100 * lo > c->p->loss_significant_pct || 100 * hi < c->p->loss_clean_pct;
}

struct pair {
    const struct hstat *b, *e;
};

static bool boundary_decided(const struct ctx *c, double f, const void *arg)
{
    const struct pair *pr = arg;
    double blo, bhi, elo, ehi;

    wilson_d(pr->b->lost * f, pr->b->n * f, c->p->z, &blo, &bhi);
    wilson_d(pr->e->lost * f, pr->e->n * f, c->p->z, &elo, &ehi);
    return bhi < elo;
}

static bool is_silent(const struct hstat *s)
{
    return s->n > 0 && s->answered == 0;
}

/* The loss problem, when the path end's loss is significant. */
static void judge_loss(struct ctx *c, int e)
{
    const struct hstat *se = &c->st[e];
    struct pw_diag_problem *pb = &c->d->problem[c->d->nproblems++];
    int start = e, boundary = -1, trimmed = -1;
    struct text t = {pb->text, 0, sizeof(pb->text)};

    for (int i = e - 1; i >= 0; i--) {
        const struct hstat *s = &c->st[i];

        if (s->n == 0 || is_silent(s))
            continue; /* says nothing about forwarding */
        if (s->lost > 0 && !(s->hi < se->lo)) {
            start = i;
            continue;
        }
        boundary = i;
        break;
    }
    /* A hop at the run's start losing significantly more than the path end drops its own ICMP
     * answers: the loss that persists is seen from the next hop on. */
    while (start < e && c->st[start].lo > se->hi) {
        trimmed = start;
        do {
            start++;
        } while (start < e && (c->st[start].n == 0 || is_silent(&c->st[start])));
    }

    memset(pb, 0, sizeof(*pb));
    pb->text[0] = '\0';
    pb->kind = PW_DIAG_LOSS;
    pb->from_hop = c->in->hop[start].ttl;
    pb->addr = c->in->hop[start].addr;
    snprintf(pb->dns, sizeof(pb->dns), "%s", c->in->hop[start].dns);
    pb->end_hop = c->in->hop[e].ttl;
    pb->to_destination = c->d->dest_reached;
    pb->sent = se->n;
    pb->lost = se->lost;
    pb->loss_pct = 100 * se->loss;
    pb->loss_lo_pct = 100 * se->lo;
    pb->loss_hi_pct = 100 * se->hi;
    pb->certain = true;
    if (boundary >= 0 && !(c->st[boundary].hi < se->lo)) {
        struct pair pr = {&c->st[boundary], se};
        uint32_t need = need_search(boundary_decided, c, &pr, se->n);

        pb->certain = false;
        pb->need_samples = need > se->n ? need - se->n : 0;
    }
    pb->since_us = since_of(c->in, &c->in->hop[e], c->first, SERIES_LOST, 0, c->x, c->idx);
    pb->until_us = c->d->end_us;

    tprintf(&t, "packet loss of %.1f %% (±%.1f %%) ", pb->loss_pct,
            (pb->loss_hi_pct - pb->loss_lo_pct) / 2);
    if (start == e && e == 0 && pb->end_hop > 1) {
        tprintf(&t,
                "at the destination (hop %u; only the final hop is probed, so where it "
                "starts is unknown)",
                pb->end_hop);
    } else if (start == e) {
        tprintf(&t, "only at %s", c->d->dest_reached ? "the destination, " : "");
        describe_hop(&t, pb->end_hop, &pb->addr, pb->dns);
        tprintf(&t,
                "%s: the hops before it answer, so %s itself (or its ICMP policy) drops the "
                "probes or its answers",
                c->d->dest_reached ? "" : ", the last hop that answers",
                c->d->dest_reached ? "the destination" : "that hop");
    } else {
        tprintf(&t, "starting at ");
        describe_hop(&t, pb->from_hop, &pb->addr, pb->dns);
        tprintf(&t, " and persisting to ");
        describe_end(&t, c->d, &c->in->hop[e]);
    }
    if (trimmed >= 0)
        tprintf(&t,
                " (hop %u loses more but drops its own ICMP answers, so the loss may start "
                "there)",
                c->in->hop[trimmed].ttl);
    if (!pb->certain) {
        tprintf(&t, " (hop %u may share it", c->in->hop[boundary].ttl);
        if (pb->need_samples)
            tprintf(&t, ": about %u more samples would tell)", pb->need_samples);
        else
            tprintf(&t, ")");
    }
}

/* The latency problem: the first step of the carried floor that is large enough. Returns the
 * row it starts at, or -1. */
static int judge_latency(struct ctx *c, int e)
{
    double prev = 0, carried = INFINITY;
    int prev_row = -1;

    for (int i = e; i >= 0; i--) {
        if (c->st[i].has_floor && c->st[i].floor_ms < carried)
            carried = c->st[i].floor_ms;
        if (c->st[i].has_floor) {
            c->st[i].has_carried = true;
            c->st[i].carried_ms = carried;
        }
    }
    for (int i = 0; i <= e; i++) {
        struct hstat *s = &c->st[i];
        double step;

        if (!s->has_carried)
            continue;
        step = s->carried_ms - prev;
        if (step >= c->p->latency_step_ms && step >= c->p->latency_step_rel * prev) {
            struct pw_diag_problem *pb = &c->d->problem[c->d->nproblems++];
            struct text t = {pb->text, 0, sizeof(pb->text)};
            const struct hstat *se = &c->st[e];

            memset(pb, 0, sizeof(*pb));
            pb->kind = PW_DIAG_LATENCY;
            pb->from_hop = c->in->hop[i].ttl;
            pb->addr = c->in->hop[i].addr;
            snprintf(pb->dns, sizeof(pb->dns), "%s", c->in->hop[i].dns);
            pb->end_hop = c->in->hop[e].ttl;
            pb->to_destination = c->d->dest_reached;
            pb->certain = true;
            pb->sent = se->n;
            pb->lost = se->lost;
            pb->loss_pct = 100 * se->loss;
            pb->loss_lo_pct = 100 * se->lo;
            pb->loss_hi_pct = 100 * se->hi;
            pb->has_latency = true;
            pb->base_ms = prev;
            pb->end_ms = se->floor_ms;
            pb->added_ms = step;
            pb->since_us = since_of(c->in, &c->in->hop[e], c->first, SERIES_ABOVE,
                                    (int32_t)((prev + step / 2) * 1000), c->x, c->idx);
            pb->until_us = c->d->end_us;
            tprintf(&t, "latency +%.1f ms from ", step);
            describe_hop(&t, pb->from_hop, &pb->addr, pb->dns);
            tprintf(&t, " persisting to ");
            describe_end(&t, c->d, &c->in->hop[e]);
            if (prev_row >= 0)
                tprintf(&t, " (%.1f ms up to hop %u, %.1f ms at hop %u)", prev,
                        c->in->hop[prev_row].ttl, se->floor_ms, pb->end_hop);
            else
                tprintf(&t, " (%.1f ms at hop %u)", se->floor_ms, pb->end_hop);
            return i;
        }
        prev = s->carried_ms;
        prev_row = i;
    }
    return -1;
}

static void note_loss(struct ctx *c, int row, int e)
{
    const struct hstat *s = &c->st[row], *se = &c->st[e];
    const struct pw_diag_hop *h = &c->in->hop[row];
    struct pw_diag_note *n;
    struct text t;
    bool later_clean = true;

    for (int k = row + 1; k <= e; k++)
        if (c->st[k].lost > 0 && !is_silent(&c->st[k]))
            later_clean = false;
    if (is_silent(s)) {
        if (s->n < SILENT_MIN || !(n = note_add(c, PW_DIAG_NOTE_ICMP_DEPRIORITISED, row)))
            return;
        t = (struct text){n->text, 0, sizeof(n->text)};
        n->ref_loss_pct = 100 * se->loss;
        tprintf(&t,
                "hop %u never answers (0 of %u probes) but later hops do: this router sends "
                "no ICMP answers (time exceeded); traffic passes through it",
                h->ttl, s->n);
        return;
    }
    if (!(100 * s->lo > c->p->loss_significant_pct && s->lo > se->hi))
        return;
    if (!(n = note_add(c, PW_DIAG_NOTE_ICMP_DEPRIORITISED, row)))
        return;
    n->ref_loss_pct = 100 * se->loss;
    if (c->in->time_us)
        answer_pattern(c->in, h, c->first, &n->dispersion, &n->answer_rate);
    if (n->dispersion >= 0 && n->dispersion < c->p->rate_limit_dispersion)
        n->kind = PW_DIAG_NOTE_RATE_LIMITED;
    n->since_us = since_of(c->in, h, c->first, SERIES_LOST, 0, c->x, c->idx);
    t = (struct text){n->text, 0, sizeof(n->text)};
    describe_hop(&t, h->ttl, &h->addr, h->dns);
    tprintf(&t, " answers fewer probes (%.1f %% lost", n->loss_pct);
    if (n->kind == PW_DIAG_NOTE_RATE_LIMITED)
        tprintf(&t, ", a steady %.1f answers per second", n->answer_rate);
    if (later_clean) {
        tprintf(&t, "), later hops lose nothing: ");
    } else if (se->lost == 0) {
        tprintf(&t, "), ");
        describe_end(&t, c->d, &c->in->hop[e]);
        tprintf(&t, " loses nothing: ");
    } else {
        tprintf(&t, ") than ");
        describe_end(&t, c->d, &c->in->hop[e]);
        tprintf(&t, " loses (%.1f %%): ", n->ref_loss_pct);
    }
    if (n->kind == PW_DIAG_NOTE_RATE_LIMITED)
        tprintf(&t, "this router rate-limits its ICMP answers; traffic through it is not affected");
    else
        tprintf(&t, "this router rate-limits or deprioritises ICMP; traffic through it is not "
                    "affected");
}

static void note_slow_reply(struct ctx *c, int row, int e)
{
    const struct hstat *s = &c->st[row];
    const struct pw_diag_hop *h = &c->in->hop[row];
    double later = INFINITY;
    int later_row = -1;
    struct pw_diag_note *n;
    struct text t;

    if (!s->has_floor)
        return;
    for (int k = row + 1; k <= e; k++) {
        if (c->st[k].has_floor && c->st[k].floor_ms < later) {
            later = c->st[k].floor_ms;
            later_row = k;
        }
    }
    if (later_row < 0 || s->floor_ms - later < c->p->slow_reply_ms)
        return;
    if (!(n = note_add(c, PW_DIAG_NOTE_SLOW_REPLY_PATH, row)))
        return;
    n->hop_ms = s->floor_ms;
    n->ref_ms = later;
    n->since_us = since_of(c->in, h, c->first, SERIES_ABOVE,
                           (int32_t)((later + (s->floor_ms - later) / 2) * 1000), c->x, c->idx);
    t = (struct text){n->text, 0, sizeof(n->text)};
    describe_hop(&t, h->ttl, &h->addr, h->dns);
    tprintf(&t,
            " answers in %.1f ms but hop %u behind it in %.1f ms: a slow reply path at this "
            "router (it answers probes slowly or by a longer way back), not a delay for "
            "traffic through it",
            s->floor_ms, c->in->hop[later_row].ttl, later);
}

static void note_routes(struct ctx *c)
{
    const struct pw_diag_input *in = c->in;
    struct pw_diag_note *n;
    struct text t;
    uint64_t mask = 0;

    if (in->nchanges == 0 || !in->changes)
        return;
    for (uint32_t i = 0; i < in->nchanges; i++)
        mask |= in->changes[i].hops;
    n = note_add(c, in->nchanges >= 2 ? PW_DIAG_NOTE_ROUTE_UNSTABLE : PW_DIAG_NOTE_ROUTE_CHANGED,
                 -1);
    if (!n)
        return;
    n->changes = in->nchanges;
    n->hops_mask = mask;
    n->hop = in->changes[0].first_hop;
    for (uint32_t i = 0; i < in->nchanges; i++)
        if (in->changes[i].first_hop && in->changes[i].first_hop < n->hop)
            n->hop = in->changes[i].first_hop;
    n->since_us = in->changes[0].time_us;
    n->until_us = in->changes[in->nchanges - 1].time_us;
    t = (struct text){n->text, 0, sizeof(n->text)};
    if (in->nchanges >= 2) {
        int64_t a = in->time_us ? in->time_us[0] : in->start_us;
        int64_t b = in->time_us ? in->time_us[in->nsamples - 1] : in->end_us;
        double span = (double)(b - a) / 1e6;

        tprintf(&t, "the route changed %u times in ", in->nchanges);
        describe_span(&t, span > 0 ? span : 0);
        if (span > 0) {
            tprintf(&t, " (about every ");
            describe_span(&t, span / in->nchanges);
            tprintf(&t, ")");
        }
    } else {
        tprintf(&t, "the route changed once");
    }
    if (mask) {
        tprintf(&t, "; hop%s ", (mask & (mask - 1)) ? "s" : "");
        describe_mask(&t, mask);
        tprintf(&t, " change%s", (mask & (mask - 1)) ? "" : "s");
    }
    if (c->d->scoped_to_route)
        tprintf(&t, "; only the %u samples since the last change were judged", c->d->samples);
    else
        tprintf(&t, "; the figures mix the routes (per-hop history before a change belongs to "
                    "another router)");
}

static void note_dest_drops(struct ctx *c, int e)
{
    const struct pw_diag_input *in = c->in;
    const struct hstat *se = &c->st[e];
    const struct pw_diag_hop *h = &in->hop[e];
    static const char *const others[] = {"tcp or udp", "icmp or tcp", "icmp or udp"};
    struct pw_diag_note *n;
    struct text t;
    char ip[PW_ADDR_STRLEN];

    if (c->d->dest_reached || !in->dest.family || pw_addr_equal(&h->addr, &in->dest))
        return;
    if (se->n < 5 || se->answered * 2 < se->n)
        return;
    if (!(n = note_add(c, PW_DIAG_NOTE_DEST_DROPS_PROBE_TYPE, -1)))
        return;
    n->addr = in->dest;
    n->ref_loss_pct = 100 * se->loss;
    t = (struct text){n->text, 0, sizeof(n->text)};
    tprintf(&t, "the destination %s never answered %s probes while every hop up to ",
            pw_addr_format(&in->dest, ip, sizeof(ip)), pw_proto_name(in->proto));
    describe_hop(&t, h->ttl, &h->addr, h->dns);
    tprintf(&t, " did: it (or a firewall in front of it) drops %s probes; try %s",
            pw_proto_name(in->proto), others[in->proto <= PW_PROTO_TCP ? in->proto : 0]);
}

static void note_asymmetric(struct ctx *c, int e, const struct pw_diag_problem *lat)
{
    struct pw_diag_note *n;
    struct text t;

    if (!(n = note_add(c, PW_DIAG_NOTE_ASYMMETRIC_RETURN, e)))
        return;
    n->hop_ms = lat->end_ms;
    n->ref_ms = lat->base_ms;
    n->since_us = lat->since_us;
    t = (struct text){n->text, 0, sizeof(n->text)};
    tprintf(&t,
            "every hop before the destination answers within %.1f ms but the destination "
            "takes %.1f ms (+%.1f ms): its answers probably return by another (asymmetric) "
            "path, which traceroute cannot show",
            lat->base_ms, lat->end_ms, lat->added_ms);
}

static void summarise(struct ctx *c)
{
    struct pw_diagnosis *d = c->d;
    struct text t = {d->summary, 0, sizeof(d->summary)};
    int e = c->in->nhops - 1;

    if (d->verdict == PW_DIAG_PROBLEM) {
        const struct pw_diag_problem *a = &d->problem[0];

        tprintf(&t, "%c%s", a->text[0] >= 'a' && a->text[0] <= 'z' ? a->text[0] - 32 : a->text[0],
                a->text + 1);
        if (d->nproblems > 1)
            tprintf(&t, "; latency +%.1f ms from hop %u", d->problem[1].added_ms,
                    d->problem[1].from_hop);
        return;
    }
    if (d->verdict == PW_DIAG_CLEAN) {
        const struct hstat *se = &c->st[e];

        tprintf(&t, "No problem found: ");
        describe_end(&t, d, &c->in->hop[e]);
        tprintf(&t,
                " lost %.1f %% of %u probes (at most %.1f %% at %.0f %% confidence) and no hop "
                "adds latency that persists to it",
                100 * se->loss, se->n, 100 * se->hi, 100 * erf(c->p->z / M_SQRT2));
        return;
    }
    if (c->in->nhops == 0 && d->samples >= c->p->min_samples) {
        tprintf(&t,
                "No hop answered any of %u samples: the local network or the first router "
                "drops these probes; try another packet type",
                d->samples);
        return;
    }
    tprintf(&t, "Not enough samples to tell yet (%u so far)", d->samples);
    if (d->need_samples)
        tprintf(&t, ": need about %u more samples", d->need_samples);
}

/* Judges samples [first, n) of the window (first > 0: those since the last route change). */
static int analyse(const struct pw_diag_input *in, const struct pw_diag_params *pp, uint32_t first,
                   struct pw_diagnosis *out)
{
    struct ctx *c;
    uint32_t n = in ? in->nsamples : 0, need_loss = 0, need_lat = 0, need_min = 0;
    int e, lat_row = -1, rc = 0;
    bool loss_problem = false, lat_known;

    memset(out, 0, sizeof(*out));
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->in = in;
    c->p = pp;
    c->d = out;
    c->scratch = malloc((n ? n : 1) * sizeof(*c->scratch));
    c->x = malloc(n ? n : 1);
    c->idx = malloc((n ? n : 1) * sizeof(*c->idx));
    if (!c->scratch || !c->x || !c->idx) {
        rc = -ENOMEM;
        goto out;
    }

    out->window_samples = n;
    out->dest_reached = in->dest_reached && in->nhops > 0;
    c->first = first;
    out->scoped_to_route = first > 0;
    out->samples = n - c->first;
    if (in->time_us && n) {
        out->start_us = in->time_us[c->first];
        out->end_us = in->time_us[n - 1];
    } else {
        out->start_us = in->start_us;
        out->end_us = in->end_us;
    }

    if (in->nhops == 0) {
        note_routes(c);
        out->verdict = PW_DIAG_INSUFFICIENT;
        out->need_samples = out->samples < pp->min_samples ? pp->min_samples - out->samples : 0;
        summarise(c);
        goto out;
    }
    for (unsigned i = 0; i < in->nhops; i++)
        hop_stats(&in->hop[i], c->first, n, pp, c->scratch, &c->st[i]);
    e = in->nhops - 1;
    out->end_hop = in->hop[e].ttl;

    /* Loss at the path end. */
    if (c->st[e].n < pp->min_samples)
        need_min = pp->min_samples - c->st[e].n;
    if (100 * c->st[e].lo > pp->loss_significant_pct && c->st[e].n >= pp->min_samples) {
        loss_problem = true;
        judge_loss(c, e);
    } else if (!(100 * c->st[e].hi < pp->loss_clean_pct)) {
        uint32_t need = need_search(loss_decided, c, &c->st[e], c->st[e].n);

        need_loss = need > c->st[e].n ? need - c->st[e].n : 0;
    }

    /* Latency. */
    lat_known = c->st[e].has_floor;
    if (!lat_known && c->st[e].answered) {
        double rate = (double)c->st[e].answered / c->st[e].n;

        need_lat = (uint32_t)ceil((pp->min_latency_samples - c->st[e].answered) / rate);
    }
    if (lat_known && c->st[e].n >= pp->min_samples)
        lat_row = judge_latency(c, e);

    /* Notes, in hop order. */
    for (int i = 0; i < e; i++) {
        note_loss(c, i, e);
        note_slow_reply(c, i, e);
    }
    if (lat_row == e && e > 0 && out->dest_reached &&
        !(loss_problem && out->problem[0].from_hop < in->hop[e].ttl))
        note_asymmetric(c, e, &out->problem[out->nproblems - 1]);
    note_dest_drops(c, e);
    note_routes(c);

    if (out->nproblems) {
        out->verdict = PW_DIAG_PROBLEM;
        /* The latency figure rides along with a loss problem from the same hop. */
        if (out->nproblems == 2 && out->problem[1].from_hop == out->problem[0].from_hop) {
            out->problem[0].has_latency = true;
            out->problem[0].base_ms = out->problem[1].base_ms;
            out->problem[0].end_ms = out->problem[1].end_ms;
            out->problem[0].added_ms = out->problem[1].added_ms;
        }
    } else if (need_min || need_loss || !lat_known || c->st[e].n < pp->min_samples) {
        uint32_t need = need_min;

        if (need_loss > need)
            need = need_loss;
        if (need_lat > need)
            need = need_lat;
        out->verdict = PW_DIAG_INSUFFICIENT;
        out->need_samples = need;
    } else {
        out->verdict = PW_DIAG_CLEAN;
    }
    summarise(c);
out:
    if (c) {
        free(c->scratch);
        free(c->x);
        free(c->idx);
    }
    free(c);
    return rc;
}

int pw_diag_analyse(const struct pw_diag_input *in, const struct pw_diag_params *pp,
                    struct pw_diagnosis *out)
{
    struct pw_diag_params defaults;
    uint32_t first = 0;
    int rc;

    if (!in || !out || in->nhops > PW_TRACE_MAX_HOPS || (in->nhops && !in->hop))
        return -EINVAL;
    for (unsigned i = 0; i < in->nhops; i++)
        if (in->nsamples && !in->hop[i].rtt_us)
            return -EINVAL;
    if (!pp) {
        pw_diag_params_default(&defaults);
        pp = &defaults;
    }
    /* Figures of two routes do not mix (gotcha 8): judge only the newest route when it has
     * enough samples of its own for a verdict; a flapping route never does, and then the
     * whole window is judged and the route note says the figures mix. */
    if (in->nchanges && in->changes && in->time_us) {
        int64_t last = in->changes[in->nchanges - 1].time_us;

        while (first < in->nsamples && in->time_us[first] < last)
            first++;
        if (in->nsamples - first < pp->min_samples)
            first = 0;
    }
    rc = analyse(in, pp, first, out);
    if (rc == 0 && first > 0 && out->verdict == PW_DIAG_INSUFFICIENT)
        rc = analyse(in, pp, 0, out);
    return rc;
}

/* ---- direct confirmation ---- */

static bool confirmable(const struct pw_diag_note *n)
{
    return (n->kind == PW_DIAG_NOTE_ICMP_DEPRIORITISED || n->kind == PW_DIAG_NOTE_RATE_LIMITED) &&
           n->hop && n->addr.family && n->lost < n->sent && !n->direct;
}

unsigned pw_diag_confirm_candidates(const struct pw_diagnosis *d, unsigned *index, unsigned max)
{
    unsigned k = 0;

    for (unsigned i = 0; i < d->nnotes && k < max; i++)
        if (confirmable(&d->note[i]))
            index[k++] = i;
    return k;
}

void pw_diag_confirm_plan(const struct pw_diagnosis *d, unsigned i, uint32_t *count,
                          uint32_t *interval_ms)
{
    const struct pw_diag_note *n = &d->note[i];
    double q = n->sent ? (double)(n->sent - n->lost) / n->sent : 0;
    double c = q > 0 && q < 1 ? ceil(log(0.05) / log(q)) : 3;
    double iv = n->answer_rate > 0 ? 2.0 / n->answer_rate : 1.0;

    /* All of c answered has probability q^c < 5 % if the hop drops as much when asked
     * slowly; at most half its answer rate leaves a rate limit room to refill. */
    *count = (uint32_t)(c < 3 ? 3 : c > 10 ? 10 : c);
    if (iv < 0.1)
        iv = 0.1;
    if (iv > 1.0)
        iv = 1.0;
    *interval_ms = (uint32_t)(iv * 1000 + 0.5);
}

/* P(X >= k) for X ~ Binomial(n, q). */
static double binom_tail(uint32_t n, uint32_t k, double q)
{
    double sum = 0;

    for (uint32_t j = k; j <= n; j++)
        sum += exp(lgamma(n + 1.0) - lgamma(j + 1.0) - lgamma(n - j + 1.0) + (j ? j * log(q) : 0) +
                   (n - j ? (n - j) * log1p(-q) : 0));
    return sum;
}

void pw_diag_confirm(struct pw_diagnosis *d, unsigned i, uint32_t sent, uint32_t answered,
                     uint32_t interval_ms)
{
    struct pw_diag_note *n;
    struct text t;
    char ip[PW_ADDR_STRLEN];
    double q;

    if (i >= d->nnotes || sent == 0 || answered > sent)
        return;
    n = &d->note[i];
    n->direct = true;
    n->direct_sent = sent;
    n->direct_answered = answered;
    n->direct_interval_s = interval_ms / 1000.0;
    q = n->sent ? (double)(n->sent - n->lost) / n->sent : 0;
    t = (struct text){n->text, strlen(n->text), sizeof(n->text)};
    pw_addr_format(&n->addr, ip, sizeof(ip));
    if (answered == 0) {
        tprintf(&t,
                ". Probing %s directly: none of %u echo requests answered, so it does not "
                "answer them itself and the rate limit could not be checked",
                ip, sent);
    } else if (q < 1 && binom_tail(sent, answered, q) < 0.05) {
        n->kind = PW_DIAG_NOTE_RATE_LIMITED;
        tprintf(&t,
                ". Probing %s directly at one echo per %.2f s: %u of %u answered, far more "
                "than during the trace, so it limits the rate of its ICMP answers",
                ip, n->direct_interval_s, answered, sent);
    } else {
        n->kind = PW_DIAG_NOTE_ICMP_DEPRIORITISED;
        tprintf(&t,
                ". Probing %s directly at one echo per %.2f s: %u of %u answered, about as "
                "often as during the trace, so it drops ICMP answers whatever the rate "
                "(deprioritised)",
                ip, n->direct_interval_s, answered, sent);
    }
}

bool pw_diag_fires(const struct pw_diagnosis *d)
{
    for (unsigned i = 0; d && d->verdict == PW_DIAG_PROBLEM && i < d->nproblems; i++)
        if (d->problem[i].to_destination)
            return true;
    return false;
}

/* ---- names and JSON ---- */

const char *pw_diag_verdict_name(enum pw_diag_verdict v)
{
    switch (v) {
    case PW_DIAG_CLEAN:
        return "clean";
    case PW_DIAG_PROBLEM:
        return "problem";
    default:
        return "insufficient_data";
    }
}

const char *pw_diag_kind_name(enum pw_diag_kind k)
{
    return k == PW_DIAG_LATENCY ? "latency" : "loss";
}

const char *pw_diag_note_name(enum pw_diag_note_kind k)
{
    switch (k) {
    case PW_DIAG_NOTE_RATE_LIMITED:
        return "rate_limited";
    case PW_DIAG_NOTE_SLOW_REPLY_PATH:
        return "slow_reply_path";
    case PW_DIAG_NOTE_DEST_DROPS_PROBE_TYPE:
        return "dest_drops_probe_type";
    case PW_DIAG_NOTE_ASYMMETRIC_RETURN:
        return "asymmetric_return";
    case PW_DIAG_NOTE_ROUTE_UNSTABLE:
        return "route_unstable";
    case PW_DIAG_NOTE_ROUTE_CHANGED:
        return "route_changed";
    default:
        return "icmp_deprioritised";
    }
}

static double round_to(double v, double unit)
{
    return round(v / unit) * unit;
}

static void add_time(cJSON *o, const char *key, int64_t us)
{
    char k[32], text[64];
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;

    snprintf(k, sizeof(k), "%s_us", key);
    if (!us || !gmtime_r(&secs, &tm)) {
        cJSON_AddNullToObject(o, key);
        cJSON_AddNullToObject(o, k);
        return;
    }
    snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(us % 1000000 / 1000));
    cJSON_AddStringToObject(o, key, text);
    cJSON_AddNumberToObject(o, k, (double)us);
}

static void add_addr(cJSON *o, const struct pw_addr *a, const char *dns)
{
    char ip[PW_ADDR_STRLEN];

    if (a->family)
        cJSON_AddStringToObject(o, "ip", pw_addr_format(a, ip, sizeof(ip)));
    else
        cJSON_AddNullToObject(o, "ip");
    if (dns && dns[0])
        cJSON_AddStringToObject(o, "dns", dns);
    else
        cJSON_AddNullToObject(o, "dns");
}

static cJSON *problem_json(const struct pw_diag_problem *pb)
{
    cJSON *o = cJSON_CreateObject(), *ci;

    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "kind", pw_diag_kind_name(pb->kind));
    cJSON_AddNumberToObject(o, "from_hop", pb->from_hop);
    add_addr(o, &pb->addr, pb->dns);
    cJSON_AddNumberToObject(o, "end_hop", pb->end_hop);
    cJSON_AddBoolToObject(o, "to_destination", pb->to_destination);
    cJSON_AddBoolToObject(o, "certain", pb->certain);
    if (pb->need_samples)
        cJSON_AddNumberToObject(o, "need_samples", pb->need_samples);
    else
        cJSON_AddNullToObject(o, "need_samples");
    cJSON_AddNumberToObject(o, "sent", pb->sent);
    cJSON_AddNumberToObject(o, "lost", pb->lost);
    cJSON_AddNumberToObject(o, "loss_pct", round_to(pb->loss_pct, 0.01));
    ci = cJSON_AddArrayToObject(o, "loss_ci");
    cJSON_AddItemToArray(ci, cJSON_CreateNumber(round_to(pb->loss_lo_pct, 0.01)));
    cJSON_AddItemToArray(ci, cJSON_CreateNumber(round_to(pb->loss_hi_pct, 0.01)));
    if (pb->has_latency) {
        cJSON_AddNumberToObject(o, "added_ms", round_to(pb->added_ms, 0.001));
        cJSON_AddNumberToObject(o, "base_ms", round_to(pb->base_ms, 0.001));
        cJSON_AddNumberToObject(o, "end_ms", round_to(pb->end_ms, 0.001));
    } else {
        cJSON_AddNullToObject(o, "added_ms");
        cJSON_AddNullToObject(o, "base_ms");
        cJSON_AddNullToObject(o, "end_ms");
    }
    add_time(o, "since", pb->since_us);
    add_time(o, "until", pb->until_us);
    cJSON_AddStringToObject(o, "text", pb->text);
    return o;
}

static cJSON *note_json(const struct pw_diag_note *n)
{
    cJSON *o = cJSON_CreateObject(), *ev, *arr;

    if (!o)
        return NULL;
    if (n->hop)
        cJSON_AddNumberToObject(o, "hop", n->hop);
    else
        cJSON_AddNullToObject(o, "hop");
    cJSON_AddStringToObject(o, "kind", pw_diag_note_name(n->kind));
    cJSON_AddStringToObject(o, "text", n->text);
    add_addr(o, &n->addr, n->dns);
    add_time(o, "since", n->since_us);
    add_time(o, "until", n->until_us);
    ev = cJSON_AddObjectToObject(o, "evidence");
    if (!ev)
        return o;
    switch (n->kind) {
    case PW_DIAG_NOTE_ICMP_DEPRIORITISED:
    case PW_DIAG_NOTE_RATE_LIMITED:
        cJSON_AddNumberToObject(ev, "sent", n->sent);
        cJSON_AddNumberToObject(ev, "lost", n->lost);
        cJSON_AddNumberToObject(ev, "loss_pct", round_to(n->loss_pct, 0.01));
        arr = cJSON_AddArrayToObject(ev, "loss_ci");
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(round_to(n->loss_lo_pct, 0.01)));
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(round_to(n->loss_hi_pct, 0.01)));
        cJSON_AddNumberToObject(ev, "end_loss_pct", round_to(n->ref_loss_pct, 0.01));
        if (n->dispersion >= 0)
            cJSON_AddNumberToObject(ev, "dispersion", round_to(n->dispersion, 0.001));
        if (n->answer_rate >= 0)
            cJSON_AddNumberToObject(ev, "answers_per_s", round_to(n->answer_rate, 0.01));
        if (n->direct) {
            cJSON *dj = cJSON_AddObjectToObject(ev, "direct");

            cJSON_AddNumberToObject(dj, "sent", n->direct_sent);
            cJSON_AddNumberToObject(dj, "answered", n->direct_answered);
            cJSON_AddNumberToObject(dj, "interval_s", round_to(n->direct_interval_s, 0.001));
        }
        break;
    case PW_DIAG_NOTE_SLOW_REPLY_PATH:
    case PW_DIAG_NOTE_ASYMMETRIC_RETURN:
        cJSON_AddNumberToObject(ev, "hop_ms", round_to(n->hop_ms, 0.001));
        cJSON_AddNumberToObject(ev, "ref_ms", round_to(n->ref_ms, 0.001));
        break;
    case PW_DIAG_NOTE_DEST_DROPS_PROBE_TYPE:
        cJSON_AddNumberToObject(ev, "last_hop_loss_pct", round_to(n->ref_loss_pct, 0.01));
        break;
    case PW_DIAG_NOTE_ROUTE_UNSTABLE:
    case PW_DIAG_NOTE_ROUTE_CHANGED:
        cJSON_AddNumberToObject(ev, "changes", n->changes);
        arr = cJSON_AddArrayToObject(ev, "hops");
        for (unsigned t = 1; arr && t <= 64; t++)
            if (n->hops_mask >> (t - 1) & 1)
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(t));
        break;
    }
    return o;
}

cJSON *pw_diag_json(const struct pw_diagnosis *d)
{
    cJSON *o = cJSON_CreateObject(), *arr;

    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "verdict", pw_diag_verdict_name(d->verdict));
    cJSON_AddStringToObject(o, "summary", d->summary);
    cJSON_AddNumberToObject(o, "samples", d->samples);
    cJSON_AddNumberToObject(o, "window_samples", d->window_samples);
    add_time(o, "start", d->start_us);
    add_time(o, "end", d->end_us);
    cJSON_AddBoolToObject(o, "scoped_to_route", d->scoped_to_route);
    if (d->end_hop)
        cJSON_AddNumberToObject(o, "end_hop", d->end_hop);
    else
        cJSON_AddNullToObject(o, "end_hop");
    cJSON_AddBoolToObject(o, "dest_reached", d->dest_reached);
    if (d->verdict == PW_DIAG_INSUFFICIENT && d->need_samples)
        cJSON_AddNumberToObject(o, "need_samples", d->need_samples);
    else
        cJSON_AddNullToObject(o, "need_samples");
    if (d->nproblems)
        cJSON_AddItemToObject(o, "problem", problem_json(&d->problem[0]));
    else
        cJSON_AddNullToObject(o, "problem");
    arr = cJSON_AddArrayToObject(o, "problems");
    for (unsigned i = 0; arr && i < d->nproblems; i++)
        cJSON_AddItemToArray(arr, problem_json(&d->problem[i]));
    arr = cJSON_AddArrayToObject(o, "notes");
    for (unsigned i = 0; arr && i < d->nnotes; i++)
        cJSON_AddItemToArray(arr, note_json(&d->note[i]));
    if (!arr) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
