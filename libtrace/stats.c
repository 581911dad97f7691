/* PingWatcher — focus statistics over a window of samples of one hop. */
#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void pw_stats_compute(const int32_t *rtt_us, size_t n, struct pw_stats *out)
{
    uint64_t sum_us = 0, jitter_sum_us = 0;
    uint32_t answered = 0;
    int32_t min_us = INT32_MAX, max_us = 0, prev_us = -1;

    memset(out, 0, sizeof(*out));
    if (!rtt_us || n == 0)
        return;

    /* A focus window is "the last N samples", so an absurdly long array keeps its newest part
     * rather than wrapping the 32-bit counters. */
    if (n > UINT32_MAX) {
        rtt_us += n - UINT32_MAX;
        n = UINT32_MAX;
    }
    out->sent = (uint32_t)n;

    /* Sums stay in integer microseconds: exact, and a uint64_t cannot overflow with at most
     * 2^32 values below 2^31. Any negative value counts as lost, not only PW_RTT_LOST, so a
     * corrupt record can never turn into a latency. */
    for (size_t i = 0; i < n; i++) {
        int32_t v = rtt_us[i];

        if (v < 0) {
            out->lost++;
            continue;
        }
        answered++;
        sum_us += (uint64_t)v;
        if (v < min_us)
            min_us = v;
        if (v > max_us)
            max_us = v;
        /* Jitter compares neighbours among answered samples: a loss between two answers
         * neither breaks the pair nor counts as a jump to 0. */
        if (prev_us >= 0)
            jitter_sum_us += (uint64_t)(v > prev_us ? v - prev_us : prev_us - v);
        prev_us = v;
    }

    /* Integer numerator, one division: 7 of 10 gives exactly 70.0. */
    out->loss_pct = 100.0 * (double)out->lost / (double)out->sent;

    out->cur_lost = rtt_us[n - 1] < 0;
    if (!out->cur_lost)
        out->cur_ms = (double)rtt_us[n - 1] / 1000.0;

    if (answered == 0)
        return;

    double mean_us = (double)sum_us / (double)answered;
    double sq_sum = 0.0;

    /* Two passes (mean first, then squared deviations) avoid the cancellation of
     * sum(x^2) - n * mean^2 when the spread is small against the mean. */
    for (size_t i = 0; i < n; i++) {
        if (rtt_us[i] < 0)
            continue;
        double dev = (double)rtt_us[i] - mean_us;
        sq_sum += dev * dev;
    }

    out->has_latency = true;
    out->avg_ms = mean_us / 1000.0;
    out->min_ms = (double)min_us / 1000.0;
    out->max_ms = (double)max_us / 1000.0;
    out->stddev_ms = sqrt(sq_sum / (double)answered) / 1000.0;
    if (answered >= 2)
        out->jitter_ms = (double)jitter_sum_us / (double)(answered - 1) / 1000.0;
}

const char *pw_stats_fmt_ms(double ms, bool valid, bool lost, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    if (lost) {
        snprintf(buf, len, "ERR");
    } else if (!valid || !isfinite(ms)) {
        snprintf(buf, len, "-");
    } else {
        /* A tiny negative value (clock step, rounding) would print as "-0.0". */
        if (ms < 0.0 && ms > -0.05)
            ms = 0.0;
        snprintf(buf, len, "%.1f", ms);
    }
    return buf;
}
