/* PingWatcher — the evidence report: one self-contained HTML file for a target and a time
 * range that a user can attach to a ticket with their provider.
 *
 * It holds the diagnosis (verdict, problems, notes, each with its time span and figures), the
 * hop table of the period with 95 % intervals for loss, per-hop timelines as inline SVG with
 * loss marks and route changes, the route changes with both routes, and the raw figures per
 * time bucket. Nothing is loaded from anywhere: no scripts, no fonts, no images, and a
 * Content-Security-Policy of default-src 'none' (inline styles only) says so to the browser.
 * Every string that comes from outside (labels, host names, DNS names, which anyone with a
 * PTR record controls) is escaped; invalid UTF-8 becomes U+FFFD.
 */
#ifndef PW_EVIDENCE_H
#define PW_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "diagnosis.h"

struct pw_store;

/* Largest report built (a week of raw figures for 64 hops stays far below). */
#define PW_EVIDENCE_MAX_BYTES (32u << 20)

struct pw_evidence_opts {
    int64_t start_us, end_us;            /* the period [start, end), Unix µs */
    int64_t now_us;                      /* when the report is made (shown in it) */
    const char *generator;               /* e.g. "PingWatcher 0.1.0"; NULL = "PingWatcher" */
    const struct pw_diag_params *params; /* NULL = defaults */
};

/* Builds the report of target_id from the store (read-only use). On success *html is a
 * NUL-terminated document of *len bytes the caller frees with free(), and *diag (when not
 * NULL) the diagnosis it shows. Returns 0, -ENOENT when the target has neither a record nor
 * samples in the range, PW_E_RANGE for an empty range, -E2BIG past PW_EVIDENCE_MAX_BYTES,
 * -ENOMEM, or a store error. */
int pw_evidence_html(struct pw_store *s, uint32_t target_id, const struct pw_evidence_opts *o,
                     char **html, size_t *len, struct pw_diagnosis *diag);

/* The diagnosis alone as an HTML fragment (<section class="pw-diagnosis ...">, escaped), as the
 * report shows it: for the web page's HTMX requests. *html is freed by the caller. Returns 0 or
 * -ENOMEM. */
int pw_evidence_diag_html(const struct pw_diagnosis *d, char **html, size_t *len);

#endif
