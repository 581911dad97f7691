/* PingWatcher — what the API handlers share: the handlers themselves (one module per area),
 * and helpers that validate a request and answer its errors.
 *
 * Convention: a helper returns 0 when the handler may go on, or PW_ANSWERED when it has
 * already sent an error answer (the handler then returns 0 at once).
 */
#ifndef PW_API_H
#define PW_API_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "app.h"
#include "render.h"
#include "store.h"

#define PW_ANSWERED 1

/* Default focus (samples) of hop tables, as PingPlotter's. */
#define PW_API_FOCUS_DEFAULT 10
#define PW_API_FOCUS_MAX 1000000

typedef int (*pw_handler)(struct pw_req *r);

/* ---- helpers (api.c) ---- */

/* Rejects every parameter not in allowed (NULL-terminated): 400. */
int pw_api_params(struct pw_req *r, const char *const *allowed);
/* The worker thread's reader of the store, or NULL once an error was answered (503 without a
 * store). The first call of a request pins a snapshot (pw_store_snapshot_begin): every read
 * until pw_api_store_release() or the end of the request sees the same data, whose version is
 * r->version. Never blocks on other requests. */
struct pw_store *pw_api_store(struct pw_req *r);
/* Ends the request's snapshot (streams, before they write or wait, so the writer can reuse
 * pages); the next pw_api_store() takes a fresh one. */
void pw_api_store_release(struct pw_req *r);
/* Parses r->arg[i] as a target id and loads it: 400 for a malformed id, 404 for an unknown
 * one, 503 without a store. */
int pw_api_target(struct pw_req *r, unsigned i, struct pw_store **s, struct pw_store_target *t);
/* The two halves of pw_api_target(): parsing (400) and loading (404, 500). */
int pw_api_target_id(struct pw_req *r, unsigned i, uint32_t *id);
int pw_api_target_load(struct pw_req *r, struct pw_store *s, uint32_t id,
                       struct pw_store_target *t);

/* The answer cache (cache.h), at the version of the request's snapshot (pw_api_store() first;
 * without a snapshot nothing is found or kept). A key names everything else the part depends
 * on: endpoint, target, resolved parameters and r->fmt. */
/* Appends the cached part of key to r->out (pw_out_splice) and returns true, or false. */
bool pw_api_cache_splice(struct pw_req *r, const char *key, size_t klen);
/* Keeps r->body[from, to) as the part of key; nothing when the body overflowed. */
void pw_api_cache_keep(struct pw_req *r, const char *key, size_t klen, size_t from, size_t to);
/* Answers a store failure (404 for -ENOENT, else 500) naming `what`. Returns PW_ANSWERED. */
int pw_api_store_error(struct pw_req *r, int rc, const char *what);
/* Calls the daemon (args taken over); answers its failure. On 0 *result is the daemon's
 * result (caller frees; may be NULL). Ends the request's snapshot first, so that later reads
 * (through the same handle, or a new pw_api_store()) see what the daemon committed. */
int pw_api_control(struct pw_req *r, const char *cmd, cJSON *args, cJSON **result);
/* A focus parameter: a whole number of samples or "all" (0). Answers 400. */
int pw_api_focus(struct pw_req *r, uint32_t *focus);
/* Current CLOCK_REALTIME in Unix microseconds. */
int64_t pw_api_now_us(void);
/* Every target, in id order, copied into the arena (store callbacks must not call the store,
 * so callers work on this copy). Answers errors. */
int pw_api_collect_targets(struct pw_req *r, struct pw_store *s, struct pw_store_target **out,
                           size_t *n);
/* Writes a target as a row (columns: pw_api_target_cols). */
void pw_api_target_row(struct pw_out *o, const struct pw_store_target *t);
extern const struct pw_col pw_api_target_cols[];
extern const unsigned pw_api_target_ncols;
/* The statistics of one hop as fields: avg_ms, min_ms, max_ms, cur_ms, cur_lost, loss_pct,
 * jitter_ms, sent, lost, stddev_ms (api_hops.c). */
void pw_api_stats_fields(struct pw_out *o, const struct pw_stats *st);
/* Loads session r->arg[1] of target r->arg[0] (api_notes.c): 400/404 answered. */
int pw_api_session_of(struct pw_req *r, struct pw_store **s, struct pw_store_target *t,
                      struct pw_store_session *ss);
/* Writes the trace options of a target or configuration as fields. */
void pw_api_opts_fields(struct pw_out *o, const struct pw_trace_opts *opts);

/* ---- handlers ---- */

/* api_targets.c */
int pw_api_targets_list(struct pw_req *r);
int pw_api_targets_add(struct pw_req *r);
int pw_api_target_get(struct pw_req *r);
int pw_api_target_update(struct pw_req *r);
int pw_api_target_delete(struct pw_req *r);
int pw_api_configs_list(struct pw_req *r);
int pw_api_config_get(struct pw_req *r);
int pw_api_config_create(struct pw_req *r);
int pw_api_config_update(struct pw_req *r);
int pw_api_config_delete(struct pw_req *r);
int pw_api_config_apply(struct pw_req *r);

/* api_hops.c */
int pw_api_hops(struct pw_req *r);
int pw_api_summary(struct pw_req *r);

/* api_timeline.c */
int pw_api_timeline(struct pw_req *r);
int pw_api_route_changes(struct pw_req *r);

/* api_diagnosis.c: the path diagnosis (JSON or HTML fragment), the evidence report download,
 * and the summary's "verdict", "verdict_summary" and "verdict_hop" fields of one target (null
 * when it cannot be judged; the newest 300 samples of the hour before now, cached by data
 * version and 10-second bucket of the clock). */
int pw_api_diagnosis(struct pw_req *r);
int pw_api_report(struct pw_req *r);
void pw_api_diag_verdict(struct pw_req *r, struct pw_store *s, uint32_t target_id, int64_t now_us);

/* api_notes.c */
int pw_api_comments_list(struct pw_req *r);
int pw_api_comment_add(struct pw_req *r);
int pw_api_comment_delete(struct pw_req *r);
int pw_api_sessions_list(struct pw_req *r);
int pw_api_sessions_all(struct pw_req *r);
int pw_api_session_get(struct pw_req *r);
int pw_api_session_add(struct pw_req *r);
int pw_api_session_delete(struct pw_req *r);

/* export.c */
int pw_api_export_range(struct pw_req *r);
int pw_api_export_session(struct pw_req *r);

/* sse.c */
int pw_api_live_target(struct pw_req *r);
int pw_api_live_summary(struct pw_req *r);

/* metrics.c */
int pw_api_metrics(struct pw_req *r);

#endif
