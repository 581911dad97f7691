/* Unit tests for libtrace/stats.c: focus statistics on hand-computed windows. */
#include "check.h"

#include <math.h>

#include "stats.h"

#define L PW_RTT_LOST
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Tolerance for values that are not exact in binary; the computations are exact in integer
 * microseconds up to one final division, so anything looser would hide a real error. */
#define TOL 1e-9

static void test_empty(void)
{
    struct pw_stats s;

    memset(&s, 0x5a, sizeof(s));
    pw_stats_compute(NULL, 0, &s);
    CHECK_INT(s.sent, 0);
    CHECK_INT(s.lost, 0);
    CHECK(s.loss_pct == 0.0);
    CHECK(!s.has_latency);
    CHECK(!s.cur_lost);
    CHECK(s.avg_ms == 0.0);
    CHECK(s.jitter_ms == 0.0);
}

static void test_all_lost(void)
{
    const int32_t w[] = {L, L, L, L};
    struct pw_stats s;

    pw_stats_compute(w, ARRAY_LEN(w), &s);
    CHECK_INT(s.sent, 4);
    CHECK_INT(s.lost, 4);
    CHECK(s.loss_pct == 100.0);
    CHECK(!s.has_latency);
    CHECK(s.cur_lost);
    /* Lost samples are never a latency of 0. */
    CHECK(s.avg_ms == 0.0 && s.min_ms == 0.0 && s.max_ms == 0.0);
    CHECK(s.jitter_ms == 0.0);
}

static void test_none_lost(void)
{
    const int32_t w[] = {10000, 12000, 11000, 15000};
    struct pw_stats s;

    pw_stats_compute(w, ARRAY_LEN(w), &s);
    CHECK_INT(s.sent, 4);
    CHECK_INT(s.lost, 0);
    CHECK(s.loss_pct == 0.0);
    CHECK(s.has_latency);
    CHECK(s.avg_ms == 12.0);
    CHECK(s.min_ms == 10.0);
    CHECK(s.max_ms == 15.0);
    /* deviations -2, 0, -1, 3 ms: variance 14 / 4 = 3.5 */
    CHECK_NEAR(s.stddev_ms, sqrt(3.5), TOL);
    /* |2| + |-1| + |4| = 7 ms over 3 pairs */
    CHECK_NEAR(s.jitter_ms, 7.0 / 3.0, TOL);
    CHECK(!s.cur_lost);
    CHECK(s.cur_ms == 15.0);
}

static void test_last_lost(void)
{
    const int32_t w[] = {10000, 20000, L};
    struct pw_stats s;

    pw_stats_compute(w, ARRAY_LEN(w), &s);
    CHECK_INT(s.sent, 3);
    CHECK_INT(s.lost, 1);
    CHECK(s.loss_pct == 100.0 / 3.0);
    CHECK(s.has_latency);
    CHECK(s.avg_ms == 15.0);
    CHECK(s.min_ms == 10.0);
    CHECK(s.max_ms == 20.0);
    CHECK(s.stddev_ms == 5.0);
    CHECK(s.jitter_ms == 10.0);
    CHECK(s.cur_lost);
}

static void test_single(void)
{
    const int32_t one[] = {7500};
    const int32_t one_lost[] = {L};
    const int32_t zero[] = {0};
    struct pw_stats s;

    pw_stats_compute(one, 1, &s);
    CHECK_INT(s.sent, 1);
    CHECK_INT(s.lost, 0);
    CHECK(s.has_latency);
    CHECK(s.avg_ms == 7.5 && s.min_ms == 7.5 && s.max_ms == 7.5 && s.cur_ms == 7.5);
    CHECK(s.stddev_ms == 0.0);
    CHECK(s.jitter_ms == 0.0);
    CHECK(!s.cur_lost);

    pw_stats_compute(one_lost, 1, &s);
    CHECK_INT(s.sent, 1);
    CHECK_INT(s.lost, 1);
    CHECK(s.loss_pct == 100.0);
    CHECK(!s.has_latency);
    CHECK(s.cur_lost);

    /* A real 0 µs answer (loopback) is a latency, unlike a loss. */
    pw_stats_compute(zero, 1, &s);
    CHECK_INT(s.lost, 0);
    CHECK(s.has_latency);
    CHECK(!s.cur_lost);
    CHECK(s.cur_ms == 0.0 && s.min_ms == 0.0);
}

static void test_jitter_skips_losses(void)
{
    const int32_t w[] = {10000, L, 30000, L, L, 20000};
    struct pw_stats s;

    pw_stats_compute(w, ARRAY_LEN(w), &s);
    CHECK_INT(s.sent, 6);
    CHECK_INT(s.lost, 3);
    CHECK(s.loss_pct == 50.0);
    CHECK(s.avg_ms == 20.0);
    CHECK(s.min_ms == 10.0);
    CHECK(s.max_ms == 30.0);
    /* answered 10, 30, 20: |20| + |10| over 2 pairs; a loss is not a jump to 0 */
    CHECK(s.jitter_ms == 15.0);
    /* deviations -10, 10, 0: variance 200 / 3 */
    CHECK_NEAR(s.stddev_ms, sqrt(200.0 / 3.0), TOL);
    CHECK(!s.cur_lost);
    CHECK(s.cur_ms == 20.0);
}

static void test_stddev_precision(void)
{
    /* A large mean with a 1 µs spread: sum(x^2) - n * mean^2 would cancel badly here. */
    const int32_t w[] = {1000000, 1000001, 1000002};
    const int32_t big[] = {INT32_MAX, INT32_MAX, INT32_MAX - 2};
    struct pw_stats s;

    pw_stats_compute(w, ARRAY_LEN(w), &s);
    CHECK(s.avg_ms == 1000.001);
    CHECK_NEAR(s.stddev_ms, sqrt(2.0 / 3.0) / 1000.0, 1e-15);
    CHECK_NEAR(s.jitter_ms, 0.001, 1e-15);

    pw_stats_compute(big, ARRAY_LEN(big), &s);
    CHECK_NEAR(s.avg_ms, ((double)INT32_MAX - 2.0 / 3.0) / 1000.0, 1e-9);
    CHECK_NEAR(s.stddev_ms, sqrt(8.0 / 9.0) / 1000.0, 1e-12);
    CHECK(s.max_ms == (double)INT32_MAX / 1000.0);
}

/* The caller takes the last N samples of a longer series; stats only sees the sub-array. */
static void test_focus_windows(void)
{
    int32_t series[40];
    const int32_t last10[] = {11000, 11000, L, 11000, 11000, 11000, 11000, 11000, 11000, 13000};
    struct pw_stats s;

    /* 0..14: a bad period at 50 ms with two losses; 15..29: 10/12 ms alternating; 30..39. */
    for (int i = 0; i < 15; i++)
        series[i] = (i == 3 || i == 7) ? L : 50000;
    for (int i = 15; i < 30; i++)
        series[i] = (i - 15) % 2 ? 12000 : 10000;
    memcpy(series + 30, last10, sizeof(last10));

    /* last 10: 8 x 11 ms, 1 x 13 ms, 1 lost */
    pw_stats_compute(series + 30, 10, &s);
    CHECK_INT(s.sent, 10);
    CHECK_INT(s.lost, 1);
    CHECK(s.loss_pct == 10.0);
    CHECK_NEAR(s.avg_ms, 101.0 / 9.0, TOL);
    CHECK(s.min_ms == 11.0);
    CHECK(s.max_ms == 13.0);
    CHECK_NEAR(s.stddev_ms, sqrt(32.0) / 9.0, TOL);
    CHECK_NEAR(s.jitter_ms, 2.0 / 8.0, TOL);
    CHECK(!s.cur_lost);
    CHECK(s.cur_ms == 13.0);

    /* last 25: adds 8 x 10 ms and 7 x 12 ms; jitter 14 x 2 + 1 (10 -> 11) + 2 = 31 over 23 */
    pw_stats_compute(series + 15, 25, &s);
    CHECK_INT(s.sent, 25);
    CHECK_INT(s.lost, 1);
    CHECK(s.loss_pct == 4.0);
    CHECK_NEAR(s.avg_ms, 265.0 / 24.0, TOL);
    CHECK(s.min_ms == 10.0);
    CHECK(s.max_ms == 13.0);
    CHECK_NEAR(s.stddev_ms, sqrt(455.0) / 24.0, TOL);
    CHECK_NEAR(s.jitter_ms, 31.0 / 23.0, TOL);
    CHECK(s.cur_ms == 13.0);

    /* ALL: adds 13 x 50 ms and 2 losses; jitter adds the 50 -> 10 step: 71 over 36 */
    pw_stats_compute(series, 40, &s);
    CHECK_INT(s.sent, 40);
    CHECK_INT(s.lost, 3);
    CHECK(s.loss_pct == 7.5);
    CHECK_NEAR(s.avg_ms, 915.0 / 37.0, TOL);
    CHECK(s.min_ms == 10.0);
    CHECK(s.max_ms == 50.0);
    CHECK_NEAR(s.stddev_ms, sqrt(474240.0) / 37.0, TOL);
    CHECK_NEAR(s.jitter_ms, 71.0 / 36.0, TOL);
    CHECK(s.cur_ms == 13.0);
}

static void test_loss_pct_rounding(void)
{
    int32_t w[10];
    struct pw_stats s;

    /* 100 * lost / sent with one rounding: the correctly rounded quotient, so 1/3 and 2/6 give
     * the same double and whole percentages are exact. */
    const int32_t third[] = {L, 1000, 1000};
    pw_stats_compute(third, 3, &s);
    CHECK(s.loss_pct == 100.0 / 3.0);
    const int32_t sixth2[] = {1000, L, 1000, L, 1000, 1000};
    pw_stats_compute(sixth2, 6, &s);
    CHECK(s.loss_pct == 100.0 / 3.0);
    const int32_t five_sixth[] = {L, L, L, L, L, 1000};
    pw_stats_compute(five_sixth, 6, &s);
    CHECK(s.loss_pct == 500.0 / 6.0);

    for (int lost = 0; lost <= 10; lost++) {
        for (int i = 0; i < 10; i++)
            w[i] = i < lost ? L : 2000;
        pw_stats_compute(w, 10, &s);
        CHECK(s.loss_pct == 10.0 * lost);
    }

    /* Any negative RTT is a loss, never a latency. */
    const int32_t odd[] = {-5, 3000, INT32_MIN};
    pw_stats_compute(odd, 3, &s);
    CHECK_INT(s.lost, 2);
    CHECK(s.min_ms == 3.0);
    CHECK(s.cur_lost);
}

static void test_fmt(void)
{
    char buf[16];
    char tiny[3];

    CHECK_STR(pw_stats_fmt_ms(12.345, true, false, buf, sizeof(buf)), "12.3");
    CHECK_STR(pw_stats_fmt_ms(0.05, true, false, buf, sizeof(buf)), "0.1");
    CHECK_STR(pw_stats_fmt_ms(0.0, true, false, buf, sizeof(buf)), "0.0");
    CHECK_STR(pw_stats_fmt_ms(-0.01, true, false, buf, sizeof(buf)), "0.0");
    CHECK_STR(pw_stats_fmt_ms(1234.96, true, false, buf, sizeof(buf)), "1235.0");
    CHECK_STR(pw_stats_fmt_ms(12.3, true, true, buf, sizeof(buf)), "ERR");
    CHECK_STR(pw_stats_fmt_ms(0.0, false, true, buf, sizeof(buf)), "ERR");
    CHECK_STR(pw_stats_fmt_ms(12.3, false, false, buf, sizeof(buf)), "-");
    CHECK_STR(pw_stats_fmt_ms(NAN, true, false, buf, sizeof(buf)), "-");
    CHECK_STR(pw_stats_fmt_ms(12.3, true, false, tiny, sizeof(tiny)), "12");
    CHECK(pw_stats_fmt_ms(1.0, true, false, buf, 0) == buf);

    /* The whole path from a window to the table cells. */
    const int32_t w[] = {12345, 23456, L};
    struct pw_stats s;
    pw_stats_compute(w, 3, &s);
    CHECK_STR(pw_stats_fmt_ms(s.cur_ms, s.sent > 0, s.cur_lost, buf, sizeof(buf)), "ERR");
    CHECK_STR(pw_stats_fmt_ms(s.avg_ms, s.has_latency, false, buf, sizeof(buf)), "17.9");
    CHECK_STR(pw_stats_fmt_ms(s.min_ms, s.has_latency, false, buf, sizeof(buf)), "12.3");
    CHECK_STR(pw_stats_fmt_ms(s.max_ms, s.has_latency, false, buf, sizeof(buf)), "23.5");
    pw_stats_compute(NULL, 0, &s);
    CHECK_STR(pw_stats_fmt_ms(s.avg_ms, s.has_latency, false, buf, sizeof(buf)), "-");
}

int main(void)
{
    RUN(test_empty);
    RUN(test_all_lost);
    RUN(test_none_lost);
    RUN(test_last_lost);
    RUN(test_single);
    RUN(test_jitter_skips_losses);
    RUN(test_stddev_precision);
    RUN(test_focus_windows);
    RUN(test_loss_pct_rounding);
    RUN(test_fmt);
    return check_exit();
}
