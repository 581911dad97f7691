/* PingWatcher — the app's shared state (see app.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "store.h"

void pw_app_opts_default(struct pw_app_opts *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->db_path, sizeof(o->db_path), "/var/lib/pingwatcher");
    snprintf(o->control_path, sizeof(o->control_path), "/run/pingwatcher/control.sock");
    o->socket_mode = 0660;
    o->threads = 16;
    o->sse_max = 8;
    o->control_timeout_ms = 5000;
    o->sse_poll_ms = 500;
    o->sse_heartbeat_s = 15;
    o->sse_max_s = 3600;
    o->cache_mb = 64;
}

void pw_app_thread_waits(struct pw_app *app, struct pw_app_thread *th)
{
    if (th && th->slot) {
        th->slot = false;
        sem_post(&app->slots);
    }
}

struct pw_store *pw_app_store(struct pw_app *app, char *err, size_t errlen)
{
    struct pw_store *s = atomic_load(&app->store);
    struct pw_store_opts so;
    char why[256] = "";

    if (s)
        return s;
    /* Opening is serialized: LMDB must not have one environment open twice in a process. */
    pthread_mutex_lock(&app->store_lock);
    s = atomic_load(&app->store);
    if (!s) {
        memset(&so, 0, sizeof(so));
        so.path = app->opts.db_path;
        so.readonly = true;
        s = pw_store_open(&so, why, sizeof(why));
        if (s)
            atomic_store(&app->store, s);
        else
            snprintf(app->store_err, sizeof(app->store_err), "%s", why[0] ? why : strerror(errno));
    }
    if (!s)
        snprintf(err, errlen, "the store at %s cannot be opened (%s); is pingwatcherd running?",
                 app->opts.db_path, app->store_err);
    pthread_mutex_unlock(&app->store_lock);
    return s;
}
