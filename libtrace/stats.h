/* PingWatcher — focus statistics over a window of samples of one hop.
 *
 * A window is an array of RTTs in microseconds, oldest first, where PW_RTT_LOST marks a probe
 * that got no reply within the timeout. Lost probes count in PL% and nowhere else: they are
 * never a latency of 0.
 */
#ifndef PW_STATS_H
#define PW_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PW_RTT_LOST (-1)

struct pw_stats {
    uint32_t sent;    /* samples in the window */
    uint32_t lost;    /* of which lost */
    double loss_pct;  /* 100 * lost / sent; 0 when sent is 0 */
    bool has_latency; /* at least one answered sample: the fields below are valid */
    double avg_ms, min_ms, max_ms;
    double stddev_ms; /* population standard deviation of answered RTTs */
    double jitter_ms; /* mean |difference| of consecutive answered RTTs; 0 with fewer than 2 */
    bool cur_lost;    /* the newest sample was lost: show ERR */
    double cur_ms;    /* the newest sample's RTT, when !cur_lost and sent > 0 */
};

/* Computes the statistics of rtt_us[0..n) (oldest first). n may be 0. Never fails. */
void pw_stats_compute(const int32_t *rtt_us, size_t n, struct pw_stats *out);

/* Formats a latency for tables: "12.3" style with one decimal, or "ERR" when lost is true,
 * or "-" when the value does not exist. Returns buf. */
const char *pw_stats_fmt_ms(double ms, bool valid, bool lost, char *buf, size_t len);

#endif
