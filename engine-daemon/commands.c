/* PingWatcher — pingwatcherd's control commands: validation against the daemon's state and
 * execution. Every request gets exactly one response; a request that fails changes nothing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "daemon-int.h"
#include "error.h"
#include "timefmt.h"

static void reply(struct pwd_daemon *d, uint64_t client, char *line)
{
    pwd_control_reply(d->control, client, line);
}

static void reply_error(struct pwd_daemon *d, uint64_t client, const char *code, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static void reply_error(struct pwd_daemon *d, uint64_t client, const char *code, const char *fmt,
                        ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    d->st.request_errors++;
    reply(d, client, pwd_response_error(code, msg));
}

/* A store failure as a response. */
static void reply_store_error(struct pwd_daemon *d, uint64_t client, int rc, const char *what)
{
    if (rc == -ENOENT)
        reply_error(d, client, PWD_ERR_NOT_FOUND, "%s does not exist", what);
    else if (rc == -EEXIST)
        reply_error(d, client, PWD_ERR_CONFLICT, "%s exists already", what);
    else if (rc == -ENOSPC)
        reply_error(d, client, PWD_ERR_UNAVAILABLE, "the store is full: %s", pw_strerror(rc));
    else
        reply_error(d, client, PWD_ERR_INTERNAL, "store error: %s", pw_strerror(rc));
}

static void reply_id(struct pwd_daemon *d, uint64_t client, uint32_t id)
{
    cJSON *r = cJSON_CreateObject();

    if (r && !cJSON_AddNumberToObject(r, "id", id)) {
        cJSON_Delete(r);
        r = NULL;
    }
    reply(d, client, r ? pwd_response_ok(r) : NULL);
}

static cJSON *target_json(const struct pwd_target *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *opts = pwd_opts_json(&t->rec.opts);
    char ip[PW_ADDR_STRLEN], when[PW_TIMEFMT_STRLEN];

    if (!o || !opts)
        goto fail;
    if (!cJSON_AddNumberToObject(o, "id", t->rec.id) ||
        !cJSON_AddStringToObject(o, "host", t->rec.host) ||
        !cJSON_AddStringToObject(o, "label", t->rec.label) ||
        !(t->rec.config[0] ? cJSON_AddStringToObject(o, "config", t->rec.config)
                           : cJSON_AddNullToObject(o, "config")) ||
        !(t->rec.addr.family
              ? cJSON_AddStringToObject(o, "ip", pw_addr_format(&t->rec.addr, ip, sizeof(ip)))
              : cJSON_AddNullToObject(o, "ip")) ||
        !cJSON_AddBoolToObject(o, "paused", t->rec.paused) ||
        !cJSON_AddBoolToObject(o, "running", t->et != NULL) ||
        !cJSON_AddBoolToObject(o, "from_config", t->rec.from_config) ||
        !cJSON_AddNumberToObject(o, "samples", (double)t->samples) ||
        !(t->last_sample_us
              ? cJSON_AddStringToObject(
                    o, "last_sample", pw_timefmt_rfc3339_us(t->last_sample_us, when, sizeof(when)))
              : cJSON_AddNullToObject(o, "last_sample")) ||
        !(t->started_us
              ? cJSON_AddStringToObject(o, "running_since",
                                        pw_timefmt_rfc3339_us(t->started_us, when, sizeof(when)))
              : cJSON_AddNullToObject(o, "running_since")))
        goto fail;
    cJSON_AddItemToObject(o, "options", opts);
    return o;
fail:
    cJSON_Delete(o);
    cJSON_Delete(opts);
    return NULL;
}

/* ---- target.add / target.update, possibly after resolving a name ---- */

struct request_job {
    struct pwd_daemon *d;
    uint64_t client;
    struct pwd_request req;
};

static void target_add_with(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req,
                            const struct pw_addr *addr);
static void target_update_with(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req,
                               const struct pw_addr *addr);

static void defer(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req,
                  const struct pw_addr *addr);
static void run_locked(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req,
                       const struct pw_addr *addr);

static void on_request_resolved(void *arg, int status, const struct pw_addr *addr,
                                const char *reason)
{
    struct request_job *j = arg;
    struct pwd_daemon *d = j->d;

    d->res_dirty = true;
    if (status == -ECANCELED)
        reply_error(d, j->client, PWD_ERR_UNAVAILABLE, "pingwatcherd is shutting down");
    else if (status == -ETIMEDOUT)
        reply_error(d, j->client, PWD_ERR_UNAVAILABLE, "%s (try again)", reason);
    else if (status < 0)
        reply_error(d, j->client, PWD_ERR_INVALID, "%s", reason);
    else
        defer(d, j->client, &j->req, addr);
    free(j);
}

/* Resolves req->host off the loop, then runs the command; numeric hosts go straight on. */
static void with_address(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req)
{
    struct request_job *j;
    struct pw_addr addr;

    if (pw_addr_parse(req->host, &addr) == 0) {
        if (req->cmd == PWD_CMD_TARGET_ADD)
            target_add_with(d, client, req, &addr);
        else
            target_update_with(d, client, req, &addr);
        return;
    }
    if (!d->resolver) {
        reply_error(d, client, PWD_ERR_UNAVAILABLE,
                    "host names cannot be resolved here; give an IP address");
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        reply(d, client, NULL);
        return;
    }
    j->d = d;
    j->client = client;
    j->req = *req;
    d->res_dirty = true;
    if (pwd_resolver_start(d->resolver, req->host, AF_UNSPEC, on_request_resolved, j) < 0) {
        free(j);
        reply(d, client, NULL);
    }
}

/* Options of a new target: the file's defaults, the named configuration, the request. */
static int new_target_opts(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req,
                           struct pw_trace_opts *opts)
{
    char err[256] = "";
    int rc;

    *opts = d->cfg.defaults;
    if (req->fields & PWD_F_CONFIG) {
        struct pw_store_config sc;
        rc = pw_store_config_get(d->store, req->config, &sc);
        if (rc == -ENOENT) {
            reply_error(d, client, PWD_ERR_NOT_FOUND, "named configuration \"%s\" does not exist",
                        req->config);
            return rc;
        }
        if (rc < 0) {
            reply_store_error(d, client, rc, "the named configuration");
            return rc;
        }
        *opts = sc.opts;
    }
    pwd_opt_apply(opts, &req->opts);
    rc = pw_trace_opts_check(opts, err, sizeof(err));
    if (rc < 0)
        reply_error(d, client, PWD_ERR_INVALID, "%s", err);
    return rc;
}

static void target_add_with(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req,
                            const struct pw_addr *addr)
{
    struct pw_store_target rec;
    struct pwd_target *t;
    char err[256] = "";
    int rc;

    memset(&rec, 0, sizeof(rec));
    /* Checked again: a named configuration may have gone while the name resolved. */
    if (new_target_opts(d, client, req, &rec.opts) < 0)
        return;
    snprintf(rec.host, sizeof(rec.host), "%s", req->host);
    snprintf(rec.label, sizeof(rec.label), "%s", req->label);
    snprintf(rec.config, sizeof(rec.config), "%s", req->config);
    rec.addr = *addr;
    rec.paused = req->paused;
    rec.created_us = pwd_real_us();
    {
        /* The engine's own checks (route, packet size for this protocol and family) before
         * anything is stored: the target is tried out under id 0 and removed at once. */
        struct pw_trace_target *probe = NULL;
        rc = pw_trace_engine_add(d->engine, addr, &rec.opts, INT64_MAX / 2, 0, NULL, NULL, &probe,
                                 err, sizeof(err));
        if (rc < 0) {
            reply_error(d, client, PWD_ERR_INVALID, "%s", err[0] ? err : pw_strerror(rc));
            return;
        }
        pw_trace_engine_remove(d->engine, probe);
    }
    rc = pw_store_target_add(d->store, &rec);
    if (rc < 0) {
        reply_store_error(d, client, rc, "the target");
        return;
    }
    t = pwd_target_attach(d, &rec);
    if (!t) {
        pw_store_target_delete(d->store, rec.id);
        reply(d, client, NULL);
        return;
    }
    pwd_log(&d->log, PWD_LOG_INFO, "target %u added: %s%s%s", rec.id, rec.host,
            rec.label[0] ? " " : "", rec.label);
    d->st.requests++;
    reply_id(d, client, rec.id);
}

static void target_update_with(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req,
                               const struct pw_addr *addr)
{
    struct pwd_target *t = pwd_target_find(d, req->id);
    struct pw_store_target old;
    struct pw_trace_opts opts;
    char err[256] = "";
    int rc;

    if (!t) {
        reply_error(d, client, PWD_ERR_NOT_FOUND, "target %u does not exist", req->id);
        return;
    }
    old = t->rec;
    opts = t->rec.opts;
    pwd_opt_apply(&opts, &req->opts);
    rc = pw_trace_opts_check(&opts, err, sizeof(err));
    if (rc < 0) {
        reply_error(d, client, PWD_ERR_INVALID, "%s", err);
        return;
    }
    if (req->fields & PWD_F_PAUSED && req->paused != t->rec.paused) {
        if (req->paused)
            pwd_target_stop(d, t);
        t->rec.paused = req->paused;
    }
    rc = pwd_target_reconfigure(d, t, &opts, addr, err, sizeof(err));
    if (rc == 0 && !t->rec.paused && !t->et && t->rec.addr.family)
        rc = pwd_target_start(d, t, err, sizeof(err));
    if (rc < 0) {
        t->rec = old;
        if (!t->rec.paused)
            pwd_target_start(d, t, err, sizeof(err));
        reply_error(d, client, PWD_ERR_INVALID, "%s", err[0] ? err : pw_strerror(rc));
        return;
    }
    if (req->fields & PWD_F_HOST) {
        struct pw_addr probe;
        snprintf(t->rec.host, sizeof(t->rec.host), "%s", req->host);
        t->numeric = pw_addr_parse(req->host, &probe) == 0;
        t->resolve_gen++; /* an older lookup's answer is for the old name */
        t->resolving = false;
        t->next_resolve_ns = t->numeric || !d->cfg.dns_refresh_s
                                 ? 0
                                 : pwd_mono_ns() + (int64_t)d->cfg.dns_refresh_s * NS_PER_S;
    }
    if (req->fields & PWD_F_LABEL)
        snprintf(t->rec.label, sizeof(t->rec.label), "%s", req->label);
    rc = pw_store_target_update(d->store, &t->rec);
    if (rc < 0) {
        /* Put everything back as it was. */
        pwd_target_stop(d, t);
        t->rec = old;
        pwd_target_start(d, t, err, sizeof(err));
        reply_store_error(d, client, rc, "the target");
        return;
    }
    d->st.requests++;
    reply_id(d, client, t->rec.id);
}

/* ---- the other commands ---- */

static struct pwd_target *mutable_target(struct pwd_daemon *d, uint64_t client, uint32_t id,
                                         bool config_ok)
{
    struct pwd_target *t = pwd_target_find(d, id);

    if (!t) {
        reply_error(d, client, PWD_ERR_NOT_FOUND, "target %u does not exist", id);
        return NULL;
    }
    if (t->rec.from_config && !config_ok) {
        reply_error(d, client, PWD_ERR_CONFLICT,
                    "target %u is declared in the configuration file; change it there and "
                    "reload (SIGHUP)",
                    id);
        return NULL;
    }
    return t;
}

static void cmd_pause(struct pwd_daemon *d, uint64_t client, uint32_t id, bool pause)
{
    struct pwd_target *t = mutable_target(d, client, id, true);
    char err[256] = "";
    int rc;

    if (!t)
        return;
    if (t->rec.paused != pause) {
        t->rec.paused = pause;
        rc = pw_store_target_update(d->store, &t->rec);
        if (rc < 0) {
            t->rec.paused = !pause;
            reply_store_error(d, client, rc, "the target");
            return;
        }
        if (pause) {
            pwd_target_stop(d, t);
        } else if (pwd_target_start(d, t, err, sizeof(err)) < 0) {
            pwd_log(&d->log, PWD_LOG_ERR, "target %u: cannot resume: %s", id, err);
            t->rec.paused = true;
            pw_store_target_update(d->store, &t->rec);
            reply_error(d, client, PWD_ERR_INTERNAL, "cannot resume: %s", err);
            return;
        }
        pwd_log(&d->log, PWD_LOG_INFO, "target %u %s", id, pause ? "paused" : "resumed");
    }
    d->st.requests++;
    reply_id(d, client, id);
}

static void cmd_remove(struct pwd_daemon *d, uint64_t client, uint32_t id)
{
    struct pwd_target *t = mutable_target(d, client, id, false);
    int rc;

    if (!t)
        return;
    rc = pw_store_target_delete(d->store, id);
    if (rc < 0 && rc != -ENOENT) {
        reply_store_error(d, client, rc, "the target");
        return;
    }
    pwd_target_detach(d, t);
    pwd_log(&d->log, PWD_LOG_INFO, "target %u removed", id);
    d->st.requests++;
    reply_id(d, client, id);
}

static void cmd_list(struct pwd_daemon *d, uint64_t client)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    struct pwd_target **sorted = malloc((d->ntargets + 1) * sizeof(*sorted));

    if (!r || !arr || !sorted)
        goto oom;
    memcpy(sorted, d->list, d->ntargets * sizeof(*sorted));
    /* In id order, like the store. Insertion sort is fine: the list is mostly sorted. */
    for (size_t i = 1; i < d->ntargets; i++) {
        struct pwd_target *x = sorted[i];
        size_t j = i;
        for (; j > 0 && sorted[j - 1]->rec.id > x->rec.id; j--)
            sorted[j] = sorted[j - 1];
        sorted[j] = x;
    }
    for (size_t i = 0; i < d->ntargets; i++) {
        cJSON *o = target_json(sorted[i]);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            goto oom;
        }
    }
    free(sorted);
    cJSON_AddItemToObject(r, "targets", arr);
    d->st.requests++;
    reply(d, client, pwd_response_ok(r));
    return;
oom:
    free(sorted);
    cJSON_Delete(arr);
    cJSON_Delete(r);
    reply(d, client, NULL);
}

static void cmd_config(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req)
{
    struct pw_store_config sc;
    char err[256] = "";
    int rc;

    if (pwd_config_preset_find(&d->cfg, req->name)) {
        reply_error(d, client, PWD_ERR_CONFLICT,
                    "named configuration \"%s\" is declared in the configuration file; change "
                    "it there and reload (SIGHUP)",
                    req->name);
        return;
    }
    memset(&sc, 0, sizeof(sc));
    snprintf(sc.name, sizeof(sc.name), "%.63s", req->name);
    if (req->cmd == PWD_CMD_CONFIG_DELETE) {
        rc = pw_store_config_delete(d->store, req->name);
        if (rc < 0) {
            char what[160];
            snprintf(what, sizeof(what), "named configuration \"%s\"", req->name);
            reply_store_error(d, client, rc, what);
            return;
        }
    } else {
        if (req->cmd == PWD_CMD_CONFIG_UPDATE) {
            rc = pw_store_config_get(d->store, req->name, &sc);
            if (rc < 0) {
                char what[160];
                snprintf(what, sizeof(what), "named configuration \"%s\"", req->name);
                reply_store_error(d, client, rc, what);
                return;
            }
        } else {
            sc.opts = d->cfg.defaults;
        }
        pwd_opt_apply(&sc.opts, &req->opts);
        if (pw_trace_opts_check(&sc.opts, err, sizeof(err)) < 0) {
            reply_error(d, client, PWD_ERR_INVALID, "%s", err);
            return;
        }
        rc = pw_store_config_put(d->store, &sc, req->cmd == PWD_CMD_CONFIG_CREATE);
        if (rc < 0) {
            char what[160];
            snprintf(what, sizeof(what), "named configuration \"%s\"", req->name);
            reply_store_error(d, client, rc, what);
            return;
        }
    }
    d->st.requests++;
    {
        cJSON *r = cJSON_CreateObject();
        if (r && !cJSON_AddStringToObject(r, "name", req->name)) {
            cJSON_Delete(r);
            r = NULL;
        }
        reply(d, client, r ? pwd_response_ok(r) : NULL);
    }
}

static void cmd_config_apply(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req)
{
    struct pwd_target *t = mutable_target(d, client, req->target, false);
    struct pw_store_target old;
    struct pw_store_config sc;
    char err[256] = "";
    int rc;

    if (!t)
        return;
    rc = pw_store_config_get(d->store, req->name, &sc);
    if (rc < 0) {
        char what[160];
        snprintf(what, sizeof(what), "named configuration \"%s\"", req->name);
        reply_store_error(d, client, rc, what);
        return;
    }
    old = t->rec;
    rc = pwd_target_reconfigure(d, t, &sc.opts, &t->rec.addr, err, sizeof(err));
    if (rc < 0) {
        reply_error(d, client, PWD_ERR_INVALID, "%s", err);
        return;
    }
    snprintf(t->rec.config, sizeof(t->rec.config), "%.63s", req->name);
    rc = pw_store_target_update(d->store, &t->rec);
    if (rc < 0) {
        pwd_target_reconfigure(d, t, &old.opts, &old.addr, err, sizeof(err));
        t->rec = old;
        reply_store_error(d, client, rc, "the target");
        return;
    }
    d->st.requests++;
    reply_id(d, client, t->rec.id);
}

/* Sessions and comments may refer to a removed target whose samples are still stored, so the
 * store is asked, not the running table. */
static bool target_known(struct pwd_daemon *d, uint64_t client, uint32_t id)
{
    struct pw_store_target rec;

    if (pwd_target_find(d, id) || pw_store_target_get(d->store, id, &rec) == 0)
        return true;
    reply_error(d, client, PWD_ERR_NOT_FOUND, "target %u does not exist", id);
    return false;
}

static void cmd_session(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req)
{
    struct pw_store_session ss;
    int rc;

    if (req->cmd == PWD_CMD_SESSION_DELETE) {
        rc = pw_store_session_delete(d->store, req->id);
        if (rc == -ENOENT) {
            reply_error(d, client, PWD_ERR_NOT_FOUND, "session %u does not exist", req->id);
            return;
        }
        if (rc < 0) {
            reply_store_error(d, client, rc, "the session");
            return;
        }
        d->st.requests++;
        reply_id(d, client, req->id);
        return;
    }
    if (!target_known(d, client, req->target))
        return;
    memset(&ss, 0, sizeof(ss));
    ss.target_id = req->target;
    snprintf(ss.name, sizeof(ss.name), "%s", req->name);
    ss.start_us = req->start_us;
    ss.end_us = req->end_us;
    ss.created_us = pwd_real_us();
    rc = pw_store_session_add(d->store, &ss);
    if (rc < 0) {
        reply_store_error(d, client, rc, "the session");
        return;
    }
    d->st.requests++;
    reply_id(d, client, ss.id);
}

static void cmd_comment(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req)
{
    struct pw_store_comment c;
    int rc;

    if (req->cmd == PWD_CMD_COMMENT_DELETE) {
        rc = pw_store_comment_delete(d->store, req->id);
        if (rc == -ENOENT) {
            reply_error(d, client, PWD_ERR_NOT_FOUND, "comment %u does not exist", req->id);
            return;
        }
        if (rc < 0) {
            reply_store_error(d, client, rc, "the comment");
            return;
        }
        d->st.requests++;
        reply_id(d, client, req->id);
        return;
    }
    if (!target_known(d, client, req->target))
        return;
    memset(&c, 0, sizeof(c));
    c.target_id = req->target;
    c.time_us = req->time_us;
    snprintf(c.text, sizeof(c.text), "%s", req->text);
    snprintf(c.author, sizeof(c.author), "%s", req->author);
    rc = pw_store_comment_add(d->store, &c);
    if (rc < 0) {
        reply_store_error(d, client, rc, "the comment");
        return;
    }
    d->st.requests++;
    reply_id(d, client, c.id);
}

static bool add_num(cJSON *o, const char *k, double v)
{
    return cJSON_AddNumberToObject(o, k, v) != NULL;
}

static void cmd_stats(struct pwd_daemon *d, uint64_t client, bool reset)
{
    struct pw_trace_counters ec;
    struct rusage ru;
    cJSON *r = cJSON_CreateObject();
    cJSON *lag = cJSON_CreateObject();
    cJSON *eng = cJSON_CreateObject();
    cJSON *res = cJSON_CreateObject();
    const struct pwd_stats *st = &d->st;
    int64_t now = pwd_mono_ns();
    double pending = -1;
    size_t running = 0;
    bool ok;

    /* Not worth waiting for a commit: -1 when the writer is busy. */
    if (pthread_mutex_trylock(&d->store_lock) == 0) {
        pending = (double)pw_store_pending(d->store);
        pthread_mutex_unlock(&d->store_lock);
    }
    for (size_t i = 0; i < d->ntargets; i++)
        running += d->list[i]->et != NULL;
    pw_trace_engine_counters(d->engine, &ec);
    getrusage(RUSAGE_SELF, &ru);
    ok = r && lag && eng && res && add_num(r, "uptime_s", (double)(now - d->started_ns) / 1e9) &&
         add_num(r, "window_s", (double)(now - st->window_start_ns) / 1e9) &&
         add_num(r, "targets", (double)d->ntargets) && add_num(r, "running", (double)running) &&
         add_num(r, "samples", (double)st->samples) &&
         add_num(r, "samples_flushed", (double)st->samples_flushed) &&
         add_num(r, "samples_dropped", (double)st->samples_dropped) &&
         add_num(r, "pending", pending) && add_num(r, "queued", (double)d->qlen) &&
         add_num(r, "flushes", (double)st->flushes) &&
         add_num(r, "flush_errors", (double)st->flush_errors) &&
         add_num(r, "flush_ms_total", (double)st->flush_ns_total / 1e6) &&
         add_num(r, "flush_ms_max", (double)st->flush_ns_max / 1e6) &&
         add_num(r, "missed_samples", (double)st->missed) &&
         add_num(r, "route_changes", (double)st->route_changes) &&
         add_num(r, "address_changes", (double)st->address_changes) &&
         add_num(r, "dns_names", (double)st->dns_names) &&
         add_num(r, "requests", (double)st->requests) &&
         add_num(r, "request_errors", (double)st->request_errors) &&
         add_num(r, "iterations", (double)st->iterations) &&
         add_num(r, "max_engine_ms", (double)st->max_engine_ns / 1e6) &&
         add_num(r, "max_events_ms", (double)st->max_events_ns / 1e6) &&
         add_num(r, "max_drain_ms", (double)st->max_drain_ns / 1e6) &&
         add_num(r, "max_housekeeping_ms", (double)st->max_housekeeping_ns / 1e6) &&
         add_num(r, "control_clients", pwd_control_clients(d->control)) &&
         add_num(lag, "count", (double)st->lag_count) &&
         add_num(lag, "p50_us", pwd_stats_lag_pct(st, 50)) &&
         add_num(lag, "p90_us", pwd_stats_lag_pct(st, 90)) &&
         add_num(lag, "p99_us", pwd_stats_lag_pct(st, 99)) &&
         add_num(lag, "p999_us", pwd_stats_lag_pct(st, 99.9)) &&
         add_num(lag, "max_us", (double)st->lag_max_ns / 1000) &&
         add_num(eng, "probes_sent", (double)ec.probes_sent) &&
         add_num(eng, "replies_matched", (double)ec.replies_matched) &&
         add_num(eng, "unmatched", (double)ec.unmatched) &&
         add_num(eng, "duplicates", (double)ec.duplicates) &&
         add_num(eng, "late", (double)ec.late) && add_num(eng, "malformed", (double)ec.malformed) &&
         add_num(eng, "send_errors", (double)ec.send_errors) &&
         add_num(eng, "capture_drops", (double)ec.capture_drops) &&
         add_num(res, "user_s", (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6) &&
         add_num(res, "system_s", (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6) &&
         add_num(res, "max_rss_kb", (double)ru.ru_maxrss);
    if (!ok) {
        cJSON_Delete(r);
        cJSON_Delete(lag);
        cJSON_Delete(eng);
        cJSON_Delete(res);
        reply(d, client, NULL);
        return;
    }
    cJSON_AddItemToObject(r, "lag", lag);
    cJSON_AddItemToObject(r, "engine", eng);
    cJSON_AddItemToObject(r, "resources", res);
    if (reset) {
        /* Starts a measuring window: lag and missed samples from now on. */
        memset(d->st.lag, 0, sizeof(d->st.lag));
        d->st.lag_count = 0;
        d->st.lag_max_ns = 0;
        d->st.missed = 0;
        d->st.flush_ns_total = 0;
        d->st.flush_ns_max = 0;
        d->st.max_engine_ns = d->st.max_events_ns = 0;
        d->st.max_drain_ns = d->st.max_housekeeping_ns = 0;
        d->st.window_start_ns = now;
    }
    reply(d, client, pwd_response_ok(r));
}

/* Executes a parsed request with the store locked. addr: the resolved host of a target.add or
 * target.update, or NULL before resolution. */
static void run_locked(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req,
                       const struct pw_addr *addr)
{
    if (addr) {
        if (req->cmd == PWD_CMD_TARGET_ADD)
            target_add_with(d, client, req, addr);
        else
            target_update_with(d, client, req, addr);
        return;
    }
    switch (req->cmd) {
    case PWD_CMD_TARGET_ADD: {
        struct pw_trace_opts opts;
        /* Fail fast, before any DNS, on what can be checked now. */
        if (new_target_opts(d, client, req, &opts) == 0)
            with_address(d, client, req);
        break;
    }
    case PWD_CMD_TARGET_UPDATE: {
        struct pwd_target *t = mutable_target(d, client, req->id, false);
        if (!t)
            break;
        if (req->fields & PWD_F_HOST) {
            with_address(d, client, req);
        } else {
            struct pw_addr a = t->rec.addr;
            target_update_with(d, client, req, &a);
        }
        break;
    }
    case PWD_CMD_TARGET_REMOVE:
        cmd_remove(d, client, req->id);
        break;
    case PWD_CMD_TARGET_PAUSE:
    case PWD_CMD_TARGET_RESUME:
        cmd_pause(d, client, req->id, req->cmd == PWD_CMD_TARGET_PAUSE);
        break;
    case PWD_CMD_CONFIG_CREATE:
    case PWD_CMD_CONFIG_UPDATE:
    case PWD_CMD_CONFIG_DELETE:
        cmd_config(d, client, req);
        break;
    case PWD_CMD_CONFIG_APPLY:
        cmd_config_apply(d, client, req);
        break;
    case PWD_CMD_SESSION_CREATE:
    case PWD_CMD_SESSION_DELETE:
        cmd_session(d, client, req);
        break;
    case PWD_CMD_COMMENT_ADD:
    case PWD_CMD_COMMENT_DELETE:
        cmd_comment(d, client, req);
        break;
    case PWD_CMD_TARGET_LIST:
    case PWD_CMD_STATS:
    case PWD_CMD_COUNT:
        reply_error(d, client, PWD_ERR_INTERNAL, "request routed wrongly");
        break;
    }
}

/* Runs the request now if the store is free, else queues it for pwd_commands_retry(): a
 * request never makes the loop wait for the writer's commit. */
static void defer(struct pwd_daemon *d, uint64_t client, const struct pwd_request *req,
                  const struct pw_addr *addr)
{
    struct pwd_deferred *x;

    if (!d->deferred && pthread_mutex_trylock(&d->store_lock) == 0) {
        run_locked(d, client, req, addr);
        pthread_mutex_unlock(&d->store_lock);
        return;
    }
    x = malloc(sizeof(*x));
    if (!x) {
        reply(d, client, NULL);
        return;
    }
    x->next = NULL;
    x->client = client;
    x->has_addr = addr != NULL;
    if (addr)
        x->addr = *addr;
    x->req = *req;
    if (!d->deferred)
        d->deferred_tail = &d->deferred;
    *d->deferred_tail = x;
    d->deferred_tail = &x->next;
}

void pwd_commands_retry(struct pwd_daemon *d)
{
    pwd_alerts_retry(d);
    if (!d->deferred || pthread_mutex_trylock(&d->store_lock) != 0)
        return;
    while (d->deferred) {
        struct pwd_deferred *x = d->deferred;
        d->deferred = x->next;
        run_locked(d, x->client, &x->req, x->has_addr ? &x->addr : NULL);
        free(x);
    }
    pthread_mutex_unlock(&d->store_lock);
}

void pwd_commands_drop(struct pwd_daemon *d)
{
    while (d->deferred) {
        struct pwd_deferred *x = d->deferred;
        d->deferred = x->next;
        free(x);
    }
}

void pwd_command_handle(void *arg, uint64_t client, const char *line, size_t len)
{
    struct pwd_daemon *d = arg;
    struct pwd_request *req = malloc(sizeof(*req));
    char err[600];

    if (!req) {
        reply(d, client, NULL);
        return;
    }
    /* alert.* requests carry a whole rule object: alerts.c parses and runs them. */
    if (pwd_alerts_command(d, client, line, len)) {
        free(req);
        return;
    }
    if (pwd_request_parse(line, len, req, err, sizeof(err)) < 0) {
        reply_error(d, client, PWD_ERR_INVALID, "%s", err);
        free(req);
        return;
    }
    pwd_log(&d->log, PWD_LOG_DEBUG, "control: %s", pwd_cmd_name(req->cmd));
    /* These two read the daemon's own state only. */
    if (req->cmd == PWD_CMD_TARGET_LIST)
        cmd_list(d, client);
    else if (req->cmd == PWD_CMD_STATS)
        cmd_stats(d, client, req->reset);
    else
        defer(d, client, req, NULL);
    free(req);
}
