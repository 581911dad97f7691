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
 * probe is PW_RTT_LOST, never 0. RTTs are stored in units of PW_STORE_RTT_QUANTUM_US (10 µs):
 * what is read back is the written value rounded to the nearest 10 µs. Target ids are assigned
 * by the store, never reused.
 *
 * Reads see committed data only (never the writer's unflushed batch). Rollups (per minute and
 * per hour) are aligned to UTC minutes and hours since the Unix epoch.
 *
 * Threads and processes: a struct pw_store is used by one thread at a time. LMDB forbids
 * opening the same environment twice in one process: open one pw_store per process (the
 * writer's handle serves reads too), and open it after fork(), never before. More threads
 * read at once through readers (pw_store_reader_new): each a handle of its own on the same
 * environment, with its own read transaction, so readers never wait for one another nor for
 * the writer. When the writer grows the map, the next transaction of a reader adopts the new
 * size while no other transaction of the process is active (reads in flight finish first).
 *
 * Permissions: the writer creates the directory 0750, lock.mdb 0660 and data.mdb 0640.
 * Readers (e.g. the FastCGI app, another user) need read access to data.mdb and write access
 * to lock.mdb (LMDB's reader table lives there): run them in the store's group. A reader
 * lacking that gets EACCES from pw_store_open() with the reason in err.
 *
 * Ownership: every struct filled by a read function belongs to the caller; strings inside are
 * arrays, not pointers into LMDB, so nothing stays borrowed after a call returns. Callbacks get
 * pointers valid only during the callback, and must not call back into the same store.
 *
 * Errors: 0 on success; -ENOENT for an unknown id or name; -EEXIST for a duplicate name;
 * -ENOSPC when the map is full and could not grow, or the disk is full; -EROFS for a write on
 * a read-only store; -EINVAL for a bad argument; PW_E_RANGE for a value outside its range (a
 * sample out of time order, a string too long); -EIO (or another -errno) for LMDB failures
 * (-EIO after an LMDB panic: close and reopen the store); PW_E_MALFORMED for a record that
 * does not decode (the record is skipped by range reads, which then return this code after
 * finishing; the callbacks still got every good record). Where an err buffer is taken, a
 * one-line reason is written into it.
 */
#ifndef PW_STORE_H
#define PW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dns.h"
#include "error.h"
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

/* Opens (and for a writer creates) the store. Returns NULL with errno set and a reason in err:
 * ENOENT when a reader finds no store (the daemon creates it), EACCES when a reader may not
 * write lock.mdb (see Permissions above), EPROTO when the store was written by a newer format
 * version than this build reads (it is left untouched). Readers and the writer both clear
 * stale reader slots left by crashed processes (mdb_reader_check). The caller frees the
 * handle with pw_store_close(). */
struct pw_store *pw_store_open(const struct pw_store_opts *opts, char *err, size_t errlen);
/* Flushes buffered samples (writer; a failure is lost: call pw_store_flush() first to see it)
 * and closes; closes a reader. Close every reader of a store before the store. Accepts NULL. */
void pw_store_close(struct pw_store *s);

/* ---- readers (one more thread) and snapshots ---- */

/* Returns a reader of s: a handle for one more thread, on the same environment (s may be a
 * reader too; the new one belongs to the store that was opened). Every read function takes it;
 * write functions return -EROFS; it sees committed data only, also on the writer's store. It
 * keeps one read transaction (an LMDB reader slot, of which there are 256 per store) that is
 * reset between reads. Used by one thread at a time, like any handle; free it with
 * pw_store_close() before s. NULL with errno (ENOMEM, EINVAL). */
struct pw_store *pw_store_reader_new(struct pw_store *s);

/* Pins the committed state of this moment for the reads of handle s (read-only stores and
 * readers: -EINVAL on the writer's own handle, -EBUSY when one is pinned already): until
 * pw_store_snapshot_end() every read sees exactly this state, whatever the writer commits
 * meanwhile. version (may be NULL) gets the state's identifier: LMDB's transaction id, which
 * every commit increases, so equal versions mean equal data (a cheap key for caches). Hold a
 * snapshot briefly (one request): the writer cannot reuse pages a snapshot still sees. */
int pw_store_snapshot_begin(struct pw_store *s, uint64_t *version);
/* Ends the snapshot of s (nothing when none is pinned), on the thread that began it. Accepts
 * NULL. */
void pw_store_snapshot_end(struct pw_store *s);

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

/* Creates (create = true; -EEXIST when present) or replaces (-ENOENT when absent). The name is
 * 1..PW_STORE_NAME_MAX bytes (PW_E_RANGE otherwise). */
int pw_store_config_put(struct pw_store *s, const struct pw_store_config *c, bool create);
int pw_store_config_delete(struct pw_store *s, const char *name);
int pw_store_config_get(struct pw_store *s, const char *name, struct pw_store_config *out);
/* In name (byte) order; stops early when cb returns non-zero (and returns that value). */
int pw_store_config_list(struct pw_store *s, int (*cb)(void *arg, const struct pw_store_config *c),
                         void *arg);

/* ---- samples ---- */

/* rtt_us[] value of a TTL that was not probed in this sample: final_hop_only samples probe the
 * destination alone, so every TTL before it is PW_STORE_RTT_SKIP. It counts nowhere (neither
 * sent nor lost). */
#define PW_STORE_RTT_SKIP (-2)
/* RTTs are stored in these units (rounded to the nearest). */
#define PW_STORE_RTT_QUANTUM_US 10
/* Largest RTT stored (the largest timeout); larger values are stored as this. */
#define PW_STORE_RTT_MAX_US 60000000

/* One sample as stored: the route it was taken on plus one RTT-or-lost per hop. route_id
 * comes from pw_store_route_intern() (0 = no route known: no responders). rtt_us[i] is TTL
 * i+1: 0..PW_STORE_RTT_MAX_US, PW_RTT_LOST when lost, PW_STORE_RTT_SKIP when not probed.
 * reached: the destination answered, at TTL nhops (as the trace engine delivers samples).
 * Entries from nhops on are ignored when writing and left unset when reading. */
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

/* Returns the id (>= 1) of this route, creating it on first use (the same list always gets the
 * same id: a stable route is stored once; routes are found by a hash of the list and compared
 * in full). Writer only (-EROFS otherwise); written by the next write transaction of any kind
 * when new, but the id is valid at once. Unused address bytes must be zero (pw_addr_parse and
 * the trace engine leave them so). */
int pw_store_route_intern(struct pw_store *s, const struct pw_store_route *r, uint32_t *id);
/* The committed (or, on the writer, pending) route of id; -ENOENT when unknown. */
int pw_store_route_get(struct pw_store *s, uint32_t id, struct pw_store_route *out);

/* Most samples buffered between flushes. */
#define PW_STORE_PENDING_MAX 65536

/* Buffers one sample of target_id. Samples of one target must come in strictly increasing
 * time order: PW_E_RANGE otherwise (the daemon drops and counts such samples, e.g. after the
 * clock was stepped back), and also for nhops > PW_TRACE_MAX_HOPS or an RTT below
 * PW_STORE_RTT_SKIP. Does not write; the first sample of a target after open reads that
 * target's newest block and rollups (a short read) so writing continues where it stopped.
 * Returns -ENOSPC when PW_STORE_PENDING_MAX samples wait (flush first), -EROFS on a reader. */
int pw_store_add_sample(struct pw_store *s, uint32_t target_id, const struct pw_store_sample *smp);
/* Samples buffered and not yet committed. */
size_t pw_store_pending(const struct pw_store *s);
/* Commits all buffered samples, their rollups, new routes and buffered DNS names in one durable
 * transaction (0 at once when there is nothing to do). The map grows (doubling, up to
 * max_map_size) when it fills. On -ENOSPC (disk full, or the map full at max_map_size) and on
 * any other failure the batch stays buffered for a later retry, up to the buffer limit; the
 * caller logs it. */
int pw_store_flush(struct pw_store *s);

/* Deletes raw sample blocks whose newest sample is older than now_us - raw_retention_days, and
 * rollup records and route changes older than now_us - rollup_retention_days: at most
 * max_records records per call (<= 0: 1000), in one transaction, so the daemon can spread the
 * work (call again while it returns max_records). Flushes the batch first. Returns the number
 * of records deleted or -errno. Comments, sessions, routes and DNS names never expire. */
long pw_store_retention(struct pw_store *s, int64_t now_us, long max_records);

/* Calls cb for each stored sample of target_id with start_us <= time < end_us, in time order
 * (newest first when newest_first). Stops early when cb returns non-zero (and returns that
 * value). */
int pw_store_samples(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                     bool newest_first, int (*cb)(void *arg, const struct pw_store_sample *smp),
                     void *arg);

/* ---- read API for the CLI and the web app ---- */

/* Largest focus window (samples) pw_store_hops() computes: 3.8 days at 2.5 s. */
#define PW_STORE_FOCUS_MAX 131072

/* The hop table: statistics over the newest `focus` samples (0 = every stored sample; both cut
 * to PW_STORE_FOCUS_MAX) taken at or before at_us (0 = now), with responders from each
 * sample's route (answered probes only), DNS names from the store's DNS table (PW_DNS_NONE
 * when known to have no PTR record, "" when unknown) and the same hop selection as
 * pw_report_acc_finish(). Fills r completely (target = host, ip, proto from the target record,
 * left empty when the target was deleted; samples; hops). -ENOENT when the target has neither
 * a record nor samples. */
int pw_store_hops(struct pw_store *s, uint32_t target_id, uint32_t focus, int64_t at_us,
                  struct pw_report *r);

/* Number of latency histogram bins in rollups and timeline buckets. Bin i holds RTTs with
 * pw_store_hist_bound_us(i - 1) <= rtt < pw_store_hist_bound_us(i): the bounds double from
 * 250 µs (bin 0: below 0.25 ms) to 4.096 s; the last bin is open-ended (INT64_MAX). */
#define PW_STORE_HIST_BINS 16
int64_t pw_store_hist_bound_us(unsigned bin);
/* The bin of an RTT (µs). */
unsigned pw_store_hist_bin(int64_t rtt_us);

struct pw_store_bucket {
    int64_t start_us, end_us;
    uint8_t hop;          /* TTL; 0 = the final hop of each sample */
    uint32_t count, lost; /* probes sent (lost included), of which lost */
    bool has_latency;
    double min_ms, avg_ms, max_ms;
    double p10_ms, p50_ms, p90_ms;     /* nearest rank (the ceil(p * n)-th smallest answered RTT):
                                          exact for raw-sample buckets; from the histogram for
                                          rollups, within the width of the bin it lies in */
    double stddev_ms;                  /* population standard deviation */
    uint32_t hist[PW_STORE_HIST_BINS]; /* answered RTTs per histogram bin */
};

/* Timeline buckets for start_us <= t < end_us at resolution_us. Buckets are aligned to
 * multiples of the resolution since the Unix epoch, and the range is widened to whole buckets.
 * resolution_us 0 = the smallest of 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1, 2, 3,
 * 6, 12 h, 1 day, 7 days (or whole weeks beyond) giving at most max_buckets (0 = 1000) buckets.
 * Resolutions below a minute or not a whole number of minutes read raw samples; whole minutes
 * read the per-minute rollups, whole hours the per-hour rollups (so a range older than the raw
 * retention needs a resolution of at least a minute). hop: a TTL, 0 = the final hop of each
 * sample, -1 = every TTL (buckets of one time come hop by hop, TTL ascending). Calls cb per
 * non-empty bucket in time order; stops early when cb returns non-zero (and returns that).
 * PW_E_RANGE for start_us >= end_us or a negative resolution; -EINVAL for hop < -1 or above
 * PW_TRACE_MAX_HOPS. */
int pw_store_timeline(struct pw_store *s, uint32_t target_id, int hop, int64_t start_us,
                      int64_t end_us, int64_t resolution_us, uint32_t max_buckets,
                      int (*cb)(void *arg, const struct pw_store_bucket *b), void *arg);

/* What pw_store_timeline() reads for these arguments: the resolution (resolution_us, or the
 * automatic choice) and the range widened to whole buckets, [start_us, end_us). Its answer
 * depends on the arguments only through this plan (and hop, and the data): two calls with
 * equal plans on equal data give equal buckets, whatever start and end were. */
struct pw_store_timeline_plan {
    int64_t resolution_us; /* 0 when the range is empty after clamping (no buckets) */
    int64_t start_us, end_us;
};

/* Fills plan; PW_E_RANGE for start_us >= end_us or a negative resolution, as the timeline. */
int pw_store_timeline_plan(int64_t start_us, int64_t end_us, int64_t resolution_us,
                           uint32_t max_buckets, struct pw_store_timeline_plan *plan);

/* ---- route changes ---- */

struct pw_store_route_change {
    uint32_t target_id;
    int64_t time_us; /* first sample on the new route */
    uint32_t old_route, new_route;
    uint8_t first_hop; /* lowest TTL that differs */
};

/* One change per target and time (a second one at the same time replaces the first). */
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

/* Adds a comment; c->id is ignored and the new id is written back. */
int pw_store_comment_add(struct pw_store *s, struct pw_store_comment *c);
int pw_store_comment_delete(struct pw_store *s, uint32_t id);
/* In time order, start_us <= t < end_us. */
int pw_store_comments(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                      int (*cb)(void *arg, const struct pw_store_comment *c), void *arg);

struct pw_store_session {
    uint32_t id; /* assigned by the store */
    uint32_t target_id;
    char name[PW_STORE_LABEL_MAX + 1];
    int64_t start_us, end_us;
    int64_t created_us;
};

/* Adds a session; ss->id is ignored and the new id is written back. */
int pw_store_session_add(struct pw_store *s, struct pw_store_session *ss);
int pw_store_session_delete(struct pw_store *s, uint32_t id);
int pw_store_session_get(struct pw_store *s, uint32_t id, struct pw_store_session *out);
/* target_id 0 = all targets; in id order. */
int pw_store_sessions(struct pw_store *s, uint32_t target_id,
                      int (*cb)(void *arg, const struct pw_store_session *ss), void *arg);

/* ---- reverse DNS names ---- */

/* Remembers the (already sanitized) name of addr; PW_DNS_NONE for no PTR record. Buffered like
 * samples (a new route brings many names at once) and committed by the next pw_store_flush()
 * or other write; pw_store_dns_get() on the writer sees buffered names at once. Writer only. */
int pw_store_dns_put(struct pw_store *s, const struct pw_addr *addr, const char *name,
                     int64_t now_us);
/* 0 and the name (PW_DNS_NONE when known to have no PTR record; cut to len - 1 bytes), or
 * -ENOENT. */
int pw_store_dns_get(struct pw_store *s, const struct pw_addr *addr, char *name, size_t len);

/* ---- export ---- */

/* One row per hop per sample, as the spec's export: time, hop, ip, dns, rtt (lost = -1).
 * TTLs that were not probed (PW_STORE_RTT_SKIP) have no row. ip is the responder the sample's
 * route has at that TTL (family 0 when none is known), for lost probes too; dns as in
 * pw_store_hops(). */
struct pw_store_export_row {
    int64_t time_us;
    uint8_t hop;
    struct pw_addr ip; /* family 0 when unknown */
    char dns[PW_DNS_NAME_MAX + 1];
    int32_t rtt_us; /* PW_RTT_LOST when lost */
};

/* Calls cb per row in time then TTL order, start_us <= time < end_us; stops early when cb
 * returns non-zero (and returns that). */
int pw_store_export(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                    int (*cb)(void *arg, const struct pw_store_export_row *row), void *arg);

/* ---- figures for benchmarks and /metrics ---- */

struct pw_store_stats {
    uint64_t file_bytes; /* data.mdb size on disk */
    uint64_t used_bytes; /* pages in use (all named DBs and LMDB's own) x page size */
    uint64_t map_bytes;
    uint64_t samples;      /* samples inside the committed blocks */
    uint64_t hop_samples;  /* sum of nhops over those samples */
    uint64_t raw_bytes;    /* pages of the samples DB x page size */
    uint64_t rollup_bytes; /* pages of both rollup DBs x page size */
    uint64_t blocks;       /* sample block records */
};

int pw_store_stats(struct pw_store *s, struct pw_store_stats *out);

/* ==== alerts (engine-daemon/alerts.c; libtrace/store/store_alerts.c) ====
 * The `alerts` named DB holds opaque records whose keys the daemon chooses (FORMAT.md,
 * "alerts"): rules, per-(rule, target) state, history. */

#define PW_STORE_ALERT_KEY_MAX 64
#define PW_STORE_ALERT_VAL_MAX 16384

/* One record to write; val == NULL deletes key (absent keys are no error). Borrowed. */
struct pw_store_alert_kv {
    const void *key;
    size_t klen; /* 1..PW_STORE_ALERT_KEY_MAX */
    const void *val;
    size_t vlen; /* 0..PW_STORE_ALERT_VAL_MAX */
};

/* Writes kv[0..n) in one durable transaction. 0, -EINVAL (sizes), -EROFS on a reader,
 * -ENOSPC, -errno. */
int pw_store_alert_write(struct pw_store *s, const struct pw_store_alert_kv *kv, size_t n);
/* Deletes every record whose key starts with prefix (1..PW_STORE_ALERT_KEY_MAX bytes). */
int pw_store_alert_delete_prefix(struct pw_store *s, const void *prefix, size_t plen);
/* Calls cb in key order for the committed records whose key starts with prefix (plen 0: all),
 * starting at from (flen 0: at the prefix). Stops when cb returns non-zero and returns that.
 * k and v are borrowed for the call only. */
int pw_store_alert_scan(
    struct pw_store *s, const void *prefix, size_t plen, const void *from, size_t flen,
    int (*cb)(void *arg, const void *k, size_t klen, const void *v, size_t vlen), void *arg);

#endif
