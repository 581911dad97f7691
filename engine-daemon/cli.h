/* PingWatcher — the `pingwatcher` command-line tool: subcommands, exit statuses and the
 * helpers they share (cli.c). */
#ifndef PW_CLI_H
#define PW_CLI_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses shared by every subcommand. */
enum {
    PW_EXIT_FAILURE = 1,   /* the work could not be done (system error, daemon unreachable) */
    PW_EXIT_USAGE = 2,     /* bad command line: unknown option, bad value, unknown host */
    PW_EXIT_PRIVILEGE = 3, /* CAP_NET_RAW is missing */
};

/* Where the daemon's store and control socket are: global options (-c CONFIG, --db DIR,
 * --control PATH, before the subcommand or among its options). Paths not given come from the
 * configuration file (-c, else /etc/pingwatcher/pingwatcher.json when it exists), else the
 * defaults. */
struct pw_cli_env {
    const char *config;
    const char *db;
    const char *control;
};

/* getopt_long entries for the global options, to append to a subcommand's table; their
 * values are 0x100.. (PW_CLI_OPT_*). */
#define PW_CLI_OPT_CONFIG 0x100
#define PW_CLI_OPT_DB 0x101
#define PW_CLI_OPT_CONTROL 0x102
#define PW_CLI_GLOBAL_LONGOPTS                                                                     \
    {"config", required_argument, NULL, PW_CLI_OPT_CONFIG},                                        \
        {"db", required_argument, NULL, PW_CLI_OPT_DB},                                            \
    {                                                                                              \
        "control", required_argument, NULL, PW_CLI_OPT_CONTROL                                     \
    }

/* Handles a global option returned by getopt_long; returns 1 when c was one. */
int pw_cli_global_opt(struct pw_cli_env *env, int c, const char *arg);

/* Resolves the store directory and control socket path. Returns 0 or an exit status (the
 * error is printed, prefixed with cmd). */
int pw_cli_paths(const struct pw_cli_env *env, const char *cmd, char *db, size_t dblen,
                 char *control, size_t controllen);

struct pw_store;
/* Opens the store read-only (the daemon is its only writer). Returns 0 and *out, or an exit
 * status after printing why. */
int pw_cli_store_open(const struct pw_cli_env *env, const char *cmd, struct pw_store **out);

/* Parses a target id (1..2^32-1). Returns 0 or PW_EXIT_USAGE (printed). */
int pw_cli_parse_id(const char *text, const char *cmd, uint32_t *id);

/* Sends {"cmd": name, "args": args} (args consumed, may be NULL) to the daemon and returns its
 * result in *result (caller deletes; may be NULL when not wanted). Returns 0 or an exit status
 * after printing one line: 1 when the daemon cannot be reached or fails, 2 when it rejected
 * the request as invalid. */
int pw_cli_call(const struct pw_cli_env *env, const char *cmd, const char *name, cJSON *args,
                cJSON **result);

/* `pingwatcher trace [options] HOST`. argv[0] is "trace". Returns the exit status. */
int pw_cmd_trace(int argc, char **argv);
/* `pingwatcher targets add|list|rm|pause|resume ...`. argv[0] is "targets". */
int pw_cmd_targets(int argc, char **argv, struct pw_cli_env *env);
/* `pingwatcher hops ID [--focus N] [--json]`. */
int pw_cmd_hops(int argc, char **argv, struct pw_cli_env *env);
/* `pingwatcher export ID --format csv|json [--start T] [--end T]`. */
int pw_cmd_export(int argc, char **argv, struct pw_cli_env *env);
/* `pingwatcher route-changes ID [--json]`. */
int pw_cmd_route_changes(int argc, char **argv, struct pw_cli_env *env);
/* `pingwatcher report ID [--start T] [--end T] [-o FILE]` (cmd_report.c). */
int pw_cmd_report(int argc, char **argv, struct pw_cli_env *env);

#endif
