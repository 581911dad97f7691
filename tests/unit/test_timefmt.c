/* Unit tests of time parsing and formatting in the FastCGI app. */
#include <string.h>

#include "check.h"
#include "error.h"
#include "timefmt.h"

static void test_parse(void)
{
    char err[256];
    int64_t us = 0;

    CHECK_INT(pw_timefmt_parse("1714564800", "start", &us, err, sizeof(err)), 0);
    CHECK_INT(us, 1714564800000000LL);
    CHECK_INT(pw_timefmt_parse("1714564800.25", "start", &us, err, sizeof(err)), 0);
    CHECK_INT(us, 1714564800250000LL);
    CHECK_INT(pw_timefmt_parse("2024-05-01T12:00:00Z", "start", &us, err, sizeof(err)), 0);
    CHECK_INT(us, 1714564800000000LL);
    CHECK_INT(pw_timefmt_parse("2024-05-01T14:00:00.5+02:00", "start", &us, err, sizeof(err)), 0);
    CHECK_INT(us, 1714564800500000LL);
    CHECK_INT(pw_timefmt_parse("2024-05-01 12:00:00z", "start", &us, err, sizeof(err)), 0);
    CHECK_INT(pw_timefmt_parse("2024-02-29T00:00:00Z", "t", &us, err, sizeof(err)), 0);
    CHECK_INT(pw_timefmt_parse("1970-01-01T00:00:00Z", "t", &us, err, sizeof(err)), 0);
    CHECK_INT(us, 0);
    /* Refused: negative, hex, out-of-range dates, no zone, milliseconds, garbage. */
    CHECK_INT(pw_timefmt_parse("-5", "start", &us, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse("0x10", "start", &us, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse("2023-02-29T00:00:00Z", "t", &us, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse("2024-13-01T00:00:00Z", "t", &us, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse("2024-05-01T12:00:00", "t", &us, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse("1969-12-31T23:59:59Z", "t", &us, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse("1714564800000", "start", &us, err, sizeof(err)), PW_E_RANGE);
    CHECK(strstr(err, "milliseconds?") != NULL);
    CHECK_INT(pw_timefmt_parse("99999999999999999999999999", "t", &us, err, sizeof(err)),
              PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse("now'; DROP TABLE", "t", &us, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse("", "t", &us, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse("1.2.3", "t", &us, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse("2024-05-01T12:00:00.1234567890Z", "t", &us, err, sizeof(err)),
              PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse("2024-05-01T12:00:00Z\n", "t", &us, err, sizeof(err)), PW_E_RANGE);
    CHECK(strchr(err, '\n') == NULL);
}

static void test_duration(void)
{
    char err[256];
    int64_t us;

    CHECK_INT(pw_timefmt_parse_duration("60s", "r", 1000000, 86400000000LL, &us, err, sizeof(err)),
              0);
    CHECK_INT(us, 60000000);
    CHECK_INT(pw_timefmt_parse_duration("5m", "r", 1, 86400000000LL, &us, err, sizeof(err)), 0);
    CHECK_INT(us, 300000000);
    CHECK_INT(pw_timefmt_parse_duration("1h", "r", 1, 86400000000LL, &us, err, sizeof(err)), 0);
    CHECK_INT(us, 3600000000LL);
    CHECK_INT(pw_timefmt_parse_duration("2.5", "r", 1, 86400000000LL, &us, err, sizeof(err)), 0);
    CHECK_INT(us, 2500000);
    CHECK_INT(pw_timefmt_parse_duration("2d", "r", 1, 86400000000LL, &us, err, sizeof(err)),
              PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse_duration("-1s", "r", 0, 86400000000LL, &us, err, sizeof(err)),
              PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse_duration("s", "r", 0, 86400000000LL, &us, err, sizeof(err)),
              PW_E_RANGE);
    CHECK_INT(pw_timefmt_parse_duration("1w", "r", 0, 86400000000LL, &us, err, sizeof(err)),
              PW_E_RANGE);
}

static void test_format(void)
{
    char buf[PW_TIMEFMT_STRLEN];

    CHECK_STR(pw_timefmt_rfc3339(1714564800250999LL, buf, sizeof(buf)), "2024-05-01T12:00:00.250Z");
    CHECK_STR(pw_timefmt_rfc3339(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    CHECK_STR(pw_timefmt_rfc3339(951782400000000LL, buf, sizeof(buf)), "2000-02-29T00:00:00.000Z");
    CHECK_STR(pw_timefmt_rfc3339(PW_TIMEFMT_MAX_US, buf, sizeof(buf)), "9999-12-31T23:59:59.000Z");
    CHECK_STR(pw_timefmt_rfc3339(-5, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    CHECK_INT(pw_timefmt_ms(1714564800250999LL), 1714564800250LL);
    CHECK_INT(pw_timefmt_ms(-1), -1);
    /* Every day of 400 years round-trips through text. */
    for (int64_t d = 0; d < 146097; d += 1) {
        char err[128];
        int64_t us = d * 86400 * 1000000LL + 3723 * 1000000LL, back;

        pw_timefmt_rfc3339(us, buf, sizeof(buf));
        if (pw_timefmt_parse(buf, "t", &back, err, sizeof(err)) != 0 || back != us) {
            CHECK_STR(buf, "round trip");
            break;
        }
    }
}

int main(void)
{
    RUN(test_parse);
    RUN(test_duration);
    RUN(test_format);
    return check_exit();
}
