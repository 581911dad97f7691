/* PingWatcher — pingwatcherd internals shared by daemon.c (context, loop, reload),
 * targets.c (targets, samples, DNS) and commands.c (control requests). Not a public header. */
#ifndef PWD_DAEMON_INT_H
#define PWD_DAEMON_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "alerts.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "dns.h"
#include "log.h"
#include "loop.h"
#include "privs.h"
#include "request.h"
#include "resolve.h"
#include "route.h"
#include "store.h"
#include "trace.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define NS_PER_US 1000LL

/* Scheduling lag histogram: 10 us steps below 1 ms, 100 us steps below 100 ms, then one
 * bucket for everything later. */
#define LAG_FINE 100
#define LAG_COARSE 990
#define LAG_BUCKETS (LAG_FINE + LAG_COARSE + 1)

struct pwd_target {
    struct pwd_daemon *d;
    struct pwd_target *hnext;   /* chain in d->buckets (by id) */
    size_t idx;                 /* position in d->list */
    struct pw_store_target rec; /* the stored record: options, label, address, paused */
    struct pw_trace_target *et; /* the engine's target; NULL when paused or unresolved */
    bool numeric;               /* the host is an address: never re-resolved */
    bool resolving;
    uint32_t resolve_gen; /* answers for an older lookup are ignored */
    uint32_t resolve_failures;
    int64_t next_resolve_ns; /* CLOCK_MONOTONIC; 0 = never */
    struct pw_route_tracker route;
    uint32_t route_id;  /* stored route of the previous sample (writer.c) */
    unsigned route_ttl; /* final-hop-only: the distance route_id was stored at */
    bool route_sent;    /* the current observed route was queued for the store */
    int64_t sched_ns;   /* CLOCK_MONOTONIC when the next sample is due */
    uint64_t samples;
    int64_t last_sample_us;
    int64_t started_us; /* when probing (re)started; 0 = not running */
};

struct pwd_stats {
    uint64_t samples;         /* delivered by the engine */
    uint64_t samples_flushed; /* committed to the store */
    uint64_t samples_dropped; /* the store refused them */
    uint64_t flushes, flush_errors;
    int64_t flush_ns_total, flush_ns_max; /* time spent committing (since the last reset) */
    uint64_t route_changes;
    uint64_t missed; /* sample slots skipped because the loop was late */
    uint64_t address_changes;
    uint64_t dns_names;
    uint64_t requests, request_errors;
    uint64_t iterations;
    /* Longest stretch of each part of one wake-up (since the last reset): where lag comes
     * from when it comes. */
    int64_t max_engine_ns, max_events_ns, max_drain_ns, max_housekeeping_ns;
    uint64_t lag_count;
    int64_t lag_max_ns;
    uint64_t lag[LAG_BUCKETS];
    int64_t window_start_ns; /* CLOCK_MONOTONIC of the last reset */
};

/* What the loop hands to the store, in order, without waiting for it (writer.c). */
enum pwd_qkind { PWD_Q_SAMPLE, PWD_Q_ROUTE_CHANGE, PWD_Q_DNS };

struct pwd_qentry {
    uint8_t kind;
    uint32_t target_id;
    void *extra;                /* SAMPLE: a new route (struct pw_store_route) or NULL;
                                   ROUTE_CHANGE: struct pwd_qchange; DNS: struct pwd_qdns */
    struct pw_store_sample smp; /* SAMPLE: route_id is filled when it is stored */
};

struct pwd_qchange {
    struct pw_store_route_change c;
    struct pw_store_route old_route, new_route;
};

struct pwd_qdns {
    struct pw_addr addr;
    int64_t time_us;
    char name[PW_DNS_NAME_MAX + 1];
};

/* Addresses whose PTR name was (or is being) looked up. */
struct pwd_ptr_entry {
    struct pwd_ptr_entry *next;
    struct pw_addr addr;
    bool done;
};

#define PTR_BUCKETS 65536

/* A control request waiting for the store while the writer commits (commands.c). */
struct pwd_deferred {
    struct pwd_deferred *next;
    uint64_t client;
    bool has_addr; /* target.add/update whose host was resolved to addr */
    struct pw_addr addr;
    struct pwd_request req;
};

struct pwd_daemon {
    struct pwd_log log;
    char config_path[4096];
    struct pwd_config cfg;
    char db_path[4096];
    char control_path[108];
    const char *db_override, *control_override;
    int log_override;
    struct pwd_ids ids;

    int epfd, sigfd, timerfd;
    struct pwd_watch w_sig, w_timer, w_engine;
    int64_t armed_ns;
    bool stop;

    struct pw_store *store; /* guarded by store_lock once the writer thread runs */
    pthread_mutex_t store_lock;
    pthread_cond_t writer_cond; /* wakes the writer thread (with store_lock) */
    pthread_t writer;
    bool writer_running, writer_stop, writer_kick;
    int64_t writer_first_pending_ns; /* CLOCK_MONOTONIC; guarded by store_lock */
    struct pwd_qentry *q;            /* ring of entries the loop could not hand over yet */
    size_t qhead, qlen, qcap;
    uint64_t q_dropped;
    struct pwd_deferred *deferred, **deferred_tail;
    struct pw_trace_engine *engine;
    struct pwd_control *control;
    struct pw_dns *dns;
    struct pwd_fdset dns_fds;
    bool dns_dirty;
    struct pwd_resolver *resolver;
    struct pwd_fdset res_fds;
    bool res_dirty;

    struct pwd_target **buckets; /* id hash */
    size_t nbuckets;
    struct pwd_target **list; /* every target, for iteration */
    size_t ntargets, cap;

    struct pwd_ptr_entry **ptr;  /* PTR_BUCKETS chains */
    struct pw_addr *ptr_pending; /* waiting for an answer */
    size_t nptr_pending, ptr_pending_cap;

    struct pwd_alerts *alerts; /* alerts.c */

    int64_t rt_off_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC, per wake-up */
    int64_t next_housekeeping_ns;
    int64_t last_flush_error_log_ns;
    int64_t started_ns;
    struct pwd_stats st;
};

int64_t pwd_mono_ns(void);
int64_t pwd_real_us(void);

/* ---- targets.c ---- */

struct pwd_target *pwd_target_find(struct pwd_daemon *d, uint32_t id);
/* Creates the runtime state of a stored record and starts it (unless paused or without an
 * address). Returns the target or NULL (ENOMEM). */
struct pwd_target *pwd_target_attach(struct pwd_daemon *d, const struct pw_store_target *rec);
/* Stops and forgets a target (the store record is the caller's business). */
void pwd_target_detach(struct pwd_daemon *d, struct pwd_target *t);
/* Starts probing (engine add) at a spread offset. Returns 0 or the engine's error, with a
 * reason in err. */
int pwd_target_start(struct pwd_daemon *d, struct pwd_target *t, char *err, size_t errlen);
void pwd_target_stop(struct pwd_daemon *d, struct pwd_target *t);
/* Applies new options/address: restarts the engine target when running. On failure the old
 * state keeps running and err says why. Does not write the store. */
int pwd_target_reconfigure(struct pwd_daemon *d, struct pwd_target *t,
                           const struct pw_trace_opts *opts, const struct pw_addr *addr, char *err,
                           size_t errlen);
/* Starts a (re-)resolution of a target's host. */
void pwd_target_resolve(struct pwd_daemon *d, struct pwd_target *t);
/* Makes the targets declared in the configuration match d->cfg. */
void pwd_targets_sync_config(struct pwd_daemon *d);
/* Due re-resolutions, pending PTR answers. */
void pwd_targets_housekeeping(struct pwd_daemon *d, int64_t now_ns);
void pwd_ptr_poll(struct pwd_daemon *d);
/* Effective options of a declared target: defaults, its named configuration, its overrides. */
void pwd_config_target_opts(const struct pwd_config *c, const struct pwd_config_target *ct,
                            struct pw_trace_opts *out);
bool pwd_opts_equal(const struct pw_trace_opts *a, const struct pw_trace_opts *b);

/* ---- writer.c ---- */

/* Queue a sample (route: a new observed route, copied, or NULL for the target's previous one),
 * a route change, a PTR name. Never blocks; when the queue is full the entry is dropped and
 * counted. */
void pwd_queue_sample(struct pwd_daemon *d, uint32_t target_id, const struct pw_store_sample *smp,
                      const struct pw_store_route *route);
void pwd_queue_route_change(struct pwd_daemon *d, const struct pw_store_route_change *c,
                            const struct pw_store_route *old_route,
                            const struct pw_store_route *new_route);
void pwd_queue_dns(struct pwd_daemon *d, const struct pw_addr *a, const char *name);
/* Hands queued entries to the store if the writer is not committing right now (trylock). */
void pwd_queue_drain(struct pwd_daemon *d);
/* Blocks until the store is free: for rare operations (control requests, reloads). */
void pwd_store_lock(struct pwd_daemon *d);
void pwd_store_unlock(struct pwd_daemon *d);
/* Starts / stops the writer thread (stop commits what is left). Return 0 or -errno. */
int pwd_writer_start(struct pwd_daemon *d);
void pwd_writer_stop(struct pwd_daemon *d);

/* ---- commands.c ---- */

/* The control socket's callback. */
void pwd_command_handle(void *arg, uint64_t client, const char *line, size_t len);
/* Runs requests that waited for the store, if it is free now (trylock). */
void pwd_commands_retry(struct pwd_daemon *d);
/* Frees requests still waiting (shutdown). */
void pwd_commands_drop(struct pwd_daemon *d);

/* ---- daemon.c ---- */

void pwd_stats_lag_add(struct pwd_stats *st, int64_t lag_ns);
/* Lag percentile (0..100) in microseconds from the histogram. */
double pwd_stats_lag_pct(const struct pwd_stats *st, double pct);

#endif
