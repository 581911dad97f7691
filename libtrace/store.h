/* PingWatcher — the LMDB store: targets, named configurations, routes, samples, rollups,
 * route changes, comments, sessions and DNS names, in one LMDB environment (a directory).
 *
 * One process writes (the daemon); any number read (the CLI, the FastCGI app), opened with
 * readonly = true (MDB_RDONLY). The on-disk format is documented in store/FORMAT.md.
 *
 * Writing samples is batched: pw_store_add_sample() only buffers; pw_store_flush() commits
 * every buffered sample (and the rollups and route records they touch) in one write
 * transaction. The daemon flushes every <= 100 ms or N samples, so a crash or kill -9 loses at
 * most the last batch and never corrupts the store (LMDB's copy-on-write commit). Other
 * writes (targets, configurations, comments, sessions, route changes) commit at once.
 *
 * Times are Unix microseconds (int64_t) in CLOCK_REALTIME. RTTs are microseconds; a lost
 * probe is PW_RTT_LOST, never 0. Target ids are assigned by the store, never reused.
 *
 * Ownership: every struct filled by a read function belongs to the caller; strings inside are
 * arrays, not pointers into LMDB, so nothing stays borrowed after a call returns. Callbacks get
 * pointers valid only during the callback.
 *
 * Errors: 0 on success; -ENOENT for an unknown id or name; -EEXIST for a duplicate name;
 * -ENOSPC when the map is full and could not grow; -EROFS for a write on a read-only store;
 * -EIO (or another -errno) for LMDB failures; PW_E_MALFORMED for a record that does not decode
 * (the record is skipped by range reads, which then return this code after finishing). Where
 * an err buffer is taken, a one-line reason is written into it.
 */
#ifndef PW_STORE_H
#define PW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dns.h"
#include "report.h"
#include "stats.h"
#include "trace.h"

struct pw_store;

struct pw_store_opts {
    const char *path;               /* directory; created (mode 0750) when missing and writable */
    bool readonly;                  /* readers: MDB_RDONLY, never write, never grow the map */
    uint64_t map_size;              /* initial map size; 0 = 256 MiB. The writer grows it (doubling,
                                       up to max_map_size) before it fills. */
    uint64_t max_map_size;          /* 0 = 64 GiB */
    uint32_t raw_retention_days;    /* raw samples; 0 = 30 */
    uint32_t rollup_retention_days; /* per-minute and per-hour rollups; 0 = 365 */
};

/* Opens (and for a writer creates) the store. Returns NULL with errno set and a reason in err.
 * A reader clears stale reader slots left by crashed processes (mdb_reader_check). */
struct pw_store *pw_store_open(const struct pw_store_opts *opts, char *err, size_t errlen);
/* Flushes buffered samples (writer) and closes. Accepts NULL. */
void pw_store_close(struct pw_store *s);

/* ---- targets ---- */

#define PW_STORE_HOST_MAX 255
#define PW_STORE_LABEL_MAX 127
#define PW_STORE_NAME_MAX 63

struct pw_store_target {
    uint32_t id;
    char host[PW_STORE_HOST_MAX + 1]; /* as the user gave it: name or address */
    char label[PW_STORE_LABEL_MAX + 1];
    char config[PW_STORE_NAME_MAX + 1]; /* named configuration applied, "" for none */
    struct pw_trace_opts opts;          /* effective options */
    bool paused;
    bool from_config;    /* declared in the configuration file (reloads manage it) */
    struct pw_addr addr; /* address currently probed (hosts are re-resolved) */
    int64_t created_us;
};

/* Adds a target; t->id is ignored and the new id is written back. */
int pw_store_target_add(struct pw_store *s, struct pw_store_target *t);
/* Replaces the record of t->id (options, label, paused, address). -ENOENT when unknown. */
int pw_store_target_update(struct pw_store *s, const struct pw_store_target *t);
/* Deletes the target record; its samples stay until retention removes them, so an export
 * still works. -ENOENT when unknown. */
int pw_store_target_delete(struct pw_store *s, uint32_t id);
int pw_store_target_get(struct pw_store *s, uint32_t id, struct pw_store_target *out);
/* Calls cb for every target in id order; stops early when cb returns non-zero (and returns
 * that value). */
int pw_store_target_list(struct pw_store *s, int (*cb)(void *arg, const struct pw_store_target *t),
                         void *arg);

/* ---- named configurations (presets of trace options) ---- */

struct pw_store_config {
    char name[PW_STORE_NAME_MAX + 1];
    struct pw_trace_opts opts;
};

/* Creates (create = true; -EEXIST when present) or replaces (-ENOENT when absent). */
int pw_store_config_put(struct pw_store *s, const struct pw_store_config *c, bool create);
int pw_store_config_delete(struct pw_store *s, const char *name);
int pw_store_config_get(struct pw_store *s, const char *name, struct pw_store_config *out);
int pw_store_config_list(struct pw_store *s, int (*cb)(void *arg, const struct pw_store_config *c),
                         void *arg);

/* ---- samples ---- */

/* One sample as stored: the route it was taken on plus one RTT-or-lost per hop. route_id
 * comes from pw_store_route_intern(). rtt_us[i] is TTL i+1 (PW_RTT_LOST when lost). */
struct pw_store_sample {
    int64_t time_us;
    uint32_t route_id;
    uint8_t nhops;
    bool reached;
    int32_t rtt_us[PW_TRACE_MAX_HOPS];
};

/* A route: the responder of each TTL (family 0 = none known at that TTL). */
struct pw_store_route {
    uint8_t nhops;
    struct pw_addr hop[PW_TRACE_MAX_HOPS];
};

/* Returns the id of this route, creating it on first use (the same list always gets the same
 * id: a stable route is stored once). Writer only; part of the next flush's transaction when
 * new, but the id is valid at once. */
int pw_store_route_intern(struct pw_store *s, const struct pw_store_route *r, uint32_t *id);
int pw_store_route_get(struct pw_store *s, uint32_t id, struct pw_store_route *out);

/* Buffers one sample of target_id (samples of one target must come in time order). Never
 * blocks on disk. Returns -ENOSPC when the buffer is full (flush first). */
int pw_store_add_sample(struct pw_store *s, uint32_t target_id, const struct pw_store_sample *smp);
/* Samples buffered and not yet committed. */
size_t pw_store_pending(const struct pw_store *s);
/* Commits all buffered samples, their rollups and new routes in one durable transaction.
 * On -ENOSPC (disk or map full) the batch stays buffered for a later retry, up to the buffer
 * limit; the caller logs it. */
int pw_store_flush(struct pw_store *s);

/* Deletes raw samples and rollups older than their retention, at most max_records per call so
 * the daemon can spread the work. Returns the number of records deleted or -errno. */
long pw_store_retention(struct pw_store *s, int64_t now_us, long max_records);

/* Calls cb for each stored sample of target_id with start_us <= time < end_us, in time order
 * (newest first when newest_first). Stops early when cb returns non-zero. */
int pw_store_samples(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                     bool newest_first, int (*cb)(void *arg, const struct pw_store_sample *smp),
                     void *arg);

/* ---- read API for the CLI and the web app ---- */

/* The hop table: statistics over the newest `focus` samples (0 = every stored sample) taken
 * at or before at_us (0 = now), with responders from each sample's route and DNS names from
 * the store's DNS table. Fills r completely (target = host, ip, proto, samples, hops). */
int pw_store_hops(struct pw_store *s, uint32_t target_id, uint32_t focus, int64_t at_us,
                  struct pw_report *r);

/* Number of latency histogram bins in rollups and timeline buckets. Bin upper bounds are
 * pw_store_hist_bound_us(i); the last bin is open-ended. */
#define PW_STORE_HIST_BINS 16
int64_t pw_store_hist_bound_us(unsigned bin);

struct pw_store_bucket {
    int64_t start_us, end_us;
    uint8_t hop; /* TTL */
    uint32_t count, lost;
    bool has_latency;
    double min_ms, avg_ms, max_ms;
    double p10_ms, p50_ms, p90_ms; /* from the histogram (exact for raw-sample buckets) */
    double stddev_ms;
};

/* Timeline buckets for start_us <= t < end_us at resolution_us (0 = chosen so there are at
 * most max_buckets). hop: a TTL, 0 = the final hop of each sample, -1 = every hop (buckets of
 * one time come hop by hop). Reads raw samples for fine resolutions and per-minute or per-hour
 * rollups for coarse ones. Calls cb per non-empty bucket in time order. */
int pw_store_timeline(struct pw_store *s, uint32_t target_id, int hop, int64_t start_us,
                      int64_t end_us, int64_t resolution_us, uint32_t max_buckets,
                      int (*cb)(void *arg, const struct pw_store_bucket *b), void *arg);

/* ---- route changes ---- */

struct pw_store_route_change {
    uint32_t target_id;
    int64_t time_us; /* first sample on the new route */
    uint32_t old_route, new_route;
    uint8_t first_hop; /* lowest TTL that differs */
};

int pw_store_route_change_add(struct pw_store *s, const struct pw_store_route_change *c);
/* In time order, start_us <= t < end_us (0, INT64_MAX for all). */
int pw_store_route_changes(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                           int (*cb)(void *arg, const struct pw_store_route_change *c), void *arg);

/* ---- comments (timeline annotations) and sessions (named time ranges) ---- */

#define PW_STORE_TEXT_MAX 1023

struct pw_store_comment {
    uint32_t id; /* assigned by the store */
    uint32_t target_id;
    int64_t time_us;
    char text[PW_STORE_TEXT_MAX + 1];
    char author[PW_STORE_NAME_MAX + 1]; /* "" = anonymous, "alert:NAME" for alert actions */
};

int pw_store_comment_add(struct pw_store *s, struct pw_store_comment *c);
int pw_store_comment_delete(struct pw_store *s, uint32_t id);
int pw_store_comments(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                      int (*cb)(void *arg, const struct pw_store_comment *c), void *arg);

struct pw_store_session {
    uint32_t id; /* assigned by the store */
    uint32_t target_id;
    char name[PW_STORE_LABEL_MAX + 1];
    int64_t start_us, end_us;
    int64_t created_us;
};

int pw_store_session_add(struct pw_store *s, struct pw_store_session *ss);
int pw_store_session_delete(struct pw_store *s, uint32_t id);
int pw_store_session_get(struct pw_store *s, uint32_t id, struct pw_store_session *out);
/* target_id 0 = all targets. */
int pw_store_sessions(struct pw_store *s, uint32_t target_id,
                      int (*cb)(void *arg, const struct pw_store_session *ss), void *arg);

/* ---- reverse DNS names ---- */

/* Remembers the (already sanitized) name of addr; PW_DNS_NONE for no PTR record. */
int pw_store_dns_put(struct pw_store *s, const struct pw_addr *addr, const char *name,
                     int64_t now_us);
/* 0 and the name, or -ENOENT. */
int pw_store_dns_get(struct pw_store *s, const struct pw_addr *addr, char *name, size_t len);

/* ---- export ---- */

/* One row per hop per sample, as the spec's export: time, hop, ip, dns, rtt (lost = -1). */
struct pw_store_export_row {
    int64_t time_us;
    uint8_t hop;
    struct pw_addr ip; /* family 0 when unknown */
    char dns[PW_DNS_NAME_MAX + 1];
    int32_t rtt_us; /* PW_RTT_LOST when lost */
};

int pw_store_export(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                    int (*cb)(void *arg, const struct pw_store_export_row *row), void *arg);

/* ---- figures for benchmarks and /metrics ---- */

struct pw_store_stats {
    uint64_t file_bytes; /* data.mdb size on disk */
    uint64_t used_bytes; /* pages in use x page size */
    uint64_t map_bytes;
    uint64_t samples;     /* raw sample records (or samples inside blocks) */
    uint64_t hop_samples; /* sum of nhops over stored samples */
};

int pw_store_stats(struct pw_store *s, struct pw_store_stats *out);

#endif
