/* PingWatcher — bounded number parsing. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "num.h"

/* Text shown in messages: the input cut short, so a huge argument cannot flood a log. */
static const char *shown(const char *text, char *buf, size_t len)
{
    size_t n = strnlen(text, len - 1);

    memcpy(buf, text, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] == 0x7f)
            buf[i] = '?';
    return buf;
}

int pw_num_parse_i64(const char *text, int64_t min, int64_t max, const char *what, int64_t *out,
                     char *err, size_t errlen)
{
    char show[40];
    char *end = NULL;
    long long v;

    errno = 0;
    if (!text || !*text || strspn(text, " \t\n") != 0)
        goto bad;
    v = strtoll(text, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    snprintf(err, errlen, "%s must be a whole number between %lld and %lld (got '%s')", what,
             (long long)min, (long long)max, text ? shown(text, show, sizeof(show)) : "");
    return PW_E_RANGE;
}

int pw_num_parse_double(const char *text, double min, double max, const char *what, double *out,
                        char *err, size_t errlen)
{
    char show[40];
    char *end = NULL;
    double v;

    errno = 0;
    /* strtod accepts hex, "inf" and "nan": allow only digits, one dot, sign and exponent. */
    if (!text || !*text || text[strspn(text, "0123456789.+-eE")] != '\0')
        goto bad;
    v = strtod(text, &end);
    if (errno || *end != '\0' || !isfinite(v) || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    snprintf(err, errlen, "%s must be between %g and %g (got '%s')", what, min, max,
             text ? shown(text, show, sizeof(show)) : "");
    return PW_E_RANGE;
}
