/* PingWatcher — text from outside (labels, host names, DNS names, comments) made safe for
 * where it lands. Shared by the FastCGI app's fragments and the evidence report. */
#ifndef PW_TEXT_H
#define PW_TEXT_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 when it is not valid (overlong
 * forms, surrogates and values past U+10FFFF included). n must be at least 1. */
size_t pw_utf8_seq(const unsigned char *s, size_t n);

/* Where escaped text goes: add(ctx, bytes, len), called once per run of bytes. */
typedef void pw_text_sink(void *ctx, const char *s, size_t n);

/* Writes n bytes of s (need not be NUL-terminated) as HTML text, fit for element content and
 * quoted attribute values alike: & < > " ' become entities; valid UTF-8, newlines and tabs pass;
 * other control characters and broken UTF-8 become U+FFFD (&#xfffd;). */
void pw_html_escape_to(const char *s, size_t n, pw_text_sink *add, void *ctx);

#endif
