/* PingWatcher — helpers shared by the CLI's store and daemon subcommands (see cli.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "ctlclient.h"
#include "num.h"
#include "store.h"

/* Mutations may wait for the daemon to resolve a name. */
#define CALL_TIMEOUT_MS 30000

int pw_cli_global_opt(struct pw_cli_env *env, int c, const char *arg)
{
    switch (c) {
    case PW_CLI_OPT_CONFIG:
        env->config = arg;
        return 1;
    case PW_CLI_OPT_DB:
        env->db = arg;
        return 1;
    case PW_CLI_OPT_CONTROL:
        env->control = arg;
        return 1;
    }
    return 0;
}

int pw_cli_paths(const struct pw_cli_env *env, const char *cmd, char *db, size_t dblen,
                 char *control, size_t controllen)
{
    struct pwd_config cfg;
    const char *path = env->config;
    char err[700];

    if (!path && (!env->db || !env->control) && access(PWD_DEFAULT_CONFIG, R_OK) == 0)
        path = PWD_DEFAULT_CONFIG;
    if (path && (!env->db || !env->control)) {
        if (pwd_config_load(path, &cfg, err, sizeof(err)) < 0) {
            fprintf(stderr, "pingwatcher %s: %s\n", cmd, err);
            pwd_config_deinit(&cfg);
            return PW_EXIT_USAGE;
        }
    } else {
        pwd_config_init(&cfg);
    }
    snprintf(db, dblen, "%s", env->db ? env->db : cfg.database);
    snprintf(control, controllen, "%s", env->control ? env->control : cfg.control_path);
    pwd_config_deinit(&cfg);
    return 0;
}

int pw_cli_store_open(const struct pw_cli_env *env, const char *cmd, struct pw_store **out)
{
    struct pw_store_opts so = {0};
    char db[4096], control[256], err[512];
    int rc = pw_cli_paths(env, cmd, db, sizeof(db), control, sizeof(control));

    *out = NULL;
    if (rc)
        return rc;
    so.path = db;
    so.readonly = true;
    *out = pw_store_open(&so, err, sizeof(err));
    if (!*out) {
        fprintf(stderr, "pingwatcher %s: cannot open the store at %s: %s\n", cmd, db, err);
        return PW_EXIT_FAILURE;
    }
    return 0;
}

int pw_cli_parse_id(const char *text, const char *cmd, uint32_t *id)
{
    char err[200];
    int64_t v;

    if (pw_num_parse_i64(text, 1, UINT32_MAX, "target id", &v, err, sizeof(err)) < 0) {
        fprintf(stderr, "pingwatcher %s: %s\n", cmd, err);
        return PW_EXIT_USAGE;
    }
    *id = (uint32_t)v;
    return 0;
}

int pw_cli_call(const struct pw_cli_env *env, const char *cmd, const char *name, cJSON *args,
                cJSON **result)
{
    char db[4096], control[256], err[600];
    cJSON *req = cJSON_CreateObject(), *resp = NULL;
    char *line = NULL, *answer = NULL;
    const cJSON *ok, *e;
    int rc;

    if (result)
        *result = NULL;
    rc = pw_cli_paths(env, cmd, db, sizeof(db), control, sizeof(control));
    if (rc)
        goto out;
    if (!req || !cJSON_AddStringToObject(req, "cmd", name) ||
        (args && !cJSON_AddItemToObject(req, "args", args))) {
        fprintf(stderr, "pingwatcher %s: out of memory\n", cmd);
        rc = PW_EXIT_FAILURE;
        goto out;
    }
    args = NULL; /* owned by req now */
    line = cJSON_PrintUnformatted(req);
    if (!line) {
        fprintf(stderr, "pingwatcher %s: out of memory\n", cmd);
        rc = PW_EXIT_FAILURE;
        goto out;
    }
    if (pw_ctl_request(control, line, &answer, CALL_TIMEOUT_MS, err, sizeof(err)) < 0) {
        fprintf(stderr, "pingwatcher %s: %s\n", cmd, err);
        rc = PW_EXIT_FAILURE;
        goto out;
    }
    resp = cJSON_Parse(answer);
    ok = cJSON_GetObjectItemCaseSensitive(resp, "ok");
    if (!resp || !cJSON_IsBool(ok)) {
        fprintf(stderr, "pingwatcher %s: pingwatcherd sent an unreadable answer\n", cmd);
        rc = PW_EXIT_FAILURE;
        goto out;
    }
    if (cJSON_IsFalse(ok)) {
        const cJSON *code, *msg;
        e = cJSON_GetObjectItemCaseSensitive(resp, "error");
        code = cJSON_GetObjectItemCaseSensitive(e, "code");
        msg = cJSON_GetObjectItemCaseSensitive(e, "message");
        fprintf(stderr, "pingwatcher %s: %s\n", cmd,
                cJSON_IsString(msg) ? msg->valuestring : "the daemon refused the request");
        rc = cJSON_IsString(code) && strcmp(code->valuestring, "invalid_argument") == 0
                 ? PW_EXIT_USAGE
                 : PW_EXIT_FAILURE;
        goto out;
    }
    if (result) {
        *result = cJSON_DetachItemFromObjectCaseSensitive(resp, "result");
    }
    rc = 0;
out:
    cJSON_Delete(args);
    cJSON_Delete(req);
    cJSON_Delete(resp);
    free(line);
    free(answer);
    return rc;
}
