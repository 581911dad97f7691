/* PingWatcher — pingwatcherd's context, start-up, loop, reload and shutdown (see daemon.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "daemon-int.h"
#include "error.h"

#define MAX_EVENTS 64
#define HOUSEKEEPING_NS (1 * NS_PER_S)

int64_t pwd_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int64_t pwd_real_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t real_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* ---- statistics ---- */

void pwd_stats_lag_add(struct pwd_stats *st, int64_t lag_ns)
{
    int64_t us;
    size_t b;

    if (lag_ns < 0)
        lag_ns = 0;
    us = lag_ns / 1000;
    if (us < 1000)
        b = (size_t)(us / 10);
    else if (us < 100000)
        b = LAG_FINE + (size_t)((us - 1000) / 100);
    else
        b = LAG_BUCKETS - 1;
    st->lag[b]++;
    st->lag_count++;
    if (lag_ns > st->lag_max_ns)
        st->lag_max_ns = lag_ns;
}

double pwd_stats_lag_pct(const struct pwd_stats *st, double pct)
{
    uint64_t want, seen = 0;

    if (!st->lag_count)
        return 0;
    want = (uint64_t)((double)st->lag_count * pct / 100.0 + 0.999999);
    if (want < 1)
        want = 1;
    for (size_t b = 0; b < LAG_BUCKETS; b++) {
        seen += st->lag[b];
        if (seen >= want) {
            /* The bucket's upper edge: percentiles are never under-reported. */
            if (b < LAG_FINE)
                return (double)(b + 1) * 10;
            if (b < LAG_BUCKETS - 1)
                return 1000 + (double)(b - LAG_FINE + 1) * 100;
            return (double)st->lag_max_ns / 1000;
        }
    }
    return (double)st->lag_max_ns / 1000;
}

/* ---- configuration ---- */

/* Writes the file's named configurations into the store (created or replaced). */
static void presets_to_store(struct pwd_daemon *d)
{
    for (size_t i = 0; i < d->cfg.npresets; i++) {
        struct pw_store_config sc;
        int rc;

        memset(&sc, 0, sizeof(sc));
        snprintf(sc.name, sizeof(sc.name), "%s", d->cfg.presets[i].name);
        sc.opts = d->cfg.defaults;
        pwd_opt_apply(&sc.opts, &d->cfg.presets[i].opts);
        rc = pw_store_config_put(d->store, &sc, true);
        if (rc == -EEXIST)
            rc = pw_store_config_put(d->store, &sc, false);
        if (rc < 0)
            pwd_log(&d->log, PWD_LOG_ERR, "configurations.%s: cannot store it: %s", sc.name,
                    pw_strerror(rc));
    }
}

static void apply_paths(struct pwd_daemon *d)
{
    snprintf(d->db_path, sizeof(d->db_path), "%s",
             d->db_override ? d->db_override : d->cfg.database);
    snprintf(d->control_path, sizeof(d->control_path), "%s",
             d->control_override ? d->control_override : d->cfg.control_path);
}

static void reload(struct pwd_daemon *d)
{
    struct pwd_config next;
    char err[700];
    int rc;

    rc = pwd_config_load(d->config_path, &next, err, sizeof(err));
    if (rc < 0) {
        pwd_log(&d->log, PWD_LOG_ERR, "reload failed, keeping the running configuration: %s", err);
        pwd_config_deinit(&next);
        return;
    }
    /* What was opened before privileges were dropped cannot change without a restart. */
    if (strcmp(next.database, d->cfg.database) || strcmp(next.control_path, d->cfg.control_path) ||
        strcmp(next.control_owner, d->cfg.control_owner) ||
        strcmp(next.control_group, d->cfg.control_group) ||
        next.control_mode != d->cfg.control_mode || strcmp(next.user, d->cfg.user) ||
        strcmp(next.group, d->cfg.group) || next.max_probes_per_s != d->cfg.max_probes_per_s ||
        next.dns_enabled != d->cfg.dns_enabled || strcmp(next.dns_servers, d->cfg.dns_servers) ||
        next.raw_days != d->cfg.raw_days || next.rollup_days != d->cfg.rollup_days)
        pwd_log(&d->log, PWD_LOG_WARNING,
                "reload: database, control, user, group, max_probes_per_s, dns.enabled, "
                "dns.servers and retention take effect at the next restart");
    /* Keep those as they run; take everything else. The writer thread reads the batch
     * settings: the swap happens with the store locked. */
    pwd_store_lock(d);
    snprintf(next.database, sizeof(next.database), "%s", d->cfg.database);
    snprintf(next.control_path, sizeof(next.control_path), "%s", d->cfg.control_path);
    next.max_probes_per_s = d->cfg.max_probes_per_s;
    next.dns_enabled = d->cfg.dns_enabled;
    next.raw_days = d->cfg.raw_days;
    next.rollup_days = d->cfg.rollup_days;
    pwd_config_deinit(&d->cfg);
    d->cfg = next;
    if (d->log_override < 0)
        d->log.level = d->cfg.log_level;
    for (size_t i = 0; i < d->ntargets; i++)
        pw_route_tracker_set_persist(&d->list[i]->route, d->cfg.persist_samples);
    presets_to_store(d);
    pwd_targets_sync_config(d);
    pwd_store_unlock(d);
    pwd_alerts_config(d);
    pwd_log(&d->log, PWD_LOG_INFO, "configuration reloaded from %s (%zu targets running)",
            d->config_path, d->ntargets);
}

/* ---- loop callbacks ---- */

static void on_signal(void *arg, int fd, uint32_t events)
{
    struct pwd_daemon *d = arg;
    struct signalfd_siginfo si;

    (void)events;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            pwd_log(&d->log, PWD_LOG_INFO, "%s: flushing and exiting",
                    si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            d->stop = true;
        } else if (si.ssi_signo == SIGHUP) {
            reload(d);
        }
    }
}

static void on_timer(void *arg, int fd, uint32_t events)
{
    uint64_t expirations;
    ssize_t ignored;

    (void)arg;
    (void)events;
    ignored = read(fd, &expirations, sizeof(expirations));
    (void)ignored;
}

static void on_engine(void *arg, int fd, uint32_t events)
{
    /* The engine runs once per wake-up anyway (see run_once). */
    (void)arg;
    (void)fd;
    (void)events;
}

static void on_dns(void *arg, int fd, uint32_t events)
{
    struct pwd_daemon *d = arg;

    pw_dns_process(d->dns, fd, events & (EPOLLIN | EPOLLERR | EPOLLHUP), events & EPOLLOUT);
    d->dns_dirty = true;
}

static void on_resolver(void *arg, int fd, uint32_t events)
{
    struct pwd_daemon *d = arg;

    pwd_resolver_process(d->resolver, fd, events & (EPOLLIN | EPOLLERR | EPOLLHUP),
                         events & EPOLLOUT);
    d->res_dirty = true;
}

/* Re-registers the resolvers' descriptors after anything that may have changed them. */
static void sync_dns_fds(struct pwd_daemon *d)
{
    int fds[PWD_FDSET_MAX];
    bool wr[PWD_FDSET_MAX];
    int n;

    if (d->dns && d->dns_dirty) {
        pwd_ptr_poll(d);
        n = pw_dns_fds(d->dns, fds, wr, PWD_FDSET_MAX);
        if (n >= 0)
            pwd_fdset_sync(d->epfd, &d->dns_fds, fds, wr, n, on_dns, d);
        d->dns_dirty = false;
    }
    if (d->resolver && d->res_dirty) {
        n = pwd_resolver_fds(d->resolver, fds, wr, PWD_FDSET_MAX);
        if (n >= 0)
            pwd_fdset_sync(d->epfd, &d->res_fds, fds, wr, n, on_resolver, d);
        d->res_dirty = false;
    }
}

static int64_t min_deadline(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* The earliest CLOCK_MONOTONIC time anything needs the loop. */
static int64_t next_deadline(struct pwd_daemon *d, int64_t now)
{
    int64_t t = pw_trace_engine_next_ns(d->engine);
    int ms;

    t = min_deadline(t, d->next_housekeeping_ns);
    /* Entries or requests wait for the store (the writer commits, or the last slice ran out
     * of budget): look again soon. */
    if (d->qlen || d->deferred)
        t = min_deadline(t, now + NS_PER_MS);
    if (d->dns && (ms = pw_dns_timeout_ms(d->dns)) >= 0)
        t = min_deadline(t, now + (int64_t)ms * NS_PER_MS);
    if (d->resolver && (ms = pwd_resolver_timeout_ms(d->resolver)) >= 0)
        t = min_deadline(t, now + (int64_t)ms * NS_PER_MS);
    return t;
}

static void housekeeping(struct pwd_daemon *d, int64_t now)
{
    d->next_housekeeping_ns = now + HOUSEKEEPING_NS;
    pwd_targets_housekeeping(d, now);
    if (d->dns) {
        pw_dns_process(d->dns, -1, false, false);
        d->dns_dirty = true;
    }
    if (d->resolver && pwd_resolver_pending(d->resolver)) {
        pwd_resolver_process(d->resolver, -1, false, false);
        d->res_dirty = true;
    }
    if (d->q_dropped) {
        pwd_log(&d->log, PWD_LOG_ERR, "the store fell behind: %llu entries dropped",
                (unsigned long long)d->q_dropped);
        d->st.samples_dropped += d->q_dropped;
        d->q_dropped = 0;
    }
}

static int run_once(struct pwd_daemon *d)
{
    struct epoll_event ev[MAX_EVENTS];
    int64_t now = pwd_mono_ns(), deadline, t1, t2;
    int n, timeout = -1, rc;

    deadline = next_deadline(d, now);
    if (deadline >= 0 && deadline <= now) {
        timeout = 0;
    } else if (deadline >= 0 && deadline != d->armed_ns) {
        struct itimerspec its = {
            .it_value = {.tv_sec = deadline / NS_PER_S, .tv_nsec = deadline % NS_PER_S},
        };
        timerfd_settime(d->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
        d->armed_ns = deadline;
    }
    n = epoll_wait(d->epfd, ev, MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR)
        return -errno;
    d->st.iterations++;
    now = pwd_mono_ns();
    d->rt_off_ns = real_ns() - now;
    if (d->armed_ns && d->armed_ns <= now)
        d->armed_ns = 0;

    /* Replies first, then timeouts and due probes: the engine does them in that order. */
    rc = pw_trace_engine_run(d->engine, now);
    t1 = pwd_mono_ns();
    if (t1 - now > d->st.max_engine_ns)
        d->st.max_engine_ns = t1 - now;
    if (rc < 0) {
        pwd_log(&d->log, PWD_LOG_ERR, "capture failed: %s", pw_strerror(rc));
        return rc;
    }
    for (int i = 0; i < n; i++) {
        struct pwd_watch *w = ev[i].data.ptr;
        if (w->fd >= 0)
            w->cb(w->arg, w->fd, ev[i].events);
    }
    t2 = pwd_mono_ns();
    if (t2 - t1 > d->st.max_events_ns)
        d->st.max_events_ns = t2 - t1;
    pwd_queue_drain(d);
    pwd_commands_retry(d);
    now = pwd_mono_ns();
    if (now - t2 > d->st.max_drain_ns)
        d->st.max_drain_ns = now - t2;
    if (now >= d->next_housekeeping_ns) {
        housekeeping(d, now);
        t1 = pwd_mono_ns();
        if (t1 - now > d->st.max_housekeeping_ns)
            d->st.max_housekeeping_ns = t1 - now;
    }
    sync_dns_fds(d);
    return 0;
}

int pwd_daemon_run(struct pwd_daemon *d)
{
    int rc = 0;

    while (!d->stop) {
        rc = run_once(d);
        if (rc < 0)
            break;
    }
    pwd_writer_stop(d);
    return rc;
}

/* ---- start-up ---- */

static int load_target(void *arg, const struct pw_store_target *t)
{
    struct pwd_daemon *d = arg;

    if (!pwd_target_attach(d, t))
        return -ENOMEM;
    return 0;
}

/* The store directory belongs to the user the daemon runs as, so it can be reopened by a
 * daemon started as that user (systemd) later. */
static int prepare_store_dir(struct pwd_daemon *d, char *err, size_t errlen)
{
    if (mkdir(d->db_path, 0750) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "database directory %s: %s", d->db_path, strerror(errno));
        return -errno;
    }
    if (d->ids.change && chown(d->db_path, d->ids.uid, d->ids.gid) < 0) {
        snprintf(err, errlen, "database directory %s: chown: %s", d->db_path, strerror(errno));
        return -errno;
    }
    return 0;
}

static void chown_store_files(struct pwd_daemon *d)
{
    static const char *const names[] = {"data.mdb", "lock.mdb"};
    char path[4200];

    if (!d->ids.change)
        return;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", d->db_path, names[i]);
        if (chown(path, d->ids.uid, d->ids.gid) < 0 && errno != ENOENT)
            pwd_log(&d->log, PWD_LOG_WARNING, "chown %s: %s", path, strerror(errno));
    }
}

static int control_ids(struct pwd_daemon *d, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    struct pwd_ids ids;
    int rc;

    *uid = d->ids.change ? d->ids.uid : (uid_t)-1;
    *gid = d->ids.change ? d->ids.gid : (gid_t)-1;
    if (d->cfg.control_owner[0]) {
        rc = pwd_privs_lookup(d->cfg.control_owner, NULL, &ids, err, errlen);
        if (rc < 0)
            return rc;
        *uid = ids.uid;
    }
    if (d->cfg.control_group[0]) {
        struct group *gr = getgrnam(d->cfg.control_group);
        if (!gr) {
            snprintf(err, errlen, "control.group \"%s\" does not exist", d->cfg.control_group);
            return PW_E_NOTFOUND;
        }
        *gid = gr->gr_gid;
    }
    return 0;
}

struct pwd_daemon *pwd_daemon_new(const struct pwd_daemon_opts *opts, int *exit_code, char *err,
                                  size_t errlen)
{
    struct pwd_daemon *d = calloc(1, sizeof(*d));
    struct pw_store_opts so = {0};
    struct pw_trace_engine_opts eo = {0};
    struct pwd_control_opts co = {0};
    char cerr[700];
    sigset_t mask;
    int rc;

    *exit_code = 1;
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->epfd = d->sigfd = d->timerfd = -1;
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&d->writer_cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&d->store_lock, NULL);
    }
    d->w_sig.fd = d->w_timer.fd = d->w_engine.fd = -1;
    pwd_fdset_init(&d->dns_fds);
    pwd_fdset_init(&d->res_fds);
    snprintf(d->config_path, sizeof(d->config_path), "%s", opts->config_path);
    d->db_override = opts->db_path;
    d->control_override = opts->control_path;
    d->log_override = opts->log_level;
    pwd_log_init(&d->log, opts->log_level >= 0 ? opts->log_level : PWD_LOG_INFO);

    rc = pwd_config_load(d->config_path, &d->cfg, err, errlen);
    if (rc < 0) {
        *exit_code = 2;
        goto fail;
    }
    if (opts->log_level < 0)
        d->log.level = d->cfg.log_level;
    apply_paths(d);
    rc = pwd_privs_lookup(d->cfg.user, d->cfg.group, &d->ids, err, errlen);
    if (rc < 0) {
        *exit_code = 2;
        goto fail;
    }
    if (d->ids.change && getuid() != 0) {
        if (getuid() != d->ids.uid) {
            snprintf(err, errlen,
                     "started as uid %u, but \"user\" is %s (uid %u): start as root or as %s",
                     (unsigned)getuid(), d->cfg.user, (unsigned)d->ids.uid, d->cfg.user);
            goto fail;
        }
        d->ids.change = false; /* already that user (systemd User=) */
    }

    /* Signals arrive through the loop: no handlers at all. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (d->epfd < 0 || d->sigfd < 0 || d->timerfd < 0 ||
        pwd_watch_add(d->epfd, &d->w_sig, d->sigfd, EPOLLIN, on_signal, d) < 0 ||
        pwd_watch_add(d->epfd, &d->w_timer, d->timerfd, EPOLLIN, on_timer, d) < 0) {
        snprintf(err, errlen, "cannot set up the event loop: %s", strerror(errno));
        goto fail;
    }
    /* Wake-ups exactly when asked: scheduling lag is what this daemon is judged on. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    d->buckets = calloc(1024, sizeof(*d->buckets));
    d->nbuckets = 1024;
    d->ptr = calloc(PTR_BUCKETS, sizeof(*d->ptr));
    if (!d->buckets || !d->ptr) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    /* Everything that needs privileges first: store, control socket, raw sockets. */
    rc = prepare_store_dir(d, err, errlen);
    if (rc < 0)
        goto fail;
    so.path = d->db_path;
    so.raw_retention_days = d->cfg.raw_days;
    so.rollup_retention_days = d->cfg.rollup_days;
    d->store = pw_store_open(&so, cerr, sizeof(cerr));
    if (!d->store) {
        snprintf(err, errlen, "cannot open the store %s: %s", d->db_path, cerr);
        goto fail;
    }
    chown_store_files(d);

    co.path = d->control_path;
    co.mode = d->cfg.control_mode;
    if (control_ids(d, &co.uid, &co.gid, err, errlen) < 0) {
        *exit_code = 2;
        goto fail;
    }
    d->control = pwd_control_new(d->epfd, &co, pwd_command_handle, d, err, errlen);
    if (!d->control)
        goto fail;

    eo.ipv4 = eo.ipv6 = true;
    eo.max_probes_per_s = d->cfg.max_probes_per_s;
    d->engine = pw_trace_engine_new(&eo, err, errlen);
    if (!d->engine && errno != EPERM) {
        /* A host without IPv6: probe IPv4 only rather than not at all. */
        pwd_log(&d->log, PWD_LOG_WARNING, "%s; trying IPv4 only", err);
        eo.ipv6 = false;
        d->engine = pw_trace_engine_new(&eo, err, errlen);
    }
    if (!d->engine)
        goto fail;
    if (pwd_watch_add(d->epfd, &d->w_engine, pw_trace_engine_fd(d->engine), EPOLLIN, on_engine, d) <
        0) {
        snprintf(err, errlen, "cannot watch the capture: %s", strerror(errno));
        goto fail;
    }

    rc = pwd_privs_drop(&d->ids, cerr, sizeof(cerr));
    if (rc < 0) {
        snprintf(err, errlen, "refusing to run with privileges: %s", cerr);
        goto fail;
    }
    pwd_log(&d->log, PWD_LOG_INFO, "running as uid %u gid %u with no capabilities",
            (unsigned)getuid(), (unsigned)getgid());

    /* Unprivileged from here on. */
    if (d->cfg.dns_enabled) {
        struct pw_dns_opts dopts = {0};
        dopts.servers = d->cfg.dns_servers[0] ? d->cfg.dns_servers : NULL;
        d->dns = pw_dns_new(&dopts);
        if (!d->dns)
            pwd_log(&d->log, PWD_LOG_WARNING, "reverse DNS unavailable: %s", strerror(errno));
    }
    d->resolver = pwd_resolver_new(d->cfg.dns_servers, cerr, sizeof(cerr));
    if (!d->resolver)
        pwd_log(&d->log, PWD_LOG_WARNING, "host names cannot be resolved: %s", cerr);

    d->started_ns = pwd_mono_ns();
    d->st.window_start_ns = d->started_ns;
    d->rt_off_ns = real_ns() - d->started_ns;
    d->next_housekeeping_ns = d->started_ns + HOUSEKEEPING_NS;
    presets_to_store(d);
    rc = pw_store_target_list(d->store, load_target, d);
    if (rc < 0) {
        snprintf(err, errlen, "cannot load the targets: %s", pw_strerror(rc));
        goto fail;
    }
    pwd_targets_sync_config(d);
    d->dns_dirty = d->res_dirty = true;
    rc = pwd_alerts_start(d, cerr, sizeof(cerr));
    if (rc < 0) {
        snprintf(err, errlen, "%s", cerr);
        goto fail;
    }
    rc = pwd_writer_start(d);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start the store writer: %s", strerror(-rc));
        goto fail;
    }
    pwd_log(&d->log, PWD_LOG_INFO, "monitoring %zu targets; store %s; control %s", d->ntargets,
            d->db_path, d->control_path);
    *exit_code = 0;
    return d;
fail:
    pwd_log(&d->log, PWD_LOG_ERR, "%s", err);
    pwd_daemon_free(d);
    return NULL;
}

void pwd_daemon_free(struct pwd_daemon *d)
{
    if (!d)
        return;
    while (d->ntargets)
        pwd_target_detach(d, d->list[d->ntargets - 1]);
    pwd_commands_drop(d);
    /* The resolver's cancelled lookups may answer control clients: it goes first. */
    pwd_fdset_clear(d->epfd, &d->res_fds);
    pwd_resolver_free(d->resolver);
    pwd_fdset_clear(d->epfd, &d->dns_fds);
    pw_dns_free(d->dns);
    pwd_control_free(d->control);
    /* The alert worker uses the store: it stops before the store closes. */
    pwd_alerts_stop(d);
    pwd_watch_del(d->epfd, &d->w_engine);
    pw_trace_engine_free(d->engine);
    if (d->store) {
        pwd_writer_stop(d);
        pw_store_close(d->store);
    }
    while (d->qlen) {
        free(d->q[d->qhead].extra);
        d->qhead = (d->qhead + 1) % d->qcap;
        d->qlen--;
    }
    free(d->q);
    pthread_mutex_destroy(&d->store_lock);
    pthread_cond_destroy(&d->writer_cond);
    for (size_t i = 0; d->ptr && i < PTR_BUCKETS; i++) {
        while (d->ptr[i]) {
            struct pwd_ptr_entry *e = d->ptr[i];
            d->ptr[i] = e->next;
            free(e);
        }
    }
    free(d->ptr);
    free(d->ptr_pending);
    free(d->buckets);
    free(d->list);
    if (d->timerfd >= 0)
        close(d->timerfd);
    if (d->sigfd >= 0)
        close(d->sigfd);
    if (d->epfd >= 0)
        close(d->epfd);
    pwd_config_deinit(&d->cfg);
    free(d);
}
