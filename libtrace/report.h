/* PingWatcher — the per-hop report of a run of samples: what `pingwatcher trace` prints and
 * the JSON shape shared by `trace --json`, `hops --json` and the API's hop table.
 *
 * A pw_report_acc collects finished samples (pw_report_acc_add, straight from the trace
 * engine's callback); pw_report_acc_finish turns the last `focus` of them into a pw_report.
 */
#ifndef PW_REPORT_H
#define PW_REPORT_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "dns.h"
#include "probe.h"
#include "stats.h"
#include "trace.h"

/* Distinct responders remembered per hop (ECMP shows more than one). */
#define PW_REPORT_MAX_ADDRS 8

struct pw_report_hop {
    uint8_t ttl;
    uint8_t naddrs; /* distinct responders seen, newest last */
    struct pw_addr addrs[PW_REPORT_MAX_ADDRS];
    struct pw_addr last;           /* the most recent responder (valid when naddrs > 0) */
    char dns[PW_DNS_NAME_MAX + 1]; /* "" when not looked up; PW_DNS_NONE when no PTR */
    struct pw_stats stats;
};

struct pw_report {
    char target[256]; /* as the user named it */
    struct pw_addr ip;
    enum pw_proto proto;
    uint64_t samples; /* samples the statistics cover */
    uint8_t nhops;
    struct pw_report_hop hop[PW_TRACE_MAX_HOPS];
};

struct pw_report_acc;

/* Keeps up to `capacity` samples (the newest; older ones are dropped) of up to max_hops hops.
 * Returns NULL with errno set on failure. */
struct pw_report_acc *pw_report_acc_new(uint8_t max_hops, uint32_t capacity);
void pw_report_acc_free(struct pw_report_acc *a);

/* Records one finished sample. Never fails (the oldest sample makes room). */
void pw_report_acc_add(struct pw_report_acc *a, const struct pw_sample *s);

/* Fills r's hops and samples from the newest `focus` samples (0 = all kept). The hops shown
 * end at the destination as the newest sample that reached it saw it, else at the last hop
 * that ever answered; TTLs no sample probed are left out. r->target, ip and proto are left for the
 * caller. */
void pw_report_acc_finish(const struct pw_report_acc *a, uint32_t focus, struct pw_report *r);

/* ---- read access for analyses (diagnosis.c) ---- */

/* rtt of a TTL the sample did not probe, from pw_report_acc_cell(). */
#define PW_REPORT_NOT_PROBED (-2)

/* Samples kept (the newest, at most the capacity); k = 0 is the oldest of them below. */
uint64_t pw_report_acc_kept(const struct pw_report_acc *a);
uint8_t pw_report_acc_max_hops(const struct pw_report_acc *a);
/* Start of kept sample k (Unix µs, from the sample's start_ns; 0 when unknown). */
int64_t pw_report_acc_time_us(const struct pw_report_acc *a, uint64_t k);
/* TTL at which kept sample k reached the destination, 0 when it did not. */
unsigned pw_report_acc_reached(const struct pw_report_acc *a, uint64_t k);
/* TTL ttl (1..max_hops) of kept sample k: its RTT in µs, PW_RTT_LOST, or PW_REPORT_NOT_PROBED
 * (also past the destination); the responder goes to *from when answered and from is not
 * NULL. */
int32_t pw_report_acc_cell(const struct pw_report_acc *a, uint64_t k, unsigned ttl,
                           struct pw_addr *from);

/* The report as a JSON object (see the README for its fields). Caller frees with
 * cJSON_Delete; NULL when out of memory. */
cJSON *pw_report_json(const struct pw_report *r);

/* Writes the report as a fixed-width text table to out. */
void pw_report_table(const struct pw_report *r, FILE *out);

#endif
