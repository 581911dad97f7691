/* PingWatcher — pingwatcher.fcgi: the FastCGI app behind nginx or Apache.
 *
 *   pingwatcher.fcgi [-c CONFIG] [--db DIR] [--control PATH] [--socket PATH [--socket-mode MODE]
 *                    | --listen fd0] [--threads N] [--sse-max N] [--auth-writes]
 *                    [--write-users U1,U2] [--control-timeout-ms MS] [--sse-poll-ms MS]
 *                    [--sse-heartbeat S] [--cache-mb MB]
 *
 * Started by the web server or spawn-fcgi it accepts on fd 0; with --socket it binds its own
 * unix socket. N worker threads serve one request at a time each, so a live event stream
 * holds one worker and never blocks the others; streams are capped below the worker count.
 * About one worker per CPU takes new requests at a time (app.h, slots); the others stand in
 * for workers whose request waits (a stream, a call to the daemon). Each worker reads the
 * store through a reader of its own, so requests never wait for one another. Connections are
 * not tied to workers: the web server may keep as many open as it likes (nginx's upstream
 * keepalive, FCGI_KEEP_CONN), and a free worker serves the next request that arrives on any
 * of them. SIGTERM/SIGINT: workers finish the request in hand, then the process exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "app.h"
#include "arena.h"
#include "cache.h"
#include "error.h"
#include "metrics.h"
#include "num.h"
#include "router.h"
#include "store.h"

#ifndef PW_VERSION
#define PW_VERSION "0"
#endif

#define ARENA_BLOCK (64u << 10)
#define ARENA_MAX (64u << 20)
#define CONFIG_MAX (16u << 20)

/* What the workers share to find work: the listening socket and every open connection in one
 * epoll set, each armed for one event at a time (EPOLLONESHOT), so exactly one worker takes a
 * new connection or a request that arrived. */
struct conns {
    int listen_fd; /* non-blocking */
    int epfd;
    const char *allowed; /* FCGI_WEB_SERVER_ADDRS for TCP, as libfcgi's own accept checks it */
};

struct worker {
    struct pw_app *app;
    struct conns *conns;
    pthread_rwlock_t *busy; /* read-held while serving a request; main write-locks to stop */
    pthread_t thread;
    struct pw_app_thread th; /* touched only while serving a request */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: pingwatcher.fcgi [-c CONFIG] [--db DIR] [--control PATH]\n"
               "                        [--socket PATH [--socket-mode MODE] | --listen fd0]\n"
               "                        [--threads N] [--sse-max N] [--auth-writes]\n"
               "                        [--write-users U1,U2] [--control-timeout-ms MS]\n"
               "                        [--sse-poll-ms MS] [--sse-heartbeat S] [--cache-mb MB]\n");
}

/* Whether a TCP peer is in the comma-separated list of addresses (libfcgi's rule). */
static bool peer_allowed(const char *list, const struct sockaddr_storage *sa)
{
    char ip[INET6_ADDRSTRLEN];
    size_t n;

    if (!list || !*list || sa->ss_family != AF_INET)
        return true; /* unix sockets, and no list: anyone who may connect */
    if (!inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip)))
        return false;
    n = strlen(ip);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");

        if (len == n && memcmp(p, ip, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

/* Arms fd for its next event. A connection that cannot be watched is closed (the web server
 * sees it close and uses another). */
static int arm(struct conns *c, int fd, int op)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.fd = fd};

    if (epoll_ctl(c->epfd, op, fd, &ev) == 0)
        return 0;
    if (fd != c->listen_fd)
        close(fd);
    return -1;
}

/* Takes every pending connection (blocking sockets: libfcgi reads and writes them plainly). */
static void accept_all(struct conns *c)
{
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        int fd = accept4(c->listen_fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break; /* EAGAIN: all taken; EMFILE and the like: retried at the next event */
        }
        if (!peer_allowed(c->allowed, &sa)) {
            close(fd);
            continue;
        }
        (void)arm(c, fd, EPOLL_CTL_ADD);
    }
    (void)arm(c, c->listen_fd, EPOLL_CTL_MOD);
}

/* libfcgi (2.4) serves a connection the web server keeps open (FCGI_KEEP_CONN) only from the
 * thread that accepted it, blocked in FCGX_Accept_r reading its next request: with nginx's
 * upstream keepalive, N threads could then serve only N connections, and a new connection
 * waited (seconds at p99) while threads sat idle on connections nginx kept for later. So the
 * workers accept and watch connections themselves (struct conns) and hand a connection whose
 * request has arrived to FCGX_Accept_r through the request's ipcFd, with keepConnection set
 * so that it is not closed before the request is read. After FCGX_Finish_r, ipcFd is still
 * open exactly when the server asked to keep the connection. These two fields are past the
 * part of FCGX_Request that fcgiapp.h documents, and have kept this meaning since libfcgi
 * 2.2. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct conns *c = w->conns;
    struct pw_arena arena;
    FCGX_Request req;

    if (pw_arena_init(&arena, ARENA_BLOCK, ARENA_MAX) < 0) {
        fprintf(stderr, "pingwatcher.fcgi: out of memory for a worker\n");
        return NULL;
    }
    /* No listening socket of its own: FCGX_Accept_r never accepts (and fails instead of
     * blocking when a connection ends before its request). */
    if (FCGX_InitRequest(&req, -1, 0) != 0) {
        pw_arena_deinit(&arena);
        return NULL;
    }
    while (!w->app->stopping) {
        struct epoll_event ev;
        int n, fd;

        if (!w->th.slot) {
            struct timespec until;

            /* A spare: waits for a slot (bounded, to notice `stopping`). */
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 100 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            if (sem_timedwait(&w->app->slots, &until) != 0)
                continue;
            w->th.slot = true;
        }
        n = epoll_wait(c->epfd, &ev, 1, 100);
        if (n <= 0)
            continue; /* timeout (to notice `stopping`) or EINTR */
        fd = ev.data.fd;
        if (fd == c->listen_fd) {
            accept_all(c);
            continue;
        }
        if ((ev.events & (EPOLLHUP | EPOLLERR)) && !(ev.events & EPOLLIN)) {
            close(fd);
            continue;
        }
        req.ipcFd = fd;
        req.keepConnection = 1;
        if (FCGX_Accept_r(&req) < 0)
            continue; /* closed by the server (libfcgi closed our end) or not FastCGI */
        pthread_rwlock_rdlock(w->busy);
        pw_router_handle(w->app, &req, &arena, &w->th);
        FCGX_Finish_r(&req);
        pthread_rwlock_unlock(w->busy);
        pw_arena_reset(&arena);
        if (req.ipcFd >= 0) {
            (void)arm(c, req.ipcFd, EPOLL_CTL_MOD);
            req.ipcFd = -1;
        }
    }
    pw_arena_deinit(&arena);
    return NULL;
}

static int parse_uint(const char *text, const char *what, int64_t min, int64_t max, unsigned *out)
{
    char err[256];
    int64_t v;

    if (pw_num_parse_i64(text, min, max, what, &v, err, sizeof(err)) < 0) {
        fprintf(stderr, "pingwatcher.fcgi: %s\n", err);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int set_users(struct pw_app_opts *o, const char *list)
{
    const char *p = list;

    o->nwrite_users = 0;
    while (*p) {
        size_t n = strcspn(p, ",");

        if (n == 0 || n >= sizeof(o->write_users[0]) || o->nwrite_users == PW_APP_USERS_MAX) {
            fprintf(stderr,
                    "pingwatcher.fcgi: --write-users takes up to %d names of up to 63 "
                    "bytes, separated by commas\n",
                    PW_APP_USERS_MAX);
            return -1;
        }
        memcpy(o->write_users[o->nwrite_users], p, n);
        o->write_users[o->nwrite_users++][n] = '\0';
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int copy_path(char *dst, size_t len, const char *src, const char *what)
{
    if (!src || !*src || strlen(src) >= len) {
        fprintf(stderr, "pingwatcher.fcgi: %s must be a path of 1 to %zu bytes\n", what, len - 1);
        return -1;
    }
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

static int web_number(const cJSON *v, const char *what, double min, double max, unsigned *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < min || v->valuedouble > max ||
        v->valuedouble != (double)(long long)v->valuedouble) {
        fprintf(stderr, "pingwatcher.fcgi: web.%s must be a whole number between %g and %g\n", what,
                min, max);
        return -1;
    }
    *out = (unsigned)v->valuedouble;
    return 0;
}

/* Reads the daemon's configuration file: its "database" and "control.path", and our own
 * "web" section. Other keys are the daemon's business. */
static int load_config(const char *path, struct pw_app_opts *o)
{
    FILE *f = fopen(path, "rb");
    cJSON *root = NULL, *v, *web;
    char *text = NULL;
    size_t n;
    int rc = -1;

    if (!f) {
        fprintf(stderr, "pingwatcher.fcgi: %s: %s\n", path, strerror(errno));
        return -1;
    }
    text = malloc(CONFIG_MAX + 1);
    if (!text)
        goto out;
    n = fread(text, 1, CONFIG_MAX + 1, f);
    if (n > CONFIG_MAX || ferror(f)) {
        fprintf(stderr, "pingwatcher.fcgi: %s: unreadable or larger than 16 MiB\n", path);
        goto out;
    }
    root = cJSON_ParseWithLength(text, n);
    if (!cJSON_IsObject(root)) {
        fprintf(stderr, "pingwatcher.fcgi: %s: not a JSON object\n", path);
        goto out;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "database");
    if (v && (!cJSON_IsString(v) ||
              copy_path(o->db_path, sizeof(o->db_path), v->valuestring, "database") < 0))
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(root, "control");
    v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "path") : NULL;
    if (v && (!cJSON_IsString(v) || copy_path(o->control_path, sizeof(o->control_path),
                                              v->valuestring, "control.path") < 0))
        goto out;
    web = cJSON_GetObjectItemCaseSensitive(root, "web");
    if (web && !cJSON_IsObject(web)) {
        fprintf(stderr, "pingwatcher.fcgi: %s: \"web\" must be an object\n", path);
        goto out;
    }
    cJSON_ArrayForEach(v, web)
    {
        const char *k = v->string ? v->string : "";
        int r;

        if (strcmp(k, "comment") == 0)
            continue;
        if (strcmp(k, "threads") == 0)
            r = web_number(v, k, 1, PW_APP_THREADS_MAX, &o->threads);
        else if (strcmp(k, "sse_max") == 0)
            r = web_number(v, k, 0, PW_APP_THREADS_MAX, &o->sse_max);
        else if (strcmp(k, "control_timeout_ms") == 0)
            r = web_number(v, k, 100, 600000, &o->control_timeout_ms);
        else if (strcmp(k, "sse_poll_ms") == 0)
            r = web_number(v, k, 50, 10000, &o->sse_poll_ms);
        else if (strcmp(k, "sse_heartbeat_s") == 0)
            r = web_number(v, k, 1, 3600, &o->sse_heartbeat_s);
        else if (strcmp(k, "cache_mb") == 0)
            r = web_number(v, k, 0, 65536, &o->cache_mb);
        else if (strcmp(k, "socket") == 0)
            r = cJSON_IsString(v) ? copy_path(o->socket_path, sizeof(o->socket_path),
                                              v->valuestring, "web.socket")
                                  : -1;
        else if (strcmp(k, "socket_mode") == 0)
            r = web_number(v, k, 0, 0777, &o->socket_mode);
        else if (strcmp(k, "auth_writes") == 0)
            r = cJSON_IsBool(v) ? (o->auth_writes = cJSON_IsTrue(v), 0) : -1;
        else if (strcmp(k, "write_users") == 0)
            r = cJSON_IsString(v) ? set_users(o, v->valuestring) : -1;
        else
            r = -2;
        if (r == -2)
            fprintf(stderr,
                    "pingwatcher.fcgi: %s: unknown key web.%s (threads, sse_max, socket, "
                    "socket_mode, auth_writes, write_users, control_timeout_ms, sse_poll_ms, "
                    "sse_heartbeat_s, cache_mb)\n",
                    path, k);
        else if (r < 0)
            fprintf(stderr, "pingwatcher.fcgi: %s: web.%s has the wrong type or value\n", path, k);
        if (r < 0)
            goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    free(text);
    fclose(f);
    return rc;
}

/* Binds the unix socket at path with the given permissions; a stale socket file is replaced. */
static int bind_socket(const char *path, unsigned mode)
{
    struct stat st;
    mode_t old;
    int fd;

    if (!strchr(path, '/')) {
        fprintf(stderr, "pingwatcher.fcgi: --socket takes a unix socket path (with a '/')\n");
        return -1;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "pingwatcher.fcgi: %s exists and is not a socket\n", path);
            return -1;
        }
        unlink(path);
    }
    /* Created with no permissions, then opened up exactly as asked: never a window in
     * which the socket is more open than configured. */
    old = umask(0777);
    fd = FCGX_OpenSocket(path, 128);
    umask(old);
    if (fd < 0) {
        fprintf(stderr, "pingwatcher.fcgi: cannot listen on %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (chmod(path, mode) < 0) {
        fprintf(stderr, "pingwatcher.fcgi: chmod %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    enum {
        O_DB = 256,
        O_CONTROL,
        O_SOCKET,
        O_SOCKET_MODE,
        O_LISTEN,
        O_THREADS,
        O_SSE_MAX,
        O_AUTH,
        O_USERS,
        O_CTL_TIMEOUT,
        O_SSE_POLL,
        O_SSE_HB,
        O_CACHE_MB,
        O_VERSION,
    };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, O_DB},
        {"control", required_argument, NULL, O_CONTROL},
        {"socket", required_argument, NULL, O_SOCKET},
        {"socket-mode", required_argument, NULL, O_SOCKET_MODE},
        {"listen", required_argument, NULL, O_LISTEN},
        {"threads", required_argument, NULL, O_THREADS},
        {"sse-max", required_argument, NULL, O_SSE_MAX},
        {"auth-writes", no_argument, NULL, O_AUTH},
        {"write-users", required_argument, NULL, O_USERS},
        {"control-timeout-ms", required_argument, NULL, O_CTL_TIMEOUT},
        {"sse-poll-ms", required_argument, NULL, O_SSE_POLL},
        {"sse-heartbeat", required_argument, NULL, O_SSE_HB},
        {"cache-mb", required_argument, NULL, O_CACHE_MB},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    struct pw_app *app = NULL;
    struct worker *workers = NULL;
    struct conns conns = {.epfd = -1};
    pthread_rwlock_t busy;
    pthread_rwlockattr_t rwattr;
    const char *config = NULL;
    bool sse_max_set = false, fd0 = false, idle = true;
    sigset_t sigs;
    int c, sig = 0, listen_fd = 0, status = 1;
    unsigned started = 0, slots = 0;
    char err[256];

    app = calloc(1, sizeof(*app));
    if (!app) {
        fprintf(stderr, "pingwatcher.fcgi: out of memory\n");
        return 1;
    }
    pw_app_opts_default(&app->opts);
    /* The configuration file first, so the command line overrides it. */
    for (int i = 1; i < argc - 1; i++)
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
            config = argv[i + 1];
    if (config && load_config(config, &app->opts) < 0)
        goto out_usage;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        struct pw_app_opts *o = &app->opts;
        int rc = 0;

        switch (c) {
        case 'c':
            break;
        case O_DB:
            rc = copy_path(o->db_path, sizeof(o->db_path), optarg, "--db");
            break;
        case O_CONTROL:
            rc = copy_path(o->control_path, sizeof(o->control_path), optarg, "--control");
            break;
        case O_SOCKET:
            rc = copy_path(o->socket_path, sizeof(o->socket_path), optarg, "--socket");
            break;
        case O_SOCKET_MODE: {
            char *end = NULL;
            long m = strtol(optarg, &end, 8);

            if (!*optarg || *end || m < 0 || m > 0777) {
                fprintf(stderr, "pingwatcher.fcgi: --socket-mode must be octal, e.g. 0660\n");
                rc = -1;
            }
            o->socket_mode = (unsigned)m;
            break;
        }
        case O_LISTEN:
            if (strcmp(optarg, "fd0") != 0) {
                fprintf(stderr, "pingwatcher.fcgi: --listen takes fd0\n");
                rc = -1;
            }
            fd0 = true;
            break;
        case O_THREADS:
            rc = parse_uint(optarg, "--threads", 1, PW_APP_THREADS_MAX, &o->threads);
            break;
        case O_SSE_MAX:
            rc = parse_uint(optarg, "--sse-max", 0, PW_APP_THREADS_MAX, &o->sse_max);
            sse_max_set = true;
            break;
        case O_AUTH:
            o->auth_writes = true;
            break;
        case O_USERS:
            rc = set_users(o, optarg);
            o->auth_writes = true;
            break;
        case O_CTL_TIMEOUT:
            rc = parse_uint(optarg, "--control-timeout-ms", 100, 600000, &o->control_timeout_ms);
            break;
        case O_SSE_POLL:
            rc = parse_uint(optarg, "--sse-poll-ms", 50, 10000, &o->sse_poll_ms);
            break;
        case O_SSE_HB:
            rc = parse_uint(optarg, "--sse-heartbeat", 1, 3600, &o->sse_heartbeat_s);
            break;
        case O_CACHE_MB:
            rc = parse_uint(optarg, "--cache-mb", 0, 65536, &o->cache_mb);
            break;
        case O_VERSION:
            printf("pingwatcher.fcgi %s\n", PW_VERSION);
            status = 0;
            goto out;
        case 'h':
            usage(stdout);
            status = 0;
            goto out;
        default:
            goto out_usage;
        }
        if (rc < 0)
            goto out_usage;
    }
    if (optind != argc) {
        fprintf(stderr, "pingwatcher.fcgi: unexpected argument '%s'\n", argv[optind]);
        goto out_usage;
    }
    if (fd0 && app->opts.socket_path[0]) {
        fprintf(stderr, "pingwatcher.fcgi: --socket and --listen fd0 exclude each other\n");
        goto out_usage;
    }
    /* Streams may take at most half the workers (default), always leaving one free. */
    if (!sse_max_set && app->opts.sse_max > app->opts.threads / 2)
        app->opts.sse_max = app->opts.threads / 2;
    if (app->opts.sse_max >= app->opts.threads)
        app->opts.sse_max = app->opts.threads - 1;

    signal(SIGPIPE, SIG_IGN); /* a client gone mid-answer is an error return, not a death */
    if (FCGX_Init() != 0) {
        fprintf(stderr, "pingwatcher.fcgi: FastCGI library initialisation failed\n");
        goto out;
    }
    if (app->opts.socket_path[0]) {
        listen_fd = bind_socket(app->opts.socket_path, app->opts.socket_mode);
        if (listen_fd < 0)
            goto out;
    } else {
        struct stat st;

        if (fstat(0, &st) < 0 || !S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "pingwatcher.fcgi: fd 0 is not a socket: start me from the web "
                            "server or spawn-fcgi, or give --socket PATH\n");
            goto out;
        }
    }
    pthread_mutex_init(&app->store_lock, NULL);
    app->metrics = pw_metrics_new((int64_t)time(NULL) * 1000000);
    if (app->opts.cache_mb)
        app->cache = pw_cache_new((size_t)app->opts.cache_mb << 20);
    if (!app->metrics || (app->opts.cache_mb && !app->cache)) {
        fprintf(stderr, "pingwatcher.fcgi: out of memory\n");
        goto out;
    }
    {
        /* About one worker per CPU waits for requests (app.h); the others are spares for
         * requests that wait (streams, the daemon). At least two, so a slow request never
         * holds up everything, and at most the threads beyond the live streams. */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        slots = cpus > 2 ? (unsigned)cpus : 2;
        if (slots > app->opts.threads - app->opts.sse_max)
            slots = app->opts.threads - app->opts.sse_max;
        sem_init(&app->slots, 0, slots);
    }
    conns.listen_fd = listen_fd;
    conns.allowed = getenv("FCGI_WEB_SERVER_ADDRS");
    conns.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (conns.epfd < 0 || fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) < 0 ||
        arm(&conns, listen_fd, EPOLL_CTL_ADD) < 0) {
        fprintf(stderr, "pingwatcher.fcgi: cannot watch the listening socket: %s\n",
                strerror(errno));
        goto out;
    }
    if (!pw_app_store(app, err, sizeof(err))) /* before any worker runs */
        fprintf(stderr, "pingwatcher.fcgi: %s; will retry on each request\n", err);

    pthread_rwlockattr_init(&rwattr);
    pthread_rwlockattr_setkind_np(&rwattr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&busy, &rwattr);
    pthread_rwlockattr_destroy(&rwattr);

    /* Workers never see the stop signals: main waits for them with sigwait. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    workers = calloc(app->opts.threads, sizeof(*workers));
    if (!workers)
        goto out;
    for (; started < app->opts.threads; started++) {
        struct worker *w = &workers[started];

        w->app = app;
        w->conns = &conns;
        w->busy = &busy;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            fprintf(stderr, "pingwatcher.fcgi: cannot start worker threads\n");
            break;
        }
    }
    if (started == 0)
        goto out;
    fprintf(stderr,
            "pingwatcher.fcgi: serving with %u workers, %u taking new requests at a time (%u "
            "live streams at most)\n",
            started, slots, app->opts.sse_max);
    do {
        if (sigwait(&sigs, &sig) != 0)
            break;
    } while (sig == SIGHUP);
    atomic_store(&app->stopping, true);
    FCGX_ShutdownPending();
    {
        /* Wait (bounded) until no request is in progress; live streams notice `stopping`
         * within 100 ms. Idle workers are left waiting: the process ends. */
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        if (pthread_rwlock_timedwrlock(&busy, &until) != 0) {
            fprintf(stderr, "pingwatcher.fcgi: requests still running at exit\n");
            idle = false;
        }
    }
    if (app->opts.socket_path[0])
        unlink(app->opts.socket_path);
    if (idle) {
        /* No request runs and none can start: the readers, then the store, are free to
         * close. Otherwise the process ends with them open (LMDB frees the reader slots of
         * a process that is gone). */
        for (unsigned i = 0; i < started; i++)
            pw_store_close(workers[i].th.store);
        pw_store_close(atomic_load(&app->store));
        atomic_store(&app->store, NULL);
    }
    status = 0;
    /* Worker threads may still sit in epoll_wait(); ending the process ends them. */
    fflush(stderr);
    _exit(status);
out_usage:
    usage(stderr);
    status = 2;
out:
    if (conns.epfd >= 0)
        close(conns.epfd);
    free(workers);
    if (app) {
        pw_metrics_free(app->metrics);
        pw_cache_free(app->cache);
    }
    free(app);
    return status;
}
