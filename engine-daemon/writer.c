/* PingWatcher — pingwatcherd's store writer: the loop never waits for a disk commit.
 *
 * Committing a batch to LMDB takes milliseconds (more with thousands of targets), and the
 * loop must send probes on time. So the loop only queues what it has (samples, new routes,
 * route changes, PTR names) and hands the queue to the store with a trylock, a bounded slice
 * of in-memory work per wake-up; a writer thread at a lower CPU priority commits the
 * store's batch every batch.max_ms (or sooner when batch.max_samples wait) and applies
 * retention. While it commits, the loop's trylock fails and the queue simply waits for the
 * next wake-up. Rare operations (control requests, reloads) take the lock and may wait for
 * one commit.
 *
 * Ownership: the store is used by one thread at a time (store_lock); its read transaction is
 * not thread-bound (MDB_NOTLS).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daemon-int.h"
#include "error.h"

/* Entries waiting at most (a few seconds of 10,000 targets); beyond, samples are dropped and
 * counted rather than memory growing without bound. */
#define QUEUE_MAX (1u << 18)
#define RETENTION_EVERY_NS (10 * NS_PER_S)
#define RETENTION_BATCH 5000
/* The loop hands over at most this much work per wake-up, then sends probes again: a backlog
 * (after a long commit, or when every target starts a new rollup minute at once) is spread
 * over several wake-ups instead of delaying one. */
#define DRAIN_BUDGET_NS (300 * NS_PER_US)
/* The writer runs this much nicer than the loop: the loop wins the CPU whenever it has work,
 * and the writer still competes evenly with unrelated jobs (a writer at nice 19 starved by a
 * compiler holds the lock for ages). */
#define WRITER_NICE_DELTA 5

void pwd_store_lock(struct pwd_daemon *d)
{
    pthread_mutex_lock(&d->store_lock);
}

void pwd_store_unlock(struct pwd_daemon *d)
{
    pthread_mutex_unlock(&d->store_lock);
}

static struct pwd_qentry *queue_push(struct pwd_daemon *d)
{
    if (d->qlen == d->qcap) {
        size_t cap = d->qcap ? d->qcap * 2 : 4096;
        struct pwd_qentry *q;

        if (cap > QUEUE_MAX)
            return NULL;
        q = malloc(cap * sizeof(*q));
        if (!q)
            return NULL;
        /* Unroll the ring into the new array. */
        for (size_t i = 0; i < d->qlen; i++)
            q[i] = d->q[(d->qhead + i) % d->qcap];
        free(d->q);
        d->q = q;
        d->qcap = cap;
        d->qhead = 0;
    }
    return &d->q[(d->qhead + d->qlen++) % d->qcap];
}

void pwd_queue_sample(struct pwd_daemon *d, uint32_t target_id, const struct pw_store_sample *smp,
                      const struct pw_store_route *route)
{
    struct pw_store_route *copy = NULL;
    struct pwd_qentry *e;

    if (route && !(copy = malloc(sizeof(*copy)))) {
        d->q_dropped++;
        return;
    }
    e = queue_push(d);
    if (!e) {
        free(copy);
        d->q_dropped++;
        return;
    }
    if (copy)
        *copy = *route;
    e->kind = PWD_Q_SAMPLE;
    e->target_id = target_id;
    e->extra = copy;
    /* Only the hops the sample has: most samples use a fraction of the 64 slots. */
    e->smp.time_us = smp->time_us;
    e->smp.route_id = 0;
    e->smp.nhops = smp->nhops;
    e->smp.reached = smp->reached;
    memcpy(e->smp.rtt_us, smp->rtt_us, smp->nhops * sizeof(smp->rtt_us[0]));
}

void pwd_queue_route_change(struct pwd_daemon *d, const struct pw_store_route_change *c,
                            const struct pw_store_route *old_route,
                            const struct pw_store_route *new_route)
{
    struct pwd_qchange *x = malloc(sizeof(*x));
    struct pwd_qentry *e;

    if (!x || !(e = queue_push(d))) {
        free(x);
        d->q_dropped++;
        return;
    }
    x->c = *c;
    x->old_route = *old_route;
    x->new_route = *new_route;
    e->kind = PWD_Q_ROUTE_CHANGE;
    e->target_id = c->target_id;
    e->extra = x;
}

void pwd_queue_dns(struct pwd_daemon *d, const struct pw_addr *a, const char *name)
{
    struct pwd_qdns *x = malloc(sizeof(*x));
    struct pwd_qentry *e;

    if (!x || !(e = queue_push(d))) {
        free(x);
        return;
    }
    x->addr = *a;
    x->time_us = pwd_real_us();
    snprintf(x->name, sizeof(x->name), "%s", name);
    e->kind = PWD_Q_DNS;
    e->target_id = 0;
    e->extra = x;
}

/* One entry into the store (store_lock held). */
static void store_entry(struct pwd_daemon *d, struct pwd_qentry *e)
{
    struct pwd_target *t = pwd_target_find(d, e->target_id);
    int rc;

    switch (e->kind) {
    case PWD_Q_SAMPLE: {
        uint32_t route_id = t ? t->route_id : 0;
        if (e->extra) {
            rc = pw_store_route_intern(d->store, e->extra, &route_id);
            if (rc < 0) {
                pwd_log(&d->log, PWD_LOG_ERR, "target %u: cannot store a route: %s", e->target_id,
                        pw_strerror(rc));
                route_id = 0;
            }
            if (t)
                t->route_id = route_id;
        } else if (!t) {
            /* Removed meanwhile, and its route went with it: nothing to say where it was. */
            d->st.samples_dropped++;
            break;
        }
        e->smp.route_id = route_id;
        if (pw_store_pending(d->store) == 0)
            d->writer_first_pending_ns = pwd_mono_ns();
        rc = pw_store_add_sample(d->store, e->target_id, &e->smp);
        if (rc < 0) {
            /* -ENOSPC: the writer has fallen far behind; PW_E_RANGE: out of time order
             * (the clock was stepped back). Counted, not retried. */
            d->st.samples_dropped++;
        }
        break;
    }
    case PWD_Q_ROUTE_CHANGE: {
        struct pwd_qchange *x = e->extra;
        if (pw_store_route_intern(d->store, &x->old_route, &x->c.old_route) == 0 &&
            pw_store_route_intern(d->store, &x->new_route, &x->c.new_route) == 0) {
            rc = pw_store_route_change_add(d->store, &x->c);
            if (rc < 0)
                pwd_log(&d->log, PWD_LOG_ERR, "target %u: cannot store the route change: %s",
                        e->target_id, pw_strerror(rc));
        }
        break;
    }
    case PWD_Q_DNS: {
        struct pwd_qdns *x = e->extra;
        if (pw_store_dns_put(d->store, &x->addr, x->name, x->time_us) == 0)
            d->st.dns_names++;
        break;
    }
    }
    free(e->extra);
    e->extra = NULL;
}

/* Queued entries into the store, within the budget (store_lock held; budget 0 = all). */
static void drain_locked(struct pwd_daemon *d, int64_t budget_ns)
{
    int64_t end = budget_ns ? pwd_mono_ns() + budget_ns : 0;
    unsigned n = 0;

    while (d->qlen) {
        store_entry(d, &d->q[d->qhead]);
        d->qhead = (d->qhead + 1) % d->qcap;
        d->qlen--;
        if (end && (++n & 15) == 0 && pwd_mono_ns() >= end)
            break;
    }
    if (!d->qlen)
        d->qhead = 0;
    if (d->writer_running && pw_store_pending(d->store) >= d->cfg.batch_max_samples) {
        d->writer_kick = true;
        pthread_cond_signal(&d->writer_cond);
    }
}

void pwd_queue_drain(struct pwd_daemon *d)
{
    if (!d->qlen)
        return;
    if (pthread_mutex_trylock(&d->store_lock) != 0)
        return; /* the writer is committing: the entries wait for the next wake-up */
    drain_locked(d, DRAIN_BUDGET_NS);
    pthread_mutex_unlock(&d->store_lock);
}

/* Commits the store's batch (store_lock held). */
static void commit_locked(struct pwd_daemon *d)
{
    size_t n = pw_store_pending(d->store);
    int64_t t0, took;
    int rc;

    if (!n)
        return;
    t0 = pwd_mono_ns();
    rc = pw_store_flush(d->store);
    took = pwd_mono_ns() - t0;
    d->st.flush_ns_total += took;
    if (took > d->st.flush_ns_max)
        d->st.flush_ns_max = took;
    if (rc < 0) {
        d->st.flush_errors++;
        /* Retried at the next round; said once every 10 s, not 10 times a second. */
        if (t0 - d->last_flush_error_log_ns > 10 * NS_PER_S) {
            pwd_log(&d->log, PWD_LOG_ERR, "cannot commit %zu samples to the store: %s", n,
                    pw_strerror(rc));
            d->last_flush_error_log_ns = t0;
        }
        d->writer_first_pending_ns = pwd_mono_ns();
        return;
    }
    d->st.flushes++;
    d->st.samples_flushed += n - pw_store_pending(d->store);
}

static struct timespec abs_after(int64_t ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ns / NS_PER_S);
    ts.tv_nsec = (long)(ns % NS_PER_S);
    return ts;
}

static void *writer_main(void *arg)
{
    struct pwd_daemon *d = arg;
    int64_t last_retention = pwd_mono_ns();

    {
        /* Under a real-time loop (chrt), the writer must not inherit its policy: two FIFO
         * threads on one CPU do not share it, and a commit would hold the loop off. */
        struct sched_param sp = {.sched_priority = 0};
        int nice_now;

        pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
        errno = 0;
        nice_now = getpriority(PRIO_PROCESS, 0);
        if (errno == 0)
            setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
                        nice_now + WRITER_NICE_DELTA > 19 ? 19 : nice_now + WRITER_NICE_DELTA);
    }
    prctl(PR_SET_NAME, "pwd-writer", 0, 0, 0);
    pthread_mutex_lock(&d->store_lock);
    while (!d->writer_stop) {
        int64_t now = pwd_mono_ns(), due;
        size_t pending = pw_store_pending(d->store);

        due = pending ? d->writer_first_pending_ns + (int64_t)d->cfg.batch_max_ms * NS_PER_MS
                      : now + (int64_t)d->cfg.batch_max_ms * NS_PER_MS;
        if (!d->writer_kick && now < due) {
            struct timespec ts = abs_after(due);
            pthread_cond_timedwait(&d->writer_cond, &d->store_lock, &ts);
            continue;
        }
        d->writer_kick = false;
        commit_locked(d);
        if (now - last_retention >= RETENTION_EVERY_NS) {
            long n = pw_store_retention(d->store, pwd_real_us(), RETENTION_BATCH);
            last_retention = now;
            if (n > 0)
                pwd_log(&d->log, PWD_LOG_DEBUG, "retention: %ld old records deleted", n);
        }
    }
    pthread_mutex_unlock(&d->store_lock);
    return NULL;
}

int pwd_writer_start(struct pwd_daemon *d)
{
    int rc;

    d->writer_stop = false;
    rc = pthread_create(&d->writer, NULL, writer_main, d);
    if (rc)
        return -rc;
    d->writer_running = true;
    return 0;
}

void pwd_writer_stop(struct pwd_daemon *d)
{
    if (d->writer_running) {
        pthread_mutex_lock(&d->store_lock);
        d->writer_stop = true;
        pthread_cond_signal(&d->writer_cond);
        pthread_mutex_unlock(&d->store_lock);
        pthread_join(d->writer, NULL);
        d->writer_running = false;
    }
    /* What is left: queued entries, then one last commit. */
    pthread_mutex_lock(&d->store_lock);
    drain_locked(d, 0);
    commit_locked(d);
    pthread_mutex_unlock(&d->store_lock);
}
