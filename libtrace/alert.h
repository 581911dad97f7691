/* PingWatcher — alert rules and their evaluation (spec §7), as pure functions.
 *
 * A rule names a metric (packet loss, average/current RTT, jitter over a focus window, route
 * changes, or the path diagnosis's verdict), a comparison against a threshold, the hop it
 * looks at, how many consecutive samples the condition must hold before the alert fires, and
 * the actions it runs. Everything here is a pure function of its input: parsing and printing
 * rules (JSON), the per-(rule, target) sample window, the metric, and the lifecycle state
 * machine:
 *
 *   quiet --(holds for duration_samples consecutive samples)--> firing   [TRIGGER]
 *   firing --(still holds, repeat_interval_s since the last notice)--> firing [REPEAT]
 *   firing --(no longer holds)--> quiet                                   [RECOVER]
 *
 * The daemon persists the state (pw_alert_state_encode) so a restart neither forgets a firing
 * alert nor fires it again. No allocation except in pw_alert_window_init() and
 * pw_alert_eval_diagnosis(); no I/O.
 */
#ifndef PW_ALERT_H
#define PW_ALERT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "probe.h"
#include "trace.h"

struct pw_diagnosis;

#define PW_ALERT_NAME_MAX 63
#define PW_ALERT_TARGETS_MAX 64
#define PW_ALERT_ACTIONS_MAX 8
#define PW_ALERT_ARG_MAX 511
#define PW_ALERT_FOCUS_MAX 1000
#define PW_ALERT_DURATION_MAX 100000
#define PW_ALERT_REPEAT_MAX 604800 /* s */
/* diagnosis: the focus window a rule gets when it names none, and the least it may have (the
 * diagnosis gives no verdict on fewer than 20 samples, pw_diag_params.min_samples). */
#define PW_ALERT_DIAG_FOCUS_DEFAULT 300
#define PW_ALERT_DIAG_FOCUS_MIN 20

enum pw_alert_metric {
    PW_ALERT_LOSS,   /* packet_loss_pct over the focus window */
    PW_ALERT_AVG,    /* avg_rtt_ms over the focus window */
    PW_ALERT_CUR,    /* cur_rtt_ms: the newest sample */
    PW_ALERT_JITTER, /* jitter_ms over the focus window */
    PW_ALERT_ROUTE,  /* route_change: confirmed route changes within the focus window */
    PW_ALERT_DIAG,   /* diagnosis: 1 when the path diagnosis of the focus window finds a problem
                        that persists to the destination, else 0 (pw_alert_eval_diagnosis) */
    PW_ALERT_METRIC_COUNT
};

enum pw_alert_op { PW_ALERT_GT, PW_ALERT_LT, PW_ALERT_GE, PW_ALERT_LE };

enum pw_alert_hop_kind {
    PW_ALERT_HOP_FINAL,
    PW_ALERT_HOP_ANY,
    PW_ALERT_HOP_TTL,
    PW_ALERT_HOP_ADDR
};

enum pw_alert_action_type {
    PW_ALERT_ACT_EMAIL,   /* arg: recipient address */
    PW_ALERT_ACT_WEBHOOK, /* arg: http(s) URL */
    PW_ALERT_ACT_LOG,
    PW_ALERT_ACT_COMMAND, /* arg: name of a command declared in the configuration file */
    PW_ALERT_ACT_IMAGE,
    PW_ALERT_ACT_COMMENT,
    PW_ALERT_ACT_COUNT
};

struct pw_alert_action {
    enum pw_alert_action_type type;
    char arg[PW_ALERT_ARG_MAX + 1];
};

struct pw_alert_rule {
    uint32_t id; /* assigned by the daemon; 0 in a request */
    char name[PW_ALERT_NAME_MAX + 1];
    bool enabled;
    bool all_targets;
    uint32_t ntargets;
    uint32_t targets[PW_ALERT_TARGETS_MAX];
    enum pw_alert_metric metric;
    enum pw_alert_op op;
    double threshold;
    uint32_t focus;            /* samples, 1..PW_ALERT_FOCUS_MAX */
    uint32_t duration_samples; /* 1..PW_ALERT_DURATION_MAX */
    enum pw_alert_hop_kind hop_kind;
    uint8_t hop_ttl;            /* HOP_TTL: 1..PW_TRACE_MAX_HOPS */
    struct pw_addr hop_addr;    /* HOP_ADDR */
    uint32_t repeat_interval_s; /* 0 = never repeat */
    uint32_t nactions;
    struct pw_alert_action actions[PW_ALERT_ACTIONS_MAX];
};

/* Names as used in JSON ("packet_loss_pct", ">", "webhook", "trigger"). */
const char *pw_alert_metric_name(enum pw_alert_metric m);
const char *pw_alert_op_name(enum pw_alert_op op);
const char *pw_alert_action_name(enum pw_alert_action_type t);

/* Fills r from a rule object. With base == NULL every required key must be present (create);
 * otherwise r starts as a copy of *base and only the given keys change (update/PATCH). Unknown
 * keys, wrong types and out-of-range values are rejected with a reason in err naming the key;
 * a threshold below 0, or above 100 for packet_loss_pct, too (judged only when obj sets metric
 * or threshold, so a rename of an older rule still applies). The diagnosis metric is 0 or 1:
 * it requires operator ">=" and threshold 1, and a focus of at least PW_ALERT_DIAG_FOCUS_MIN
 * samples (PW_ALERT_DIAG_FOCUS_DEFAULT when the object sets the metric but no focus); its "hop"
 * is ignored (the diagnosis judges the whole path). "id" is ignored. Returns 0 or PW_E_RANGE. */
int pw_alert_rule_parse(const cJSON *obj, const struct pw_alert_rule *base, struct pw_alert_rule *r,
                        char *err, size_t errlen);

/* The rule as a JSON object (the same keys, plus "id" and "enabled"); NULL when out of memory.
 * Caller owns the result. */
cJSON *pw_alert_rule_json(const struct pw_alert_rule *r);

/* Whether the rule watches target_id (ignores enabled). */
bool pw_alert_rule_applies(const struct pw_alert_rule *r, uint32_t target_id);

/* ---- lifecycle ---- */

struct pw_alert_state {
    uint32_t consecutive; /* samples in a row the condition held (saturates) */
    bool firing;
    int64_t since_us;       /* firing: time of the trigger; quiet: of the last recovery (0) */
    int64_t last_notify_us; /* last trigger or repeat */
    uint32_t episodes;      /* triggers so far */
};

enum pw_alert_event {
    PW_ALERT_EV_NONE,
    PW_ALERT_EV_TRIGGER,
    PW_ALERT_EV_REPEAT,
    PW_ALERT_EV_RECOVER
};

const char *pw_alert_event_name(enum pw_alert_event e);

/* Advances st by one sample taken at now_us on which the condition held or not. Returns what
 * to announce: TRIGGER once per episode (after duration_samples consecutive holds), REPEAT
 * while it still holds and repeat_interval_s has passed since the last notice, RECOVER on the
 * first sample that no longer holds, NONE otherwise. */
enum pw_alert_event pw_alert_step(const struct pw_alert_rule *r, struct pw_alert_state *st,
                                  bool holds, int64_t now_us);

#define PW_ALERT_STATE_BYTES 32
/* Fixed little record for the store: version, flags, counts, times (big-endian). */
void pw_alert_state_encode(const struct pw_alert_state *st, uint8_t out[PW_ALERT_STATE_BYTES]);
/* 0, or PW_E_MALFORMED when len or version is wrong. */
int pw_alert_state_decode(const uint8_t *p, size_t len, struct pw_alert_state *st);

/* ---- metric over a window of samples ---- */

/* One sample as the evaluator keeps it: RTT per TTL (PW_RTT_LOST, or -2 = not probed). */
struct pw_alert_point {
    int64_t time_us;
    uint8_t nhops;
    bool reached;       /* the sample reached the destination (at TTL nhops) */
    bool route_changed; /* a route change was confirmed at this sample */
    uint8_t change_hop; /* its first differing TTL */
    int32_t rtt_us[PW_TRACE_MAX_HOPS];
};

/* The newest `cap` samples of one target for one rule (a ring). */
struct pw_alert_window {
    struct pw_alert_point *pts;
    int32_t *scratch;
    uint32_t cap, len, head; /* head: index of the oldest */
};

/* Allocates room for cap (1..PW_ALERT_FOCUS_MAX) samples. 0 or -ENOMEM / -EINVAL. */
int pw_alert_window_init(struct pw_alert_window *w, uint32_t cap);
void pw_alert_window_deinit(struct pw_alert_window *w);
/* Appends a sample, forgetting the oldest when full. */
void pw_alert_window_push(struct pw_alert_window *w, const struct pw_alert_point *p);

struct pw_alert_result {
    bool holds;
    bool valid;   /* the metric had a value (e.g. no latency when every probe was lost) */
    double value; /* the metric of the hop reported */
    uint8_t hop;  /* TTL the value belongs to (0 when unknown) */
};

/* Computes the rule's metric over w for its hop and compares it with the threshold. route is
 * the newest observed route (responders per TTL), used for a hop given by address; it may be
 * NULL otherwise. A metric without a value never holds; the diagnosis metric has none here
 * (it allocates and costs far more: see pw_alert_eval_diagnosis). */
void pw_alert_eval(const struct pw_alert_rule *r, struct pw_alert_window *w,
                   const struct pw_addr *route, unsigned route_nhops, struct pw_alert_result *out);

/* The diagnosis metric: judges the samples of w (oldest first) with the path diagnosis
 * (diagnosis.h, default parameters), its hop rows as pw_store_hops() picks them (to the
 * destination as the newest sample that reached it saw it, else to the last hop that
 * answered). route (may be NULL): responders per TTL of the newest observed route; dest: the
 * target's address (may be NULL); proto: the probe type. A route change flagged on a sample
 * after the first counts as a change at its change_hop. out->value is 1 and out->hop the TTL
 * where the problem starts when it persists to the destination (pw_diag_fires), else value 0
 * and hop 0; out->valid is true; holds compares value with the rule's threshold. When diag is
 * not NULL it receives the whole result (its summary is the alert's message).
 * Allocates about 4 bytes per sample and hop row (and the result when diag is NULL), freed
 * before it returns; about 0.1 ms for 300 samples of 10 hops. Returns 0 or -ENOMEM (out then
 * invalid). */
int pw_alert_eval_diagnosis(const struct pw_alert_rule *r, const struct pw_alert_window *w,
                            const struct pw_addr *route, unsigned route_nhops,
                            const struct pw_addr *dest, enum pw_proto proto,
                            struct pw_diagnosis *diag, struct pw_alert_result *out);

#endif
