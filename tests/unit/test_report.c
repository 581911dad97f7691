/* Unit tests: per-hop reports built from samples, and their JSON. */
#include <stdlib.h>

#include "check.h"
#include "report.h"

/* Builds a sample of n hops; rtt_us[i] < 0 means hop i+1 was lost. The last hop is the
 * destination when reached is set. */
static void make_sample(struct pw_sample *s, struct pw_hop_result *h, const int *rtt_us, int n,
                        bool reached, const char *const *addrs)
{
    memset(s, 0, sizeof(*s));
    memset(h, 0, sizeof(*h) * (size_t)n);
    for (int i = 0; i < n; i++) {
        h[i].ttl = (uint8_t)(i + 1);
        h[i].answered = rtt_us[i] >= 0;
        if (h[i].answered) {
            h[i].rtt_us = (uint32_t)rtt_us[i];
            pw_addr_parse(addrs[i], &h[i].from);
        }
        h[i].reached = reached && i == n - 1 && h[i].answered;
    }
    s->nhops = (uint8_t)n;
    s->reached = reached && rtt_us[n - 1] >= 0;
    s->hop = h;
}

static void test_window_and_json(void)
{
    const char *const addrs[] = {"198.18.1.1", "198.18.2.1", "198.18.3.1"};
    const char *const ecmp[] = {"198.18.1.1", "198.18.2.2", "198.18.3.1"};
    const int a[] = {1000, 2000, 3000};
    const int b[] = {1500, -1, 4000};
    const int c[] = {500, 2500, 5000};
    struct pw_hop_result h[3];
    struct pw_sample s;
    struct pw_report *r = calloc(1, sizeof(*r));
    struct pw_report_acc *acc = pw_report_acc_new(30, 2); /* keeps the newest two */
    cJSON *j;
    char *text;

    make_sample(&s, h, a, 3, true, addrs);
    pw_report_acc_add(acc, &s);
    make_sample(&s, h, b, 3, true, addrs);
    pw_report_acc_add(acc, &s);
    make_sample(&s, h, c, 3, true, ecmp);
    pw_report_acc_add(acc, &s);

    pw_report_acc_finish(acc, 0, r); /* samples b and c */
    CHECK_INT(r->samples, 2);
    CHECK_INT(r->nhops, 3);
    CHECK_INT(r->hop[0].stats.sent, 2);
    CHECK_NEAR(r->hop[0].stats.avg_ms, 1.0, 1e-9);
    CHECK_NEAR(r->hop[0].stats.min_ms, 0.5, 1e-9);
    CHECK_NEAR(r->hop[0].stats.max_ms, 1.5, 1e-9);
    CHECK_NEAR(r->hop[0].stats.cur_ms, 0.5, 1e-9);
    CHECK_INT(r->hop[1].stats.lost, 1);
    CHECK_NEAR(r->hop[1].stats.loss_pct, 50.0, 1e-9);
    CHECK_INT(r->hop[1].naddrs, 1); /* the lost sample names no responder */
    CHECK_NEAR(r->hop[2].stats.avg_ms, 4.5, 1e-9);

    pw_report_acc_finish(acc, 1, r); /* only c */
    CHECK_INT(r->samples, 1);
    CHECK_NEAR(r->hop[1].stats.cur_ms, 2.5, 1e-9);

    snprintf(r->target, sizeof(r->target), "dest.sim.example");
    pw_addr_parse("198.18.3.1", &r->ip);
    r->proto = PW_PROTO_UDP;
    snprintf(r->hop[0].dns, sizeof(r->hop[0].dns), "core1.sim.example");
    j = pw_report_json(r);
    text = cJSON_PrintUnformatted(j);
    CHECK_STR(text,
              "{\"target\":\"dest.sim.example\",\"ip\":\"198.18.3.1\",\"packet_type\":\"udp\","
              "\"samples\":1,\"hops\":["
              "{\"hop\":1,\"ip\":\"198.18.1.1\",\"dns\":\"core1.sim.example\","
              "\"ips\":[\"198.18.1.1\"],\"sent\":1,\"lost\":0,\"loss_pct\":0,\"avg_ms\":0.5,"
              "\"min_ms\":0.5,\"max_ms\":0.5,\"cur_ms\":0.5,\"jitter_ms\":0,\"stddev_ms\":0},"
              "{\"hop\":2,\"ip\":\"198.18.2.2\",\"dns\":null,\"ips\":[\"198.18.2.2\"],\"sent\":1,"
              "\"lost\":0,\"loss_pct\":0,\"avg_ms\":2.5,\"min_ms\":2.5,\"max_ms\":2.5,"
              "\"cur_ms\":2.5,\"jitter_ms\":0,\"stddev_ms\":0},"
              "{\"hop\":3,\"ip\":\"198.18.3.1\",\"dns\":null,\"ips\":[\"198.18.3.1\"],\"sent\":1,"
              "\"lost\":0,\"loss_pct\":0,\"avg_ms\":5,\"min_ms\":5,\"max_ms\":5,\"cur_ms\":5,"
              "\"jitter_ms\":0,\"stddev_ms\":0}]}");
    free(text);
    cJSON_Delete(j);
    pw_report_acc_free(acc);
    free(r);
}

static void test_lost_hop_json_nulls(void)
{
    const char *const addrs[] = {"198.18.1.1", "198.18.2.1", "198.18.3.1"};
    const int a[] = {1000, -1, 3000};
    struct pw_hop_result h[3];
    struct pw_sample s;
    struct pw_report *r = calloc(1, sizeof(*r));
    struct pw_report_acc *acc = pw_report_acc_new(30, 10);
    cJSON *j, *hop2;

    for (int k = 0; k < 3; k++) {
        make_sample(&s, h, a, 3, true, addrs);
        pw_report_acc_add(acc, &s);
    }
    pw_report_acc_finish(acc, 0, r);
    CHECK_INT(r->nhops, 3);
    CHECK_INT(r->hop[1].stats.sent, 3);
    CHECK_INT(r->hop[1].stats.lost, 3);
    CHECK(r->hop[1].stats.cur_lost);
    CHECK(!r->hop[1].stats.has_latency);
    j = pw_report_json(r);
    hop2 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "hops"), 1);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(hop2, "ip")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(hop2, "avg_ms")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(hop2, "cur_ms")));
    CHECK_NEAR(cJSON_GetObjectItem(hop2, "loss_pct")->valuedouble, 100.0, 1e-9);
    cJSON_Delete(j);
    pw_report_acc_free(acc);
    free(r);
}

static void test_destination_closer_than_probed(void)
{
    /* First sample probed 4 hops (the destination was not known yet and answered at 3 and 4);
     * the report ends at the destination and does not count hop 4 of it. */
    const char *const addrs[] = {"198.18.1.1", "198.18.2.1", "198.18.3.1", "198.18.3.1"};
    const int a[] = {1000, 2000, 3000};
    struct pw_hop_result h[4];
    struct pw_sample s;
    struct pw_report *r = calloc(1, sizeof(*r));
    struct pw_report_acc *acc = pw_report_acc_new(30, 10);

    make_sample(&s, h, a, 3, true, addrs);
    pw_report_acc_add(acc, &s);
    pw_report_acc_finish(acc, 0, r);
    CHECK_INT(r->nhops, 3);
    CHECK_INT(r->hop[3].stats.sent, 0);
    pw_report_acc_free(acc);
    free(r);
}

int main(void)
{
    RUN(test_window_and_json);
    RUN(test_lost_hop_json_nulls);
    RUN(test_destination_closer_than_probed);
    return check_exit();
}
