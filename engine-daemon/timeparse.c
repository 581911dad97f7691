/* PingWatcher — time parsing and formatting (see timeparse.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "num.h"
#include "timeparse.h"

/* Reads exactly n digits. */
static bool digits(const char **p, unsigned n, int *out)
{
    int v = 0;

    for (unsigned i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

static int parse_rfc3339(const char *s, int64_t *out_us)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    int64_t frac_us = 0, scale = 100000, t;
    const char *p = s;

    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
        !digits(&p, 2, &sec))
        return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
            frac_us += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        oh *= sign;
        om *= sign;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -1;
    if (sec == 60) /* a leap second is the same instant as the next second's start */
        sec = 59;
    t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec -
        (oh * 3600 + om * 60);
    *out_us = t * 1000000 + frac_us;
    return 0;
}

int pwd_time_parse(const char *text, const char *what, int64_t *out_us, char *err, size_t errlen)
{
    char show[48];
    double secs;
    int64_t us;

    if (!text || !*text || strlen(text) > 40)
        goto bad;
    if (strchr(text, '-') == text || (!strchr(text, 'T') && !strchr(text, 't') &&
                                      !strchr(text, ' ') && !strchr(text + 1, '-'))) {
        /* No date separators: Unix seconds. */
        if (pw_num_parse_double(text, 0, (double)(PWD_TIME_MAX_US / 1000000), what, &secs, err,
                                errlen) < 0)
            goto bad;
        *out_us = (int64_t)(secs * 1e6 + 0.5);
        return 0;
    }
    if (parse_rfc3339(text, &us) < 0 || us < 0 || us > PWD_TIME_MAX_US)
        goto bad;
    *out_us = us;
    return 0;
bad:
    snprintf(show, sizeof(show), "%.40s", text ? text : "");
    snprintf(err, errlen,
             "%s must be Unix seconds or an RFC 3339 time such as 2024-05-01T12:00:00Z "
             "(got '%s')",
             what, show);
    return PW_E_RANGE;
}

const char *pwd_time_format(int64_t us, char *buf, size_t len)
{
    time_t secs = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    long frac = (long)(us - (int64_t)secs * 1000000);
    struct tm tm;

    if (!gmtime_r(&secs, &tm)) {
        snprintf(buf, len, "?");
        return buf;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return buf;
}
