/* PingWatcher — time parsing and formatting (see timefmt.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "num.h"
#include "timefmt.h"

/* Longest time text looked at; anything longer is not a time. */
#define TEXT_MAX 40

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
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dm[m - 1];
}

static int parse_rfc3339(const char *s, int64_t *out_us)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, ndig = 0;
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
        /* Digits past the microsecond are read and dropped (at most 9 in all). */
        for (; *p >= '0' && *p <= '9'; p++) {
            if (++ndig > 9)
                return -1;
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

static void shown(const char *text, char *buf, size_t len)
{
    size_t n = text ? strnlen(text, len - 1) : 0;

    memcpy(buf, text ? text : "", n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] >= 0x7f)
            buf[i] = '?';
}

int pw_timefmt_parse(const char *text, const char *what, int64_t *out_us, char *err, size_t errlen)
{
    char show[TEXT_MAX + 1], scratch[8];
    double secs;
    int64_t us;

    if (!text || !*text || strnlen(text, TEXT_MAX + 1) > TEXT_MAX)
        goto bad;
    if (text[strspn(text, "0123456789.")] == '\0') {
        /* Only digits and a dot: Unix seconds. Digits alone past year 9999 are most likely
         * milliseconds: say so. */
        if (pw_num_parse_double(text, 0, (double)(PW_TIMEFMT_MAX_US / 1000000), what, &secs,
                                scratch, sizeof(scratch)) < 0) {
            shown(text, show, sizeof(show));
            snprintf(err, errlen,
                     "%s must be Unix seconds (up to 253402300799) or an RFC 3339 time such as "
                     "2024-05-01T12:00:00Z (got '%s'%s)",
                     what, show, strlen(text) >= 13 ? "; milliseconds?" : "");
            return PW_E_RANGE;
        }
        *out_us = (int64_t)(secs * 1e6 + 0.5);
        return 0;
    }
    if (parse_rfc3339(text, &us) < 0 || us < 0 || us > PW_TIMEFMT_MAX_US)
        goto bad;
    *out_us = us;
    return 0;
bad:
    shown(text, show, sizeof(show));
    snprintf(err, errlen,
             "%s must be Unix seconds or an RFC 3339 time such as 2024-05-01T12:00:00Z "
             "(got '%s')",
             what, show);
    return PW_E_RANGE;
}

int pw_timefmt_parse_duration(const char *text, const char *what, int64_t min_us, int64_t max_us,
                              int64_t *out_us, char *err, size_t errlen)
{
    char num[TEXT_MAX + 1], show[TEXT_MAX + 1], scratch[8];
    size_t n = text ? strnlen(text, TEXT_MAX + 1) : 0;
    double v, unit = 1e6;

    if (n == 0 || n > TEXT_MAX)
        goto bad;
    memcpy(num, text, n);
    num[n] = '\0';
    switch (num[n - 1]) {
    case 's':
        unit = 1e6;
        num[--n] = '\0';
        break;
    case 'm':
        unit = 60e6;
        num[--n] = '\0';
        break;
    case 'h':
        unit = 3600e6;
        num[--n] = '\0';
        break;
    case 'd':
        unit = 86400e6;
        num[--n] = '\0';
        break;
    default:
        break;
    }
    if (n == 0 || num[strspn(num, "0123456789.")] != '\0')
        goto bad;
    if (pw_num_parse_double(num, 0, 1e12, what, &v, scratch, sizeof(scratch)) < 0)
        goto bad;
    v *= unit;
    if (v < (double)min_us || v > (double)max_us)
        goto bad;
    *out_us = (int64_t)(v + 0.5);
    return 0;
bad:
    shown(text, show, sizeof(show));
    snprintf(err, errlen,
             "%s must be a duration between %g and %g s, in seconds or with a unit s, m, h or d "
             "(got '%s')",
             what, (double)min_us / 1e6, (double)max_us / 1e6, show);
    return PW_E_RANGE;
}

int64_t pw_timefmt_ms(int64_t us)
{
    return us >= 0 ? us / 1000 : -((-us + 999) / 1000);
}

static void two(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* RFC 3339 UTC with `digits` (3 or 6) fraction digits. */
static const char *format(int64_t us, unsigned digits, char *buf, size_t len)
{
    char t[PW_TIMEFMT_STRLEN] = "0000-00-00T00:00:00.";
    int64_t secs, days, rem;
    unsigned m, d, frac, div = 100000;
    size_t n = 20;
    int y;

    if (us < 0)
        us = 0;
    if (us > PW_TIMEFMT_MAX_US + 999999)
        us = PW_TIMEFMT_MAX_US + 999999;
    secs = us / 1000000;
    days = secs / 86400;
    rem = secs % 86400;
    civil_from_days(days, &y, &m, &d);
    /* By hand rather than snprintf: timelines format thousands of these per answer. */
    two(t, (unsigned)y / 100);
    two(t + 2, (unsigned)y % 100);
    two(t + 5, m);
    two(t + 8, d);
    two(t + 11, (unsigned)(rem / 3600));
    two(t + 14, (unsigned)(rem / 60 % 60));
    two(t + 17, (unsigned)(rem % 60));
    frac = (unsigned)(us % 1000000);
    for (unsigned i = 0; i < digits; i++, div /= 10)
        t[n++] = (char)('0' + frac / div % 10);
    t[n++] = 'Z';
    t[n++] = '\0';
    if (len >= n) {
        memcpy(buf, t, n);
    } else if (len > 0) {
        memcpy(buf, t, len - 1);
        buf[len - 1] = '\0';
    }
    return buf;
}

const char *pw_timefmt_rfc3339(int64_t us, char *buf, size_t len)
{
    return format(us, 3, buf, len);
}

const char *pw_timefmt_rfc3339_us(int64_t us, char *buf, size_t len)
{
    return format(us, 6, buf, len);
}
