/* PingWatcher — path diagnosis: where on the path a problem starts, with the figures a
 * provider will accept (spec gotchas 1, 2 and 8).
 *
 * The core (pw_diag_analyse) is a pure function over per-hop sample windows: no I/O, no
 * clock, the same answer for the same input. Adapters build that input from a live
 * pw_report_acc (`pingwatcher trace`) or from the store (any time range: the focus window, a
 * session, a past moment); the text and JSON of a result come from here too, so the CLI, the
 * web app and the evidence report say the same thing.
 *
 * How it judges (every threshold is in struct pw_diag_params):
 *
 *   * Loss is judged with the Wilson score interval (95 % by default). The path end E is the
 *     destination, or the last hop that answers when the destination never does. A loss
 *     problem exists when E's interval lies above loss_significant_pct. It starts at the first
 *     hop of the trailing run of hops that all lose probes and are not significantly below E
 *     (interval entirely under E's); silent hops are skipped, and hops at the run's start that
 *     lose significantly more than E are ICMP artefacts, not the start. The path is clean of
 *     loss when E's interval lies below loss_clean_pct; in between there is no verdict yet and
 *     need_samples says how many more samples (at the loss rate seen) would decide it.
 *   * Latency is judged from a low percentile (p10 by default) per hop, which neither queueing
 *     spikes nor a router's slow ICMP answers inflate much. The carried floor of hop k is the
 *     lowest floor of k and every later hop: what traffic through k really pays. A step in the
 *     carried floor of at least latency_step_ms (and latency_step_rel of the floor before it)
 *     is added latency that persists to E.
 *   * Notes explain what is not a problem: non-persisting loss (ICMP deprioritisation or rate
 *     limiting; a regular answer rate per second points to a rate limit, and a direct probe at
 *     a low rate can confirm it), a hop slower than later hops (slow reply path), a final hop
 *     much slower than clean intermediate hops (asymmetric return path), a destination that
 *     never answers the probe type, and route changes in the window.
 *   * When the route changed in the window and enough samples were taken on the newest route,
 *     only those are judged (figures of two routes do not mix, gotcha 8).
 *
 * Every verdict and note carries its time span (since: a change point in its own series when
 * one is clear, else the start of what was judged) and its evidence figures.
 */
#ifndef PW_DIAGNOSIS_H
#define PW_DIAGNOSIS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dns.h"
#include "probe.h"
#include "trace.h"

struct pw_report;
struct pw_report_acc;
struct pw_store;

/* rtt_us[] value of a TTL a sample did not probe (same value as PW_STORE_RTT_SKIP). */
#define PW_DIAG_RTT_SKIP (-2)
/* Most samples judged; adapters keep the newest. */
#define PW_DIAG_MAX_SAMPLES 100000
#define PW_DIAG_MAX_NOTES 16
#define PW_DIAG_MAX_PROBLEMS 2
#define PW_DIAG_TEXT_MAX 640

struct pw_diag_params {
    double z;                     /* confidence of intervals as a normal quantile [1.96: 95 %] */
    uint32_t min_samples;         /* fewer samples at the path end: no verdict [20] */
    double loss_significant_pct;  /* loss is real when its lower bound is above this [0.5] */
    double loss_clean_pct;        /* no loss problem needs the upper bound below this [3] */
    double latency_pctile;        /* percentile taken as a hop's floor [10] */
    uint32_t min_latency_samples; /* answered RTTs a hop needs for a floor [10] */
    double latency_step_ms;       /* smallest added latency that is a problem [15] */
    double latency_step_rel;      /* ... and fraction of the floor before it [0.5] */
    double slow_reply_ms;         /* a hop this much slower than a later hop: note [10] */
    double rate_limit_dispersion; /* answers per second this regular (variance against a
                                     binomial's, one-second bins, at least 10 of them): a rate
                                     limit [0.1; random drops pass it 0.3 % of the time] */
};

/* Fills p with the defaults above. */
void pw_diag_params_default(struct pw_diag_params *p);

/* ---- input ---- */

/* One row of the hop table: its TTL, who answers there and its window of RTTs. */
struct pw_diag_hop {
    uint8_t ttl;
    struct pw_addr addr;           /* most recent responder; family 0 when none answered */
    char dns[PW_DNS_NAME_MAX + 1]; /* "" unknown, PW_DNS_NONE for no PTR record */
    const int32_t *rtt_us;         /* [nsamples]: µs, PW_RTT_LOST, or PW_DIAG_RTT_SKIP */
};

/* A route change within the window: hops has bit (t - 1) set for every TTL t that differs. */
struct pw_diag_route_change {
    int64_t time_us;
    uint8_t first_hop;
    uint64_t hops;
};

struct pw_diag_input {
    uint32_t nsamples;
    const int64_t *time_us; /* [nsamples], oldest first, Unix µs; NULL when unknown */
    uint8_t nhops;          /* rows in hop[] (TTL ascending; as the hop table shows them) */
    const struct pw_diag_hop *hop;
    bool dest_reached;   /* hop[nhops - 1] is the destination */
    struct pw_addr dest; /* the target's address (family 0 when unknown) */
    enum pw_proto proto;
    uint32_t nchanges; /* route changes within the window, in time order */
    const struct pw_diag_route_change *changes;
    int64_t start_us, end_us; /* the window asked for; 0 = from the samples' times */
};

/* ---- result ---- */

enum pw_diag_verdict {
    PW_DIAG_INSUFFICIENT = 0, /* not enough samples to tell: see need_samples */
    PW_DIAG_CLEAN = 1,
    PW_DIAG_PROBLEM = 2,
};

enum pw_diag_kind {
    PW_DIAG_LOSS = 0,
    PW_DIAG_LATENCY = 1,
};

enum pw_diag_note_kind {
    PW_DIAG_NOTE_ICMP_DEPRIORITISED = 0, /* loss that does not persist (or a silent hop) */
    PW_DIAG_NOTE_RATE_LIMITED,           /* ... with the regular pattern of a rate limit */
    PW_DIAG_NOTE_SLOW_REPLY_PATH,        /* a hop slower than later hops */
    PW_DIAG_NOTE_DEST_DROPS_PROBE_TYPE,  /* every hop answers, the destination never does */
    PW_DIAG_NOTE_ASYMMETRIC_RETURN,      /* clean hops, a much slower final hop */
    PW_DIAG_NOTE_ROUTE_UNSTABLE,         /* the route changed twice or more in the window */
    PW_DIAG_NOTE_ROUTE_CHANGED,          /* the route changed once in the window */
};

struct pw_diag_problem {
    enum pw_diag_kind kind;
    uint8_t from_hop;    /* TTL where it starts */
    struct pw_addr addr; /* that hop's responder (family 0: it never answers) */
    char dns[PW_DNS_NAME_MAX + 1];
    uint8_t end_hop;       /* TTL of the path end it persists to */
    bool to_destination;   /* the path end is the destination */
    bool certain;          /* false: the start may be an earlier hop (need_samples) */
    uint32_t need_samples; /* more samples to place it for sure (0 when certain) */
    /* loss at the path end (also filled for a latency problem) */
    uint32_t sent, lost;
    double loss_pct, loss_lo_pct, loss_hi_pct;
    /* latency: the carried floor before from_hop, at the path end, and the step */
    bool has_latency;
    double base_ms, end_ms, added_ms;
    int64_t since_us, until_us; /* the span over which it holds (0: unknown) */
    char text[PW_DIAG_TEXT_MAX];
};

struct pw_diag_note {
    enum pw_diag_note_kind kind;
    uint8_t hop; /* TTL; 0 when it concerns no single hop (destination silent, routes) */
    struct pw_addr addr;
    char dns[PW_DNS_NAME_MAX + 1];
    /* evidence: this hop's loss, and that of the path end */
    uint32_t sent, lost;
    double loss_pct, loss_lo_pct, loss_hi_pct;
    double ref_loss_pct;
    /* slow reply / asymmetric return: this hop's floor and the reference floor */
    double hop_ms, ref_ms;
    /* rate limit: dispersion index of answers per second (< 0: not computed), answers/s */
    double dispersion, answer_rate;
    /* route notes */
    uint32_t changes;
    uint64_t hops_mask;
    /* direct probing of the hop (pw_diag_confirm) */
    bool direct;
    uint32_t direct_sent, direct_answered;
    double direct_interval_s;
    int64_t since_us, until_us;
    char text[PW_DIAG_TEXT_MAX];
};

/* About 20 KB: allocate it rather than keep it on a small stack. */
struct pw_diagnosis {
    enum pw_diag_verdict verdict;
    uint32_t samples;         /* samples judged */
    uint32_t window_samples;  /* samples in the window (more when scoped to the newest route) */
    int64_t start_us, end_us; /* span of the samples judged */
    bool scoped_to_route;     /* only the samples since the last route change were judged */
    uint8_t end_hop;          /* TTL of the path end (0: nothing answered) */
    bool dest_reached;
    uint32_t need_samples; /* INSUFFICIENT: about this many more samples would decide */
    unsigned nproblems;    /* the loss problem first */
    struct pw_diag_problem problem[PW_DIAG_MAX_PROBLEMS];
    unsigned nnotes;
    struct pw_diag_note note[PW_DIAG_MAX_NOTES];
    char summary[PW_DIAG_TEXT_MAX]; /* one sentence: the verdict */
};

/* ---- the core ---- */

/* Wilson score interval of `lost` out of n at normal quantile z, as fractions in [0, 1]
 * (both 0 when n is 0). */
void pw_diag_wilson(uint32_t lost, uint32_t n, double z, double *lo, double *hi);

/* Judges the window in `in` (borrowed) into *out (filled completely). Returns 0, -EINVAL for a
 * malformed input (nhops > PW_TRACE_MAX_HOPS, rows without rtt_us), or -ENOMEM. */
int pw_diag_analyse(const struct pw_diag_input *in, const struct pw_diag_params *p,
                    struct pw_diagnosis *out);

/* Which notes are worth confirming by probing the hop directly (echo at a low rate): fills
 * index[] with up to max note indexes (loss notes of answering hops) and returns how many. */
unsigned pw_diag_confirm_candidates(const struct pw_diagnosis *d, unsigned *index, unsigned max);

/* How to probe note i's hop directly: enough probes that answering all of them would be
 * unlikely at the answer rate seen (3..10), at most half the hop's answer rate (0.1..1 s). */
void pw_diag_confirm_plan(const struct pw_diagnosis *d, unsigned i, uint32_t *count,
                          uint32_t *interval_ms);

/* Folds the result of probing note i's hop directly into the note: `answered` of `sent` echo
 * requests at one per interval_ms. Answering significantly more often than in the window
 * (binomial tail < 5 %) confirms a rate limit (kind becomes RATE_LIMITED); as often means the
 * router drops its answers whatever the rate (kind ICMP_DEPRIORITISED); none means it does not
 * answer echo requests itself. The note's text says which. */
void pw_diag_confirm(struct pw_diagnosis *d, unsigned i, uint32_t sent, uint32_t answered,
                     uint32_t interval_ms);

/* True when d holds a problem that persists to the destination: the `diagnosis` alert
 * metric. */
bool pw_diag_fires(const struct pw_diagnosis *d);

/* Names used in JSON: "problem", "clean", "insufficient_data"; "loss", "latency";
 * "icmp_deprioritised", "rate_limited", "slow_reply_path", "dest_drops_probe_type",
 * "asymmetric_return", "route_unstable", "route_changed". */
const char *pw_diag_verdict_name(enum pw_diag_verdict v);
const char *pw_diag_kind_name(enum pw_diag_kind k);
const char *pw_diag_note_name(enum pw_diag_note_kind k);

/* The result as a JSON object ({"verdict", "summary", "problem", "problems", "notes", ...}).
 * Caller frees with cJSON_Delete; NULL when out of memory. */
cJSON *pw_diag_json(const struct pw_diagnosis *d);

/* ---- adapters ---- */

/* Judges the newest samples of a live accumulator (at most PW_DIAG_MAX_SAMPLES), with the
 * hop rows, target address and protocol of r (from pw_report_acc_finish; its DNS names are
 * used when filled; p NULL = defaults). Route changes are found with a pw_route_tracker
 * (default persistence) over those samples. Returns 0, -ENOMEM or -EINVAL. */
int pw_diag_from_acc(const struct pw_report_acc *a, const struct pw_report *r,
                     const struct pw_diag_params *p, struct pw_diagnosis *out);

/* A window of stored samples as pw_diag_analyse() takes it, owning its arrays (the evidence
 * report shows the figures the diagnosis judged from it). */
struct pw_diag_window {
    struct pw_diag_input in; /* points into the arrays below */
    bool has_target;         /* the target record exists (it may have been deleted) */
    char host[256];          /* the target as the user named it ("" when deleted) */
    char label[128];
    uint32_t *route_id; /* [in.nsamples]: the route each sample was taken on */
    int64_t *time_us;
    int32_t *rtt; /* in.nhops rows of in.nsamples */
    struct pw_diag_hop hop[PW_TRACE_MAX_HOPS];
    struct pw_diag_route_change *changes;
};

/* Loads the stored samples of target_id with start_us <= time < end_us, the newest
 * max_samples of them (0 = PW_DIAG_MAX_SAMPLES), with the hop selection of pw_store_hops()
 * (rows end at the destination as the newest sample that reached it saw it, else at the last
 * hop that answered), responders from the samples' routes, DNS names from the store and the
 * stored route changes after the first sample. Memory: 4 bytes per sample and row (at most
 * 64 x PW_DIAG_MAX_SAMPLES x 4 = 25.6 MB), freed with the window. Returns 0 and *out (free with
 * pw_diag_window_free), -ENOENT when the target has neither a record nor samples in the
 * range, PW_E_RANGE when start_us >= end_us, -ENOMEM or a store error. */
int pw_diag_window_load(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                        uint32_t max_samples, struct pw_diag_window **out);
void pw_diag_window_free(struct pw_diag_window *w);

/* pw_diag_window_load() then pw_diag_analyse() (p NULL = defaults). A target without samples
 * in the range gets verdict INSUFFICIENT. Same errors as pw_diag_window_load(). */
int pw_diag_from_store(struct pw_store *s, uint32_t target_id, int64_t start_us, int64_t end_us,
                       uint32_t max_samples, const struct pw_diag_params *p,
                       struct pw_diagnosis *out);

/* For the daemon's `diagnosis` alert metric: judges target_id over [now_us - window_us,
 * now_us) with the default parameters. Returns 1 when a problem persists to the destination
 * (pw_diag_fires), 0 when not, or a negative error. out may be NULL; when given, it holds the
 * whole result (its summary is the alert's message). */
int pw_diag_check_target(struct pw_store *s, uint32_t target_id, int64_t now_us, int64_t window_us,
                         struct pw_diagnosis *out);

#endif
