/* PingWatcher — forward resolution on the loop (see resolve.h). */
#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "error.h"
#include "resolve.h"

struct pwd_resolver {
    ares_channel channel;
    unsigned pending;
};

struct job {
    struct pwd_resolver *r;
    pwd_resolve_cb cb;
    void *arg;
    char host[256];
};

struct pwd_resolver *pwd_resolver_new(const char *servers, char *err, size_t errlen)
{
    struct pwd_resolver *r = calloc(1, sizeof(*r));
    struct ares_options o;
    int rc;

    if (!r) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        free(r);
        errno = EIO;
        return NULL;
    }
    memset(&o, 0, sizeof(o));
    o.timeout = 2000;
    o.tries = 2;
    rc = ares_init_options(&r->channel, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc == ARES_SUCCESS && servers && *servers)
        rc = ares_set_servers_ports_csv(r->channel, servers);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        if (r->channel)
            ares_destroy(r->channel);
        ares_library_cleanup();
        free(r);
        errno = rc == ARES_EBADSTR ? EINVAL : EIO;
        return NULL;
    }
    return r;
}

void pwd_resolver_free(struct pwd_resolver *r)
{
    if (!r)
        return;
    ares_destroy(r->channel); /* runs pending callbacks with ARES_EDESTRUCTION */
    ares_library_cleanup();
    free(r);
}

static void on_result(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct job *j = arg;
    struct pw_addr a;
    char reason[320];
    int rc = 0;

    (void)timeouts;
    j->r->pending--;
    memset(&a, 0, sizeof(a));
    if (status == ARES_SUCCESS && res) {
        const struct ares_addrinfo_node *n;
        rc = PW_E_NOTFOUND;
        for (n = res->nodes; n && rc < 0; n = n->ai_next) {
            if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(struct sockaddr_in)) {
                a.family = AF_INET;
                a.u.v4 = ((const struct sockaddr_in *)(const void *)n->ai_addr)->sin_addr;
                rc = 0;
            } else if (n->ai_family == AF_INET6 && n->ai_addrlen >= sizeof(struct sockaddr_in6)) {
                a.family = AF_INET6;
                a.u.v6 = ((const struct sockaddr_in6 *)(const void *)n->ai_addr)->sin6_addr;
                rc = 0;
            }
        }
        if (rc < 0)
            snprintf(reason, sizeof(reason), "host '%s' has no IPv4 or IPv6 address", j->host);
    } else if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
        rc = -ECANCELED;
        snprintf(reason, sizeof(reason), "lookup of '%s' cancelled", j->host);
    } else if (status == ARES_ETIMEOUT || status == ARES_ECONNREFUSED || status == ARES_ESERVFAIL) {
        rc = -ETIMEDOUT;
        snprintf(reason, sizeof(reason), "cannot resolve '%s': %s", j->host, ares_strerror(status));
    } else {
        rc = PW_E_NOTFOUND;
        snprintf(reason, sizeof(reason), "unknown host '%s' (%s)", j->host, ares_strerror(status));
    }
    if (res)
        ares_freeaddrinfo(res);
    j->cb(j->arg, rc, rc == 0 ? &a : NULL, rc == 0 ? "" : reason);
    free(j);
}

int pwd_resolver_start(struct pwd_resolver *r, const char *host, int family, pwd_resolve_cb cb,
                       void *arg)
{
    struct ares_addrinfo_hints hints;
    struct job *j = calloc(1, sizeof(*j));

    if (!j)
        return -ENOMEM;
    j->r = r;
    j->cb = cb;
    j->arg = arg;
    snprintf(j->host, sizeof(j->host), "%s", host);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_DGRAM;
    r->pending++;
    /* The job is complete before the call: c-ares may answer from inside it. */
    ares_getaddrinfo(r->channel, j->host, NULL, &hints, on_result, j);
    return 0;
}

unsigned pwd_resolver_pending(const struct pwd_resolver *r)
{
    return r ? r->pending : 0;
}

int pwd_resolver_fds(struct pwd_resolver *r, int *fds, bool *want_write, int max)
{
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits, n = 0;

    if (!r || !fds || max < 0)
        return -EINVAL;
    bits = ares_getsock(r->channel, socks, ARES_GETSOCK_MAXNUM);
    for (int i = 0; i < ARES_GETSOCK_MAXNUM && n < max; i++) {
        /* c-ares' own macros shift a signed 1 into the sign bit for the last socket. */
        bool rd = ((unsigned)bits >> i) & 1u;
        bool wr = ((unsigned)bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u;
        if (!rd && !wr)
            continue;
        fds[n] = socks[i];
        if (want_write)
            want_write[n] = wr;
        n++;
    }
    return n;
}

int pwd_resolver_timeout_ms(struct pwd_resolver *r)
{
    struct timeval tv, *t;

    if (!r || !r->pending)
        return -1;
    t = ares_timeout(r->channel, NULL, &tv);
    if (!t)
        return -1;
    return (int)(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
}

void pwd_resolver_process(struct pwd_resolver *r, int fd, bool readable, bool writable)
{
    if (!r)
        return;
    ares_process_fd(r->channel, readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
}
