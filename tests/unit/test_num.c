/* Unit tests: bounded number parsing. */
#include "check.h"
#include "error.h"
#include "num.h"

static void test_integers(void)
{
    char err[128];
    int64_t v = 0;

    CHECK_INT(pw_num_parse_i64("30", 1, 64, "max hops", &v, err, sizeof(err)), 0);
    CHECK_INT(v, 30);
    CHECK_INT(pw_num_parse_i64("-5", -10, 10, "x", &v, err, sizeof(err)), 0);
    CHECK_INT(v, -5);
    v = 7;
    CHECK_INT(pw_num_parse_i64("65", 1, 64, "max hops", &v, err, sizeof(err)), PW_E_RANGE);
    CHECK_STR(err, "max hops must be a whole number between 1 and 64 (got '65')");
    CHECK_INT(v, 7); /* unchanged on error */
    CHECK_INT(pw_num_parse_i64("", 1, 64, "n", &v, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_num_parse_i64(" 5", 1, 64, "n", &v, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_num_parse_i64("5x", 1, 64, "n", &v, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_num_parse_i64("0x10", 0, 64, "n", &v, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_num_parse_i64("99999999999999999999999", 0, 64, "n", &v, err, sizeof(err)),
              PW_E_RANGE);
    CHECK_INT(pw_num_parse_i64(NULL, 0, 64, "n", &v, err, sizeof(err)), PW_E_RANGE);
}

static void test_doubles(void)
{
    char err[128];
    double d = 0;

    CHECK_INT(pw_num_parse_double("2.5", 0.01, 86400, "interval", &d, err, sizeof(err)), 0);
    CHECK_NEAR(d, 2.5, 1e-12);
    CHECK_INT(pw_num_parse_double("1e2", 0, 1000, "x", &d, err, sizeof(err)), 0);
    CHECK_NEAR(d, 100, 1e-12);
    CHECK_INT(pw_num_parse_double("-3", 0.1, 86400, "interval", &d, err, sizeof(err)), PW_E_RANGE);
    CHECK_STR(err, "interval must be between 0.1 and 86400 (got '-3')");
    CHECK_INT(pw_num_parse_double("nan", 0, 1, "x", &d, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_num_parse_double("inf", 0, 1e308, "x", &d, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_num_parse_double("0x1p3", 0, 100, "x", &d, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_num_parse_double("1e999", 0, 1e308, "x", &d, err, sizeof(err)), PW_E_RANGE);
    CHECK_INT(pw_num_parse_double("1.2.3", 0, 100, "x", &d, err, sizeof(err)), PW_E_RANGE);
    /* Control characters in the echoed input are neutralised. */
    CHECK_INT(pw_num_parse_double("1\n2", 0, 100, "x", &d, err, sizeof(err)), PW_E_RANGE);
    CHECK(strchr(err, '\n') == NULL);
}

int main(void)
{
    RUN(test_integers);
    RUN(test_doubles);
    return check_exit();
}
