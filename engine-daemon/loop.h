/* PingWatcher — small helpers around pingwatcherd's one epoll loop.
 *
 * Every descriptor in the loop is a struct pwd_watch whose address is the epoll data, so the
 * loop calls watch->cb without looking anything up. Resolvers whose descriptors come and go
 * (c-ares) keep a struct pwd_fdset and sync it after each call into the resolver.
 */
#ifndef PWD_LOOP_H
#define PWD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef void (*pwd_watch_cb)(void *arg, int fd, uint32_t events);

struct pwd_watch {
    int fd;          /* -1 when not in the loop */
    uint32_t events; /* EPOLLIN / EPOLLOUT as registered */
    pwd_watch_cb cb;
    void *arg;
};

/* Registers fd with the given events. Returns 0 or -errno. */
int pwd_watch_add(int epfd, struct pwd_watch *w, int fd, uint32_t events, pwd_watch_cb cb,
                  void *arg);
/* Changes the events (no system call when unchanged). Returns 0 or -errno. */
int pwd_watch_mod(int epfd, struct pwd_watch *w, uint32_t events);
/* Removes the watch (the descriptor is not closed). Accepts a watch not in the loop. */
void pwd_watch_del(int epfd, struct pwd_watch *w);

#define PWD_FDSET_MAX 16

/* The descriptors of a resolver, as last registered. */
struct pwd_fdset {
    int n;
    struct pwd_watch w[PWD_FDSET_MAX];
};

void pwd_fdset_init(struct pwd_fdset *s);
/* Makes the registered set equal fds[0..n) (readable, and writable where wr[i]); new watches
 * call cb(arg, fd, events). Returns 0 or the first -errno. */
int pwd_fdset_sync(int epfd, struct pwd_fdset *s, const int *fds, const bool *wr, int n,
                   pwd_watch_cb cb, void *arg);
/* Removes every watch. */
void pwd_fdset_clear(int epfd, struct pwd_fdset *s);

#endif
