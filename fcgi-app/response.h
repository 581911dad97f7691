/* PingWatcher — writing answers: buffered documents, errors and streams. */
#ifndef PW_RESPONSE_H
#define PW_RESPONSE_H

#include <stddef.h>

#include "app.h"

/* Error codes in {"error": {"code": ..., "message": ...}}, by status. */
const char *pw_resp_code_for(int status);

/* Starts the document in r->out (JSON object or HTML fragment). */
void pw_resp_begin(struct pw_req *r);
/* Ends it and sends it with this status and the right Content-Type. Returns 0 or -1. When
 * the buffer overflowed, answers 500 instead. */
int pw_resp_finish(struct pw_req *r, int status);

/* Sends an error: JSON {"error":{"code","message"}} or an escaped HTML fragment. code NULL =
 * pw_resp_code_for(status). Discards whatever r->out held. Returns 0 or -1. */
int pw_resp_error(struct pw_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Adds a header line ("Name: value", no CRLF) to the answer. Values must be safe (the
 * caller builds them; CR and LF are refused). */
void pw_resp_header(struct pw_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends the status line and headers for a streamed body (no Content-Length). */
int pw_resp_stream_begin(struct pw_req *r, int status, const char *content_type);
/* Writes n bytes of body; -1 once the client is gone. */
int pw_resp_write(struct pw_req *r, const char *data, size_t n);
int pw_resp_flush(struct pw_req *r);

/* Sends a complete answer from raw parts (status, content type, body). */
int pw_resp_raw(struct pw_req *r, int status, const char *content_type, const char *body, size_t n);

#endif
