/* PingWatcher — the trace engine: continuous Paris traceroute for many targets at once.
 *
 * The engine owns the raw sockets and the capture; it is driven from outside by one event
 * loop. The caller waits on pw_trace_engine_fd() and until pw_trace_engine_next_ns(), then
 * calls pw_trace_engine_run(), which in this order reads replies, settles timeouts, and sends
 * the probes that are due. Each finished sample (one pass over the hops of a target) is
 * handed to the target's callback, samples of one target in order.
 *
 * Memory: a target's probe slots are allocated when it is added; running the engine
 * allocates nothing.
 */
#ifndef PW_TRACE_H
#define PW_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "probe.h"

/* Largest max_hops accepted. */
#define PW_TRACE_MAX_HOPS 64

/* Options of one target, as in the specification (defaults in brackets). */
struct pw_trace_opts {
    enum pw_proto proto;            /* [ICMP] */
    uint16_t port;                  /* UDP/TCP destination port [33434 / 80] */
    int32_t packet_size;            /* payload bytes; -1 = protocol default (probe.h) */
    uint32_t timeout_ms;            /* [3000]; 1..60000 */
    uint8_t max_hops;               /* [30]; 1..PW_TRACE_MAX_HOPS */
    uint32_t inter_packet_delay_us; /* between the TTLs of one sample [25000]; 0..1000000 */
    uint32_t interval_ms;           /* between samples [2500]; 10..86400000 */
    bool final_hop_only;            /* probe only the destination [false] */
};

/* Fills o with the specification's defaults. */
void pw_trace_opts_default(struct pw_trace_opts *o);

/* Checks every option's range. Returns 0, or PW_E_RANGE with a reason in err such as
 * "timeout must be between 0.001 and 60 s (got 90)". */
int pw_trace_opts_check(const struct pw_trace_opts *o, char *err, size_t errlen);

/* The result for one hop (TTL) within a sample. */
struct pw_hop_result {
    uint8_t ttl;
    bool answered;       /* false: no reply within the timeout (lost) */
    bool reached;        /* the destination itself answered */
    struct pw_addr from; /* responder, when answered */
    uint8_t reply_kind;  /* enum pw_reply_kind, when answered */
    uint8_t icmp_code;
    uint32_t rtt_us; /* capture time minus send time, when answered */
};

struct pw_sample {
    uint64_t seq;                    /* per target, from 0 */
    int64_t start_ns;                /* CLOCK_REALTIME when its first probe was sent */
    uint8_t nhops;                   /* hops in hop[]: up to the destination, or max_hops */
    bool reached;                    /* some probe reached the destination */
    const struct pw_hop_result *hop; /* hop[i] is TTL i+1 (final_hop_only: one entry whose
                                        ttl is the estimated distance); borrowed for the
                                        callback's duration */
};

struct pw_trace_engine;
struct pw_trace_target;

typedef void (*pw_trace_sample_cb)(void *arg, struct pw_trace_target *t, const struct pw_sample *s);

/* Counters of everything the engine saw that matched no outstanding probe. */
struct pw_trace_counters {
    uint64_t probes_sent;
    uint64_t replies_matched;
    uint64_t unmatched;  /* parsed fine but no outstanding probe (spoofed, stale) */
    uint64_t duplicates; /* a second reply for an answered probe */
    uint64_t late;       /* reply after its probe was declared lost */
    uint64_t malformed;  /* truncated, bad checksum, inconsistent */
    uint64_t send_errors;
    uint64_t capture_drops;
};

struct pw_trace_engine_opts {
    bool ipv4, ipv6;               /* open raw sockets for these families */
    uint32_t capture_timeout_ms;   /* see capture.h; 0 = 5 */
    uint32_t capture_buffer_bytes; /* 0 = 8 MiB */
    uint32_t max_probes_per_s;     /* global rate cap; 0 = none */
};

/* Opens raw sockets and the capture (needs CAP_NET_RAW). Returns NULL with errno set and a
 * reason in err; EPERM means the privilege is missing. */
struct pw_trace_engine *pw_trace_engine_new(const struct pw_trace_engine_opts *opts, char *err,
                                            size_t errlen);
void pw_trace_engine_free(struct pw_trace_engine *e);

/* The descriptor to wait on for readability. */
int pw_trace_engine_fd(const struct pw_trace_engine *e);
/* CLOCK_MONOTONIC time (ns) at which pw_trace_engine_run() must be called at the latest, or
 * -1 when nothing is scheduled. */
int64_t pw_trace_engine_next_ns(const struct pw_trace_engine *e);
/* Reads replies, settles timeouts, sends due probes, delivers finished samples. now_ns is
 * CLOCK_MONOTONIC. Returns 0 or a negative error. */
int pw_trace_engine_run(struct pw_trace_engine *e, int64_t now_ns);

/* Adds a target probing dst with opts. The first sample starts at first_ns (CLOCK_MONOTONIC);
 * count limits the samples taken (0 = unlimited). cb gets each finished sample. Returns 0 and
 * the target in *out (owned by the engine until removed), PW_E_RANGE with a reason in err, or
 * -EADDRNOTAVAIL/-ENETUNREACH when there is no route, -ENOSPC when the flow identifiers of
 * that protocol are exhausted. */
int pw_trace_engine_add(struct pw_trace_engine *e, const struct pw_addr *dst,
                        const struct pw_trace_opts *opts, int64_t first_ns, uint64_t count,
                        pw_trace_sample_cb cb, void *arg, struct pw_trace_target **out, char *err,
                        size_t errlen);
/* Removes and frees a target; its in-flight probes are forgotten (late replies count as
 * unmatched). */
void pw_trace_engine_remove(struct pw_trace_engine *e, struct pw_trace_target *t);

/* True once a target with a count has delivered all its samples. */
bool pw_trace_target_done(const struct pw_trace_target *t);
const struct pw_flow *pw_trace_target_flow(const struct pw_trace_target *t);

void pw_trace_engine_counters(struct pw_trace_engine *e, struct pw_trace_counters *out);

#endif
