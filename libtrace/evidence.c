/* PingWatcher — the evidence report (see evidence.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "evidence.h"
#include "stats.h"
#include "store.h"
#include "text.h"

/* Timeline buckets per hop chart. */
#define CHART_BUCKETS 150
/* Chart geometry (SVG user units): latency area, then the loss strip, then the time axis. */
#define CW 960
#define CX0 56
#define CX1 950
#define CY0 8
#define CY1 92
#define LY0 100
#define LY1 122
#define CH 142

/* ---- a growable string with a ceiling ---- */

struct sb {
    char *p;
    size_t len, cap;
    bool failed;
    bool too_big; /* failed because of PW_EVIDENCE_MAX_BYTES */
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        char *np;

        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > PW_EVIDENCE_MAX_BYTES)
            cap = PW_EVIDENCE_MAX_BYTES;
        if (b->len + n + 1 > cap) {
            b->failed = b->too_big = true;
            return;
        }
        if (!(np = realloc(b->p, cap))) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        sb_add(b, small, (size_t)n);
        return;
    }
    {
        char *big = malloc((size_t)n + 1);

        if (!big) {
            b->failed = true;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        sb_add(b, big, (size_t)n);
        free(big);
    }
}

static void sb_sink(void *b, const char *s, size_t n)
{
    sb_add(b, s, n);
}

/* Outside text, for HTML element content and quoted attribute values alike. */
static void sb_esc(struct sb *b, const char *s)
{
    if (s)
        pw_html_escape_to(s, strlen(s), sb_sink, b);
}

static void fmt_time(int64_t us, char *buf, size_t len)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;

    if (!us || !gmtime_r(&secs, &tm)) {
        snprintf(buf, len, "-");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void sb_time(struct sb *b, int64_t us)
{
    char t[64];

    fmt_time(us, t, sizeof(t));
    sb_puts(b, t);
}

static void sb_addr(struct sb *b, const struct pw_addr *a)
{
    char ip[PW_ADDR_STRLEN];

    if (a->family)
        sb_esc(b, pw_addr_format(a, ip, sizeof(ip)));
    else
        sb_puts(b, "???");
}

static void sb_dns(struct sb *b, const char *dns)
{
    if (dns && dns[0] && strcmp(dns, PW_DNS_NONE) != 0)
        sb_esc(b, dns);
}

/* ---- the diagnosis ---- */

static const char *note_title(enum pw_diag_note_kind k)
{
    switch (k) {
    case PW_DIAG_NOTE_RATE_LIMITED:
        return "ICMP rate limit (not a problem)";
    case PW_DIAG_NOTE_SLOW_REPLY_PATH:
        return "Slow reply path (not a problem)";
    case PW_DIAG_NOTE_DEST_DROPS_PROBE_TYPE:
        return "Destination drops this probe type";
    case PW_DIAG_NOTE_ASYMMETRIC_RETURN:
        return "Probably an asymmetric return path";
    case PW_DIAG_NOTE_ROUTE_UNSTABLE:
        return "Unstable route";
    case PW_DIAG_NOTE_ROUTE_CHANGED:
        return "Route change";
    default:
        return "ICMP deprioritised (not a problem)";
    }
}

static void diag_section(struct sb *b, const struct pw_diagnosis *d)
{
    sb_printf(b, "<section class=\"pw-diagnosis pw-verdict-%s\" id=\"diagnosis\">\n",
              pw_diag_verdict_name(d->verdict));
    sb_printf(b, "<h2>Diagnosis: %s</h2>\n",
              d->verdict == PW_DIAG_PROBLEM ? "problem found"
              : d->verdict == PW_DIAG_CLEAN ? "no problem found"
                                            : "not enough samples yet");
    sb_puts(b, "<p class=\"pw-summary\">");
    sb_esc(b, d->summary);
    sb_puts(b, ".</p>\n");
    sb_printf(b, "<p class=\"pw-judged\">Judged: %u samples, ", d->samples);
    sb_time(b, d->start_us);
    sb_puts(b, " to ");
    sb_time(b, d->end_us);
    if (d->scoped_to_route)
        sb_printf(b, " (since the last route change; %u samples in the period)", d->window_samples);
    sb_puts(b, ".</p>\n");
    if (d->nproblems) {
        sb_puts(b, "<table class=\"pw-problems\"><thead><tr><th>Problem</th><th>From hop</th>"
                   "<th>Responder</th><th>Loss at the path end (95 % interval)</th>"
                   "<th>Added latency</th><th>Span</th></tr></thead><tbody>\n");
        for (unsigned i = 0; i < d->nproblems; i++) {
            const struct pw_diag_problem *p = &d->problem[i];

            sb_printf(b, "<tr><td>%s</td><td>%u</td><td>", pw_diag_kind_name(p->kind), p->from_hop);
            sb_addr(b, &p->addr);
            if (p->dns[0] && strcmp(p->dns, PW_DNS_NONE) != 0) {
                sb_puts(b, " ");
                sb_dns(b, p->dns);
            }
            sb_printf(b, "</td><td>%.2f %% (%.2f&#x2013;%.2f %%), %u of %u lost</td><td>",
                      p->loss_pct, p->loss_lo_pct, p->loss_hi_pct, p->lost, p->sent);
            if (p->has_latency)
                sb_printf(b, "+%.1f ms (%.1f &#x2192; %.1f ms)", p->added_ms, p->base_ms,
                          p->end_ms);
            else
                sb_puts(b, "&#x2013;");
            sb_puts(b, "</td><td>");
            sb_time(b, p->since_us);
            sb_puts(b, " to ");
            sb_time(b, p->until_us);
            sb_puts(b, "</td></tr>\n");
            /* The summary says the first problem; a second one gets its own sentence. */
            if (d->nproblems > 1) {
                sb_puts(b, "<tr class=\"pw-problem-text\"><td colspan=\"6\">");
                sb_esc(b, p->text);
                sb_puts(b, "</td></tr>\n");
            }
        }
        sb_puts(b, "</tbody></table>\n");
    }
    if (d->nnotes) {
        sb_puts(b, "<ul class=\"pw-notes\">\n");
        for (unsigned i = 0; i < d->nnotes; i++) {
            const struct pw_diag_note *n = &d->note[i];

            sb_printf(b, "<li class=\"pw-note pw-note-%s\"><strong>", pw_diag_note_name(n->kind));
            sb_puts(b, note_title(n->kind));
            sb_puts(b, "</strong>");
            if (n->hop)
                sb_printf(b, " (hop %u)", n->hop);
            sb_puts(b, ": ");
            sb_esc(b, n->text);
            if (n->kind == PW_DIAG_NOTE_ROUTE_CHANGED) {
                sb_puts(b, ". <span class=\"pw-span\">At ");
                sb_time(b, n->since_us);
            } else if (n->kind == PW_DIAG_NOTE_ROUTE_UNSTABLE) {
                sb_puts(b, ". <span class=\"pw-span\">First change ");
                sb_time(b, n->since_us);
                sb_puts(b, ", last ");
                sb_time(b, n->until_us);
            } else {
                sb_puts(b, ". <span class=\"pw-span\">Since ");
                sb_time(b, n->since_us);
            }
            sb_puts(b, ".</span></li>\n");
        }
        sb_puts(b, "</ul>\n");
    }
    sb_puts(b, "</section>\n");
}

int pw_evidence_diag_html(const struct pw_diagnosis *d, char **html, size_t *len)
{
    struct sb b = {0};

    diag_section(&b, d);
    if (b.failed) {
        free(b.p);
        return -ENOMEM;
    }
    *html = b.p;
    *len = b.len;
    return 0;
}

/* ---- timelines ---- */

struct series {
    uint8_t ttl;
    uint32_t n, cap;
    struct pw_store_bucket *b;
};

struct tl {
    struct series *s; /* one per row, same order as the window's rows */
    unsigned nrows;
    int err;
};

static int tl_cb(void *arg, const struct pw_store_bucket *bk)
{
    struct tl *t = arg;

    for (unsigned i = 0; i < t->nrows; i++) {
        struct series *s = &t->s[i];

        if (s->ttl != bk->hop)
            continue;
        if (s->n == s->cap) {
            uint32_t cap = s->cap ? s->cap * 2 : 64;
            struct pw_store_bucket *p = realloc(s->b, cap * sizeof(*p));

            if (!p) {
                t->err = -ENOMEM;
                return 1;
            }
            s->b = p;
            s->cap = cap;
        }
        s->b[s->n++] = *bk;
        break;
    }
    return 0;
}

static double xof(int64_t t, int64_t a, int64_t z)
{
    double f = z > a ? (double)(t - a) / (double)(z - a) : 0;

    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    return CX0 + f * (CX1 - CX0);
}

/* A nice upper bound for the latency axis. */
static double axis_max(double v)
{
    static const double steps[] = {1, 2, 2.5, 5, 10};
    double mag = pow(10, floor(log10(v > 0 ? v : 1)));

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (steps[i] * mag >= v)
            return steps[i] * mag;
    return 10 * mag;
}

static void chart(struct sb *b, const struct series *s, const struct pw_diag_hop *h,
                  const struct pw_diagnosis *d, const struct pw_diag_route_change *ch, uint32_t nch,
                  int64_t a, int64_t z)
{
    double top = 0, ymax;
    bool in_run = false;

    for (uint32_t i = 0; i < s->n; i++)
        if (s->b[i].has_latency && s->b[i].p90_ms > top)
            top = s->b[i].p90_ms;
    ymax = axis_max(top * 1.1);
    sb_printf(b, "<figure class=\"pw-chart\" id=\"hop-%u\"><figcaption>Hop %u &#x2013; ", h->ttl,
              h->ttl);
    sb_addr(b, &h->addr);
    if (h->dns[0] && strcmp(h->dns, PW_DNS_NONE) != 0) {
        sb_puts(b, " (");
        sb_dns(b, h->dns);
        sb_puts(b, ")");
    }
    sb_printf(b,
              "</figcaption>\n<svg viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
              "aria-label=\"hop %u: latency (band p10 to p90, line average) and loss per "
              "time bucket\">\n",
              CW, CH, h->ttl);
    sb_printf(b, "<rect class=\"bg\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>", CX0, CY0,
              CX1 - CX0, CY1 - CY0);
    sb_printf(b, "<rect class=\"lossbg\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", CX0,
              LY0, CX1 - CX0, LY1 - LY0);
    /* The span of a problem this hop is part of. */
    for (unsigned i = 0; i < d->nproblems; i++) {
        const struct pw_diag_problem *p = &d->problem[i];
        double x0, x1;

        if (h->ttl < p->from_hop || h->ttl > p->end_hop || !p->since_us)
            continue;
        x0 = xof(p->since_us, a, z);
        x1 = xof(p->until_us, a, z);
        sb_printf(b,
                  "<rect class=\"span\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"><title>"
                  "%s problem</title></rect>\n",
                  x0, CY0, x1 - x0 > 1 ? x1 - x0 : 1, LY1 - CY0, pw_diag_kind_name(p->kind));
    }
    /* Grid and axis labels. */
    for (int k = 0; k <= 2; k++) {
        double y = CY1 - (CY1 - CY0) * k / 2.0;

        sb_printf(b,
                  "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/><text "
                  "class=\"ax\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g ms</text>\n",
                  CX0, CX1, y, y, CX0 - 4, y + 3, ymax * k / 2);
    }
    sb_printf(b,
              "<text class=\"ax\" x=\"%d\" y=\"%d\" text-anchor=\"end\">loss</text>"
              "<text class=\"ax\" x=\"%d\" y=\"%d\" text-anchor=\"end\">100%%</text>\n",
              CX0 - 4, LY1, CX0 - 4, LY0 + 7);
    /* Latency band p10..p90, one path per run of buckets with answers. */
    for (uint32_t i = 0; i <= s->n; i++) {
        bool has = i < s->n && s->b[i].has_latency;

        if (has && !in_run) {
            uint32_t j = i;

            sb_puts(b, "<path class=\"band\" d=\"");
            for (; j < s->n && s->b[j].has_latency; j++) {
                double x = (xof(s->b[j].start_us, a, z) + xof(s->b[j].end_us, a, z)) / 2;
                double y = CY1 - (CY1 - CY0) * fmin(s->b[j].p90_ms, ymax) / ymax;

                sb_printf(b, "%c%.1f,%.1f", j == i ? 'M' : 'L', x, y);
            }
            while (j-- > i) {
                double x = (xof(s->b[j].start_us, a, z) + xof(s->b[j].end_us, a, z)) / 2;
                double y = CY1 - (CY1 - CY0) * fmin(s->b[j].p10_ms, ymax) / ymax;

                sb_printf(b, "L%.1f,%.1f", x, y);
            }
            sb_puts(b, "Z\"/>\n<polyline class=\"avg\" points=\"");
            for (j = i; j < s->n && s->b[j].has_latency; j++) {
                double x = (xof(s->b[j].start_us, a, z) + xof(s->b[j].end_us, a, z)) / 2;
                double y = CY1 - (CY1 - CY0) * fmin(s->b[j].avg_ms, ymax) / ymax;

                sb_printf(b, "%s%.1f,%.1f", j == i ? "" : " ", x, y);
            }
            sb_puts(b, "\"/>\n");
            in_run = true;
        } else if (!has) {
            in_run = false;
        }
    }
    /* Loss marks: a bar per bucket that lost probes, as high as its loss. */
    for (uint32_t i = 0; i < s->n; i++) {
        const struct pw_store_bucket *k = &s->b[i];
        double x0, x1, f;

        if (!k->lost || !k->count)
            continue;
        x0 = xof(k->start_us, a, z);
        x1 = xof(k->end_us, a, z);
        f = (double)k->lost / k->count;
        sb_printf(b,
                  "<rect class=\"loss\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
                  "<title>%u of %u lost</title></rect>\n",
                  x0, LY1 - (LY1 - LY0) * f, x1 - x0 > 1.5 ? x1 - x0 - 0.5 : 1, (LY1 - LY0) * f,
                  k->lost, k->count);
    }
    /* Route changes. */
    for (uint32_t i = 0; i < nch; i++) {
        double x = xof(ch[i].time_us, a, z);

        sb_printf(b,
                  "<line class=\"rc\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"><title>route "
                  "change</title></line>\n",
                  x, x, CY0, LY1);
    }
    {
        char t0[64], t1[64];

        fmt_time(a, t0, sizeof(t0));
        fmt_time(z, t1, sizeof(t1));
        sb_printf(b,
                  "<text class=\"ax\" x=\"%d\" y=\"%d\">%s</text><text class=\"ax\" x=\"%d\" "
                  "y=\"%d\" text-anchor=\"end\">%s</text>\n",
                  CX0, CH - 4, t0, CX1, CH - 4, t1);
    }
    sb_puts(b, "</svg></figure>\n");
}

static void raw_table(struct sb *b, const struct series *s, const struct pw_diag_hop *h)
{
    sb_printf(b, "<details><summary>Hop %u &#x2013; ", h->ttl);
    sb_addr(b, &h->addr);
    sb_printf(b, ", %u time buckets</summary>\n", s->n);
    sb_puts(b, "<table class=\"pw-raw\"><thead><tr><th>Bucket start</th><th>Sent</th>"
               "<th>Lost</th><th>Loss %</th><th>Min</th><th>p10</th><th>Avg</th><th>p50</th>"
               "<th>p90</th><th>Max</th></tr></thead><tbody>\n");
    for (uint32_t i = 0; i < s->n; i++) {
        const struct pw_store_bucket *k = &s->b[i];

        sb_puts(b, "<tr><td>");
        sb_time(b, k->start_us);
        sb_printf(b, "</td><td>%u</td><td>%u</td><td>%.1f</td>", k->count, k->lost,
                  k->count ? 100.0 * k->lost / k->count : 0);
        if (k->has_latency)
            sb_printf(b,
                      "<td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td>"
                      "<td>%.3f</td></tr>\n",
                      k->min_ms, k->p10_ms, k->avg_ms, k->p50_ms, k->p90_ms, k->max_ms);
        else
            sb_puts(b, "<td>ERR</td><td>ERR</td><td>ERR</td><td>ERR</td><td>ERR</td>"
                       "<td>ERR</td></tr>\n");
    }
    sb_puts(b, "</tbody></table></details>\n");
}

/* ---- the hop table of the period ---- */

static int cmp_i32(const void *x, const void *y)
{
    int32_t a = *(const int32_t *)x, c = *(const int32_t *)y;

    return (a > c) - (a < c);
}

static int hop_table(struct sb *b, const struct pw_diag_input *in, double z)
{
    int32_t *win = malloc((in->nsamples ? in->nsamples : 1) * sizeof(*win));
    int32_t *ok = malloc((in->nsamples ? in->nsamples : 1) * sizeof(*ok));

    if (!win || !ok) {
        free(win);
        free(ok);
        return -ENOMEM;
    }
    sb_puts(b, "<table class=\"pw-hops\"><thead><tr><th>Hop</th><th>IP</th><th>DNS</th>"
               "<th>Sent</th><th>Lost</th><th>Loss %</th><th>95 % interval</th><th>Min</th>"
               "<th>p10</th><th>Avg</th><th>Max</th><th>Jitter</th></tr></thead><tbody>\n");
    for (unsigned r = 0; r < in->nhops; r++) {
        const struct pw_diag_hop *h = &in->hop[r];
        struct pw_stats st;
        size_t m = 0, k = 0;
        double lo, hi;

        for (uint32_t i = 0; i < in->nsamples; i++) {
            if (h->rtt_us[i] == PW_DIAG_RTT_SKIP)
                continue;
            win[m++] = h->rtt_us[i];
            if (h->rtt_us[i] >= 0)
                ok[k++] = h->rtt_us[i];
        }
        pw_stats_compute(win, m, &st);
        pw_diag_wilson(st.lost, st.sent, z, &lo, &hi);
        sb_printf(b, "<tr><td>%u</td><td>", h->ttl);
        sb_addr(b, &h->addr);
        sb_puts(b, "</td><td>");
        sb_dns(b, h->dns);
        sb_printf(b, "</td><td>%u</td><td>%u</td><td>%.1f</td><td>%.1f&#x2013;%.1f</td>", st.sent,
                  st.lost, st.loss_pct, 100 * lo, 100 * hi);
        if (st.has_latency) {
            size_t rank = (size_t)ceil(0.1 * (double)k);

            qsort(ok, k, sizeof(*ok), cmp_i32);
            sb_printf(b, "<td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td></tr>\n",
                      st.min_ms, ok[(rank ? rank : 1) - 1] / 1000.0, st.avg_ms, st.max_ms,
                      st.jitter_ms);
        } else {
            sb_puts(b, "<td>ERR</td><td>ERR</td><td>ERR</td><td>ERR</td><td>&#x2013;</td>"
                       "</tr>\n");
        }
    }
    sb_puts(b, "</tbody></table>\n");
    free(win);
    free(ok);
    return 0;
}

/* ---- route changes ---- */

struct rc_list {
    struct pw_store_route_change *v;
    uint32_t n, cap;
};

static int rc_cb(void *arg, const struct pw_store_route_change *c)
{
    struct rc_list *l = arg;

    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 16;
        struct pw_store_route_change *p;

        if (l->n >= 1000)
            return 1; /* the report lists the first thousand */
        p = realloc(l->v, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = *c;
    return 0;
}

static void route_cell(struct sb *b, struct pw_store *s, uint32_t id, const struct pw_addr *other,
                       unsigned nother)
{
    struct pw_store_route r;

    if (pw_store_route_get(s, id, &r) < 0) {
        sb_printf(b, "(route %u unknown)", id);
        return;
    }
    for (unsigned i = 0; i < r.nhops; i++) {
        bool diff = other && (i >= nother || !pw_addr_equal(&r.hop[i], &other[i]));

        sb_puts(b, i ? " " : "");
        if (diff)
            sb_puts(b, "<mark>");
        if (r.hop[i].family)
            sb_addr(b, &r.hop[i]);
        else
            sb_puts(b, "*");
        if (diff)
            sb_puts(b, "</mark>");
    }
}

static int routes_section(struct sb *b, struct pw_store *s, uint32_t id, int64_t a, int64_t z)
{
    struct rc_list l = {0};
    int rc = pw_store_route_changes(s, id, a, z, rc_cb, &l);

    if (rc < 0 && rc != -ENOENT && rc != PW_E_MALFORMED) {
        free(l.v);
        return rc;
    }
    sb_puts(b, "<section id=\"routes\"><h2>Route changes</h2>\n");
    if (!l.n) {
        sb_puts(b, "<p>No route change in this period.</p>\n");
    } else {
        sb_printf(b,
                  "<p>%u change%s. A change is logged once a new route was seen in several "
                  "samples in a row; the differing hops are marked.</p>\n",
                  l.n, l.n == 1 ? "" : "s");
        sb_puts(b, "<table class=\"pw-routes\"><thead><tr><th>Time (first sample on the new "
                   "route)</th><th>First differing hop</th><th>Old route</th><th>New route</th>"
                   "</tr></thead><tbody>\n");
        for (uint32_t i = 0; i < l.n; i++) {
            struct pw_store_route o, nw;
            bool ho = pw_store_route_get(s, l.v[i].old_route, &o) == 0;
            bool hn = pw_store_route_get(s, l.v[i].new_route, &nw) == 0;

            sb_puts(b, "<tr><td>");
            sb_time(b, l.v[i].time_us);
            sb_printf(b, "</td><td>%u</td><td>", l.v[i].first_hop);
            route_cell(b, s, l.v[i].old_route, hn ? nw.hop : NULL, hn ? nw.nhops : 0);
            sb_puts(b, "</td><td>");
            route_cell(b, s, l.v[i].new_route, ho ? o.hop : NULL, ho ? o.nhops : 0);
            sb_puts(b, "</td></tr>\n");
        }
        sb_puts(b, "</tbody></table>\n");
    }
    sb_puts(b, "</section>\n");
    free(l.v);
    return 0;
}

/* ---- the document ---- */

static const char style[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;"
    "max-width:1100px;padding:0 1em;color:#1d232a;background:#fff}"
    "h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;"
    "border-bottom:1px solid #d0d6dc}"
    "table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums}"
    "th,td{border:1px solid #d0d6dc;padding:.2em .5em;text-align:left;vertical-align:top}"
    "th{background:#f1f4f7}td{white-space:nowrap}.pw-problem-text td,.pw-routes td,"
    ".pw-problems td{white-space:normal}.pw-problems{width:100%}"
    "dl.meta{display:grid;grid-template-columns:max-content auto;gap:.1em 1em}dl.meta dt"
    "{font-weight:600}dl.meta dd{margin:0}"
    ".pw-diagnosis{border-left:6px solid #8a96a3;padding:.2em 1em;background:#f7f9fb}"
    ".pw-verdict-problem{border-color:#c62828;background:#fdf3f3}"
    ".pw-verdict-clean{border-color:#2e7d32;background:#f2f9f2}"
    ".pw-verdict-insufficient_data{border-color:#b58900;background:#fdf9ec}"
    ".pw-summary{font-size:1.1em;font-weight:600}.pw-span{color:#56616d}"
    ".pw-notes li{margin:.3em 0}"
    "figure.pw-chart{margin:.8em 0}figcaption{font-weight:600}"
    "svg .bg{fill:#fbfcfd;stroke:#d0d6dc}svg .lossbg{fill:#fbfcfd;stroke:#e4e8ec}"
    "svg .grid{stroke:#e4e8ec}svg .ax{font:11px sans-serif;fill:#56616d}"
    "svg .band{fill:#9ec5e8;fill-opacity:.55;stroke:none}"
    "svg .avg{fill:none;stroke:#1f5f99;stroke-width:1.4}"
    "svg .loss{fill:#d32f2f}svg .rc{stroke:#7b1fa2;stroke-dasharray:4 3;stroke-width:1.2}"
    "svg .span{fill:#f6c9c9;fill-opacity:.45}"
    "mark{background:#ffe9a8}details{margin:.3em 0}summary{cursor:pointer}"
    ".legend span{display:inline-block;margin-right:1.2em}.sw{display:inline-block;width:1em;"
    "height:.8em;margin-right:.3em;vertical-align:middle}"
    "@media print{details{display:block}details>*{display:block}}";

int pw_evidence_html(struct pw_store *s, uint32_t target_id, const struct pw_evidence_opts *o,
                     char **html, size_t *len, struct pw_diagnosis *diag)
{
    struct pw_diag_window *w = NULL;
    struct pw_diagnosis *d = diag ? diag : malloc(sizeof(*d));
    struct pw_diag_params defaults;
    const struct pw_diag_params *p = o->params;
    struct tl t = {0};
    struct sb b = {0};
    const char *who;
    char ip[PW_ADDR_STRLEN];
    int rc;

    *html = NULL;
    *len = 0;
    if (!d)
        return -ENOMEM;
    if (!p) {
        pw_diag_params_default(&defaults);
        p = &defaults;
    }
    rc = pw_diag_window_load(s, target_id, o->start_us, o->end_us, 0, &w);
    if (rc < 0)
        goto out;
    rc = pw_diag_analyse(&w->in, p, d);
    if (rc < 0)
        goto out;
    t.nrows = w->in.nhops;
    t.s = calloc(t.nrows ? t.nrows : 1, sizeof(*t.s));
    if (!t.s) {
        rc = -ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < t.nrows; i++)
        t.s[i].ttl = w->in.hop[i].ttl;
    rc = pw_store_timeline(s, target_id, -1, o->start_us, o->end_us, 0, CHART_BUCKETS, tl_cb, &t);
    if (t.err) {
        rc = t.err;
        goto out;
    }
    if (rc < 0 && rc != -ENOENT && rc != PW_E_MALFORMED)
        goto out;

    who = w->label[0] ? w->label : w->host[0] ? w->host : "deleted target";
    sb_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n"
                "<meta name=\"referrer\" content=\"no-referrer\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>PingWatcher evidence report &#x2013; ");
    sb_esc(&b, who);
    sb_puts(&b, "</title>\n<style>");
    sb_puts(&b, style);
    sb_puts(&b, "</style></head><body>\n<header><h1>Network path evidence report</h1>\n"
                "<dl class=\"meta\"><dt>Target</dt><dd>");
    sb_esc(&b, who);
    if (w->host[0] && strcmp(w->host, who) != 0) {
        sb_puts(&b, " (");
        sb_esc(&b, w->host);
        sb_puts(&b, ")");
    }
    sb_printf(&b, " &#x2013; target id %u</dd><dt>Address probed</dt><dd>", target_id);
    sb_esc(&b, w->in.dest.family ? pw_addr_format(&w->in.dest, ip, sizeof(ip)) : "unknown");
    sb_printf(&b, "</dd><dt>Probe type</dt><dd>%s</dd><dt>Period</dt><dd>",
              pw_proto_name(w->in.proto));
    sb_time(&b, o->start_us);
    sb_puts(&b, " to ");
    sb_time(&b, o->end_us);
    sb_printf(&b, "</dd><dt>Samples</dt><dd>%u", w->in.nsamples);
    if (w->in.nsamples >= PW_DIAG_MAX_SAMPLES)
        sb_printf(&b, " (the newest %u of the period)", PW_DIAG_MAX_SAMPLES);
    sb_puts(&b, "</dd><dt>Generated</dt><dd>");
    sb_time(&b, o->now_us);
    sb_puts(&b, " by ");
    sb_esc(&b, o->generator ? o->generator : "PingWatcher");
    sb_puts(&b, "</dd></dl></header>\n");

    diag_section(&b, d);

    sb_puts(&b, "<section id=\"hops\"><h2>Trace: every hop over the period</h2>\n<p>Each sample "
                "probes every hop on the path once (Paris traceroute: the same flow, so load "
                "balancers keep it on one path). Loss intervals are 95 % Wilson score "
                "intervals; p10 is the latency nine in ten answers exceed, which queueing "
                "and slow ICMP answers hardly move. Lost probes are never counted as 0 ms."
                "</p>\n");
    rc = hop_table(&b, &w->in, p->z);
    if (rc < 0)
        goto out;
    sb_puts(&b, "</section>\n<section id=\"timelines\"><h2>Per-hop timelines</h2>\n"
                "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#9ec5e8\"></i>"
                "latency p10&#x2013;p90</span><span><i class=\"sw\" style=\"background:#1f5f99;"
                "height:2px\"></i>average</span><span><i class=\"sw\" style=\"background:"
                "#d32f2f\"></i>loss (bar height = share lost)</span><span><i class=\"sw\" "
                "style=\"border-left:2px dashed #7b1fa2\"></i>route change</span><span><i "
                "class=\"sw\" style=\"background:#f6c9c9\"></i>span of a problem</span></p>\n");
    for (unsigned i = 0; i < t.nrows; i++)
        chart(&b, &t.s[i], &w->in.hop[i], d, w->in.changes, w->in.nchanges, o->start_us, o->end_us);
    if (!t.nrows)
        sb_puts(&b, "<p>No hop answered in this period.</p>\n");
    sb_puts(&b, "</section>\n");
    rc = routes_section(&b, s, target_id, o->start_us, o->end_us);
    if (rc < 0)
        goto out;
    sb_puts(&b, "<section id=\"raw\"><h2>Raw figures per time bucket</h2>\n<p>Latencies in "
                "ms; ERR: every probe of the bucket was lost.</p>\n");
    for (unsigned i = 0; i < t.nrows; i++)
        raw_table(&b, &t.s[i], &w->in.hop[i]);
    sb_puts(&b, "</section>\n<footer><p>Intermediate hops answer probes with ICMP from their "
                "control plane, which many routers rate-limit or deprioritise: loss or delay "
                "that shows at one hop but not at the hops after it does not affect traffic. "
                "A problem is reported only where it persists to the destination. Traceroute "
                "shows the outbound path; replies may return by another.</p></footer>\n"
                "</body></html>\n");
    if (b.failed) {
        rc = b.too_big ? -E2BIG : -ENOMEM;
        goto out;
    }
    *html = b.p;
    *len = b.len;
    b.p = NULL;
    rc = 0;
out:
    free(b.p);
    for (unsigned i = 0; t.s && i < t.nrows; i++)
        free(t.s[i].b);
    free(t.s);
    pw_diag_window_free(w);
    if (!diag)
        free(d);
    return rc;
}
