/* PingWatcher — client of pingwatcherd's control socket (engine-daemon/CONTROL.md).
 *
 * One call = one connection: connect, send one JSON line {"cmd": ..., "args": {...}}, read one
 * line back, close. Every step has a deadline, so a stuck daemon costs a request at most
 * timeout_ms and never a worker thread for good.
 */
#ifndef PW_CONTROL_H
#define PW_CONTROL_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Longest response line read. */
#define PW_CONTROL_RESPONSE_MAX (1u << 20)

struct pw_control_reply {
    int status;        /* HTTP status for a failure (400, 404, 409, 503, 500); 200 on success */
    char code[32];     /* the daemon's error code, or "unavailable" when it cannot be reached */
    char message[512]; /* what went wrong, for the user */
    cJSON *result;     /* on success: the "result" member (caller frees with cJSON_Delete) */
};

/* Sends cmd with args (taken over and freed; NULL = {}) to the daemon at path and waits up to
 * timeout_ms for the answer. Returns 0 with reply->result set, or -1 with status, code and
 * message filled: 503 "unavailable" when the daemon is not running or does not answer in
 * time; the daemon's own errors mapped invalid_argument→400, not_found→404, conflict→409,
 * unavailable→503, anything else→500. */
int pw_control_call(const char *path, unsigned timeout_ms, const char *cmd, cJSON *args,
                    struct pw_control_reply *reply);

#endif
