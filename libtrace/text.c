/* PingWatcher — escaping outside text (see text.h). */
#include <stdint.h>
#include <string.h>

#include "text.h"

size_t pw_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* The entity for a byte that cannot pass as it is. */
static const char *entity(unsigned char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return "&#xfffd;"; /* control characters and broken UTF-8 */
    }
}

void pw_html_escape_to(const char *s, size_t n, pw_text_sink *add, void *ctx)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* bytes before i that pass unchanged, not yet written */

    while (i < n) {
        unsigned char c = p[i];
        size_t k;

        if ((c >= 0x20 && c < 0x7f && !strchr("&<>\"'", c)) || c == '\n' || c == '\t') {
            run++;
            i++;
            continue;
        }
        if (c >= 0x80 && (k = pw_utf8_seq(p + i, n - i)) != 0) {
            run += k;
            i += k;
            continue;
        }
        if (run)
            add(ctx, s + i - run, run);
        run = 0;
        add(ctx, entity(c), strlen(entity(c)));
        i++;
    }
    if (run)
        add(ctx, s + i - run, run);
}
