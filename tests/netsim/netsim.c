/*
 * netsim.c - pw-netsim: a simulated Internet behind a TUN device, the ground truth of the
 * PingWatcher end-to-end tests
 *
 * main() parses options and the scenario, creates the prober-side namespace (netns.c), prints
 * "READY NSNAME" and runs one loop: send the replies that are due, read probes from the TUN
 * device, decide their fate (engine.c), build the answer (packet.c, dns.c) and queue it in the
 * timer heap (heap.c) for its scheduled send time, logging every probe (truth.c).
 *
 * Send precision: replies wait in a binary heap keyed on absolute CLOCK_MONOTONIC deadlines. The
 * loop sleeps on a timerfd (no timer slack) armed spin_us before the earliest deadline and then
 * polls the TUN device until the deadline passes, because a VM wakes a sleeping thread tens of
 * microseconds late. Nothing sleeps per packet.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "engine.h"
#include "heap.h"
#include "netns.h"
#include "packet.h"
#include "scenario.h"
#include "truth.h"

#define EXIT_USAGE 2
#define READ_BATCH 64              /* probes read before the due replies are looked at again */
#define IDLE_WAIT_MAX_MS 100       /* bounds the check-flag-then-sleep signal race */
#define FLUSH_GAP_NS 2000000ull    /* flush the truth log when idle at least this long ... */
#define FLUSH_BIG_BYTES 65536      /* ... or this much is buffered (~20 us to write) ... */
#define FLUSH_BIG_GAP_NS 500000ull /* ... and the next reply is this far away */
#define HEAP_INITIAL 1024
#define HEAP_MAX 65536               /* ~140 MB of replies in flight at most */
#define HIST_STEP_NS 100             /* send-lateness histogram: 0.1 us buckets ... */
#define HIST_BUCKETS 10000           /* ... up to 1 ms, later ones counted in the last */
#define DEFAULT_SPIN_US 200          /* covers the p99.9 timer wake-up latency under SCHED_FIFO */
#define DEFAULT_SPIN_US_CFS 300      /* ordinary scheduling wakes later; spin longer */
#define BUDGET_WINDOW_NS 50000000ull /* busy-time accounting window under SCHED_FIFO ... */
#define BUDGET_BUSY_MAX 0.6          /* ... after which spinning pauses for one window */

static volatile sig_atomic_t g_stop;

struct opts {
    const char *scenario;
    const char *netns;
    const char *truth;
    uint64_t seed;
    bool has_seed;
    double duration_s; /* 0: run until signalled */
    uint64_t spin_ns;
    bool spin_set;
    bool busy_poll;
    bool no_realtime;
    bool die_with_parent;
    bool check_only;
    int verbose;
};

struct stats {
    uint64_t probes, dns, ignored, not_sim, tun_errors, overload;
    uint64_t outcome[PW_SIM_OUTCOME_COUNT];
    uint64_t sent;
    uint64_t late_hist[HIST_BUCKETS];
    uint64_t late_max;
};

struct ctx {
    struct opts o;
    struct pw_sim_scenario *scn;
    struct pw_sim_engine eng;
    struct pw_sim_heap heap;
    struct pw_sim_truth truth;
    struct pw_sim_netns ns;
    int ep;
    int tfd;
    uint64_t armed; /* deadline the timerfd is armed for, 0 = disarmed */
    uint64_t t0;    /* CLOCK_MONOTONIC at READY: scenario time 0 */
    uint64_t end;   /* CLOCK_MONOTONIC to stop at, 0 = never */
    uint16_t ip_id;
    bool realtime;
    bool truth_failed;  /* a truth write failed (reported once) */
    bool spin_paused;   /* SCHED_FIFO spin budget exhausted in the last window */
    uint64_t win_start; /* start of the current budget window */
    uint64_t win_sleep; /* ns slept in epoll_wait() during it */
    struct stats st;
    uint8_t rbuf[65536];
};

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void logmsg(const struct ctx *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void logmsg(const struct ctx *c, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (level > c->o.verbose)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "pw-netsim: %s\n", line);
}

static void usage(FILE *f)
{
    fputs("usage: pw-netsim -s SCENARIO.json [-n NSNAME] [-t TRUTH.tsv] [--seed N]\n"
          "                 [--duration S] [--spin-us N] [--busy-poll] [--no-realtime]\n"
          "                 [--die-with-parent] [-v]\n"
          "       pw-netsim --check -s SCENARIO.json\n"
          "Creates network namespace NSNAME (default pwsim-<pid>) whose 198.18.0.0/15 and\n"
          "2001:db8::/32 lead into a simulated Internet, prints \"READY NSNAME\", answers probes\n"
          "as the scenario says until SIGTERM/SIGINT or --duration, then removes the namespace.\n"
          "--check only validates the scenario (exit 0 valid, 2 invalid) and creates nothing.\n"
          "See tests/netsim/README.md.\n",
          f);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("pw-netsim: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see pw-netsim --help)\n", stderr);
    return -EINVAL;
}

/* Whole decimal number in [lo, hi]; no sign, no junk. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (s[0] < '0' || s[0] > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    if ((s[0] < '0' || s[0] > '9') && s[0] != '.')
        return -EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    enum { OPT_SEED = 256, OPT_DURATION, OPT_SPIN, OPT_BUSY, OPT_NORT, OPT_PDEATH, OPT_CHECK };
    static const struct option longopts[] = {
        {"scenario", required_argument, NULL, 's'},
        {"netns", required_argument, NULL, 'n'},
        {"truth", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, OPT_SEED},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"spin-us", required_argument, NULL, OPT_SPIN},
        {"busy-poll", no_argument, NULL, OPT_BUSY},
        {"no-realtime", no_argument, NULL, OPT_NORT},
        {"die-with-parent", no_argument, NULL, OPT_PDEATH},
        {"check", no_argument, NULL, OPT_CHECK},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t u;
    int ch;

    memset(o, 0, sizeof(*o));
    o->spin_ns = DEFAULT_SPIN_US * 1000ull;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":s:n:t:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 's':
            o->scenario = optarg;
            break;
        case 'n':
            o->netns = optarg;
            break;
        case 't':
            o->truth = optarg;
            break;
        case OPT_SEED:
            if (parse_u64(optarg, 0, UINT64_MAX, &o->seed) < 0)
                return usage_error("--seed must be a whole number >= 0 (got \"%.40s\")", optarg);
            o->has_seed = true;
            break;
        case OPT_DURATION:
            if (parse_seconds(optarg, 0.001, 1e7, &o->duration_s) < 0)
                return usage_error("--duration must be seconds between 0.001 and 10000000 "
                                   "(got \"%.40s\")",
                                   optarg);
            break;
        case OPT_SPIN:
            if (parse_u64(optarg, 0, 100000, &u) < 0)
                return usage_error("--spin-us must be between 0 and 100000 (got \"%.40s\")",
                                   optarg);
            o->spin_ns = u * 1000;
            o->spin_set = true;
            break;
        case OPT_BUSY:
            o->busy_poll = true;
            break;
        case OPT_NORT:
            o->no_realtime = true;
            break;
        case OPT_PDEATH:
            o->die_with_parent = true;
            break;
        case OPT_CHECK:
            o->check_only = true;
            break;
        case 'v':
            o->verbose++;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case ':':
            return usage_error("option %s needs a value", argv[optind - 1]);
        default:
            if (optopt != 0)
                return usage_error("unknown option -%c", optopt);
            return usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%.40s\"", argv[optind]);
    if (o->scenario == NULL)
        return usage_error("-s SCENARIO.json is required");
    return 0;
}

static void row_addr(uint8_t *dst, int family, const struct pw_sim_node *n)
{
    memset(dst, 0, 16);
    if (family == AF_INET)
        memcpy(dst, &n->addr, 4);
    else
        memcpy(dst, &n->addr6, 16);
}

static void log_truth(struct ctx *c, struct pw_sim_truth_row *row, enum pw_sim_outcome outcome)
{
    int rc;

    row->outcome = (uint8_t)outcome;
    c->st.outcome[outcome]++;
    rc = pw_sim_truth_write(&c->truth, row);
    if (rc < 0 && !c->truth_failed) {
        logmsg(c, 0, "writing the truth log failed: %s", strerror(-rc));
        c->truth_failed = true;
    }
}

static void send_due(struct ctx *c, uint64_t now)
{
    const struct pw_sim_pending *top;

    while ((top = pw_sim_heap_peek(&c->heap)) != NULL && top->due <= now) {
        struct pw_sim_pending *p = pw_sim_heap_pop(&c->heap);
        uint64_t t = clock_ns(CLOCK_MONOTONIC);
        uint64_t late = t - p->due;
        ssize_t n = write(c->ns.tun_fd, p->pkt, p->len);

        if (n != (ssize_t)p->len) {
            if (c->st.tun_errors++ == 0)
                logmsg(c, 0, "writing a reply to the TUN device failed: %s",
                       n < 0 ? strerror(errno) : "short write");
        }
        c->st.sent++;
        c->st.late_hist[late / HIST_STEP_NS < HIST_BUCKETS ? late / HIST_STEP_NS
                                                           : HIST_BUCKETS - 1]++;
        if (late > c->st.late_max)
            c->st.late_max = late;
        if (p->has_row) {
            /* Realtime send stamp on the receive stamp's timeline: sent - recv is exactly the
             * monotonic interval netsim measured, immune to realtime clock steps. */
            p->row.sent_ns = p->row.recv_ns + (t - p->row.recv_mono);
            log_truth(c, &p->row, PW_SIM_REPLIED);
        }
        pw_sim_heap_release(&c->heap, p);
        now = t;
    }
}

static void handle_dns(struct ctx *c, const struct pw_sim_probe *p, uint64_t recv_mono)
{
    uint8_t ans[PW_SIM_DNS_UDP_MAX];
    struct pw_sim_reply_hdr h = {p->dst, 64, c->ip_id++};
    const uint8_t *payload = p->l4 + 8;
    size_t plen = p->l4len - 8;
    struct pw_sim_pending *slot;
    uint64_t delay;
    size_t alen;

    c->st.dns++;
    if (c->o.verbose > 0) {
        char desc[300];

        pw_sim_dns_describe(payload, plen, desc, sizeof(desc));
        logmsg(c, 1, "dns query %s", desc);
    }
    alen = pw_sim_dns_answer(c->scn, payload, plen, ans, sizeof(ans));
    if (alen == 0 || !pw_sim_engine_dns(&c->eng, &delay))
        return;
    slot = pw_sim_heap_alloc(&c->heap);
    if (slot == NULL) {
        c->st.overload++;
        return;
    }
    slot->len = pw_sim_pkt_udp_reply(p, &h, ans, alen, slot->pkt, sizeof(slot->pkt));
    if (slot->len == 0) {
        pw_sim_heap_cancel(&c->heap, slot);
        return;
    }
    slot->has_row = false;
    slot->due = recv_mono + delay;
    pw_sim_heap_push(&c->heap, slot);
}

static size_t build_reply(struct ctx *c, const struct pw_sim_probe *p,
                          const struct pw_sim_decision *d, uint8_t *out, size_t cap)
{
    const struct pw_sim_node *n = d->responder;
    const uint8_t *from =
        p->family == AF_INET ? (const uint8_t *)&n->addr : (const uint8_t *)&n->addr6;
    struct pw_sim_reply_hdr h = {from, d->reply_ttl, c->ip_id++};
    bool v4 = p->family == AF_INET;

    switch (d->reply) {
    case PW_SIM_REPLY_TIME_EXCEEDED:
        return pw_sim_pkt_icmp_error(p, &h, v4 ? 11 : 3, 0, d->quoted_ttl, d->quote_bytes, out,
                                     cap);
    case PW_SIM_REPLY_PORT_UNREACH:
        return pw_sim_pkt_icmp_error(p, &h, v4 ? 3 : 1, v4 ? 3 : 4, d->quoted_ttl, d->quote_bytes,
                                     out, cap);
    case PW_SIM_REPLY_ECHO:
        return pw_sim_pkt_echo_reply(p, &h, out, cap);
    case PW_SIM_REPLY_SYNACK:
        return pw_sim_pkt_tcp_reply(p, &h, PW_SIM_TCP_SYN | PW_SIM_TCP_ACK,
                                    pw_sim_engine_isn(&c->eng, p), p->probe_id + 1, out, cap);
    case PW_SIM_REPLY_RST:
        return pw_sim_pkt_tcp_reply(p, &h, PW_SIM_TCP_RST | PW_SIM_TCP_ACK, 0, p->probe_id + 1, out,
                                    cap);
    case PW_SIM_REPLY_NONE:
    default:
        return 0;
    }
}

static void handle_probe(struct ctx *c, const struct pw_sim_probe *p, uint64_t recv_mono,
                         uint64_t recv_real)
{
    struct pw_sim_truth_row row;
    struct pw_sim_decision d;
    struct pw_sim_pending *slot;
    struct pw_sim_path *path;

    if (!pw_sim_addr_simulated(p->family, p->dst)) {
        /* Multicast and link-local chatter of the prober kernel, not probes. */
        c->st.not_sim++;
        return;
    }
    c->st.probes++;
    memset(&row, 0, sizeof(row));
    row.recv_ns = recv_real;
    row.recv_mono = recv_mono;
    row.family = (uint8_t)p->family;
    row.proto = (uint8_t)p->proto;
    memcpy(row.src, p->src, 16);
    memcpy(row.dst, p->dst, 16);
    row.sport = p->sport;
    row.dport = p->dport;
    row.probe_id = p->probe_id;
    row.ttl = p->ttl;

    path = pw_sim_scenario_find_path(c->scn, p->family, p->dst);
    if (path == NULL) {
        if (c->st.outcome[PW_SIM_NOT_DEST] == 0)
            logmsg(c, 0,
                   "dropping probes to addresses that are no scenario destination "
                   "(logged as not_dest)");
        log_truth(c, &row, PW_SIM_NOT_DEST);
        return;
    }
    pw_sim_engine_decide(&c->eng, path, p, recv_mono - c->t0, &d);
    row.hop = (uint32_t)d.hop;
    if (d.responder != NULL) {
        row.has_responder = true;
        row_addr(row.responder, p->family, d.responder);
    }
    if (d.outcome != PW_SIM_REPLIED) {
        log_truth(c, &row, d.outcome);
        return;
    }
    row.delay_us = d.delay_ns / 1000;
    slot = pw_sim_heap_alloc(&c->heap);
    if (slot == NULL) {
        if (c->st.overload++ == 0)
            logmsg(c, 0, "more than %d replies in flight; dropping replies (overload)", HEAP_MAX);
        log_truth(c, &row, PW_SIM_OVERLOAD);
        return;
    }
    slot->len = build_reply(c, p, &d, slot->pkt, sizeof(slot->pkt));
    if (slot->len == 0) {
        pw_sim_heap_cancel(&c->heap, slot);
        c->st.overload++;
        log_truth(c, &row, PW_SIM_OVERLOAD);
        return;
    }
    slot->row = row;
    slot->has_row = true;
    slot->due = recv_mono + d.delay_ns;
    pw_sim_heap_push(&c->heap, slot);
}

/* Read up to READ_BATCH packets. Returns how many were read, or -errno on a fatal error. */
static int read_batch(struct ctx *c)
{
    int n;

    for (n = 0; n < READ_BATCH; n++) {
        ssize_t len = read(c->ns.tun_fd, c->rbuf, sizeof(c->rbuf));
        uint64_t mono = clock_ns(CLOCK_MONOTONIC);
        uint64_t real = clock_ns(CLOCK_REALTIME);
        struct pw_sim_probe p;
        const char *why = NULL;

        if (len < 0) {
            int e = errno;

            if (e == EAGAIN || e == EINTR)
                break;
            logmsg(c, 0, "reading the TUN device failed: %s", strerror(e));
            return -e;
        }
        switch (pw_sim_pkt_parse(c->rbuf, (size_t)len, &p, &why)) {
        case PW_SIM_PKT_PROBE:
            handle_probe(c, &p, mono, real);
            break;
        case PW_SIM_PKT_DNS:
            handle_dns(c, &p, mono);
            break;
        case PW_SIM_PKT_IGNORE:
        default:
            c->st.ignored++;
            logmsg(c, 2, "ignored a %zd-byte packet: %s", len, why);
            break;
        }
        /* Replies with zero delay, or deadlines that passed while reading, leave now. */
        send_due(c, clock_ns(CLOCK_MONOTONIC));
    }
    return n;
}

static void advance(struct ctx *c, uint64_t now)
{
    struct pw_sim_change chg;

    while (pw_sim_engine_advance(&c->eng, now - c->t0, &chg) > 0) {
        if (chg.is_route)
            logmsg(c, 0, "t=%.3fs path %zu: route %zu in force (%zu hops)",
                   (double)(now - c->t0) / 1e9, chg.path, chg.route,
                   c->scn->paths[chg.path].routes[chg.route].nhops);
        else if (chg.ev->hop == 0)
            logmsg(c, 0, "t=%.3fs path %zu: event for the destination applied",
                   (double)(now - c->t0) / 1e9, chg.path);
        else
            logmsg(c, 0, "t=%.3fs path %zu: event for hop %zu applied", (double)(now - c->t0) / 1e9,
                   chg.path, chg.ev->hop);
    }
}

static uint64_t next_event_ns(const struct ctx *c)
{
    uint64_t next = 0;

    /* Events need no exact timing (they act on the next probe), but waking for them makes the
     * log line appear when the change happens, which helps when reading test output. */
    for (size_t i = 0; i < c->scn->npaths; i++) {
        const struct pw_sim_path *p = &c->scn->paths[i];
        size_t r = c->eng.cur_route[i] + 1;
        size_t e = c->eng.next_event[i];

        if (r < p->nroutes && (next == 0 || p->routes[r].at_ns < next))
            next = p->routes[r].at_ns;
        if (e < p->nevents && (next == 0 || p->events[e].at_ns < next))
            next = p->events[e].at_ns;
    }
    return next == 0 ? 0 : c->t0 + next;
}

static int arm(struct ctx *c, uint64_t deadline)
{
    struct itimerspec its;

    if (deadline == c->armed)
        return 0;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)(deadline / 1000000000ull);
    its.it_value.tv_nsec = (long)(deadline % 1000000000ull);
    if (timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        return -errno;
    c->armed = deadline;
    return 0;
}

/* Nothing to read: spin until a close deadline, or sleep until spin_ns before the next one. */
static int wait_idle(struct ctx *c)
{
    const struct pw_sim_pending *top = pw_sim_heap_peek(&c->heap);
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    uint64_t deadline = 0, ev;
    struct epoll_event evs[4];
    int n, rc;

    uint64_t spin = c->spin_paused ? 0 : c->o.spin_ns;
    uint64_t t;

    if (c->o.busy_poll || (top != NULL && top->due <= now + spin))
        return 0;
    /* Flush in gaps between replies, so stdio never writes its full 1 MiB buffer in the
     * middle of a burst and delays the replies behind it. */
    if (c->truth.pending > 0 && (top == NULL || top->due > now + FLUSH_GAP_NS ||
                                 (top->due > now + FLUSH_BIG_GAP_NS &&
                                  pw_sim_truth_buffered(&c->truth) >= FLUSH_BIG_BYTES))) {
        rc = pw_sim_truth_flush(&c->truth);
        if (rc < 0 && !c->truth_failed) {
            logmsg(c, 0, "flushing the truth log failed: %s", strerror(-rc));
            c->truth_failed = true;
        }
        return 0; /* the flush took time: look at the clock again */
    }
    if (top != NULL)
        deadline = top->due - spin;
    if (c->end != 0 && (deadline == 0 || c->end < deadline))
        deadline = c->end;
    ev = next_event_ns(c);
    if (ev != 0 && (deadline == 0 || ev < deadline))
        deadline = ev;
    if (deadline != 0 && (rc = arm(c, deadline)) < 0)
        return rc;
    /* The timerfd wakes us precisely; the timeout only bounds the window in which a signal
     * that arrived after loop() checked g_stop goes unnoticed. */
    t = clock_ns(CLOCK_MONOTONIC);
    n = epoll_wait(c->ep, evs, 4, IDLE_WAIT_MAX_MS);
    c->win_sleep += clock_ns(CLOCK_MONOTONIC) - t;
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.fd == c->tfd) {
            uint64_t expirations;

            if (read(c->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
                return -errno;
            c->armed = 0;
        }
    }
    return 0;
}

/*
 * Spinning at SCHED_FIFO under a heavy probe load would keep netsim busy all the time, and the
 * kernel's RT throttling (95% per second by default) then stops it for 50 ms at once. So once
 * netsim was busy for more than BUDGET_BUSY_MAX of a window it sleeps until each deadline
 * during the next window; at such loads it rarely sleeps long anyway.
 */
static void spin_budget(struct ctx *c, uint64_t now)
{
    uint64_t len = now - c->win_start;

    if (!c->realtime || len < BUDGET_WINDOW_NS)
        return;
    c->spin_paused = (double)(len - c->win_sleep) > BUDGET_BUSY_MAX * (double)len;
    c->win_start = now;
    c->win_sleep = 0;
}

/* Order per wake-up: due replies first, then new probes, then sleep. */
static int loop(struct ctx *c)
{
    int rc;

    c->win_start = clock_ns(CLOCK_MONOTONIC);
    for (;;) {
        uint64_t now = clock_ns(CLOCK_MONOTONIC);

        spin_budget(c, now);
        if (g_stop)
            return 0;
        if (c->end != 0 && now >= c->end)
            return 0;
        advance(c, now);
        send_due(c, now);
        rc = read_batch(c);
        if (rc < 0)
            return rc;
        if (rc > 0)
            continue;
        rc = wait_idle(c);
        if (rc < 0) {
            logmsg(c, 0, "event loop failed: %s", strerror(-rc));
            return rc;
        }
    }
}

static int setup_loop(struct ctx *c)
{
    struct epoll_event ev;

    c->ep = epoll_create1(EPOLL_CLOEXEC);
    c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (c->ep < 0 || c->tfd < 0)
        return -errno;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.fd = c->ns.tun_fd;
    if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->ns.tun_fd, &ev) < 0)
        return -errno;
    ev.data.fd = c->tfd;
    if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->tfd, &ev) < 0)
        return -errno;
    return 0;
}

static double hist_quantile(const struct stats *st, double q)
{
    double rank = ceil(q * (double)st->sent);
    uint64_t want = (uint64_t)rank, seen = 0;

    if (st->sent == 0)
        return 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += st->late_hist[i];
        if (seen >= want && want > 0)
            return (double)(i + 1) * HIST_STEP_NS / 1000.0; /* upper bucket edge, in us */
    }
    return (double)st->late_max / 1000.0;
}

static void report(const struct ctx *c)
{
    const struct stats *st = &c->st;

    logmsg(c, 0,
           "%" PRIu64 " probes: %" PRIu64 " replied, %" PRIu64 " fwd_lost, %" PRIu64
           " reply_lost, %" PRIu64 " silent, %" PRIu64 " rate_limited, %" PRIu64
           " dest_none, %" PRIu64 " not_dest, %" PRIu64 " unsent at exit, %" PRIu64
           " overload; %" PRIu64 " DNS queries, %" PRIu64 " other packets ignored",
           st->probes, st->outcome[PW_SIM_REPLIED], st->outcome[PW_SIM_FWD_LOST],
           st->outcome[PW_SIM_REPLY_LOST], st->outcome[PW_SIM_SILENT],
           st->outcome[PW_SIM_RATE_LIMITED], st->outcome[PW_SIM_DEST_NONE],
           st->outcome[PW_SIM_NOT_DEST], st->outcome[PW_SIM_SHUTDOWN], st->outcome[PW_SIM_OVERLOAD],
           st->dns, st->ignored + st->not_sim);
    if (st->sent > 0)
        logmsg(c, 0,
               "send lateness over %" PRIu64 " replies: p50 <= %.1f us, p99 <= %.1f us, "
               "max %.1f us",
               st->sent, hist_quantile(st, 0.5), hist_quantile(st, 0.99),
               (double)st->late_max / 1000.0);
}

/* Replies still queued at exit get a truth line too, so every probe seen has one. */
static void drain(struct ctx *c)
{
    struct pw_sim_pending *p;

    while ((p = pw_sim_heap_pop(&c->heap)) != NULL) {
        if (p->has_row) {
            p->row.sent_ns = 0;
            log_truth(c, &p->row, PW_SIM_SHUTDOWN);
        }
        pw_sim_heap_release(&c->heap, p);
    }
}

static int install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART keeps read()/write() from failing; epoll_wait() returns EINTR regardless. */
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
        sigaction(SIGHUP, &sa, NULL) < 0)
        return -errno;
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0)
        return -errno;
    return 0;
}

/*
 * On a loaded machine (parallel builds, the prober itself) ordinary scheduling lets other tasks
 * preempt the spin before a deadline, which measured at p99 ~1 ms late; SCHED_FIFO keeps p99.9
 * under 0.1 ms. A FIFO task that spins could starve everything on a single CPU, so there we stay
 * with ordinary scheduling and spin longer instead.
 */
static void choose_scheduling(struct ctx *c)
{
    struct sched_param sp = {.sched_priority = 10};
    /* Busy polling is 100% CPU by design, which RT throttling would punish (see spin_budget). */
    bool rt = !c->o.no_realtime && !c->o.busy_poll;

    if (rt && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        logmsg(c, 0, "one CPU: not switching to SCHED_FIFO; send times will be less precise");
        rt = false;
    }
    /* Reset on fork so nothing netsim might start inherits the priority. */
    if (rt && sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) < 0) {
        logmsg(c, 0, "cannot switch to SCHED_FIFO (%s); send times will be less precise",
               strerror(errno));
        rt = false;
    }
    if (rt && mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
        logmsg(c, 0, "cannot lock memory: %s", strerror(errno));
    if (!c->o.spin_set)
        c->o.spin_ns = (rt ? DEFAULT_SPIN_US : DEFAULT_SPIN_US_CFS) * 1000ull;
    c->realtime = rt;
}

int main(int argc, char **argv)
{
    static struct ctx ctx; /* static: the read buffer and histogram are large */
    struct ctx *c = &ctx;
    char err[512], nsname[PW_SIM_NETNS_NAME_MAX + 1];
    pid_t parent = getppid();
    int rc, status = 1;

    c->ep = -1;
    c->tfd = -1;
    c->ns.tun_fd = -1;
    if (parse_opts(argc, argv, &c->o) < 0)
        return EXIT_USAGE;
    if (c->o.netns != NULL) {
        if (pw_sim_netns_check_name(c->o.netns, err, sizeof(err)) < 0) {
            fprintf(stderr, "pw-netsim: %s\n", err);
            return EXIT_USAGE;
        }
        snprintf(nsname, sizeof(nsname), "%s", c->o.netns);
    } else {
        snprintf(nsname, sizeof(nsname), "%s%ld", PW_SIM_NETNS_PREFIX, (long)getpid());
    }
    if (pw_sim_scenario_load(c->o.scenario, &c->scn, err, sizeof(err)) < 0) {
        fprintf(stderr, "pw-netsim: %s\n", err);
        return EXIT_USAGE;
    }
    if (c->o.check_only) {
        size_t hops = 0;

        for (size_t i = 0; i < c->scn->npaths; i++)
            hops += c->scn->paths[i].routes[0].nhops;
        printf("%s: valid, %zu path(s), %zu hops at start, %zu forward name(s)\n", c->o.scenario,
               c->scn->npaths, hops, c->scn->nnames);
        pw_sim_scenario_free(c->scn);
        return 0;
    }
    if ((rc = pw_sim_truth_open(&c->truth, c->o.truth)) < 0) {
        fprintf(stderr, "pw-netsim: cannot create truth log %s: %s\n", c->o.truth, strerror(-rc));
        pw_sim_scenario_free(c->scn);
        return EXIT_USAGE;
    }
    if (pw_sim_engine_init(&c->eng, c->scn, c->o.has_seed ? c->o.seed : c->scn->seed) < 0 ||
        pw_sim_heap_init(&c->heap, HEAP_INITIAL, HEAP_MAX) < 0) {
        fprintf(stderr, "pw-netsim: out of memory\n");
        goto out;
    }
    if (install_signals() < 0) {
        fprintf(stderr, "pw-netsim: cannot install signal handlers: %s\n", strerror(errno));
        goto out;
    }
    if (c->o.die_with_parent) {
        /* The parent may already be gone; then getppid() changed. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
            goto out;
    }
    prctl(PR_SET_TIMERSLACK, 1UL);

    if (pw_sim_netns_setup(&c->ns, nsname, err, sizeof(err)) < 0) {
        fprintf(stderr, "pw-netsim: %s\n", err);
        goto out;
    }
    if ((rc = setup_loop(c)) < 0) {
        fprintf(stderr, "pw-netsim: cannot set up the event loop: %s\n", strerror(-rc));
        goto out;
    }
    choose_scheduling(c);
    if (g_stop) {
        status = 0;
        goto out;
    }
    logmsg(c, 0,
           "scenario %s: %zu path(s), seed %" PRIu64 ", namespace %s, %s, spin %" PRIu64 " us%s",
           c->o.scenario, c->scn->npaths, c->eng.seed, c->ns.name,
           c->realtime ? "SCHED_FIFO" : "normal scheduling", c->o.spin_ns / 1000,
           c->o.busy_poll ? ", busy-polling" : "");
    printf("READY %s\n", c->ns.name);
    fflush(stdout);
    c->t0 = clock_ns(CLOCK_MONOTONIC);
    if (c->o.duration_s > 0)
        c->end = c->t0 + (uint64_t)llround(c->o.duration_s * 1e9);

    status = loop(c) < 0 ? 1 : 0;
    drain(c);
    report(c);
out:
    rc = pw_sim_truth_close(&c->truth);
    if (rc < 0) {
        fprintf(stderr, "pw-netsim: writing the truth log failed: %s\n", strerror(-rc));
        status = 1;
    }
    pw_sim_netns_teardown(&c->ns);
    if (c->tfd >= 0)
        close(c->tfd);
    if (c->ep >= 0)
        close(c->ep);
    pw_sim_heap_deinit(&c->heap);
    pw_sim_engine_deinit(&c->eng);
    pw_sim_scenario_free(c->scn);
    return status;
}
