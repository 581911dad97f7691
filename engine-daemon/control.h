/* PingWatcher — pingwatcherd's control socket: a unix stream socket speaking JSON lines
 * (CONTROL.md).
 *
 * This module does the socket work only: it accepts at most max_clients connections, reads
 * newline-terminated requests into a bounded buffer per client, hands each complete line to
 * the daemon's callback and writes the daemon's response without blocking. One request per
 * client is in progress at a time: the next line of that client is read only after the
 * response to the previous one was given (pwd_control_reply), so responses come in request
 * order, while other clients keep being served. Lines longer than PWD_REQUEST_MAX get an error
 * response here and never reach the daemon.
 */
#ifndef PWD_CONTROL_H
#define PWD_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pwd_control;

struct pwd_control_opts {
    const char *path; /* socket path; a stale socket file is replaced */
    uint32_t mode;    /* permissions of the socket file, e.g. 0660 */
    uid_t uid;        /* owner and group of the socket file; (uid_t)-1 / (gid_t)-1 keep */
    gid_t gid;
    unsigned max_clients; /* 0 = 64 */
    size_t max_output;    /* bytes of responses queued per client before it is dropped;
                             0 = 64 MiB */
};

/* Called once per request line. line is NUL-terminated, len bytes, borrowed for the call.
 * The daemon must call pwd_control_reply(client, ...) exactly once, during the call or later
 * (after DNS, for example). */
typedef void (*pwd_control_cb)(void *arg, uint64_t client, const char *line, size_t len);

/* Creates, binds and listens on the socket and registers it in the epoll set epfd. Returns
 * NULL with errno set and a reason in err; EADDRINUSE when a live daemon answers there. */
struct pwd_control *pwd_control_new(int epfd, const struct pwd_control_opts *opts,
                                    pwd_control_cb cb, void *arg, char *err, size_t errlen);
/* Closes every client and the socket, and removes the socket file. Accepts NULL. */
void pwd_control_free(struct pwd_control *c);

/* Queues response (a newline-terminated line; ownership passes to this call, NULL means out
 * of memory and sends an "internal" error) for the client's request in progress. A client
 * that went away meanwhile is ignored. Returns 0, or -ENOENT when the client is gone. */
int pwd_control_reply(struct pwd_control *c, uint64_t client, char *response);

/* Connected clients. */
unsigned pwd_control_clients(const struct pwd_control *c);

#endif
