/* PingWatcher — /metrics: Prometheus / OpenMetrics text.
 *
 * Per target: counters of samples, probes sent and lost, and a histogram of the final hop's
 * RTT with smokeping_prober's buckets (50 us doubling to 26.2 s), all counted by this process
 * from the samples committed since it started (each scrape reads only what is new since the
 * last one); per hop (labelled by TTL, never by IP: addresses would make unbounded series)
 * the latest focus statistics as gauges.
 */
#ifndef PW_METRICS_H
#define PW_METRICS_H

#include <stdint.h>

struct pw_metrics;

/* Counting starts at start_us (Unix us). NULL when out of memory. */
struct pw_metrics *pw_metrics_new(int64_t start_us);
void pw_metrics_free(struct pw_metrics *m);

/* Escapes a Prometheus label value (\\, \", \n) of s into dst (len bytes, always
 * NUL-terminated; cut at a character boundary when too long). Returns dst. */
char *pw_metrics_label_escape(const char *s, char *dst, size_t len);

#endif
