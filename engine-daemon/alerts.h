/* PingWatcher — pingwatcherd's alerts: rules kept in the store's `alerts` DB, evaluated on the
 * loop at every sample (libtrace/alert.h), and their actions delivered by worker threads.
 *
 * The loop only evaluates and enqueues: an event (trigger, repeat, recovery) becomes a job in
 * a bounded queue. A worker persists the new state and a history record, then runs the
 * rule's actions (mail, webhook, log line, command, SVG image, comment) with their timeouts,
 * and records each action's outcome in the history record. Four workers take jobs oldest
 * first, but never two of the same rule and target at once, so each alert's events arrive in
 * order. A slow or hung sink holds one worker and delays only that alert's later events, never
 * a probe nor another alert (until all four are held); when the queue is full the event is
 * dropped, counted and logged.
 *
 * Store keys (FORMAT.md, "alerts"):
 *   "r" rule(be32)                                  the rule as JSON
 *   "s" rule(be32) target(be32)                     pw_alert_state_encode() record
 *   "h" time(be64 µs) rule(be32) target(be32) ev(u8) history record as JSON
 *   "n"                                             next rule id (be32)
 */
#ifndef PWD_ALERTS_H
#define PWD_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route.h"
#include "store.h"

struct pwd_daemon;
struct pwd_target;

/* Loads the rules and their state from the store and starts the workers (call with the
 * store usable and before the writer thread starts). 0 or -errno with a reason in err. */
int pwd_alerts_start(struct pwd_daemon *d, char *err, size_t errlen);
/* Stops the workers (each finishes the job in progress; queued jobs are dropped) and frees. */
void pwd_alerts_stop(struct pwd_daemon *d);
/* Gives the worker the reloaded configuration's "alerts" section. */
void pwd_alerts_config(struct pwd_daemon *d);

/* One finished sample of t (store form), whether a route change was confirmed with it (and its
 * first differing TTL), and the observed route. Never blocks. */
void pwd_alerts_sample(struct pwd_daemon *d, struct pwd_target *t,
                       const struct pw_store_sample *smp, bool route_changed, unsigned change_hop,
                       const struct pw_route *observed);
/* A target was removed: forget its state. */
void pwd_alerts_target_gone(struct pwd_daemon *d, uint32_t target_id);

/* The control socket's alert.* commands. Returns true when line was one (it is answered),
 * false otherwise (the caller parses it as usual). */
bool pwd_alerts_command(struct pwd_daemon *d, uint64_t client, const char *line, size_t len);
/* Runs alert commands that waited for the store (trylock). */
void pwd_alerts_retry(struct pwd_daemon *d);

/* Events dropped because the queue was full (for stats). */
uint64_t pwd_alerts_dropped(const struct pwd_daemon *d);

#endif
