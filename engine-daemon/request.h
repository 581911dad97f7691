/* PingWatcher — the control protocol's requests and responses (engine-daemon/CONTROL.md).
 *
 * A request is one line of JSON: {"cmd": "target.add", "args": {...}}. pwd_request_parse()
 * checks everything that does not need the daemon's state — JSON syntax, the command, that
 * every field is known, has the right type and is in range, and that required fields are
 * there — and turns the line into a struct pwd_request. Whether an id exists or a host
 * resolves is for the daemon. A pure function of its input, safe on any bytes (fuzzed).
 */
#ifndef PWD_REQUEST_H
#define PWD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

/* Longest request line accepted, newline excluded. */
#define PWD_REQUEST_MAX 65536

enum pwd_cmd {
    PWD_CMD_TARGET_ADD,
    PWD_CMD_TARGET_UPDATE,
    PWD_CMD_TARGET_REMOVE,
    PWD_CMD_TARGET_PAUSE,
    PWD_CMD_TARGET_RESUME,
    PWD_CMD_TARGET_LIST,
    PWD_CMD_CONFIG_CREATE,
    PWD_CMD_CONFIG_UPDATE,
    PWD_CMD_CONFIG_DELETE,
    PWD_CMD_CONFIG_APPLY,
    PWD_CMD_SESSION_CREATE,
    PWD_CMD_SESSION_DELETE,
    PWD_CMD_COMMENT_ADD,
    PWD_CMD_COMMENT_DELETE,
    PWD_CMD_STATS,
    PWD_CMD_COUNT
};

/* Which fields a request carried. */
enum {
    PWD_F_ID = 1u << 0,
    PWD_F_TARGET = 1u << 1,
    PWD_F_HOST = 1u << 2,
    PWD_F_LABEL = 1u << 3,
    PWD_F_CONFIG = 1u << 4,
    PWD_F_NAME = 1u << 5,
    PWD_F_START = 1u << 6,
    PWD_F_END = 1u << 7,
    PWD_F_TIME = 1u << 8,
    PWD_F_TEXT = 1u << 9,
    PWD_F_PAUSED = 1u << 10,
    PWD_F_RESET = 1u << 11,
    PWD_F_AUTHOR = 1u << 12,
};

struct pwd_request {
    enum pwd_cmd cmd;
    uint32_t fields; /* PWD_F_* present */
    uint32_t id;     /* target, session or comment id ("id") */
    uint32_t target; /* "target": a target id */
    char host[PW_STORE_HOST_MAX + 1];
    char label[PW_STORE_LABEL_MAX + 1];
    char config[PW_STORE_NAME_MAX + 1]; /* named configuration to use */
    char name[PW_STORE_LABEL_MAX + 1];  /* session name, or configuration name */
    char text[PW_STORE_TEXT_MAX + 1];
    char author[PW_STORE_NAME_MAX + 1];
    int64_t start_us, end_us, time_us;
    bool paused;
    bool reset;
    struct pwd_opt_set opts; /* trace options given */
};

/* Error codes of responses. */
#define PWD_ERR_INVALID "invalid_argument"
#define PWD_ERR_NOT_FOUND "not_found"
#define PWD_ERR_CONFLICT "conflict"
#define PWD_ERR_UNAVAILABLE "unavailable"
#define PWD_ERR_INTERNAL "internal"

/* Parses and validates one request line (line[0..len), no newline; need not be
 * NUL-terminated). Returns 0 and fills req, or PW_E_MALFORMED / PW_E_RANGE with a one-line
 * reason in err (the response code is then PWD_ERR_INVALID). */
int pwd_request_parse(const char *line, size_t len, struct pwd_request *req, char *err,
                      size_t errlen);

/* The command's name ("target.add"). */
const char *pwd_cmd_name(enum pwd_cmd cmd);

/* Response lines, newline-terminated, malloc'd (caller frees); NULL when out of memory.
 * result may be NULL for {} and is consumed. */
char *pwd_response_ok(cJSON *result);
char *pwd_response_error(const char *code, const char *message);

#endif
