/* PingWatcher bench — measuring tools for the probe-engine benchmark (bench/run.sh).
 *
 *   bench_probe engine [options]     drive pw_trace_engine at an offered rate
 *   bench_probe raw [options]        bare raw-socket send loop (sendto or sendmmsg)
 *   bench_probe exec [--out FILE] -- COMMAND [ARGS...]
 *                                    run a peer (mtr, fping), report its CPU time
 *   bench_probe gro IFNAME           GRO on, TSO off for a veth (gives it a NAPI instance)
 *
 * Each measuring subcommand prints one line of key=value pairs on stdout, to be read by
 * bench/bench.py. CPU time is getrusage() user + system time (of this process, or of the
 * peer and everything it forked); probe and reply counts come from the engine's counters and,
 * independently of every tool, from the namespace's ICMP counters (/proc/net/snmp), so each
 * tool is measured the same way. Nothing here picks destinations: they come from the caller,
 * which only passes addresses of its own test bed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "error.h"
#include "num.h"
#include "probe.h"
#include "trace.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define NS_PER_US 1000LL

#define BENCH_MAX_DESTS 256
#define BENCH_MAX_TARGETS 65536
#define RAW_BATCH 64
#define RAW_PKT_LEN 84 /* IPv4 + ICMP echo + 56 bytes: the engine's default ICMP probe */
#define SNMP_LINE_MAX 4096
#define EXEC_SAMPLE_MS 5

static volatile sig_atomic_t bench_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    bench_interrupted = 1;
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

struct cpu_split {
    int64_t user_us, sys_us;
};

static void cpu_split(int who, struct cpu_split *out)
{
    struct rusage ru;

    memset(out, 0, sizeof(*out));
    if (getrusage(who, &ru) < 0)
        return;
    out->user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
    out->sys_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

/* ---- the namespace's ICMP counters ---- */

struct icmp_counts {
    int64_t in_msgs, in_time_excds, in_echo_reps, in_dest_unreachs, out_msgs, out_echos;
};

/* Reads the Icmp: lines of /proc/net/snmp (this process's namespace). Returns 0 or -errno. */
static int snmp_read(struct icmp_counts *out)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"InMsgs", offsetof(struct icmp_counts, in_msgs)},
        {"InTimeExcds", offsetof(struct icmp_counts, in_time_excds)},
        {"InEchoReps", offsetof(struct icmp_counts, in_echo_reps)},
        {"InDestUnreachs", offsetof(struct icmp_counts, in_dest_unreachs)},
        {"OutMsgs", offsetof(struct icmp_counts, out_msgs)},
        {"OutEchos", offsetof(struct icmp_counts, out_echos)},
    };
    char names[SNMP_LINE_MAX], values[SNMP_LINE_MAX];
    char *sn = NULL, *sv = NULL, *n, *v;
    FILE *f = fopen("/proc/net/snmp", "re");
    int rc = -ENOENT;

    memset(out, 0, sizeof(*out));
    if (!f)
        return -errno;
    while (fgets(names, sizeof(names), f)) {
        if (strncmp(names, "Icmp: ", 6) != 0)
            continue;
        if (!fgets(values, sizeof(values), f) || strncmp(values, "Icmp: ", 6) != 0)
            break;
        n = strtok_r(names + 6, " \n", &sn);
        v = strtok_r(values + 6, " \n", &sv);
        for (; n && v; n = strtok_r(NULL, " \n", &sn), v = strtok_r(NULL, " \n", &sv)) {
            for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                int64_t x;
                if (strcmp(n, fields[i].name) != 0)
                    continue;
                if (pw_num_parse_i64(v, 0, INT64_MAX, n, &x, NULL, 0) == 0)
                    *(int64_t *)((char *)out + fields[i].off) = x;
            }
        }
        rc = 0;
        break;
    }
    fclose(f);
    return rc;
}

static void snmp_print_delta(const struct icmp_counts *a, const struct icmp_counts *b)
{
    printf(" snmp_out_echos=%lld snmp_in_time_excds=%lld snmp_in_echo_reps=%lld"
           " snmp_in_dest_unreachs=%lld snmp_in_msgs=%lld",
           (long long)(b->out_echos - a->out_echos),
           (long long)(b->in_time_excds - a->in_time_excds),
           (long long)(b->in_echo_reps - a->in_echo_reps),
           (long long)(b->in_dest_unreachs - a->in_dest_unreachs),
           (long long)(b->in_msgs - a->in_msgs));
}

/* ---- command-line helpers ---- */

struct dest_list {
    unsigned n;
    struct pw_addr a[BENCH_MAX_DESTS];
};

/* Parses a space- or comma-separated list of numeric addresses. Returns 0 or PW_E_RANGE. */
static int parse_dests(const char *text, struct dest_list *out, char *err, size_t errlen)
{
    char buf[BENCH_MAX_DESTS * 48];
    char *save = NULL, *tok;

    out->n = 0;
    if (strlen(text) >= sizeof(buf)) {
        snprintf(err, errlen, "destination list too long");
        return PW_E_RANGE;
    }
    snprintf(buf, sizeof(buf), "%s", text);
    for (tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
        if (out->n == BENCH_MAX_DESTS) {
            snprintf(err, errlen, "at most %d destinations", BENCH_MAX_DESTS);
            return PW_E_RANGE;
        }
        if (pw_addr_parse(tok, &out->a[out->n]) < 0 || out->a[out->n].family != AF_INET) {
            snprintf(err, errlen, "destination must be a numeric IPv4 address (got '%s')", tok);
            return PW_E_RANGE;
        }
        out->n++;
    }
    if (out->n == 0) {
        snprintf(err, errlen, "no destination given");
        return PW_E_RANGE;
    }
    return 0;
}

/* ---- engine ---- */

struct engine_run {
    uint64_t samples;
    uint64_t hops_answered;
    uint64_t hops_lost;
    uint64_t rtt_sum_us;
    int64_t first_start_ns; /* CLOCK_REALTIME start of the earliest / latest sample */
    int64_t last_start_ns;
};

static void on_sample(void *arg, struct pw_trace_target *t, const struct pw_sample *s)
{
    struct engine_run *run = arg;

    (void)t;
    run->samples++;
    if (!run->first_start_ns || s->start_ns < run->first_start_ns)
        run->first_start_ns = s->start_ns;
    if (s->start_ns > run->last_start_ns)
        run->last_start_ns = s->start_ns;
    for (unsigned i = 0; i < s->nhops; i++) {
        if (s->hop[i].answered) {
            run->hops_answered++;
            run->rtt_sum_us += s->hop[i].rtt_us;
        } else {
            run->hops_lost++;
        }
    }
}

static void engine_usage(FILE *out)
{
    fprintf(out, "usage: bench_probe engine --dests 'A B …' [options]\n"
                 "  --targets N            targets, spread over the destinations (default 1000)\n"
                 "  --interval-ms MS       between the samples of a target (default 100)\n"
                 "  --timeout-ms MS        probe timeout (default 1000)\n"
                 "  --max-hops N           TTLs per sample (default 7)\n"
                 "  --duration S           seconds of sampling (default 2)\n"
                 "  --proto icmp|udp|tcp   probe type (default icmp)\n"
                 "  --final-hop-only       one probe per sample, to the destination\n"
                 "  --capture-timeout-ms MS  capture ring timeout (default: the engine's)\n");
}

static int cmd_engine(int argc, char **argv)
{
    struct pw_trace_engine_opts eopts = {.ipv4 = true};
    struct pw_trace_opts opts;
    struct pw_trace_engine *e = NULL;
    struct pw_trace_target **targets = NULL;
    struct pw_trace_counters c;
    struct engine_run run = {0};
    struct dest_list *dests = calloc(1, sizeof(*dests));
    struct icmp_counts s0, s1;
    struct cpu_split u0, u1;
    const char *dest_text = NULL;
    char err[256] = "";
    int64_t ntargets = 1000, interval_ms = 100, timeout_ms = 1000, max_hops = 7, v = 0;
    int64_t t0, t_end, cpu0, cpu1, wakeups = 0, count;
    double duration = 2.0, span_s, offered;
    int rc = 1;

    pw_trace_opts_default(&opts);
    if (!dests) {
        fprintf(stderr, "bench_probe engine: out of memory\n");
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;

        if (strcmp(a, "--final-hop-only") == 0) {
            opts.final_hop_only = true;
            continue;
        }
        if (!val) {
            engine_usage(stderr);
            goto out;
        }
        i++;
        if (strcmp(a, "--dests") == 0)
            dest_text = val;
        else if (strcmp(a, "--targets") == 0)
            bad =
                pw_num_parse_i64(val, 1, BENCH_MAX_TARGETS, "targets", &ntargets, err, sizeof(err));
        else if (strcmp(a, "--interval-ms") == 0)
            bad = pw_num_parse_i64(val, 10, 86400000, "interval (ms)", &interval_ms, err,
                                   sizeof(err));
        else if (strcmp(a, "--timeout-ms") == 0)
            bad = pw_num_parse_i64(val, 1, 60000, "timeout (ms)", &timeout_ms, err, sizeof(err));
        else if (strcmp(a, "--max-hops") == 0)
            bad = pw_num_parse_i64(val, 1, PW_TRACE_MAX_HOPS, "max hops", &max_hops, err,
                                   sizeof(err));
        else if (strcmp(a, "--duration") == 0)
            bad = pw_num_parse_double(val, 0.1, 600, "duration (s)", &duration, err, sizeof(err));
        else if (strcmp(a, "--proto") == 0)
            bad = pw_proto_parse(val, &opts.proto);
        else if (strcmp(a, "--capture-timeout-ms") == 0) {
            bad = pw_num_parse_i64(val, 1, 1000, "capture timeout (ms)", &v, err, sizeof(err));
            eopts.capture_timeout_ms = (uint32_t)v;
        } else {
            engine_usage(stderr);
            goto out;
        }
        if (bad) {
            fprintf(stderr, "bench_probe engine: %s\n", err[0] ? err : "bad value");
            goto out;
        }
    }
    if (!dest_text || parse_dests(dest_text, dests, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_probe engine: %s\n", dest_text ? err : "--dests is required");
        goto out;
    }
    opts.interval_ms = (uint32_t)interval_ms;
    opts.timeout_ms = (uint32_t)timeout_ms;
    opts.max_hops = (uint8_t)max_hops;
    opts.inter_packet_delay_us = 0;
    count = (int64_t)(duration * 1000 / (double)interval_ms + 0.5);
    if (count < 1)
        count = 1;

    e = pw_trace_engine_new(&eopts, err, sizeof(err));
    targets = calloc((size_t)ntargets, sizeof(*targets));
    if (!e || !targets) {
        fprintf(stderr, "bench_probe engine: %s\n", e ? "out of memory" : err);
        goto out;
    }
    /* Start a little ahead so adding every target is not part of the measurement, and spread
     * the targets' first samples evenly over one interval: a steady offered rate. */
    t0 = clock_ns(CLOCK_MONOTONIC) + 200 * NS_PER_MS + (int64_t)ntargets * 50 * NS_PER_US;
    for (int64_t j = 0; j < ntargets; j++) {
        int64_t first = t0 + j * interval_ms * NS_PER_MS / ntargets;
        int r = pw_trace_engine_add(e, &dests->a[j % dests->n], &opts, first, (uint64_t)count,
                                    on_sample, &run, &targets[j], err, sizeof(err));
        if (r < 0) {
            fprintf(stderr, "bench_probe engine: target %lld: %s\n", (long long)j,
                    err[0] ? err : pw_strerror(r));
            goto out;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    snmp_read(&s0);
    cpu_split(RUSAGE_SELF, &u0);
    cpu0 = u0.user_us + u0.sys_us;
    for (;;) {
        struct pollfd pfd = {.fd = pw_trace_engine_fd(e), .events = POLLIN};
        int64_t now = clock_ns(CLOCK_MONOTONIC), next = pw_trace_engine_next_ns(e);
        int wait = 1000;

        /* Every target has delivered all its samples (counted in on_sample, not by walking
         * the targets, which would charge the driver's work to the engine). */
        if (run.samples >= (uint64_t)(ntargets * count) || bench_interrupted)
            break;
        /* Millisecond waits, rounded up, as engine-daemon/cmd_trace.c and a daemon's epoll
         * loop do: probes due within the same millisecond leave in one batch. */
        if (next >= 0)
            wait = next <= now ? 0 : (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);
        if (poll(&pfd, 1, wait) < 0 && errno != EINTR) {
            fprintf(stderr, "bench_probe engine: poll: %s\n", strerror(errno));
            goto out;
        }
        wakeups++;
        rc = pw_trace_engine_run(e, clock_ns(CLOCK_MONOTONIC));
        if (rc < 0) {
            fprintf(stderr, "bench_probe engine: %s\n", pw_strerror(rc));
            rc = 1;
            goto out;
        }
    }
    cpu_split(RUSAGE_SELF, &u1);
    cpu1 = u1.user_us + u1.sys_us;
    t_end = clock_ns(CLOCK_MONOTONIC);
    snmp_read(&s1);
    pw_trace_engine_counters(e, &c);

    /* Achieved rate: probes over the span in which samples started (plus the one slot of
     * 1/ntargets interval the last sample occupies). An engine that keeps up spans exactly
     * count intervals; one that falls behind stretches the span. */
    span_s = (double)(run.last_start_ns - run.first_start_ns) / 1e9 +
             (double)interval_ms / 1000.0 / (double)ntargets;
    offered = (double)ntargets * (opts.final_hop_only ? 1 : (double)max_hops) * 1000.0 /
              (double)interval_ms;
    printf("kind=engine targets=%lld interval_ms=%lld max_hops=%lld samples_per_target=%lld"
           " offered_pps=%.0f sent=%llu matched=%llu lost=%llu unmatched=%llu late=%llu"
           " duplicates=%llu malformed=%llu send_errors=%llu capture_drops=%llu samples=%llu"
           " achieved_pps=%.0f span_s=%.4f wall_s=%.4f cpu_us=%lld user_us=%lld sys_us=%lld"
           " us_per_probe=%.4f wakeups=%lld mean_rtt_us=%.2f",
           (long long)ntargets, (long long)interval_ms, (long long)max_hops, (long long)count,
           offered, (unsigned long long)c.probes_sent, (unsigned long long)c.replies_matched,
           (unsigned long long)run.hops_lost, (unsigned long long)c.unmatched,
           (unsigned long long)c.late, (unsigned long long)c.duplicates,
           (unsigned long long)c.malformed, (unsigned long long)c.send_errors,
           (unsigned long long)c.capture_drops, (unsigned long long)run.samples,
           span_s > 0 ? (double)c.probes_sent / span_s : 0.0, span_s, (double)(t_end - t0) / 1e9,
           (long long)(cpu1 - cpu0), (long long)(u1.user_us - u0.user_us),
           (long long)(u1.sys_us - u0.sys_us),
           c.probes_sent ? (double)(cpu1 - cpu0) / (double)c.probes_sent : 0.0, (long long)wakeups,
           run.hops_answered ? (double)run.rtt_sum_us / (double)run.hops_answered : 0.0);
    snmp_print_delta(&s0, &s1);
    printf("\n");
    rc = bench_interrupted ? 1 : 0;
out:
    if (e) {
        for (int64_t j = 0; targets && j < ntargets; j++)
            if (targets[j])
                pw_trace_engine_remove(e, targets[j]);
    }
    pw_trace_engine_free(e);
    free(targets);
    free(dests);
    return rc;
}

/* ---- bare raw-socket send loop ---- */

static uint16_t csum16(const uint8_t *p, size_t len)
{
    return pw_csum_fold(pw_csum_add(0, p, len));
}

/* An ICMP echo request of RAW_PKT_LEN bytes, IPv4 header included; the kernel fills in the
 * IP checksum and id of IPPROTO_RAW packets. */
static void raw_build(uint8_t *pkt, const struct pw_addr *src, const struct pw_addr *dst,
                      uint8_t ttl, uint16_t ident, uint16_t seq)
{
    uint16_t sum;

    memset(pkt, 0, RAW_PKT_LEN);
    pkt[0] = 0x45;
    pkt[2] = RAW_PKT_LEN >> 8;
    pkt[3] = RAW_PKT_LEN & 0xff;
    pkt[8] = ttl;
    pkt[9] = IPPROTO_ICMP;
    memcpy(pkt + 12, &src->u.v4, 4);
    memcpy(pkt + 16, &dst->u.v4, 4);
    pkt[20] = 8; /* echo request */
    pkt[24] = (uint8_t)(ident >> 8);
    pkt[25] = (uint8_t)ident;
    pkt[26] = (uint8_t)(seq >> 8);
    pkt[27] = (uint8_t)seq;
    for (unsigned i = 28; i < RAW_PKT_LEN; i++)
        pkt[i] = (uint8_t)i;
    sum = csum16(pkt + 20, RAW_PKT_LEN - 20);
    pkt[22] = (uint8_t)(sum >> 8);
    pkt[23] = (uint8_t)sum;
}

static void raw_usage(FILE *out)
{
    fprintf(out,
            "usage: bench_probe raw --dests 'A B …' [options]\n"
            "  --mode sendto|sendmmsg  one system call per packet, or %d per call\n"
            "  --max-hops N            TTLs 1..N per destination, as full traces (default 7)\n"
            "  --final-hop-only        TTL 64 only, the packets ping and fping send\n"
            "  --rate PPS              paced rate; 0 = as fast as possible (default 0)\n"
            "  --duration S            seconds (default 2)\n",
            RAW_BATCH);
}

static int cmd_raw(int argc, char **argv)
{
    struct dest_list *dests = calloc(1, sizeof(*dests));
    uint8_t(*pkts)[RAW_PKT_LEN] = NULL;
    struct sockaddr_in *to = NULL;
    struct mmsghdr msg[RAW_BATCH];
    struct iovec iov[RAW_BATCH];
    struct icmp_counts s0, s1;
    struct cpu_split u0, u1;
    struct pw_addr src;
    const char *dest_text = NULL;
    char err[256] = "";
    bool use_mmsg = false, final_hop_only = false;
    int64_t max_hops = 7, rate = 0;
    double duration = 2.0;
    uint64_t sent = 0, errors = 0, npkts, idx = 0;
    int64_t t0, t_end, deadline;
    int fd = -1, rc = 1, sndbuf = 4 << 20;

    if (!dests) {
        fprintf(stderr, "bench_probe raw: out of memory\n");
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;

        if (strcmp(a, "--final-hop-only") == 0) {
            final_hop_only = true;
            continue;
        }
        if (!val) {
            raw_usage(stderr);
            goto out;
        }
        i++;
        if (strcmp(a, "--dests") == 0) {
            dest_text = val;
        } else if (strcmp(a, "--mode") == 0) {
            if (strcmp(val, "sendto") != 0 && strcmp(val, "sendmmsg") != 0) {
                fprintf(stderr, "bench_probe raw: mode must be sendto or sendmmsg\n");
                goto out;
            }
            use_mmsg = strcmp(val, "sendmmsg") == 0;
        } else if (strcmp(a, "--max-hops") == 0) {
            bad = pw_num_parse_i64(val, 1, 64, "max hops", &max_hops, err, sizeof(err));
        } else if (strcmp(a, "--rate") == 0) {
            bad = pw_num_parse_i64(val, 0, 100000000, "rate", &rate, err, sizeof(err));
        } else if (strcmp(a, "--duration") == 0) {
            bad = pw_num_parse_double(val, 0.1, 600, "duration (s)", &duration, err, sizeof(err));
        } else {
            raw_usage(stderr);
            goto out;
        }
        if (bad) {
            fprintf(stderr, "bench_probe raw: %s\n", err);
            goto out;
        }
    }
    if (!dest_text || parse_dests(dest_text, dests, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_probe raw: %s\n", dest_text ? err : "--dests is required");
        goto out;
    }
    if (pw_addr_source_for(&dests->a[0], &src) < 0) {
        fprintf(stderr, "bench_probe raw: no route to the destinations\n");
        goto out;
    }
    /* The same packets, in the same order, as the engine's full traces: for each
     * destination TTL 1..max_hops (or one packet with TTL 64). Built once; the loop only
     * hands them to the kernel. */
    if (final_hop_only)
        max_hops = 1;
    npkts = (uint64_t)dests->n * (uint64_t)max_hops;
    pkts = calloc(npkts, sizeof(*pkts));
    to = calloc(npkts, sizeof(*to));
    if (!pkts || !to)
        goto out;
    for (unsigned d = 0; d < dests->n; d++) {
        for (int64_t h = 0; h < max_hops; h++) {
            uint64_t k = d * (uint64_t)max_hops + (uint64_t)h;
            raw_build(pkts[k], &src, &dests->a[d], final_hop_only ? 64 : (uint8_t)(h + 1),
                      (uint16_t)(0xb000 + d), (uint16_t)k);
            struct sockaddr_storage ss;
            pw_addr_to_sockaddr(&dests->a[d], 0, &ss);
            memcpy(&to[k], &ss, sizeof(to[k])); /* IPv4 only: a sockaddr_in */
        }
    }
    fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) {
        fprintf(stderr, "bench_probe raw: raw socket: %s\n", strerror(errno));
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    memset(msg, 0, sizeof(msg));

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    snmp_read(&s0);
    cpu_split(RUSAGE_SELF, &u0);
    t0 = clock_ns(CLOCK_MONOTONIC);
    deadline = t0 + (int64_t)(duration * 1e9);
    while (!bench_interrupted) {
        int64_t now = clock_ns(CLOCK_MONOTONIC);
        unsigned n = RAW_BATCH;

        if (now >= deadline)
            break;
        if (rate > 0) {
            /* Paced like the engine under its millisecond loop: every tick, whatever is due
             * leaves at once, in system calls of up to RAW_BATCH packets. */
            int64_t due_pkts = (int64_t)((double)(now - t0) * (double)rate / 1e9) + 1;
            if ((int64_t)sent >= due_pkts) {
                int64_t tick = ((now - t0) / NS_PER_MS + 1) * NS_PER_MS + t0;
                struct timespec ts = {tick / NS_PER_S, tick % NS_PER_S};
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
                continue;
            }
            if (due_pkts - (int64_t)sent < RAW_BATCH)
                n = (unsigned)(due_pkts - (int64_t)sent);
        }
        if (use_mmsg) {
            int r;
            for (unsigned i = 0; i < n; i++) {
                uint64_t k = (idx + i) % npkts;
                iov[i].iov_base = pkts[k];
                iov[i].iov_len = RAW_PKT_LEN;
                msg[i].msg_hdr.msg_iov = &iov[i];
                msg[i].msg_hdr.msg_iovlen = 1;
                msg[i].msg_hdr.msg_name = &to[k];
                msg[i].msg_hdr.msg_namelen = sizeof(to[k]);
            }
            r = sendmmsg(fd, msg, n, 0);
            if (r < 0) {
                errors++;
                r = 1;
            } else {
                sent += (uint64_t)r;
            }
            idx += (uint64_t)r;
        } else {
            for (unsigned i = 0; i < n; i++) {
                uint64_t k = idx++ % npkts;
                if (sendto(fd, pkts[k], RAW_PKT_LEN, 0, (struct sockaddr *)&to[k], sizeof(to[k])) <
                    0)
                    errors++;
                else
                    sent++;
            }
        }
    }
    t_end = clock_ns(CLOCK_MONOTONIC);
    cpu_split(RUSAGE_SELF, &u1);
    /* Replies still on their way through the bed. */
    usleep(300000);
    snmp_read(&s1);
    printf("kind=raw mode=%s rate=%lld sent=%llu send_errors=%llu wall_s=%.4f achieved_pps=%.0f"
           " cpu_us=%lld user_us=%lld sys_us=%lld us_per_probe=%.4f",
           use_mmsg ? "sendmmsg" : "sendto", (long long)rate, (unsigned long long)sent,
           (unsigned long long)errors, (double)(t_end - t0) / 1e9,
           (double)sent * 1e9 / (double)(t_end - t0),
           (long long)(u1.user_us + u1.sys_us - u0.user_us - u0.sys_us),
           (long long)(u1.user_us - u0.user_us), (long long)(u1.sys_us - u0.sys_us),
           sent ? (double)(u1.user_us + u1.sys_us - u0.user_us - u0.sys_us) / (double)sent : 0.0);
    snmp_print_delta(&s0, &s1);
    printf("\n");
    rc = bench_interrupted ? 1 : 0;
out:
    if (fd >= 0)
        close(fd);
    free(pkts);
    free(to);
    free(dests);
    return rc;
}

/* ---- a peer program, measured ---- */

static int cmd_exec(int argc, char **argv)
{
    struct icmp_counts s0, s1;
    struct cpu_split u0, u1;
    const char *out_path = "/dev/null"; /* the peer's stdout and stderr go here */
    int i = 1, status = 0, child_rc = -1, fd;
    int64_t t0, t_end, first_ns = 0, last_ns = 0, prev_ns, last_echos;
    pid_t pid, w;

    if (i + 1 < argc && strcmp(argv[i], "--out") == 0) {
        out_path = argv[i + 1];
        i += 2;
    }
    if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
        fprintf(stderr, "usage: bench_probe exec [--out FILE] -- COMMAND [ARGS...]\n");
        return 2;
    }
    i++;
    /* Become the reaper of everything the peer forks (mtr runs mtr-packet), so that all of
     * its CPU time shows up in RUSAGE_CHILDREN, even for helpers their parent never waits
     * for. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        fprintf(stderr, "bench_probe exec: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
        return 1;
    }
    fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "bench_probe exec: %s: %s\n", out_path, strerror(errno));
        return 1;
    }
    snmp_read(&s0);
    last_echos = s0.out_echos;
    cpu_split(RUSAGE_CHILDREN, &u0);
    t0 = clock_ns(CLOCK_MONOTONIC);
    prev_ns = t0;
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench_probe exec: fork: %s\n", strerror(errno));
        close(fd);
        return 1;
    }
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO); /* fping prints its summary there */
        execvp(argv[i], argv + i);
        fprintf(stderr, "bench_probe exec: %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }
    close(fd);
    /* While the peer runs, sample the namespace's echo counter every EXEC_SAMPLE_MS: the
     * span between its first and last increase is the peer's sending window, free of its
     * start-up and of the wait for the last replies. */
    for (;;) {
        struct icmp_counts now_c;
        int64_t now;

        w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            child_rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (w < 0 && errno != EINTR)
            break;
        usleep(EXEC_SAMPLE_MS * 1000);
        now = clock_ns(CLOCK_MONOTONIC);
        /* A change happened somewhere between the previous sample and this one: count
         * the middle (unbiased to within a sampling period). */
        if (snmp_read(&now_c) == 0 && now_c.out_echos != last_echos) {
            if (first_ns == 0)
                first_ns = (prev_ns + now) / 2;
            last_ns = (prev_ns + now) / 2;
            last_echos = now_c.out_echos;
        }
        prev_ns = now;
    }
    /* Reap every orphan the peer left (mtr-packet), until none is left. */
    while ((w = wait(&status)) > 0 || (w < 0 && errno == EINTR))
        ;
    t_end = clock_ns(CLOCK_MONOTONIC);
    cpu_split(RUSAGE_CHILDREN, &u1);
    usleep(100000);
    snmp_read(&s1);
    printf("kind=exec rc=%d wall_s=%.4f cpu_us=%lld user_us=%lld sys_us=%lld active_s=%.4f"
           " active_pps=%.0f",
           child_rc, (double)(t_end - t0) / 1e9,
           (long long)(u1.user_us + u1.sys_us - u0.user_us - u0.sys_us),
           (long long)(u1.user_us - u0.user_us), (long long)(u1.sys_us - u0.sys_us),
           (double)(last_ns - first_ns) / 1e9,
           last_ns > first_ns
               ? (double)(last_echos - s0.out_echos) * 1e9 / (double)(last_ns - first_ns)
               : 0.0);
    snmp_print_delta(&s0, &s1);
    printf("\n");
    return child_rc == 0 ? 0 : 1;
}

/* ---- NAPI for a veth ---- */

/* A veth hands packets to its peer through a NAPI instance (instead of the sender's softirq
 * backlog) when the peer has GRO on and the sender has TSO off: both ends get both settings,
 * as every veth of the bed sends and receives. */
static int cmd_gro(int argc, char **argv)
{
    static const struct ethtool_value set[] = {
        {.cmd = ETHTOOL_SGRO, .data = 1},
        {.cmd = ETHTOOL_STSO, .data = 0},
    };
    struct ifreq ifr;
    int fd, rc = 0;

    if (argc != 2 || strlen(argv[1]) >= IFNAMSIZ) {
        fprintf(stderr, "usage: bench_probe gro IFNAME\n");
        return 2;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "bench_probe gro: socket: %s\n", strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]) && rc == 0; i++) {
        struct ethtool_value ev = set[i];

        memset(&ifr, 0, sizeof(ifr));
        memcpy(ifr.ifr_name, argv[1], strlen(argv[1]));
        ifr.ifr_data = (char *)&ev;
        if (ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
            fprintf(stderr, "bench_probe gro: %s: %s\n", argv[1], strerror(errno));
            rc = 1;
        }
    }
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "engine") == 0)
        return cmd_engine(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "raw") == 0)
        return cmd_raw(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "exec") == 0)
        return cmd_exec(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "gro") == 0)
        return cmd_gro(argc - 1, argv + 1);
    fprintf(stderr, "usage: bench_probe engine|raw|exec|gro ... (see bench/run.sh)\n");
    return 2;
}
