/* PingWatcher — helpers shared by the API handlers (see api.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "cache.h"
#include "control.h"
#include "error.h"
#include "response.h"

int pw_api_params(struct pw_req *r, const char *const *allowed)
{
    if (pw_kvs_check_allowed(&r->params, allowed, r->err, sizeof(r->err)) < 0) {
        pw_resp_error(r, 400, NULL, "%s", r->err);
        return PW_ANSWERED;
    }
    return 0;
}

struct pw_store *pw_api_store(struct pw_req *r)
{
    struct pw_app_thread *th = r->thread;
    struct pw_store *s;
    int rc;

    if (r->store_held)
        return th->store;
    s = pw_app_store(r->app, r->err, sizeof(r->err));
    if (!s) {
        pw_resp_error(r, 503, NULL, "%s", r->err);
        return NULL;
    }
    if (!th->store && !(th->store = pw_store_reader_new(s))) {
        pw_resp_error(r, 500, NULL, "out of memory for a reader of the store");
        return NULL;
    }
    /* One snapshot for the whole request: every read sees the same data, and the version
     * names it for the cache. */
    rc = pw_store_snapshot_begin(th->store, &r->version);
    if (rc < 0) {
        if (rc == -EAGAIN)
            pw_resp_error(r, 503, NULL,
                          "the store has no free reader slot (more than 256 readers); "
                          "lower --threads or retry");
        else
            pw_api_store_error(r, rc, "the store");
        return NULL;
    }
    r->store_held = true;
    return th->store;
}

void pw_api_store_release(struct pw_req *r)
{
    if (r->store_held) {
        r->store_held = false;
        pw_store_snapshot_end(r->thread->store);
    }
}

bool pw_api_cache_splice(struct pw_req *r, const char *key, size_t klen)
{
    const struct pw_cache_entry *e;
    const char *v;
    size_t n;

    if (!r->store_held || !(e = pw_cache_get(r->app->cache, r->version, key, klen)))
        return false;
    v = pw_cache_value(e, &n);
    pw_out_splice(&r->out, v, n);
    pw_cache_unref(r->app->cache, e);
    return true;
}

void pw_api_cache_keep(struct pw_req *r, const char *key, size_t klen, size_t from, size_t to)
{
    /* Only a complete part of a complete answer, read from one snapshot. */
    if (!r->store_held || pw_buf_failed(&r->body) || from > to || to > r->body.len)
        return;
    (void)pw_cache_put(r->app->cache, r->version, key, klen, r->body.data + from, to - from);
}

int pw_api_store_error(struct pw_req *r, int rc, const char *what)
{
    if (rc == -ENOENT || rc == PW_E_NOTFOUND)
        pw_resp_error(r, 404, NULL, "%s does not exist", what);
    else
        pw_resp_error(r, 500, NULL, "reading %s from the store failed: %s", what, pw_strerror(rc));
    return PW_ANSWERED;
}

int pw_api_target_id(struct pw_req *r, unsigned i, uint32_t *id)
{
    if (i >= r->nargs || pw_http_parse_id(r->arg[i], "target id", id, r->err, sizeof(r->err))) {
        pw_resp_error(r, 400, NULL, "%s", r->err);
        return PW_ANSWERED;
    }
    return 0;
}

int pw_api_target(struct pw_req *r, unsigned i, struct pw_store **s, struct pw_store_target *t)
{
    uint32_t id;

    if (pw_api_target_id(r, i, &id))
        return PW_ANSWERED;
    *s = pw_api_store(r);
    if (!*s)
        return PW_ANSWERED;
    return pw_api_target_load(r, *s, id, t);
}

int pw_api_target_load(struct pw_req *r, struct pw_store *s, uint32_t id, struct pw_store_target *t)
{
    int rc = pw_store_target_get(s, id, t);

    if (rc < 0) {
        if (rc == -ENOENT)
            pw_resp_error(r, 404, NULL, "target %u does not exist", id);
        else
            pw_api_store_error(r, rc, "the target");
        return PW_ANSWERED;
    }
    return 0;
}

int pw_api_control(struct pw_req *r, const char *cmd, cJSON *args, cJSON **result)
{
    struct pw_control_reply reply;

    *result = NULL;
    /* What the daemon commits must show in the reads that follow (the answer of a change):
     * they leave the request's snapshot, which is older. And the daemon may be slow to
     * answer: other requests go to another worker meanwhile. */
    pw_api_store_release(r);
    pw_app_thread_waits(r->app, r->thread);
    if (pw_control_call(r->app->opts.control_path, r->app->opts.control_timeout_ms, cmd, args,
                        &reply) < 0) {
        pw_resp_error(r, reply.status, reply.code, "%s", reply.message);
        return PW_ANSWERED;
    }
    *result = reply.result;
    return 0;
}

int pw_api_focus(struct pw_req *r, uint32_t *focus)
{
    struct pw_kv *e = pw_kvs_find(&r->params, "focus");
    int64_t v;
    int rc;

    *focus = PW_API_FOCUS_DEFAULT;
    if (!e)
        return 0;
    if (strcmp(e->value, "all") == 0) {
        *focus = 0;
        return 0;
    }
    rc = pw_kv_i64(&r->params, "focus", 1, PW_API_FOCUS_MAX, &v, r->err, sizeof(r->err));
    if (rc < 0) {
        pw_resp_error(r, 400, NULL, "%s, or all", r->err);
        return PW_ANSWERED;
    }
    *focus = (uint32_t)v;
    return 0;
}

int64_t pw_api_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const struct pw_col pw_api_target_cols[] = {
    {"id", "ID"},
    {"host", "Host"},
    {"label", "Label"},
    {"address", "Address"},
    {"packet_type", "Type"},
    {"trace_interval", "Interval (s)"},
    {"config", "Configuration"},
    {"paused", "Paused"},
};
const unsigned pw_api_target_ncols = sizeof(pw_api_target_cols) / sizeof(pw_api_target_cols[0]);

void pw_api_opts_fields(struct pw_out *o, const struct pw_trace_opts *opts)
{
    pw_out_str(o, "packet_type", pw_proto_name(opts->proto));
    pw_out_num(o, "trace_interval", true, opts->interval_ms / 1000.0, 3);
    pw_out_num(o, "packet_size", opts->packet_size >= 0, opts->packet_size, 0);
    pw_out_int(o, "max_hops", opts->max_hops);
    pw_out_num(o, "timeout", true, opts->timeout_ms / 1000.0, 3);
    pw_out_num(o, "inter_packet_delay", true, opts->inter_packet_delay_us / 1000.0, 3);
    pw_out_bool(o, "final_hop_only", opts->final_hop_only);
    pw_out_num(o, "port", opts->port != 0, opts->port, 0);
}

void pw_api_target_row(struct pw_out *o, const struct pw_store_target *t)
{
    char id[32], addr[PW_ADDR_STRLEN];

    snprintf(id, sizeof(id), "target-%u", t->id);
    pw_out_row_begin(o, id);
    pw_out_uint(o, "id", t->id);
    pw_out_str(o, "host", t->host);
    pw_out_str(o, "label", t->label);
    pw_out_str(o, "address", t->addr.family ? pw_addr_format(&t->addr, addr, sizeof(addr)) : NULL);
    /* Options in the order of the spec's targets table. */
    pw_out_str(o, "packet_type", pw_proto_name(t->opts.proto));
    pw_out_num(o, "trace_interval", true, t->opts.interval_ms / 1000.0, 3);
    pw_out_str(o, "config", t->config[0] ? t->config : NULL);
    pw_out_bool(o, "paused", t->paused);
    pw_out_num(o, "packet_size", t->opts.packet_size >= 0, t->opts.packet_size, 0);
    pw_out_int(o, "max_hops", t->opts.max_hops);
    pw_out_num(o, "timeout", true, t->opts.timeout_ms / 1000.0, 3);
    pw_out_num(o, "inter_packet_delay", true, t->opts.inter_packet_delay_us / 1000.0, 3);
    pw_out_bool(o, "final_hop_only", t->opts.final_hop_only);
    pw_out_num(o, "port", t->opts.port != 0, t->opts.port, 0);
    pw_out_bool(o, "from_config", t->from_config);
    pw_out_time(o, "created", t->created_us);
    pw_out_row_end(o);
}
