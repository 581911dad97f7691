/* PingWatcher — bounded number parsing for every input from outside (command line, config
 * file, control socket, HTTP parameters). Each parser takes the whole text (no trailing
 * garbage, no empty string), a range, and a name used in the error message. */
#ifndef PW_NUM_H
#define PW_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Parses a decimal integer in [min, max]. Returns 0, or PW_E_RANGE with err set to e.g.
 * "max hops must be a whole number between 1 and 64 (got 'x')". */
int pw_num_parse_i64(const char *text, int64_t min, int64_t max, const char *what, int64_t *out,
                     char *err, size_t errlen);

/* Parses a finite decimal number in [min, max] (no hex, no inf/nan). Returns 0 or PW_E_RANGE
 * with err set to e.g. "interval must be between 0.01 and 86400 (got -3)". */
int pw_num_parse_double(const char *text, double min, double max, const char *what, double *out,
                        char *err, size_t errlen);

#endif
