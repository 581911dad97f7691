/* PingWatcher — reverse DNS for hop addresses on c-ares, with a TTL-aware LRU cache.
 *
 * PTR answers are parsed here rather than with ares_gethostbyaddr()/ares_parse_ptr_reply():
 * those give no TTL, and ares_parse_ptr_reply() rejects (or escapes) exactly the hostile names
 * we want to receive raw and sanitize ourselves.
 */
#include "dns.h"

#include <arpa/nameser.h>
#include <ares.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "error.h"

#define PW_DNS_NIL UINT32_MAX
/* Largest cache accepted: keeps index arithmetic in uint32_t and memory in the hundreds of MB. */
#define PW_DNS_CACHE_MAX (1u << 20)
/* SERVFAIL, timeouts and garbled answers are remembered this long (at most negative_ttl_s), so
 * a broken resolver is not asked again for every sample. */
#define PW_DNS_FAIL_TTL_S 30
/* Longest name (wire bytes) the parser follows. RFC 1035 allows 255, but a hostile server may
 * send more; we read a bounded amount, keep it, and let sanitizing cut it to PW_DNS_NAME_MAX. */
#define PW_DNS_WIRE_MAX 1024
/* "f.e.d. ... .ip6.arpa": 32 nibbles with dots, the suffix and the NUL. */
#define PW_DNS_QNAME_MAX 80

enum pw_dns_state {
    PW_DNS_FREE,
    PW_DNS_PENDING, /* a query runs; the entry is in the hash but not in the LRU list */
    PW_DNS_CACHED,  /* name holds the answer or PW_DNS_NONE, valid until expires_s */
};

struct pw_dns_entry {
    struct pw_addr addr;  /* only the family's bytes are set; the rest is zero */
    struct pw_dns *owner; /* the c-ares callback receives only the entry */
    uint64_t start_s;     /* when the query started: TTLs count from here */
    uint64_t expires_s;   /* fresh while now_s < expires_s */
    uint32_t hnext;       /* next entry in the same hash bucket */
    uint32_t prev, next;  /* LRU list (head = most recent); next also links the free list */
    enum pw_dns_state state;
    char name[PW_DNS_NAME_MAX + 1];
};

struct pw_dns {
    ares_channel channel;
    bool lib_init, channel_init;
    bool closing; /* pw_dns_free() runs: callbacks must not touch the cache */
    struct pw_dns_entry *entries;
    uint32_t *buckets;
    uint32_t cap, bucket_mask;
    uint32_t lru_head, lru_tail, free_head;
    unsigned pending;
    uint64_t seed;
    uint32_t negative_ttl_s, fail_ttl_s, min_ttl_s, max_ttl_s;
};

static size_t addr_bytes(const struct pw_addr *a, const uint8_t **p)
{
    if (a->family == AF_INET) {
        *p = (const uint8_t *)&a->u.v4;
        return 4;
    }
    *p = (const uint8_t *)&a->u.v6;
    return 16;
}

/* Hop addresses come from the network, so the hash is seeded per resolver: colliding addresses
 * cannot be precomputed. A bucket chain can never exceed the cache capacity anyway. */
static uint32_t addr_hash(const struct pw_dns *d, const struct pw_addr *a)
{
    const uint8_t *p;
    size_t n = addr_bytes(a, &p);
    uint64_t h = d->seed ^ (uint64_t)a->family;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t)h & d->bucket_mask;
}

static bool addr_same(const struct pw_addr *a, const struct pw_addr *b)
{
    const uint8_t *pa, *pb;

    if (a->family != b->family)
        return false;
    size_t n = addr_bytes(a, &pa);
    addr_bytes(b, &pb);
    return memcmp(pa, pb, n) == 0;
}

static uint32_t hash_find(const struct pw_dns *d, const struct pw_addr *a, uint32_t bucket)
{
    for (uint32_t i = d->buckets[bucket]; i != PW_DNS_NIL; i = d->entries[i].hnext) {
        if (addr_same(&d->entries[i].addr, a))
            return i;
    }
    return PW_DNS_NIL;
}

static void hash_remove(struct pw_dns *d, uint32_t idx)
{
    uint32_t *link = &d->buckets[addr_hash(d, &d->entries[idx].addr)];

    while (*link != PW_DNS_NIL) {
        if (*link == idx) {
            *link = d->entries[idx].hnext;
            return;
        }
        link = &d->entries[*link].hnext;
    }
}

static void lru_unlink(struct pw_dns *d, uint32_t idx)
{
    struct pw_dns_entry *e = &d->entries[idx];

    if (e->prev != PW_DNS_NIL)
        d->entries[e->prev].next = e->next;
    else
        d->lru_head = e->next;
    if (e->next != PW_DNS_NIL)
        d->entries[e->next].prev = e->prev;
    else
        d->lru_tail = e->prev;
    e->prev = e->next = PW_DNS_NIL;
}

static void lru_push_head(struct pw_dns *d, uint32_t idx)
{
    struct pw_dns_entry *e = &d->entries[idx];

    e->prev = PW_DNS_NIL;
    e->next = d->lru_head;
    if (d->lru_head != PW_DNS_NIL)
        d->entries[d->lru_head].prev = idx;
    else
        d->lru_tail = idx;
    d->lru_head = idx;
}

/* Takes a free slot, or evicts the least recently used cached entry. Entries with a query in
 * flight are not in the LRU list, so the callback's pointer always stays valid. */
static uint32_t slot_take(struct pw_dns *d)
{
    uint32_t idx = d->free_head;

    if (idx != PW_DNS_NIL) {
        d->free_head = d->entries[idx].next;
        d->entries[idx].next = PW_DNS_NIL;
        return idx;
    }
    idx = d->lru_tail;
    if (idx == PW_DNS_NIL)
        return PW_DNS_NIL;
    lru_unlink(d, idx);
    hash_remove(d, idx);
    return idx;
}

static void slot_release(struct pw_dns *d, uint32_t idx)
{
    struct pw_dns_entry *e = &d->entries[idx];

    hash_remove(d, idx);
    e->state = PW_DNS_FREE;
    e->prev = PW_DNS_NIL;
    e->next = d->free_head;
    d->free_head = idx;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Compares DNS names the way DNS does: ASCII case-insensitive, independent of the locale. */
static bool name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;

        if (ca >= 'A' && ca <= 'Z')
            ca = (unsigned char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z')
            cb = (unsigned char)(cb - 'A' + 'a');
        if (ca != cb)
            return false;
        if (ca == '\0')
            return true;
    }
}

/* Decodes the possibly compressed name at off in msg[0..len) into out (cap bytes, at least
 * PW_DNS_WIRE_MAX + 1), labels joined with '.', no trailing dot. *end is set to the offset just
 * after the name in place. NUL bytes inside labels are dropped (they would cut the C string,
 * and sanitizing removes them anyway). Returns 0, PW_E_TRUNCATED or PW_E_MALFORMED. */
static int name_read(const uint8_t *msg, size_t len, size_t off, char *out, size_t cap, size_t *end)
{
    size_t pos = off, seg_start = off, wire = 0, w = 0;
    bool jumped = false;

    if (cap < PW_DNS_WIRE_MAX + 1)
        return PW_E_RANGE;
    for (;;) {
        if (pos >= len)
            return PW_E_TRUNCATED;
        uint8_t l = msg[pos];

        if ((l & 0xc0) == 0xc0) {
            if (pos + 1 >= len)
                return PW_E_TRUNCATED;
            size_t target = (size_t)(l & 0x3f) << 8 | msg[pos + 1];
            /* Each jump must land before the start of the run that contains the pointer, so
             * the runs start ever earlier and a pointer loop cannot exist. Real compressors
             * only point at names written earlier, which satisfies this. */
            if (target >= seg_start)
                return PW_E_MALFORMED;
            if (!jumped)
                *end = pos + 2;
            jumped = true;
            pos = seg_start = target;
            continue;
        }
        if (l & 0xc0)
            return PW_E_MALFORMED; /* extended label types (RFC 6891) are not names */
        if (l == 0) {
            if (!jumped)
                *end = pos + 1;
            break;
        }
        if (l > len - pos - 1)
            return PW_E_TRUNCATED;
        wire += 1u + l;
        if (wire > PW_DNS_WIRE_MAX)
            return PW_E_MALFORMED;
        if (w > 0)
            out[w++] = '.';
        for (size_t i = 0; i < l; i++) {
            if (msg[pos + 1 + i] != 0)
                out[w++] = (char)msg[pos + 1 + i];
        }
        pos += 1u + l;
    }
    out[w] = '\0';
    return 0;
}

/* Finds the PTR answer for the question in a NOERROR response, following CNAMEs inside the
 * answer (RFC 2317 classless delegation). On success copies the raw name into out (cap bytes,
 * at least PW_DNS_WIRE_MAX + 1) and the smallest TTL along the chain into *ttl_s.
 * Returns 1 when found, 0 when the answer holds no PTR for the name, or a negative PW_E_*. */
static int ptr_parse(const uint8_t *msg, size_t len, char *out, size_t cap, uint32_t *ttl_s)
{
    char target[PW_DNS_WIRE_MAX + 1], owner[PW_DNS_WIRE_MAX + 1];
    uint32_t ttl = UINT32_MAX;
    size_t pos = 12, end = 0;
    int rc;

    if (len < 12)
        return PW_E_TRUNCATED;
    if (be16(msg + 4) != 1)
        return PW_E_MALFORMED;
    unsigned ancount = be16(msg + 6);

    /* c-ares has already checked that the question is ours. */
    rc = name_read(msg, len, pos, target, sizeof(target), &end);
    if (rc < 0)
        return rc;
    if (end + 4 > len)
        return PW_E_TRUNCATED;
    pos = end + 4;

    for (unsigned i = 0; i < ancount; i++) {
        rc = name_read(msg, len, pos, owner, sizeof(owner), &end);
        if (rc < 0)
            return rc;
        if (end + 10 > len)
            return PW_E_TRUNCATED;
        uint16_t type = be16(msg + end);
        uint16_t klass = be16(msg + end + 2);
        uint32_t rr_ttl = be32(msg + end + 4);
        size_t rdlen = be16(msg + end + 8);
        size_t rdata = end + 10;

        if (rdlen > len - rdata)
            return PW_E_TRUNCATED;
        pos = rdata + rdlen;
        if (klass != ns_c_in || (type != ns_t_ptr && type != ns_t_cname) || !name_eq(owner, target))
            continue;
        /* RFC 2181 section 8: a TTL with the top bit set is treated as 0. */
        if (rr_ttl > INT32_MAX)
            rr_ttl = 0;
        if (rr_ttl < ttl)
            ttl = rr_ttl;
        if (type == ns_t_ptr)
            rc = name_read(msg, len, rdata, out, cap, &end);
        else
            rc = name_read(msg, len, rdata, owner, sizeof(owner), &end);
        if (rc < 0)
            return rc;
        if (end != pos)
            return PW_E_MALFORMED;
        if (type == ns_t_ptr) {
            *ttl_s = ttl;
            return 1;
        }
        memcpy(target, owner, sizeof(target));
    }
    return 0;
}

int pw_dns_parse_ptr(const uint8_t *msg, size_t len, char *name, size_t namelen, uint32_t *ttl_s)
{
    char raw[PW_DNS_WIRE_MAX + 1];
    uint32_t ttl = 0;
    int rc;

    if (!msg || !name || namelen < PW_DNS_NAME_MAX + 1 || !ttl_s)
        return -EINVAL;
    rc = ptr_parse(msg, len, raw, sizeof(raw), &ttl);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        size_t n = pw_dns_sanitize(raw);

        if (n > 0) {
            memcpy(name, raw, n + 1); /* n <= PW_DNS_NAME_MAX */
            *ttl_s = ttl;
            return 1;
        }
    }
    snprintf(name, namelen, "%s", PW_DNS_NONE);
    return 0;
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct pw_dns_entry *e = arg;
    struct pw_dns *d = e->owner;
    uint32_t idx = (uint32_t)(e - d->entries);
    uint32_t ttl = 0;

    (void)timeouts;
    d->pending--;
    if (d->closing)
        return;
    if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION) {
        slot_release(d, idx);
        return;
    }

    snprintf(e->name, sizeof(e->name), "%s", PW_DNS_NONE);
    if (status == ARES_SUCCESS && abuf && alen > 0) {
        int rc = pw_dns_parse_ptr(abuf, (size_t)alen, e->name, sizeof(e->name), &ttl);

        if (rc == 1) {
            if (ttl < d->min_ttl_s)
                ttl = d->min_ttl_s;
            if (ttl > d->max_ttl_s)
                ttl = d->max_ttl_s;
        } else if (rc == 0) {
            /* No PTR, or one that is empty once cleaned: both mean "no name". */
            ttl = d->negative_ttl_s;
        } else {
            ttl = d->fail_ttl_s; /* garbled: name still holds PW_DNS_NONE */
        }
    } else if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
        ttl = d->negative_ttl_s;
    } else {
        /* SERVFAIL, REFUSED, timeouts, no memory: not an answer, so remember it only briefly. */
        ttl = d->fail_ttl_s;
    }

    /* The callback has no clock of the caller's: count from the start of the query, which
     * errs towards asking again early, never towards keeping a name past its TTL. */
    e->expires_s = add_sat(e->start_s, ttl);
    e->state = PW_DNS_CACHED;
    lru_push_head(d, idx);
}

/* Writes the reverse-lookup name of a ("1.0.18.198.in-addr.arpa", nibbles + "ip6.arpa"). */
static void reverse_name(const struct pw_addr *a, char *buf, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p;
    size_t w = 0;

    if (a->family == AF_INET) {
        p = (const uint8_t *)&a->u.v4;
        snprintf(buf, len, "%u.%u.%u.%u.in-addr.arpa", p[3], p[2], p[1], p[0]);
        return;
    }
    p = (const uint8_t *)&a->u.v6;
    for (int i = 15; i >= 0 && w + 4 < len; i--) {
        buf[w++] = hex[p[i] & 0xf];
        buf[w++] = '.';
        buf[w++] = hex[p[i] >> 4];
        buf[w++] = '.';
    }
    snprintf(buf + w, len - w, "ip6.arpa");
}

int pw_dns_lookup(struct pw_dns *d, const struct pw_addr *addr, uint64_t now_s, char *name,
                  size_t len)
{
    char qname[PW_DNS_QNAME_MAX];
    struct pw_dns_entry *e;
    uint32_t bucket, idx;
    const uint8_t *p;

    if (!d || !addr || (name && len < PW_DNS_NAME_MAX + 1))
        return -EINVAL;
    if (addr->family != AF_INET && addr->family != AF_INET6)
        return -EAFNOSUPPORT;

    bucket = addr_hash(d, addr);
    idx = hash_find(d, addr, bucket);
    if (idx != PW_DNS_NIL) {
        e = &d->entries[idx];
        if (e->state == PW_DNS_PENDING)
            return 0;
        if (now_s < e->expires_s) {
            lru_unlink(d, idx);
            lru_push_head(d, idx);
            if (name)
                snprintf(name, len, "%s", e->name);
            return 1;
        }
        /* Stale: the slot keeps its place in the hash and waits for the new answer. */
        lru_unlink(d, idx);
    } else {
        idx = slot_take(d);
        if (idx == PW_DNS_NIL)
            return -EBUSY;
        e = &d->entries[idx];
        memset(&e->addr, 0, sizeof(e->addr));
        e->addr.family = addr->family;
        memcpy((uint8_t *)&e->addr.u, (const void *)&addr->u, addr_bytes(addr, &p));
        e->hnext = d->buckets[bucket];
        d->buckets[bucket] = idx;
    }

    e->state = PW_DNS_PENDING;
    e->start_s = now_s;
    e->name[0] = '\0';
    d->pending++;
    reverse_name(addr, qname, sizeof(qname));
    /* May call on_answer() before returning (e.g. out of memory); e is set up for that. */
    ares_query(d->channel, qname, ns_c_in, ns_t_ptr, on_answer, e);
    return 0;
}

unsigned pw_dns_pending(const struct pw_dns *d)
{
    return d ? d->pending : 0;
}

int pw_dns_fds(struct pw_dns *d, int *fds, bool *want_write, int max)
{
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits, n = 0;

    if (!d || max < 0 || (max > 0 && !fds))
        return -EINVAL;
    bits = ares_getsock(d->channel, socks, ARES_GETSOCK_MAXNUM);
    for (int i = 0; i < ARES_GETSOCK_MAXNUM && n < max; i++) {
        bool r = ARES_GETSOCK_READABLE(bits, i) != 0;
        bool w = ARES_GETSOCK_WRITABLE(bits, i) != 0;

        if (!r && !w)
            break;
        fds[n] = socks[i];
        if (want_write)
            want_write[n] = w;
        n++;
    }
    return n;
}

int pw_dns_timeout_ms(struct pw_dns *d)
{
    struct timeval tv, *t;

    if (!d)
        return -1;
    t = ares_timeout(d->channel, NULL, &tv);
    if (!t)
        return -1;
    if (t->tv_sec < 0 || (t->tv_sec == 0 && t->tv_usec <= 0))
        return 0;
    if (t->tv_sec >= INT_MAX / 1000 - 1)
        return INT_MAX;
    /* Round up: waking a fraction of a millisecond early would only spin. */
    return (int)(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
}

void pw_dns_process(struct pw_dns *d, int fd, bool readable, bool writable)
{
    if (!d)
        return;
    ares_process_fd(d->channel, fd >= 0 && readable ? fd : ARES_SOCKET_BAD,
                    fd >= 0 && writable ? fd : ARES_SOCKET_BAD);
}

size_t pw_dns_sanitize(char *name)
{
    size_t w = 0;

    if (!name)
        return 0;
    for (size_t r = 0; name[r] != '\0' && w < PW_DNS_NAME_MAX; r++) {
        unsigned char c = (unsigned char)name[r];

        if (c >= 0x21 && c <= 0x7e)
            name[w++] = (char)c;
    }
    while (w > 0 && name[w - 1] == '.')
        w--;
    name[w] = '\0';
    return w;
}

static uint64_t seed_make(const struct pw_dns *d)
{
    uint64_t seed;
    struct timespec ts;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
        return seed;
    /* Early boot without entropy: weaker, but the hash stays correct. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)(uintptr_t)d ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
}

struct pw_dns *pw_dns_new(const struct pw_dns_opts *opts)
{
    struct pw_dns_opts o = {0};
    struct ares_options ao;
    struct pw_dns *d = NULL;
    uint32_t nbuckets = 1;
    int err = 0, rc;

    if (opts)
        o = *opts;
    if (!o.cache_size)
        o.cache_size = 4096;
    if (!o.negative_ttl_s)
        o.negative_ttl_s = 300;
    if (!o.min_ttl_s)
        o.min_ttl_s = 60;
    if (!o.max_ttl_s)
        o.max_ttl_s = 86400;
    if (!o.timeout_ms)
        o.timeout_ms = 2000;
    if (!o.tries)
        o.tries = 2;
    if (o.cache_size > PW_DNS_CACHE_MAX || o.min_ttl_s > o.max_ttl_s || o.timeout_ms > INT_MAX ||
        o.tries > 100 || (o.servers && o.servers[0] == '\0')) {
        err = -EINVAL;
        goto out;
    }

    d = calloc(1, sizeof(*d));
    if (!d) {
        err = -ENOMEM;
        goto out;
    }
    d->cap = o.cache_size;
    d->negative_ttl_s = o.negative_ttl_s;
    d->fail_ttl_s = o.negative_ttl_s < PW_DNS_FAIL_TTL_S ? o.negative_ttl_s : PW_DNS_FAIL_TTL_S;
    d->min_ttl_s = o.min_ttl_s;
    d->max_ttl_s = o.max_ttl_s;
    d->seed = seed_make(d);
    /* At least two buckets per entry keeps chains short without resizing ever. */
    while (nbuckets < 2 * d->cap)
        nbuckets <<= 1;
    d->bucket_mask = nbuckets - 1;
    d->entries = calloc(d->cap, sizeof(*d->entries));
    d->buckets = malloc(nbuckets * sizeof(*d->buckets));
    if (!d->entries || !d->buckets) {
        err = -ENOMEM;
        goto out;
    }
    memset(d->buckets, 0xff, nbuckets * sizeof(*d->buckets));
    for (uint32_t i = 0; i < d->cap; i++) {
        d->entries[i].owner = d;
        d->entries[i].hnext = PW_DNS_NIL;
        d->entries[i].prev = PW_DNS_NIL;
        d->entries[i].next = i + 1 < d->cap ? i + 1 : PW_DNS_NIL;
    }
    d->free_head = 0;
    d->lru_head = d->lru_tail = PW_DNS_NIL;

    /* Reference-counted inside c-ares; needed on some platforms, harmless on Linux. */
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
        err = -ENOMEM;
        goto out;
    }
    d->lib_init = true;

    memset(&ao, 0, sizeof(ao));
    ao.timeout = (int)o.timeout_ms;
    ao.tries = (int)o.tries;
    rc = ares_init_options(&d->channel, &ao, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc != ARES_SUCCESS) {
        err = rc == ARES_ENOMEM ? -ENOMEM : -EIO;
        goto out;
    }
    d->channel_init = true;
    if (o.servers) {
        rc = ares_set_servers_ports_csv(d->channel, o.servers);
        if (rc != ARES_SUCCESS) {
            err = rc == ARES_ENOMEM ? -ENOMEM : -EINVAL;
            goto out;
        }
    }

out:
    if (err) {
        pw_dns_free(d);
        errno = -err;
        return NULL;
    }
    return d;
}

void pw_dns_free(struct pw_dns *d)
{
    if (!d)
        return;
    /* ares_destroy() calls every pending callback with ARES_EDESTRUCTION. */
    d->closing = true;
    if (d->channel_init)
        ares_destroy(d->channel);
    if (d->lib_init)
        ares_library_cleanup();
    free(d->buckets);
    free(d->entries);
    free(d);
}
