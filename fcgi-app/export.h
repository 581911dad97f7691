/* PingWatcher — session export (CSV or JSON, streamed); handlers are in api.h. */
#ifndef PW_EXPORT_H
#define PW_EXPORT_H

#include <stddef.h>
#include <stdint.h>

/* Builds the download name pingwatcher-<id>-<who>[-<session>]-<start>-<end>.<ext> into out.
 * who and session are reduced to [A-Za-z0-9._-] (other bytes become '_', no "..", at most 40
 * bytes each), so nothing from a label or a request can add a path, a quote or a header. */
void pw_export_filename(char *out, size_t len, uint32_t id, const char *who, const char *session,
                        int64_t start, int64_t end, const char *ext);

#endif
