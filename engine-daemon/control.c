/* PingWatcher — the control socket (see control.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "loop.h"
#include "request.h"

/* A request line plus its newline, and one byte to tell "too long" from "exactly full". */
#define IN_CAP (PWD_REQUEST_MAX + 2)
#define READ_CHUNK 65536

struct client {
    struct pwd_control *ctl;
    struct pwd_watch watch;
    uint64_t id;
    char *in; /* IN_CAP bytes */
    size_t inlen;
    char *out; /* queued responses */
    size_t outlen, outoff, outcap;
    bool busy;        /* a request is with the daemon */
    bool discarding;  /* inside an over-long line: drop bytes up to its newline */
    bool eof;         /* the peer closed its side: answer what was sent, then close */
    bool dispatching; /* inside the callback: do not free, do not recurse */
    bool closing;
};

struct pwd_control {
    int epfd;
    int fd;
    struct pwd_watch watch;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    pwd_control_cb cb;
    void *arg;
    unsigned max_clients;
    size_t max_output;
    uint64_t next_id;
    unsigned nclients;
    struct client **clients; /* max_clients slots */
};

static void client_update(struct client *cl);
static void client_process(struct client *cl);

static void client_free(struct client *cl)
{
    struct pwd_control *c = cl->ctl;

    for (unsigned i = 0; i < c->max_clients; i++) {
        if (c->clients[i] == cl) {
            c->clients[i] = NULL;
            c->nclients--;
        }
    }
    free(cl->in);
    free(cl->out);
    free(cl);
}

/* Closes the connection; the memory goes in reap(), once nothing on the stack uses it. */
static void client_close(struct client *cl)
{
    int fd = cl->watch.fd;

    if (cl->closing)
        return;
    cl->closing = true;
    pwd_watch_del(cl->ctl->epfd, &cl->watch);
    close(fd);
}

/* Frees a closed client unless the daemon's callback for it is still running. Returns true
 * when cl is gone. */
static bool reap(struct client *cl)
{
    if (!cl->closing || cl->dispatching)
        return false;
    client_free(cl);
    return true;
}

static bool client_queue(struct client *cl, const char *data, size_t n)
{
    if (cl->outoff && cl->outoff == cl->outlen)
        cl->outoff = cl->outlen = 0;
    if (cl->outlen - cl->outoff + n > cl->ctl->max_output)
        return false;
    if (cl->outlen + n > cl->outcap) {
        size_t live = cl->outlen - cl->outoff;
        size_t cap = cl->outcap ? cl->outcap : 4096;
        char *p;

        /* Compact first; grow only for what is really queued. */
        if (live)
            memmove(cl->out, cl->out + cl->outoff, live);
        cl->outoff = 0;
        cl->outlen = live;
        while (cap < live + n)
            cap *= 2;
        if (cap != cl->outcap) {
            p = realloc(cl->out, cap);
            if (!p)
                return false;
            cl->out = p;
            cl->outcap = cap;
        }
    }
    memcpy(cl->out + cl->outlen, data, n);
    cl->outlen += n;
    return true;
}

static void client_flush(struct client *cl)
{
    while (cl->outoff < cl->outlen) {
        ssize_t n = send(cl->watch.fd, cl->out + cl->outoff, cl->outlen - cl->outoff,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            client_close(cl);
            return;
        }
        cl->outoff += (size_t)n;
    }
    cl->outoff = cl->outlen = 0;
}

static void client_send(struct client *cl, char *line)
{
    static const char oom[] = "{\"ok\":false,\"error\":{\"code\":\"internal\","
                              "\"message\":\"out of memory\"}}\n";
    bool ok;

    if (line)
        ok = client_queue(cl, line, strlen(line));
    else
        ok = client_queue(cl, oom, sizeof(oom) - 1);
    free(line);
    if (!ok) {
        /* A client that does not read its responses is not allowed to grow our memory. */
        client_close(cl);
        return;
    }
    client_flush(cl);
}

static void client_update(struct client *cl)
{
    uint32_t ev = 0;

    if (cl->closing)
        return;
    if (!cl->busy && !cl->eof && cl->inlen < IN_CAP)
        ev |= EPOLLIN;
    if (cl->outoff < cl->outlen)
        ev |= EPOLLOUT;
    if (cl->eof && !cl->busy && cl->outoff == cl->outlen && cl->inlen == 0) {
        client_close(cl);
        return; /* the caller reaps */
    }
    pwd_watch_mod(cl->ctl->epfd, &cl->watch, ev);
}

static void dispatch(struct client *cl, char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    cl->busy = true;
    cl->dispatching = true;
    cl->ctl->cb(cl->ctl->arg, cl->id, line, len);
    cl->dispatching = false;
}

/* Hands complete lines to the daemon, one at a time, while no request is in progress. */
static void client_process(struct client *cl)
{
    while (!cl->busy && !cl->closing) {
        char *nl = memchr(cl->in, '\n', cl->inlen);
        size_t len;

        if (!nl) {
            if (cl->inlen > PWD_REQUEST_MAX) {
                /* Over-long: answer once, then drop everything up to its newline. */
                if (!cl->discarding) {
                    char msg[96];
                    snprintf(msg, sizeof(msg), "request line longer than %d bytes",
                             PWD_REQUEST_MAX);
                    client_send(cl, pwd_response_error(PWD_ERR_INVALID, msg));
                }
                cl->discarding = true;
                cl->inlen = 0;
            } else if (cl->eof && cl->inlen) {
                /* The last request may come without its newline. */
                if (cl->discarding) {
                    cl->inlen = 0;
                } else {
                    size_t n = cl->inlen;
                    dispatch(cl, cl->in, n);
                    cl->inlen = 0;
                }
                continue;
            }
            break;
        }
        len = (size_t)(nl - cl->in);
        if (cl->discarding) {
            cl->discarding = false;
        } else if (len == 0 || (len == 1 && cl->in[0] == '\r')) {
            /* blank lines are ignored */
        } else {
            dispatch(cl, cl->in, len);
        }
        if (cl->closing)
            break;
        memmove(cl->in, cl->in + len + 1, cl->inlen - len - 1);
        cl->inlen -= len + 1;
    }
    if (!reap(cl)) {
        client_update(cl);
        reap(cl);
    }
}

static void client_event(void *arg, int fd, uint32_t events)
{
    struct client *cl = arg;

    if (events & EPOLLOUT)
        client_flush(cl);
    if (reap(cl))
        return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        while (!cl->eof && cl->inlen < IN_CAP) {
            ssize_t n = recv(fd, cl->in + cl->inlen, IN_CAP - cl->inlen, MSG_DONTWAIT);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n < 0) {
                client_close(cl);
                reap(cl);
                return;
            }
            if (n == 0) {
                cl->eof = true;
                break;
            }
            cl->inlen += (size_t)n;
            /* Inside an over-long line nothing is kept but what follows its end. */
            if (cl->discarding && !memchr(cl->in, '\n', cl->inlen))
                cl->inlen = 0;
            if (memchr(cl->in + cl->inlen - (size_t)n, '\n', (size_t)n) || cl->busy)
                break;
        }
    }
    client_process(cl);
}

static void accept_event(void *arg, int fd, uint32_t events)
{
    struct pwd_control *c = arg;

    (void)events;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct client *cl = NULL;
        unsigned slot = c->max_clients;

        if (cfd < 0)
            return; /* EAGAIN, or a transient error such as EMFILE: try at the next event */
        for (unsigned i = 0; i < c->max_clients && slot == c->max_clients; i++)
            if (!c->clients[i])
                slot = i;
        if (slot == c->max_clients) {
            char *line = pwd_response_error(PWD_ERR_UNAVAILABLE,
                                            "too many control connections; try again later");
            if (line) {
                ssize_t ignored = send(cfd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
                (void)ignored;
            }
            free(line);
            close(cfd);
            continue;
        }
        cl = calloc(1, sizeof(*cl));
        if (cl)
            cl->in = malloc(IN_CAP);
        if (!cl || !cl->in) {
            if (cl)
                free(cl->in);
            free(cl);
            close(cfd);
            continue;
        }
        cl->ctl = c;
        cl->id = ++c->next_id;
        if (pwd_watch_add(c->epfd, &cl->watch, cfd, EPOLLIN, client_event, cl) < 0) {
            free(cl->in);
            free(cl);
            close(cfd);
            continue;
        }
        c->clients[slot] = cl;
        c->nclients++;
    }
}

/* A socket file already there: a live daemon answers on it (refuse), or it is stale. */
static int check_stale(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;

    if (fd < 0)
        return -errno;
    rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    close(fd);
    if (rc == 0)
        return -EADDRINUSE;
    if (errno == ECONNREFUSED)
        return unlink(sa->sun_path) < 0 ? -errno : 0;
    return errno == ENOENT ? 0 : -errno;
}

struct pwd_control *pwd_control_new(int epfd, const struct pwd_control_opts *opts,
                                    pwd_control_cb cb, void *arg, char *err, size_t errlen)
{
    struct pwd_control *c = calloc(1, sizeof(*c));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int saved = ENOMEM, rc;
    mode_t old_mask;

    if (!c) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    c->fd = -1;
    c->watch.fd = -1;
    c->epfd = epfd;
    c->cb = cb;
    c->arg = arg;
    c->max_clients = opts->max_clients ? opts->max_clients : 64;
    c->max_output = opts->max_output ? opts->max_output : (64u << 20);
    c->clients = calloc(c->max_clients, sizeof(*c->clients));
    if (!c->clients) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (strlen(opts->path) >= sizeof(sa.sun_path)) {
        saved = ENAMETOOLONG;
        snprintf(err, errlen, "control socket path %s is too long", opts->path);
        goto fail;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", opts->path);
    rc = check_stale(&sa);
    if (rc < 0) {
        saved = -rc;
        snprintf(err, errlen, "control socket %s: %s", opts->path,
                 rc == -EADDRINUSE ? "another pingwatcherd is listening there" : strerror(-rc));
        goto fail;
    }
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        saved = errno;
        snprintf(err, errlen, "control socket: %s", strerror(errno));
        goto fail;
    }
    /* Created with no permissions at all, then opened up to exactly the configured mode, so
     * there is no moment when the socket is wider open than asked. */
    old_mask = umask(0777);
    rc = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa));
    saved = errno;
    umask(old_mask);
    if (rc < 0) {
        snprintf(err, errlen, "control socket %s: bind: %s", opts->path, strerror(saved));
        goto fail;
    }
    snprintf(c->path, sizeof(c->path), "%s", opts->path);
    if ((opts->uid != (uid_t)-1 || opts->gid != (gid_t)-1) &&
        chown(c->path, opts->uid, opts->gid) < 0) {
        saved = errno;
        snprintf(err, errlen, "control socket %s: chown: %s", c->path, strerror(saved));
        goto fail;
    }
    if (chmod(c->path, (mode_t)opts->mode) < 0 || listen(c->fd, 64) < 0) {
        saved = errno;
        snprintf(err, errlen, "control socket %s: %s", c->path, strerror(saved));
        goto fail;
    }
    rc = pwd_watch_add(epfd, &c->watch, c->fd, EPOLLIN, accept_event, c);
    if (rc < 0) {
        saved = -rc;
        snprintf(err, errlen, "control socket: epoll: %s", strerror(saved));
        goto fail;
    }
    return c;
fail:
    pwd_control_free(c);
    errno = saved;
    return NULL;
}

void pwd_control_free(struct pwd_control *c)
{
    if (!c)
        return;
    for (unsigned i = 0; c->clients && i < c->max_clients; i++) {
        struct client *cl = c->clients[i];
        if (cl) {
            client_flush(cl);
            client_close(cl);
            cl->dispatching = false;
            reap(cl);
        }
    }
    pwd_watch_del(c->epfd, &c->watch);
    if (c->fd >= 0)
        close(c->fd);
    if (c->path[0])
        unlink(c->path);
    free(c->clients);
    free(c);
}

int pwd_control_reply(struct pwd_control *c, uint64_t client, char *response)
{
    struct client *cl = NULL;

    for (unsigned i = 0; i < c->max_clients && !cl; i++)
        if (c->clients[i] && c->clients[i]->id == client)
            cl = c->clients[i];
    if (!cl || cl->closing) {
        free(response);
        return -ENOENT;
    }
    cl->busy = false;
    client_send(cl, response);
    /* A deferred answer: go on with the lines that waited behind it (inside the callback,
     * the loop in client_process() does that). */
    if (!cl->dispatching)
        client_process(cl);
    return 0;
}

unsigned pwd_control_clients(const struct pwd_control *c)
{
    return c->nclients;
}
