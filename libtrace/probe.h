/* PingWatcher — probe crafting (libnet) for flow-stable (Paris) traceroute.
 *
 * Every probe of one target shares one flow: addresses, protocol, ports, and for ICMP the
 * identifier *and the checksum*. Per-flow load balancers hash those fields, so all probes of
 * a target follow one path. What changes from probe to probe is the TTL (hop limit) and a
 * 16-bit probe id, carried where the first 8 bytes of the transport header, which every ICMP
 * error quotes back, hold it without changing the flow:
 *
 *   ICMP echo   the sequence number; a 16-bit payload word compensates so the checksum
 *               stays at the flow's constant value.
 *   UDP         the UDP checksum itself: a 16-bit payload word is chosen so that the
 *               checksum equals the probe id (0 is never used, it means "no checksum").
 *   TCP SYN     the sequence number: (flow->tcp_seq_hi << 16) | probe id.
 *
 * The packet is built once per flow with libnet (pw_probe_tmpl_init) and then stamped per
 * probe (pw_probe_stamp), which rewrites a few bytes and fixes checksums incrementally: the
 * hot path neither allocates nor calls libnet.
 */
#ifndef PW_PROBE_H
#define PW_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

enum pw_proto {
    PW_PROTO_ICMP = 0,
    PW_PROTO_UDP = 1,
    PW_PROTO_TCP = 2,
};

/* Returns "icmp", "udp" or "tcp". */
const char *pw_proto_name(enum pw_proto p);
/* Parses "icmp", "udp" or "tcp" (case-insensitive). Returns 0 or PW_E_MALFORMED. */
int pw_proto_parse(const char *text, enum pw_proto *out);

/* Largest probe we build: an IP packet that fits a 1500-byte MTU. */
#define PW_PROBE_MAX_LEN 1500

/* Transport header lengths: packet_size counts the payload after them. */
#define PW_ICMP_HDR_LEN 8
#define PW_UDP_HDR_LEN 8
#define PW_TCP_HDR_LEN 20

/* Default payload sizes (bytes after the transport header). ICMP and UDP: 56, as ping(8) and
 * the spec; TCP: 0, so a SYN is 40 bytes (IPv4), which firewalls pass most readily. */
#define PW_DEFAULT_PAYLOAD_ICMP 56
#define PW_DEFAULT_PAYLOAD_UDP 56
#define PW_DEFAULT_PAYLOAD_TCP 0
#define PW_DEFAULT_UDP_PORT 33434
#define PW_DEFAULT_TCP_PORT 80

/* Everything constant across the probes of one target. */
struct pw_flow {
    enum pw_proto proto;
    struct pw_addr src; /* same family as dst */
    struct pw_addr dst;
    uint16_t sport;       /* UDP/TCP source port; for ICMP the echo identifier */
    uint16_t dport;       /* UDP/TCP destination port; unused for ICMP */
    uint16_t payload_len; /* packet_size: bytes after the transport header */
    uint16_t icmp_csum;   /* ICMP: the constant checksum every probe carries */
    uint16_t tcp_seq_hi;  /* TCP: high half of every sequence number */
};

/* A flow's packet, built once, stamped per probe. Owned by the caller (embed it). */
struct pw_probe_tmpl {
    struct pw_flow flow;
    uint16_t len;       /* total IP packet length */
    uint16_t l4_off;    /* offset of the transport header */
    uint16_t comp_off;  /* offset of the 16-bit compensation word (ICMP, UDP: the first
                           payload word; TCP: its checksum field) */
    uint16_t base_csum; /* internal: checksum state of the template */
    uint8_t pkt[PW_PROBE_MAX_LEN];
};

/* Checks the flow (payload size the protocol and the MTU can carry, families match, addresses
 * set, ports non-zero) and builds its template with libnet. Needs no privilege (libnet only
 * constructs, it opens no socket), so it may run after the daemon dropped CAP_NET_RAW. The
 * template is left stamped with TTL 64 and probe id 1. err may be NULL when errlen is 0.
 * On error returns PW_E_RANGE or PW_E_MALFORMED (or -ENOMEM), leaves t zeroed and writes a
 * user-facing reason into err, e.g.
 * "packet size must be between 2 and 1472 bytes for ICMP over IPv4 (got 9000)". */
int pw_probe_tmpl_init(struct pw_probe_tmpl *t, const struct pw_flow *flow, char *err,
                       size_t errlen);

/* Turns t->pkt into the probe with this TTL (hop limit, 1..255) and probe id. For UDP the
 * id must not be 0. Only a few bytes change; t->len stays. The IPv4 header's identification
 * is the probe id too. Allocates nothing, calls no libnet (about 10 ns). */
void pw_probe_stamp(struct pw_probe_tmpl *t, uint8_t ttl, uint16_t probe_id);

/* Internet checksum (RFC 1071) helpers, shared with the reply parser and netsim.
 * pw_csum_add adds data as big-endian 16-bit words to sum (any value, e.g. 0 or an earlier
 * result, plus pseudo-header fields added as plain integers) and returns the partial sum folded
 * to 16 bits; chunks may be chained as long as only the last has an odd length (it is padded
 * with a zero byte). pw_csum_fold returns the ones' complement of the folded sum: summed over
 * a message whose checksum field is zero, the value to store there; summed over a whole
 * message including its checksum, 0 when it verifies. Both are in host order. */
uint32_t pw_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t pw_csum_fold(uint32_t sum);

#endif
