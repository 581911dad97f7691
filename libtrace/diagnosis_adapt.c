/* PingWatcher — path diagnosis: building its input from a live accumulator or from the store
 * (see diagnosis.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diagnosis.h"
#include "error.h"
#include "report.h"
#include "route.h"
#include "store.h"

_Static_assert(PW_DIAG_RTT_SKIP == PW_STORE_RTT_SKIP, "skip markers differ");
_Static_assert(PW_DIAG_RTT_SKIP == PW_REPORT_NOT_PROBED, "skip markers differ");

/* Most route changes kept per window: beyond that the count still says "unstable". */
#define CHANGES_MAX 4096

/* TTLs that differ between two routes given as responder lists (a TTL unknown on one side
 * counts only where the routes differ in length). */
static uint64_t route_diff(const struct pw_addr *a, unsigned na, const struct pw_addr *b,
                           unsigned nb)
{
    unsigned n = na > nb ? na : nb;
    uint64_t mask = 0;

    for (unsigned t = 1; t <= n && t <= 64; t++) {
        const struct pw_addr *x = t <= na ? &a[t - 1] : NULL, *y = t <= nb ? &b[t - 1] : NULL;
        bool differ;

        if (x && y && x->family && y->family)
            differ = !pw_addr_equal(x, y);
        else
            differ = (!x || !y) && ((x && x->family) || (y && y->family));
        if (differ)
            mask |= UINT64_C(1) << (t - 1);
    }
    return mask;
}

static int changes_push(struct pw_diag_route_change **arr, uint32_t *n, uint32_t *cap,
                        const struct pw_diag_route_change *c)
{
    if (*n == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 16;
        struct pw_diag_route_change *p;

        if (*n >= CHANGES_MAX)
            return 0;
        p = realloc(*arr, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        *arr = p;
        *cap = ncap;
    }
    (*arr)[(*n)++] = *c;
    return 0;
}

/* ---- live accumulator ---- */

int pw_diag_from_acc(const struct pw_report_acc *a, const struct pw_report *r,
                     const struct pw_diag_params *p, struct pw_diagnosis *out)
{
    uint64_t kept = pw_report_acc_kept(a);
    uint32_t n = kept > PW_DIAG_MAX_SAMPLES ? PW_DIAG_MAX_SAMPLES : (uint32_t)kept;
    uint64_t k0 = kept - n;
    unsigned max_hops = pw_report_acc_max_hops(a);
    struct pw_diag_input in;
    struct pw_diag_hop *hops = calloc(PW_TRACE_MAX_HOPS, sizeof(*hops));
    struct pw_route_tracker *tr = calloc(1, sizeof(*tr));
    struct pw_route *observed = calloc(1, sizeof(*observed));
    struct pw_route_change *change = calloc(1, sizeof(*change));
    struct pw_hop_result *res = calloc(PW_TRACE_MAX_HOPS, sizeof(*res));
    int64_t *times = malloc((n ? n : 1) * sizeof(*times));
    int32_t *rtt = malloc((size_t)(r->nhops ? r->nhops : 1) * (n ? n : 1) * sizeof(*rtt));
    struct pw_diag_route_change *changes = NULL;
    uint32_t nchanges = 0, capchanges = 0;
    bool reached = false;
    int rc = 0;

    if (!hops || !tr || !observed || !change || !res || !times || !rtt) {
        rc = -ENOMEM;
        goto out;
    }
    if (r->nhops > PW_TRACE_MAX_HOPS) {
        rc = -EINVAL;
        goto out;
    }
    memset(&in, 0, sizeof(in));
    for (unsigned i = 0; i < r->nhops; i++) {
        hops[i].ttl = r->hop[i].ttl;
        if (r->hop[i].naddrs)
            hops[i].addr = r->hop[i].last;
        snprintf(hops[i].dns, sizeof(hops[i].dns), "%s", r->hop[i].dns);
        hops[i].rtt_us = rtt + (size_t)i * n;
        for (uint32_t j = 0; j < n; j++)
            rtt[(size_t)i * n + j] = pw_report_acc_cell(a, k0 + j, r->hop[i].ttl, NULL);
    }
    pw_route_tracker_init(tr, 0);
    for (uint32_t j = 0; j < n; j++) {
        unsigned d = pw_report_acc_reached(a, k0 + j), top = 0;
        struct pw_sample s;

        times[j] = pw_report_acc_time_us(a, k0 + j);
        reached |= d != 0;
        /* The sample as the engine delivered it, for the route tracker. */
        memset(res, 0, PW_TRACE_MAX_HOPS * sizeof(*res));
        for (unsigned ttl = 1; ttl <= max_hops; ttl++) {
            int32_t v = pw_report_acc_cell(a, k0 + j, ttl, &res[ttl - 1].from);

            res[ttl - 1].ttl = (uint8_t)ttl;
            if (v == PW_REPORT_NOT_PROBED)
                continue;
            top = ttl;
            res[ttl - 1].answered = v >= 0;
            res[ttl - 1].rtt_us = v >= 0 ? (uint32_t)v : 0;
            res[ttl - 1].reached = d && ttl == d;
            if (v < 0)
                memset(&res[ttl - 1].from, 0, sizeof(res[ttl - 1].from));
        }
        memset(&s, 0, sizeof(s));
        s.seq = k0 + j;
        s.nhops = (uint8_t)(d ? d : top);
        s.reached = d != 0;
        s.hop = res;
        if (pw_route_tracker_feed(tr, &s, times[j], observed, change) & PW_ROUTE_CHANGED) {
            struct pw_diag_route_change c = {
                .time_us = change->time_us,
                .first_hop = change->first_hop,
                .hops = route_diff(change->old_route.hop, change->old_route.nhops,
                                   change->new_route.hop, change->new_route.nhops),
            };

            if ((rc = changes_push(&changes, &nchanges, &capchanges, &c)) < 0)
                goto out;
        }
    }
    in.nsamples = n;
    in.time_us = times;
    in.nhops = r->nhops;
    in.hop = hops;
    in.dest_reached = reached && r->nhops > 0;
    in.dest = r->ip;
    in.proto = r->proto;
    in.nchanges = nchanges;
    in.changes = changes;
    rc = pw_diag_analyse(&in, p, out);
out:
    free(hops);
    free(tr);
    free(observed);
    free(change);
    free(res);
    free(times);
    free(rtt);
    free(changes);
    return rc;
}

/* ---- store ---- */

/* Samples collected newest first, RTTs in one pool (row k's at off[k], nhops[k] of them). */
struct collect {
    uint32_t cap_samples;
    uint32_t n, cap;
    int64_t *time;
    uint32_t *route;
    uint8_t *nhops;
    bool *reached;
    size_t *off;
    int32_t *pool;
    size_t pool_len, pool_cap;
    int err;
};

static int collect_cb(void *arg, const struct pw_store_sample *smp)
{
    struct collect *c = arg;

    if (c->n == c->cap) {
        uint32_t ncap = c->cap ? c->cap * 2 : 256;
        void *p;

        if ((p = realloc(c->time, ncap * sizeof(*c->time))))
            c->time = p;
        if (p && (p = realloc(c->route, ncap * sizeof(*c->route))))
            c->route = p;
        if (p && (p = realloc(c->nhops, ncap * sizeof(*c->nhops))))
            c->nhops = p;
        if (p && (p = realloc(c->reached, ncap * sizeof(*c->reached))))
            c->reached = p;
        if (p && (p = realloc(c->off, ncap * sizeof(*c->off))))
            c->off = p;
        if (!p) {
            c->err = -ENOMEM;
            return 1;
        }
        c->cap = ncap;
    }
    if (c->pool_len + smp->nhops > c->pool_cap) {
        size_t ncap = c->pool_cap ? c->pool_cap * 2 : 4096;
        int32_t *p;

        while (ncap < c->pool_len + smp->nhops)
            ncap *= 2;
        p = realloc(c->pool, ncap * sizeof(*p));
        if (!p) {
            c->err = -ENOMEM;
            return 1;
        }
        c->pool = p;
        c->pool_cap = ncap;
    }
    c->time[c->n] = smp->time_us;
    c->route[c->n] = smp->route_id;
    c->nhops[c->n] = smp->nhops > PW_TRACE_MAX_HOPS ? PW_TRACE_MAX_HOPS : smp->nhops;
    c->reached[c->n] = smp->reached;
    c->off[c->n] = c->pool_len;
    memcpy(c->pool + c->pool_len, smp->rtt_us, c->nhops[c->n] * sizeof(*c->pool));
    c->pool_len += c->nhops[c->n];
    c->n++;
    return c->n >= c->cap_samples ? 1 : 0;
}

static void collect_free(struct collect *c)
{
    free(c->time);
    free(c->route);
    free(c->nhops);
    free(c->reached);
    free(c->off);
    free(c->pool);
}

/* A few routes cover a window; a small cache keeps their lookups from repeating. */
#define RCACHE 8

struct rcache {
    uint32_t id[RCACHE];
    struct pw_store_route r[RCACHE];
    unsigned n, next;
};

static const struct pw_store_route *rcache_get(struct pw_store *s, struct rcache *rc, uint32_t id)
{
    static const struct pw_store_route none;
    unsigned slot;

    if (!id)
        return &none;
    for (unsigned i = 0; i < rc->n; i++)
        if (rc->id[i] == id)
            return &rc->r[i];
    slot = rc->n < RCACHE ? rc->n++ : rc->next++ % RCACHE;
    if (pw_store_route_get(s, id, &rc->r[slot]) < 0)
        memset(&rc->r[slot], 0, sizeof(rc->r[slot]));
    rc->id[slot] = id;
    return &rc->r[slot];
}

struct chg_collect {
    struct pw_store_route_change *v;
    uint32_t n, cap;
};

static int chg_cb(void *arg, const struct pw_store_route_change *c)
{
    struct chg_collect *x = arg;

    if (x->n == x->cap) {
        uint32_t ncap = x->cap ? x->cap * 2 : 16;
        struct pw_store_route_change *p;

        if (x->n >= CHANGES_MAX)
            return 0;
        p = realloc(x->v, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        x->v = p;
        x->cap = ncap;
    }
    x->v[x->n++] = *c;
    return 0;
}

void pw_diag_window_free(struct pw_diag_window *w)
{
    if (!w)
        return;
    free(w->route_id);
    free(w->time_us);
    free(w->rtt);
    free(w->changes);
    free(w);
}

int pw_diag_window_load(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                        uint32_t max_samples, struct pw_diag_window **out)
{
    struct pw_diag_window *w = calloc(1, sizeof(*w));
    struct collect c = {0};
    struct chg_collect cc = {0};
    struct rcache *rcache = calloc(1, sizeof(*rcache));
    struct pw_store_target t;
    unsigned shown = 0, last_answer = 0, rows = 0;
    uint8_t row_ttl[PW_TRACE_MAX_HOPS];
    uint32_t n, nch = 0;
    int rc;

    *out = NULL;
    if (!w || !rcache) {
        rc = -ENOMEM;
        goto fail;
    }
    if (start_us >= end_us) {
        rc = PW_E_RANGE;
        goto fail;
    }
    rc = pw_store_target_get(s, target_id, &t);
    if (rc == 0) {
        w->has_target = true;
        snprintf(w->host, sizeof(w->host), "%s", t.host);
        snprintf(w->label, sizeof(w->label), "%s", t.label);
        w->in.dest = t.addr;
        w->in.proto = t.opts.proto;
    } else if (rc != -ENOENT) {
        goto fail;
    }
    c.cap_samples =
        max_samples && max_samples < PW_DIAG_MAX_SAMPLES ? max_samples : PW_DIAG_MAX_SAMPLES;
    rc = pw_store_samples(s, target_id, start_us, end_us, true, collect_cb, &c);
    if (c.err) {
        rc = c.err;
        goto fail;
    }
    if (rc < 0 && rc != PW_E_MALFORMED && rc != -ENOENT)
        goto fail;
    if (!w->has_target && c.n == 0) {
        rc = -ENOENT;
        goto fail;
    }
    n = c.n;
    /* c holds the newest first: index n - 1 - j is the j-th oldest. */
    for (uint32_t k = 0; k < n; k++) {
        if (!shown && c.reached[k])
            shown = c.nhops[k];
        for (unsigned ttl = 1; ttl <= c.nhops[k]; ttl++)
            if (c.pool[c.off[k] + ttl - 1] >= 0 && ttl > last_answer)
                last_answer = ttl;
    }
    for (unsigned ttl = 1; ttl <= (shown ? shown : last_answer); ttl++) {
        bool probed = false;

        for (uint32_t k = 0; k < n && !probed; k++)
            probed = ttl <= c.nhops[k] && c.pool[c.off[k] + ttl - 1] != PW_STORE_RTT_SKIP;
        if (probed)
            row_ttl[rows++] = (uint8_t)ttl;
    }
    w->time_us = malloc((n ? n : 1) * sizeof(*w->time_us));
    w->route_id = malloc((n ? n : 1) * sizeof(*w->route_id));
    w->rtt = malloc((size_t)(rows ? rows : 1) * (n ? n : 1) * sizeof(*w->rtt));
    if (!w->time_us || !w->route_id || !w->rtt) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t j = 0; j < n; j++) {
        uint32_t k = n - 1 - j;

        w->time_us[j] = c.time[k];
        w->route_id[j] = c.route[k];
    }
    for (unsigned i = 0; i < rows; i++) {
        struct pw_diag_hop *h = &w->hop[i];
        unsigned ttl = row_ttl[i];
        bool have_addr = false;

        h->ttl = (uint8_t)ttl;
        h->rtt_us = w->rtt + (size_t)i * n;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t k = n - 1 - j;

            w->rtt[(size_t)i * n + j] =
                ttl <= c.nhops[k] ? c.pool[c.off[k] + ttl - 1] : PW_STORE_RTT_SKIP;
        }
        /* The responder: the route of the newest sample answered at this TTL. */
        for (uint32_t k = 0; k < n && !have_addr; k++) {
            const struct pw_store_route *r;

            if (ttl > c.nhops[k] || c.pool[c.off[k] + ttl - 1] < 0)
                continue;
            r = rcache_get(s, rcache, c.route[k]);
            if (ttl <= r->nhops && r->hop[ttl - 1].family) {
                h->addr = r->hop[ttl - 1];
                have_addr = true;
            }
        }
        if (have_addr && pw_store_dns_get(s, &h->addr, h->dns, sizeof(h->dns)) < 0)
            h->dns[0] = '\0';
    }

    /* Route changes after the first sample (one at the first sample happened before it). */
    if (n) {
        rc = pw_store_route_changes(s, target_id, w->time_us[0] + 1, w->time_us[n - 1] + 1, chg_cb,
                                    &cc);
        if (rc < 0 && rc != -ENOENT && rc != PW_E_MALFORMED)
            goto fail;
        w->changes = calloc(cc.n ? cc.n : 1, sizeof(*w->changes));
        if (!w->changes) {
            rc = -ENOMEM;
            goto fail;
        }
        for (uint32_t i = 0; i < cc.n; i++) {
            const struct pw_store_route *ro = rcache_get(s, rcache, cc.v[i].old_route);
            struct pw_addr oldhops[PW_TRACE_MAX_HOPS];
            unsigned oldn = ro->nhops;
            const struct pw_store_route *rn;

            /* The cache may evict ro while rn is read: keep a copy. */
            memcpy(oldhops, ro->hop, sizeof(oldhops));
            rn = rcache_get(s, rcache, cc.v[i].new_route);
            w->changes[nch].time_us = cc.v[i].time_us;
            w->changes[nch].first_hop = cc.v[i].first_hop;
            w->changes[nch].hops = route_diff(oldhops, oldn, rn->hop, rn->nhops);
            nch++;
        }
    }
    w->in.nsamples = n;
    w->in.time_us = w->time_us;
    w->in.nhops = (uint8_t)rows;
    w->in.hop = w->hop;
    w->in.dest_reached = shown != 0 && rows > 0;
    w->in.nchanges = nch;
    w->in.changes = w->changes;
    w->in.start_us = start_us;
    w->in.end_us = end_us;
    if (!w->in.dest.family && shown && rows)
        w->in.dest = w->hop[rows - 1].addr;
    rc = 0;
    *out = w;
    w = NULL;
fail:
    pw_diag_window_free(w);
    collect_free(&c);
    free(cc.v);
    free(rcache);
    return rc;
}

int pw_diag_from_store(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                       uint32_t max_samples, const struct pw_diag_params *p,
                       struct pw_diagnosis *out)
{
    struct pw_diag_window *w;
    int rc = pw_diag_window_load(s, target_id, start_us, end_us, max_samples, &w);

    if (rc < 0)
        return rc;
    rc = pw_diag_analyse(&w->in, p, out);
    pw_diag_window_free(w);
    return rc;
}

int pw_diag_check_target(struct pw_store *s, uint32_t target_id, int64_t now_us, int64_t window_us,
                         struct pw_diagnosis *out)
{
    struct pw_diagnosis *d = out ? out : malloc(sizeof(*d));
    int rc;

    if (!d)
        return -ENOMEM;
    rc = pw_diag_from_store(s, target_id, now_us - window_us, now_us, 0, NULL, d);
    if (rc == 0)
        rc = pw_diag_fires(d) ? 1 : 0;
    if (!out)
        free(d);
    return rc;
}
