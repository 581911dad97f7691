/* Unit tests: alert rules (parsing, printing), the lifecycle state machine, the metric over a
 * window, and the state surviving a restart through the store's `alerts` DB. */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include "alert.h"
#include "check.h"
#include "diagnosis.h"
#include "error.h"
#include "stats.h"
#include "store.h"

#define T0 INT64_C(1700000000000000)
#define STEP INT64_C(1000000) /* 1 s between samples */

static struct pw_alert_rule rule_of(const char *json)
{
    struct pw_alert_rule r;
    char err[256] = "";
    cJSON *o = cJSON_Parse(json);
    int rc = pw_alert_rule_parse(o, NULL, &r, err, sizeof(err));

    if (rc != 0)
        fprintf(stderr, "parse failed: %s\n", err);
    CHECK_INT(rc, 0);
    cJSON_Delete(o);
    return r;
}

static int parse_err(const char *json, char *err, size_t errlen)
{
    struct pw_alert_rule r;
    cJSON *o = cJSON_Parse(json);
    int rc = pw_alert_rule_parse(o, NULL, &r, err, errlen);

    cJSON_Delete(o);
    return rc;
}

static void test_parse(void)
{
    struct pw_alert_rule r =
        rule_of("{\"name\":\"loss\",\"targets\":[\"3\",4],\"metric\":\"packet_loss_pct\","
                "\"operator\":\">=\","
                "\"threshold\":10,\"focus\":5,\"duration_samples\":3,\"hop\":\"198.18.7.1\","
                "\"repeat_interval_s\":60,\"actions\":[{\"type\":\"webhook\",\"url\":\"http://"
                "127.0.0.1:9/x\"},"
                "{\"type\":\"log\"},{\"type\":\"command\",\"name\":\"page-oncall\"},"
                "{\"type\":\"email\",\"to\":\"ops@example.org\"},{\"type\":\"image\"},{\"type\":"
                "\"comment\"}]}");
    char err[256];
    cJSON *j, *o;
    struct pw_alert_rule back, patched;
    char *txt;

    CHECK_STR(r.name, "loss");
    CHECK(!r.all_targets);
    CHECK_INT(r.ntargets, 2);
    CHECK_INT(r.targets[0], 3);
    CHECK_INT(r.targets[1], 4);
    CHECK_INT(r.metric, PW_ALERT_LOSS);
    CHECK_INT(r.op, PW_ALERT_GE);
    CHECK_INT(r.hop_kind, PW_ALERT_HOP_ADDR);
    CHECK_INT(r.nactions, 6);
    CHECK_STR(r.actions[2].arg, "page-oncall");
    CHECK(r.enabled);

    /* Round trip through JSON. */
    j = pw_alert_rule_json(&r);
    CHECK(j != NULL);
    CHECK_INT(pw_alert_rule_parse(j, NULL, &back, err, sizeof(err)), 0);
    CHECK_STR(back.name, r.name);
    CHECK_INT(back.nactions, 6);
    CHECK_INT(back.hop_kind, PW_ALERT_HOP_ADDR);
    txt = cJSON_PrintUnformatted(j);
    CHECK(strstr(txt, "\"hop\":\"198.18.7.1\"") != NULL);
    free(txt);
    cJSON_Delete(j);

    /* A partial update changes only the keys given. */
    o = cJSON_Parse("{\"enabled\":false,\"threshold\":20}");
    CHECK_INT(pw_alert_rule_parse(o, &r, &patched, err, sizeof(err)), 0);
    CHECK(!patched.enabled);
    CHECK_NEAR(patched.threshold, 20, 0);
    CHECK_INT(patched.focus, 5);
    cJSON_Delete(o);

    r = rule_of(
        "{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"route_change\",\"operator\":\">\","
        "\"threshold\":0,\"actions\":[{\"type\":\"log\"}]}");
    CHECK(r.all_targets);
    CHECK_INT(r.focus, 10);
    CHECK_INT(r.duration_samples, 1);
    CHECK_INT(r.repeat_interval_s, 300);
    CHECK_INT(r.hop_kind, PW_ALERT_HOP_FINAL);

    /* Errors name the key. */
    CHECK_INT(parse_err("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"x\",\"operator\":\">\","
                        "\"threshold\":0,\"actions\":[{\"type\":\"log\"}]}",
                        err, sizeof(err)),
              PW_E_RANGE);
    CHECK(strstr(err, "\"metric\"") != NULL);
    CHECK_INT(
        parse_err("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"avg_rtt_ms\",\"operator\":"
                  "\">\",\"threshold\":0,\"actions\":[{\"type\":\"webhook\",\"url\":"
                  "\"file:///etc/passwd\"}]}",
                  err, sizeof(err)),
        PW_E_RANGE);
    CHECK(strstr(err, "url") != NULL);
    CHECK_INT(
        parse_err("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"avg_rtt_ms\",\"operator\":"
                  "\">\",\"threshold\":0,\"actions\":[{\"type\":\"email\",\"to\":"
                  "\"a@b.c\\r\\nBcc: x@y.z\"}]}",
                  err, sizeof(err)),
        PW_E_RANGE);
    CHECK_INT(
        parse_err("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"avg_rtt_ms\",\"operator\":"
                  "\">\",\"threshold\":0,\"actions\":[{\"type\":\"command\",\"name\":"
                  "\"/bin/sh -c x\"}]}",
                  err, sizeof(err)),
        PW_E_RANGE);
    CHECK_INT(
        parse_err("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"avg_rtt_ms\",\"operator\":"
                  "\">\",\"threshold\":0,\"actions\":[{\"type\":\"log\",\"path\":\"/x\"}]}",
                  err, sizeof(err)),
        PW_E_RANGE);
    CHECK_INT(
        parse_err("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"avg_rtt_ms\",\"operator\":"
                  "\">\",\"threshold\":0,\"focus\":0,\"actions\":[{\"type\":\"log\"}]}",
                  err, sizeof(err)),
        PW_E_RANGE);
    CHECK(strstr(err, "\"focus\"") != NULL);
    CHECK_INT(
        parse_err("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"avg_rtt_ms\",\"operator\":"
                  "\">\",\"actions\":[{\"type\":\"log\"}]}",
                  err, sizeof(err)),
        PW_E_RANGE);
    CHECK(strstr(err, "\"threshold\" is required") != NULL);
    CHECK_INT(parse_err("{\"name\":\"a\",\"targets\":[1,1],\"metric\":\"avg_rtt_ms\",\"operator\":"
                        "\">\",\"threshold\":1,\"actions\":[{\"type\":\"log\"}]}",
                        err, sizeof(err)),
              PW_E_RANGE);
    CHECK_INT(
        parse_err("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"avg_rtt_ms\",\"operator\":"
                  "\">\",\"threshold\":1,\"hop\":65,\"actions\":[{\"type\":\"log\"}]}",
                  err, sizeof(err)),
        PW_E_RANGE);
    CHECK_INT(
        parse_err("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"avg_rtt_ms\",\"operator\":"
                  "\">\",\"threshold\":1,\"bogus\":1,\"actions\":[{\"type\":\"log\"}]}",
                  err, sizeof(err)),
        PW_E_RANGE);
    CHECK(strstr(err, "bogus") != NULL);

    /* Thresholds no metric can reach: below 0, or a loss above 100 %, whatever the key order. */
    CHECK_INT(
        parse_err("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"avg_rtt_ms\",\"operator\":"
                  "\">\",\"threshold\":-1,\"actions\":[{\"type\":\"log\"}]}",
                  err, sizeof(err)),
        PW_E_RANGE);
    CHECK(strstr(err, "\"threshold\" must be 0 or more (got -1)") != NULL);
    CHECK_INT(parse_err("{\"threshold\":100.5,\"name\":\"a\",\"targets\":\"all\",\"metric\":"
                        "\"packet_loss_pct\",\"operator\":\">\",\"actions\":[{\"type\":\"log\"}]}",
                        err, sizeof(err)),
              PW_E_RANGE);
    CHECK(strstr(err, "\"threshold\" of packet_loss_pct is a percentage: 0 to 100 (got 100.5)") !=
          NULL);
    r = rule_of("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"packet_loss_pct\","
                "\"operator\":\">=\",\"threshold\":100,\"actions\":[{\"type\":\"log\"}]}");
    CHECK_NEAR(r.threshold, 100, 0);
    r = rule_of("{\"name\":\"a\",\"targets\":\"all\",\"metric\":\"avg_rtt_ms\","
                "\"operator\":\">\",\"threshold\":250,\"actions\":[{\"type\":\"log\"}]}");
    /* A change: the new threshold against the old metric, a new metric against the old one. */
    o = cJSON_Parse("{\"threshold\":-5}");
    CHECK_INT(pw_alert_rule_parse(o, &r, &patched, err, sizeof(err)), PW_E_RANGE);
    CHECK(strstr(err, "\"threshold\" must be 0 or more (got -5)") != NULL);
    cJSON_Delete(o);
    o = cJSON_Parse("{\"metric\":\"packet_loss_pct\"}");
    CHECK_INT(pw_alert_rule_parse(o, &r, &patched, err, sizeof(err)), PW_E_RANGE);
    CHECK(strstr(err, "0 to 100 (got 250)") != NULL);
    cJSON_Delete(o);
    /* A change that leaves the condition alone does not re-judge a rule stored before. */
    r.threshold = -3;
    o = cJSON_Parse("{\"name\":\"renamed\"}");
    CHECK_INT(pw_alert_rule_parse(o, &r, &patched, err, sizeof(err)), 0);
    CHECK_STR(patched.name, "renamed");
    cJSON_Delete(o);
}

/* Feeds a pattern of holds (1) / not (0) one sample per second; counts events. */
static void run(const struct pw_alert_rule *r, struct pw_alert_state *st, const char *pattern,
                int64_t *t, int counts[4])
{
    for (const char *p = pattern; *p; p++) {
        counts[pw_alert_step(r, st, *p == '1', *t)]++;
        *t += STEP;
    }
}

static void test_lifecycle(void)
{
    struct pw_alert_rule r = rule_of(
        "{\"name\":\"l\",\"targets\":\"all\",\"metric\":\"packet_loss_pct\",\"operator\":\">\","
        "\"threshold\":10,\"duration_samples\":3,\"repeat_interval_s\":0,"
        "\"actions\":[{\"type\":\"log\"}]}");
    struct pw_alert_state st = {0};
    int c[4] = {0};
    int64_t t = T0;

    /* Two holds then a break: not long enough. */
    run(&r, &st, "110110", &t, c);
    CHECK_INT(c[PW_ALERT_EV_TRIGGER], 0);
    CHECK_INT(c[PW_ALERT_EV_RECOVER], 0);
    CHECK(!st.firing);
    /* Exactly duration_samples: one trigger at the third; a long episode triggers once. */
    run(&r, &st, "111", &t, c);
    CHECK_INT(c[PW_ALERT_EV_TRIGGER], 1);
    CHECK(st.firing);
    CHECK_INT(st.since_us, t - STEP);
    run(&r, &st, "1111111111", &t, c);
    CHECK_INT(c[PW_ALERT_EV_TRIGGER], 1);
    CHECK_INT(c[PW_ALERT_EV_REPEAT], 0);
    /* One recovery, however long it stays quiet. */
    run(&r, &st, "0000000", &t, c);
    CHECK_INT(c[PW_ALERT_EV_RECOVER], 1);
    CHECK(!st.firing);
    /* A second episode: a second trigger and recovery. */
    run(&r, &st, "11110", &t, c);
    CHECK_INT(c[PW_ALERT_EV_TRIGGER], 2);
    CHECK_INT(c[PW_ALERT_EV_RECOVER], 2);
    CHECK_INT(st.episodes, 2);

    /* duration 1: fires on the first hold. */
    r.duration_samples = 1;
    memset(&st, 0, sizeof(st));
    memset(c, 0, sizeof(int) * 4);
    run(&r, &st, "0100", &t, c);
    CHECK_INT(c[PW_ALERT_EV_TRIGGER], 1);
    CHECK_INT(c[PW_ALERT_EV_RECOVER], 1);
}

static void test_repeat(void)
{
    struct pw_alert_rule r =
        rule_of("{\"name\":\"r\",\"targets\":\"all\",\"metric\":\"avg_rtt_ms\",\"operator\":\">\","
                "\"threshold\":10,\"duration_samples\":1,\"repeat_interval_s\":5,"
                "\"actions\":[{\"type\":\"log\"}]}");
    struct pw_alert_state st = {0};
    int c[4] = {0};
    int64_t t = T0, trig;
    enum pw_alert_event ev;

    /* Trigger at 0 s; repeats at 5, 10, 15 s while it holds: 20 samples, 1 s apart. */
    run(&r, &st, "11111111111111111111", &t, c);
    CHECK_INT(c[PW_ALERT_EV_TRIGGER], 1);
    CHECK_INT(c[PW_ALERT_EV_REPEAT], 3);
    CHECK_INT(st.last_notify_us, T0 + 15 * STEP);
    /* Never sooner than the interval, even with samples closer together. */
    memset(&st, 0, sizeof(st));
    trig = T0;
    CHECK_INT(pw_alert_step(&r, &st, true, trig), PW_ALERT_EV_TRIGGER);
    CHECK_INT(pw_alert_step(&r, &st, true, trig + 4999999), PW_ALERT_EV_NONE);
    ev = pw_alert_step(&r, &st, true, trig + 5000000);
    CHECK_INT(ev, PW_ALERT_EV_REPEAT);
    CHECK_INT(pw_alert_step(&r, &st, true, trig + 5000001), PW_ALERT_EV_NONE);
    /* A recovery ends repeating. */
    CHECK_INT(pw_alert_step(&r, &st, false, trig + 6000000), PW_ALERT_EV_RECOVER);
    CHECK_INT(pw_alert_step(&r, &st, false, trig + 20000000), PW_ALERT_EV_NONE);
}

static void point(struct pw_alert_point *p, int64_t t, unsigned nhops, int32_t final_rtt)
{
    memset(p, 0, sizeof(*p));
    p->time_us = t;
    p->nhops = (uint8_t)nhops;
    for (unsigned i = 0; i + 1 < nhops; i++)
        p->rtt_us[i] = 1000 * (int32_t)(i + 1);
    p->rtt_us[nhops - 1] = final_rtt;
}

static void test_metric(void)
{
    struct pw_alert_rule r = rule_of(
        "{\"name\":\"m\",\"targets\":[1],\"metric\":\"packet_loss_pct\",\"operator\":\">=\","
        "\"threshold\":40,\"focus\":5,\"actions\":[{\"type\":\"log\"}]}");
    struct pw_alert_window w;
    struct pw_alert_point p;
    struct pw_alert_result res;
    struct pw_addr route[4];
    int32_t finals[] = {5000, PW_RTT_LOST, 7000, PW_RTT_LOST, 9000};

    CHECK_INT(pw_alert_window_init(&w, r.focus), 0);
    pw_alert_eval(&r, &w, NULL, 0, &res);
    CHECK(!res.valid && !res.holds);
    for (unsigned i = 0; i < 5; i++) {
        point(&p, T0 + i * STEP, 4, finals[i]);
        pw_alert_window_push(&w, &p);
    }
    pw_alert_eval(&r, &w, NULL, 0, &res);
    CHECK(res.valid);
    CHECK_NEAR(res.value, 40, 1e-9);
    CHECK(res.holds);
    CHECK_INT(res.hop, 4);
    /* The window slides: the two lost samples leave after two more answered ones. */
    point(&p, T0 + 5 * STEP, 4, 9000);
    pw_alert_window_push(&w, &p);
    point(&p, T0 + 6 * STEP, 4, 9000);
    pw_alert_window_push(&w, &p);
    pw_alert_eval(&r, &w, NULL, 0, &res);
    CHECK_NEAR(res.value, 20, 1e-9);
    CHECK(!res.holds);

    /* avg over the final hop: (7 + 9 + 9 + 9) / 4 answered = 8.5 ms. */
    r.metric = PW_ALERT_AVG;
    r.op = PW_ALERT_GT;
    r.threshold = 8;
    pw_alert_eval(&r, &w, NULL, 0, &res);
    CHECK_NEAR(res.value, 8.5, 1e-9);
    CHECK(res.holds);
    /* cur of hop 2 (always 2 ms). */
    r.metric = PW_ALERT_CUR;
    r.hop_kind = PW_ALERT_HOP_TTL;
    r.hop_ttl = 2;
    r.threshold = 1.5;
    pw_alert_eval(&r, &w, NULL, 0, &res);
    CHECK_NEAR(res.value, 2, 1e-9);
    CHECK(res.holds);
    CHECK_INT(res.hop, 2);
    /* By address: hop 3's responder. */
    memset(route, 0, sizeof(route));
    pw_addr_parse("198.18.0.23", &route[2]);
    pw_addr_parse("198.18.0.23", &r.hop_addr);
    r.hop_kind = PW_ALERT_HOP_ADDR;
    r.threshold = 2.5;
    pw_alert_eval(&r, &w, route, 4, &res);
    CHECK_INT(res.hop, 3);
    CHECK_NEAR(res.value, 3, 1e-9);
    CHECK(res.holds);
    /* An address not on the route: no value, never holds. */
    pw_addr_parse("198.18.9.9", &r.hop_addr);
    pw_alert_eval(&r, &w, route, 4, &res);
    CHECK(!res.valid && !res.holds);
    /* any: the first hop above 2.5 ms is hop 3. */
    r.hop_kind = PW_ALERT_HOP_ANY;
    pw_alert_eval(&r, &w, NULL, 0, &res);
    CHECK(res.holds);
    CHECK_INT(res.hop, 3);
    /* cur with the newest sample lost: no value. */
    r.hop_kind = PW_ALERT_HOP_FINAL;
    point(&p, T0 + 7 * STEP, 4, PW_RTT_LOST);
    pw_alert_window_push(&w, &p);
    r.threshold = 0;
    pw_alert_eval(&r, &w, NULL, 0, &res);
    CHECK(!res.valid && !res.holds);
    pw_alert_window_deinit(&w);
}

static void test_route_change(void)
{
    struct pw_alert_rule r = rule_of(
        "{\"name\":\"rc\",\"targets\":\"all\",\"metric\":\"route_change\",\"operator\":\">\","
        "\"threshold\":0,\"focus\":1,\"actions\":[{\"type\":\"log\"}]}");
    struct pw_alert_window w;
    struct pw_alert_point p;
    struct pw_alert_result res;
    struct pw_alert_state st = {0};
    int c[4] = {0};

    CHECK_INT(pw_alert_window_init(&w, r.focus), 0);
    for (unsigned i = 0; i < 10; i++) {
        point(&p, T0 + i * STEP, 3, 3000);
        if (i == 4) {
            p.route_changed = true;
            p.change_hop = 2;
        }
        pw_alert_window_push(&w, &p);
        pw_alert_eval(&r, &w, NULL, 0, &res);
        if (i == 4) {
            CHECK(res.holds);
            CHECK_INT(res.hop, 2);
            CHECK_NEAR(res.value, 1, 0);
        }
        c[pw_alert_step(&r, &st, res.holds, p.time_us)]++;
    }
    /* One change: one trigger, one recovery on the next sample. */
    CHECK_INT(c[PW_ALERT_EV_TRIGGER], 1);
    CHECK_INT(c[PW_ALERT_EV_RECOVER], 1);
    pw_alert_window_deinit(&w);
}

/* A path of 6 hops to 198.18.0.26, every sample reaching it; hops from lossy_from on lose every
 * tenth sample (lossy_from 0: none do), hop only_hop alone every third (0: none). */
static void diag_point(struct pw_alert_point *p, unsigned k, unsigned lossy_from, unsigned only_hop)
{
    memset(p, 0, sizeof(*p));
    p->time_us = T0 + k * STEP;
    p->nhops = 6;
    p->reached = true;
    for (unsigned ttl = 1; ttl <= 6; ttl++) {
        bool lost = (lossy_from && ttl >= lossy_from && k % 10 == 3) ||
                    (only_hop && ttl == only_hop && k % 3 == 0);
        p->rtt_us[ttl - 1] = lost ? PW_RTT_LOST : (int32_t)(1000 * ttl + 50 * (k % 7));
    }
}

static void test_diagnosis(void)
{
    struct pw_alert_rule r =
        rule_of("{\"name\":\"d\",\"targets\":[1],\"metric\":\"diagnosis\",\"operator\":\">=\","
                "\"threshold\":1,\"actions\":[{\"type\":\"log\"}]}");
    struct pw_alert_rule patched;
    struct pw_alert_window w;
    struct pw_alert_point p;
    struct pw_alert_result res;
    struct pw_diagnosis *d = malloc(sizeof(*d));
    struct pw_addr route[6], dest;
    char err[256] = "", ip[PW_ADDR_STRLEN];
    cJSON *o;

    /* Parsing: the metric is 0 or 1, so only ">= 1" is accepted; the focus defaults to 300
     * samples and may not be below 20; the name round-trips. */
    CHECK_INT(r.metric, PW_ALERT_DIAG);
    CHECK_STR(pw_alert_metric_name(r.metric), "diagnosis");
    CHECK_INT(r.focus, PW_ALERT_DIAG_FOCUS_DEFAULT);
    CHECK_INT(parse_err("{\"name\":\"d\",\"targets\":[1],\"metric\":\"diagnosis\","
                        "\"operator\":\">\",\"threshold\":0,\"actions\":[{\"type\":\"log\"}]}",
                        err, sizeof(err)),
              PW_E_RANGE);
    CHECK(strstr(err, "\"operator\": \">=\" and \"threshold\": 1") != NULL);
    CHECK_INT(parse_err("{\"name\":\"d\",\"targets\":[1],\"metric\":\"diagnosis\","
                        "\"operator\":\">=\",\"threshold\":1,\"focus\":10,"
                        "\"actions\":[{\"type\":\"log\"}]}",
                        err, sizeof(err)),
              PW_E_RANGE);
    CHECK(strstr(err, "at least 20 samples") != NULL);
    /* An update to the metric alone (from a loss rule with focus 5) gets the default focus;
     * one that keeps another metric's ">" is refused. */
    o = cJSON_Parse("{\"metric\":\"diagnosis\",\"operator\":\">=\",\"threshold\":1}");
    {
        struct pw_alert_rule loss =
            rule_of("{\"name\":\"l\",\"targets\":[1],\"metric\":\"packet_loss_pct\",\"operator\":"
                    "\">\",\"threshold\":5,\"focus\":5,\"actions\":[{\"type\":\"log\"}]}");
        CHECK_INT(pw_alert_rule_parse(o, &loss, &patched, err, sizeof(err)), 0);
        CHECK_INT(patched.focus, PW_ALERT_DIAG_FOCUS_DEFAULT);
        cJSON_Delete(o);
        o = cJSON_Parse("{\"metric\":\"diagnosis\"}");
        CHECK_INT(pw_alert_rule_parse(o, &loss, &patched, err, sizeof(err)), PW_E_RANGE);
    }
    cJSON_Delete(o);
    o = pw_alert_rule_json(&r);
    CHECK_INT(pw_alert_rule_parse(o, NULL, &patched, err, sizeof(err)), 0);
    CHECK_INT(patched.metric, PW_ALERT_DIAG);
    cJSON_Delete(o);

    for (unsigned i = 0; i < 6; i++) {
        snprintf(ip, sizeof(ip), "198.18.0.2%u", i + 1);
        CHECK_INT(pw_addr_parse(ip, &route[i]), 0);
    }
    dest = route[5];

    /* Loss from hop 4 to the destination (30 of 300): a problem starting at hop 4. */
    CHECK_INT(pw_alert_window_init(&w, r.focus), 0);
    for (unsigned k = 0; k < 300; k++) {
        diag_point(&p, k, 4, 0);
        pw_alert_window_push(&w, &p);
    }
    CHECK_INT(pw_alert_eval_diagnosis(&r, &w, route, 6, &dest, PW_PROTO_ICMP, d, &res), 0);
    CHECK(res.valid && res.holds);
    CHECK_NEAR(res.value, 1, 0);
    CHECK_INT(res.hop, 4);
    CHECK_INT(d->verdict, PW_DIAG_PROBLEM);
    CHECK_INT(d->samples, 300);
    CHECK_INT(d->problem[0].from_hop, 4);
    CHECK_INT(d->problem[0].lost, 30);
    CHECK(d->problem[0].to_destination);
    CHECK(strstr(d->summary, "198.18.0.24") != NULL);
    /* pw_alert_eval gives the diagnosis no value (it would allocate). */
    pw_alert_eval(&r, &w, route, 6, &res);
    CHECK(!res.valid && !res.holds);
    /* Without a result buffer: the same answer. */
    CHECK_INT(pw_alert_eval_diagnosis(&r, &w, NULL, 0, NULL, PW_PROTO_ICMP, NULL, &res), 0);
    CHECK(res.holds);
    CHECK_INT(res.hop, 4);

    /* The window slides to a clean path: no problem, value 0. */
    for (unsigned k = 300; k < 600; k++) {
        diag_point(&p, k, 0, 0);
        pw_alert_window_push(&w, &p);
    }
    CHECK_INT(pw_alert_eval_diagnosis(&r, &w, route, 6, &dest, PW_PROTO_ICMP, d, &res), 0);
    CHECK(res.valid && !res.holds);
    CHECK_NEAR(res.value, 0, 0);
    CHECK_INT(res.hop, 0);
    CHECK_INT(d->verdict, PW_DIAG_CLEAN);

    /* Loss at hop 3 alone (a third of its answers) does not persist: not a problem. */
    for (unsigned k = 600; k < 900; k++) {
        diag_point(&p, k, 0, 3);
        pw_alert_window_push(&w, &p);
    }
    CHECK_INT(pw_alert_eval_diagnosis(&r, &w, route, 6, &dest, PW_PROTO_ICMP, d, &res), 0);
    CHECK(res.valid && !res.holds);
    CHECK_INT(d->verdict, PW_DIAG_CLEAN);
    CHECK(d->nnotes >= 1);
    CHECK_INT(d->note[0].kind, PW_DIAG_NOTE_ICMP_DEPRIORITISED);
    CHECK_INT(d->note[0].hop, 3);
    pw_alert_window_deinit(&w);

    /* Ten samples, all lossy from hop 4: too few to judge, never holds. */
    CHECK_INT(pw_alert_window_init(&w, r.focus), 0);
    for (unsigned k = 0; k < 10; k++) {
        diag_point(&p, 3 + 10 * k, 4, 0);
        pw_alert_window_push(&w, &p);
    }
    CHECK_INT(pw_alert_eval_diagnosis(&r, &w, route, 6, &dest, PW_PROTO_ICMP, d, &res), 0);
    CHECK(res.valid && !res.holds);
    CHECK_INT(d->verdict, PW_DIAG_INSUFFICIENT);
    pw_alert_window_deinit(&w);
    free(d);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

struct found {
    int n;
    uint8_t val[PW_ALERT_STATE_BYTES];
    size_t vlen;
};

static int on_rec(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct found *f = arg;

    (void)k;
    (void)klen;
    f->n++;
    f->vlen = vlen;
    if (vlen <= sizeof(f->val))
        memcpy(f->val, v, vlen);
    return 0;
}

/* The state goes to the store at each transition; after a restart the daemon reads it back and
 * a condition that still holds neither triggers again nor loses its repeat schedule. */
static void test_restart(void)
{
    struct pw_alert_rule r = rule_of(
        "{\"name\":\"p\",\"targets\":\"all\",\"metric\":\"packet_loss_pct\",\"operator\":\">\","
        "\"threshold\":10,\"duration_samples\":2,\"repeat_interval_s\":10,"
        "\"actions\":[{\"type\":\"log\"}]}");
    char dir[] = "/tmp/pw_alert_test.XXXXXX", err[256];
    struct pw_store_opts so = {0};
    struct pw_store *s;
    struct pw_alert_state st = {0}, back;
    uint8_t enc[PW_ALERT_STATE_BYTES];
    const uint8_t key[] = {'s', 0, 0, 0, 1, 0, 0, 0, 7};
    struct pw_store_alert_kv kv = {key, sizeof(key), enc, sizeof(enc)};
    struct found f = {0};
    int c[4] = {0};
    int64_t t = T0;

    CHECK(mkdtemp(dir) != NULL);
    so.path = dir;
    s = pw_store_open(&so, err, sizeof(err));
    CHECK(s != NULL);
    if (!s)
        return;
    run(&r, &st, "111", &t, c);
    CHECK_INT(c[PW_ALERT_EV_TRIGGER], 1);
    pw_alert_state_encode(&st, enc);
    CHECK_INT(pw_store_alert_write(s, &kv, 1), 0);
    pw_store_close(s);

    s = pw_store_open(&so, err, sizeof(err));
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK_INT(pw_store_alert_scan(s, "s", 1, NULL, 0, on_rec, &f), 0);
    CHECK_INT(f.n, 1);
    CHECK_INT(pw_alert_state_decode(f.val, f.vlen, &back), 0);
    CHECK(back.firing);
    CHECK_INT(back.since_us, st.since_us);
    CHECK_INT(back.last_notify_us, st.last_notify_us);
    CHECK_INT(back.episodes, 1);
    /* Still holding after the restart: no second trigger; the repeat keeps its schedule (the
     * trigger was at T0 + 1 s, so the repeat is due at T0 + 11 s). */
    memset(c, 0, sizeof(c));
    t = T0 + 5 * STEP;
    run(&r, &st, "", &t, c);
    st = back;
    run(&r, &st, "111111", &t, c);
    CHECK_INT(c[PW_ALERT_EV_TRIGGER], 0);
    CHECK_INT(c[PW_ALERT_EV_REPEAT], 0);
    run(&r, &st, "1", &t, c);
    CHECK_INT(c[PW_ALERT_EV_REPEAT], 1);
    run(&r, &st, "0", &t, c);
    CHECK_INT(c[PW_ALERT_EV_RECOVER], 1);
    /* Malformed records are refused. */
    CHECK_INT(pw_alert_state_decode(f.val, 3, &back), PW_E_MALFORMED);
    enc[0] = 9;
    CHECK_INT(pw_alert_state_decode(enc, sizeof(enc), &back), PW_E_MALFORMED);
    /* Deleting by prefix. */
    CHECK_INT(pw_store_alert_delete_prefix(s, "s", 1), 0);
    f.n = 0;
    CHECK_INT(pw_store_alert_scan(s, "s", 1, NULL, 0, on_rec, &f), 0);
    CHECK_INT(f.n, 0);
    pw_store_close(s);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    test_parse();
    test_lifecycle();
    test_repeat();
    test_metric();
    test_route_change();
    test_diagnosis();
    test_restart();
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures != 0;
}
