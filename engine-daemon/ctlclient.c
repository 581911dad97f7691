/* PingWatcher — control socket client (see ctlclient.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctlclient.h"

/* Responses (a target list of many thousand targets) are bounded too. */
#define RESPONSE_MAX (256u << 20)

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pw_ctl_request(const char *path, const char *request, char **response, int timeout_ms,
                   char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(request), sent = 0, got = 0, cap = 0;
    long long deadline = now_ms() + timeout_ms;
    char *buf = NULL;
    int fd, rc;

    *response = NULL;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "cannot reach pingwatcherd at %s: path too long", path);
        return -ENAMETOOLONG;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot reach pingwatcherd at %s: %s", path, strerror(errno));
        goto out;
    }
    while (sent <= len) {
        /* The request, then its newline. */
        const char *p = sent < len ? request + sent : "\n";
        size_t n = sent < len ? len - sent : 1;
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = -errno;
            snprintf(err, errlen, "cannot reach pingwatcherd at %s: %s", path, strerror(errno));
            goto out;
        }
        sent += (size_t)w;
    }
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long long left = deadline - now_ms();
        char *nl;
        ssize_t r;

        if (left <= 0) {
            rc = -ETIMEDOUT;
            snprintf(err, errlen, "pingwatcherd at %s did not answer within %d s", path,
                     timeout_ms / 1000);
            goto out;
        }
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
            rc = -errno;
            snprintf(err, errlen, "poll: %s", strerror(errno));
            goto out;
        }
        if (got + 65536 + 1 > cap) {
            char *nb;
            cap = cap ? cap * 2 : 65536 * 2;
            if (cap > RESPONSE_MAX) {
                rc = -E2BIG;
                snprintf(err, errlen, "the response from pingwatcherd is too large");
                goto out;
            }
            nb = realloc(buf, cap);
            if (!nb) {
                rc = -ENOMEM;
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            buf = nb;
        }
        r = recv(fd, buf + got, cap - got - 1, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : -ECONNRESET;
            snprintf(err, errlen, "pingwatcherd at %s closed the connection without answering",
                     path);
            goto out;
        }
        nl = memchr(buf + got, '\n', (size_t)r);
        got += (size_t)r;
        if (nl) {
            *nl = '\0';
            *response = buf;
            buf = NULL;
            rc = 0;
            goto out;
        }
    }
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}
