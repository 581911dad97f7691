/* PingWatcher — the trace engine (see trace.h).
 *
 * Shape of the state:
 *   engine  — raw sockets, capture, a binary heap of targets ordered by their next event,
 *             per-protocol tables mapping a flow identifier (ICMP id / source port) to the
 *             targets using it, and one send batch per address family.
 *   target  — its probe template, a ring of probe slots indexed by probe id, and a ring of
 *             samples in flight (samples overlap when the timeout exceeds the interval).
 *
 * Probe ids grow by one per probe, so probes of a target are sent, and time out, in id order:
 * the oldest outstanding id is the next timeout of the target. A reply is matched by flow
 * identifier, destination and probe id, and only counts when its capture time minus the
 * send time is within the timeout.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "error.h"
#include "reply.h"
#include "trace.h"

#define NS_PER_MS 1000000LL
#define NS_PER_US 1000LL
#define NS_PER_S 1000000000LL

/* Probes sent per sendmmsg() call at most. */
#define BATCH_MAX 128
/* Source ports for UDP/TCP probes: above Linux's default ephemeral range (32768-60999) so
 * raw probes do not collide with the host's own connections. A port is shared by targets
 * with different destinations; (port, destination) is unique. */
#define PORT_FIRST 61000
#define PORT_COUNT 4536
/* Flow identifiers are chained per port/id: targets with the same identifier. */
#define FLOW_TABLE_SIZE 65536

enum slot_state { SLOT_FREE = 0, SLOT_OUTSTANDING, SLOT_ANSWERED, SLOT_LOST };

struct probe_slot {
    uint16_t probe_id;
    uint8_t state;
    uint8_t ttl;
    uint32_t sample;     /* index into target->samples */
    uint64_t sample_seq; /* to detect a reused sample slot */
    int64_t sent_rt_ns;  /* CLOCK_REALTIME at send */
    int64_t deadline_ns; /* CLOCK_MONOTONIC: lost after this */
};

struct sample_slot {
    bool active;
    bool sending;
    bool reached;
    uint8_t next_ttl;  /* next TTL to send */
    uint8_t limit_ttl; /* highest TTL to send */
    uint8_t dest_ttl;  /* lowest TTL at which the destination answered; 0 = none */
    uint8_t last_sent_ttl;
    uint16_t outstanding; /* probes sent and not yet settled */
    uint64_t seq;
    int64_t start_rt_ns;
    int64_t next_send_ns;      /* CLOCK_MONOTONIC */
    struct pw_hop_result *hop; /* max_hops entries */
};

struct pw_trace_target {
    struct pw_trace_engine *engine;
    struct pw_trace_target *flow_next; /* chain of targets sharing the flow identifier */
    struct pw_probe_tmpl tmpl;
    struct pw_trace_opts opts;
    pw_trace_sample_cb cb;
    void *arg;
    uint64_t count;     /* samples wanted, 0 = unlimited */
    uint64_t started;   /* samples started */
    uint64_t delivered; /* samples delivered (= seq of the next one to deliver) */
    int64_t next_sample_ns;
    uint16_t next_probe_id;
    uint16_t oldest_id;  /* oldest probe id that may still be outstanding */
    uint32_t probe_mask; /* ring size - 1 */
    struct probe_slot *probes;
    uint32_t nsamples;
    struct sample_slot *samples;
    struct pw_hop_result *hop_storage;
    uint8_t known_dest_ttl; /* destination distance learnt from earlier samples, 0 unknown */
    uint8_t final_ttl_guess;
    size_t heap_idx;
    int64_t next_event_ns;
};

struct send_batch {
    int fd;
    unsigned n;
    struct mmsghdr msg[BATCH_MAX];
    struct iovec iov[BATCH_MAX];
    struct sockaddr_storage to[BATCH_MAX];
    struct probe_slot *slot[BATCH_MAX];
    uint8_t buf[BATCH_MAX][PW_PROBE_MAX_LEN];
};

struct pw_trace_engine {
    struct pw_trace_engine_opts opts;
    struct pw_capture *capture;
    struct send_batch *batch4, *batch6;
    struct pw_trace_target **heap;
    size_t heap_len, heap_cap;
    struct pw_trace_target **flows[3]; /* per protocol: FLOW_TABLE_SIZE chains */
    uint32_t next_port;
    uint32_t next_icmp_id;
    int64_t grace_ns;  /* extra wait for the capture ring before declaring loss */
    int64_t tokens_ns; /* rate cap: time at which the bucket was empty */
    struct pw_trace_counters counters;
};

static int64_t realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

void pw_trace_opts_default(struct pw_trace_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->proto = PW_PROTO_ICMP;
    o->port = 0;
    o->packet_size = -1;
    o->timeout_ms = 3000;
    o->max_hops = 30;
    o->inter_packet_delay_us = 25000;
    o->interval_ms = 2500;
    o->final_hop_only = false;
}

int pw_trace_opts_check(const struct pw_trace_opts *o, char *err, size_t errlen)
{
    if (o->proto != PW_PROTO_ICMP && o->proto != PW_PROTO_UDP && o->proto != PW_PROTO_TCP) {
        snprintf(err, errlen, "packet type must be icmp, udp or tcp");
        return PW_E_RANGE;
    }
    if (o->timeout_ms < 1 || o->timeout_ms > 60000) {
        snprintf(err, errlen, "timeout must be between 0.001 and 60 s (got %.3f)",
                 o->timeout_ms / 1000.0);
        return PW_E_RANGE;
    }
    if (o->max_hops < 1 || o->max_hops > PW_TRACE_MAX_HOPS) {
        snprintf(err, errlen, "max hops must be between 1 and %d (got %u)", PW_TRACE_MAX_HOPS,
                 o->max_hops);
        return PW_E_RANGE;
    }
    if (o->inter_packet_delay_us > 1000000) {
        snprintf(err, errlen, "inter-packet delay must be between 0 and 1000 ms (got %.3f)",
                 o->inter_packet_delay_us / 1000.0);
        return PW_E_RANGE;
    }
    if (o->interval_ms < 10 || o->interval_ms > 86400000) {
        snprintf(err, errlen, "trace interval must be between 0.01 and 86400 s (got %.3f)",
                 o->interval_ms / 1000.0);
        return PW_E_RANGE;
    }
    return 0;
}

/* ---- timer heap of targets, ordered by next_event_ns ---- */

static bool heap_less(const struct pw_trace_target *a, const struct pw_trace_target *b)
{
    return a->next_event_ns < b->next_event_ns;
}

static void heap_set(struct pw_trace_engine *e, size_t i, struct pw_trace_target *t)
{
    e->heap[i] = t;
    t->heap_idx = i;
}

static void heap_up(struct pw_trace_engine *e, size_t i)
{
    struct pw_trace_target *t = e->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(t, e->heap[parent]))
            break;
        heap_set(e, i, e->heap[parent]);
        i = parent;
    }
    heap_set(e, i, t);
}

static void heap_down(struct pw_trace_engine *e, size_t i)
{
    struct pw_trace_target *t = e->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= e->heap_len)
            break;
        if (child + 1 < e->heap_len && heap_less(e->heap[child + 1], e->heap[child]))
            child++;
        if (!heap_less(e->heap[child], t))
            break;
        heap_set(e, i, e->heap[child]);
        i = child;
    }
    heap_set(e, i, t);
}

static void heap_fix(struct pw_trace_engine *e, size_t i)
{
    heap_up(e, i);
    heap_down(e, e->heap[i]->heap_idx);
}

static int heap_push(struct pw_trace_engine *e, struct pw_trace_target *t)
{
    if (e->heap_len == e->heap_cap) {
        size_t cap = e->heap_cap ? e->heap_cap * 2 : 64;
        struct pw_trace_target **h = realloc(e->heap, cap * sizeof(*h));
        if (!h)
            return -ENOMEM;
        e->heap = h;
        e->heap_cap = cap;
    }
    e->heap_len++;
    heap_set(e, e->heap_len - 1, t);
    heap_up(e, e->heap_len - 1);
    return 0;
}

static void heap_remove(struct pw_trace_engine *e, struct pw_trace_target *t)
{
    size_t i = t->heap_idx;

    e->heap_len--;
    if (i == e->heap_len)
        return;
    heap_set(e, i, e->heap[e->heap_len]);
    heap_fix(e, i);
}

/* ---- sending ---- */

static struct send_batch *batch_new(int family)
{
    struct send_batch *b = calloc(1, sizeof(*b));
    int sndbuf = 4 << 20;

    if (!b)
        return NULL;
    /* IPPROTO_RAW: we write the whole IP header (IP_HDRINCL is implied, for IPv6 too). */
    b->fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
    if (b->fd < 0) {
        int saved = errno;
        free(b);
        errno = saved;
        return NULL;
    }
    setsockopt(b->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    for (unsigned i = 0; i < BATCH_MAX; i++) {
        b->iov[i].iov_base = b->buf[i];
        b->msg[i].msg_hdr.msg_iov = &b->iov[i];
        b->msg[i].msg_hdr.msg_iovlen = 1;
        b->msg[i].msg_hdr.msg_name = &b->to[i];
    }
    return b;
}

static void batch_free(struct send_batch *b)
{
    if (!b)
        return;
    close(b->fd);
    free(b);
}

static void probe_settle_lost(struct pw_trace_target *t, struct probe_slot *p);

/* Sends the batch. Every probe gets the same send time, read just before the system call:
 * a batch is sent back to back, ~1.3 µs per probe. */
static void batch_flush(struct pw_trace_engine *e, struct send_batch *b)
{
    unsigned done = 0;
    int64_t now_rt;

    if (!b || b->n == 0)
        return;
    now_rt = realtime_ns();
    for (unsigned i = 0; i < b->n; i++)
        b->slot[i]->sent_rt_ns = now_rt;
    while (done < b->n) {
        int rc = sendmmsg(b->fd, b->msg + done, b->n - done, 0);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            /* The probe that failed was not sent: it cannot be answered. It settles as lost
             * at its deadline and is counted as a send error, so the loss is explainable. */
            e->counters.send_errors++;
            done++;
            continue;
        }
        e->counters.probes_sent += (uint64_t)rc;
        done += (unsigned)rc;
    }
    b->n = 0;
}

/* ---- samples ---- */

static struct sample_slot *sample_of(struct pw_trace_target *t, const struct probe_slot *p)
{
    struct sample_slot *s = &t->samples[p->sample];

    if (!s->active || s->seq != p->sample_seq)
        return NULL;
    return s;
}

static void deliver_ready(struct pw_trace_target *t)
{
    for (;;) {
        struct sample_slot *s = &t->samples[t->delivered % t->nsamples];
        struct pw_sample out;

        if (!s->active || s->seq != t->delivered || s->sending || s->outstanding)
            return;
        memset(&out, 0, sizeof(out));
        out.seq = s->seq;
        out.start_ns = s->start_rt_ns;
        out.reached = s->reached;
        out.hop = s->hop;
        if (t->opts.final_hop_only) {
            out.nhops = 1;
            if (s->hop[0].answered && s->hop[0].reached)
                t->final_ttl_guess = s->hop[0].ttl;
            else
                s->hop[0].ttl = t->final_ttl_guess ? t->final_ttl_guess : t->opts.max_hops;
        } else {
            out.nhops = s->reached ? s->dest_ttl : s->last_sent_ttl;
            /* Learn the destination's distance for the next samples. A route that got longer
             * (the last probe met a router) makes the next sample probe to max_hops again; a
             * lost final probe changes nothing. */
            if (s->reached)
                t->known_dest_ttl = s->dest_ttl;
            else if (s->last_sent_ttl && s->hop[s->last_sent_ttl - 1].answered)
                t->known_dest_ttl = 0;
        }
        s->active = false;
        t->delivered++;
        t->cb(t->arg, t, &out);
    }
}

static void probe_settle_lost(struct pw_trace_target *t, struct probe_slot *p)
{
    struct sample_slot *s = sample_of(t, p);

    p->state = SLOT_LOST;
    if (!s)
        return;
    s->outstanding--;
}

static void start_sample(struct pw_trace_target *t, int64_t now)
{
    struct sample_slot *s = &t->samples[t->started % t->nsamples];

    if (s->active) {
        /* The ring is sized so this cannot happen with valid options; skip rather than
         * overwrite a sample still in flight. */
        t->next_sample_ns += (int64_t)t->opts.interval_ms * NS_PER_MS;
        return;
    }
    memset(s->hop, 0, t->opts.max_hops * sizeof(*s->hop));
    s->active = true;
    s->sending = true;
    s->reached = false;
    s->seq = t->started++;
    s->start_rt_ns = 0;
    s->dest_ttl = 0;
    s->last_sent_ttl = 0;
    s->outstanding = 0;
    s->next_send_ns = now;
    if (t->opts.final_hop_only) {
        s->next_ttl = t->opts.max_hops;
        s->limit_ttl = t->opts.max_hops;
    } else {
        s->next_ttl = 1;
        s->limit_ttl = t->known_dest_ttl ? t->known_dest_ttl : t->opts.max_hops;
    }
    t->next_sample_ns += (int64_t)t->opts.interval_ms * NS_PER_MS;
    /* A loop that fell far behind (suspended process) starts afresh instead of bursting. */
    if (t->next_sample_ns < now)
        t->next_sample_ns = now + (int64_t)t->opts.interval_ms * NS_PER_MS;
}

static uint16_t next_probe_id(struct pw_trace_target *t)
{
    uint16_t id = t->next_probe_id++;

    if (t->next_probe_id == 0) /* UDP cannot carry id 0 (it means "no checksum") */
        t->next_probe_id = 1;
    return id;
}

/* Queues one probe of sample s. Returns false when the probe ring is full. */
static bool send_probe(struct pw_trace_engine *e, struct pw_trace_target *t, struct sample_slot *s,
                       int64_t now)
{
    struct send_batch *b = t->tmpl.flow.dst.family == AF_INET ? e->batch4 : e->batch6;
    uint16_t id = t->next_probe_id;
    struct probe_slot *p = &t->probes[id & t->probe_mask];
    uint8_t ttl = s->next_ttl;

    if (p->state == SLOT_OUTSTANDING)
        return false;
    if (b->n == BATCH_MAX)
        batch_flush(e, b);
    next_probe_id(t);
    pw_probe_stamp(&t->tmpl, ttl, id);
    memcpy(b->buf[b->n], t->tmpl.pkt, t->tmpl.len);
    b->iov[b->n].iov_len = t->tmpl.len;
    b->msg[b->n].msg_hdr.msg_namelen = pw_addr_to_sockaddr(&t->tmpl.flow.dst, 0, &b->to[b->n]);
    b->slot[b->n] = p;
    b->n++;

    p->probe_id = id;
    p->state = SLOT_OUTSTANDING;
    p->ttl = ttl;
    p->sample = (uint32_t)(s - t->samples);
    p->sample_seq = s->seq;
    p->sent_rt_ns = 0; /* set by batch_flush() to the batch's send time */
    p->deadline_ns = now + (int64_t)t->opts.timeout_ms * NS_PER_MS + e->grace_ns;
    if (s->start_rt_ns == 0) /* once per sample: the clock read is not free */
        s->start_rt_ns = realtime_ns();
    s->outstanding++;
    s->last_sent_ttl = ttl > s->last_sent_ttl ? ttl : s->last_sent_ttl;
    s->next_ttl++;
    if (s->next_ttl > s->limit_ttl || t->opts.final_hop_only)
        s->sending = false;
    s->next_send_ns = now + (int64_t)t->opts.inter_packet_delay_us * NS_PER_US;
    return true;
}

/* Rate cap: returns true when a probe may be sent now; the bucket holds 10 ms of probes. */
static bool rate_take(struct pw_trace_engine *e, int64_t now)
{
    int64_t cost, floor;

    if (!e->opts.max_probes_per_s)
        return true;
    cost = NS_PER_S / e->opts.max_probes_per_s;
    floor = now - 10 * NS_PER_MS;
    if (e->tokens_ns < floor)
        e->tokens_ns = floor;
    if (e->tokens_ns + cost > now)
        return false;
    e->tokens_ns += cost;
    return true;
}

static void expire_probes(struct pw_trace_target *t, int64_t now)
{
    while (t->oldest_id != t->next_probe_id) {
        struct probe_slot *p = &t->probes[t->oldest_id & t->probe_mask];

        if (p->state == SLOT_OUTSTANDING && p->probe_id == t->oldest_id) {
            if (p->deadline_ns > now)
                break;
            probe_settle_lost(t, p);
        }
        t->oldest_id++;
        if (t->oldest_id == 0)
            t->oldest_id = 1;
    }
}

static int64_t target_next_event(const struct pw_trace_target *t)
{
    int64_t next = INT64_MAX;

    if (!t->count || t->started < t->count)
        next = t->next_sample_ns;
    /* Only samples from the next to deliver to the last started can be active. */
    for (uint64_t q = t->delivered; q < t->started; q++) {
        const struct sample_slot *s = &t->samples[q % t->nsamples];
        if (s->active && s->sending && s->next_send_ns < next)
            next = s->next_send_ns;
    }
    if (t->oldest_id != t->next_probe_id) {
        const struct probe_slot *p = &t->probes[t->oldest_id & t->probe_mask];
        if (p->state == SLOT_OUTSTANDING && p->deadline_ns < next)
            next = p->deadline_ns;
        else if (p->state != SLOT_OUTSTANDING && next > 0)
            next = 0; /* settled slots at the head: advance the cursor at once */
    }
    return next;
}

/* Runs everything of target t that is due at now. Returns true when the rate cap stopped it. */
static bool target_run(struct pw_trace_engine *e, struct pw_trace_target *t, int64_t now)
{
    bool capped = false;

    expire_probes(t, now);
    while ((!t->count || t->started < t->count) && t->next_sample_ns <= now)
        start_sample(t, now);
    for (uint64_t q = t->delivered; q < t->started && !capped; q++) {
        struct sample_slot *s = &t->samples[q % t->nsamples];
        while (s->active && s->sending && s->next_send_ns <= now) {
            if (!rate_take(e, now)) {
                capped = true;
                break;
            }
            if (!send_probe(e, t, s, now)) {
                /* Ring full of outstanding probes: wait for the oldest to settle. */
                s->next_send_ns = t->probes[t->next_probe_id & t->probe_mask].deadline_ns;
                break;
            }
        }
    }
    deliver_ready(t);
    return capped;
}

/* ---- replies ---- */

/* Finds the target a reply belongs to. For a TCP RST the acknowledgment also covers the SYN's
 * payload bytes, so the probe's sequence number is found by taking them off again (r is
 * corrected in place). */
static struct pw_trace_target *flow_lookup(struct pw_trace_engine *e, struct pw_reply *r)
{
    struct pw_trace_target *t = e->flows[r->proto][r->sport];

    for (; t; t = t->flow_next) {
        const struct pw_flow *f = &t->tmpl.flow;
        if (!pw_addr_equal(&f->dst, &r->probe_dst))
            continue;
        if (r->proto != PW_PROTO_ICMP && f->dport != r->dport)
            continue;
        if (r->proto == PW_PROTO_TCP) {
            uint32_t seq = (uint32_t)r->tcp_seq_hi << 16 | r->probe_id;
            if (r->kind == PW_REPLY_TCP_RST)
                seq -= f->payload_len;
            if ((uint16_t)(seq >> 16) != f->tcp_seq_hi)
                continue;
            r->tcp_seq_hi = (uint16_t)(seq >> 16);
            r->probe_id = (uint16_t)seq;
        }
        return t;
    }
    return NULL;
}

static void handle_packet(void *arg, const uint8_t *pkt, size_t len, int64_t ts_ns)
{
    struct pw_trace_engine *e = arg;
    struct pw_reply r;
    struct pw_trace_target *t;
    struct probe_slot *p;
    struct sample_slot *s;
    struct pw_hop_result *h;
    int64_t rtt_ns;
    int rc = pw_reply_parse(pkt, len, &r);

    if (rc == PW_E_NOT_OURS)
        return;
    if (rc < 0) {
        e->counters.malformed++;
        return;
    }
    t = flow_lookup(e, &r);
    if (!t) {
        e->counters.unmatched++;
        return;
    }
    /* An echo reply or TCP answer must come from the destination itself. */
    if ((r.kind == PW_REPLY_ECHO || r.kind == PW_REPLY_TCP_SYNACK || r.kind == PW_REPLY_TCP_RST) &&
        !pw_addr_equal(&r.from, &t->tmpl.flow.dst)) {
        e->counters.unmatched++;
        return;
    }
    p = &t->probes[r.probe_id & t->probe_mask];
    if (p->probe_id != r.probe_id || p->state == SLOT_FREE) {
        e->counters.unmatched++;
        return;
    }
    if (p->state == SLOT_ANSWERED) {
        e->counters.duplicates++;
        return;
    }
    if (p->state == SLOT_LOST) {
        e->counters.late++;
        return;
    }
    rtt_ns = ts_ns - p->sent_rt_ns;
    if (rtt_ns > (int64_t)t->opts.timeout_ms * NS_PER_MS) {
        /* Arrived, but after the timeout: lost by definition. */
        e->counters.late++;
        probe_settle_lost(t, p);
        deliver_ready(t);
        return;
    }
    if (rtt_ns < 0) /* the realtime clock was stepped back between send and capture */
        rtt_ns = 0;
    e->counters.replies_matched++;
    p->state = SLOT_ANSWERED;
    s = sample_of(t, p);
    if (!s)
        return;
    s->outstanding--;
    h = &s->hop[t->opts.final_hop_only ? 0 : p->ttl - 1];
    h->ttl = p->ttl;
    h->answered = true;
    h->reached = r.reached;
    h->from = r.from;
    h->reply_kind = (uint8_t)r.kind;
    h->icmp_code = r.icmp_code;
    h->rtt_us = (uint32_t)((rtt_ns + NS_PER_US / 2) / NS_PER_US);
    if (t->opts.final_hop_only && r.reached) {
        /* Distance from the reply's TTL, assuming the usual initial values 64, 128, 255. */
        unsigned init = r.reply_ttl <= 64 ? 64 : r.reply_ttl <= 128 ? 128 : 255;
        h->ttl = (uint8_t)(init - r.reply_ttl + 1);
    }
    if (r.reached) {
        s->reached = true;
        if (!s->dest_ttl || p->ttl < s->dest_ttl)
            s->dest_ttl = p->ttl;
        /* Hops past the destination are not probed. */
        if (s->limit_ttl > s->dest_ttl)
            s->limit_ttl = s->dest_ttl;
        if (s->next_ttl > s->limit_ttl)
            s->sending = false;
    }
    deliver_ready(t);
}

/* ---- public API ---- */

struct pw_trace_engine *pw_trace_engine_new(const struct pw_trace_engine_opts *opts, char *err,
                                            size_t errlen)
{
    struct pw_trace_engine *e = calloc(1, sizeof(*e));
    struct pw_capture_opts copts = {0};
    uint32_t rnd = 0;
    int saved = ENOMEM;

    if (!e) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    e->opts = *opts;
    if (!e->opts.ipv4 && !e->opts.ipv6)
        e->opts.ipv4 = e->opts.ipv6 = true;
    for (int i = 0; i < 3; i++) {
        e->flows[i] = calloc(FLOW_TABLE_SIZE, sizeof(*e->flows[i]));
        if (!e->flows[i]) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (e->opts.ipv4 && !(e->batch4 = batch_new(AF_INET))) {
        saved = errno;
        snprintf(err, errlen, "%s",
                 saved == EPERM ? "sending probes needs CAP_NET_RAW: run as root, or grant it with "
                                  "'setcap cap_net_raw+ep' on the program"
                                : "cannot open an IPv4 raw socket");
        goto fail;
    }
    if (e->opts.ipv6 && !(e->batch6 = batch_new(AF_INET6))) {
        saved = errno;
        snprintf(err, errlen, "%s",
                 saved == EPERM ? "sending probes needs CAP_NET_RAW: run as root, or grant it with "
                                  "'setcap cap_net_raw+ep' on the program"
                                : "cannot open an IPv6 raw socket");
        goto fail;
    }
    copts.timeout_ms = opts->capture_timeout_ms;
    copts.buffer_bytes = opts->capture_buffer_bytes;
    e->capture = pw_capture_open(&copts, err, errlen);
    if (!e->capture) {
        saved = errno;
        goto fail;
    }
    /* Wait two ring timeouts (plus scheduling slack) for a reply already captured but not
     * yet handed over before declaring its probe lost. */
    e->grace_ns =
        2 * (int64_t)(copts.timeout_ms ? copts.timeout_ms : 5) * NS_PER_MS + 20 * NS_PER_MS;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = (uint32_t)getpid();
    e->next_port = rnd % PORT_COUNT;
    e->next_icmp_id = rnd >> 16;
    return e;
fail:
    pw_trace_engine_free(e);
    errno = saved;
    return NULL;
}

void pw_trace_engine_free(struct pw_trace_engine *e)
{
    if (!e)
        return;
    while (e->heap_len)
        pw_trace_engine_remove(e, e->heap[0]);
    free(e->heap);
    for (int i = 0; i < 3; i++)
        free(e->flows[i]);
    batch_free(e->batch4);
    batch_free(e->batch6);
    pw_capture_free(e->capture);
    free(e);
}

int pw_trace_engine_fd(const struct pw_trace_engine *e)
{
    return pw_capture_fd(e->capture);
}

int64_t pw_trace_engine_next_ns(const struct pw_trace_engine *e)
{
    if (!e->heap_len || e->heap[0]->next_event_ns == INT64_MAX)
        return -1;
    return e->heap[0]->next_event_ns;
}

int pw_trace_engine_run(struct pw_trace_engine *e, int64_t now_ns)
{
    int rc = pw_capture_dispatch(e->capture, handle_packet, e);
    bool capped = false;

    if (rc < 0)
        return rc;
    while (e->heap_len && e->heap[0]->next_event_ns <= now_ns) {
        struct pw_trace_target *t = e->heap[0];
        capped = target_run(e, t, now_ns);
        t->next_event_ns = target_next_event(t);
        if (capped && t->next_event_ns <= now_ns)
            t->next_event_ns = e->tokens_ns + NS_PER_S / e->opts.max_probes_per_s;
        heap_fix(e, 0);
        if (capped)
            break;
    }
    batch_flush(e, e->batch4);
    batch_flush(e, e->batch6);
    return 0;
}

static uint32_t pow2_at_least(uint64_t n)
{
    uint32_t p = 1;

    while (p < n && p < 65536)
        p <<= 1;
    return p;
}

/* Picks a flow identifier (ICMP id or source port) so that (identifier, destination) is
 * unique among the engine's targets of this protocol. */
static int flow_assign(struct pw_trace_engine *e, struct pw_trace_target *t)
{
    struct pw_flow *f = &t->tmpl.flow;
    uint32_t tries = f->proto == PW_PROTO_ICMP ? FLOW_TABLE_SIZE : PORT_COUNT;

    for (uint32_t i = 0; i < tries; i++) {
        uint16_t id;
        bool clash = false;

        if (f->proto == PW_PROTO_ICMP)
            id = (uint16_t)(e->next_icmp_id++ & 0xffff);
        else
            id = (uint16_t)(PORT_FIRST + e->next_port++ % PORT_COUNT);
        for (struct pw_trace_target *o = e->flows[f->proto][id]; o; o = o->flow_next)
            if (pw_addr_equal(&o->tmpl.flow.dst, &f->dst) && o->tmpl.flow.dport == f->dport)
                clash = true;
        if (clash)
            continue;
        f->sport = id;
        return 0;
    }
    return -ENOSPC;
}

int pw_trace_engine_add(struct pw_trace_engine *e, const struct pw_addr *dst,
                        const struct pw_trace_opts *opts, int64_t first_ns, uint64_t count,
                        pw_trace_sample_cb cb, void *arg, struct pw_trace_target **out, char *err,
                        size_t errlen)
{
    struct pw_trace_target *t = NULL;
    struct pw_flow flow = {0};
    uint64_t in_flight;
    int rc;

    rc = pw_trace_opts_check(opts, err, errlen);
    if (rc < 0)
        return rc;
    if ((dst->family == AF_INET && !e->batch4) || (dst->family == AF_INET6 && !e->batch6)) {
        snprintf(err, errlen, "this engine was opened without IPv%d",
                 dst->family == AF_INET ? 4 : 6);
        return PW_E_RANGE;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->engine = e;
    t->opts = *opts;
    t->cb = cb;
    t->arg = arg;
    t->count = count;
    flow.proto = opts->proto;
    flow.dst = *dst;
    rc = pw_addr_source_for(dst, &flow.src);
    if (rc < 0) {
        char a[PW_ADDR_STRLEN];
        snprintf(err, errlen, "no route to %s: %s", pw_addr_format(dst, a, sizeof(a)),
                 strerror(-rc));
        goto fail;
    }
    flow.dport = opts->port                    ? opts->port
                 : opts->proto == PW_PROTO_TCP ? PW_DEFAULT_TCP_PORT
                 : opts->proto == PW_PROTO_UDP ? PW_DEFAULT_UDP_PORT
                                               : 0;
    if (opts->packet_size >= 0)
        flow.payload_len = (uint16_t)(opts->packet_size > 65535 ? 65535 : opts->packet_size);
    else
        flow.payload_len = opts->proto == PW_PROTO_TCP   ? PW_DEFAULT_PAYLOAD_TCP
                           : opts->proto == PW_PROTO_UDP ? PW_DEFAULT_PAYLOAD_UDP
                                                         : PW_DEFAULT_PAYLOAD_ICMP;
    t->tmpl.flow = flow;
    rc = flow_assign(e, t);
    if (rc < 0) {
        snprintf(err, errlen, "no free %s flow identifier left for this destination",
                 pw_proto_name(opts->proto));
        goto fail;
    }
    flow.sport = t->tmpl.flow.sport;
    {
        uint32_t rnd[2] = {0, 0};
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
            rnd[0] = rnd[1] = (uint32_t)getpid();
        flow.icmp_csum = (uint16_t)rnd[0];
        flow.tcp_seq_hi = (uint16_t)(rnd[0] >> 16);
        t->next_probe_id = (uint16_t)(rnd[1] | 1);
        t->oldest_id = t->next_probe_id;
    }
    rc = pw_probe_tmpl_init(&t->tmpl, &flow, err, errlen);
    if (rc < 0)
        goto fail;

    /* Ring sizes: every probe and sample that can be in flight at once, with room to spare. */
    in_flight = ((uint64_t)opts->timeout_ms + 100 +
                 (uint64_t)opts->max_hops * opts->inter_packet_delay_us / 1000) /
                    opts->interval_ms +
                2;
    t->nsamples = (uint32_t)(in_flight > 4096 ? 4096 : in_flight);
    t->probe_mask = pow2_at_least((uint64_t)t->nsamples * opts->max_hops + 64) - 1;
    t->probes = calloc(t->probe_mask + 1, sizeof(*t->probes));
    t->samples = calloc(t->nsamples, sizeof(*t->samples));
    t->hop_storage = calloc((size_t)t->nsamples * opts->max_hops, sizeof(*t->hop_storage));
    if (!t->probes || !t->samples || !t->hop_storage) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < t->nsamples; i++)
        t->samples[i].hop = t->hop_storage + (size_t)i * opts->max_hops;
    t->next_sample_ns = first_ns;
    t->next_event_ns = first_ns;
    rc = heap_push(e, t);
    if (rc < 0)
        goto fail;
    t->flow_next = e->flows[flow.proto][flow.sport];
    e->flows[flow.proto][flow.sport] = t;
    *out = t;
    return 0;
fail:
    if (t) {
        free(t->probes);
        free(t->samples);
        free(t->hop_storage);
        free(t);
    }
    return rc;
}

void pw_trace_engine_remove(struct pw_trace_engine *e, struct pw_trace_target *t)
{
    struct pw_trace_target **pp;

    if (!t)
        return;
    heap_remove(e, t);
    for (pp = &e->flows[t->tmpl.flow.proto][t->tmpl.flow.sport]; *pp; pp = &(*pp)->flow_next) {
        if (*pp == t) {
            *pp = t->flow_next;
            break;
        }
    }
    /* A batch may still point at this target's slots: send what is queued first. */
    batch_flush(e, e->batch4);
    batch_flush(e, e->batch6);
    free(t->probes);
    free(t->samples);
    free(t->hop_storage);
    free(t);
}

bool pw_trace_target_done(const struct pw_trace_target *t)
{
    return t->count && t->delivered >= t->count;
}

const struct pw_flow *pw_trace_target_flow(const struct pw_trace_target *t)
{
    return &t->tmpl.flow;
}

void pw_trace_engine_counters(struct pw_trace_engine *e, struct pw_trace_counters *out)
{
    *out = e->counters;
    out->capture_drops = pw_capture_drops(e->capture);
}
