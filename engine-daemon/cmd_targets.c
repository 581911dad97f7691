/* PingWatcher — `pingwatcher targets`: add, list, remove, pause and resume monitored targets.
 * Changes go to pingwatcherd over its control socket; the list is read from the store. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "num.h"
#include "store.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: pingwatcher [global options] targets COMMAND ...\n"
                 "  targets add HOST [options]   start monitoring HOST; prints the new id\n"
                 "      -P, --type icmp|udp|tcp   probe packet type\n"
                 "      -p, --port PORT           UDP/TCP destination port\n"
                 "      -i, --interval S          seconds between samples\n"
                 "      -s, --packet-size BYTES   payload after the ICMP/UDP/TCP header\n"
                 "      -t, --timeout S           seconds before a probe counts as lost\n"
                 "      -m, --max-hops N          highest TTL probed\n"
                 "      -d, --delay MS            milliseconds between the TTLs of one sample\n"
                 "          --final-hop-only      probe only the destination\n"
                 "          --label L             a name to show\n"
                 "          --config NAME         start from a named configuration\n"
                 "          --paused              add it paused\n"
                 "  targets list [--json]        every target in the store\n"
                 "  targets rm ID                stop monitoring (stored samples stay)\n"
                 "  targets pause ID | resume ID\n"
                 "global options: -c CONFIG, --db DIR, --control PATH\n");
}

static int bad_value(const char *err)
{
    fprintf(stderr, "pingwatcher targets add: %s\n", err);
    return PW_EXIT_USAGE;
}

static int cmd_add(int argc, char **argv, struct pw_cli_env *env)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 'P'},
        {"port", required_argument, NULL, 'p'},
        {"interval", required_argument, NULL, 'i'},
        {"packet-size", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"max-hops", required_argument, NULL, 'm'},
        {"delay", required_argument, NULL, 'd'},
        {"final-hop-only", no_argument, NULL, 'F'},
        {"label", required_argument, NULL, 'l'},
        {"config", required_argument, NULL, 'C'},
        {"paused", no_argument, NULL, 'Z'},
        {"help", no_argument, NULL, 'h'},
        {"db", required_argument, NULL, PW_CLI_OPT_DB},
        {"control", required_argument, NULL, PW_CLI_OPT_CONTROL},
        {NULL, 0, NULL, 0},
    };
    cJSON *args = cJSON_CreateObject(), *result = NULL;
    const cJSON *id;
    char err[256];
    int64_t v;
    double dv;
    int c, rc;

    if (!args)
        return PW_EXIT_FAILURE;
    optind = 1;
    opterr = 0;
    /* -c is the global CONFIG here too; --config is the named configuration. */
    while ((c = getopt_long(argc, argv, ":P:p:i:s:t:m:d:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'P': {
            enum pw_proto p;
            if (pw_proto_parse(optarg, &p) < 0) {
                cJSON_Delete(args);
                return bad_value("packet type must be icmp, udp or tcp");
            }
            cJSON_AddStringToObject(args, "packet_type", pw_proto_name(p));
            break;
        }
        case 'p':
            if (pw_num_parse_i64(optarg, 1, 65535, "port", &v, err, sizeof(err)) < 0)
                goto bad;
            cJSON_AddNumberToObject(args, "port", (double)v);
            break;
        case 'i':
            if (pw_num_parse_double(optarg, 0.01, 86400, "interval (seconds)", &dv, err,
                                    sizeof(err)) < 0)
                goto bad;
            cJSON_AddNumberToObject(args, "trace_interval", dv);
            break;
        case 's':
            if (pw_num_parse_i64(optarg, 0, 65535, "packet size", &v, err, sizeof(err)) < 0)
                goto bad;
            cJSON_AddNumberToObject(args, "packet_size", (double)v);
            break;
        case 't':
            if (pw_num_parse_double(optarg, 0.001, 60, "timeout (seconds)", &dv, err, sizeof(err)) <
                0)
                goto bad;
            cJSON_AddNumberToObject(args, "timeout", dv);
            break;
        case 'm':
            if (pw_num_parse_i64(optarg, 1, PW_TRACE_MAX_HOPS, "max hops", &v, err, sizeof(err)) <
                0)
                goto bad;
            cJSON_AddNumberToObject(args, "max_hops", (double)v);
            break;
        case 'd':
            if (pw_num_parse_double(optarg, 0, 1000, "delay (milliseconds)", &dv, err,
                                    sizeof(err)) < 0)
                goto bad;
            cJSON_AddNumberToObject(args, "inter_packet_delay", dv);
            break;
        case 'F':
            cJSON_AddTrueToObject(args, "final_hop_only");
            break;
        case 'l':
            cJSON_AddStringToObject(args, "label", optarg);
            break;
        case 'C':
            cJSON_AddStringToObject(args, "config", optarg);
            break;
        case 'Z':
            cJSON_AddTrueToObject(args, "paused");
            break;
        case 'c':
            env->config = optarg;
            break;
        case 'h':
            usage(stdout);
            cJSON_Delete(args);
            return 0;
        case ':':
            fprintf(stderr, "pingwatcher targets add: option '%s' needs a value\n",
                    argv[optind - 1]);
            cJSON_Delete(args);
            return PW_EXIT_USAGE;
        default:
            if (pw_cli_global_opt(env, c, optarg))
                break;
            fprintf(stderr, "pingwatcher targets add: unknown option '%s' (try --help)\n",
                    argv[optind - 1]);
            cJSON_Delete(args);
            return PW_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "pingwatcher targets add: exactly one HOST is needed\n");
        cJSON_Delete(args);
        return PW_EXIT_USAGE;
    }
    if (!pwd_config_host_ok(argv[optind])) {
        fprintf(stderr, "pingwatcher targets add: '%s' is not a host name or an IP address\n",
                argv[optind]);
        cJSON_Delete(args);
        return PW_EXIT_USAGE;
    }
    cJSON_AddStringToObject(args, "host", argv[optind]);
    rc = pw_cli_call(env, "targets add", "target.add", args, &result);
    if (rc)
        return rc;
    id = cJSON_GetObjectItemCaseSensitive(result, "id");
    if (cJSON_IsNumber(id))
        printf("%.0f\n", id->valuedouble);
    cJSON_Delete(result);
    return 0;
bad:
    cJSON_Delete(args);
    return bad_value(err);
}

struct list_ctx {
    bool json;
    cJSON *arr;
    unsigned n;
};

static int list_one(void *arg, const struct pw_store_target *t)
{
    struct list_ctx *lc = arg;
    char ip[PW_ADDR_STRLEN] = "-";

    if (t->addr.family)
        pw_addr_format(&t->addr, ip, sizeof(ip));
    lc->n++;
    if (lc->json) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return -1;
        cJSON_AddNumberToObject(o, "id", t->id);
        cJSON_AddStringToObject(o, "host", t->host);
        cJSON_AddStringToObject(o, "label", t->label);
        if (t->config[0])
            cJSON_AddStringToObject(o, "config", t->config);
        else
            cJSON_AddNullToObject(o, "config");
        if (t->addr.family)
            cJSON_AddStringToObject(o, "ip", ip);
        else
            cJSON_AddNullToObject(o, "ip");
        cJSON_AddBoolToObject(o, "paused", t->paused);
        cJSON_AddBoolToObject(o, "from_config", t->from_config);
        cJSON_AddNumberToObject(o, "created", (double)t->created_us / 1e6);
        cJSON_AddItemToObject(o, "options", pwd_opts_json(&t->opts));
        cJSON_AddItemToArray(lc->arr, o);
        return 0;
    }
    printf("%-6u %-28.28s %-20.20s %-16s %-4s %8.2f %-7s %s\n", t->id, t->host,
           t->label[0] ? t->label : "-", ip, pw_proto_name(t->opts.proto),
           t->opts.interval_ms / 1000.0, t->paused ? "paused" : "active",
           t->config[0] ? t->config : "-");
    return 0;
}

static int cmd_list(int argc, char **argv, struct pw_cli_env *env)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        PW_CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct pw_store_opts so = {0};
    struct list_ctx lc = {0};
    struct pw_store *s;
    char db[4096], control[256], err[512];
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
        if (c == 'J') {
            lc.json = true;
        } else if (c == 'c') {
            env->config = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (!pw_cli_global_opt(env, c, optarg)) {
            fprintf(stderr, "pingwatcher targets list: unknown option '%s'\n", argv[optind - 1]);
            return PW_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "pingwatcher targets list: unexpected argument '%s'\n", argv[optind]);
        return PW_EXIT_USAGE;
    }
    rc = pw_cli_paths(env, "targets list", db, sizeof(db), control, sizeof(control));
    if (rc)
        return rc;
    so.path = db;
    so.readonly = true;
    s = pw_store_open(&so, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "pingwatcher targets list: cannot open the store at %s: %s\n", db, err);
        return PW_EXIT_FAILURE;
    }
    if (lc.json) {
        lc.arr = cJSON_CreateArray();
    } else {
        printf("%-6s %-28s %-20s %-16s %-4s %8s %-7s %s\n", "ID", "HOST", "LABEL", "IP", "TYPE",
               "INTERVAL", "STATE", "CONFIG");
    }
    rc = pw_store_target_list(s, list_one, &lc);
    pw_store_close(s);
    if (rc < 0) {
        fprintf(stderr, "pingwatcher targets list: cannot read the targets\n");
        cJSON_Delete(lc.arr);
        return PW_EXIT_FAILURE;
    }
    if (lc.json) {
        char *text = cJSON_PrintUnformatted(lc.arr);
        if (!text) {
            cJSON_Delete(lc.arr);
            return PW_EXIT_FAILURE;
        }
        printf("%s\n", text);
        free(text);
        cJSON_Delete(lc.arr);
    }
    return 0;
}

static int cmd_id(int argc, char **argv, struct pw_cli_env *env, const char *cmdname,
                  const char *what)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        PW_CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    char label[64];
    cJSON *args;
    uint32_t id;
    int c, rc;

    snprintf(label, sizeof(label), "targets %s", argv[0]);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
        if (c == 'c') {
            env->config = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (!pw_cli_global_opt(env, c, optarg)) {
            fprintf(stderr, "pingwatcher %s: unknown option '%s'\n", label, argv[optind - 1]);
            return PW_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "pingwatcher %s: exactly one target ID is needed\n", label);
        return PW_EXIT_USAGE;
    }
    rc = pw_cli_parse_id(argv[optind], label, &id);
    if (rc)
        return rc;
    args = cJSON_CreateObject();
    if (!args || !cJSON_AddNumberToObject(args, "id", id)) {
        cJSON_Delete(args);
        return PW_EXIT_FAILURE;
    }
    rc = pw_cli_call(env, label, cmdname, args, NULL);
    if (rc == 0)
        printf("target %u %s\n", id, what);
    return rc;
}

int pw_cmd_targets(int argc, char **argv, struct pw_cli_env *env)
{
    if (argc < 2) {
        usage(stderr);
        return PW_EXIT_USAGE;
    }
    if (strcmp(argv[1], "add") == 0)
        return cmd_add(argc - 1, argv + 1, env);
    if (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "ls") == 0)
        return cmd_list(argc - 1, argv + 1, env);
    if (strcmp(argv[1], "rm") == 0 || strcmp(argv[1], "remove") == 0)
        return cmd_id(argc - 1, argv + 1, env, "target.remove", "removed");
    if (strcmp(argv[1], "pause") == 0)
        return cmd_id(argc - 1, argv + 1, env, "target.pause", "paused");
    if (strcmp(argv[1], "resume") == 0)
        return cmd_id(argc - 1, argv + 1, env, "target.resume", "resumed");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "pingwatcher targets: unknown command '%s' (add, list, rm, pause, resume)\n",
            argv[1]);
    return PW_EXIT_USAGE;
}
