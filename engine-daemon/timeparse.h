/* PingWatcher — times given by people and programs: Unix seconds or RFC 3339, both ways. */
#ifndef PWD_TIMEPARSE_H
#define PWD_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Latest time accepted: 9999-12-31T23:59:59Z. */
#define PWD_TIME_MAX_US 253402300799000000LL

/* Parses Unix seconds ("1700000000", "1700000000.25") or RFC 3339
 * ("2024-05-01T12:00:00Z", "2024-05-01T14:00:00.5+02:00", 't'/'z' and a space for 'T'
 * accepted) into Unix microseconds in [0, PWD_TIME_MAX_US]. Returns 0, or PW_E_RANGE with a
 * reason naming `what` in err. */
int pwd_time_parse(const char *text, const char *what, int64_t *out_us, char *err, size_t errlen);

/* Formats Unix microseconds as RFC 3339 UTC with microseconds
 * ("2024-05-01T12:00:00.000000Z") into buf (at least PWD_TIME_STRLEN bytes). Returns buf. */
#define PWD_TIME_STRLEN 32
const char *pwd_time_format(int64_t us, char *buf, size_t len);

#endif
