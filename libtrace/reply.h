/* PingWatcher — parsing replies to our probes.
 *
 * pw_reply_parse() takes one captured IP packet (starting at the IP header, link layer
 * already removed) and says, without trusting anything in it, which probe it answers:
 * ICMP/ICMPv6 Time Exceeded and Destination Unreachable (through the quoted header), Echo
 * Reply, TCP SYN-ACK and RST. Every length is checked before it is read. It takes a plain
 * (buffer, length) so it can be fuzzed.
 */
#ifndef PW_REPLY_H
#define PW_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "probe.h"

enum pw_reply_kind {
    PW_REPLY_TIME_EXCEEDED = 1, /* TTL ran out at a router: an intermediate hop */
    PW_REPLY_UNREACH,           /* destination unreachable (port unreachable = reached) */
    PW_REPLY_ECHO,              /* echo reply from the destination */
    PW_REPLY_TCP_SYNACK,        /* destination port open */
    PW_REPLY_TCP_RST,           /* destination port closed */
};

struct pw_reply {
    enum pw_reply_kind kind;
    uint8_t icmp_type, icmp_code; /* of the reply, when it is ICMP */
    uint8_t reply_ttl;            /* TTL / hop limit of the reply packet itself */
    struct pw_addr from;          /* who answered (router or destination) */
    /* The probe it answers, recovered from the quoted header or the reply itself: */
    enum pw_proto proto;
    struct pw_addr probe_src, probe_dst;
    uint16_t sport;      /* UDP/TCP source port, or the ICMP echo identifier */
    uint16_t dport;      /* UDP/TCP destination port (0 for ICMP) */
    uint16_t probe_id;   /* see probe.h for where each protocol carries it */
    uint16_t tcp_seq_hi; /* TCP: high half of the probe's sequence number */
    /* For SYN-ACK and RST both come from the acknowledgment number minus one. A RST answering
     * a SYN that carried n payload bytes acknowledges those too (RFC 793; Linux does), so
     * for flows with a TCP payload the matcher subtracts n from (tcp_seq_hi << 16 | probe_id). */
    uint8_t quoted_ttl; /* TTL in the quoted header (0 when not quoted) */
    /* True when the reply means the destination was reached: echo reply, port unreachable
     * for UDP, SYN-ACK or RST for TCP, and any unreachable sent by the destination itself. */
    uint8_t reached;
};

/* Parses one IP packet of len bytes (bytes after the IP total length are ignored); pkt is
 * only read during the call. Returns 0 and fills out; or PW_E_TRUNCATED, PW_E_MALFORMED,
 * PW_E_CHECKSUM (bad IPv4 header or ICMP/TCP checksum on the reply), or PW_E_NOT_OURS (a
 * packet of a kind no probe of ours causes, e.g. an echo request, a UDP datagram, a bare RST,
 * a fragment). The kind is decided before checksums are verified, so foreign traffic is
 * NOT_OURS even when its checksum is unfinished (transmit offload). out is overwritten
 * (zeroed) also on error. */
int pw_reply_parse(const uint8_t *pkt, size_t len, struct pw_reply *out);

#endif
