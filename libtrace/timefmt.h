/* PingWatcher — times and durations given by people and programs (HTTP parameters, control
 * requests, command-line options) and written back (API answers, CLI output, alert payloads).
 *
 * Accepted: Unix seconds ("1714564800", "1714564800.25") or RFC 3339 ("2024-05-01T12:00:00Z",
 * "2024-05-01T14:00:00.5+02:00"; 't', 'z' and a space for 'T' accepted). Returned: RFC 3339 UTC
 * with milliseconds (the API also writes Unix milliseconds) or microseconds (CLI, alerts).
 */
#ifndef PW_TIMEFMT_H
#define PW_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Latest time accepted: 9999-12-31T23:59:59Z, in Unix microseconds. */
#define PW_TIMEFMT_MAX_US 253402300799000000LL
/* Room for the text pw_timefmt_rfc3339*() write, NUL included ("9999-12-31T23:59:59.999999Z"). */
#define PW_TIMEFMT_STRLEN 32

/* Parses text into Unix microseconds in [0, PW_TIMEFMT_MAX_US]. Returns 0, or PW_E_RANGE with a
 * reason naming `what` in err (a value that looks like milliseconds is called out). */
int pw_timefmt_parse(const char *text, const char *what, int64_t *out_us, char *err, size_t errlen);

/* Parses a duration: plain seconds ("90", "2.5") or a number with a unit s, m, h or d
 * ("60s", "5m", "1h", "7d"), into microseconds in [min_us, max_us]. Returns 0 or PW_E_RANGE. */
int pw_timefmt_parse_duration(const char *text, const char *what, int64_t min_us, int64_t max_us,
                              int64_t *out_us, char *err, size_t errlen);

/* Writes us as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least PW_TIMEFMT_STRLEN bytes); times
 * outside [0, PW_TIMEFMT_MAX_US] are clamped. Returns buf. Does not call gmtime (no locale,
 * no time zone, no lock). */
const char *pw_timefmt_rfc3339(int64_t us, char *buf, size_t len);

/* The same with microseconds: "YYYY-MM-DDTHH:MM:SS.uuuuuuZ". */
const char *pw_timefmt_rfc3339_us(int64_t us, char *buf, size_t len);

/* Unix milliseconds of us, rounded toward minus infinity. */
int64_t pw_timefmt_ms(int64_t us);

#endif
