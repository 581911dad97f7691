/*
 * fuzz_netsim.c - libFuzzer target for netsim's parsers of untrusted bytes
 *
 * The first input byte picks the parser: probe packets (and every reply built from them), DNS
 * queries against a scenario with hostile names, or scenario JSON. Build:
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -I tests/netsim tests/netsim/fuzz/fuzz_netsim.c tests/netsim/{packet,dns,scenario}.c \
 *       -lcjson -lm
 * With -DPW_SIM_FUZZ_REPLAY (no libFuzzer) it builds a program that runs each file named on
 * its command line through the same code, so a corpus replays as a normal test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "packet.h"
#include "scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char scenario_json[] =
    "{\"names\": {\"host.sim.example\": [\"198.18.100.10\", \"2001:db8:100::10\"]},"
    " \"hops\": [{\"addr\": \"198.18.1.1\", \"addr6\": \"2001:db8:1::1\", \"rtt_ms\": 1,"
    "  \"name\": \"x\\u0007<script>alert(1)</script>.sim.example\"},"
    " {\"addr\": \"198.18.1.2\", \"addr6\": \"2001:db8:1::2\", \"rtt_ms\": 2}],"
    " \"dest\": {\"addr\": \"198.18.100.10\", \"addr6\": \"2001:db8:100::10\", \"rtt_ms\": 3,"
    "  \"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b\"}}";

static void fuzz_packet(const uint8_t *data, size_t size)
{
    static const uint8_t from[16] = {198, 18, 1, 1};
    struct pw_sim_reply_hdr h = {from, 64, 1};
    static uint8_t out[PW_SIM_PKT_MAX];
    struct pw_sim_probe p;
    const char *why;

    if (pw_sim_pkt_parse(data, size, &p, &why) == PW_SIM_PKT_IGNORE)
        return;
    pw_sim_pkt_icmp_error(&p, &h, 11, 0, 1, -1, out, sizeof(out));
    pw_sim_pkt_icmp_error(&p, &h, 3, 3, 5, 8, out, sizeof(out));
    pw_sim_pkt_icmp_error(&p, &h, 3, 3, 5, 0, out, 60);
    pw_sim_pkt_echo_reply(&p, &h, out, sizeof(out));
    pw_sim_pkt_tcp_reply(&p, &h, PW_SIM_TCP_SYN | PW_SIM_TCP_ACK, 1, 2, out, sizeof(out));
    if (p.l4len >= 8)
        pw_sim_pkt_udp_reply(&p, &h, p.l4 + 8, p.l4len - 8, out, sizeof(out));
}

static void fuzz_dns(const uint8_t *data, size_t size)
{
    static struct pw_sim_scenario *scn;
    uint8_t out[PW_SIM_DNS_UDP_MAX];
    char desc[300], err[256];

    if (scn == NULL &&
        pw_sim_scenario_parse(scenario_json, strlen(scenario_json), &scn, err, sizeof(err)) < 0) {
        fprintf(stderr, "fuzz_netsim: built-in scenario invalid: %s\n", err);
        abort();
    }
    pw_sim_dns_answer(scn, data, size, out, sizeof(out));
    pw_sim_dns_describe(data, size, desc, sizeof(desc));
}

static void fuzz_scenario(const uint8_t *data, size_t size)
{
    struct pw_sim_scenario *scn = NULL;
    char err[512];

    if (pw_sim_scenario_parse((const char *)data, size, &scn, err, sizeof(err)) == 0)
        pw_sim_scenario_free(scn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_packet(data + 1, size - 1);
        break;
    case 1:
        fuzz_dns(data + 1, size - 1);
        break;
    default:
        fuzz_scenario(data + 1, size - 1);
        break;
    }
    return 0;
}

#ifdef PW_SIM_FUZZ_REPLAY
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        static uint8_t buf[1 << 20];
        FILE *f = fopen(argv[i], "rb");
        size_t n;

        if (f == NULL) {
            perror(argv[i]);
            return 1;
        }
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
