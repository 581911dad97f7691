/*
 * scenario.c - scenario JSON -> validated structs
 *
 * Every check happens here, once, with an error that names the JSON path of the bad value
 * ("paths[1].hops[4].loss must be between 0 and 1 (got 1.5)"), because a typo in a scenario
 * otherwise shows up much later as an accuracy test that fails for no visible reason. Unknown
 * keys are errors for the same reason.
 */
#include "scenario.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHERE_MAX 160

struct pctx {
    char *err;
    size_t errlen;
};

enum node_kind { NODE_HOP, NODE_DEST, NODE_SET_HOP, NODE_SET_DEST };

static const char *const hop_keys[] = {"comment",    "addr",   "addr6",           "name",
                                       "name_ttl",   "rtt_ms", "jitter_ms",       "loss",
                                       "reply_loss", "silent", "icmp_rate_limit", "quote_bytes",
                                       "ttl",        NULL};
static const char *const dest_keys[] = {
    "comment", "addr",       "addr6",           "name",        "name_ttl", "rtt_ms", "jitter_ms",
    "loss",    "reply_loss", "icmp_rate_limit", "quote_bytes", "ttl",      "icmp",   "udp",
    "tcp",     NULL};
static const char *const set_hop_keys[] = {"rtt_ms",      "jitter_ms", "loss",
                                           "reply_loss",  "silent",    "icmp_rate_limit",
                                           "quote_bytes", "ttl",       NULL};
static const char *const set_dest_keys[] = {
    "rtt_ms", "jitter_ms", "loss", "reply_loss", "icmp_rate_limit", "quote_bytes", "ttl",
    "icmp",   "udp",       "tcp",  NULL};
static const char *const ecmp_keys[] = {"comment", "ecmp", NULL};
static const char *const route_change_keys[] = {"comment", "at_s", "hops", NULL};
static const char *const event_keys[] = {"comment", "at_s", "hop", "set", NULL};
static const char *const path_keys[] = {"comment", "hops", "dest", "route_changes", "events", NULL};
static const char *const dns_keys[] = {"comment", "rtt_ms", "jitter_ms", "loss", NULL};
static const char *const top_keys_paths[] = {"comment", "description", "seed", "names",
                                             "dns",     "paths",       NULL};
static const char *const top_keys_single[] = {"comment", "description", "seed", "names",
                                              "dns",     "hops",        "dest", "route_changes",
                                              "events",  NULL};

static int fail(struct pctx *c, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct pctx *c, const char *where, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (c->errlen == 0)
        return -EINVAL;
    if (where != NULL && where[0] != '\0')
        n = snprintf(c->err, c->errlen, "%s ", where);
    if (n < 0 || (size_t)n >= c->errlen)
        return -EINVAL;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Bounded append used to build JSON paths; a truncated path in a message is harmless. */
static size_t append(char *dst, size_t off, const char *s)
{
    while (*s != '\0' && off + 1 < WHERE_MAX)
        dst[off++] = *s++;
    dst[off] = '\0';
    return off;
}

/* dst = where + ".key", or where + "[idx]" when key is NULL. dst holds WHERE_MAX bytes. */
static void sub_where(char *dst, const char *where, const char *key, long idx)
{
    char num[24];
    size_t off = append(dst, 0, where);

    if (key != NULL) {
        if (where[0] != '\0')
            off = append(dst, off, ".");
        append(dst, off, key);
        return;
    }
    snprintf(num, sizeof(num), "[%ld]", idx);
    append(dst, off, num);
}

static int check_keys(struct pctx *c, const cJSON *obj, const char *where,
                      const char *const *allowed)
{
    const cJSON *it;

    if (!cJSON_IsObject(obj))
        return fail(c, where, "must be a JSON object");
    cJSON_ArrayForEach(it, obj)
    {
        bool ok = false;

        for (size_t i = 0; allowed[i] != NULL; i++) {
            if (it->string != NULL && strcmp(it->string, allowed[i]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            char list[256] = "";
            size_t off = 0;

            for (size_t i = 0; allowed[i] != NULL && off < sizeof(list); i++) {
                int n = snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "", allowed[i]);
                if (n < 0)
                    break;
                off += (size_t)n;
            }
            return fail(c, where, "has unknown key \"%s\" (allowed: %s)",
                        it->string != NULL ? it->string : "?", list);
        }
    }
    return 0;
}

static int get_double(struct pctx *c, const cJSON *v, const char *where, double lo, double hi,
                      double *out)
{
    if (!cJSON_IsNumber(v))
        return fail(c, where, "must be a number");
    if (!isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return fail(c, where, "must be between %g and %g (got %g)", lo, hi, v->valuedouble);
    *out = v->valuedouble;
    return 0;
}

static int get_uint(struct pctx *c, const cJSON *v, const char *where, double lo, double hi,
                    uint64_t *out)
{
    double d;
    int rc = get_double(c, v, where, lo, hi, &d);

    if (rc < 0)
        return rc;
    if (d != floor(d))
        return fail(c, where, "must be a whole number (got %g)", d);
    *out = (uint64_t)d;
    return 0;
}

static int get_bool(struct pctx *c, const cJSON *v, const char *where, bool *out)
{
    if (!cJSON_IsBool(v))
        return fail(c, where, "must be true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

static bool in_sim4(const struct in_addr *a)
{
    return (ntohl(a->s_addr) & 0xfffe0000u) == 0xc6120000u;
}

static bool in_sim6(const struct in6_addr *a)
{
    return a->s6_addr[0] == 0x20 && a->s6_addr[1] == 0x01 && a->s6_addr[2] == 0x0d &&
           a->s6_addr[3] == 0xb8;
}

bool pw_sim_addr_simulated(int family, const void *addr)
{
    if (family == AF_INET)
        return in_sim4(addr);
    if (family == AF_INET6)
        return in_sim6(addr);
    return false;
}

/* Parse an address of the given family that a simulated node or name may use. */
static int get_addr(struct pctx *c, const cJSON *v, const char *where, int family, void *out)
{
    static const char *const reserved4[] = {"198.18.0.0", PW_SIM_PROBER4, PW_SIM_DNS4,
                                            "198.19.255.255", NULL};
    static const char *const reserved6[] = {"2001:db8::", PW_SIM_PROBER6, PW_SIM_DNS6, NULL};
    const char *const *reserved = family == AF_INET ? reserved4 : reserved6;
    size_t alen = family == AF_INET ? 4 : 16;
    unsigned char buf[16];

    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return fail(c, where, "must be a string holding an IPv%d address",
                    family == AF_INET ? 4 : 6);
    if (inet_pton(family, v->valuestring, out) != 1)
        return fail(c, where, "is not a valid IPv%d address (got \"%.64s\")",
                    family == AF_INET ? 4 : 6, v->valuestring);
    if (!pw_sim_addr_simulated(family, out))
        return fail(c, where, "must lie in the simulated space %s (got %.64s)",
                    family == AF_INET ? "198.18.0.0/15" : "2001:db8::/32", v->valuestring);
    for (size_t i = 0; reserved[i] != NULL; i++) {
        if (inet_pton(family, reserved[i], buf) == 1 && memcmp(buf, out, alen) == 0)
            return fail(c, where,
                        "uses %s, which is reserved for the prober side or the "
                        "simulated resolver",
                        reserved[i]);
    }
    return 0;
}

/*
 * Encode a dotted name into DNS wire format. Labels may hold any byte but '.' and NUL (hostile
 * names are the point of some scenarios); each label is 1..63 bytes, the whole name at most 255
 * bytes on the wire. One trailing dot is accepted.
 */
static int encode_name(struct pctx *c, const char *where, const char *name, uint8_t *wire,
                       size_t *wire_len)
{
    size_t len = strlen(name);
    size_t off = 0;
    const char *p = name;
    const char *end;

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0)
        return fail(c, where, "must not be empty");
    end = name + len;
    while (p < end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t lab = (size_t)((dot != NULL ? dot : end) - p);

        if (lab == 0)
            return fail(c, where, "has an empty label (\"..\" or a leading dot)");
        if (lab > 63)
            return fail(c, where, "has a label of %zu bytes; DNS allows at most 63", lab);
        if (off + 1 + lab + 1 > PW_SIM_MAX_NAME_WIRE)
            return fail(c, where, "is longer than 255 bytes in DNS wire format");
        wire[off++] = (uint8_t)lab;
        memcpy(wire + off, p, lab);
        off += lab;
        p += lab + (dot != NULL ? 1 : 0);
        if (dot != NULL && p == end)
            return fail(c, where, "has an empty label");
    }
    wire[off++] = 0;
    *wire_len = off;
    return 0;
}

static int get_answer(struct pctx *c, const cJSON *v, const char *where, const char *const *names,
                      const enum pw_sim_answer *vals, enum pw_sim_answer *out)
{
    if (cJSON_IsString(v) && v->valuestring != NULL) {
        for (size_t i = 0; names[i] != NULL; i++) {
            if (strcmp(v->valuestring, names[i]) == 0) {
                *out = vals[i];
                return 0;
            }
        }
    }
    return fail(c, where, "must be \"%s\" or \"%s\"%s%s%s", names[0], names[1],
                names[2] != NULL ? " or \"" : "", names[2] != NULL ? names[2] : "",
                names[2] != NULL ? "\"" : "");
}

static void node_defaults(struct pw_sim_node *n)
{
    memset(n, 0, sizeof(*n));
    n->name_ttl = 300;
    n->quote_bytes = -1;
    n->ttl = 64;
    n->icmp = PW_SIM_ANSWER_REPLY;
    n->udp = PW_SIM_ANSWER_UNREACH;
    n->tcp = PW_SIM_ANSWER_SYNACK;
}

/*
 * Parse a hop alternative, a destination, or the "set" of an event (kind says which keys are
 * allowed). *mask receives the PW_SIM_SET_* bits of the behaviour fields present.
 */
static int parse_node(struct pctx *c, const cJSON *obj, enum node_kind kind, const char *where,
                      struct pw_sim_node *n, unsigned *mask)
{
    static const char *const icmp_names[] = {"reply", "none", NULL};
    static const enum pw_sim_answer icmp_vals[] = {PW_SIM_ANSWER_REPLY, PW_SIM_ANSWER_NONE};
    static const char *const udp_names[] = {"port_unreachable", "none", NULL};
    static const enum pw_sim_answer udp_vals[] = {PW_SIM_ANSWER_UNREACH, PW_SIM_ANSWER_NONE};
    static const char *const tcp_names[] = {"synack", "rst", "none", NULL};
    static const enum pw_sim_answer tcp_vals[] = {PW_SIM_ANSWER_SYNACK, PW_SIM_ANSWER_RST,
                                                  PW_SIM_ANSWER_NONE};
    const char *const *keys = kind == NODE_HOP       ? hop_keys
                              : kind == NODE_DEST    ? dest_keys
                              : kind == NODE_SET_HOP ? set_hop_keys
                                                     : set_dest_keys;
    char w[WHERE_MAX];
    const cJSON *v;
    uint64_t u;
    int rc;

    node_defaults(n);
    *mask = 0;
    rc = check_keys(c, obj, where, keys);
    if (rc < 0)
        return rc;

    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "addr")) != NULL) {
        sub_where(w, where, "addr", 0);
        if ((rc = get_addr(c, v, w, AF_INET, &n->addr)) < 0)
            return rc;
        n->has_addr = true;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "addr6")) != NULL) {
        sub_where(w, where, "addr6", 0);
        if ((rc = get_addr(c, v, w, AF_INET6, &n->addr6)) < 0)
            return rc;
        n->has_addr6 = true;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "name")) != NULL) {
        sub_where(w, where, "name", 0);
        if (!cJSON_IsString(v) || v->valuestring == NULL)
            return fail(c, w, "must be a string");
        if ((rc = encode_name(c, w, v->valuestring, n->name_wire, &n->name_wire_len)) < 0)
            return rc;
        n->name = strdup(v->valuestring);
        if (n->name == NULL)
            return -ENOMEM;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "name_ttl")) != NULL) {
        sub_where(w, where, "name_ttl", 0);
        if ((rc = get_uint(c, v, w, 0, 2147483647.0, &u)) < 0)
            return rc;
        n->name_ttl = (uint32_t)u;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "rtt_ms")) != NULL) {
        sub_where(w, where, "rtt_ms", 0);
        if ((rc = get_double(c, v, w, 0, 60000, &n->rtt_ms)) < 0)
            return rc;
        *mask |= PW_SIM_SET_RTT;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "jitter_ms")) != NULL) {
        sub_where(w, where, "jitter_ms", 0);
        if ((rc = get_double(c, v, w, 0, 60000, &n->jitter_ms)) < 0)
            return rc;
        *mask |= PW_SIM_SET_JITTER;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "loss")) != NULL) {
        sub_where(w, where, "loss", 0);
        if ((rc = get_double(c, v, w, 0, 1, &n->loss)) < 0)
            return rc;
        *mask |= PW_SIM_SET_LOSS;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "reply_loss")) != NULL) {
        sub_where(w, where, "reply_loss", 0);
        if ((rc = get_double(c, v, w, 0, 1, &n->reply_loss)) < 0)
            return rc;
        *mask |= PW_SIM_SET_REPLY_LOSS;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "silent")) != NULL) {
        sub_where(w, where, "silent", 0);
        if ((rc = get_bool(c, v, w, &n->silent)) < 0)
            return rc;
        *mask |= PW_SIM_SET_SILENT;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "icmp_rate_limit")) != NULL) {
        sub_where(w, where, "icmp_rate_limit", 0);
        if ((rc = get_double(c, v, w, 0, 1e7, &n->icmp_rate_limit)) < 0)
            return rc;
        *mask |= PW_SIM_SET_RATE;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "quote_bytes")) != NULL) {
        sub_where(w, where, "quote_bytes", 0);
        if (cJSON_IsNull(v)) {
            n->quote_bytes = -1;
        } else {
            if ((rc = get_uint(c, v, w, 0, 1500, &u)) < 0)
                return rc;
            n->quote_bytes = (int)u;
        }
        *mask |= PW_SIM_SET_QUOTE;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "ttl")) != NULL) {
        sub_where(w, where, "ttl", 0);
        if ((rc = get_uint(c, v, w, 1, 255, &u)) < 0)
            return rc;
        n->ttl = (uint8_t)u;
        *mask |= PW_SIM_SET_TTL;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "icmp")) != NULL) {
        sub_where(w, where, "icmp", 0);
        if ((rc = get_answer(c, v, w, icmp_names, icmp_vals, &n->icmp)) < 0)
            return rc;
        *mask |= PW_SIM_SET_ICMP;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "udp")) != NULL) {
        sub_where(w, where, "udp", 0);
        if ((rc = get_answer(c, v, w, udp_names, udp_vals, &n->udp)) < 0)
            return rc;
        *mask |= PW_SIM_SET_UDP;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(obj, "tcp")) != NULL) {
        sub_where(w, where, "tcp", 0);
        if ((rc = get_answer(c, v, w, tcp_names, tcp_vals, &n->tcp)) < 0)
            return rc;
        *mask |= PW_SIM_SET_TCP;
    }

    if (kind == NODE_SET_HOP || kind == NODE_SET_DEST) {
        if (*mask == 0)
            return fail(c, where, "sets nothing; give at least one of the allowed keys");
        return 0;
    }
    if (kind == NODE_HOP && !n->silent && !(*mask & PW_SIM_SET_RTT))
        return fail(c, where, "needs \"rtt_ms\" (only a silent hop may omit it)");
    if (kind == NODE_DEST && !(*mask & PW_SIM_SET_RTT))
        return fail(c, where, "needs \"rtt_ms\"");
    if (kind == NODE_DEST && !n->has_addr && !n->has_addr6)
        return fail(c, where, "needs \"addr\" and/or \"addr6\"");
    return 0;
}

static void node_deinit(struct pw_sim_node *n)
{
    free(n->name);
    n->name = NULL;
}

static void route_deinit(struct pw_sim_route *r)
{
    for (size_t i = 0; i < r->nhops; i++) {
        for (size_t j = 0; j < r->hops[i].nalt; j++)
            node_deinit(&r->hops[i].alt[j]);
        free(r->hops[i].alt);
    }
    free(r->hops);
    r->hops = NULL;
    r->nhops = 0;
}

static int parse_hop(struct pctx *c, const cJSON *obj, const char *where, struct pw_sim_hop *hop)
{
    const cJSON *ecmp = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, "ecmp") : NULL;
    const cJSON *it;
    char w[WHERE_MAX];
    unsigned mask;
    size_t n;
    int rc;

    if (ecmp == NULL) {
        hop->alt = calloc(1, sizeof(*hop->alt));
        if (hop->alt == NULL)
            return -ENOMEM;
        hop->nalt = 1;
        return parse_node(c, obj, NODE_HOP, where, &hop->alt[0], &mask);
    }
    if ((rc = check_keys(c, obj, where, ecmp_keys)) < 0)
        return rc;
    sub_where(w, where, "ecmp", 0);
    if (!cJSON_IsArray(ecmp))
        return fail(c, w, "must be an array of hop objects");
    n = (size_t)cJSON_GetArraySize(ecmp);
    if (n < 2 || n > PW_SIM_MAX_ECMP)
        return fail(c, w, "must hold 2 to %d alternatives (got %zu)", PW_SIM_MAX_ECMP, n);
    hop->alt = calloc(n, sizeof(*hop->alt));
    if (hop->alt == NULL)
        return -ENOMEM;
    hop->ecmp = true;
    n = 0;
    cJSON_ArrayForEach(it, ecmp)
    {
        char wi[WHERE_MAX];

        sub_where(wi, w, NULL, (long)n);
        hop->nalt = n + 1;
        if ((rc = parse_node(c, it, NODE_HOP, wi, &hop->alt[n], &mask)) < 0)
            return rc;
        n++;
    }
    return 0;
}

static int parse_hops(struct pctx *c, const cJSON *arr, const char *where, struct pw_sim_route *r)
{
    const cJSON *it;
    size_t n;
    int rc;

    if (!cJSON_IsArray(arr))
        return fail(c, where, "must be an array of hops");
    n = (size_t)cJSON_GetArraySize(arr);
    if (n > PW_SIM_MAX_HOPS)
        return fail(c, where, "has %zu hops; at most %d are supported", n, PW_SIM_MAX_HOPS);
    if (n == 0)
        return 0;
    r->hops = calloc(n, sizeof(*r->hops));
    if (r->hops == NULL)
        return -ENOMEM;
    n = 0;
    cJSON_ArrayForEach(it, arr)
    {
        char w[WHERE_MAX];

        sub_where(w, where, NULL, (long)n);
        r->nhops = n + 1;
        if ((rc = parse_hop(c, it, w, &r->hops[n])) < 0)
            return rc;
        n++;
    }
    return 0;
}

static int get_at(struct pctx *c, const cJSON *obj, const char *where, uint64_t *at_ns)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "at_s");
    char w[WHERE_MAX];
    double d;
    int rc;

    sub_where(w, where, "at_s", 0);
    if (v == NULL)
        return fail(c, where, "needs \"at_s\" (seconds after READY)");
    if ((rc = get_double(c, v, w, 0, 1e7, &d)) < 0)
        return rc;
    *at_ns = (uint64_t)llround(d * 1e9);
    return 0;
}

static int cmp_event(const void *a, const void *b)
{
    const struct pw_sim_event *x = a, *y = b;

    if (x->at_ns != y->at_ns)
        return x->at_ns < y->at_ns ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

/* Every node that may answer must have an address of every family its destination has. */
static int check_families(struct pctx *c, const struct pw_sim_path *p, const char *where)
{
    for (size_t r = 0; r < p->nroutes; r++) {
        const struct pw_sim_route *rt = &p->routes[r];

        for (size_t h = 0; h < rt->nhops; h++) {
            for (size_t a = 0; a < rt->hops[h].nalt; a++) {
                const struct pw_sim_node *n = &rt->hops[h].alt[a];
                const char *what = r == 0 ? "hops" : "route_changes";

                if (n->silent)
                    continue;
                if (p->dest.has_addr && !n->has_addr)
                    return fail(c, where,
                                "%s: hop %zu%s has no \"addr\" but the destination has an IPv4 "
                                "address (route %zu); give it one or make it silent",
                                what, h + 1, rt->hops[h].ecmp ? " (an ECMP alternative)" : "", r);
                if (p->dest.has_addr6 && !n->has_addr6)
                    return fail(c, where,
                                "%s: hop %zu%s has no \"addr6\" but the destination has an IPv6 "
                                "address (route %zu); give it one or make it silent",
                                what, h + 1, rt->hops[h].ecmp ? " (an ECMP alternative)" : "", r);
            }
        }
    }
    return 0;
}

static int parse_path(struct pctx *c, const cJSON *obj, const char *where, struct pw_sim_path *p)
{
    const cJSON *hops = cJSON_GetObjectItemCaseSensitive(obj, "hops");
    const cJSON *dest = cJSON_GetObjectItemCaseSensitive(obj, "dest");
    const cJSON *rcs = cJSON_GetObjectItemCaseSensitive(obj, "route_changes");
    const cJSON *evs = cJSON_GetObjectItemCaseSensitive(obj, "events");
    const cJSON *it;
    char w[WHERE_MAX];
    unsigned mask;
    size_t n;
    int rc;

    if (hops == NULL)
        return fail(c, where, "needs \"hops\" (an array, may be empty)");
    if (dest == NULL)
        return fail(c, where, "needs \"dest\"");
    sub_where(w, where, "dest", 0);
    if ((rc = parse_node(c, dest, NODE_DEST, w, &p->dest, &mask)) < 0)
        return rc;

    n = 1;
    if (rcs != NULL) {
        sub_where(w, where, "route_changes", 0);
        if (!cJSON_IsArray(rcs))
            return fail(c, w, "must be an array");
        n += (size_t)cJSON_GetArraySize(rcs);
    }
    p->routes = calloc(n, sizeof(*p->routes));
    if (p->routes == NULL)
        return -ENOMEM;
    p->nroutes = 1;
    sub_where(w, where, "hops", 0);
    if ((rc = parse_hops(c, hops, w, &p->routes[0])) < 0)
        return rc;
    if (rcs != NULL) {
        n = 0;
        cJSON_ArrayForEach(it, rcs)
        {
            struct pw_sim_route *r = &p->routes[p->nroutes];
            char wi[WHERE_MAX], wh[WHERE_MAX];

            sub_where(w, where, "route_changes", 0);
            sub_where(wi, w, NULL, (long)n++);
            if ((rc = check_keys(c, it, wi, route_change_keys)) < 0)
                return rc;
            p->nroutes++;
            if ((rc = get_at(c, it, wi, &r->at_ns)) < 0)
                return rc;
            if (r->at_ns <= p->routes[p->nroutes - 2].at_ns)
                return fail(c, wi, "at_s must be greater than 0 and than the previous change's");
            sub_where(wh, wi, "hops", 0);
            if (cJSON_GetObjectItemCaseSensitive(it, "hops") == NULL)
                return fail(c, wi, "needs \"hops\" (the full new hop list)");
            if ((rc = parse_hops(c, cJSON_GetObjectItemCaseSensitive(it, "hops"), wh, r)) < 0)
                return rc;
        }
    }
    if ((rc = check_families(c, p, where)) < 0)
        return rc;

    if (evs != NULL) {
        sub_where(w, where, "events", 0);
        if (!cJSON_IsArray(evs))
            return fail(c, w, "must be an array");
        n = (size_t)cJSON_GetArraySize(evs);
        p->events = n > 0 ? calloc(n, sizeof(*p->events)) : NULL;
        if (n > 0 && p->events == NULL)
            return -ENOMEM;
        n = 0;
        cJSON_ArrayForEach(it, evs)
        {
            struct pw_sim_event *e = &p->events[n];
            const cJSON *hv, *sv;
            const struct pw_sim_route *r;
            char wi[WHERE_MAX], wx[WHERE_MAX];

            sub_where(wi, w, NULL, (long)n);
            e->order = n++;
            p->nevents = n;
            if ((rc = check_keys(c, it, wi, event_keys)) < 0)
                return rc;
            if ((rc = get_at(c, it, wi, &e->at_ns)) < 0)
                return rc;
            r = &p->routes[pw_sim_path_route_at(p, e->at_ns)];
            hv = cJSON_GetObjectItemCaseSensitive(it, "hop");
            sub_where(wx, wi, "hop", 0);
            if (hv == NULL)
                return fail(c, wi, "needs \"hop\" (1-based hop number or \"dest\")");
            if (cJSON_IsString(hv) && hv->valuestring != NULL &&
                strcmp(hv->valuestring, "dest") == 0) {
                e->hop = 0;
            } else {
                uint64_t u;

                if (!cJSON_IsNumber(hv))
                    return fail(c, wx, "must be a hop number or \"dest\"");
                if ((rc = get_uint(c, hv, wx, 1, PW_SIM_MAX_HOPS, &u)) < 0)
                    return rc;
                if (u > r->nhops)
                    return fail(c, wx, "names hop %llu but the route in force then has %zu hops",
                                (unsigned long long)u, r->nhops);
                e->hop = (size_t)u;
            }
            sv = cJSON_GetObjectItemCaseSensitive(it, "set");
            sub_where(wx, wi, "set", 0);
            if (sv == NULL)
                return fail(c, wi, "needs \"set\" (the fields to change)");
            if ((rc = parse_node(c, sv, e->hop == 0 ? NODE_SET_DEST : NODE_SET_HOP, wx, &e->set.v,
                                 &e->set.mask)) < 0)
                return rc;
            if (e->hop > 0 && (e->set.mask & PW_SIM_SET_SILENT) && !e->set.v.silent) {
                const struct pw_sim_hop *hop = &r->hops[e->hop - 1];

                for (size_t a = 0; a < hop->nalt; a++) {
                    if ((p->dest.has_addr && !hop->alt[a].has_addr) ||
                        (p->dest.has_addr6 && !hop->alt[a].has_addr6))
                        return fail(c, wx,
                                    "makes hop %zu answer but it has no address of the "
                                    "destination's family",
                                    e->hop);
                }
            }
        }
        qsort(p->events, p->nevents, sizeof(*p->events), cmp_event);
    }
    return 0;
}

static void path_deinit(struct pw_sim_path *p)
{
    node_deinit(&p->dest);
    for (size_t r = 0; r < p->nroutes; r++)
        route_deinit(&p->routes[r]);
    free(p->routes);
    free(p->events);
}

static int parse_names(struct pctx *c, const cJSON *obj, struct pw_sim_scenario *s)
{
    const cJSON *it;
    size_t n;
    int rc;

    if (!cJSON_IsObject(obj))
        return fail(c, "names", "must be an object mapping a name to an array of addresses");
    n = (size_t)cJSON_GetArraySize(obj);
    if (n == 0)
        return 0;
    s->names = calloc(n, sizeof(*s->names));
    if (s->names == NULL)
        return -ENOMEM;
    cJSON_ArrayForEach(it, obj)
    {
        struct pw_sim_hostname *h = &s->names[s->nnames++];
        const cJSON *a;
        char w[WHERE_MAX];
        size_t i = 0;

        snprintf(w, sizeof(w), "names[\"%.64s\"]", it->string);
        h->ttl = 300;
        if ((rc = encode_name(c, w, it->string, h->wire, &h->wire_len)) < 0)
            return rc;
        h->name = strdup(it->string);
        if (h->name == NULL)
            return -ENOMEM;
        if (!cJSON_IsArray(it))
            return fail(c, w, "must be an array of address strings");
        cJSON_ArrayForEach(a, it)
        {
            char wa[WHERE_MAX];
            struct in6_addr tmp;

            sub_where(wa, w, NULL, (long)i++);
            if (!cJSON_IsString(a) || a->valuestring == NULL)
                return fail(c, wa, "must be an address string");
            if (inet_pton(AF_INET6, a->valuestring, &tmp) == 1) {
                if (h->naddr6 == PW_SIM_MAX_NAME_ADDRS)
                    return fail(c, w, "has more than %d IPv6 addresses", PW_SIM_MAX_NAME_ADDRS);
                if ((rc = get_addr(c, a, wa, AF_INET6, &h->addr6[h->naddr6])) < 0)
                    return rc;
                h->naddr6++;
            } else {
                if (h->naddr4 == PW_SIM_MAX_NAME_ADDRS)
                    return fail(c, w, "has more than %d IPv4 addresses", PW_SIM_MAX_NAME_ADDRS);
                if ((rc = get_addr(c, a, wa, AF_INET, &h->addr4[h->naddr4])) < 0)
                    return rc;
                h->naddr4++;
            }
        }
        for (size_t j = 0; j + 1 < s->nnames; j++) {
            if (s->names[j].wire_len == h->wire_len &&
                strncasecmp((const char *)s->names[j].wire, (const char *)h->wire, h->wire_len) ==
                    0)
                return fail(c, w, "is listed twice (names compare case-insensitively)");
        }
    }
    return 0;
}

/* Call fn for every node of the scenario; stops at the first non-zero return. */
static int for_each_node(const struct pw_sim_scenario *s,
                         int (*fn)(const struct pw_sim_node *n, void *arg), void *arg)
{
    int rc;

    for (size_t p = 0; p < s->npaths; p++) {
        const struct pw_sim_path *path = &s->paths[p];

        for (size_t r = 0; r < path->nroutes; r++) {
            for (size_t h = 0; h < path->routes[r].nhops; h++) {
                const struct pw_sim_hop *hop = &path->routes[r].hops[h];

                for (size_t a = 0; a < hop->nalt; a++) {
                    if ((rc = fn(&hop->alt[a], arg)) != 0)
                        return rc;
                }
            }
        }
        if ((rc = fn(&path->dest, arg)) != 0)
            return rc;
    }
    return 0;
}

struct name_check {
    const struct pw_sim_scenario *s;
    const struct pw_sim_node *first_conflict_a, *first_conflict_b;
};

struct name_check_inner {
    const struct pw_sim_node *outer;
    const struct pw_sim_node **conflict;
};

static bool same_addr(const struct pw_sim_node *a, const struct pw_sim_node *b)
{
    return (a->has_addr && b->has_addr && a->addr.s_addr == b->addr.s_addr) ||
           (a->has_addr6 && b->has_addr6 && memcmp(&a->addr6, &b->addr6, 16) == 0);
}

static int name_check_inner(const struct pw_sim_node *n, void *arg)
{
    struct name_check_inner *in = arg;

    if (n == in->outer)
        return 1; /* only compare each pair once: stop when reaching the outer node itself */
    if (n->name != NULL && same_addr(n, in->outer) && strcmp(n->name, in->outer->name) != 0) {
        *in->conflict = n;
        return 2;
    }
    return 0;
}

static int name_check_outer(const struct pw_sim_node *n, void *arg)
{
    struct name_check *nc = arg;
    const struct pw_sim_node *conflict = NULL;
    struct name_check_inner in = {n, &conflict};

    if (n->name == NULL)
        return 0;
    if (for_each_node(nc->s, name_check_inner, &in) == 2) {
        nc->first_conflict_a = conflict;
        nc->first_conflict_b = n;
        return 1;
    }
    return 0;
}

/* PTR answers must be unambiguous: one address, one name, wherever the address appears. */
static int check_names(struct pctx *c, const struct pw_sim_scenario *s)
{
    struct name_check nc = {s, NULL, NULL};
    char a[INET6_ADDRSTRLEN] = "?";

    if (for_each_node(s, name_check_outer, &nc) == 0)
        return 0;
    if (nc.first_conflict_a->has_addr && nc.first_conflict_b->has_addr &&
        nc.first_conflict_a->addr.s_addr == nc.first_conflict_b->addr.s_addr)
        inet_ntop(AF_INET, &nc.first_conflict_a->addr, a, sizeof(a));
    else
        inet_ntop(AF_INET6, &nc.first_conflict_a->addr6, a, sizeof(a));
    return fail(c, NULL,
                "address %s has two different names (\"%.64s\" and \"%.64s\"); a PTR "
                "answer needs one",
                a, nc.first_conflict_a->name, nc.first_conflict_b->name);
}

static int parse_top(struct pctx *c, const cJSON *root, struct pw_sim_scenario *s)
{
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(root, "paths");
    const cJSON *v;
    char w[WHERE_MAX];
    int rc;

    if (!cJSON_IsObject(root))
        return fail(c, NULL, "the scenario must be a JSON object");
    if ((rc = check_keys(c, root, "top level", paths != NULL ? top_keys_paths : top_keys_single)) <
        0)
        return rc;
    s->seed = 1;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "seed")) != NULL) {
        if ((rc = get_uint(c, v, "seed", 0, 9007199254740992.0, &s->seed)) < 0)
            return rc;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "dns")) != NULL) {
        const cJSON *x;

        if ((rc = check_keys(c, v, "dns", dns_keys)) < 0)
            return rc;
        if ((x = cJSON_GetObjectItemCaseSensitive(v, "rtt_ms")) != NULL &&
            (rc = get_double(c, x, "dns.rtt_ms", 0, 60000, &s->dns_rtt_ms)) < 0)
            return rc;
        if ((x = cJSON_GetObjectItemCaseSensitive(v, "jitter_ms")) != NULL &&
            (rc = get_double(c, x, "dns.jitter_ms", 0, 60000, &s->dns_jitter_ms)) < 0)
            return rc;
        if ((x = cJSON_GetObjectItemCaseSensitive(v, "loss")) != NULL &&
            (rc = get_double(c, x, "dns.loss", 0, 1, &s->dns_loss)) < 0)
            return rc;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "names")) != NULL) {
        if ((rc = parse_names(c, v, s)) < 0)
            return rc;
    }

    if (paths == NULL) {
        s->paths = calloc(1, sizeof(*s->paths));
        if (s->paths == NULL)
            return -ENOMEM;
        s->npaths = 1;
        if ((rc = parse_path(c, root, "", &s->paths[0])) < 0)
            return rc;
    } else {
        const cJSON *it;
        size_t n;

        if (!cJSON_IsArray(paths))
            return fail(c, "paths", "must be an array of path objects");
        n = (size_t)cJSON_GetArraySize(paths);
        if (n < 1 || n > PW_SIM_MAX_PATHS)
            return fail(c, "paths", "must hold 1 to %d paths (got %zu)", PW_SIM_MAX_PATHS, n);
        s->paths = calloc(n, sizeof(*s->paths));
        if (s->paths == NULL)
            return -ENOMEM;
        cJSON_ArrayForEach(it, paths)
        {
            sub_where(w, "paths", NULL, (long)s->npaths);
            s->npaths++;
            if ((rc = check_keys(c, it, w, path_keys)) < 0)
                return rc;
            if ((rc = parse_path(c, it, w, &s->paths[s->npaths - 1])) < 0)
                return rc;
        }
    }

    /* A probe is routed by its destination address, so destinations must be unique. */
    for (size_t i = 0; i < s->npaths; i++) {
        for (size_t j = 0; j < i; j++) {
            if (same_addr(&s->paths[i].dest, &s->paths[j].dest)) {
                sub_where(w, "paths", NULL, (long)i);
                return fail(c, w, "has the same destination address as paths[%zu]", j);
            }
        }
    }
    return check_names(c, s);
}

int pw_sim_scenario_parse(const char *json, size_t len, struct pw_sim_scenario **out, char *err,
                          size_t errlen)
{
    struct pctx c = {err, errlen};
    struct pw_sim_scenario *s = NULL;
    cJSON *root = NULL;
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    *out = NULL;
    root = cJSON_ParseWithLength(json, len);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        size_t line = 1;

        for (const char *p = json; at != NULL && p < at && p < json + len; p++)
            line += *p == '\n';
        rc = fail(&c, NULL, "is not valid JSON (error near line %zu)", line);
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = parse_top(&c, root, s);
    if (rc == -ENOMEM)
        fail(&c, NULL, "out of memory");
    if (rc < 0)
        goto out;
    *out = s;
    s = NULL;
out:
    pw_sim_scenario_free(s);
    cJSON_Delete(root);
    return rc;
}

int pw_sim_scenario_load(const char *path, struct pw_sim_scenario **out, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int fd, rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)PW_SIM_MAX_FILE) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s must be a regular file of at most %u bytes", path,
                 PW_SIM_MAX_FILE);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory reading %s", path);
        goto out;
    }
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
            goto out;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    rc = pw_sim_scenario_parse(buf, len, out, err, errlen);
    if (rc < 0 && errlen > 0) {
        char tmp[512];

        snprintf(tmp, sizeof(tmp), "%s", err);
        snprintf(err, errlen, "%s: %s", path, tmp);
    }
out:
    free(buf);
    close(fd);
    return rc;
}

void pw_sim_scenario_free(struct pw_sim_scenario *scn)
{
    if (scn == NULL)
        return;
    for (size_t i = 0; i < scn->npaths; i++)
        path_deinit(&scn->paths[i]);
    free(scn->paths);
    for (size_t i = 0; i < scn->nnames; i++)
        free(scn->names[i].name);
    free(scn->names);
    free(scn);
}

struct pw_sim_path *pw_sim_scenario_find_path(struct pw_sim_scenario *scn, int family,
                                              const void *addr)
{
    for (size_t i = 0; i < scn->npaths; i++) {
        struct pw_sim_node *d = &scn->paths[i].dest;

        if (family == AF_INET && d->has_addr && memcmp(&d->addr, addr, 4) == 0)
            return &scn->paths[i];
        if (family == AF_INET6 && d->has_addr6 && memcmp(&d->addr6, addr, 16) == 0)
            return &scn->paths[i];
    }
    return NULL;
}

size_t pw_sim_path_route_at(const struct pw_sim_path *path, uint64_t t_ns)
{
    size_t r = path->nroutes - 1;

    while (r > 0 && path->routes[r].at_ns > t_ns)
        r--;
    return r;
}

struct find_node {
    int family;
    const void *addr;
    const struct pw_sim_node *any, *named;
};

static int find_node_fn(const struct pw_sim_node *n, void *arg)
{
    struct find_node *f = arg;
    bool match = (f->family == AF_INET && n->has_addr && memcmp(&n->addr, f->addr, 4) == 0) ||
                 (f->family == AF_INET6 && n->has_addr6 && memcmp(&n->addr6, f->addr, 16) == 0);

    if (!match)
        return 0;
    if (f->any == NULL)
        f->any = n;
    if (n->name != NULL) {
        f->named = n;
        return 1;
    }
    return 0;
}

const struct pw_sim_node *pw_sim_scenario_find_node(const struct pw_sim_scenario *scn, int family,
                                                    const void *addr)
{
    struct find_node f = {family, addr, NULL, NULL};

    for_each_node(scn, find_node_fn, &f);
    return f.named != NULL ? f.named : f.any;
}

const struct pw_sim_hostname *pw_sim_scenario_find_name(const struct pw_sim_scenario *scn,
                                                        const uint8_t *wire, size_t len)
{
    for (size_t i = 0; i < scn->nnames; i++) {
        const struct pw_sim_hostname *h = &scn->names[i];
        bool eq = h->wire_len == len;

        /* Label length bytes are < 64, so a bytewise ASCII case fold never alters them. */
        for (size_t j = 0; eq && j < len; j++) {
            uint8_t a = h->wire[j], b = wire[j];

            if (a >= 'A' && a <= 'Z')
                a = (uint8_t)(a + 32);
            if (b >= 'A' && b <= 'Z')
                b = (uint8_t)(b + 32);
            eq = a == b;
        }
        if (eq)
            return h;
    }
    return NULL;
}
