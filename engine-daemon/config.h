/* PingWatcher — pingwatcherd's configuration file (JSON, documented in conf/README.md) and
 * the trace options shared by the file and the control protocol.
 *
 * Loading validates everything that can be checked without the network or the store: types,
 * ranges, names of named configurations, unknown keys (rejected, so a typo never silently
 * turns into a default). Errors name the key and what was wrong:
 *   targets[2]: "trace_interval" must be between 0.01 and 86400 s (got -3)
 */
#ifndef PWD_CONFIG_H
#define PWD_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "store.h"
#include "trace.h"

/* Trace options as given somewhere (file defaults, a named configuration, a target, a
 * request): the values plus which of them were given. */
enum {
    PWD_OPT_INTERVAL = 1u << 0,
    PWD_OPT_PROTO = 1u << 1,
    PWD_OPT_SIZE = 1u << 2,
    PWD_OPT_TIMEOUT = 1u << 3,
    PWD_OPT_MAX_HOPS = 1u << 4,
    PWD_OPT_DELAY = 1u << 5,
    PWD_OPT_FINAL_ONLY = 1u << 6,
    PWD_OPT_PORT = 1u << 7,
};

struct pwd_opt_set {
    uint32_t mask;
    struct pw_trace_opts v;
};

/* Copies the options set in `set` over dst. */
void pwd_opt_apply(struct pw_trace_opts *dst, const struct pwd_opt_set *set);

/* Parses one member of a JSON object if its key is a trace option (trace_interval,
 * packet_type, packet_size, timeout, max_hops, inter_packet_delay, final_hop_only, port).
 * Returns 1 when it was one and is valid (stored in set), 0 when the key is not an option,
 * PW_E_RANGE with a reason naming the key in err when the value is wrong. */
int pwd_opt_parse_item(const cJSON *item, struct pwd_opt_set *set, char *err, size_t errlen);

/* The options as a JSON object with the keys above (seconds, milliseconds as documented).
 * NULL when out of memory. */
cJSON *pwd_opts_json(const struct pw_trace_opts *o);

struct pwd_config_preset {
    char name[PW_STORE_NAME_MAX + 1];
    struct pwd_opt_set opts;
};

struct pwd_config_target {
    char host[PW_STORE_HOST_MAX + 1];
    char label[PW_STORE_LABEL_MAX + 1];
    char config[PW_STORE_NAME_MAX + 1]; /* named configuration, "" for none */
    struct pwd_opt_set opts;            /* overrides */
    bool paused;
};

#define PWD_NAME_MAX 63 /* user and group names */

/* An administrator-declared command the "command" alert action may run by name. */
#define PWD_ALERT_ARGV_MAX 32
struct pwd_alert_command {
    char name[PWD_NAME_MAX + 1];
    char **argv; /* NULL-terminated; argv[0] an absolute path */
};

/* The "alerts" section (conf/README.md). Secrets (SMTP login) come only from the file. */
struct pwd_config_alerts {
    char smtp_url[512]; /* "" = no mail */
    bool smtp_starttls;
    char smtp_user[256], smtp_password[256], smtp_from[256];
    char log_path[4096];  /* "" = the log action writes nothing */
    char image_dir[4096]; /* "" = the image action writes nothing */
    struct pwd_alert_command *commands;
    size_t ncommands;
    uint32_t command_timeout_s;
    char **webhook_allow; /* fnmatch patterns; NULL = any http(s) URL */
    size_t nwebhook_allow;
    uint32_t webhook_timeout_s;
    uint32_t webhook_retries;
};

struct pwd_config {
    char database[4096];
    char control_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char control_owner[PWD_NAME_MAX + 1]; /* "" = the daemon's user */
    char control_group[PWD_NAME_MAX + 1]; /* "" = the daemon's group */
    uint32_t control_mode;
    char user[PWD_NAME_MAX + 1]; /* "" = keep the user it was started as */
    char group[PWD_NAME_MAX + 1];
    int log_level;
    uint32_t max_probes_per_s; /* 0 = no cap */
    uint32_t batch_max_ms;
    uint32_t batch_max_samples;
    uint32_t raw_days, rollup_days;
    uint32_t persist_samples;
    bool dns_enabled;
    char dns_servers[256]; /* "" = the system's resolv.conf */
    uint32_t dns_refresh_s;
    struct pw_trace_opts defaults;
    struct pwd_config_preset *presets;
    size_t npresets;
    struct pwd_config_target *targets;
    size_t ntargets;
    struct pwd_config_alerts alerts;
};

/* Deep copy of an alerts section (for the alert worker's own copy); 0 or -ENOMEM. */
int pwd_config_alerts_copy(struct pwd_config_alerts *dst, const struct pwd_config_alerts *src);
void pwd_config_alerts_free(struct pwd_config_alerts *a);
/* The declared command called name, or NULL. */
const struct pwd_alert_command *pwd_config_alert_command(const struct pwd_config_alerts *a,
                                                         const char *name);
/* Whether the webhook URL is allowed by webhook_allow (any http(s) URL without a list). */
bool pwd_config_webhook_allowed(const struct pwd_config_alerts *a, const char *url);

/* Largest configuration file read. */
#define PWD_CONFIG_MAX_BYTES (16u << 20)
#define PWD_DEFAULT_DATABASE "/var/lib/pingwatcher"
#define PWD_DEFAULT_CONTROL "/run/pingwatcher/control.sock"
#define PWD_DEFAULT_CONFIG "/etc/pingwatcher/pingwatcher.json"

/* Fills c with the defaults (no targets, no presets). */
void pwd_config_init(struct pwd_config *c);
/* Frees the target and preset arrays; c can be initialised again. */
void pwd_config_deinit(struct pwd_config *c);

/* Parses text[0..len). On success c (initialised by this call) holds the configuration; on
 * error c is left initialised and empty and err says what and where. Returns 0, PW_E_RANGE or
 * PW_E_MALFORMED (not JSON), or -ENOMEM. */
int pwd_config_parse(const char *text, size_t len, struct pwd_config *c, char *err, size_t errlen);
/* Reads and parses a file (at most PWD_CONFIG_MAX_BYTES). Errors start with the path. */
int pwd_config_load(const char *path, struct pwd_config *c, char *err, size_t errlen);

/* Named configuration by name, or NULL. */
const struct pwd_config_preset *pwd_config_preset_find(const struct pwd_config *c,
                                                       const char *name);

/* Checks a name of a named configuration: 1 to 63 of [A-Za-z0-9_.-]. */
bool pwd_config_name_ok(const char *name);

/* Checks a target host: 1 to 255 characters of letters, digits, '.', '-', '_' and ':'. */
bool pwd_config_host_ok(const char *host);

/* Checks free text (labels, names, comments): no control characters. */
bool pwd_config_text_ok(const char *text);

#endif
