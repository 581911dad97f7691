/* PingWatcher — `pingwatcher report ID`: the evidence report of a monitored target, one
 * self-contained HTML file to attach to a ticket with a provider. Reads the store read-only. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "evidence.h"
#include "store.h"
#include "timefmt.h"

#ifndef PW_VERSION
#define PW_VERSION "unknown"
#endif

#define DEFAULT_SPAN_US (3600 * INT64_C(1000000))

static void usage(FILE *out)
{
    fprintf(out, "usage: pingwatcher report ID [--start T] [--end T] [-o FILE]\n"
                 "  --start T   start of the period (Unix seconds or RFC 3339; default one hour\n"
                 "              before the end)\n"
                 "  --end T     end of the period (default now)\n"
                 "  -o FILE     write the report to FILE (default standard output)\n"
                 "The report is one HTML file with no external resources: the diagnosis, the\n"
                 "hop table, per-hop timelines, route changes and the raw figures.\n"
                 "global options: -c CONFIG, --db DIR, --control PATH\n");
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Writes data to path through a temporary file renamed into place, so a reader never sees half
 * a report. Returns 0 or -errno. */
static int write_file(const char *path, const char *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    int fd = -1, rc = 0;

    if (!tmp)
        return -ENOMEM;
    snprintf(tmp, plen + 16, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        data += n;
        len -= (size_t)n;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        rc = -errno;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        rc = -errno;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int pw_cmd_report(int argc, char **argv, struct pw_cli_env *env)
{
    static const struct option longopts[] = {
        {"start", required_argument, NULL, 's'},
        {"end", required_argument, NULL, 'e'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        PW_CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct pw_evidence_opts eo = {0};
    struct pw_diagnosis *d = NULL;
    struct pw_store *s = NULL;
    const char *output = NULL;
    int64_t start = -1, end = -1;
    char err[256], *html = NULL;
    size_t len = 0;
    uint32_t id;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
        case 'e':
            if (pw_timefmt_parse(optarg, c == 's' ? "--start" : "--end", c == 's' ? &start : &end,
                                 err, sizeof(err)) < 0) {
                fprintf(stderr, "pingwatcher report: %s\n", err);
                return PW_EXIT_USAGE;
            }
            break;
        case 'o':
            output = optarg;
            break;
        case 'c':
            env->config = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "pingwatcher report: option '%s' needs a value\n", argv[optind - 1]);
            return PW_EXIT_USAGE;
        default:
            if (pw_cli_global_opt(env, c, optarg))
                break;
            fprintf(stderr, "pingwatcher report: unknown option '%s' (try --help)\n",
                    argv[optind - 1]);
            return PW_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "pingwatcher report: exactly one target ID is needed (try --help)\n");
        return PW_EXIT_USAGE;
    }
    rc = pw_cli_parse_id(argv[optind], "report", &id);
    if (rc)
        return rc;
    eo.now_us = now_us();
    eo.end_us = end >= 0 ? end : eo.now_us;
    eo.start_us = start >= 0 ? start : eo.end_us - DEFAULT_SPAN_US;
    if (eo.start_us >= eo.end_us) {
        fprintf(stderr, "pingwatcher report: --start must be before --end\n");
        return PW_EXIT_USAGE;
    }
    eo.generator = "PingWatcher " PW_VERSION;
    d = malloc(sizeof(*d));
    if (!d) {
        fprintf(stderr, "pingwatcher report: out of memory\n");
        return PW_EXIT_FAILURE;
    }
    rc = pw_cli_store_open(env, "report", &s);
    if (rc)
        goto out;
    rc = pw_evidence_html(s, id, &eo, &html, &len, d);
    if (rc < 0) {
        if (rc == -ENOENT)
            fprintf(stderr, "pingwatcher report: target %u does not exist\n", id);
        else if (rc == -E2BIG)
            fprintf(stderr,
                    "pingwatcher report: the report would exceed %u MiB; choose a "
                    "shorter period\n",
                    PW_EVIDENCE_MAX_BYTES >> 20);
        else
            fprintf(stderr, "pingwatcher report: cannot read target %u: %s\n", id, pw_strerror(rc));
        rc = PW_EXIT_FAILURE;
        goto out;
    }
    if (!output || strcmp(output, "-") == 0) {
        if (fwrite(html, 1, len, stdout) != len || fflush(stdout) != 0) {
            fprintf(stderr, "pingwatcher report: cannot write the report: %s\n", strerror(errno));
            rc = PW_EXIT_FAILURE;
            goto out;
        }
    } else {
        rc = write_file(output, html, len);
        if (rc < 0) {
            fprintf(stderr, "pingwatcher report: cannot write %s: %s\n", output, strerror(-rc));
            rc = PW_EXIT_FAILURE;
            goto out;
        }
        printf("%s: %s\n", output, d->summary);
    }
    rc = 0;
out:
    pw_store_close(s);
    free(html);
    free(d);
    return rc;
}
