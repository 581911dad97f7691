/* PingWatcher — fills a store with synthetic history for the API benchmark: one target with
 * DAYS days of samples every INTERVAL seconds up to now, HOPS hops on one route, RTTs rising
 * per hop with deterministic jitter and 1 % loss at the last hop.
 *
 *   seed_store DIR [DAYS [INTERVAL_S [HOPS]]]      (defaults: 7 days, 2.5 s, 10 hops)
 *
 * Prints the target id. Writes through the store API (the daemon's own code path), batched as
 * the daemon does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "num.h"
#include "store.h"

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

int main(int argc, char **argv)
{
    struct pw_store_opts so = {0};
    struct pw_store_target t;
    struct pw_store_route route;
    struct pw_store_sample smp;
    struct pw_store *s;
    char err[256];
    int64_t days = 7, hops = 10, now, start, step;
    double interval = 2.5;
    uint32_t route_id;
    long n = 0;
    int rc;

    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: seed_store DIR [DAYS [INTERVAL_S [HOPS]]]\n");
        return 2;
    }
    if ((argc > 2 && pw_num_parse_i64(argv[2], 1, 400, "days", &days, err, sizeof(err)) < 0) ||
        (argc > 3 &&
         pw_num_parse_double(argv[3], 0.01, 86400, "interval", &interval, err, sizeof(err)) < 0) ||
        (argc > 4 && pw_num_parse_i64(argv[4], 1, 30, "hops", &hops, err, sizeof(err)) < 0)) {
        fprintf(stderr, "seed_store: %s\n", err);
        return 2;
    }
    so.path = argv[1];
    so.map_size = 1ull << 30;
    s = pw_store_open(&so, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "seed_store: %s\n", err);
        return 1;
    }
    memset(&t, 0, sizeof(t));
    snprintf(t.host, sizeof(t.host), "198.18.100.10");
    snprintf(t.label, sizeof(t.label), "bench <seeded>");
    pw_trace_opts_default(&t.opts);
    t.opts.interval_ms = (uint32_t)(interval * 1000);
    t.opts.max_hops = (uint8_t)hops;
    pw_addr_parse("198.18.100.10", &t.addr);
    t.paused = true; /* a record only: nothing probes it */
    now = (int64_t)time(NULL) * 1000000;
    t.created_us = now - days * 86400 * 1000000LL;
    rc = pw_store_target_add(s, &t);
    if (rc < 0)
        goto fail;
    memset(&route, 0, sizeof(route));
    route.nhops = (uint8_t)hops;
    for (int i = 0; i < hops; i++) {
        char ip[32];

        snprintf(ip, sizeof(ip), i == hops - 1 ? "198.18.100.10" : "198.18.1.%d", i + 1);
        pw_addr_parse(ip, &route.hop[i]);
    }
    rc = pw_store_route_intern(s, &route, &route_id);
    if (rc < 0)
        goto fail;
    step = (int64_t)(interval * 1e6);
    start = now - days * 86400 * 1000000LL;
    for (int64_t ts = start; ts < now; ts += step) {
        memset(&smp, 0, sizeof(smp));
        smp.time_us = ts;
        smp.route_id = route_id;
        smp.nhops = (uint8_t)hops;
        smp.reached = true;
        for (int i = 0; i < hops; i++)
            smp.rtt_us[i] = 1000 + 2000 * i + (int32_t)(rng() % 400);
        if (rng() % 100 == 0)
            smp.rtt_us[hops - 1] = PW_RTT_LOST;
        rc = pw_store_add_sample(s, t.id, &smp);
        if (rc == -ENOSPC) {
            rc = pw_store_flush(s);
            if (rc == 0)
                rc = pw_store_add_sample(s, t.id, &smp);
        }
        if (rc < 0)
            goto fail;
        if (++n % 2000 == 0 && (rc = pw_store_flush(s)) < 0)
            goto fail;
    }
    rc = pw_store_flush(s);
    if (rc < 0)
        goto fail;
    pw_store_close(s);
    printf("%u\n", t.id);
    fprintf(stderr, "seed_store: %ld samples of %lld hops over %lld days\n", n, (long long)hops,
            (long long)days);
    return 0;
fail:
    fprintf(stderr, "seed_store: %s\n", pw_strerror(rc));
    pw_store_close(s);
    return 1;
}
