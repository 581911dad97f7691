/* PingWatcher — `pingwatcher route-changes ID`: the route changes the daemon detected. */
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
    fprintf(out, "usage: pingwatcher route-changes ID [--json]\n"
                 "global options: -c CONFIG, --db DIR, --control PATH\n");
}

/* Changes are collected first and printed after the scan: a scan's callback must not read
 * the store again (the routes). */
struct rc_ctx {
    struct pw_store *s;
    bool json;
    cJSON *arr;
    struct pw_store_route_change *changes;
    size_t n, cap;
};

static cJSON *route_json(struct pw_store *s, uint32_t id)
{
    struct pw_store_route r;
    char ip[PW_ADDR_STRLEN];
    cJSON *arr = cJSON_CreateArray();

    if (!arr || pw_store_route_get(s, id, &r) < 0)
        return arr;
    for (unsigned i = 0; i < r.nhops; i++) {
        if (r.hop[i].family)
            cJSON_AddItemToArray(arr,
                                 cJSON_CreateString(pw_addr_format(&r.hop[i], ip, sizeof(ip))));
        else
            cJSON_AddItemToArray(arr, cJSON_CreateNull());
    }
    return arr;
}

static void route_text(struct pw_store *s, uint32_t id, char *buf, size_t len)
{
    struct pw_store_route r;
    char ip[PW_ADDR_STRLEN];
    size_t used = 0;

    buf[0] = '\0';
    if (pw_store_route_get(s, id, &r) < 0) {
        snprintf(buf, len, "(route %u unknown)", id);
        return;
    }
    for (unsigned i = 0; i < r.nhops && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "",
                                 r.hop[i].family ? pw_addr_format(&r.hop[i], ip, sizeof(ip)) : "*");
}

static int collect(void *arg, const struct pw_store_route_change *c)
{
    struct rc_ctx *x = arg;

    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 64;
        struct pw_store_route_change *p = realloc(x->changes, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        x->changes = p;
        x->cap = cap;
    }
    x->changes[x->n++] = *c;
    return 0;
}

static int one(struct rc_ctx *x, const struct pw_store_route_change *c)
{
    char when[PW_TIMEFMT_STRLEN];

    pw_timefmt_rfc3339_us(c->time_us, when, sizeof(when));
    if (x->json) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return -1;
        cJSON_AddStringToObject(o, "time", when);
        cJSON_AddNumberToObject(o, "time_us", (double)c->time_us);
        cJSON_AddNumberToObject(o, "first_hop", c->first_hop);
        cJSON_AddNumberToObject(o, "old_route_id", c->old_route);
        cJSON_AddNumberToObject(o, "new_route_id", c->new_route);
        cJSON_AddItemToObject(o, "old_route", route_json(x->s, c->old_route));
        cJSON_AddItemToObject(o, "new_route", route_json(x->s, c->new_route));
        cJSON_AddItemToArray(x->arr, o);
    } else {
        char oldr[2048], newr[2048];
        route_text(x->s, c->old_route, oldr, sizeof(oldr));
        route_text(x->s, c->new_route, newr, sizeof(newr));
        printf("%s  from hop %u\n  old: %s\n  new: %s\n", when, c->first_hop, oldr, newr);
    }
    return 0;
}

int pw_cmd_route_changes(int argc, char **argv, struct pw_cli_env *env)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        PW_CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct rc_ctx x = {0};
    struct pw_store_target t;
    uint32_t id;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
        if (c == 'J') {
            x.json = true;
        } else if (c == 'c') {
            env->config = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (!pw_cli_global_opt(env, c, optarg)) {
            fprintf(stderr, "pingwatcher route-changes: unknown option '%s'\n", argv[optind - 1]);
            return PW_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "pingwatcher route-changes: exactly one target ID is needed\n");
        return PW_EXIT_USAGE;
    }
    rc = pw_cli_parse_id(argv[optind], "route-changes", &id);
    if (rc)
        return rc;
    rc = pw_cli_store_open(env, "route-changes", &x.s);
    if (rc)
        return rc;
    if (pw_store_target_get(x.s, id, &t) < 0) {
        /* A removed target's history is still readable; say so only when there is none. */
        t.id = 0;
    }
    if (x.json)
        x.arr = cJSON_CreateArray();
    rc = pw_store_route_changes(x.s, id, 0, INT64_MAX, collect, &x);
    for (size_t i = 0; rc == 0 && i < x.n; i++)
        rc = one(&x, &x.changes[i]);
    free(x.changes);
    if (rc < 0) {
        fprintf(stderr, "pingwatcher route-changes: cannot read target %u: %s\n", id,
                pw_strerror(rc));
        cJSON_Delete(x.arr);
        pw_store_close(x.s);
        return PW_EXIT_FAILURE;
    }
    if (x.json) {
        char *text = cJSON_PrintUnformatted(x.arr);
        if (text)
            printf("%s\n", text);
        free(text);
        cJSON_Delete(x.arr);
    } else if (!t.id) {
        fprintf(stderr,
                "pingwatcher route-changes: note: target %u is not (or no longer) in "
                "the store\n",
                id);
    }
    pw_store_close(x.s);
    return 0;
}
