/* Unit tests for pingwatcherd's configuration file, control requests and time parsing
 * (engine-daemon/config.c, request.c) and the shared time parser (libtrace/timefmt.c). */
#include <stdlib.h>
#include <string.h>

#include "../../engine-daemon/config.h"
#include "../../engine-daemon/request.h"
#include "timefmt.h"
#include "check.h"

static int parse(const char *text, struct pwd_config *c, char *err, size_t errlen)
{
    err[0] = '\0';
    return pwd_config_parse(text, strlen(text), c, err, errlen);
}

static void test_defaults(void)
{
    struct pwd_config c;
    char err[512];

    CHECK_INT(parse("{}", &c, err, sizeof(err)), 0);
    CHECK_STR(c.database, "/var/lib/pingwatcher");
    CHECK_STR(c.control_path, "/run/pingwatcher/control.sock");
    CHECK_INT(c.control_mode, 0660);
    CHECK_INT(c.batch_max_ms, 100);
    CHECK_INT(c.persist_samples, 3);
    CHECK_INT(c.dns_refresh_s, 300);
    CHECK_INT(c.defaults.interval_ms, 2500);
    CHECK_INT(c.defaults.timeout_ms, 3000);
    CHECK_INT(c.defaults.max_hops, 30);
    CHECK_INT(c.defaults.inter_packet_delay_us, 25000);
    CHECK_INT(c.ntargets, 0);
    pwd_config_deinit(&c);
}

static void test_full(void)
{
    static const char text[] =
        "{\"database\": \"/tmp/db\", \"control\": {\"path\": \"/tmp/c.sock\", \"mode\": \"0600\"},"
        " \"user\": \"nobody\", \"max_probes_per_s\": 5000, \"batch\": {\"max_ms\": 50},"
        " \"route_change\": {\"persist_samples\": 5}, \"dns\": {\"enabled\": false},"
        " \"defaults\": {\"trace_interval\": 1, \"packet_type\": \"udp\"},"
        " \"targets\": [{\"host\": \"198.18.1.1\", \"label\": \"a\", \"config\": \"fast\","
        "   \"max_hops\": 12},"
        "  {\"host\": \"web.sim.example\", \"comment\": \"a name\"}],"
        " \"configurations\": {\"fast\": {\"trace_interval\": 0.2, \"packet_type\": \"tcp\"}}}";
    struct pwd_config c;
    struct pw_trace_opts o;
    char err[512];

    CHECK_INT(parse(text, &c, err, sizeof(err)), 0);
    CHECK_STR(err, "");
    CHECK_INT(c.control_mode, 0600);
    CHECK_INT(c.max_probes_per_s, 5000);
    CHECK_INT(c.batch_max_ms, 50);
    CHECK_INT(c.persist_samples, 5);
    CHECK(!c.dns_enabled);
    CHECK_INT(c.ntargets, 2);
    CHECK_INT(c.npresets, 1);
    /* defaults, then the named configuration, then the target's own keys */
    o = c.defaults;
    pwd_opt_apply(&o, &pwd_config_preset_find(&c, "fast")->opts);
    pwd_opt_apply(&o, &c.targets[0].opts);
    CHECK_INT(o.interval_ms, 200);
    CHECK_INT(o.proto, PW_PROTO_TCP);
    CHECK_INT(o.max_hops, 12);
    CHECK_INT(c.defaults.proto, PW_PROTO_UDP);
    pwd_config_deinit(&c);
}

static void test_errors(void)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"{\"targets\": [{\"host\": \"198.18.1.1\"}, {\"host\": \"198.18.1.2\","
         " \"trace_interval\": -3}]}",
         "targets[1]: \"trace_interval\" must be between 0.01 and 86400 s (got -3)"},
        {"{\"defualts\": {}}", "unknown key \"defualts\""},
        {"{\"targets\": [{\"host\": \"a\", \"colour\": 1}]}", "targets[0]: unknown key \"colour\""},
        {"{\"targets\": [{\"label\": \"x\"}]}", "targets[0]: \"host\" is missing"},
        {"{\"targets\": [{\"host\": \"a\"}, {\"host\": \"a\"}]}", "declared twice"},
        {"{\"targets\": [{\"host\": \"a\", \"config\": \"nope\"}]}", "does not define"},
        {"{\"defaults\": {\"max_hops\": 65}}",
         "defaults: \"max_hops\" must be a whole number between 1 and 64 (got 65)"},
        {"{\"defaults\": {\"packet_type\": \"sctp\"}}", "\"packet_type\" must be"},
        {"{\"control\": {\"mode\": \"0999\"}}", "\"mode\" must be an octal string"},
        {"{\"control\": {\"path\": \"relative.sock\"}}", "absolute path"},
        {"{\"batch\": {\"max_ms\": \"fast\"}}",
         "batch: \"max_ms\" must be a number (got a string)"},
        {"{\"log_level\": \"loud\"}", "\"log_level\" must be"},
        {"{\"targets\": {}}", "\"targets\" must be an array"},
        {"{\"group\": \"x\"}", "\"group\" needs \"user\""},
        {"{\"targets\": [{\"host\": \"a b\"}]}", "must be a host name or an IP address"},
        {"{\"database\": 1", "not valid JSON"},
        {"[]", "must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pwd_config c;
        char err[512];
        int rc = parse(cases[i].text, &c, err, sizeof(err));
        CHECK(rc < 0);
        if (!strstr(err, cases[i].want)) {
            fprintf(stderr, "case %zu: error \"%s\" lacks \"%s\"\n", i, err, cases[i].want);
            CHECK(0);
        }
        CHECK_INT(c.ntargets, 0); /* left initialised and empty */
        pwd_config_deinit(&c);
    }
}

static int req(const char *line, struct pwd_request *r, char *err, size_t errlen)
{
    err[0] = '\0';
    return pwd_request_parse(line, strlen(line), r, err, errlen);
}

static void test_requests(void)
{
    struct pwd_request r;
    char err[600];

    CHECK_INT(req("{\"cmd\":\"target.add\",\"args\":{\"host\":\"198.18.1.1\","
                  "\"trace_interval\":0.5,\"label\":\"x\",\"final_hop_only\":true}}",
                  &r, err, sizeof(err)),
              0);
    CHECK_INT(r.cmd, PWD_CMD_TARGET_ADD);
    CHECK_STR(r.host, "198.18.1.1");
    CHECK_STR(r.label, "x");
    CHECK_INT(r.opts.mask, PWD_OPT_INTERVAL | PWD_OPT_FINAL_ONLY);
    CHECK_INT(r.opts.v.interval_ms, 500);
    CHECK(r.opts.v.final_hop_only);

    CHECK_INT(req("{\"cmd\":\"target.list\"}", &r, err, sizeof(err)), 0);
    CHECK_INT(r.cmd, PWD_CMD_TARGET_LIST);
    CHECK_INT(req("{\"cmd\":\"session.create\",\"args\":{\"target\":3,\"name\":\"n\","
                  "\"start\":\"2024-05-01T12:00:00Z\",\"end\":1714572000.5}}",
                  &r, err, sizeof(err)),
              0);
    CHECK_INT(r.start_us, 1714564800000000LL);
    CHECK_INT(r.end_us, 1714572000500000LL);

    CHECK(req("{\"cmd\":\"target.add\",\"args\":{\"host\":\"a\",\"trace_interval\":-3}}", &r, err,
              sizeof(err)) < 0);
    CHECK_STR(err, "\"trace_interval\" must be between 0.01 and 86400 s (got -3)");
    CHECK(req("{\"cmd\":\"target.add\",\"args\":{\"host\":\"a\",\"x\":1}}", &r, err, sizeof(err)) <
          0);
    CHECK(strstr(err, "unknown field \"x\" for target.add") != NULL);
    CHECK(req("{\"cmd\":\"target.remove\",\"args\":{\"id\":\"7\"}}", &r, err, sizeof(err)) < 0);
    CHECK_STR(err, "\"id\" must be a number (got a string)");
    CHECK(req("{\"cmd\":\"target.remove\",\"args\":{}}", &r, err, sizeof(err)) < 0);
    CHECK_STR(err, "target.remove needs \"id\"");
    CHECK(req("{\"cmd\":\"target.update\",\"args\":{\"id\":1}}", &r, err, sizeof(err)) < 0);
    CHECK(req("{\"cmd\":\"nope\"}", &r, err, sizeof(err)) < 0);
    CHECK(strstr(err, "unknown command \"nope\"") != NULL);
    CHECK(req("{\"cmd\":\"stats\"} x", &r, err, sizeof(err)) < 0);
    CHECK(req("{\"cmd\":\"stats\",\"cmd\":\"stats\"}", &r, err, sizeof(err)) < 0);
    CHECK(req("", &r, err, sizeof(err)) < 0);
    {
        char *big = malloc(PWD_REQUEST_MAX + 10);
        memset(big, ' ', PWD_REQUEST_MAX + 10);
        CHECK(pwd_request_parse(big, PWD_REQUEST_MAX + 10, &r, err, sizeof(err)) < 0);
        CHECK(strstr(err, "longer than") != NULL);
        free(big);
    }
    {
        char *line = pwd_response_error(PWD_ERR_NOT_FOUND, "target 9 \"x\" does not exist");
        CHECK_STR(line, "{\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":\"target 9 "
                        "\\\"x\\\" does not exist\"}}\n");
        free(line);
        line = pwd_response_ok(NULL);
        CHECK_STR(line, "{\"ok\":true,\"result\":{}}\n");
        free(line);
    }
}

static void test_times(void)
{
    char err[256], buf[PW_TIMEFMT_STRLEN];
    int64_t us;

    CHECK_INT(pw_timefmt_parse("1700000000", "t", &us, err, sizeof(err)), 0);
    CHECK_INT(us, 1700000000000000LL);
    CHECK_INT(pw_timefmt_parse("2024-05-01T14:00:00.25+02:00", "t", &us, err, sizeof(err)), 0);
    CHECK_INT(us, 1714564800250000LL);
    CHECK_INT(pw_timefmt_parse("2024-02-29 00:00:00z", "t", &us, err, sizeof(err)), 0);
    CHECK(pw_timefmt_parse("2023-02-29T00:00:00Z", "t", &us, err, sizeof(err)) < 0);
    CHECK(pw_timefmt_parse("yesterday", "--start", &us, err, sizeof(err)) < 0);
    CHECK(strstr(err, "--start must be Unix seconds or an RFC 3339 time") != NULL);
    CHECK(pw_timefmt_parse("-5", "t", &us, err, sizeof(err)) < 0);
    CHECK(pw_timefmt_parse("2024-05-01T12:00:00", "t", &us, err, sizeof(err)) < 0);
    CHECK_STR(pw_timefmt_rfc3339_us(1714564800250000LL, buf, sizeof(buf)),
              "2024-05-01T12:00:00.250000Z");
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_full);
    RUN(test_errors);
    RUN(test_requests);
    RUN(test_times);
    return check_exit();
}
