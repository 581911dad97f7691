/* PingWatcher — the client side of pingwatcherd's control socket, for the CLI (and anything
 * else that wants one request and its answer). */
#ifndef PW_CTLCLIENT_H
#define PW_CTLCLIENT_H

#include <stddef.h>

/* Connects to the daemon at path, sends request (one JSON object, no newline) and reads the
 * one-line response into *response (malloc'd, newline removed; the caller frees), waiting at
 * most timeout_ms for it. Returns 0, or -errno with a reason in err such as
 * "cannot reach pingwatcherd at /run/pingwatcher/control.sock: No such file or directory". */
int pw_ctl_request(const char *path, const char *request, char **response, int timeout_ms,
                   char *err, size_t errlen);

#endif
