/* libFuzzer target for pw_reply_parse(): any bytes, any length. Besides memory errors (with
 * -fsanitize=address) it checks what a parse promises.
 *
 * Checksums stop almost every mutation at the outermost layer, so each input is parsed twice:
 * as it is, and with its IPv4 header and ICMP/ICMPv6/TCP checksums repaired, which lets the
 * fuzzer reach the quoted-header and extension-header code. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "probe.h"
#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Fixes the transport checksum at l4 (l4_len bytes); the IP header at p is already checked. */
static void repair_l4(uint8_t *p, int v4, uint8_t proto, size_t l4, size_t l4_len)
{
    size_t off = proto == IPPROTO_TCP ? 16 : 2;
    uint32_t sum = 0;

    if (l4_len < off + 2)
        return;
    if (!(v4 && proto == IPPROTO_ICMP)) {
        sum = v4 ? pw_csum_add(0, p + 12, 8) : pw_csum_add(0, p + 8, 32);
        sum += proto + (uint32_t)l4_len;
    }
    put16(p + l4 + off, 0);
    put16(p + l4 + off, pw_csum_fold(pw_csum_add(sum, p + l4, l4_len)));
}

static void repair(uint8_t *p, size_t size)
{
    size_t hl, total;

    if (size >= 20 && p[0] >> 4 == 4) {
        hl = (size_t)(p[0] & 15) * 4;
        total = (size_t)p[2] << 8 | p[3];
        if (hl < 20 || total < hl || total > size)
            return;
        put16(p + 10, 0);
        put16(p + 10, pw_csum_fold(pw_csum_add(0, p, hl)));
        if (p[9] == IPPROTO_ICMP || p[9] == IPPROTO_TCP)
            repair_l4(p, 1, p[9], hl, total - hl);
    } else if (size >= 40 && p[0] >> 4 == 6) {
        total = 40 + ((size_t)p[4] << 8 | p[5]);
        if (total > size)
            return;
        if (p[6] == IPPROTO_ICMPV6 || p[6] == IPPROTO_TCP)
            repair_l4(p, 0, p[6], 40, total - 40);
    }
}

static void parse_and_check(const uint8_t *pkt, size_t size)
{
    struct pw_reply r;
    int rc = pw_reply_parse(pkt, size, &r);

    switch (rc) {
    case 0:
        if (r.from.family != r.probe_src.family || r.from.family != r.probe_dst.family ||
            (r.from.family != AF_INET && r.from.family != AF_INET6))
            abort();
        if (r.kind < PW_REPLY_TIME_EXCEEDED || r.kind > PW_REPLY_TCP_RST || r.reached > 1)
            abort();
        if (r.proto != PW_PROTO_ICMP && r.proto != PW_PROTO_UDP && r.proto != PW_PROTO_TCP)
            abort();
        /* Only ICMP errors quote a header. */
        if (r.quoted_ttl != 0 && r.kind != PW_REPLY_TIME_EXCEEDED && r.kind != PW_REPLY_UNREACH)
            abort();
        break;
    case PW_E_TRUNCATED:
    case PW_E_MALFORMED:
    case PW_E_CHECKSUM:
    case PW_E_NOT_OURS:
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;

    /* An exact-size heap copy, so a read one byte past the input is caught even when the
     * fuzzer's own buffer is larger. */
    copy = calloc(1, size ? size : 1);
    if (copy == NULL)
        return 0;
    if (size)
        memcpy(copy, data, size);
    parse_and_check(copy, size);
    repair(copy, size);
    parse_and_check(copy, size);
    free(copy);
    return 0;
}
