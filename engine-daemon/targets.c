/* PingWatcher — pingwatcherd's targets: the runtime state next to each stored target record,
 * the engine's sample callback (route tracking, store, reverse DNS), forward re-resolution and
 * the reconciliation of configuration-file targets on start and reload. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon-int.h"
#include "error.h"
#include "timefmt.h"

/* A failed re-resolution is retried this soon, whatever the refresh period. */
#define RESOLVE_RETRY_NS (30 * NS_PER_S)
/* Re-resolutions started per housekeeping tick at most: a thousand names do not all hit the
 * resolver in the same second. */
#define RESOLVE_PER_TICK 64

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

bool pwd_opts_equal(const struct pw_trace_opts *a, const struct pw_trace_opts *b)
{
    return a->proto == b->proto && a->port == b->port && a->packet_size == b->packet_size &&
           a->timeout_ms == b->timeout_ms && a->max_hops == b->max_hops &&
           a->inter_packet_delay_us == b->inter_packet_delay_us &&
           a->interval_ms == b->interval_ms && a->final_hop_only == b->final_hop_only;
}

void pwd_config_target_opts(const struct pwd_config *c, const struct pwd_config_target *ct,
                            struct pw_trace_opts *out)
{
    const struct pwd_config_preset *p =
        ct->config[0] ? pwd_config_preset_find(c, ct->config) : NULL;

    *out = c->defaults;
    if (p)
        pwd_opt_apply(out, &p->opts);
    pwd_opt_apply(out, &ct->opts);
}

/* ---- the id table ---- */

struct pwd_target *pwd_target_find(struct pwd_daemon *d, uint32_t id)
{
    struct pwd_target *t = d->buckets[splitmix64(id) & (d->nbuckets - 1)];

    while (t && t->rec.id != id)
        t = t->hnext;
    return t;
}

static int table_grow(struct pwd_daemon *d)
{
    size_t nb = d->nbuckets * 2;
    struct pwd_target **b = calloc(nb, sizeof(*b));

    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < d->ntargets; i++) {
        struct pwd_target *t = d->list[i];
        size_t h = splitmix64(t->rec.id) & (nb - 1);
        t->hnext = b[h];
        b[h] = t;
    }
    free(d->buckets);
    d->buckets = b;
    d->nbuckets = nb;
    return 0;
}

static int table_insert(struct pwd_daemon *d, struct pwd_target *t)
{
    size_t h;

    if (d->ntargets == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        struct pwd_target **l = realloc(d->list, cap * sizeof(*l));
        if (!l)
            return -ENOMEM;
        d->list = l;
        d->cap = cap;
    }
    if (d->ntargets >= d->nbuckets && table_grow(d) < 0)
        return -ENOMEM;
    t->idx = d->ntargets;
    d->list[d->ntargets++] = t;
    h = splitmix64(t->rec.id) & (d->nbuckets - 1);
    t->hnext = d->buckets[h];
    d->buckets[h] = t;
    return 0;
}

static void table_remove(struct pwd_daemon *d, struct pwd_target *t)
{
    struct pwd_target **pp = &d->buckets[splitmix64(t->rec.id) & (d->nbuckets - 1)];

    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == t) {
            *pp = t->hnext;
            break;
        }
    }
    d->list[t->idx] = d->list[--d->ntargets];
    d->list[t->idx]->idx = t->idx;
}

/* ---- reverse DNS of hop addresses ---- */

static size_t ptr_hash(const struct pw_addr *a)
{
    uint64_t h = (uint64_t)a->family;
    const uint8_t *p = a->family == AF_INET ? (const uint8_t *)&a->u.v4 : a->u.v6.s6_addr;
    size_t n = a->family == AF_INET ? 4 : 16;

    for (size_t i = 0; i < n; i++)
        h = h * 131 + p[i];
    return (size_t)(splitmix64(h) & (PTR_BUCKETS - 1));
}

static void ptr_store(struct pwd_daemon *d, const struct pw_addr *a, const char *name)
{
    pwd_queue_dns(d, a, name);
}

/* Asks for the PTR name of a hop address seen for the first time since start. */
static void ptr_note(struct pwd_daemon *d, const struct pw_addr *a)
{
    char name[PW_DNS_NAME_MAX + 1];
    size_t h = ptr_hash(a);
    struct pwd_ptr_entry *e;
    int rc;

    if (!d->dns || !a->family)
        return;
    for (e = d->ptr[h]; e; e = e->next)
        if (pw_addr_equal(&e->addr, a))
            return;
    e = calloc(1, sizeof(*e));
    if (!e)
        return;
    e->addr = *a;
    e->next = d->ptr[h];
    d->ptr[h] = e;
    rc = pw_dns_lookup(d->dns, a, (uint64_t)(pwd_mono_ns() / NS_PER_S), name, sizeof(name));
    if (rc == 1) {
        e->done = true;
        ptr_store(d, a, name);
        return;
    }
    if (rc < 0) {
        /* -EBUSY: every cache slot is waiting; it is asked again on next start. */
        e->done = true;
        return;
    }
    d->dns_dirty = true;
    if (d->nptr_pending == d->ptr_pending_cap) {
        size_t cap = d->ptr_pending_cap ? d->ptr_pending_cap * 2 : 64;
        struct pw_addr *p = realloc(d->ptr_pending, cap * sizeof(*p));
        if (!p)
            return;
        d->ptr_pending = p;
        d->ptr_pending_cap = cap;
    }
    d->ptr_pending[d->nptr_pending++] = *a;
}

void pwd_ptr_poll(struct pwd_daemon *d)
{
    char name[PW_DNS_NAME_MAX + 1];
    uint64_t now_s = (uint64_t)(pwd_mono_ns() / NS_PER_S);
    size_t i = 0;

    while (i < d->nptr_pending) {
        int rc = pw_dns_lookup(d->dns, &d->ptr_pending[i], now_s, name, sizeof(name));
        if (rc == 0) {
            i++;
            continue;
        }
        if (rc == 1)
            ptr_store(d, &d->ptr_pending[i], name);
        d->ptr_pending[i] = d->ptr_pending[--d->nptr_pending];
    }
}

/* ---- samples ---- */

/* The store's form of a route. A final-hop-only sample has one hop, the destination, at its
 * estimated distance `ttl`: the store keeps it at that TTL. */
static void route_to_store(const struct pw_route *r, bool final_only, unsigned ttl,
                           struct pw_store_route *out)
{
    memset(out, 0, sizeof(*out));
    if (final_only && ttl >= 1 && ttl <= PW_TRACE_MAX_HOPS) {
        out->nhops = (uint8_t)ttl;
        out->hop[ttl - 1] = r->hop[0];
        return;
    }
    out->nhops = r->nhops;
    memcpy(out->hop, r->hop, sizeof(out->hop));
}

static void log_route_change(struct pwd_daemon *d, struct pwd_target *t,
                             const struct pw_route_change *c)
{
    char when[PW_TIMEFMT_STRLEN], from[PW_ADDR_STRLEN] = "*", to[PW_ADDR_STRLEN] = "*";
    unsigned i = c->first_hop ? c->first_hop - 1u : 0;

    if (i < c->old_route.nhops && c->old_route.hop[i].family)
        pw_addr_format(&c->old_route.hop[i], from, sizeof(from));
    if (i < c->new_route.nhops && c->new_route.hop[i].family)
        pw_addr_format(&c->new_route.hop[i], to, sizeof(to));
    pwd_log(&d->log, PWD_LOG_NOTICE,
            "target %u (%s): route changed at %s from hop %u: %s -> %s (%u -> %u hops)", t->rec.id,
            t->rec.label[0] ? t->rec.label : t->rec.host,
            pw_timefmt_rfc3339_us(c->time_us, when, sizeof(when)), c->first_hop, from, to,
            c->old_route.nhops, c->new_route.nhops);
}

static int32_t rtt_of(const struct pw_hop_result *h)
{
    if (!h->answered)
        return PW_RTT_LOST;
    return h->rtt_us > PW_STORE_RTT_MAX_US ? PW_STORE_RTT_MAX_US : (int32_t)h->rtt_us;
}

static void on_sample(void *arg, struct pw_trace_target *et, const struct pw_sample *s)
{
    struct pwd_target *t = arg;
    struct pwd_daemon *d = t->d;
    struct pw_store_sample smp;
    struct pw_store_route route;
    struct pw_route observed;
    struct pw_route_change change;
    bool new_route;
    int64_t interval_ns = (int64_t)t->rec.opts.interval_ms * NS_PER_MS;
    int64_t time_us = s->start_ns ? s->start_ns / 1000 : pwd_real_us();
    int64_t started_ns = s->start_ns ? s->start_ns - d->rt_off_ns : pwd_mono_ns();
    bool final_only = t->rec.opts.final_hop_only;
    unsigned final_ttl = 0;
    int flags;

    if (final_only) {
        if (!s->nhops)
            return;
        final_ttl = s->hop[0].ttl ? s->hop[0].ttl : t->rec.opts.max_hops;
        if (final_ttl > PW_TRACE_MAX_HOPS)
            final_ttl = PW_TRACE_MAX_HOPS;
    }

    (void)et;
    d->st.samples++;
    t->samples++;
    t->last_sample_us = time_us;

    /* Scheduling lag: when the first probe left against when the sample was due. The
     * engine's rule is mirrored: a sample that could not start within its interval moves the
     * schedule (a missed slot) instead of bursting. */
    pwd_stats_lag_add(&d->st, started_ns - t->sched_ns);
    t->sched_ns += interval_ns;
    if (t->sched_ns < started_ns) {
        d->st.missed += (uint64_t)((started_ns - t->sched_ns) / interval_ns) + 1;
        t->sched_ns = started_ns + interval_ns;
    }

    flags = pw_route_tracker_feed(&t->route, s, time_us, &observed, &change);
    new_route = (flags & PW_ROUTE_OBSERVED_NEW) || !t->route_sent || final_ttl != t->route_ttl;
    if (new_route) {
        route_to_store(&observed, final_only, final_ttl, &route);
        t->route_sent = true;
        t->route_ttl = final_ttl;
        for (unsigned i = 0; i < observed.nhops; i++)
            ptr_note(d, &observed.hop[i]);
    }
    if (flags & PW_ROUTE_CHANGED) {
        struct pw_store_route_change rc_rec = {
            .target_id = t->rec.id,
            .time_us = change.time_us,
            .first_hop = change.first_hop,
        };
        struct pw_store_route old_r, new_r;

        d->st.route_changes++;
        log_route_change(d, t, &change);
        route_to_store(&change.old_route, final_only, final_ttl, &old_r);
        route_to_store(&change.new_route, final_only, final_ttl, &new_r);
        pwd_queue_route_change(d, &rc_rec, &old_r, &new_r);
    }

    smp.time_us = time_us;
    smp.route_id = 0;
    smp.reached = s->reached;
    if (final_only) {
        /* Only the destination was probed: the TTLs before it count nowhere. */
        smp.nhops = (uint8_t)final_ttl;
        for (unsigned i = 0; i + 1 < final_ttl; i++)
            smp.rtt_us[i] = PW_STORE_RTT_SKIP;
        smp.rtt_us[final_ttl - 1] = rtt_of(&s->hop[0]);
    } else {
        smp.nhops = s->nhops;
        for (unsigned i = 0; i < s->nhops && i < PW_TRACE_MAX_HOPS; i++)
            smp.rtt_us[i] = rtt_of(&s->hop[i]);
    }
    /* The store gets it from the queue, between the writer's commits (writer.c). */
    pwd_queue_sample(d, t->rec.id, &smp, new_route ? &route : NULL);
    pwd_alerts_sample(d, t, &smp, (flags & PW_ROUTE_CHANGED) != 0,
                      (flags & PW_ROUTE_CHANGED) ? change.first_hop : 0, &observed);
}

/* ---- starting and stopping ---- */

int pwd_target_start(struct pwd_daemon *d, struct pwd_target *t, char *err, size_t errlen)
{
    int64_t interval_ns = (int64_t)t->rec.opts.interval_ms * NS_PER_MS;
    int64_t first;
    int rc;

    if (t->et || t->rec.paused || !t->rec.addr.family)
        return 0;
    /* Spread: each target starts at its own offset within its interval, a function of its
     * id, so a thousand targets with one interval do not fire together, and a restarted
     * daemon keeps their phases. */
    first = pwd_mono_ns() + (int64_t)(splitmix64(t->rec.id) % (uint64_t)interval_ns);
    rc = pw_trace_engine_add(d->engine, &t->rec.addr, &t->rec.opts, first, 0, on_sample, t, &t->et,
                             err, errlen);
    if (rc < 0) {
        t->et = NULL;
        if (!err[0])
            snprintf(err, errlen, "%s", pw_strerror(rc));
        return rc;
    }
    t->sched_ns = first;
    t->started_us = pwd_real_us();
    return 0;
}

void pwd_target_stop(struct pwd_daemon *d, struct pwd_target *t)
{
    if (!t->et)
        return;
    pw_trace_engine_remove(d->engine, t->et);
    t->et = NULL;
    t->started_us = 0;
}

struct pwd_target *pwd_target_attach(struct pwd_daemon *d, const struct pw_store_target *rec)
{
    struct pwd_target *t = calloc(1, sizeof(*t));
    struct pw_addr probe;
    char err[256] = "";

    if (!t)
        return NULL;
    t->d = d;
    t->rec = *rec;
    t->numeric = pw_addr_parse(rec->host, &probe) == 0;
    pw_route_tracker_init(&t->route, d->cfg.persist_samples);
    if (table_insert(d, t) < 0) {
        free(t);
        return NULL;
    }
    if (pwd_target_start(d, t, err, sizeof(err)) < 0)
        pwd_log(&d->log, PWD_LOG_ERR, "target %u (%s): cannot start: %s", rec->id, rec->host, err);
    if (!t->numeric) {
        /* Names are looked up again now (the stored address may be old), then periodically;
         * the first lookups are spread over a few seconds. */
        t->next_resolve_ns = pwd_mono_ns() + (int64_t)(splitmix64(rec->id) % (5 * NS_PER_S));
        if (!rec->addr.family)
            pwd_target_resolve(d, t);
    }
    return t;
}

void pwd_target_detach(struct pwd_daemon *d, struct pwd_target *t)
{
    pwd_target_stop(d, t);
    pwd_alerts_target_gone(d, t->rec.id);
    table_remove(d, t);
    free(t);
}

int pwd_target_reconfigure(struct pwd_daemon *d, struct pwd_target *t,
                           const struct pw_trace_opts *opts, const struct pw_addr *addr, char *err,
                           size_t errlen)
{
    struct pw_store_target old = t->rec;
    bool was_running = t->et != NULL;
    int rc;

    if (pwd_opts_equal(opts, &t->rec.opts) && pw_addr_equal(addr, &t->rec.addr))
        return 0;
    pwd_target_stop(d, t);
    t->rec.opts = *opts;
    t->rec.addr = *addr;
    rc = pwd_target_start(d, t, err, errlen);
    if (rc < 0) {
        char ignored[256];
        t->rec = old;
        if (was_running)
            pwd_target_start(d, t, ignored, sizeof(ignored));
        return rc;
    }
    /* Another address or other probes may take another path: start the route afresh. */
    pw_route_tracker_reset(&t->route);
    t->route_sent = false;
    return 0;
}

/* ---- forward resolution of target names ---- */

struct resolve_job {
    struct pwd_daemon *d;
    uint32_t id;
    uint32_t gen;
};

static void on_resolved(void *arg, int status, const struct pw_addr *addr, const char *reason)
{
    struct resolve_job *j = arg;
    struct pwd_daemon *d = j->d;
    struct pwd_target *t = pwd_target_find(d, j->id);
    int64_t refresh = (int64_t)d->cfg.dns_refresh_s * NS_PER_S;
    char err[256] = "";

    d->res_dirty = true;
    if (!t || t->resolve_gen != j->gen || status == -ECANCELED) {
        free(j);
        return;
    }
    free(j);
    t->resolving = false;
    if (status < 0) {
        if (t->resolve_failures++ == 0)
            pwd_log(&d->log, PWD_LOG_WARNING, "target %u: %s; %s", t->rec.id, reason,
                    t->rec.addr.family ? "keeping its current address" : "retrying");
        t->next_resolve_ns =
            pwd_mono_ns() + (refresh && refresh < RESOLVE_RETRY_NS ? refresh : RESOLVE_RETRY_NS);
        return;
    }
    t->resolve_failures = 0;
    t->next_resolve_ns = refresh ? pwd_mono_ns() + refresh : 0;
    if (pw_addr_equal(addr, &t->rec.addr))
        return;
    {
        char was[PW_ADDR_STRLEN] = "none", now[PW_ADDR_STRLEN];
        struct pw_trace_opts opts = t->rec.opts;

        if (t->rec.addr.family)
            pw_addr_format(&t->rec.addr, was, sizeof(was));
        pw_addr_format(addr, now, sizeof(now));
        if (pwd_target_reconfigure(d, t, &opts, addr, err, sizeof(err)) < 0) {
            pwd_log(&d->log, PWD_LOG_ERR, "target %u: %s now resolves to %s, but: %s", t->rec.id,
                    t->rec.host, now, err);
            return;
        }
        if (t->rec.addr.family && strcmp(was, "none") != 0)
            d->st.address_changes++;
        pwd_log(&d->log, t->rec.addr.family && strcmp(was, "none") ? PWD_LOG_NOTICE : PWD_LOG_INFO,
                "target %u: %s resolves to %s (was %s)", t->rec.id, t->rec.host, now, was);
        pwd_store_lock(d);
        if (pw_store_target_update(d->store, &t->rec) < 0)
            pwd_log(&d->log, PWD_LOG_ERR, "target %u: cannot store its new address", t->rec.id);
        pwd_store_unlock(d);
        /* A target without an address before was not running: start it now. */
        if (!t->et && !t->rec.paused) {
            err[0] = '\0';
            if (pwd_target_start(d, t, err, sizeof(err)) < 0)
                pwd_log(&d->log, PWD_LOG_ERR, "target %u: cannot start: %s", t->rec.id, err);
        }
    }
}

void pwd_target_resolve(struct pwd_daemon *d, struct pwd_target *t)
{
    struct resolve_job *j;

    if (t->numeric || t->resolving || !d->resolver)
        return;
    j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->d = d;
    j->id = t->rec.id;
    j->gen = ++t->resolve_gen;
    t->resolving = true;
    d->res_dirty = true;
    if (pwd_resolver_start(d->resolver, t->rec.host, AF_UNSPEC, on_resolved, j) < 0) {
        t->resolving = false;
        free(j);
    }
}

void pwd_targets_housekeeping(struct pwd_daemon *d, int64_t now_ns)
{
    unsigned started = 0;

    for (size_t i = 0; i < d->ntargets && started < RESOLVE_PER_TICK; i++) {
        struct pwd_target *t = d->list[i];
        if (t->numeric || t->resolving || !t->next_resolve_ns || t->next_resolve_ns > now_ns)
            continue;
        pwd_target_resolve(d, t);
        started++;
    }
}

/* ---- targets declared in the configuration file ---- */

static struct pwd_target *find_declared(struct pwd_daemon *d, const struct pwd_config_target *ct)
{
    for (size_t i = 0; i < d->ntargets; i++) {
        struct pwd_target *t = d->list[i];
        if (t->rec.from_config && strcmp(t->rec.host, ct->host) == 0 &&
            strcmp(t->rec.label, ct->label) == 0)
            return t;
    }
    return NULL;
}

void pwd_targets_sync_config(struct pwd_daemon *d)
{
    const struct pwd_config *c = &d->cfg;
    bool *seen = calloc(d->ntargets + 1, sizeof(*seen));
    struct pwd_target **declared = calloc(d->ntargets + 1, sizeof(*declared));
    size_t ndeclared = 0, added = 0, updated = 0, removed = 0;
    char err[256];

    if (!seen || !declared) {
        pwd_log(&d->log, PWD_LOG_ERR, "out of memory while applying the configuration");
        goto out;
    }
    /* Remember the declared targets that exist now: the list changes below. */
    for (size_t i = 0; i < d->ntargets; i++)
        if (d->list[i]->rec.from_config)
            declared[ndeclared++] = d->list[i];

    for (size_t i = 0; i < c->ntargets; i++) {
        const struct pwd_config_target *ct = &c->targets[i];
        struct pwd_target *t = find_declared(d, ct);
        struct pw_trace_opts opts;

        pwd_config_target_opts(c, ct, &opts);
        err[0] = '\0';
        if (pw_trace_opts_check(&opts, err, sizeof(err)) < 0) {
            pwd_log(&d->log, PWD_LOG_ERR, "targets[%zu] (%s): %s", i, ct->host, err);
            if (t) /* keep it as it is rather than drop it */
                for (size_t k = 0; k < ndeclared; k++)
                    seen[k] |= declared[k] == t;
            continue;
        }
        if (t) {
            for (size_t k = 0; k < ndeclared; k++)
                seen[k] |= declared[k] == t;
            if (pwd_opts_equal(&opts, &t->rec.opts) && strcmp(t->rec.config, ct->config) == 0)
                continue; /* unchanged: keeps running untouched */
            if (pwd_target_reconfigure(d, t, &opts, &t->rec.addr, err, sizeof(err)) < 0) {
                pwd_log(&d->log, PWD_LOG_ERR, "targets[%zu] (%s): %s; keeping the old options", i,
                        ct->host, err);
                continue;
            }
            snprintf(t->rec.config, sizeof(t->rec.config), "%s", ct->config);
            if (pw_store_target_update(d->store, &t->rec) < 0)
                pwd_log(&d->log, PWD_LOG_ERR, "target %u: cannot store its new options", t->rec.id);
            updated++;
            continue;
        }
        {
            struct pw_store_target rec;
            struct pwd_target *nt;
            int rc;

            memset(&rec, 0, sizeof(rec));
            snprintf(rec.host, sizeof(rec.host), "%s", ct->host);
            snprintf(rec.label, sizeof(rec.label), "%s", ct->label);
            snprintf(rec.config, sizeof(rec.config), "%s", ct->config);
            rec.opts = opts;
            rec.paused = ct->paused;
            rec.from_config = true;
            rec.created_us = pwd_real_us();
            pw_addr_parse(ct->host, &rec.addr);
            rc = pw_store_target_add(d->store, &rec);
            if (rc < 0) {
                pwd_log(&d->log, PWD_LOG_ERR, "targets[%zu] (%s): cannot store it: %s", i, ct->host,
                        pw_strerror(rc));
                continue;
            }
            nt = pwd_target_attach(d, &rec);
            if (!nt) {
                pwd_log(&d->log, PWD_LOG_ERR, "targets[%zu] (%s): out of memory", i, ct->host);
                continue;
            }
            added++;
        }
    }
    for (size_t k = 0; k < ndeclared; k++) {
        struct pwd_target *t = declared[k];
        uint32_t id = t->rec.id;
        if (seen[k])
            continue;
        pwd_target_detach(d, t);
        if (pw_store_target_delete(d->store, id) < 0)
            pwd_log(&d->log, PWD_LOG_ERR, "target %u: cannot delete its record", id);
        removed++;
    }
    if (added || updated || removed)
        pwd_log(&d->log, PWD_LOG_INFO,
                "configuration targets: %zu added, %zu updated, %zu removed, %zu unchanged", added,
                updated, removed, c->ntargets - added - updated);
out:
    free(seen);
    free(declared);
}
