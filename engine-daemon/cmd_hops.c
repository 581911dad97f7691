/* PingWatcher — `pingwatcher hops ID`: the hop table of a monitored target from the store, in
 * the shape of `pingwatcher trace` (table or --json). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "error.h"
#include "num.h"
#include "report.h"
#include "store.h"
#include "timefmt.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: pingwatcher hops ID [--focus N] [--at T] [--json]\n"
                 "  --focus N   statistics over the newest N samples (default 10, 0 = all)\n"
                 "  --at T      as it was at T (Unix seconds or RFC 3339; default now)\n"
                 "  --json      one JSON object, as `pingwatcher trace --json`\n"
                 "global options: -c CONFIG, --db DIR, --control PATH\n");
}

int pw_cmd_hops(int argc, char **argv, struct pw_cli_env *env)
{
    static const struct option longopts[] = {
        {"focus", required_argument, NULL, 'f'},
        {"at", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        PW_CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct pw_report *r = NULL;
    struct pw_store *s = NULL;
    int64_t focus = 10, at_us = 0;
    bool json = false;
    char err[256];
    uint32_t id;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (pw_num_parse_i64(optarg, 0, UINT32_MAX, "focus", &focus, err, sizeof(err)) < 0) {
                fprintf(stderr, "pingwatcher hops: %s\n", err);
                return PW_EXIT_USAGE;
            }
            break;
        case 'a':
            if (pw_timefmt_parse(optarg, "--at", &at_us, err, sizeof(err)) < 0) {
                fprintf(stderr, "pingwatcher hops: %s\n", err);
                return PW_EXIT_USAGE;
            }
            break;
        case 'J':
            json = true;
            break;
        case 'c':
            env->config = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "pingwatcher hops: option '%s' needs a value\n", argv[optind - 1]);
            return PW_EXIT_USAGE;
        default:
            if (pw_cli_global_opt(env, c, optarg))
                break;
            fprintf(stderr, "pingwatcher hops: unknown option '%s' (try --help)\n",
                    argv[optind - 1]);
            return PW_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "pingwatcher hops: exactly one target ID is needed\n");
        return PW_EXIT_USAGE;
    }
    rc = pw_cli_parse_id(argv[optind], "hops", &id);
    if (rc)
        return rc;
    r = calloc(1, sizeof(*r));
    if (!r)
        return PW_EXIT_FAILURE;
    rc = pw_cli_store_open(env, "hops", &s);
    if (rc)
        goto out;
    rc = pw_store_hops(s, id, (uint32_t)focus, at_us, r);
    if (rc < 0) {
        if (rc == -ENOENT)
            fprintf(stderr, "pingwatcher hops: target %u does not exist\n", id);
        else
            fprintf(stderr, "pingwatcher hops: cannot read target %u: %s\n", id, pw_strerror(rc));
        rc = PW_EXIT_FAILURE;
        goto out;
    }
    if (json) {
        cJSON *o = pw_report_json(r);
        char *text = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!text) {
            fprintf(stderr, "pingwatcher hops: out of memory\n");
            rc = PW_EXIT_FAILURE;
            goto out;
        }
        printf("%s\n", text);
        free(text);
    } else {
        pw_report_table(r, stdout);
    }
    rc = 0;
out:
    pw_store_close(s);
    free(r);
    return rc;
}
