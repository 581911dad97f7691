/* PingWatcher — IPv4/IPv6 address values. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "error.h"

int pw_addr_parse(const char *text, struct pw_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, &out->u.v4) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, &out->u.v6) == 1) {
        out->family = AF_INET6;
        return 0;
    }
    memset(out, 0, sizeof(*out));
    return PW_E_MALFORMED;
}

const char *pw_addr_format(const struct pw_addr *a, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    if (!inet_ntop(a->family,
                   a->family == AF_INET ? (const void *)&a->u.v4 : (const void *)&a->u.v6, buf,
                   (socklen_t)len))
        snprintf(buf, len, "?");
    return buf;
}

bool pw_addr_equal(const struct pw_addr *a, const struct pw_addr *b)
{
    if (a->family != b->family)
        return false;
    if (a->family == AF_INET)
        return a->u.v4.s_addr == b->u.v4.s_addr;
    return memcmp(&a->u.v6, &b->u.v6, sizeof(a->u.v6)) == 0;
}

socklen_t pw_addr_to_sockaddr(const struct pw_addr *a, unsigned port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        sin->sin_addr = a->u.v4;
        return sizeof(*sin);
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    sin6->sin6_addr = a->u.v6;
    return sizeof(*sin6);
}

static void addr_from_sockaddr(const struct sockaddr *sa, struct pw_addr *out)
{
    memset(out, 0, sizeof(*out));
    out->family = sa->sa_family;
    if (sa->sa_family == AF_INET)
        out->u.v4 = ((const struct sockaddr_in *)sa)->sin_addr;
    else
        out->u.v6 = ((const struct sockaddr_in6 *)sa)->sin6_addr;
}

int pw_addr_resolve(const char *host, int family, struct pw_addr *out, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    int rc;

    if (pw_addr_parse(host, out) == 0) {
        if (family != AF_UNSPEC && out->family != family) {
            snprintf(err, errlen, "%s is not an %s address", host,
                     family == AF_INET ? "IPv4" : "IPv6");
            return PW_E_NOTFOUND;
        }
        return 0;
    }
    hints.ai_family = family;
    hints.ai_socktype = SOCK_DGRAM;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve host '%s': %s", host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return PW_E_NOTFOUND;
    }
    /* getaddrinfo orders by RFC 6724 preference; take the first of a wanted family. */
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
            addr_from_sockaddr(ai->ai_addr, out);
            freeaddrinfo(res);
            return 0;
        }
    }
    freeaddrinfo(res);
    snprintf(err, errlen, "host '%s' has no IPv4 or IPv6 address", host);
    return PW_E_NOTFOUND;
}

int pw_addr_source_for(const struct pw_addr *dst, struct pw_addr *src)
{
    struct sockaddr_storage ss;
    socklen_t sl = pw_addr_to_sockaddr(dst, 33434, &ss);
    int fd = socket(dst->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rc = 0;

    if (fd < 0)
        return -errno;
    /* connect() on a UDP socket only asks the routing table; nothing is sent. */
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        rc = -errno;
        goto out;
    }
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        rc = -errno;
        goto out;
    }
    addr_from_sockaddr((struct sockaddr *)&ss, src);
out:
    close(fd);
    return rc;
}
