/*
 * truth.c - ground-truth log writer
 */
#include "truth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#define TRUTH_BUF (1u << 20) /* one write() per MiB of log under load */

static const char header[] = "recv_ns\tfamily\tproto\tsrc\tdst\tsport\tdport\tprobe_id\tttl\thop\t"
                             "responder\toutcome\tdelay_us\tsent_ns\n";

int pw_sim_truth_open(struct pw_sim_truth *t, const char *path)
{
    int rc = 0;

    memset(t, 0, sizeof(*t));
    if (path == NULL)
        return 0;
    t->f = fopen(path, "we");
    if (t->f == NULL)
        return -errno;
    t->buf = malloc(TRUTH_BUF);
    if (t->buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (setvbuf(t->f, t->buf, _IOFBF, TRUTH_BUF) != 0) {
        rc = -EIO;
        goto out;
    }
    if (fputs(header, t->f) == EOF || fflush(t->f) == EOF) {
        rc = -errno;
        goto out;
    }
    return 0;
out:
    fclose(t->f);
    t->f = NULL;
    free(t->buf);
    t->buf = NULL;
    return rc;
}

int pw_sim_truth_write(struct pw_sim_truth *t, const struct pw_sim_truth_row *r)
{
    static const char *const protos[] = {"icmp", "udp", "tcp"};
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], resp[INET6_ADDRSTRLEN] = "-";
    int fam = r->family;

    if (t->f == NULL || t->err != 0)
        return t->err;
    inet_ntop(fam, r->src, src, sizeof(src));
    inet_ntop(fam, r->dst, dst, sizeof(dst));
    if (r->has_responder)
        inet_ntop(fam, r->responder, resp, sizeof(resp));
    if (fprintf(t->f,
                "%" PRIu64 "\t%d\t%s\t%s\t%s\t%u\t%u\t%" PRIu32 "\t%u\t%" PRIu32
                "\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\n",
                r->recv_ns, fam == AF_INET ? 4 : 6, r->proto < 3 ? protos[r->proto] : "?", src, dst,
                r->sport, r->dport, r->probe_id, r->ttl, r->hop, resp,
                pw_sim_outcome_name((enum pw_sim_outcome)r->outcome), r->delay_us, r->sent_ns) < 0)
        t->err = errno != 0 ? -errno : -EIO;
    t->pending++;
    return t->err;
}

size_t pw_sim_truth_buffered(const struct pw_sim_truth *t)
{
    return t->f != NULL ? __fpending(t->f) : 0;
}

int pw_sim_truth_flush(struct pw_sim_truth *t)
{
    if (t->f == NULL)
        return 0;
    if (t->pending > 0 && fflush(t->f) == EOF && t->err == 0)
        t->err = -errno;
    t->pending = 0;
    return t->err;
}

int pw_sim_truth_close(struct pw_sim_truth *t)
{
    int rc;

    if (t->f == NULL)
        return t->err;
    rc = pw_sim_truth_flush(t);
    if (fclose(t->f) == EOF && rc == 0)
        rc = -errno;
    t->f = NULL;
    free(t->buf);
    t->buf = NULL;
    return rc;
}
