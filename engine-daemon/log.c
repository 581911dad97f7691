/* PingWatcher — pingwatcherd's log (see log.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const struct {
    const char *name;
    int level;
} levels[] = {
    {"error", PWD_LOG_ERR}, {"warning", PWD_LOG_WARNING}, {"notice", PWD_LOG_NOTICE},
    {"info", PWD_LOG_INFO}, {"debug", PWD_LOG_DEBUG},
};

void pwd_log_init(struct pwd_log *l, int level)
{
    const char *js = getenv("JOURNAL_STREAM");

    l->level = level;
    l->journal = js && *js;
}

int pwd_log_level_parse(const char *name, int *level)
{
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(levels[i].name, name) == 0) {
            *level = levels[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *level_name(int level)
{
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (levels[i].level == level)
            return levels[i].name;
    return "info";
}

void pwd_log(const struct pwd_log *l, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level > l->level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One fprintf per line: stderr is unbuffered, so a line is one write and lines of
     * concurrent writers (none today) would not interleave mid-line. */
    if (l->journal) {
        fprintf(stderr, "<%d>%s\n", level, msg);
    } else {
        struct timespec ts;
        struct tm tm;
        char when[32];

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ldZ pingwatcherd %s: %s\n", when, ts.tv_nsec / 1000000,
                level_name(level), msg);
    }
}
