/* PingWatcher — `pingwatcher`, the command-line tool. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef PW_VERSION
#define PW_VERSION "unknown"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: pingwatcher [-c CONFIG] [--db DIR] [--control PATH] COMMAND [options]\n"
            "commands:\n"
            "  trace HOST              run samples against HOST and print a per-hop report\n"
            "                          (pingwatcher trace --help for its options)\n"
            "  targets add HOST [...]  monitor HOST with pingwatcherd; prints its id\n"
            "  targets list [--json]   the monitored targets\n"
            "  targets rm|pause|resume ID\n"
            "  hops ID [--focus N] [--json]\n"
            "                          the stored hop table of a target\n"
            "  export ID --format csv|json [--start T] [--end T]\n"
            "                          every stored probe of a target\n"
            "  route-changes ID [--json]\n"
            "                          route changes detected for a target\n"
            "  report ID [--start T] [--end T] [-o FILE]  evidence report (one HTML file)\n"
            "  --version               print the version\n"
            "global options (before or after COMMAND):\n"
            "  -c CONFIG               pingwatcherd's configuration file: where the store and\n"
            "                          the control socket are (default "
            "/etc/pingwatcher/pingwatcher.json)\n"
            "  --db DIR                the store directory\n"
            "  --control PATH          pingwatcherd's control socket\n"
            "Changes go to pingwatcherd over its control socket; reads come from the store.\n");
}

int main(int argc, char **argv)
{
    struct pw_cli_env env = {0};
    const char *cmd;
    int i = 1;

    /* Global options come before the command: `trace` has its own -c (count). */
    while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0') {
        const char *a = argv[i];
        const char **dst = strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ? &env.config
                           : strcmp(a, "--db") == 0                           ? &env.db
                           : strcmp(a, "--control") == 0                      ? &env.control
                                                                              : NULL;
        if (!dst)
            break;
        if (i + 1 >= argc) {
            fprintf(stderr, "pingwatcher: option '%s' needs a value\n", a);
            return PW_EXIT_USAGE;
        }
        *dst = argv[i + 1];
        i += 2;
    }
    if (i >= argc) {
        usage(stderr);
        return PW_EXIT_USAGE;
    }
    cmd = argv[i];
    argc -= i;
    argv += i;
    if (strcmp(cmd, "trace") == 0)
        return pw_cmd_trace(argc, argv);
    if (strcmp(cmd, "targets") == 0)
        return pw_cmd_targets(argc, argv, &env);
    if (strcmp(cmd, "hops") == 0)
        return pw_cmd_hops(argc, argv, &env);
    if (strcmp(cmd, "export") == 0)
        return pw_cmd_export(argc, argv, &env);
    if (strcmp(cmd, "route-changes") == 0)
        return pw_cmd_route_changes(argc, argv, &env);
    if (strcmp(cmd, "report") == 0)
        return pw_cmd_report(argc, argv, &env);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("pingwatcher %s\n", PW_VERSION);
        return 0;
    }
    fprintf(stderr, "pingwatcher: unknown command '%s' (try --help)\n", cmd);
    return PW_EXIT_USAGE;
}
