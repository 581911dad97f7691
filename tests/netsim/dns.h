/*
 * dns.h - the simulated resolver at 198.18.0.53 / 2001:db8::53
 *
 * Answers PTR queries for the scenario's node addresses with their (possibly hostile) names
 * and A/AAAA queries for the scenario's "names". Queries are untrusted bytes: anything that is
 * not a well-formed single-question query is ignored.
 */
#ifndef PW_SIM_DNS_H
#define PW_SIM_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

#define PW_SIM_DNS_UDP_MAX 512 /* answers stay within classic DNS-over-UDP size */

/*
 * Build the answer to the DNS query q (a UDP payload of qlen bytes) into out (cap bytes, at
 * least PW_SIM_DNS_UDP_MAX). Returns the answer length, or 0 when the query must be ignored
 * (malformed, a response, or more than one question).
 */
size_t pw_sim_dns_answer(const struct pw_sim_scenario *scn, const uint8_t *q, size_t qlen,
                         uint8_t *out, size_t cap);

/* Describe query q for debug logs ("PTR 1.0.18.198.in-addr.arpa", non-printable bytes as
 * \xNN) into buf; always NUL-terminates when len > 0. */
void pw_sim_dns_describe(const uint8_t *q, size_t qlen, char *buf, size_t len);

#endif
