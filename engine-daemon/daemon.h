/* PingWatcher — pingwatcherd: continuous monitoring of many targets into the LMDB store.
 *
 * One process, one epoll loop: the trace engine's capture descriptor, a timerfd armed for the
 * next deadline (engine, store flush, housekeeping, DNS), the c-ares descriptors of reverse
 * and forward DNS, the control socket and its clients, and a signalfd for SIGTERM, SIGINT
 * (flush and exit) and SIGHUP (reload the configuration file).
 */
#ifndef PWD_DAEMON_H
#define PWD_DAEMON_H

#include <stddef.h>

struct pwd_daemon;

struct pwd_daemon_opts {
    const char *config_path;  /* required */
    const char *db_path;      /* overrides "database"; NULL = from the file */
    const char *control_path; /* overrides "control.path"; NULL = from the file */
    int log_level;            /* -1 = from the file */
};

/* Loads the configuration, opens the store, the control socket and the engine, drops
 * privileges and starts the targets. Returns NULL with a reason in err (already logged when
 * the log was set up); *exit_code tells main() what to exit with (2: configuration error,
 * 1: anything else). */
struct pwd_daemon *pwd_daemon_new(const struct pwd_daemon_opts *opts, int *exit_code, char *err,
                                  size_t errlen);

/* Runs the loop until SIGTERM/SIGINT. Returns 0, or -errno after a fatal loop error. */
int pwd_daemon_run(struct pwd_daemon *d);

/* Flushes the store and frees everything. Accepts NULL. */
void pwd_daemon_free(struct pwd_daemon *d);

#endif
