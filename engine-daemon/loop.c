/* PingWatcher — epoll helpers (see loop.h). */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "loop.h"

int pwd_watch_add(int epfd, struct pwd_watch *w, int fd, uint32_t events, pwd_watch_cb cb,
                  void *arg)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};

    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->arg = arg;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int rc = -errno;
        w->fd = -1;
        return rc;
    }
    return 0;
}

int pwd_watch_mod(int epfd, struct pwd_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};

    if (w->fd < 0)
        return -EBADF;
    if (w->events == events)
        return 0;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

void pwd_watch_del(int epfd, struct pwd_watch *w)
{
    if (w->fd < 0)
        return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->fd = -1;
}

void pwd_fdset_init(struct pwd_fdset *s)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < PWD_FDSET_MAX; i++)
        s->w[i].fd = -1;
}

int pwd_fdset_sync(int epfd, struct pwd_fdset *s, const int *fds, const bool *wr, int n,
                   pwd_watch_cb cb, void *arg)
{
    int rc = 0;

    if (n > PWD_FDSET_MAX)
        n = PWD_FDSET_MAX;
    for (int i = 0; i < s->n; i++) {
        bool keep = false;
        for (int j = 0; j < n; j++)
            keep |= s->w[i].fd == fds[j];
        if (!keep)
            pwd_watch_del(epfd, &s->w[i]);
    }
    /* Slot j watches fds[j]. A registration is refreshed even when the descriptor stays:
     * the slot may have moved, and a descriptor the resolver closed and reopened under the
     * same number fell out of epoll with the close (MOD then fails with ENOENT: add it). */
    for (int j = 0; j < n; j++) {
        struct pwd_watch *w = &s->w[j];
        uint32_t ev = EPOLLIN | (wr && wr[j] ? EPOLLOUT : 0);
        struct epoll_event e = {.events = ev, .data.ptr = w};
        int r;

        w->fd = fds[j];
        w->events = ev;
        w->cb = cb;
        w->arg = arg;
        r = epoll_ctl(epfd, EPOLL_CTL_MOD, fds[j], &e);
        if (r < 0 && errno == ENOENT)
            r = epoll_ctl(epfd, EPOLL_CTL_ADD, fds[j], &e);
        if (r < 0 && rc == 0)
            rc = -errno;
    }
    for (int j = n; j < PWD_FDSET_MAX; j++)
        s->w[j].fd = -1;
    s->n = n;
    return rc;
}

void pwd_fdset_clear(int epfd, struct pwd_fdset *s)
{
    for (int i = 0; i < s->n; i++)
        pwd_watch_del(epfd, &s->w[i]);
    s->n = 0;
}
