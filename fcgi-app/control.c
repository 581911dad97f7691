/* PingWatcher — control socket client (see control.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(struct pw_control_reply *reply, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct pw_control_reply *reply, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    reply->status = status;
    snprintf(reply->code, sizeof(reply->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(reply->message, sizeof(reply->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* Waits until fd is ready for events or the deadline passes. 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int64_t left = deadline - now_ms();
        int n;

        if (left <= 0)
            return -ETIMEDOUT;
        n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int status_for(const char *code)
{
    if (strcmp(code, "invalid_argument") == 0)
        return 400;
    if (strcmp(code, "not_found") == 0)
        return 404;
    if (strcmp(code, "conflict") == 0)
        return 409;
    if (strcmp(code, "unavailable") == 0)
        return 503;
    return 500;
}

int pw_control_call(const char *path, unsigned timeout_ms, const char *cmd, cJSON *args,
                    struct pw_control_reply *reply)
{
    int64_t deadline = now_ms() + (timeout_ms ? timeout_ms : 5000);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cJSON *req = NULL, *resp = NULL, *ok, *err;
    char *line = NULL, *in = NULL;
    size_t len, off = 0, inlen = 0, incap = 4096;
    int fd = -1, rc = -1, w;

    memset(reply, 0, sizeof(*reply));
    req = cJSON_CreateObject();
    if (!req || !cJSON_AddStringToObject(req, "cmd", cmd)) {
        cJSON_Delete(args);
        fail(reply, 500, "internal", "out of memory");
        goto out;
    }
    if (!args)
        args = cJSON_CreateObject();
    if (!args || !cJSON_AddItemToObject(req, "args", args)) {
        cJSON_Delete(args);
        fail(reply, 500, "internal", "out of memory");
        goto out;
    }
    line = cJSON_PrintUnformatted(req);
    if (!line) {
        fail(reply, 500, "internal", "out of memory");
        goto out;
    }
    len = strlen(line);
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fail(reply, 503, "unavailable", "the control socket path is too long");
        goto out;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fail(reply, 503, "unavailable", "cannot create a socket: %s", strerror(errno));
        goto out;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        /* A unix socket connects at once, or EAGAIN when the daemon's backlog is full. */
        if (errno != EAGAIN && errno != EINPROGRESS) {
            fail(reply, 503, "unavailable",
                 "pingwatcherd is not reachable at %s (%s): changes cannot be made until it "
                 "runs; reading still works",
                 path, strerror(errno));
            goto out;
        }
        if (wait_fd(fd, POLLOUT, deadline) < 0) {
            fail(reply, 503, "unavailable", "pingwatcherd did not accept the connection in time");
            goto out;
        }
    }
    /* The request line plus its newline. */
    while (off <= len) {
        const char *p = off < len ? line + off : "\n";
        size_t n = off < len ? len - off : 1;
        ssize_t k;

        if ((w = wait_fd(fd, POLLOUT, deadline)) < 0) {
            fail(reply, 503, "unavailable", "pingwatcherd did not take the request in time");
            goto out;
        }
        k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fail(reply, 503, "unavailable", "sending to pingwatcherd failed: %s", strerror(errno));
            goto out;
        }
        off += (size_t)k;
    }
    in = malloc(incap);
    if (!in) {
        fail(reply, 500, "internal", "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t k;

        if (inlen + 1 >= incap) {
            char *bigger;

            if (incap >= PW_CONTROL_RESPONSE_MAX) {
                fail(reply, 500, "internal", "pingwatcherd's answer is longer than %u bytes",
                     PW_CONTROL_RESPONSE_MAX);
                goto out;
            }
            bigger = realloc(in, incap * 2);
            if (!bigger) {
                fail(reply, 500, "internal", "out of memory");
                goto out;
            }
            in = bigger;
            incap *= 2;
        }
        if ((w = wait_fd(fd, POLLIN, deadline)) < 0) {
            fail(reply, 503, "unavailable", "pingwatcherd did not answer within %u ms", timeout_ms);
            goto out;
        }
        k = recv(fd, in + inlen, incap - inlen - 1, 0);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fail(reply, 503, "unavailable", "reading from pingwatcherd failed: %s",
                 strerror(errno));
            goto out;
        }
        if (k == 0) {
            fail(reply, 503, "unavailable", "pingwatcherd closed the connection without answering");
            goto out;
        }
        inlen += (size_t)k;
        if (memchr(in + inlen - (size_t)k, '\n', (size_t)k))
            break;
    }
    in[inlen] = '\0';
    resp = cJSON_ParseWithLength(in, strcspn(in, "\n"));
    ok = resp ? cJSON_GetObjectItemCaseSensitive(resp, "ok") : NULL;
    if (!cJSON_IsBool(ok)) {
        fail(reply, 500, "internal", "pingwatcherd answered something that is not a response");
        goto out;
    }
    if (cJSON_IsTrue(ok)) {
        reply->status = 200;
        reply->result = cJSON_DetachItemFromObjectCaseSensitive(resp, "result");
        rc = 0;
        goto out;
    }
    err = cJSON_GetObjectItemCaseSensitive(resp, "error");
    {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
        const char *c = cJSON_IsString(code) ? code->valuestring : "internal";

        fail(reply, status_for(c), c, "%s",
             cJSON_IsString(msg) ? msg->valuestring : "pingwatcherd refused the request");
    }
out:
    if (fd >= 0)
        close(fd);
    cJSON_Delete(req);
    cJSON_Delete(resp);
    cJSON_free(line);
    free(in);
    return rc;
}
