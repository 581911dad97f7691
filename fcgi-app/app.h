/* PingWatcher — the FastCGI app's shared state and the request every handler gets.
 *
 * One struct pw_app per process (built by main.c, read by every worker thread); one struct
 * pw_req per request, living in the worker's arena. Handlers answer through response.h and
 * return 0 once an answer was written (or -1 when the client went away).
 */
#ifndef PW_APP_H
#define PW_APP_H

#include <fcgiapp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "http.h"
#include "render.h"

struct pw_store;
struct pw_metrics;
struct pw_cache;

#define PW_APP_THREADS_MAX 256
#define PW_APP_USERS_MAX 32

struct pw_app_opts {
    char db_path[4096];
    char control_path[108];
    char socket_path[108]; /* --socket: bind this unix socket; "" = accept on fd 0 */
    unsigned socket_mode;  /* permissions of that socket */
    unsigned threads;      /* worker threads (FCGX_Accept_r each) */
    unsigned sse_max;      /* concurrent SSE streams; more get 503 */
    unsigned control_timeout_ms;
    unsigned sse_poll_ms; /* how often a live stream looks for new samples */
    unsigned sse_heartbeat_s;
    unsigned sse_max_s;    /* a live stream ends after this long (the client reconnects) */
    unsigned cache_mb;     /* answer cache budget (MiB); 0 = no cache */
    bool auth_writes;      /* mutations need REMOTE_USER (set by the web server's auth) */
    unsigned nwrite_users; /* when > 0 only these users may write */
    char write_users[PW_APP_USERS_MAX][64];
};

struct pw_app {
    struct pw_app_opts opts;
    pthread_mutex_t store_lock; /* guards opening the store */
    /* LMDB allows one environment per process: the store is opened once, and each worker
     * thread reads it through a reader of its own (struct pw_app_thread), so requests never
     * wait for one another. No worker uses this handle itself. */
    struct pw_store *_Atomic store;
    char store_err[256];
    atomic_uint sse_active;
    atomic_bool stopping;
    struct pw_metrics *metrics;
    struct pw_cache *cache; /* answers by data version (cache.h); NULL = none */
    /* Slots of the workers that take new requests: about one per CPU, however many threads
     * there are, so that under load a worker finds the next request waiting instead of one
     * idle thread after another being woken for it. A request that is going to wait (a live
     * stream, a download paced by the client, a call to the daemon) hands its slot to a
     * spare thread (pw_app_thread_waits) and takes one again when it is done. */
    sem_t slots;
};

/* What a worker thread keeps from one request to the next. */
struct pw_app_thread {
    struct pw_store *store; /* its reader of app->store, made on first use; NULL until then */
    bool slot;              /* holds one of app->slots */
};

/* The request served by th is about to wait: its slot goes to a spare thread. */
void pw_app_thread_waits(struct pw_app *app, struct pw_app_thread *th);

/* Fills opts with the defaults. */
void pw_app_opts_default(struct pw_app_opts *o);

/* The store, opened read-only on first use (and retried on later requests while it cannot
 * be opened, e.g. before the daemon created it). NULL with a reason in err otherwise. Safe
 * from any thread; the handle is shared by all of them. */
struct pw_store *pw_app_store(struct pw_app *app, char *err, size_t errlen);

/* Route flags. */
enum {
    PW_ROUTE_MUTATION = 1 << 0, /* changes state: same-origin marker, auth, control socket */
    PW_ROUTE_SSE = 1 << 1,      /* a long-lived event stream */
    /* the body is one JSON document, kept whole in raw_body for the handler */
    PW_ROUTE_JSON_BODY = 1 << 2,
};

#define PW_REQ_MAX_ARGS 4
#define PW_REQ_BODY_MAX_RESPONSE (16u << 20) /* a buffered (non-streamed) response */

struct pw_req {
    struct pw_app *app;
    struct pw_app_thread *thread;
    FCGX_Request *fcgi;
    struct pw_arena *arena;

    enum pw_http_method method;
    const char *uri;
    struct pw_http_path path;
    const char *arg[PW_REQ_MAX_ARGS]; /* path segments matched by wildcards, in order */
    unsigned nargs;
    struct pw_kvs params; /* query string and body together (a name may appear once) */
    enum pw_fmt fmt;      /* HTML for HTMX requests */
    const char *remote_user;

    /* the answer */
    struct pw_buf body;
    struct pw_out out;
    struct pw_buf headers; /* extra header lines, each ending in \r\n */
    bool headers_sent;     /* streaming began: the status can no longer change */
    bool head_only;        /* HEAD: headers only */
    bool client_gone;      /* a write failed */
    bool store_held;       /* thread->store holds a snapshot (pw_api_store) */
    uint64_t version;      /* the data version of that snapshot */
    int64_t t0_ns;         /* CLOCK_MONOTONIC at the start (Server-Timing) */
    char err[512];         /* scratch for validation messages */
    /* PW_ROUTE_JSON_BODY: the body, NUL-terminated, raw_len bytes (NULL: none) */
    const char *raw_body;
    size_t raw_len;
};

/* A request header (CGI name, e.g. "HTTP_HX_REQUEST") or NULL. */
const char *pw_req_env(const struct pw_req *r, const char *name);

#endif
