/*
 * engine.c - loss, ECMP, rate limits, delays and timed events
 */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: small, fast, and the same stream on every platform for a given seed. */
static uint64_t rng_next(struct pw_sim_engine *e)
{
    uint64_t *s = e->rng;
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1). */
static double rng_unit(struct pw_sim_engine *e)
{
    return (double)(rng_next(e) >> 11) * 0x1.0p-53;
}

/* True with probability p; draws nothing when p is 0 so lossless hops do not shift the stream
 * of the hops that matter. */
static bool chance(struct pw_sim_engine *e, double p)
{
    if (p <= 0)
        return false;
    if (p >= 1)
        return true;
    return rng_unit(e) < p;
}

static uint64_t sample_delay(struct pw_sim_engine *e, double rtt_ms, double jitter_ms)
{
    double us = rtt_ms * 1000.0;

    if (jitter_ms > 0)
        us += (2.0 * rng_unit(e) - 1.0) * jitter_ms * 1000.0;
    if (us < 0)
        us = 0;
    return (uint64_t)llround(us) * 1000u;
}

int pw_sim_engine_init(struct pw_sim_engine *e, struct pw_sim_scenario *scn, uint64_t seed)
{
    uint64_t x = seed;

    memset(e, 0, sizeof(*e));
    e->scn = scn;
    e->seed = seed;
    for (int i = 0; i < 4; i++)
        e->rng[i] = splitmix64(&x);
    e->next_event = calloc(scn->npaths, sizeof(*e->next_event));
    e->cur_route = calloc(scn->npaths, sizeof(*e->cur_route));
    if (e->next_event == NULL || e->cur_route == NULL) {
        pw_sim_engine_deinit(e);
        return -ENOMEM;
    }
    return 0;
}

void pw_sim_engine_deinit(struct pw_sim_engine *e)
{
    free(e->next_event);
    free(e->cur_route);
    e->next_event = NULL;
    e->cur_route = NULL;
}

static void apply_set(struct pw_sim_node *n, const struct pw_sim_node_set *s)
{
    const struct pw_sim_node *v = &s->v;

    if (s->mask & PW_SIM_SET_RTT)
        n->rtt_ms = v->rtt_ms;
    if (s->mask & PW_SIM_SET_JITTER)
        n->jitter_ms = v->jitter_ms;
    if (s->mask & PW_SIM_SET_LOSS)
        n->loss = v->loss;
    if (s->mask & PW_SIM_SET_REPLY_LOSS)
        n->reply_loss = v->reply_loss;
    if (s->mask & PW_SIM_SET_SILENT)
        n->silent = v->silent;
    if (s->mask & PW_SIM_SET_RATE) {
        n->icmp_rate_limit = v->icmp_rate_limit;
        n->tokens_init = false; /* a new limit starts with a full bucket */
    }
    if (s->mask & PW_SIM_SET_QUOTE)
        n->quote_bytes = v->quote_bytes;
    if (s->mask & PW_SIM_SET_TTL)
        n->ttl = v->ttl;
    if (s->mask & PW_SIM_SET_ICMP)
        n->icmp = v->icmp;
    if (s->mask & PW_SIM_SET_UDP)
        n->udp = v->udp;
    if (s->mask & PW_SIM_SET_TCP)
        n->tcp = v->tcp;
}

int pw_sim_engine_advance(struct pw_sim_engine *e, uint64_t t_ns, struct pw_sim_change *chg)
{
    for (size_t i = 0; i < e->scn->npaths; i++) {
        struct pw_sim_path *p = &e->scn->paths[i];
        size_t r = pw_sim_path_route_at(p, t_ns);

        /* Route first: an event at the same instant applies to the new route's hops. */
        if (r != e->cur_route[i]) {
            e->cur_route[i] = r;
            chg->path = i;
            chg->is_route = true;
            chg->route = r;
            chg->ev = NULL;
            return 1;
        }
        if (e->next_event[i] < p->nevents && p->events[e->next_event[i]].at_ns <= t_ns) {
            const struct pw_sim_event *ev = &p->events[e->next_event[i]++];

            if (ev->hop == 0) {
                apply_set(&p->dest, &ev->set);
            } else {
                struct pw_sim_route *rt = &p->routes[pw_sim_path_route_at(p, ev->at_ns)];
                struct pw_sim_hop *hop = &rt->hops[ev->hop - 1];

                for (size_t a = 0; a < hop->nalt; a++)
                    apply_set(&hop->alt[a], &ev->set);
            }
            chg->path = i;
            chg->is_route = false;
            chg->route = e->cur_route[i];
            chg->ev = ev;
            return 1;
        }
    }
    return 0;
}

static uint64_t fnv1a(uint64_t h, const void *buf, size_t len)
{
    const uint8_t *b = buf;

    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/*
 * Hash of the flow identifier as Paris traceroute defines it: addresses, protocol, and the two
 * ports for UDP/TCP or the ICMP identifier and checksum. Never the TTL, IP ID or ICMP sequence,
 * so a prober that keeps the flow fixed always takes the same branch of every ECMP hop.
 */
static uint64_t flow_hash(const struct pw_sim_engine *e, const struct pw_sim_probe *p)
{
    size_t alen = p->family == AF_INET ? 4 : 16;
    uint8_t tail[6];
    uint64_t h = 0xcbf29ce484222325ull;

    h = fnv1a(h, &e->seed, sizeof(e->seed));
    h = fnv1a(h, p->src, alen);
    h = fnv1a(h, p->dst, alen);
    tail[0] = (uint8_t)p->proto;
    tail[1] = (uint8_t)p->family;
    if (p->proto == PW_SIM_PROTO_ICMP) {
        tail[2] = (uint8_t)(p->sport >> 8);
        tail[3] = (uint8_t)p->sport;
        tail[4] = (uint8_t)(p->icmp_cksum >> 8);
        tail[5] = (uint8_t)p->icmp_cksum;
    } else {
        tail[2] = (uint8_t)(p->sport >> 8);
        tail[3] = (uint8_t)p->sport;
        tail[4] = (uint8_t)(p->dport >> 8);
        tail[5] = (uint8_t)p->dport;
    }
    return fnv1a(h, tail, sizeof(tail));
}

static struct pw_sim_node *pick(struct pw_sim_hop *hop, uint64_t flow, size_t hopno)
{
    if (hop->nalt == 1)
        return &hop->alt[0];
    /* Salt with the hop number so two ECMP hops split the flows independently. */
    return &hop->alt[mix64(flow ^ (0x9e3779b97f4a7c15ull * (hopno + 1))) % hop->nalt];
}

static bool bucket_take(struct pw_sim_node *n, uint64_t t_ns)
{
    double burst;

    if (n->icmp_rate_limit <= 0)
        return true;
    burst = n->icmp_rate_limit < 1 ? 1 : n->icmp_rate_limit;
    if (!n->tokens_init) {
        n->tokens = burst;
        n->tokens_ns = t_ns;
        n->tokens_init = true;
    }
    if (t_ns > n->tokens_ns) {
        n->tokens += (double)(t_ns - n->tokens_ns) * 1e-9 * n->icmp_rate_limit;
        if (n->tokens > burst)
            n->tokens = burst;
        n->tokens_ns = t_ns;
    }
    if (n->tokens < 1)
        return false;
    n->tokens -= 1;
    return true;
}

static bool has_family(const struct pw_sim_node *n, int family)
{
    return family == AF_INET ? n->has_addr : n->has_addr6;
}

/* Shared tail for a node that received the probe and may answer with an ICMP message. */
static void icmp_answer(struct pw_sim_engine *e, struct pw_sim_node *n, uint64_t t_ns,
                        struct pw_sim_decision *d)
{
    if (chance(e, n->reply_loss)) {
        d->outcome = PW_SIM_REPLY_LOST;
        return;
    }
    if (!bucket_take(n, t_ns)) {
        d->outcome = PW_SIM_RATE_LIMITED;
        return;
    }
    d->outcome = PW_SIM_REPLIED;
}

void pw_sim_engine_decide(struct pw_sim_engine *e, struct pw_sim_path *path,
                          const struct pw_sim_probe *p, uint64_t t_ns, struct pw_sim_decision *d)
{
    struct pw_sim_route *rt = &path->routes[pw_sim_path_route_at(path, t_ns)];
    size_t ttl = p->ttl > 0 ? p->ttl : 1;
    size_t target = ttl <= rt->nhops ? ttl : rt->nhops + 1;
    uint64_t flow = flow_hash(e, p);
    struct pw_sim_node *n = NULL;
    size_t dist;

    memset(d, 0, sizeof(*d));
    d->hop = target;
    for (size_t i = 1; i <= target && i <= rt->nhops; i++) {
        n = pick(&rt->hops[i - 1], flow, i);
        if (chance(e, n->loss)) {
            d->outcome = PW_SIM_FWD_LOST;
            return;
        }
    }
    if (target > rt->nhops) {
        n = &path->dest;
        if (chance(e, n->loss)) {
            d->outcome = PW_SIM_FWD_LOST;
            return;
        }
    }
    d->responder = n;
    d->quote_bytes = n->quote_bytes;
    dist = target - 1;
    d->reply_ttl = n->ttl > dist ? (uint8_t)(n->ttl - dist) : 1;
    d->quoted_ttl = (uint8_t)(ttl - dist);

    if (target <= rt->nhops) {
        if (n->silent || !has_family(n, p->family)) {
            d->outcome = PW_SIM_SILENT;
            return;
        }
        d->reply = PW_SIM_REPLY_TIME_EXCEEDED;
        icmp_answer(e, n, t_ns, d);
    } else {
        enum pw_sim_answer a = p->proto == PW_SIM_PROTO_ICMP  ? n->icmp
                               : p->proto == PW_SIM_PROTO_UDP ? n->udp
                                                              : n->tcp;

        switch (a) {
        case PW_SIM_ANSWER_REPLY:
            d->reply = PW_SIM_REPLY_ECHO;
            icmp_answer(e, n, t_ns, d);
            break;
        case PW_SIM_ANSWER_UNREACH:
            d->reply = PW_SIM_REPLY_PORT_UNREACH;
            icmp_answer(e, n, t_ns, d);
            break;
        case PW_SIM_ANSWER_SYNACK:
            d->reply = PW_SIM_REPLY_SYNACK;
            d->outcome = PW_SIM_REPLIED;
            break;
        case PW_SIM_ANSWER_RST:
            d->reply = PW_SIM_REPLY_RST;
            d->outcome = PW_SIM_REPLIED;
            break;
        case PW_SIM_ANSWER_NONE:
        default:
            d->outcome = PW_SIM_DEST_NONE;
            return;
        }
    }
    if (d->outcome == PW_SIM_REPLIED)
        d->delay_ns = sample_delay(e, n->rtt_ms, n->jitter_ms);
    else
        d->reply = PW_SIM_REPLY_NONE;
}

bool pw_sim_engine_dns(struct pw_sim_engine *e, uint64_t *delay_ns)
{
    if (chance(e, e->scn->dns_loss))
        return false;
    *delay_ns = sample_delay(e, e->scn->dns_rtt_ms, e->scn->dns_jitter_ms);
    return true;
}

uint32_t pw_sim_engine_isn(const struct pw_sim_engine *e, const struct pw_sim_probe *p)
{
    uint64_t h = flow_hash(e, p);

    h = fnv1a(h, &p->probe_id, sizeof(p->probe_id));
    return (uint32_t)mix64(h);
}

const char *pw_sim_outcome_name(enum pw_sim_outcome o)
{
    static const char *const names[PW_SIM_OUTCOME_COUNT] = {
        "replied",   "fwd_lost", "reply_lost", "silent",  "rate_limited",
        "dest_none", "not_dest", "shutdown",   "overload"};

    return (unsigned)o < PW_SIM_OUTCOME_COUNT ? names[o] : "?";
}
