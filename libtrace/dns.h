/* PingWatcher — reverse DNS for hop addresses, asynchronous, with a TTL-aware cache.
 *
 * Built on c-ares and driven by the caller's event loop: the resolver exposes the sockets it
 * waits on and its next deadline, and never blocks. Names that come back are untrusted input
 * (anyone can set a PTR record): they are cut to PW_DNS_NAME_MAX bytes and every byte outside
 * printable ASCII is removed before a caller sees them.
 */
#ifndef PW_DNS_H
#define PW_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Longest name kept (RFC 1035 limit for a name in text form), NUL excluded. */
#define PW_DNS_NAME_MAX 253
/* What the UI shows for an address without a PTR record. */
#define PW_DNS_NONE "----------"

struct pw_dns;

struct pw_dns_opts {
    uint32_t cache_size;     /* entries kept (least recently used dropped); 0 = 4096 */
    uint32_t negative_ttl_s; /* how long "no PTR" is remembered; 0 = 300 */
    uint32_t min_ttl_s;      /* floor for positive answers' TTL; 0 = 60 */
    uint32_t max_ttl_s;      /* ceiling for positive answers' TTL; 0 = 86400 */
    uint32_t timeout_ms;     /* first query attempt (c-ares lengthens retries); 0 = 2000 */
    uint32_t tries;          /* attempts per server; 0 = 2 */
    const char *servers;     /* "ADDR[:PORT],..." to use instead of resolv.conf; NULL = system */
};

/* Creates a resolver using the system's resolv.conf, or opts->servers when set (copied; the
 * string may be freed afterwards). opts may be NULL for defaults. The whole cache is allocated
 * here. Returns NULL and sets errno on failure: EINVAL for bad options (cache_size above 2^20,
 * min_ttl_s > max_ttl_s, an unparsable servers list), ENOMEM, EIO when c-ares cannot start.
 * Create and free resolvers from one thread (c-ares' library init is reference-counted and not
 * thread-safe). Free with pw_dns_free(). */
struct pw_dns *pw_dns_new(const struct pw_dns_opts *opts);
/* Cancels running queries (no results are cached) and frees d. Accepts NULL. */
void pw_dns_free(struct pw_dns *d);

/* Looks addr up in the cache. Returns 1 and copies the name into name (at least
 * PW_DNS_NAME_MAX + 1 bytes; PW_DNS_NONE when there is no PTR record) when a fresh entry
 * exists; returns 0 and starts a query (once per address at a time) when not. now_s is a
 * CLOCK_MONOTONIC time in seconds; an entry's lifetime counts from the now_s of the lookup that
 * started its query. name may be NULL (len ignored) to only start the query.
 * A failed query (SERVFAIL, REFUSED, timeout, garbled answer) is remembered as PW_DNS_NONE for
 * min(30 s, negative_ttl_s) so a broken resolver is not asked for every sample.
 * Returns -EINVAL for a NULL argument or a short buffer, -EAFNOSUPPORT for a family other than
 * AF_INET/AF_INET6, -EBUSY when every cache slot waits for an answer (nothing started). */
int pw_dns_lookup(struct pw_dns *d, const struct pw_addr *addr, uint64_t now_s, char *name,
                  size_t len);

/* Number of queries still running (0 for NULL). */
unsigned pw_dns_pending(const struct pw_dns *d);

/* Event-loop integration: fills up to max descriptors the resolver waits on (readable, and
 * writable where want_write[i] is set; want_write may be NULL) and returns how many, or -EINVAL.
 * The set changes as queries start and end: poll users call this before every wait, epoll
 * users diff it after every pw_dns_lookup()/pw_dns_process(). */
int pw_dns_fds(struct pw_dns *d, int *fds, bool *want_write, int max);
/* Milliseconds until the resolver needs pw_dns_process() even without I/O; -1 for none. */
int pw_dns_timeout_ms(struct pw_dns *d);
/* Processes I/O on fd (or timeouts, with fd = -1). Results land in the cache. */
void pw_dns_process(struct pw_dns *d, int fd, bool readable, bool writable);

/* Parses a DNS response (msg[0..len), e.g. as c-ares hands it over) to a PTR question: finds
 * the PTR record for the question's name, following CNAMEs inside the answer (RFC 2317), and
 * writes its sanitized name into name (at least PW_DNS_NAME_MAX + 1 bytes) and the smallest TTL
 * along the chain into *ttl_s. Returns 1 for a name; 0 when there is none (no PTR, or one that
 * is empty once sanitized), with PW_DNS_NONE in name; PW_E_TRUNCATED or PW_E_MALFORMED for a
 * garbled message (compression loops included); -EINVAL for bad arguments. The rcode is not
 * looked at: c-ares has already turned it into a status. Pure function, safe on any input. */
int pw_dns_parse_ptr(const uint8_t *msg, size_t len, char *name, size_t namelen, uint32_t *ttl_s);

/* Cleans an untrusted NUL-terminated name in place: removes bytes outside printable ASCII
 * (0x21..0x7e), keeps at most the first PW_DNS_NAME_MAX of the remaining bytes, strips trailing
 * dots. Returns the new length (0 for NULL or when nothing is left). The result may still hold
 * HTML/JSON metacharacters such as '<' or '"': escape it where it is displayed. */
size_t pw_dns_sanitize(char *name);

#endif
