/*
 * truth.h - the ground-truth log: one tab-separated line per probe netsim saw
 *
 * Columns (header line first): recv_ns family proto src dst sport dport probe_id ttl hop
 * responder outcome delay_us sent_ns. Lines are buffered and written in batches; callers flush
 * when idle and close at exit so a reader after SIGTERM sees every line.
 */
#ifndef PW_SIM_TRUTH_H
#define PW_SIM_TRUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"

struct pw_sim_truth_row {
    uint64_t recv_ns;   /* CLOCK_REALTIME when the probe was read */
    uint64_t recv_mono; /* CLOCK_MONOTONIC at the same instant (not logged) */
    uint8_t family;     /* AF_INET or AF_INET6 */
    uint8_t proto;      /* enum pw_sim_proto */
    uint8_t ttl;
    bool has_responder;
    uint8_t outcome; /* enum pw_sim_outcome */
    uint8_t src[16], dst[16], responder[16];
    uint16_t sport, dport;
    uint32_t probe_id;
    uint32_t hop;
    uint64_t delay_us; /* scheduled delay */
    uint64_t sent_ns;  /* CLOCK_REALTIME when the reply was written, 0 if none */
};

struct pw_sim_truth {
    FILE *f; /* NULL: logging disabled, every call is a no-op returning 0 */
    char *buf;
    uint64_t pending; /* lines written since the last flush */
    int err;          /* first write error (-errno), reported by flush and close */
};

/* Create (truncate) path and write the header line. path NULL disables the log.
 * Returns 0 or -errno. */
int pw_sim_truth_open(struct pw_sim_truth *t, const char *path);

/* Append one line (buffered). Returns 0 or the first write error as -errno. */
int pw_sim_truth_write(struct pw_sim_truth *t, const struct pw_sim_truth_row *row);

/* Bytes formatted but not yet written to the file. */
size_t pw_sim_truth_buffered(const struct pw_sim_truth *t);

/* Write buffered lines to the file. Returns 0 or -errno. */
int pw_sim_truth_flush(struct pw_sim_truth *t);

/* Flush, close and release; safe on a disabled or already closed log. Returns 0 or -errno. */
int pw_sim_truth_close(struct pw_sim_truth *t);

#endif
