/* PingWatcher — `pingwatcher trace`: a one-shot report of COUNT samples, like
 * `mtr --report`, run by the same engine the daemon uses. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "diagnosis.h"
#include "dns.h"
#include "error.h"
#include "num.h"
#include "report.h"
#include "trace.h"

#define DNS_MAX_FDS 8
/* Hops probed directly to confirm a suspected ICMP rate limit. */
#define CONFIRM_MAX 2

static volatile sig_atomic_t trace_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    trace_interrupted = 1;
}

struct trace_run {
    struct pw_report_acc *acc;
    struct pw_dns *dns;
    uint64_t samples;
};

static int64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_sample(void *arg, struct pw_trace_target *t, const struct pw_sample *s)
{
    struct trace_run *run = arg;
    char name[PW_DNS_NAME_MAX + 1];

    (void)t;
    pw_report_acc_add(run->acc, s);
    run->samples++;
    /* Start reverse lookups while sampling goes on, so the report rarely waits for DNS. */
    for (unsigned i = 0; run->dns && i < s->nhops; i++)
        if (s->hop[i].answered)
            pw_dns_lookup(run->dns, &s->hop[i].from, (uint64_t)(monotonic_ns() / 1000000000), name,
                          sizeof(name));
}

/* A short echo run to a hop's own address: does it answer when asked slowly? */
struct confirm {
    unsigned note;
    uint32_t interval_ms;
    uint32_t sent, answered;
    struct pw_trace_target *target;
};

static void on_confirm(void *arg, struct pw_trace_target *t, const struct pw_sample *s)
{
    struct confirm *c = arg;

    (void)t;
    c->sent++;
    if (s->nhops && s->hop[0].answered && s->hop[0].reached)
        c->answered++;
}

/* Probes the hops of the notes worth confirming (pw_diag_confirm_candidates) and folds the
 * answers into d. Failures only leave the notes unconfirmed. */
static void confirm_notes(struct pw_trace_engine *engine, const struct pw_trace_opts *topts,
                          struct pw_diagnosis *d)
{
    struct confirm c[CONFIRM_MAX];
    unsigned idx[CONFIRM_MAX], n = pw_diag_confirm_candidates(d, idx, CONFIRM_MAX), active = 0;
    char err[256];

    for (unsigned i = 0; i < n; i++) {
        struct pw_trace_opts o;
        uint32_t count;

        memset(&c[i], 0, sizeof(c[i]));
        c[i].note = idx[i];
        pw_diag_confirm_plan(d, idx[i], &count, &c[i].interval_ms);
        pw_trace_opts_default(&o);
        o.proto = PW_PROTO_ICMP;
        o.final_hop_only = true;
        o.max_hops = topts->max_hops;
        o.timeout_ms = topts->timeout_ms;
        o.interval_ms = c[i].interval_ms;
        if (pw_trace_engine_add(engine, &d->note[idx[i]].addr, &o, monotonic_ns(), count,
                                on_confirm, &c[i], &c[i].target, err, sizeof(err)) == 0)
            active++;
    }
    while (active && !trace_interrupted) {
        struct pollfd pfd = {.fd = pw_trace_engine_fd(engine), .events = POLLIN};
        int64_t next = pw_trace_engine_next_ns(engine), now = monotonic_ns();
        int wait = next < 0 ? 1000 : next <= now ? 0 : (int)((next - now + 999999) / 1000000);

        if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
            break;
        if (pw_trace_engine_run(engine, monotonic_ns()) < 0)
            break;
        active = 0;
        for (unsigned i = 0; i < n; i++)
            active += c[i].target && !pw_trace_target_done(c[i].target);
    }
    for (unsigned i = 0; i < n; i++) {
        if (!c[i].target)
            continue;
        if (pw_trace_target_done(c[i].target))
            pw_diag_confirm(d, c[i].note, c[i].sent, c[i].answered, c[i].interval_ms);
        pw_trace_engine_remove(engine, c[i].target);
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: pingwatcher trace [options] HOST\n"
                 "  -P, --type icmp|udp|tcp   probe packet type (default icmp)\n"
                 "  -p, --port PORT           UDP/TCP destination port (default 33434 / 80)\n"
                 "  -4, -6                    use IPv4 / IPv6 only\n"
                 "  -c, --count N             samples to take (default 10)\n"
                 "  -i, --interval S          seconds between samples (default 2.5)\n"
                 "  -s, --packet-size BYTES   payload after the ICMP/UDP/TCP header\n"
                 "                            (default 56 for icmp and udp, 0 for tcp)\n"
                 "  -t, --timeout S           seconds before a probe counts as lost (default 3)\n"
                 "  -m, --max-hops N          highest TTL probed (default 30, at most 64)\n"
                 "  -d, --delay MS            milliseconds between the TTLs of one sample\n"
                 "                            (default 25)\n"
                 "      --final-hop-only      probe only the destination\n"
                 "  -n, --numeric             no reverse DNS\n"
                 "      --no-confirm          do not probe a hop suspected of rate-limiting\n"
                 "                            ICMP directly (a few echo requests at a low rate)\n"
                 "      --json                print one JSON object instead of a table\n"
                 "The report ends with a diagnosis: where a problem starts, with its figures.\n");
}

/* Waits for pending reverse lookups, at most timeout_ms. */
static void dns_drain(struct pw_dns *dns, int timeout_ms)
{
    int64_t end = monotonic_ns() + (int64_t)timeout_ms * 1000000;

    while (pw_dns_pending(dns) && monotonic_ns() < end && !trace_interrupted) {
        struct pollfd pfd[DNS_MAX_FDS];
        int fds[DNS_MAX_FDS];
        bool wr[DNS_MAX_FDS];
        int n = pw_dns_fds(dns, fds, wr, DNS_MAX_FDS);
        int wait = pw_dns_timeout_ms(dns);
        int left = (int)((end - monotonic_ns()) / 1000000);

        if (wait < 0 || wait > left)
            wait = left < 0 ? 0 : left;
        for (int i = 0; i < n; i++) {
            pfd[i].fd = fds[i];
            pfd[i].events = (short)(POLLIN | (wr[i] ? POLLOUT : 0));
            pfd[i].revents = 0;
        }
        if (poll(pfd, (nfds_t)n, wait) <= 0) {
            pw_dns_process(dns, -1, false, false);
            continue;
        }
        for (int i = 0; i < n; i++)
            if (pfd[i].revents)
                pw_dns_process(dns, pfd[i].fd, pfd[i].revents & (POLLIN | POLLERR | POLLHUP),
                               pfd[i].revents & POLLOUT);
    }
}

int pw_cmd_trace(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 'P'},
        {"port", required_argument, NULL, 'p'},
        {"count", required_argument, NULL, 'c'},
        {"interval", required_argument, NULL, 'i'},
        {"packet-size", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"max-hops", required_argument, NULL, 'm'},
        {"delay", required_argument, NULL, 'd'},
        {"final-hop-only", no_argument, NULL, 'F'},
        {"numeric", no_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'J'},
        {"no-confirm", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct pw_trace_opts opts;
    struct pw_trace_engine_opts eopts = {0};
    struct pw_trace_engine *engine = NULL;
    struct pw_trace_target *target = NULL;
    struct trace_run run = {0};
    struct pw_report *report = NULL;
    struct pw_diagnosis *diag = NULL;
    struct pw_addr dst;
    char err[256] = "";
    int family = AF_UNSPEC, c, rc = PW_EXIT_USAGE;
    bool numeric = false, json = false, confirm = true;
    int64_t count = 10, v;
    double d;

    pw_trace_opts_default(&opts);
    optind = 1;
    opterr = 0; /* we print our own one-line errors */
    while ((c = getopt_long(argc, argv, ":P:p:46c:i:s:t:m:d:nh", longopts, NULL)) != -1) {
        switch (c) {
        case 'P':
            if (pw_proto_parse(optarg, &opts.proto) < 0) {
                fprintf(stderr,
                        "pingwatcher trace: packet type must be icmp, udp or tcp (got '%s')\n",
                        optarg);
                return PW_EXIT_USAGE;
            }
            break;
        case 'p':
            if (pw_num_parse_i64(optarg, 1, 65535, "port", &v, err, sizeof(err)) < 0)
                goto bad_option;
            opts.port = (uint16_t)v;
            break;
        case '4':
            family = AF_INET;
            break;
        case '6':
            family = AF_INET6;
            break;
        case 'c':
            if (pw_num_parse_i64(optarg, 1, 1000000, "count", &count, err, sizeof(err)) < 0)
                goto bad_option;
            break;
        case 'i':
            if (pw_num_parse_double(optarg, 0.01, 86400, "interval (seconds)", &d, err,
                                    sizeof(err)) < 0)
                goto bad_option;
            opts.interval_ms = (uint32_t)(d * 1000 + 0.5);
            break;
        case 's':
            if (pw_num_parse_i64(optarg, 0, 65535, "packet size", &v, err, sizeof(err)) < 0)
                goto bad_option;
            opts.packet_size = (int32_t)v;
            break;
        case 't':
            if (pw_num_parse_double(optarg, 0.001, 60, "timeout (seconds)", &d, err, sizeof(err)) <
                0)
                goto bad_option;
            opts.timeout_ms = (uint32_t)(d * 1000 + 0.5);
            break;
        case 'm':
            if (pw_num_parse_i64(optarg, 1, PW_TRACE_MAX_HOPS, "max hops", &v, err, sizeof(err)) <
                0)
                goto bad_option;
            opts.max_hops = (uint8_t)v;
            break;
        case 'd':
            if (pw_num_parse_double(optarg, 0, 1000, "delay (milliseconds)", &d, err, sizeof(err)) <
                0)
                goto bad_option;
            opts.inter_packet_delay_us = (uint32_t)(d * 1000 + 0.5);
            break;
        case 'F':
            opts.final_hop_only = true;
            break;
        case 'n':
            numeric = true;
            break;
        case 'J':
            json = true;
            break;
        case 'C':
            confirm = false;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "pingwatcher trace: option '%s' needs a value (try --help)\n",
                    argv[optind - 1]);
            return PW_EXIT_USAGE;
        default:
            fprintf(stderr, "pingwatcher trace: unknown option '%s' (try --help)\n",
                    argv[optind - 1]);
            return PW_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "pingwatcher trace: exactly one HOST is needed (try --help)\n");
        return PW_EXIT_USAGE;
    }
    if (strlen(argv[optind]) >= sizeof(((struct pw_report *)0)->target)) {
        fprintf(stderr, "pingwatcher trace: host name too long\n");
        return PW_EXIT_USAGE;
    }
    if (pw_addr_resolve(argv[optind], family, &dst, err, sizeof(err)) < 0) {
        fprintf(stderr, "pingwatcher trace: %s\n", err);
        return PW_EXIT_USAGE;
    }
    if (pw_trace_opts_check(&opts, err, sizeof(err)) < 0)
        goto bad_option;

    eopts.ipv4 = dst.family == AF_INET;
    eopts.ipv6 = dst.family == AF_INET6;
    engine = pw_trace_engine_new(&eopts, err, sizeof(err));
    if (!engine) {
        fprintf(stderr, "pingwatcher trace: %s\n", err);
        return errno == EPERM ? PW_EXIT_PRIVILEGE : PW_EXIT_FAILURE;
    }
    run.acc = pw_report_acc_new(opts.max_hops, (uint32_t)count);
    report = calloc(1, sizeof(*report));
    diag = calloc(1, sizeof(*diag));
    if (!run.acc || !report || !diag) {
        fprintf(stderr, "pingwatcher trace: out of memory\n");
        rc = PW_EXIT_FAILURE;
        goto out;
    }
    if (!numeric) {
        run.dns = pw_dns_new(NULL);
        if (!run.dns)
            fprintf(stderr, "pingwatcher trace: reverse DNS unavailable (%s); continuing without\n",
                    strerror(errno));
    }
    rc = pw_trace_engine_add(engine, &dst, &opts, monotonic_ns(), (uint64_t)count, on_sample, &run,
                             &target, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "pingwatcher trace: %s\n", err[0] ? err : pw_strerror(rc));
        rc = rc == PW_E_RANGE ? PW_EXIT_USAGE : PW_EXIT_FAILURE;
        goto out;
    }

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!pw_trace_target_done(target) && !trace_interrupted) {
        struct pollfd pfd[1 + DNS_MAX_FDS];
        int fds[DNS_MAX_FDS];
        bool wr[DNS_MAX_FDS];
        int ndns = run.dns ? pw_dns_fds(run.dns, fds, wr, DNS_MAX_FDS) : 0;
        int64_t next = pw_trace_engine_next_ns(engine), now = monotonic_ns();
        int wait = next < 0 ? 1000 : next <= now ? 0 : (int)((next - now + 999999) / 1000000);
        int dwait = run.dns ? pw_dns_timeout_ms(run.dns) : -1;

        if (dwait >= 0 && dwait < wait)
            wait = dwait;
        pfd[0].fd = pw_trace_engine_fd(engine);
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        for (int i = 0; i < ndns; i++) {
            pfd[1 + i].fd = fds[i];
            pfd[1 + i].events = (short)(POLLIN | (wr[i] ? POLLOUT : 0));
            pfd[1 + i].revents = 0;
        }
        if (poll(pfd, (nfds_t)(1 + ndns), wait) < 0 && errno != EINTR) {
            fprintf(stderr, "pingwatcher trace: poll: %s\n", strerror(errno));
            rc = PW_EXIT_FAILURE;
            goto out;
        }
        rc = pw_trace_engine_run(engine, monotonic_ns());
        if (rc < 0) {
            fprintf(stderr, "pingwatcher trace: capture failed: %s\n", pw_strerror(rc));
            rc = PW_EXIT_FAILURE;
            goto out;
        }
        if (run.dns) {
            bool io = false;
            for (int i = 0; i < ndns; i++) {
                if (pfd[1 + i].revents) {
                    io = true;
                    pw_dns_process(run.dns, pfd[1 + i].fd,
                                   pfd[1 + i].revents & (POLLIN | POLLERR | POLLHUP),
                                   pfd[1 + i].revents & POLLOUT);
                }
            }
            if (!io)
                pw_dns_process(run.dns, -1, false, false);
        }
    }
    if (run.dns)
        dns_drain(run.dns, 3000);

    pw_report_acc_finish(run.acc, 0, report);
    snprintf(report->target, sizeof(report->target), "%s", argv[optind]);
    report->ip = dst;
    report->proto = opts.proto;
    for (unsigned i = 0; run.dns && i < report->nhops; i++) {
        struct pw_report_hop *h = &report->hop[i];
        if (h->naddrs && pw_dns_lookup(run.dns, &h->last, (uint64_t)(monotonic_ns() / 1000000000),
                                       h->dns, sizeof(h->dns)) != 1)
            h->dns[0] = '\0';
        else if (!h->naddrs)
            snprintf(h->dns, sizeof(h->dns), "%s", PW_DNS_NONE);
    }
    if (pw_diag_from_acc(run.acc, report, NULL, diag) < 0) {
        fprintf(stderr, "pingwatcher trace: out of memory\n");
        rc = PW_EXIT_FAILURE;
        goto out;
    }
    if (confirm && !trace_interrupted)
        confirm_notes(engine, &opts, diag);
    if (json) {
        cJSON *o = pw_report_json(report), *dj = pw_diag_json(diag);
        char *text = NULL;

        if (o && dj && cJSON_AddItemToObject(o, "diagnosis", dj)) {
            dj = NULL;
            text = cJSON_PrintUnformatted(o);
        }
        cJSON_Delete(dj);
        if (!text) {
            fprintf(stderr, "pingwatcher trace: out of memory\n");
            cJSON_Delete(o);
            rc = PW_EXIT_FAILURE;
            goto out;
        }
        printf("%s\n", text);
        free(text);
        cJSON_Delete(o);
    } else {
        pw_report_table(report, stdout);
        printf("\nDiagnosis: %s\n", diag->summary);
        for (unsigned i = 0; i < diag->nnotes; i++)
            printf("  * %s\n", diag->note[i].text);
    }
    rc = trace_interrupted ? PW_EXIT_FAILURE : 0;
out:
    pw_trace_engine_free(engine);
    pw_report_acc_free(run.acc);
    pw_dns_free(run.dns);
    free(report);
    free(diag);
    return rc;
bad_option:
    fprintf(stderr, "pingwatcher trace: %s\n", err);
    return PW_EXIT_USAGE;
}
