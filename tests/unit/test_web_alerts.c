/* Unit tests of the alerts API's parsing (fcgi-app/api_alerts.c): request bodies, the checks
 * the API adds to pw_alert_rule_parse(), and the keys of the store's `alerts` DB. */
#include <errno.h>
#include <string.h>

#include "api_alerts.h"
#include "check.h"

static char err[512];

/* Parses a body and validates it as a new rule (base NULL) or a change of *base. */
static int rule(const char *text, const struct pw_alert_rule *base, struct pw_alert_rule *out)
{
    cJSON *o = NULL;
    int rc = pw_api_alert_body(text, strlen(text), &o, err, sizeof(err));

    if (rc == 0)
        rc = pw_api_alert_validate(o, base, out, err, sizeof(err));
    cJSON_Delete(o);
    return rc;
}

#define GOOD                                                                                       \
    "\"name\":\"loss\",\"targets\":[\"3\",4],\"metric\":\"packet_loss_pct\",\"operator\":\">=\","  \
    "\"threshold\":10,\"actions\":[{\"type\":\"log\"},{\"type\":\"webhook\",\"url\":"              \
    "\"http://127.0.0.1:9/x\"}]"

static void test_body(void)
{
    cJSON *o = NULL;

    CHECK_INT(pw_api_alert_body(NULL, 0, &o, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "JSON object") != NULL);
    CHECK_INT(pw_api_alert_body("{\"a\":1}", 7, &o, err, sizeof(err)), 0);
    CHECK(cJSON_IsObject(o));
    cJSON_Delete(o);
    CHECK_INT(pw_api_alert_body("{\"a\":1}  \n", 10, &o, err, sizeof(err)), 0);
    cJSON_Delete(o);
    CHECK_INT(pw_api_alert_body("[1,2]", 5, &o, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "must be a JSON object") != NULL);
    CHECK(o == NULL);
    CHECK_INT(pw_api_alert_body("{\"a\":1} {}", 10, &o, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "more than one JSON value (byte 8)") != NULL);
    CHECK_INT(pw_api_alert_body("{\"a\":", 5, &o, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "not valid JSON") != NULL);
    CHECK_INT(pw_api_alert_body("{\"a\":\"\xff\"}", 8, &o, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "UTF-8 text (byte 6)") != NULL);
    /* A NUL inside the body would hide what follows it from cJSON. */
    CHECK_INT(pw_api_alert_body("{}\0{", 4, &o, err, sizeof(err)), -EINVAL);
    /* Only the given length is read: no terminator needed. */
    CHECK_INT(pw_api_alert_body("{\"a\":1}garbage", 7, &o, err, sizeof(err)), 0);
    cJSON_Delete(o);
}

static void test_validate(void)
{
    struct pw_alert_rule r, r2;

    CHECK_INT(rule("{" GOOD "}", NULL, &r), 0);
    CHECK_STR(r.name, "loss");
    CHECK_INT(r.ntargets, 2);
    CHECK_INT(r.targets[0], 3);
    CHECK_INT(r.targets[1], 4);
    CHECK_INT(r.metric, PW_ALERT_LOSS);
    CHECK_INT(r.op, PW_ALERT_GE);
    CHECK_NEAR(r.threshold, 10, 0);
    CHECK_INT(r.nactions, 2);
    CHECK_STR(r.actions[1].arg, "http://127.0.0.1:9/x");
    CHECK(r.enabled);

    CHECK_INT(rule("{" GOOD ",\"metric\":\"loss\"}", NULL, &r2), -EINVAL);
    CHECK(strstr(err, "\"metric\" must be") != NULL);
    CHECK_INT(rule("{" GOOD ",\"operator\":\"=>\"}", NULL, &r2), -EINVAL);
    CHECK(strstr(err, "\"operator\"") != NULL);
    CHECK_INT(rule("{" GOOD ",\"colour\":1}", NULL, &r2), -EINVAL);
    CHECK(strstr(err, "unknown key \"colour\"") != NULL);
    CHECK_INT(rule("{" GOOD ",\"threshold\":\"10\"}", NULL, &r2), -EINVAL);
    CHECK(strstr(err, "\"threshold\" must be a number") != NULL);
    CHECK_INT(rule("{" GOOD ",\"targets\":5}", NULL, &r2), -EINVAL);
    CHECK(strstr(err, "\"targets\"") != NULL);
    /* The API's own checks. */
    CHECK_INT(rule("{" GOOD ",\"threshold\":-1}", NULL, &r2), -EINVAL);
    CHECK(strstr(err, "\"threshold\" must be 0 or more (got -1)") != NULL);
    CHECK_INT(rule("{" GOOD ",\"threshold\":100.5}", NULL, &r2), -EINVAL);
    CHECK(strstr(err, "0 to 100 (got 100.5)") != NULL);
    CHECK_INT(rule("{" GOOD ",\"metric\":\"avg_rtt_ms\",\"threshold\":250}", NULL, &r2), 0);
    /* Required keys on create, not on change. */
    CHECK_INT(rule("{\"name\":\"x\"}", NULL, &r2), -EINVAL);
    CHECK(strstr(err, "is required") != NULL);
    CHECK_INT(rule("{\"enabled\":false}", &r, &r2), 0);
    CHECK(!r2.enabled);
    CHECK_STR(r2.name, "loss");
    CHECK_INT(r2.nactions, 2);
    CHECK_INT(rule("{}", &r, &r2), -EINVAL);
    CHECK(strstr(err, "nothing to change") != NULL);
    CHECK_INT(rule("{\"enabled\":\"no\"}", &r, &r2), -EINVAL);
    CHECK_INT(rule("{\"threshold\":-5}", &r, &r2), -EINVAL);
    /* A change that leaves the condition alone does not re-judge an old threshold. */
    r.threshold = -3;
    CHECK_INT(rule("{\"name\":\"renamed\"}", &r, &r2), 0);
    CHECK_STR(r2.name, "renamed");
}

static void test_keys(void)
{
    static const uint8_t rk[5] = {'r', 0, 0, 1, 2};
    static const uint8_t sk[9] = {'s', 0, 0, 0, 7, 0, 1, 0, 0};
    static const uint8_t hk[18] = {'h', 0, 0, 0x01, 0x8f, 0x00, 0x00, 0x00, 0x10,
                                   0,   0, 0, 9,    0,    0,    0,    3,    1};
    struct pw_api_alert_hkey h;
    uint32_t a, b;

    CHECK_INT(pw_api_alert_rkey_parse(rk, 5, &a), 0);
    CHECK_INT(a, 258);
    CHECK_INT(pw_api_alert_rkey_parse(rk, 4, &a), -EINVAL);
    CHECK_INT(pw_api_alert_rkey_parse(sk, 5, &a), -EINVAL);
    CHECK_INT(pw_api_alert_skey_parse(sk, 9, &a, &b), 0);
    CHECK_INT(a, 7);
    CHECK_INT(b, 65536);
    CHECK_INT(pw_api_alert_skey_parse(sk, 10, &a, &b), -EINVAL);
    CHECK_INT(pw_api_alert_hkey_parse(hk, 18, &h), 0);
    CHECK_INT(h.time_us, 0x018f00000010LL);
    CHECK_INT(h.rule, 9);
    CHECK_INT(h.target, 3);
    CHECK_INT(h.event, PW_ALERT_EV_TRIGGER);
    CHECK_INT(pw_api_alert_hkey_parse(hk, 17, &h), -EINVAL);
    CHECK_INT(pw_api_alert_hkey_parse(rk, 5, &h), -EINVAL);
}

int main(void)
{
    test_body();
    test_validate();
    test_keys();
    return check_exit();
}
