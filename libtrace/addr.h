/* PingWatcher — IPv4/IPv6 addresses as plain values. */
#ifndef PW_ADDR_H
#define PW_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* An IPv4 or IPv6 address. family is AF_INET or AF_INET6; unused bytes are zero, so two
 * addresses can be compared with pw_addr_equal() or hashed byte by byte. */
struct pw_addr {
    int family;
    union {
        struct in_addr v4;
        struct in6_addr v6;
    } u;
};

/* Longest text pw_addr_format() writes, terminating NUL included. */
#define PW_ADDR_STRLEN 46

/* Parses a numeric IPv4 or IPv6 address (no names, no ports). Returns 0, or PW_E_MALFORMED. */
int pw_addr_parse(const char *text, struct pw_addr *out);

/* Writes the address as text into buf (at least PW_ADDR_STRLEN bytes). Returns buf. */
const char *pw_addr_format(const struct pw_addr *a, char *buf, size_t len);

bool pw_addr_equal(const struct pw_addr *a, const struct pw_addr *b);

/* Fills a sockaddr_in/sockaddr_in6 for a (port in host order). Returns its length. */
socklen_t pw_addr_to_sockaddr(const struct pw_addr *a, unsigned port, struct sockaddr_storage *ss);

/* Resolves host (a name or a numeric address) to one address, blocking (getaddrinfo): meant
 * for command-line tools and configuration loading, never for an event loop. family is
 * AF_UNSPEC, AF_INET or AF_INET6. On failure returns PW_E_NOTFOUND (or -errno) and writes a
 * one-line reason into err (errlen bytes, may be 0). */
int pw_addr_resolve(const char *host, int family, struct pw_addr *out, char *err, size_t errlen);

/* Finds the local source address the kernel would use to reach dst (a connected UDP socket,
 * nothing sent). Returns 0 or -errno (-ENETUNREACH when there is no route). */
int pw_addr_source_for(const struct pw_addr *dst, struct pw_addr *src);

#endif
