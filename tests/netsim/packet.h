/*
 * packet.h - parse probes read from the TUN device and build the replies a real path sends
 *
 * All functions take plain (buffer, length) pairs and never read outside them, so they can be
 * fed arbitrary bytes. Netsim is the ground truth the prober is tested against, so it has its
 * own checksum code and shares nothing with libtrace.
 */
#ifndef PW_SIM_PACKET_H
#define PW_SIM_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PW_SIM_PKT_MAX 2048 /* largest reply built; the TUN MTU is 1500 */

enum pw_sim_proto { PW_SIM_PROTO_ICMP, PW_SIM_PROTO_UDP, PW_SIM_PROTO_TCP };

enum pw_sim_pkt_kind {
    PW_SIM_PKT_IGNORE = 0, /* not something a path answers (RST, ND, MLD, fragments, junk) */
    PW_SIM_PKT_PROBE,      /* ICMP echo request, UDP datagram or TCP SYN */
    PW_SIM_PKT_DNS,        /* UDP to the simulated resolver's port 53 */
};

/* A parsed probe. Pointers borrow the buffer given to pw_sim_pkt_parse(). */
struct pw_sim_probe {
    int family; /* AF_INET or AF_INET6 */
    enum pw_sim_proto proto;
    uint8_t src[16], dst[16]; /* IPv4 uses the first 4 bytes */
    uint8_t ttl;              /* TTL / hop limit as sent by the prober */
    uint16_t sport, dport;    /* UDP/TCP ports; ICMP: identifier and 0 */
    uint16_t icmp_cksum;      /* ICMP checksum as sent (part of the Paris flow id) */
    uint32_t probe_id;        /* ICMP sequence, UDP checksum, TCP sequence number */
    const uint8_t *pkt;       /* the datagram, trimmed to the IP total length */
    size_t len;
    size_t l3len;      /* IP header incl. IPv4 options / IPv6 extension headers */
    const uint8_t *l4; /* transport header and payload */
    size_t l4len;      /* UDP: up to its length field; trailing padding is left out */
};

/* Source, TTL and IP identification of a reply. from is 4 or 16 bytes per probe family. */
struct pw_sim_reply_hdr {
    const uint8_t *from;
    uint8_t ttl;
    uint16_t ip_id;
};

/*
 * Parse one IP datagram of len bytes. Returns a PW_SIM_PKT_* kind and fills *p for PROBE and
 * DNS; for IGNORE *why (if not NULL) names the reason, a static string.
 */
enum pw_sim_pkt_kind pw_sim_pkt_parse(const uint8_t *pkt, size_t len, struct pw_sim_probe *p,
                                      const char **why);

/*
 * Build an ICMP/ICMPv6 error (type, code) about probe p, as a router or host would: the
 * original IP header with its TTL set to quoted_ttl (IPv4 header checksum fixed), followed by
 * quote_bytes bytes of what came after it (quote_bytes < 0: as much as fits in 576 bytes for
 * IPv4 and 1280 for IPv6). Returns the length written to out, 0 if cap is too small.
 */
size_t pw_sim_pkt_icmp_error(const struct pw_sim_probe *p, const struct pw_sim_reply_hdr *h,
                             uint8_t type, uint8_t code, uint8_t quoted_ttl, int quote_bytes,
                             uint8_t *out, size_t cap);

/* Build the echo reply to echo request p (same identifier, sequence and payload). Returns the
 * length written, 0 if it does not fit in cap. */
size_t pw_sim_pkt_echo_reply(const struct pw_sim_probe *p, const struct pw_sim_reply_hdr *h,
                             uint8_t *out, size_t cap);

/* Build a TCP segment answering SYN p: flags (PW_SIM_TCP_*), seq and ack as given; a SYN-ACK
 * carries an MSS option. Returns the length written, 0 if it does not fit in cap. */
size_t pw_sim_pkt_tcp_reply(const struct pw_sim_probe *p, const struct pw_sim_reply_hdr *h,
                            uint8_t flags, uint32_t seq, uint32_t ack, uint8_t *out, size_t cap);

/* Build a UDP datagram back to p's source and port from h->from, port p->dport, carrying
 * payload. Returns the length written, 0 if it does not fit in cap. */
size_t pw_sim_pkt_udp_reply(const struct pw_sim_probe *p, const struct pw_sim_reply_hdr *h,
                            const uint8_t *payload, size_t plen, uint8_t *out, size_t cap);

#define PW_SIM_TCP_FIN 0x01
#define PW_SIM_TCP_SYN 0x02
#define PW_SIM_TCP_RST 0x04
#define PW_SIM_TCP_PSH 0x08
#define PW_SIM_TCP_ACK 0x10

#endif
