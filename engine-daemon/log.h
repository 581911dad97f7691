/* PingWatcher — pingwatcherd's log: one line per event on stderr, with a level.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with the sd-daemon "<N>" priority
 * prefix so the journal records the level; elsewhere it starts with the level's name. The
 * state lives in a struct the daemon owns and passes around.
 */
#ifndef PWD_LOG_H
#define PWD_LOG_H

#include <stdbool.h>

/* syslog priorities, as sd-daemon(3) prefixes use them. */
enum pwd_log_level {
    PWD_LOG_ERR = 3,
    PWD_LOG_WARNING = 4,
    PWD_LOG_NOTICE = 5,
    PWD_LOG_INFO = 6,
    PWD_LOG_DEBUG = 7,
};

struct pwd_log {
    int level;    /* lines above this priority are dropped */
    bool journal; /* stderr goes to the journal: "<N>" prefixes, no timestamps */
};

/* Sets the level and looks at JOURNAL_STREAM. */
void pwd_log_init(struct pwd_log *l, int level);

/* Parses "error", "warning", "notice", "info" or "debug". Returns 0 or -EINVAL. */
int pwd_log_level_parse(const char *name, int *level);

void pwd_log(const struct pwd_log *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
