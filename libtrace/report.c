/* PingWatcher — per-hop reports (see report.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

struct pw_report_acc {
    uint8_t max_hops;
    uint32_t capacity;
    uint64_t added;       /* samples added so far; slot = index % capacity */
    int32_t *rtt;         /* capacity x max_hops, PW_RTT_LOST or µs; */
    uint8_t *probed;      /* capacity x max_hops: 1 when that TTL was part of the sample */
    uint8_t *reached_ttl; /* per sample: TTL of the destination, 0 when not reached */
    struct pw_addr *from; /* capacity x max_hops responders */
    int64_t *time_us;     /* per sample: start, Unix µs */
};

struct pw_report_acc *pw_report_acc_new(uint8_t max_hops, uint32_t capacity)
{
    struct pw_report_acc *a = calloc(1, sizeof(*a));
    size_t cells = (size_t)max_hops * capacity;

    if (!a)
        return NULL;
    if (max_hops == 0 || capacity == 0) {
        free(a);
        errno = EINVAL;
        return NULL;
    }
    a->max_hops = max_hops;
    a->capacity = capacity;
    a->rtt = calloc(cells, sizeof(*a->rtt));
    a->probed = calloc(cells, 1);
    a->reached_ttl = calloc(capacity, 1);
    a->from = calloc(cells, sizeof(*a->from));
    a->time_us = calloc(capacity, sizeof(*a->time_us));
    if (!a->rtt || !a->probed || !a->reached_ttl || !a->from || !a->time_us) {
        pw_report_acc_free(a);
        errno = ENOMEM;
        return NULL;
    }
    return a;
}

void pw_report_acc_free(struct pw_report_acc *a)
{
    if (!a)
        return;
    free(a->rtt);
    free(a->probed);
    free(a->reached_ttl);
    free(a->from);
    free(a->time_us);
    free(a);
}

void pw_report_acc_add(struct pw_report_acc *a, const struct pw_sample *s)
{
    size_t row = (size_t)(a->added % a->capacity) * a->max_hops;

    memset(a->probed + row, 0, a->max_hops);
    a->reached_ttl[a->added % a->capacity] = 0;
    a->time_us[a->added % a->capacity] = s->start_ns / 1000;
    for (unsigned i = 0; i < s->nhops; i++) {
        const struct pw_hop_result *h = &s->hop[i];
        unsigned ttl = h->ttl ? h->ttl : i + 1;
        size_t cell;

        if (ttl < 1 || ttl > a->max_hops)
            continue;
        cell = row + ttl - 1;
        a->probed[cell] = 1;
        a->rtt[cell] =
            h->answered ? (int32_t)(h->rtt_us > INT32_MAX ? INT32_MAX : h->rtt_us) : PW_RTT_LOST;
        if (h->answered)
            a->from[cell] = h->from;
        else
            memset(&a->from[cell], 0, sizeof(a->from[cell]));
        if (h->answered && h->reached)
            a->reached_ttl[a->added % a->capacity] = (uint8_t)ttl;
    }
    a->added++;
}

uint64_t pw_report_acc_kept(const struct pw_report_acc *a)
{
    return a->added < a->capacity ? a->added : a->capacity;
}

uint8_t pw_report_acc_max_hops(const struct pw_report_acc *a)
{
    return a->max_hops;
}

static size_t slot_of(const struct pw_report_acc *a, uint64_t k)
{
    return (size_t)((a->added - pw_report_acc_kept(a) + k) % a->capacity);
}

int64_t pw_report_acc_time_us(const struct pw_report_acc *a, uint64_t k)
{
    return k < pw_report_acc_kept(a) ? a->time_us[slot_of(a, k)] : 0;
}

unsigned pw_report_acc_reached(const struct pw_report_acc *a, uint64_t k)
{
    return k < pw_report_acc_kept(a) ? a->reached_ttl[slot_of(a, k)] : 0;
}

int32_t pw_report_acc_cell(const struct pw_report_acc *a, uint64_t k, unsigned ttl,
                           struct pw_addr *from)
{
    size_t slot, cell;
    unsigned d;

    if (k >= pw_report_acc_kept(a) || ttl < 1 || ttl > a->max_hops)
        return PW_REPORT_NOT_PROBED;
    slot = slot_of(a, k);
    cell = slot * a->max_hops + ttl - 1;
    d = a->reached_ttl[slot];
    /* As in pw_report_acc_finish(): past the destination nothing was probed. */
    if (!a->probed[cell] || (d && ttl > d))
        return PW_REPORT_NOT_PROBED;
    if (from && a->rtt[cell] != PW_RTT_LOST)
        *from = a->from[cell];
    return a->rtt[cell];
}

static void hop_note_addr(struct pw_report_hop *h, const struct pw_addr *addr)
{
    unsigned i;

    h->last = *addr;
    for (i = 0; i < h->naddrs; i++)
        if (pw_addr_equal(&h->addrs[i], addr))
            return;
    if (h->naddrs < PW_REPORT_MAX_ADDRS)
        h->addrs[h->naddrs++] = *addr;
}

void pw_report_acc_finish(const struct pw_report_acc *a, uint32_t focus, struct pw_report *r)
{
    uint64_t kept = a->added < a->capacity ? a->added : a->capacity;
    uint64_t n = focus && focus < kept ? focus : kept;
    uint64_t first = a->added - n;
    int32_t *window = malloc((n ? n : 1) * sizeof(*window));
    unsigned shown = 0, last_answer = 0, last, kept_rows = 0;

    memset(r->hop, 0, sizeof(r->hop));
    r->samples = n;
    /* The destination's distance is that of the newest sample that reached it: the current
     * route. (The largest would be wrong: a sample whose probe at the destination's TTL was
     * lost finds the destination one or more TTLs further out.) */
    for (uint64_t k = first; k < a->added && !shown; k++) {
        unsigned d = a->reached_ttl[(a->added - 1 - (k - first)) % a->capacity];
        if (d)
            shown = d;
    }
    for (unsigned ttl = 1; ttl <= a->max_hops; ttl++) {
        struct pw_report_hop *h = &r->hop[ttl - 1];
        size_t m = 0;

        h->ttl = (uint8_t)ttl;
        for (uint64_t k = first; k < a->added; k++) {
            size_t cell = (size_t)(k % a->capacity) * a->max_hops + ttl - 1;
            unsigned d = a->reached_ttl[k % a->capacity];
            /* A sample that reached the destination closer than ttl did not probe ttl. */
            if (!a->probed[cell] || (d && ttl > d))
                continue;
            if (window)
                window[m] = a->rtt[cell];
            m++;
            if (a->rtt[cell] != PW_RTT_LOST) {
                hop_note_addr(h, &a->from[cell]);
                last_answer = ttl;
            }
        }
        pw_stats_compute(window, window ? m : 0, &h->stats);
    }
    free(window);
    /* Keep the hops shown, and of those only the ones probed (with final_hop_only that is the
     * destination alone), in TTL order. */
    last = shown ? shown : last_answer;
    for (unsigned ttl = 1; ttl <= last; ttl++) {
        if (r->hop[ttl - 1].stats.sent == 0)
            continue;
        if (kept_rows != ttl - 1)
            r->hop[kept_rows] = r->hop[ttl - 1];
        kept_rows++;
    }
    memset(&r->hop[kept_rows], 0, sizeof(r->hop) - kept_rows * sizeof(r->hop[0]));
    r->nhops = (uint8_t)kept_rows;
}

static cJSON *ms_or_null(bool valid, double ms)
{
    /* Three decimals: microsecond resolution, as measured. */
    return valid ? cJSON_CreateNumber((double)(long long)(ms * 1000.0 + 0.5) / 1000.0)
                 : cJSON_CreateNull();
}

cJSON *pw_report_json(const struct pw_report *r)
{
    char buf[PW_ADDR_STRLEN];
    cJSON *root = cJSON_CreateObject();
    cJSON *hops;

    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "target", r->target);
    cJSON_AddStringToObject(root, "ip", pw_addr_format(&r->ip, buf, sizeof(buf)));
    cJSON_AddStringToObject(root, "packet_type", pw_proto_name(r->proto));
    cJSON_AddNumberToObject(root, "samples", (double)r->samples);
    hops = cJSON_AddArrayToObject(root, "hops");
    for (unsigned i = 0; hops && i < r->nhops; i++) {
        const struct pw_report_hop *h = &r->hop[i];
        const struct pw_stats *st = &h->stats;
        cJSON *o = cJSON_CreateObject(), *ips;

        if (!o)
            break;
        cJSON_AddItemToArray(hops, o);
        cJSON_AddNumberToObject(o, "hop", h->ttl);
        if (h->naddrs)
            cJSON_AddStringToObject(o, "ip", pw_addr_format(&h->last, buf, sizeof(buf)));
        else
            cJSON_AddNullToObject(o, "ip");
        if (h->dns[0])
            cJSON_AddStringToObject(o, "dns", h->dns);
        else
            cJSON_AddNullToObject(o, "dns");
        ips = cJSON_AddArrayToObject(o, "ips");
        for (unsigned k = 0; ips && k < h->naddrs; k++)
            cJSON_AddItemToArray(
                ips, cJSON_CreateString(pw_addr_format(&h->addrs[k], buf, sizeof(buf))));
        cJSON_AddNumberToObject(o, "sent", st->sent);
        cJSON_AddNumberToObject(o, "lost", st->lost);
        cJSON_AddNumberToObject(o, "loss_pct", (double)(long long)(st->loss_pct * 100 + 0.5) / 100);
        cJSON_AddItemToObject(o, "avg_ms", ms_or_null(st->has_latency, st->avg_ms));
        cJSON_AddItemToObject(o, "min_ms", ms_or_null(st->has_latency, st->min_ms));
        cJSON_AddItemToObject(o, "max_ms", ms_or_null(st->has_latency, st->max_ms));
        cJSON_AddItemToObject(o, "cur_ms", ms_or_null(st->sent && !st->cur_lost, st->cur_ms));
        cJSON_AddItemToObject(o, "jitter_ms", ms_or_null(st->has_latency, st->jitter_ms));
        cJSON_AddItemToObject(o, "stddev_ms", ms_or_null(st->has_latency, st->stddev_ms));
    }
    return root;
}

void pw_report_table(const struct pw_report *r, FILE *out)
{
    char ip[PW_ADDR_STRLEN];

    fprintf(out, "PingWatcher trace to %s (%s), %s, %llu samples\n", r->target,
            pw_addr_format(&r->ip, ip, sizeof(ip)), pw_proto_name(r->proto),
            (unsigned long long)r->samples);
    fprintf(out, "%4s  %-39s %-30s %8s %8s %8s %8s %6s %8s\n", "Hop", "IP", "DNS", "Avg", "Min",
            "Max", "Cur", "PL%", "Jitter");
    for (unsigned i = 0; i < r->nhops; i++) {
        const struct pw_report_hop *h = &r->hop[i];
        const struct pw_stats *st = &h->stats;
        char avg[16], min[16], max[16], cur[16], jit[16];

        pw_stats_fmt_ms(st->avg_ms, st->has_latency, false, avg, sizeof(avg));
        pw_stats_fmt_ms(st->min_ms, st->has_latency, false, min, sizeof(min));
        pw_stats_fmt_ms(st->max_ms, st->has_latency, false, max, sizeof(max));
        pw_stats_fmt_ms(st->cur_ms, st->sent > 0, st->cur_lost, cur, sizeof(cur));
        pw_stats_fmt_ms(st->jitter_ms, st->has_latency, false, jit, sizeof(jit));
        fprintf(out, "%4u  %-39s %-30.30s %8s %8s %8s %8s %6.1f %8s\n", h->ttl,
                h->naddrs ? pw_addr_format(&h->last, ip, sizeof(ip)) : "???",
                h->dns[0] ? h->dns : (h->naddrs ? "" : PW_DNS_NONE), avg, min, max, cur,
                st->loss_pct, jit);
    }
}
