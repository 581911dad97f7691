/* PingWatcher — `pingwatcherd`, the monitoring daemon: main() parses the command line and
 * hands over to daemon.c.
 *
 * It always runs in the foreground, logging to stderr: that is what systemd (Type=simple, see
 * conf/pingwatcherd.service) and every other supervisor want. -f is accepted for scripts
 * written for daemons that fork; there is no forking mode.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

#ifndef PW_VERSION
#define PW_VERSION "unknown"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: pingwatcherd -c CONFIG [-f] [--db DIR] [--control PATH] [-v|--log-level L]\n"
            "  -c, --config FILE   configuration file (see conf/README.md)\n"
            "  -f, --foreground    run in the foreground (always the case; for systemd)\n"
            "      --db DIR        store directory (overrides \"database\")\n"
            "      --control PATH  control socket (overrides \"control.path\")\n"
            "      --log-level L   error, warning, notice, info or debug (overrides the file)\n"
            "  -v                  same as --log-level debug\n"
            "      --check         only validate the configuration file and exit\n"
            "      --version       print the version\n"
            "Signals: SIGTERM/SIGINT flush and exit, SIGHUP reloads the configuration.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"foreground", no_argument, NULL, 'f'},
        {"db", required_argument, NULL, 'D'},
        {"control", required_argument, NULL, 'S'},
        {"log-level", required_argument, NULL, 'L'},
        {"check", no_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct pwd_daemon_opts o = {.log_level = -1};
    struct pwd_daemon *d;
    char err[1024] = "";
    bool check = false;
    int c, code;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:fvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config_path = optarg;
            break;
        case 'f':
            break;
        case 'D':
            o.db_path = optarg;
            break;
        case 'S':
            o.control_path = optarg;
            break;
        case 'L':
            if (pwd_log_level_parse(optarg, &o.log_level) < 0) {
                fprintf(stderr,
                        "pingwatcherd: --log-level must be error, warning, notice, "
                        "info or debug (got '%s')\n",
                        optarg);
                return 2;
            }
            break;
        case 'v':
            o.log_level = PWD_LOG_DEBUG;
            break;
        case 'C':
            check = true;
            break;
        case 'V':
            printf("pingwatcherd %s\n", PW_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "pingwatcherd: option '%s' needs a value (try --help)\n",
                    argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "pingwatcherd: unknown option '%s' (try --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc || !o.config_path) {
        fprintf(stderr,
                optind != argc ? "pingwatcherd: unexpected argument '%s'\n"
                               : "pingwatcherd: -c CONFIG is required (try --help)%s\n",
                optind != argc ? argv[optind] : "");
        return 2;
    }
    if (check) {
        struct pwd_config cfg;
        int rc = pwd_config_load(o.config_path, &cfg, err, sizeof(err));
        pwd_config_deinit(&cfg);
        if (rc < 0) {
            fprintf(stderr, "pingwatcherd: %s\n", err);
            return 2;
        }
        printf("%s: OK\n", o.config_path);
        return 0;
    }
    d = pwd_daemon_new(&o, &code, err, sizeof(err));
    if (!d)
        return code;
    code = pwd_daemon_run(d) < 0 ? 1 : 0;
    pwd_daemon_free(d);
    return code;
}
