/* PingWatcher — `pingwatcher`, the command-line tool. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef PW_VERSION
#define PW_VERSION "unknown"
#endif

static void usage(FILE *out)
{
    fprintf(out, "usage: pingwatcher COMMAND [options]\n"
                 "commands:\n"
                 "  trace HOST     run samples against HOST and print a per-hop report\n"
                 "                 (pingwatcher trace --help for its options)\n"
                 "  --version      print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return PW_EXIT_USAGE;
    }
    if (strcmp(argv[1], "trace") == 0)
        return pw_cmd_trace(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("pingwatcher %s\n", PW_VERSION);
        return 0;
    }
    fprintf(stderr, "pingwatcher: unknown command '%s' (try --help)\n", argv[1]);
    return PW_EXIT_USAGE;
}
