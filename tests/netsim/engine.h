/*
 * engine.h - what happens to a probe on the simulated path
 *
 * The engine owns the deterministic random stream (seeded from --seed) and applies the
 * scenario's timed events. Given a parsed probe and the path its destination selects it decides
 * where the probe ends, whether and how it is answered, and after what delay. It builds no
 * packets and keeps no clock of its own: callers pass scenario time (ns since READY).
 */
#ifndef PW_SIM_ENGINE_H
#define PW_SIM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet.h"
#include "scenario.h"

enum pw_sim_outcome {
    PW_SIM_REPLIED = 0,
    PW_SIM_FWD_LOST,     /* dropped by forwarding loss at or before the hop it was aimed at */
    PW_SIM_REPLY_LOST,   /* reached its node, which skipped the reply (reply_loss) */
    PW_SIM_SILENT,       /* reached a silent hop */
    PW_SIM_RATE_LIMITED, /* reply suppressed by icmp_rate_limit */
    PW_SIM_DEST_NONE,    /* the destination does not answer this protocol */
    PW_SIM_NOT_DEST,     /* addressed to a simulated address that is no destination */
    PW_SIM_SHUTDOWN,     /* a reply was scheduled but netsim stopped before sending it */
    PW_SIM_OVERLOAD,     /* netsim had no room for the reply (a netsim limit, not the path) */
    PW_SIM_OUTCOME_COUNT
};

enum pw_sim_reply_kind {
    PW_SIM_REPLY_NONE = 0,
    PW_SIM_REPLY_TIME_EXCEEDED,
    PW_SIM_REPLY_ECHO,
    PW_SIM_REPLY_PORT_UNREACH,
    PW_SIM_REPLY_SYNACK,
    PW_SIM_REPLY_RST,
};

struct pw_sim_decision {
    enum pw_sim_outcome outcome;
    enum pw_sim_reply_kind reply;
    size_t hop;                          /* 1-based; nhops + 1 = destination; 0 = none */
    const struct pw_sim_node *responder; /* node the probe ended at, NULL if it ended nowhere */
    uint64_t delay_ns;                   /* whole microseconds, so delay_us in the log is exact */
    uint8_t reply_ttl;                   /* TTL / hop limit of the reply */
    uint8_t quoted_ttl;                  /* TTL the probe had when it arrived at the responder */
    int quote_bytes;
};

/* A change applied by pw_sim_engine_advance(), for logging. */
struct pw_sim_change {
    size_t path;
    bool is_route; /* route change (route index) or event (ev) */
    size_t route;
    const struct pw_sim_event *ev;
};

struct pw_sim_engine {
    struct pw_sim_scenario *scn; /* borrowed; the engine mutates its nodes */
    uint64_t rng[4];
    uint64_t seed;
    size_t *next_event; /* per path */
    size_t *cur_route;  /* per path */
};

/* Set up an engine for scn (borrowed, must outlive it) with the random stream for seed.
 * Returns 0 or -ENOMEM. */
int pw_sim_engine_init(struct pw_sim_engine *e, struct pw_sim_scenario *scn, uint64_t seed);

/* Release what pw_sim_engine_init() allocated. */
void pw_sim_engine_deinit(struct pw_sim_engine *e);

/* Apply the next route change or event due at scenario time t_ns. Returns 1 and describes it
 * in *chg, or 0 when nothing more is due; call until it returns 0. */
int pw_sim_engine_advance(struct pw_sim_engine *e, uint64_t t_ns, struct pw_sim_change *chg);

/* Decide the fate of probe p, addressed to path's destination, read at scenario time t_ns. */
void pw_sim_engine_decide(struct pw_sim_engine *e, struct pw_sim_path *path,
                          const struct pw_sim_probe *p, uint64_t t_ns, struct pw_sim_decision *d);

/* Decide whether a DNS answer is sent (false: lost) and after what delay. */
bool pw_sim_engine_dns(struct pw_sim_engine *e, uint64_t *delay_ns);

/* The initial sequence number of a SYN-ACK answering p: fixed per connection (retransmitted
 * SYNs get the same ISN, as with SYN cookies) and reproducible for a seed. */
uint32_t pw_sim_engine_isn(const struct pw_sim_engine *e, const struct pw_sim_probe *p);

/* "replied", "fwd_lost", ... as written in the truth log. */
const char *pw_sim_outcome_name(enum pw_sim_outcome o);

#endif
