/*
 * scenario.h - the simulated Internet described by a scenario file
 *
 * A scenario is JSON (format in README.md). pw_sim_scenario_parse() turns it into the structs
 * below and validates everything the simulator later relies on, so the packet path never has
 * to check a scenario value again. The structs are plain data owned by the scenario; the
 * engine (engine.h) mutates the behaviour fields of nodes when timed events fire and keeps
 * per-node token buckets in them.
 */
#ifndef PW_SIM_SCENARIO_H
#define PW_SIM_SCENARIO_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PW_SIM_MAX_HOPS 64 /* per route; probers stop at 30-64 hops anyway */
#define PW_SIM_MAX_ECMP 16 /* alternatives of one ECMP hop */
#define PW_SIM_MAX_PATHS 64
#define PW_SIM_MAX_NAME_WIRE 255   /* RFC 1035 limit of a name on the wire */
#define PW_SIM_MAX_NAME_ADDRS 8    /* addresses per forward name, keeps answers < 512 bytes */
#define PW_SIM_MAX_FILE (4u << 20) /* largest scenario file accepted */

/* Addresses owned by the prober side and the simulated resolver; never a hop or a target. */
#define PW_SIM_PROBER4 "198.18.0.1"
#define PW_SIM_PROBER6 "2001:db8::1"
#define PW_SIM_DNS4 "198.18.0.53"
#define PW_SIM_DNS6 "2001:db8::53"

enum pw_sim_answer {
    PW_SIM_ANSWER_NONE = 0, /* stay silent */
    PW_SIM_ANSWER_REPLY,    /* ICMP echo: echo reply */
    PW_SIM_ANSWER_UNREACH,  /* UDP: ICMP port unreachable */
    PW_SIM_ANSWER_SYNACK,   /* TCP SYN: SYN-ACK */
    PW_SIM_ANSWER_RST,      /* TCP SYN: RST|ACK */
};

/* Bits of pw_sim_node_set.mask: which behaviour fields an event sets. */
enum {
    PW_SIM_SET_RTT = 1u << 0,
    PW_SIM_SET_JITTER = 1u << 1,
    PW_SIM_SET_LOSS = 1u << 2,
    PW_SIM_SET_REPLY_LOSS = 1u << 3,
    PW_SIM_SET_SILENT = 1u << 4,
    PW_SIM_SET_RATE = 1u << 5,
    PW_SIM_SET_QUOTE = 1u << 6,
    PW_SIM_SET_TTL = 1u << 7,
    PW_SIM_SET_ICMP = 1u << 8,
    PW_SIM_SET_UDP = 1u << 9,
    PW_SIM_SET_TCP = 1u << 10,
};

/* Something that answers probes: a router (one hop alternative) or a destination. */
struct pw_sim_node {
    bool has_addr, has_addr6;
    struct in_addr addr;
    struct in6_addr addr6;

    /* PTR answer; name == NULL means NXDOMAIN. name_wire is the encoded form. */
    char *name;
    uint8_t name_wire[PW_SIM_MAX_NAME_WIRE];
    size_t name_wire_len;
    uint32_t name_ttl;

    /* Behaviour; events may change these at run time. */
    double rtt_ms;          /* full round trip prober -> this node -> prober */
    double jitter_ms;       /* uniform in +-jitter_ms, result clamped at 0 */
    double loss;            /* forwarding loss of packets passing through or ending here */
    double reply_loss;      /* this node skips its own ICMP reply */
    bool silent;            /* routers only: never answers its own expired probes */
    double icmp_rate_limit; /* ICMP replies per second, 0 = unlimited */
    int quote_bytes;        /* bytes quoted after the IP header, -1 = as many as fit */
    uint8_t ttl;            /* initial TTL / hop limit of the replies it sends */
    enum pw_sim_answer icmp, udp, tcp; /* destinations only */

    /* Token bucket for icmp_rate_limit (engine state). */
    double tokens;
    uint64_t tokens_ns;
    bool tokens_init;
};

/* One hop position: one node, or several when the hop is an ECMP split. */
struct pw_sim_hop {
    size_t nalt;
    struct pw_sim_node *alt;
    bool ecmp;
};

/* The hop list in force from at_ns (relative to scenario time 0) until the next route. */
struct pw_sim_route {
    uint64_t at_ns;
    size_t nhops;
    struct pw_sim_hop *hops;
};

/* A partial node: the fields named in mask are copied onto the target when the event fires. */
struct pw_sim_node_set {
    unsigned mask;
    struct pw_sim_node v;
};

struct pw_sim_event {
    uint64_t at_ns;
    size_t hop; /* 1-based hop index in the route active at at_ns; 0 = the destination */
    struct pw_sim_node_set set;
    size_t order; /* position in the file, keeps equal at_ns in file order after sorting */
};

/* One target: its destination, its routes over time and its timed events. */
struct pw_sim_path {
    struct pw_sim_node dest;
    size_t nroutes; /* >= 1, sorted by at_ns, routes[0].at_ns == 0 */
    struct pw_sim_route *routes;
    size_t nevents; /* sorted by at_ns */
    struct pw_sim_event *events;
};

/* A forward name ("names" in the file) and the addresses its A/AAAA queries return. */
struct pw_sim_hostname {
    char *name;
    uint8_t wire[PW_SIM_MAX_NAME_WIRE];
    size_t wire_len;
    uint32_t ttl;
    size_t naddr4, naddr6;
    struct in_addr addr4[PW_SIM_MAX_NAME_ADDRS];
    struct in6_addr addr6[PW_SIM_MAX_NAME_ADDRS];
};

struct pw_sim_scenario {
    uint64_t seed;
    size_t npaths;
    struct pw_sim_path *paths;
    size_t nnames;
    struct pw_sim_hostname *names;
    /* Simulated resolver latency and loss ("dns" object); answers are never rate limited. */
    double dns_rtt_ms, dns_jitter_ms, dns_loss;
};

/*
 * Parse and validate a scenario from a JSON text of len bytes.
 * On success returns 0 and stores a new scenario in *out (free with pw_sim_scenario_free()).
 * On failure returns -EINVAL (or -ENOMEM) and writes a one-line reason naming the offending
 * JSON path into err (errlen bytes, always NUL-terminated when errlen > 0).
 */
int pw_sim_scenario_parse(const char *json, size_t len, struct pw_sim_scenario **out, char *err,
                          size_t errlen);

/* Read a file (at most PW_SIM_MAX_FILE bytes) and parse it as above; errors as above, plus
 * -errno from opening or reading the file. */
int pw_sim_scenario_load(const char *path, struct pw_sim_scenario **out, char *err, size_t errlen);

/* Free a scenario and everything it owns; NULL is fine. */
void pw_sim_scenario_free(struct pw_sim_scenario *scn);

/* The path whose destination has address addr (4 or 16 bytes per family), or NULL. */
struct pw_sim_path *pw_sim_scenario_find_path(struct pw_sim_scenario *scn, int family,
                                              const void *addr);

/* The route of path in force at scenario time t_ns (index into path->routes). */
size_t pw_sim_path_route_at(const struct pw_sim_path *path, uint64_t t_ns);

/* The first node (hop alternative or destination, any route, any path) with address addr that
 * carries a name; if none has a name, the first node with that address; NULL if unknown.
 * Borrowed pointer, valid while the scenario lives. */
const struct pw_sim_node *pw_sim_scenario_find_node(const struct pw_sim_scenario *scn, int family,
                                                    const void *addr);

/* The forward name whose wire form equals wire (ASCII case-insensitive), or NULL. */
const struct pw_sim_hostname *pw_sim_scenario_find_name(const struct pw_sim_scenario *scn,
                                                        const uint8_t *wire, size_t len);

/* True when addr lies in the simulated space (198.18.0.0/15 or 2001:db8::/32). */
bool pw_sim_addr_simulated(int family, const void *addr);

#endif
