/* PingWatcher — pingwatcherd's alerts: evaluation on the loop, state and history in the store,
 * delivery on a small pool of worker threads (see alerts.h). */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
#include "alerts.h"
#include "daemon-int.h"
#include "diagnosis.h"
#include "error.h"
#include "timefmt.h"

#define QUEUE_MAX 256
/* Delivery threads. Events of one rule and target are delivered in order, one at a time; a
 * hung webhook or mail server holds one thread, and the others deliver everything else. */
#define WORKERS 4
#define IMAGE_SPAN_US (600 * INT64_C(1000000)) /* the image shows 10 minutes before the event */
#define HISTORY_MAX 8192                       /* bytes of one history record */
/* The diagnosis metric costs about 0.1-0.5 ms (alert.h): judged at most this often per rule
 * and target, its result standing for the samples in between. */
#define DIAG_EVERY_NS (10 * NS_PER_S)

struct tstate {
    uint32_t target_id;
    struct pw_alert_state st;
    struct pw_alert_window w;
    /* diagnosis metric: when it is next judged (CLOCK_MONOTONIC; 0 = at the next sample), the
     * last result and its one-sentence summary */
    int64_t diag_due_ns;
    struct pw_alert_result diag_res;
    char diag_summary[PW_DIAG_TEXT_MAX];
};

struct rule_rt {
    struct pw_alert_rule rule;
    struct tstate *ts;
    size_t nts, cap;
};

struct job {
    struct pw_alert_rule rule;
    uint32_t target_id;
    char target_name[PW_STORE_HOST_MAX + 1];
    enum pw_alert_event ev;
    struct pw_alert_result res;
    struct pw_alert_state st;
    int64_t time_us;
    char detail[PW_DIAG_TEXT_MAX]; /* diagnosis: its summary; "" for other metrics */
};

/* A queued event. */
struct qjob {
    struct qjob *next;
    struct job j;
};

/* What one delivery thread is doing. */
struct worker {
    struct pwd_daemon *d;
    pthread_t th;
    bool started;
    bool busy; /* delivering an event of rule/target */
    uint32_t rule, target;
};

/* An alert.* request that waited for the store. */
struct pending {
    struct pending *next;
    uint64_t client;
    size_t len;
    char line[];
};

struct pwd_alerts {
    struct rule_rt *rules;
    size_t nrules;
    uint32_t next_id;
    struct pending *pending, **pending_tail;

    struct worker workers[WORKERS];
    bool curl_ready;
    pthread_mutex_t mu; /* guards everything below (and the workers' busy, rule, target) */
    pthread_cond_t cv;
    bool stop;
    struct qjob *q, **q_tail; /* oldest first */
    size_t qlen;
    uint64_t dropped;
    struct pwd_config_alerts cfg; /* the worker's copy */
};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static size_t state_key(uint8_t *k, uint32_t rule, uint32_t target)
{
    k[0] = 's';
    put_be32(k + 1, rule);
    put_be32(k + 5, target);
    return 9;
}

/* ---- rules in memory ---- */

static struct rule_rt *rule_find(struct pwd_alerts *a, uint32_t id)
{
    for (size_t i = 0; i < a->nrules; i++)
        if (a->rules[i].rule.id == id)
            return &a->rules[i];
    return NULL;
}

static void rule_clear(struct rule_rt *r)
{
    for (size_t i = 0; i < r->nts; i++)
        pw_alert_window_deinit(&r->ts[i].w);
    free(r->ts);
    r->ts = NULL;
    r->nts = r->cap = 0;
}

static struct tstate *tstate_get(struct rule_rt *r, uint32_t target, bool create)
{
    struct tstate *t;

    for (size_t i = 0; i < r->nts; i++)
        if (r->ts[i].target_id == target)
            return &r->ts[i];
    if (!create)
        return NULL;
    if (r->nts == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        struct tstate *n = realloc(r->ts, cap * sizeof(*n));
        if (!n)
            return NULL;
        r->ts = n;
        r->cap = cap;
    }
    t = &r->ts[r->nts];
    memset(t, 0, sizeof(*t));
    t->target_id = target;
    r->nts++;
    return t;
}

static int rule_add(struct pwd_alerts *a, const struct pw_alert_rule *rule)
{
    struct rule_rt *n = realloc(a->rules, (a->nrules + 1) * sizeof(*n));

    if (!n)
        return -ENOMEM;
    a->rules = n;
    memset(&n[a->nrules], 0, sizeof(n[0]));
    n[a->nrules].rule = *rule;
    a->nrules++;
    if (rule->id >= a->next_id)
        a->next_id = rule->id + 1;
    return 0;
}

/* ---- loading ---- */

static int load_rule(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct pwd_daemon *d = arg;
    struct pw_alert_rule r;
    char err[256];
    cJSON *o;
    int rc;

    if (klen != 5)
        return 0;
    o = cJSON_ParseWithLength(v, vlen);
    rc = pw_alert_rule_parse(o, NULL, &r, err, sizeof(err));
    if (rc == 0) {
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(o, "enabled");
        r.enabled = !cJSON_IsFalse(en);
        r.id = get_be32((const uint8_t *)k + 1);
        rc = rule_add(d->alerts, &r);
    } else {
        pwd_log(&d->log, PWD_LOG_WARNING, "alert rule %u in the store is unreadable: %s",
                get_be32((const uint8_t *)k + 1), err);
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

static int load_state(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct pwd_daemon *d = arg;
    struct pw_alert_state st;
    struct rule_rt *r;
    struct tstate *t;

    if (klen != 9 || pw_alert_state_decode(v, vlen, &st) < 0)
        return 0;
    r = rule_find(d->alerts, get_be32((const uint8_t *)k + 1));
    if (!r || !(t = tstate_get(r, get_be32((const uint8_t *)k + 5), true)))
        return 0;
    /* The consecutive count is only as fresh as the last transition: start counting anew. */
    st.consecutive = st.firing ? st.consecutive : 0;
    t->st = st;
    return 0;
}

static int load_next(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
    struct pwd_alerts *a = arg;

    (void)k;
    if (klen == 1 && vlen == 4 && get_be32(v) > a->next_id)
        a->next_id = get_be32(v);
    return 0;
}

/* ---- evaluation (loop) ---- */

static void enqueue(struct pwd_daemon *d, const struct job *j)
{
    struct pwd_alerts *a = d->alerts;
    struct qjob *q = malloc(sizeof(*q));
    bool dropped = false;

    pthread_mutex_lock(&a->mu);
    if (!q || a->qlen == QUEUE_MAX) {
        a->dropped++;
        dropped = true;
    } else {
        q->next = NULL;
        q->j = *j;
        *a->q_tail = q;
        a->q_tail = &q->next;
        a->qlen++;
        /* Every worker: the one woken might be unable to take this event (same rule and
         * target as another worker's). */
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    if (dropped) {
        free(q);
        pwd_log(&d->log, PWD_LOG_WARNING, "alert \"%s\": event dropped, the action queue is full",
                j->rule.name);
    }
}

/* The diagnosis metric from the rule's in-memory window (the loop never reads the store: the
 * writer thread holds it while it commits, and the newest samples are still queued). */
static void diag_eval(struct pwd_daemon *d, const struct pwd_target *t, const struct rule_rt *r,
                      struct tstate *ts, const struct pw_route *observed,
                      struct pw_alert_result *res)
{
    int64_t now = pwd_mono_ns();
    struct pw_diagnosis *diag;
    int rc;

    if (ts->diag_due_ns && now < ts->diag_due_ns) {
        *res = ts->diag_res;
        return;
    }
    ts->diag_due_ns = now + DIAG_EVERY_NS;
    diag = malloc(sizeof(*diag));
    rc = diag ? pw_alert_eval_diagnosis(&r->rule, &ts->w, observed->hop, observed->nhops,
                                        &t->rec.addr, t->rec.opts.proto, diag, &ts->diag_res)
              : -ENOMEM;
    if (rc == 0) {
        snprintf(ts->diag_summary, sizeof(ts->diag_summary), "%s", diag->summary);
    } else {
        memset(&ts->diag_res, 0, sizeof(ts->diag_res)); /* no value: never holds */
        ts->diag_summary[0] = '\0';
        pwd_log(&d->log, PWD_LOG_WARNING, "alert \"%s\": cannot judge target %u: %s", r->rule.name,
                t->rec.id, pw_strerror(rc));
    }
    free(diag);
    *res = ts->diag_res;
}

void pwd_alerts_sample(struct pwd_daemon *d, struct pwd_target *t,
                       const struct pw_store_sample *smp, bool route_changed, unsigned change_hop,
                       const struct pw_route *observed)
{
    struct pwd_alerts *a = d->alerts;
    struct pw_alert_point p;
    bool have_point = false;

    if (!a)
        return;
    for (size_t i = 0; i < a->nrules; i++) {
        struct rule_rt *r = &a->rules[i];
        struct pw_alert_result res;
        struct tstate *ts;
        enum pw_alert_event ev;

        if (!r->rule.enabled || !pw_alert_rule_applies(&r->rule, t->rec.id))
            continue;
        if (!(ts = tstate_get(r, t->rec.id, true)))
            continue;
        if (!ts->w.cap && pw_alert_window_init(&ts->w, r->rule.focus) < 0)
            continue;
        if (!have_point) {
            p.time_us = smp->time_us;
            p.nhops = smp->nhops;
            p.reached = smp->reached;
            p.route_changed = route_changed;
            p.change_hop = (uint8_t)change_hop;
            memcpy(p.rtt_us, smp->rtt_us, sizeof(p.rtt_us[0]) * smp->nhops);
            have_point = true;
        }
        pw_alert_window_push(&ts->w, &p);
        if (r->rule.metric == PW_ALERT_DIAG)
            diag_eval(d, t, r, ts, observed, &res);
        else
            pw_alert_eval(&r->rule, &ts->w, observed->hop, observed->nhops, &res);
        ev = pw_alert_step(&r->rule, &ts->st, res.holds, smp->time_us);
        if (ev != PW_ALERT_EV_NONE) {
            struct job j;
            j.rule = r->rule;
            j.target_id = t->rec.id;
            snprintf(j.target_name, sizeof(j.target_name), "%s",
                     t->rec.label[0] ? t->rec.label : t->rec.host);
            j.ev = ev;
            j.res = res;
            j.st = ts->st;
            j.time_us = smp->time_us;
            snprintf(j.detail, sizeof(j.detail), "%s",
                     r->rule.metric == PW_ALERT_DIAG ? ts->diag_summary : "");
            pwd_log(&d->log, PWD_LOG_NOTICE, "alert \"%s\" %s for target %u: %s %g (hop %u)",
                    r->rule.name, pw_alert_event_name(ev), t->rec.id,
                    pw_alert_metric_name(r->rule.metric), res.value, res.hop);
            enqueue(d, &j);
        }
    }
}

void pwd_alerts_target_gone(struct pwd_daemon *d, uint32_t target_id)
{
    struct pwd_alerts *a = d->alerts;

    for (size_t i = 0; a && i < a->nrules; i++) {
        struct rule_rt *r = &a->rules[i];
        for (size_t k = 0; k < r->nts; k++) {
            if (r->ts[k].target_id == target_id) {
                pw_alert_window_deinit(&r->ts[k].w);
                r->ts[k] = r->ts[--r->nts];
                break;
            }
        }
    }
}

uint64_t pwd_alerts_dropped(const struct pwd_daemon *d)
{
    uint64_t n = 0;

    if (d->alerts) {
        pthread_mutex_lock(&d->alerts->mu);
        n = d->alerts->dropped;
        pthread_mutex_unlock(&d->alerts->mu);
    }
    return n;
}

/* ---- actions (worker) ---- */

struct outcome {
    bool ok;
    char detail[256];
};

static const char *time_iso(int64_t us, char *buf, size_t len)
{
    return pw_timefmt_rfc3339_us(us, buf, len);
}

/* The documented webhook payload (conf/README.md, "Alert webhook payload"). */
static char *payload_json(const struct job *j)
{
    cJSON *o = cJSON_CreateObject(), *r, *t;
    char when[PW_TIMEFMT_STRLEN];
    char *s = NULL;

    if (!o)
        return NULL;
    if (!(r = cJSON_AddObjectToObject(o, "rule")) ||
        !cJSON_AddNumberToObject(r, "id", j->rule.id) ||
        !cJSON_AddStringToObject(r, "name", j->rule.name) ||
        !(t = cJSON_AddObjectToObject(o, "target")) ||
        !cJSON_AddNumberToObject(t, "id", j->target_id) ||
        !cJSON_AddStringToObject(t, "name", j->target_name) ||
        !cJSON_AddNumberToObject(o, "hop", j->res.hop) ||
        !cJSON_AddStringToObject(o, "metric", pw_alert_metric_name(j->rule.metric)) ||
        !(j->res.valid ? cJSON_AddNumberToObject(o, "value", j->res.value)
                       : cJSON_AddNullToObject(o, "value")) ||
        !cJSON_AddStringToObject(o, "operator", pw_alert_op_name(j->rule.op)) ||
        !cJSON_AddNumberToObject(o, "threshold", j->rule.threshold) ||
        !cJSON_AddStringToObject(o, "state", pw_alert_event_name(j->ev)) ||
        !cJSON_AddStringToObject(o, "time", time_iso(j->time_us, when, sizeof(when))) ||
        !cJSON_AddNumberToObject(o, "time_us", (double)j->time_us) ||
        (j->detail[0] && !cJSON_AddStringToObject(o, "detail", j->detail)))
        goto out;
    s = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    return s;
}

static void summary(const struct job *j, char *buf, size_t len)
{
    char when[PW_TIMEFMT_STRLEN];

    snprintf(buf, len, "alert \"%s\" %s: target %u (%s) hop %u %s %.3f %s %g at %s%s%s",
             j->rule.name, pw_alert_event_name(j->ev), j->target_id, j->target_name, j->res.hop,
             pw_alert_metric_name(j->rule.metric), j->res.valid ? j->res.value : NAN,
             pw_alert_op_name(j->rule.op), j->rule.threshold,
             time_iso(j->time_us, when, sizeof(when)), j->detail[0] ? ": " : "", j->detail);
}

static size_t discard(char *p, size_t sz, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return sz * n;
}

static void act_webhook(const struct pwd_config_alerts *cfg, const struct job *j, const char *url,
                        struct outcome *out)
{
    char *body = payload_json(j);
    struct curl_slist *h = NULL;
    long code = 0;
    CURLcode cc = CURLE_OK;
    unsigned attempts = cfg->webhook_retries + 1, i;

    if (!pwd_config_webhook_allowed(cfg, url)) {
        snprintf(out->detail, sizeof(out->detail), "URL not allowed by alerts.webhook_allow");
        goto out;
    }
    if (!body || !(h = curl_slist_append(NULL, "Content-Type: application/json"))) {
        snprintf(out->detail, sizeof(out->detail), "out of memory");
        goto out;
    }
    for (i = 0; i < attempts; i++) {
        CURL *c = curl_easy_init();
        if (!c)
            break;
        if (i) {
            /* Backoff 1 s, 2 s, 4 s, ... between attempts. */
            struct timespec ts = {(time_t)1 << (i - 1 < 5 ? i - 1 : 5), 0};
            nanosleep(&ts, NULL);
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->webhook_timeout_s);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)cfg->webhook_timeout_s);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "pingwatcherd/" PW_VERSION);
        cc = curl_easy_perform(c);
        code = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        if (cc == CURLE_OK && code >= 200 && code < 300)
            break;
    }
    out->ok = cc == CURLE_OK && code >= 200 && code < 300;
    if (out->ok)
        snprintf(out->detail, sizeof(out->detail), "HTTP %ld after %u attempt(s)", code, i + 1);
    else if (cc != CURLE_OK)
        snprintf(out->detail, sizeof(out->detail), "%s after %u attempt(s)", curl_easy_strerror(cc),
                 attempts);
    else
        snprintf(out->detail, sizeof(out->detail), "HTTP %ld after %u attempt(s)", code, attempts);
out:
    curl_slist_free_all(h);
    cJSON_free(body);
}

struct mailbuf {
    const char *p;
    size_t left;
};

static size_t mail_read(char *dst, size_t sz, size_t n, void *arg)
{
    struct mailbuf *m = arg;
    size_t k = sz * n < m->left ? sz * n : m->left;

    memcpy(dst, m->p, k);
    m->p += k;
    m->left -= k;
    return k;
}

static void act_email(const struct pwd_config_alerts *cfg, const struct job *j, const char *to,
                      struct outcome *out)
{
    char msg[4096], line[600], date[64], rcpt_to[300];
    struct curl_slist *rcpt = NULL;
    struct mailbuf mb;
    time_t now = (time_t)(j->time_us / 1000000);
    struct tm tm;
    CURL *c;
    CURLcode cc;

    if (!cfg->smtp_url[0]) {
        snprintf(out->detail, sizeof(out->detail), "no alerts.smtp.url configured");
        return;
    }
    summary(j, line, sizeof(line));
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    /* Every header value was validated (addresses without CR/LF, names without control
     * characters): nothing here can inject a header. */
    snprintf(msg, sizeof(msg),
             "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: [PingWatcher] %s %s: %s\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
             date, cfg->smtp_from[0] ? cfg->smtp_from : "pingwatcher@localhost", to, j->rule.name,
             pw_alert_event_name(j->ev), j->target_name, line);
    snprintf(rcpt_to, sizeof(rcpt_to), "<%s>", to);
    if (!(rcpt = curl_slist_append(NULL, rcpt_to)) || !(c = curl_easy_init())) {
        curl_slist_free_all(rcpt);
        snprintf(out->detail, sizeof(out->detail), "out of memory");
        return;
    }
    mb.p = msg;
    mb.left = strlen(msg);
    snprintf(line, sizeof(line), "<%s>",
             cfg->smtp_from[0] ? cfg->smtp_from : "pingwatcher@localhost");
    curl_easy_setopt(c, CURLOPT_URL, cfg->smtp_url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->webhook_timeout_s * 4);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, line);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, mail_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &mb);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    if (cfg->smtp_starttls)
        curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (cfg->smtp_user[0]) {
        curl_easy_setopt(c, CURLOPT_USERNAME, cfg->smtp_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->smtp_password);
    }
    cc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    curl_slist_free_all(rcpt);
    out->ok = cc == CURLE_OK;
    snprintf(out->detail, sizeof(out->detail), "%s", out->ok ? "sent" : curl_easy_strerror(cc));
}

static void act_log(const struct pwd_config_alerts *cfg, const struct job *j, struct outcome *out)
{
    char line[700];
    int fd, n;

    if (!cfg->log_path[0]) {
        snprintf(out->detail, sizeof(out->detail), "no alerts.log_path configured");
        return;
    }
    {
        char when[PW_TIMEFMT_STRLEN];
        n = snprintf(line, sizeof(line),
                     "%s rule=%u name=\"%s\" target=%u target_name=\"%s\" hop=%u metric=%s "
                     "value=%.3f operator=%s threshold=%g state=%s\n",
                     time_iso(j->time_us, when, sizeof(when)), j->rule.id, j->rule.name,
                     j->target_id, j->target_name, j->res.hop, pw_alert_metric_name(j->rule.metric),
                     j->res.valid ? j->res.value : NAN, pw_alert_op_name(j->rule.op),
                     j->rule.threshold, pw_alert_event_name(j->ev));
    }
    if (n < 0 || (size_t)n >= sizeof(line))
        n = (int)strlen(line);
    fd = open(cfg->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(out->detail, sizeof(out->detail), "cannot open %.180s: %s", cfg->log_path,
                 strerror(errno));
        return;
    }
    /* One write per line with O_APPEND: lines never interleave. */
    out->ok = write(fd, line, (size_t)n) == n;
    snprintf(out->detail, sizeof(out->detail), "%s", out->ok ? "written" : strerror(errno));
    close(fd);
}

extern char **environ;

static void act_command(const struct pwd_config_alerts *cfg, const struct job *j, const char *name,
                        struct outcome *out)
{
    const struct pwd_alert_command *cmd = pwd_config_alert_command(cfg, name);
    char env[12][600], when[PW_TIMEFMT_STRLEN];
    char *envp[13];
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    sigset_t none, def;
    pid_t pid;
    int rc, status = 0;
    int64_t deadline;
    struct timespec now;

    if (!cmd) {
        snprintf(out->detail, sizeof(out->detail), "no command \"%s\" in alerts.commands", name);
        return;
    }
    /* Values go to the environment, never into a command line: no shell ever sees them. */
    snprintf(env[0], sizeof(env[0]), "PATH=/usr/local/bin:/usr/bin:/bin");
    snprintf(env[1], sizeof(env[1]), "PW_ALERT_RULE=%s", j->rule.name);
    snprintf(env[2], sizeof(env[2]), "PW_ALERT_RULE_ID=%u", j->rule.id);
    snprintf(env[3], sizeof(env[3]), "PW_ALERT_TARGET=%s", j->target_name);
    snprintf(env[4], sizeof(env[4]), "PW_ALERT_TARGET_ID=%u", j->target_id);
    snprintf(env[5], sizeof(env[5]), "PW_ALERT_HOP=%u", j->res.hop);
    snprintf(env[6], sizeof(env[6]), "PW_ALERT_METRIC=%s", pw_alert_metric_name(j->rule.metric));
    snprintf(env[7], sizeof(env[7]), "PW_ALERT_VALUE=%.3f", j->res.valid ? j->res.value : NAN);
    snprintf(env[8], sizeof(env[8]), "PW_ALERT_OPERATOR=%s", pw_alert_op_name(j->rule.op));
    snprintf(env[9], sizeof(env[9]), "PW_ALERT_THRESHOLD=%g", j->rule.threshold);
    snprintf(env[10], sizeof(env[10]), "PW_ALERT_STATE=%s", pw_alert_event_name(j->ev));
    snprintf(env[11], sizeof(env[11]), "PW_ALERT_TIME=%s",
             time_iso(j->time_us, when, sizeof(when)));
    for (int i = 0; i < 12; i++)
        envp[i] = env[i];
    envp[12] = NULL;

    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&fa);
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGHUP);
    /* Its own process group (so a timeout kills everything it started), the daemon's blocked
     * signals unblocked and SIGPIPE back to default. */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    rc = posix_spawn(&pid, cmd->argv[0], &fa, &attr, cmd->argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        snprintf(out->detail, sizeof(out->detail), "cannot run %.180s: %s", cmd->argv[0],
                 strerror(rc));
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    deadline = now.tv_sec * 1000 + now.tv_nsec / 1000000 + (int64_t)cfg->command_timeout_s * 1000;
    for (;;) {
        struct timespec nap = {0, 20 * 1000000};
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            snprintf(out->detail, sizeof(out->detail), "waitpid: %s", strerror(errno));
            return;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec * 1000 + now.tv_nsec / 1000000 >= deadline) {
            kill(-pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            snprintf(out->detail, sizeof(out->detail), "killed after %u s (timeout)",
                     cfg->command_timeout_s);
            return;
        }
        nanosleep(&nap, NULL);
    }
    out->ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (WIFEXITED(status))
        snprintf(out->detail, sizeof(out->detail), "exit status %d", WEXITSTATUS(status));
    else
        snprintf(out->detail, sizeof(out->detail), "killed by signal %d", WTERMSIG(status));
}

/* ---- image: the final hop's RTT over the 10 minutes before the event, as SVG ---- */

struct img {
    FILE *f;
    int64_t t0, t1;
    double max_ms;
    int npts;
    int pass; /* 0: find the scale, 1: draw */
    bool open_path;
};

#define IMG_W 800
#define IMG_H 300
#define IMG_L 50
#define IMG_B 30

static double img_x(const struct img *m, int64_t t)
{
    return IMG_L + (double)(t - m->t0) * (IMG_W - IMG_L - 10) / (double)(m->t1 - m->t0);
}

static int img_each(void *arg, const struct pw_store_sample *smp)
{
    struct img *m = arg;
    int32_t rtt;

    if (!smp->nhops)
        return 0;
    rtt = smp->rtt_us[smp->nhops - 1];
    if (m->pass == 0) {
        if (rtt >= 0 && rtt / 1000.0 > m->max_ms)
            m->max_ms = rtt / 1000.0;
        return 0;
    }
    if (rtt == PW_RTT_LOST) {
        fprintf(m->f,
                "<line class=\"lost\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                "stroke=\"#d00\"/>\n",
                img_x(m, smp->time_us), 10, img_x(m, smp->time_us), IMG_H - IMG_B);
        return 0;
    }
    if (rtt < 0)
        return 0;
    fprintf(m->f, "<circle class=\"rtt\" cx=\"%.1f\" cy=\"%.1f\" r=\"1.5\" fill=\"#06c\"/>\n",
            img_x(m, smp->time_us),
            (IMG_H - IMG_B) - (rtt / 1000.0) * (IMG_H - IMG_B - 10) / m->max_ms);
    m->npts++;
    return 0;
}

static void act_image(struct pwd_daemon *d, const struct pwd_config_alerts *cfg,
                      const struct job *j, struct outcome *out)
{
    char path[4200], tmp[4300], title[400];
    struct img m = {0};
    int rc;

    if (!cfg->image_dir[0]) {
        snprintf(out->detail, sizeof(out->detail), "no alerts.image_dir configured");
        return;
    }
    snprintf(path, sizeof(path), "%s/alert-%u-%u-%lld-%s.svg", cfg->image_dir, j->rule.id,
             j->target_id, (long long)j->time_us, pw_alert_event_name(j->ev));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    m.t0 = j->time_us - IMAGE_SPAN_US;
    m.t1 = j->time_us + 1;
    m.max_ms = 1;
    if (!(m.f = fopen(tmp, "we"))) {
        snprintf(out->detail, sizeof(out->detail), "cannot create %.180s: %s", tmp,
                 strerror(errno));
        return;
    }
    /* The rule name goes into the SVG as text: only XML-safe characters. */
    snprintf(title, sizeof(title), "%s", j->rule.name);
    for (char *p = title; *p; p++)
        if (*p == '<' || *p == '>' || *p == '&' || *p == '"' || *p == '\'')
            *p = '_';
    fprintf(m.f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\">\n<title>%s %s, target %u</title>\n"
            "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n",
            IMG_W, IMG_H, IMG_W, IMG_H, title, pw_alert_event_name(j->ev), j->target_id, IMG_W,
            IMG_H);
    pwd_store_lock(d);
    rc = pw_store_samples(d->store, j->target_id, m.t0, m.t1, false, img_each, &m);
    m.pass = 1;
    m.max_ms *= 1.1;
    fprintf(m.f,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>\n"
            "<text x=\"4\" y=\"16\" font-size=\"11\">%.1f ms</text>\n"
            "<text x=\"4\" y=\"%d\" font-size=\"11\">0</text>\n",
            IMG_L, IMG_H - IMG_B, IMG_W - 10, IMG_H - IMG_B, m.max_ms, IMG_H - IMG_B);
    if (rc == 0)
        rc = pw_store_samples(d->store, j->target_id, m.t0, m.t1, false, img_each, &m);
    pwd_store_unlock(d);
    fprintf(m.f,
            "<line class=\"event\" x1=\"%.1f\" y1=\"10\" x2=\"%.1f\" y2=\"%d\" stroke=\"#f80\" "
            "stroke-dasharray=\"4\"/>\n</svg>\n",
            img_x(&m, j->time_us), img_x(&m, j->time_us), IMG_H - IMG_B);
    if (fclose(m.f) != 0 || rc < 0) {
        unlink(tmp);
        snprintf(out->detail, sizeof(out->detail), "cannot write the image: %s",
                 rc < 0 ? pw_strerror(rc) : strerror(errno));
        return;
    }
    if (rename(tmp, path) < 0) {
        unlink(tmp);
        snprintf(out->detail, sizeof(out->detail), "cannot rename to %.180s: %s", path,
                 strerror(errno));
        return;
    }
    out->ok = true;
    snprintf(out->detail, sizeof(out->detail), "%.200s (%d points)", path, m.npts);
}

static void act_comment(struct pwd_daemon *d, const struct job *j, struct outcome *out)
{
    struct pw_store_comment c;
    int rc;

    memset(&c, 0, sizeof(c));
    c.target_id = j->target_id;
    c.time_us = j->time_us;
    summary(j, c.text, sizeof(c.text));
    snprintf(c.author, sizeof(c.author), "alert:%.56s", j->rule.name);
    pwd_store_lock(d);
    rc = pw_store_comment_add(d->store, &c);
    pwd_store_unlock(d);
    out->ok = rc == 0;
    if (out->ok)
        snprintf(out->detail, sizeof(out->detail), "comment %u", c.id);
    else
        snprintf(out->detail, sizeof(out->detail), "%s", pw_strerror(rc));
}

/* ---- history ---- */

static size_t history_key(uint8_t *k, const struct job *j)
{
    k[0] = 'h';
    put_be64(k + 1, (uint64_t)j->time_us);
    put_be32(k + 9, j->rule.id);
    put_be32(k + 13, j->target_id);
    k[17] = (uint8_t)j->ev;
    return 18;
}

static char *history_json(const struct job *j, const struct outcome *outs, size_t nout)
{
    cJSON *o = cJSON_CreateObject(), *acts;
    char when[PW_TIMEFMT_STRLEN];
    char *s = NULL;

    if (!o)
        return NULL;
    if (!cJSON_AddNumberToObject(o, "time_us", (double)j->time_us) ||
        !cJSON_AddStringToObject(o, "time", time_iso(j->time_us, when, sizeof(when))) ||
        !cJSON_AddNumberToObject(o, "rule", j->rule.id) ||
        !cJSON_AddStringToObject(o, "rule_name", j->rule.name) ||
        !cJSON_AddNumberToObject(o, "target", j->target_id) ||
        !cJSON_AddStringToObject(o, "target_name", j->target_name) ||
        !cJSON_AddNumberToObject(o, "hop", j->res.hop) ||
        !cJSON_AddStringToObject(o, "metric", pw_alert_metric_name(j->rule.metric)) ||
        !(j->res.valid ? cJSON_AddNumberToObject(o, "value", j->res.value)
                       : cJSON_AddNullToObject(o, "value")) ||
        !cJSON_AddStringToObject(o, "operator", pw_alert_op_name(j->rule.op)) ||
        !cJSON_AddNumberToObject(o, "threshold", j->rule.threshold) ||
        !cJSON_AddStringToObject(o, "state", pw_alert_event_name(j->ev)) ||
        (j->detail[0] && !cJSON_AddStringToObject(o, "detail", j->detail)) ||
        !(acts = cJSON_AddArrayToObject(o, "actions")))
        goto out;
    for (size_t i = 0; i < j->rule.nactions; i++) {
        cJSON *a = cJSON_CreateObject();
        if (!a || !cJSON_AddItemToArray(acts, a) ||
            !cJSON_AddStringToObject(a, "type", pw_alert_action_name(j->rule.actions[i].type)))
            goto out;
        if (i < nout) {
            if (!cJSON_AddBoolToObject(a, "ok", outs[i].ok) ||
                !cJSON_AddStringToObject(a, "detail", outs[i].detail))
                goto out;
        } else if (!cJSON_AddStringToObject(a, "detail", "pending")) {
            goto out;
        }
    }
    s = cJSON_PrintUnformatted(o);
    if (s && strlen(s) > HISTORY_MAX) {
        cJSON_free(s);
        s = NULL;
    }
out:
    cJSON_Delete(o);
    return s;
}

/* Writes the state and the history record of j (with the outcomes known so far). */
static void persist(struct pwd_daemon *d, const struct job *j, const struct outcome *outs,
                    size_t nout, bool with_state)
{
    uint8_t sk[9], hk[18], enc[PW_ALERT_STATE_BYTES];
    char *h = history_json(j, outs, nout);
    struct pw_store_alert_kv kv[2];
    size_t n = 0;
    int rc;

    if (!h) {
        pwd_log(&d->log, PWD_LOG_WARNING, "alert \"%s\": history record too large or no memory",
                j->rule.name);
        return;
    }
    kv[n++] = (struct pw_store_alert_kv){hk, history_key(hk, j), h, strlen(h)};
    if (with_state) {
        pw_alert_state_encode(&j->st, enc);
        kv[n++] = (struct pw_store_alert_kv){sk, state_key(sk, j->rule.id, j->target_id), enc,
                                             sizeof(enc)};
    }
    pwd_store_lock(d);
    rc = pw_store_alert_write(d->store, kv, n);
    pwd_store_unlock(d);
    if (rc < 0)
        pwd_log(&d->log, PWD_LOG_ERR, "alert \"%s\": cannot store its state: %s", j->rule.name,
                pw_strerror(rc));
    cJSON_free(h);
}

static void run_job(struct pwd_daemon *d, const struct pwd_config_alerts *cfg, const struct job *j)
{
    struct outcome outs[PW_ALERT_ACTIONS_MAX];

    /* State first: a restart in the middle of slow actions must not fire the alert again. */
    persist(d, j, NULL, 0, true);
    for (size_t i = 0; i < j->rule.nactions; i++) {
        const struct pw_alert_action *a = &j->rule.actions[i];
        struct outcome *o = &outs[i];

        memset(o, 0, sizeof(*o));
        switch (a->type) {
        case PW_ALERT_ACT_EMAIL:
            act_email(cfg, j, a->arg, o);
            break;
        case PW_ALERT_ACT_WEBHOOK:
            act_webhook(cfg, j, a->arg, o);
            break;
        case PW_ALERT_ACT_LOG:
            act_log(cfg, j, o);
            break;
        case PW_ALERT_ACT_COMMAND:
            act_command(cfg, j, a->arg, o);
            break;
        case PW_ALERT_ACT_IMAGE:
            act_image(d, cfg, j, o);
            break;
        case PW_ALERT_ACT_COMMENT:
            act_comment(d, j, o);
            break;
        default:
            snprintf(o->detail, sizeof(o->detail), "unknown action");
            break;
        }
        if (!o->ok)
            pwd_log(&d->log, PWD_LOG_WARNING, "alert \"%s\" %s: %s action failed: %s", j->rule.name,
                    pw_alert_event_name(j->ev), pw_alert_action_name(a->type), o->detail);
    }
    persist(d, j, outs, j->rule.nactions, false);
}

/* The oldest queued event whose rule and target no worker is delivering, unlinked; NULL when
 * there is none. Called with a->mu held. */
static struct qjob *take_job(struct pwd_alerts *a)
{
    for (struct qjob **pp = &a->q; *pp; pp = &(*pp)->next) {
        struct qjob *q = *pp;
        bool taken = false;

        for (size_t i = 0; i < WORKERS && !taken; i++)
            taken = a->workers[i].busy && a->workers[i].rule == q->j.rule.id &&
                    a->workers[i].target == q->j.target_id;
        if (taken)
            continue;
        *pp = q->next;
        if (a->q_tail == &q->next)
            a->q_tail = pp;
        a->qlen--;
        return q;
    }
    return NULL;
}

static void *worker(void *arg)
{
    struct worker *w = arg;
    struct pwd_daemon *d = w->d;
    struct pwd_alerts *a = d->alerts;
    struct pwd_config_alerts cfg;
    struct qjob *q = NULL;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stop && !(q = take_job(a)))
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop)
            break;
        /* A private copy of the configuration: a reload may swap it meanwhile. */
        if (pwd_config_alerts_copy(&cfg, &a->cfg) < 0) {
            a->dropped++;
            free(q);
            continue;
        }
        w->busy = true;
        w->rule = q->j.rule.id;
        w->target = q->j.target_id;
        pthread_mutex_unlock(&a->mu);
        run_job(d, &cfg, &q->j);
        pwd_config_alerts_free(&cfg);
        free(q);
        pthread_mutex_lock(&a->mu);
        w->busy = false;
        pthread_cond_broadcast(&a->cv); /* the next event of that rule and target may go */
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int pwd_alerts_start(struct pwd_daemon *d, char *err, size_t errlen)
{
    struct pwd_alerts *a = calloc(1, sizeof(*a));
    int rc;

    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->alerts = a;
    a->q_tail = &a->q;
    a->next_id = 1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -EIO;
    }
    a->curl_ready = true;
    if ((rc = pwd_config_alerts_copy(&a->cfg, &d->cfg.alerts)) < 0 ||
        (rc = pw_store_alert_scan(d->store, "r", 1, NULL, 0, load_rule, d)) < 0 ||
        (rc = pw_store_alert_scan(d->store, "s", 1, NULL, 0, load_state, d)) < 0 ||
        (rc = pw_store_alert_scan(d->store, "n", 1, NULL, 0, load_next, a)) < 0) {
        snprintf(err, errlen, "cannot load the alert rules: %s", pw_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < WORKERS; i++) {
        struct worker *w = &a->workers[i];

        w->d = d;
        if ((rc = pthread_create(&w->th, NULL, worker, w)) != 0) {
            snprintf(err, errlen, "cannot start the alert workers: %s", strerror(rc));
            return -rc;
        }
        w->started = true;
    }
    pwd_log(&d->log, PWD_LOG_INFO, "%zu alert rules loaded", a->nrules);
    return 0;
}

void pwd_alerts_stop(struct pwd_daemon *d)
{
    struct pwd_alerts *a = d->alerts;

    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    for (size_t i = 0; i < WORKERS; i++)
        if (a->workers[i].started)
            pthread_join(a->workers[i].th, NULL);
    if (a->curl_ready)
        curl_global_cleanup();
    for (size_t i = 0; i < a->nrules; i++)
        rule_clear(&a->rules[i]);
    free(a->rules);
    while (a->pending) {
        struct pending *p = a->pending;
        a->pending = p->next;
        free(p);
    }
    pwd_config_alerts_free(&a->cfg);
    while (a->q) {
        struct qjob *q = a->q;
        a->q = q->next;
        free(q);
    }
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
    d->alerts = NULL;
}

void pwd_alerts_config(struct pwd_daemon *d)
{
    struct pwd_alerts *a = d->alerts;
    struct pwd_config_alerts next;

    if (!a || pwd_config_alerts_copy(&next, &d->cfg.alerts) < 0)
        return;
    pthread_mutex_lock(&a->mu);
    pwd_config_alerts_free(&a->cfg);
    a->cfg = next;
    pthread_mutex_unlock(&a->mu);
}

/* ---- control commands (CONTROL.md, "Alerts") ---- */

static void reply(struct pwd_daemon *d, uint64_t client, char *line)
{
    pwd_control_reply(d->control, client, line);
}

static void reply_err(struct pwd_daemon *d, uint64_t client, const char *code, const char *msg)
{
    d->st.request_errors++;
    reply(d, client, pwd_response_error(code, msg));
}

/* What the rule needs from the daemon's state and configuration. */
static bool rule_usable(struct pwd_daemon *d, const struct pw_alert_rule *r, char *err,
                        size_t errlen)
{
    for (uint32_t i = 0; i < r->ntargets; i++) {
        if (!pwd_target_find(d, r->targets[i])) {
            snprintf(err, errlen, "target %u does not exist", r->targets[i]);
            return false;
        }
    }
    for (uint32_t i = 0; i < r->nactions; i++) {
        const struct pw_alert_action *a = &r->actions[i];
        const struct pwd_config_alerts *c = &d->cfg.alerts;

        if (a->type == PW_ALERT_ACT_COMMAND && !pwd_config_alert_command(c, a->arg)) {
            snprintf(err, errlen,
                     "actions[%u]: no command \"%s\" is declared in the configuration file "
                     "(alerts.commands)",
                     i, a->arg);
            return false;
        }
        if (a->type == PW_ALERT_ACT_WEBHOOK && !pwd_config_webhook_allowed(c, a->arg)) {
            snprintf(err, errlen, "actions[%u]: the URL is not allowed by alerts.webhook_allow", i);
            return false;
        }
        if (a->type == PW_ALERT_ACT_EMAIL && !c->smtp_url[0]) {
            snprintf(err, errlen, "actions[%u]: no mail server is configured (alerts.smtp.url)", i);
            return false;
        }
        if (a->type == PW_ALERT_ACT_LOG && !c->log_path[0]) {
            snprintf(err, errlen, "actions[%u]: no alerts.log_path is configured", i);
            return false;
        }
        if (a->type == PW_ALERT_ACT_IMAGE && !c->image_dir[0]) {
            snprintf(err, errlen, "actions[%u]: no alerts.image_dir is configured", i);
            return false;
        }
    }
    return true;
}

static int store_rule(struct pwd_daemon *d, const struct pw_alert_rule *r, bool bump_next)
{
    cJSON *j = pw_alert_rule_json(r);
    char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
    uint8_t rk[5], nk[1] = {'n'}, nv[4];
    struct pw_store_alert_kv kv[2];
    int rc;

    cJSON_Delete(j);
    if (!txt)
        return -ENOMEM;
    rk[0] = 'r';
    put_be32(rk + 1, r->id);
    put_be32(nv, r->id + 1);
    kv[0] = (struct pw_store_alert_kv){rk, 5, txt, strlen(txt)};
    kv[1] = (struct pw_store_alert_kv){nk, 1, nv, 4};
    rc = pw_store_alert_write(d->store, kv, bump_next ? 2 : 1);
    cJSON_free(txt);
    return rc;
}

static void reply_rule(struct pwd_daemon *d, uint64_t client, const struct pw_alert_rule *r)
{
    cJSON *j = pw_alert_rule_json(r);

    d->st.requests++;
    reply(d, client, j ? pwd_response_ok(j) : NULL);
}

/* Runs one alert.* request with the store locked. */
static void run_cmd(struct pwd_daemon *d, uint64_t client, const cJSON *root, const char *cmd)
{
    struct pwd_alerts *a = d->alerts;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "args"), *v;
    const cJSON *jr = NULL, *jid = NULL;
    struct pw_alert_rule r;
    struct rule_rt *rt = NULL;
    char err[400];
    uint32_t id = 0;
    int rc;

    if (args && !cJSON_IsObject(args)) {
        reply_err(d, client, PWD_ERR_INVALID, "\"args\" must be an object");
        return;
    }
    cJSON_ArrayForEach(v, args)
    {
        if (strcmp(v->string, "rule") == 0)
            jr = v;
        else if (strcmp(v->string, "id") == 0)
            jid = v;
        else {
            snprintf(err, sizeof(err), "%s: unknown argument \"%s\" (expected id, rule)", cmd,
                     v->string);
            reply_err(d, client, PWD_ERR_INVALID, err);
            return;
        }
    }
    if (strcmp(cmd, "alert.create") != 0 && strcmp(cmd, "alert.list") != 0) {
        if (!cJSON_IsNumber(jid) || jid->valuedouble < 1 || jid->valuedouble > UINT32_MAX ||
            jid->valuedouble != floor(jid->valuedouble)) {
            snprintf(err, sizeof(err), "%s needs \"id\": a rule id", cmd);
            reply_err(d, client, PWD_ERR_INVALID, err);
            return;
        }
        id = (uint32_t)jid->valuedouble;
        if (!(rt = rule_find(a, id))) {
            snprintf(err, sizeof(err), "alert rule %u does not exist", id);
            reply_err(d, client, PWD_ERR_NOT_FOUND, err);
            return;
        }
    }
    if (strcmp(cmd, "alert.list") == 0) {
        cJSON *arr = cJSON_CreateArray(), *o = cJSON_CreateObject();
        for (size_t i = 0; arr && i < a->nrules; i++)
            cJSON_AddItemToArray(arr, pw_alert_rule_json(&a->rules[i].rule));
        if (!o || !arr || !cJSON_AddItemToObject(o, "rules", arr)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            reply(d, client, NULL);
            return;
        }
        d->st.requests++;
        reply(d, client, pwd_response_ok(o));
        return;
    }
    if (strcmp(cmd, "alert.delete") == 0) {
        uint8_t rk[5], sk[5];
        struct pw_store_alert_kv kv = {rk, 5, NULL, 0};
        rk[0] = 'r';
        put_be32(rk + 1, id);
        sk[0] = 's';
        put_be32(sk + 1, id);
        if ((rc = pw_store_alert_write(d->store, &kv, 1)) < 0 ||
            (rc = pw_store_alert_delete_prefix(d->store, sk, 5)) < 0) {
            snprintf(err, sizeof(err), "store error: %s", pw_strerror(rc));
            reply_err(d, client, PWD_ERR_INTERNAL, err);
            return;
        }
        rule_clear(rt);
        *rt = a->rules[--a->nrules];
        d->st.requests++;
        {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "id", id);
            reply(d, client, pwd_response_ok(o));
        }
        return;
    }
    if (!jr) {
        snprintf(err, sizeof(err), "%s needs \"rule\": the rule object", cmd);
        reply_err(d, client, PWD_ERR_INVALID, err);
        return;
    }
    if (pw_alert_rule_parse(jr, rt ? &rt->rule : NULL, &r, err, sizeof(err)) < 0) {
        reply_err(d, client, PWD_ERR_INVALID, err);
        return;
    }
    if (!rule_usable(d, &r, err, sizeof(err))) {
        reply_err(d, client, strstr(err, "does not exist") ? PWD_ERR_NOT_FOUND : PWD_ERR_INVALID,
                  err);
        return;
    }
    if (!rt) {
        r.id = a->next_id;
        if ((rc = store_rule(d, &r, true)) < 0 || (rc = rule_add(a, &r)) < 0) {
            snprintf(err, sizeof(err), "store error: %s", pw_strerror(rc));
            reply_err(d, client, PWD_ERR_INTERNAL, err);
            return;
        }
        reply_rule(d, client, &r);
        return;
    }
    r.id = id;
    if ((rc = store_rule(d, &r, false)) < 0) {
        snprintf(err, sizeof(err), "store error: %s", pw_strerror(rc));
        reply_err(d, client, PWD_ERR_INTERNAL, err);
        return;
    }
    /* A changed condition starts from a fresh window; a disabled rule forgets its state (a
     * firing alert ends silently: the user turned it off). */
    if (!r.enabled || r.focus != rt->rule.focus || r.metric != rt->rule.metric ||
        r.hop_kind != rt->rule.hop_kind || r.hop_ttl != rt->rule.hop_ttl) {
        if (!r.enabled) {
            uint8_t sk[5];
            sk[0] = 's';
            put_be32(sk + 1, id);
            pw_store_alert_delete_prefix(d->store, sk, 5);
            rule_clear(rt);
        } else {
            for (size_t i = 0; i < rt->nts; i++) {
                pw_alert_window_deinit(&rt->ts[i].w);
                rt->ts[i].diag_due_ns = 0;
            }
        }
    }
    rt->rule = r;
    reply_rule(d, client, &r);
}

static void handle_line(struct pwd_daemon *d, uint64_t client, const char *line, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(line, len);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "cmd");

    if (cJSON_IsString(c) && c->valuestring)
        run_cmd(d, client, root, c->valuestring);
    else
        reply_err(d, client, PWD_ERR_INVALID, "not a request");
    cJSON_Delete(root);
}

bool pwd_alerts_command(struct pwd_daemon *d, uint64_t client, const char *line, size_t len)
{
    static const char *const cmds[] = {"alert.create", "alert.update", "alert.delete",
                                       "alert.list"};
    struct pwd_alerts *a = d->alerts;
    cJSON *root;
    const cJSON *c;
    bool ours = false;
    struct pending *p;

    if (!a || len > PWD_REQUEST_MAX)
        return false;
    /* Cheap filter first: most requests are not ours. */
    if (!memmem(line, len, "\"alert.", 7))
        return false;
    root = cJSON_ParseWithLength(line, len);
    c = cJSON_GetObjectItemCaseSensitive(root, "cmd");
    for (size_t i = 0; cJSON_IsString(c) && c->valuestring && i < 4; i++)
        ours |= strcmp(c->valuestring, cmds[i]) == 0;
    cJSON_Delete(root);
    if (!ours)
        return false;
    if (!a->pending && pthread_mutex_trylock(&d->store_lock) == 0) {
        handle_line(d, client, line, len);
        pthread_mutex_unlock(&d->store_lock);
        return true;
    }
    /* The writer is committing: wait for it off the loop, like other requests. */
    if (!(p = malloc(sizeof(*p) + len))) {
        reply(d, client, NULL);
        return true;
    }
    p->next = NULL;
    p->client = client;
    p->len = len;
    memcpy(p->line, line, len);
    if (!a->pending)
        a->pending_tail = &a->pending;
    *a->pending_tail = p;
    a->pending_tail = &p->next;
    return true;
}

void pwd_alerts_retry(struct pwd_daemon *d)
{
    struct pwd_alerts *a = d->alerts;

    if (!a || !a->pending || pthread_mutex_trylock(&d->store_lock) != 0)
        return;
    while (a->pending) {
        struct pending *p = a->pending;
        a->pending = p->next;
        handle_line(d, p->client, p->line, p->len);
        free(p);
    }
    pthread_mutex_unlock(&d->store_lock);
}
