/* libFuzzer target for pingwatcherd's control protocol: pwd_request_parse() takes untrusted
 * lines from any local client. Besides memory errors it checks what a parse promises: an error
 * comes with a message, a success with a known command and bounded, NUL-terminated strings,
 * and either way a response line can be built. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine-daemon/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t cap)
{
    if (strnlen(s, cap) == cap)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pwd_request req;
    char err[600];
    char *copy = malloc(size ? size : 1);
    char *line;
    int rc;

    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    err[0] = '\0';
    rc = pwd_request_parse(copy, size, &req, err, sizeof(err));
    if (rc < 0) {
        if (!err[0] || strnlen(err, sizeof(err)) == sizeof(err))
            abort();
        line = pwd_response_error(PWD_ERR_INVALID, err);
    } else {
        if ((unsigned)req.cmd >= PWD_CMD_COUNT)
            abort();
        check_str(req.host, sizeof(req.host));
        check_str(req.label, sizeof(req.label));
        check_str(req.config, sizeof(req.config));
        check_str(req.name, sizeof(req.name));
        check_str(req.text, sizeof(req.text));
        check_str(req.author, sizeof(req.author));
        if ((req.fields & PWD_F_HOST) && !pwd_config_host_ok(req.host))
            abort();
        if ((req.opts.mask & PWD_OPT_MAX_HOPS) &&
            (req.opts.v.max_hops < 1 || req.opts.v.max_hops > PW_TRACE_MAX_HOPS))
            abort();
        if ((req.opts.mask & PWD_OPT_INTERVAL) &&
            (req.opts.v.interval_ms < 10 || req.opts.v.interval_ms > 86400000))
            abort();
        line = pwd_response_ok(NULL);
    }
    /* A response is one line: no newline before its end. */
    if (line && strchr(line, '\n') != line + strlen(line) - 1)
        abort();
    free(line);
    free(copy);
    return 0;
}
