/* PingWatcher — the `pingwatcher` command-line tool: subcommands and exit statuses. */
#ifndef PW_CLI_H
#define PW_CLI_H

/* Exit statuses shared by every subcommand. */
enum {
    PW_EXIT_FAILURE = 1,   /* the work could not be done (system error, interrupted) */
    PW_EXIT_USAGE = 2,     /* bad command line: unknown option, bad value, unknown host */
    PW_EXIT_PRIVILEGE = 3, /* CAP_NET_RAW is missing */
};

/* `pingwatcher trace [options] HOST`. argv[0] is "trace". Returns the exit status. */
int pw_cmd_trace(int argc, char **argv);

#endif
