/* PingWatcher — forward resolution of target host names without blocking the loop.
 *
 * c-ares' ares_getaddrinfo on its own channel (libtrace's pw_dns does PTR only), driven by the
 * daemon's epoll loop like pw_dns: the caller registers the descriptors from
 * pwd_resolver_fds(), calls pwd_resolver_process() on I/O and at pwd_resolver_timeout_ms().
 * Names are looked up in /etc/hosts first, then DNS, as getaddrinfo would.
 */
#ifndef PWD_RESOLVE_H
#define PWD_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

struct pwd_resolver;

/* Result of a lookup: status 0 and the first address, or a negative code (PW_E_NOTFOUND for
 * "no such host", -ETIMEDOUT, -ECANCELED when the resolver is freed) with a one-line reason.
 * addr and reason are borrowed for the call. */
typedef void (*pwd_resolve_cb)(void *arg, int status, const struct pw_addr *addr,
                               const char *reason);

/* servers: "ADDR[:PORT],..." or NULL/"" for resolv.conf. Returns NULL with errno set and a
 * reason in err. */
struct pwd_resolver *pwd_resolver_new(const char *servers, char *err, size_t errlen);
/* Cancels running lookups (their callbacks run with -ECANCELED) and frees. Accepts NULL. */
void pwd_resolver_free(struct pwd_resolver *r);

/* Starts resolving host (family AF_UNSPEC, AF_INET or AF_INET6). cb runs from
 * pwd_resolver_process(), or from inside this call when the answer needs no network (a name
 * in /etc/hosts): callers must be ready for both. Returns 0 or -ENOMEM (cb not called). */
int pwd_resolver_start(struct pwd_resolver *r, const char *host, int family, pwd_resolve_cb cb,
                       void *arg);

unsigned pwd_resolver_pending(const struct pwd_resolver *r);
/* As pw_dns_fds / pw_dns_timeout_ms / pw_dns_process (dns.h). */
int pwd_resolver_fds(struct pwd_resolver *r, int *fds, bool *want_write, int max);
int pwd_resolver_timeout_ms(struct pwd_resolver *r);
void pwd_resolver_process(struct pwd_resolver *r, int fd, bool readable, bool writable);

#endif
