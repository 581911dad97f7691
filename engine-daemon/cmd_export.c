/* PingWatcher — `pingwatcher export ID`: every stored probe of a target in a time range, one
 * row per hop per sample (time, hop, ip, dns, rtt), as CSV or JSON. Rows are written as they
 * are read, so an export of weeks of data needs no memory for it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "store.h"
#include "timefmt.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: pingwatcher export ID [--format csv|json] [--start T] [--end T]\n"
                 "  T is Unix seconds or RFC 3339 (2024-05-01T12:00:00Z); default: everything\n"
                 "  Lost probes have an empty rtt_ms (CSV) or null (JSON) and timeout = 1/true.\n"
                 "global options: -c CONFIG, --db DIR, --control PATH\n");
}

struct export_ctx {
    bool json;
    uint64_t rows;
    FILE *out;
};

/* RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
static void csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static int row(void *arg, const struct pw_store_export_row *r)
{
    struct export_ctx *x = arg;
    char when[PW_TIMEFMT_STRLEN], ip[PW_ADDR_STRLEN] = "";
    bool lost = r->rtt_us == PW_RTT_LOST;

    pw_timefmt_rfc3339_us(r->time_us, when, sizeof(when));
    if (r->ip.family)
        pw_addr_format(&r->ip, ip, sizeof(ip));
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        char *text;
        if (!o)
            return -ENOMEM;
        cJSON_AddStringToObject(o, "time", when);
        cJSON_AddNumberToObject(o, "time_us", (double)r->time_us);
        cJSON_AddNumberToObject(o, "hop", r->hop);
        if (r->ip.family)
            cJSON_AddStringToObject(o, "ip", ip);
        else
            cJSON_AddNullToObject(o, "ip");
        if (r->dns[0])
            cJSON_AddStringToObject(o, "dns", r->dns);
        else
            cJSON_AddNullToObject(o, "dns");
        if (lost)
            cJSON_AddNullToObject(o, "rtt_ms");
        else
            cJSON_AddNumberToObject(o, "rtt_ms", r->rtt_us / 1000.0);
        cJSON_AddBoolToObject(o, "timeout", lost);
        text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!text)
            return -ENOMEM;
        fprintf(x->out, "%s%s", x->rows ? ",\n" : "\n", text);
        free(text);
    } else {
        fprintf(x->out, "%s,%lld,%u,%s,", when, (long long)r->time_us, r->hop, ip);
        csv_field(x->out, r->dns);
        if (lost)
            fprintf(x->out, ",,1\n");
        else
            fprintf(x->out, ",%.3f,0\n", r->rtt_us / 1000.0);
    }
    x->rows++;
    return 0;
}

int pw_cmd_export(int argc, char **argv, struct pw_cli_env *env)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'F'},
        {"start", required_argument, NULL, 's'},
        {"end", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        PW_CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct export_ctx x = {.out = stdout};
    struct pw_store *s = NULL;
    int64_t start = 0, end = INT64_MAX;
    char err[256];
    uint32_t id;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'F':
            if (strcmp(optarg, "json") == 0) {
                x.json = true;
            } else if (strcmp(optarg, "csv") != 0) {
                fprintf(stderr, "pingwatcher export: --format must be csv or json (got '%s')\n",
                        optarg);
                return PW_EXIT_USAGE;
            }
            break;
        case 's':
        case 'e':
            if (pw_timefmt_parse(optarg, c == 's' ? "--start" : "--end", c == 's' ? &start : &end,
                                 err, sizeof(err)) < 0) {
                fprintf(stderr, "pingwatcher export: %s\n", err);
                return PW_EXIT_USAGE;
            }
            break;
        case 'c':
            env->config = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "pingwatcher export: option '%s' needs a value\n", argv[optind - 1]);
            return PW_EXIT_USAGE;
        default:
            if (pw_cli_global_opt(env, c, optarg))
                break;
            fprintf(stderr, "pingwatcher export: unknown option '%s' (try --help)\n",
                    argv[optind - 1]);
            return PW_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "pingwatcher export: exactly one target ID is needed\n");
        return PW_EXIT_USAGE;
    }
    rc = pw_cli_parse_id(argv[optind], "export", &id);
    if (rc)
        return rc;
    if (start >= end) {
        fprintf(stderr, "pingwatcher export: --start must be before --end\n");
        return PW_EXIT_USAGE;
    }
    rc = pw_cli_store_open(env, "export", &s);
    if (rc)
        return rc;
    if (x.json)
        printf("{\"target\":%u,\"rows\":[", id);
    else
        printf("time,time_us,hop,ip,dns,rtt_ms,timeout\n");
    rc = pw_store_export(s, id, start, end, row, &x);
    if (x.json)
        printf("%s]}\n", x.rows ? "\n" : "");
    pw_store_close(s);
    if (rc < 0 && rc != PW_E_MALFORMED) {
        fprintf(stderr, "pingwatcher export: cannot read target %u: %s\n", id, pw_strerror(rc));
        return PW_EXIT_FAILURE;
    }
    if (rc == PW_E_MALFORMED)
        fprintf(stderr, "pingwatcher export: some records could not be decoded and were "
                        "skipped\n");
    if (fflush(stdout) != 0) {
        fprintf(stderr, "pingwatcher export: cannot write the output\n");
        return PW_EXIT_FAILURE;
    }
    return 0;
}
